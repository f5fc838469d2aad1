"""Matched-pairs, cross-sectional and binary pre/post comparisons."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd

from evalkit.errors import AnalysisError
from evalkit.prepost import _stats as st
from evalkit.prepost._data import (
    Duplicates,
    Paired,
    _is_missing,
    check_columns,
    check_conf_level,
    check_duplicates_option,
    check_frame,
    group_levels,
    numeric_outcome,
    pair_responses,
    show,
    time_labels,
)
from evalkit.prepost._results import (
    BINARY_COLUMNS,
    PAIRED_COLUMNS,
    UNMATCHED_COLUMNS,
    BinaryResult,
    PrePostResult,
    UnmatchedResult,
)

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _prepare_paired(
    data: pd.DataFrame,
    *,
    outcome: str,
    subject: str,
    time: str,
    pre: Any,
    post: Any,
    group: str | None,
    duplicates: Duplicates,
) -> tuple[Paired, str, str]:
    check_frame(data)
    check_columns(data, {"outcome": outcome, "subject": subject, "time": time, "group": group})
    check_duplicates_option(duplicates)
    labels, pre_s, post_s = time_labels(data, time, pre, post)
    values = numeric_outcome(data, outcome)
    paired = pair_responses(data, outcome=values, subject=subject, labels=labels, pre=pre_s,
                            post=post_s, group=group, duplicates=duplicates)
    return paired, pre_s, post_s


def _groups(paired: Paired) -> list[tuple[Hashable | None, pd.DataFrame, pd.DataFrame]]:
    """(group value, its pairs, its exclusions); a single (None, all, all) without groups."""
    if paired.group is None:
        return [(None, paired.pairs, paired.excluded)]
    levels = group_levels(paired.subjects["group"])
    return [
        (g, paired.pairs[paired.pairs["group"] == g],
         paired.excluded[paired.excluded["group"] == g])
        for g in levels
    ]


def _no_pairs(paired: Paired, outcome: str, pre: str, post: str) -> AnalysisError:
    ex = paired.excluded
    shown = "; ".join(f"{show(sub)} ({why})" for sub, why in
                      zip(ex["subject"][:3], ex["reason"][:3], strict=True))
    more = f"; and {len(ex) - 3} more" if len(ex) > 3 else ""
    return AnalysisError(
        f"no subject has a non-missing '{outcome}' at both '{pre}' and '{post}'; "
        f"{len(ex)} subjects excluded: {shown}{more}"
    )


def _frame(rows: list[dict[str, Any]], columns: list[str], grouped: bool) -> pd.DataFrame:
    cols = ["group", *columns] if grouped else columns
    return pd.DataFrame(rows, columns=cols)


def _paired_row(pre: np.ndarray, post: np.ndarray, conf_level: float) -> dict[str, Any]:
    n = pre.size
    d = post - pre
    tt = st.paired_t(pre, post, conf_level=conf_level)
    wx = st.signed_rank(pre, post)
    dz = st.cohens_d_paired(pre, post, conf_level=conf_level)
    gz = st.hedges_g_paired(pre, post, conf_level=conf_level)
    rb = st.rank_biserial_paired(pre, post, conf_level=conf_level)
    nan = float("nan")
    return {
        "n_pairs": int(n),
        "mean_pre": float(pre.mean()) if n else nan,
        "mean_post": float(post.mean()) if n else nan,
        "mean_diff": float(d.mean()) if n else nan,
        "sd_diff": float(d.std(ddof=1)) if n > 1 else nan,
        "t": tt["t"], "df": tt["df"], "p": tt["p"],
        "ci_low": tt["ci_low"], "ci_high": tt["ci_high"],
        "V": wx["V"], "p_wilcoxon": wx["p"], "wilcoxon_exact": bool(wx["exact"]),
        "n_nonzero": int(wx["n_nonzero"]),
        "cohen_dz": dz["d"], "cohen_dz_ci_low": dz["ci_low"], "cohen_dz_ci_high": dz["ci_high"],
        "hedges_gz": gz["g"], "hedges_gz_ci_low": gz["ci_low"],
        "hedges_gz_ci_high": gz["ci_high"],
        "rank_biserial": rb["r"], "rank_biserial_ci_low": rb["ci_low"],
        "rank_biserial_ci_high": rb["ci_high"],
    }


# --------------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------------


def compare(
    data: pd.DataFrame,
    *,
    outcome: str,
    subject: str,
    time: str,
    pre: Any,
    post: Any,
    group: str | None = None,
    duplicates: Duplicates = "error",
    conf_level: float = 0.95,
) -> PrePostResult:
    """Compare each subject's outcome before and after (matched pairs, post - pre).

    Reports the paired t-test, the Wilcoxon signed-rank test as R's
    ``wilcox.test(post, pre, paired = TRUE)`` does (V and its exact or normal-approximation
    p-value), Cohen's d_z = mean(diff) / sd(diff), Hedges' g_z and the matched-pairs
    rank-biserial correlation, each with a confidence interval as ``effectsize`` computes it
    (the rank-biserial as ``rank_biserial(post - pre)``, whose SE counts the nonzero
    differences; effectsize's two-vector ``rank_biserial(post, pre, paired = TRUE)`` counts
    the nonzero post scores instead). An effect size the data cannot define (g_z with two
    pairs, r when every difference is zero) is NaN where effectsize prints 0 or 1.

    Only rows whose time is ``pre`` or ``post`` are used. A subject enters the analysis when it
    has exactly one row at each of the two waves and a non-missing outcome in both; every
    other subject is listed in ``excluded`` with the reason.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data, one row per subject and wave.
    outcome : str
        Numeric outcome column.
    subject : str
        Column identifying the subject (participant, site, ...).
    time : str
        Column holding the wave.
    pre, post : str or scalar
        The two levels of ``time`` to compare (compared as text, so ``1`` matches ``"1"``).
    group : str, optional
        Column splitting the comparison (e.g. site or modality); one summary row per group.
        Responses are then matched on (group, subject), so subject ids need only be unique
        within a group (participants numbered P01, P02, ... at every site, as
        ``evalkit model`` reads them within sites). A row without a group takes the group
        of its subject's other row. An id found in two groups is two subjects: one whose
        group differs between the waves is excluded at both, each exclusion saying that the
        id also occurs in the other group.
    duplicates : {"error", "exclude"}, default "error"
        What to do with a subject that has more than one row at a wave: stop with an
        :class:`~evalkit.errors.AnalysisError` naming them (default; deduplicating needs a rule
        such as "keep the latest submission" that belongs upstream), or exclude the subject
        with the reason ``"duplicate responses at '<wave>' (<k> rows)"``.
    conf_level : float, default 0.95
        Confidence level of every interval.

    Returns
    -------
    PrePostResult
        ``summary`` (one row per group), ``excluded`` (subject, reason) and ``pairs``.

    Raises
    ------
    AnalysisError
        A column is missing, the outcome is not numeric, a time level is absent, duplicates
        are found with ``duplicates="error"``, or no subject has a usable pair.

    Examples
    --------
    >>> from evalkit.prepost._toy import toy_prepost
    >>> res = compare(toy_prepost(), outcome="score", subject="participant", time="wave",
    ...               pre="baseline", post="endline")
    >>> res.summary[["n_pairs", "mean_diff", "V"]].round(3).to_dict("records")
    [{'n_pairs': 10, 'mean_diff': 0.425, 'V': 43.0}]
    >>> res.excluded.to_dict("records")
    [{'subject': 'P11', 'reason': "no 'endline' response"}, \
{'subject': 'P12', 'reason': "missing outcome at 'endline'"}]
    """
    check_conf_level(conf_level)
    paired, pre_s, post_s = _prepare_paired(data, outcome=outcome, subject=subject, time=time,
                                            pre=pre, post=post, group=group,
                                            duplicates=duplicates)
    if paired.pairs.empty:
        raise _no_pairs(paired, outcome, pre_s, post_s)
    rows = []
    for g, pairs, _ in _groups(paired):
        row = _paired_row(pairs["pre"].to_numpy(float), pairs["post"].to_numpy(float),
                          conf_level)
        rows.append({"group": g, **row} if group is not None else row)
    return PrePostResult(
        summary=_frame(rows, PAIRED_COLUMNS, group is not None), excluded=paired.excluded,
        pairs=paired.pairs, outcome=outcome, subject=subject, time=time, pre=pre_s,
        post=post_s, group=group, conf_level=conf_level,
    )


def compare_unmatched(
    data: pd.DataFrame,
    *,
    outcome: str,
    time: str,
    pre: Any,
    post: Any,
    group: str | None = None,
    conf_level: float = 0.95,
) -> UnmatchedResult:
    """Compare the outcome between two independent (cross-sectional) samples, post vs pre.

    Reports Welch's t-test (``t.test(post, pre)``), the Mann-Whitney test as R's
    ``wilcox.test(post, pre)`` (W for post; exact when both samples have fewer than 50
    values and there are no ties, else normal approximation with continuity and tie
    correction), Hedges' g with the pooled SD (``effectsize::hedges_g(post, pre)``) and the
    rank-biserial correlation (``effectsize::rank_biserial(post, pre)``).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per response.
    outcome : str
        Numeric outcome column.
    time : str
        Column holding the wave.
    pre, post : str or scalar
        The two levels of ``time`` to compare.
    group : str, optional
        Column splitting the comparison; one summary row per group.
    conf_level : float, default 0.95
        Confidence level of every interval.

    Returns
    -------
    UnmatchedResult
        ``summary`` (one row per group) and ``excluded`` (row, reason).

    Raises
    ------
    AnalysisError
        A column is missing, the outcome is not numeric or a time level is absent.

    Examples
    --------
    >>> from evalkit.prepost._toy import toy_prepost
    >>> res = compare_unmatched(toy_prepost(), outcome="score", time="wave",
    ...                         pre="baseline", post="endline")
    >>> res.summary[["n_pre", "n_post", "n_missing_post", "W"]].to_dict("records")
    [{'n_pre': 12, 'n_post': 10, 'n_missing_post': 1, 'W': 87.5}]
    """
    check_conf_level(conf_level)
    check_frame(data)
    check_columns(data, {"outcome": outcome, "time": time, "group": group})
    labels, pre_s, post_s = time_labels(data, time, pre, post)
    values = numeric_outcome(data, outcome)
    keep = labels.isin([pre_s, post_s])
    excluded_rows: list[dict[str, Any]] = []
    group_col = data[group] if group is not None else None
    if group_col is not None:
        no_group = keep & group_col.map(_is_missing).astype(bool)
        excluded_rows += [{"row": i, "reason": "missing group"} for i in data.index[no_group]]
        keep &= ~no_group
    missing_y = keep & values.isna()
    excluded_rows += [{"row": i, "reason": f"missing outcome at '{labels[i]}'"}
                      for i in data.index[missing_y]]
    excluded = pd.DataFrame(excluded_rows, columns=["row", "reason"])

    levels: list[Hashable | None] = (
        [None] if group_col is None else group_levels(group_col[keep])
    )
    rows = []
    for g in levels:
        in_g = keep if g is None else keep & (group_col == g)
        pre_all = values[in_g & (labels == pre_s)]
        post_all = values[in_g & (labels == post_s)]
        x = post_all.dropna().to_numpy(float)
        y = pre_all.dropna().to_numpy(float)
        row = _unmatched_row(y, x, conf_level)
        row["n_missing_pre"] = int(pre_all.isna().sum())
        row["n_missing_post"] = int(post_all.isna().sum())
        rows.append({"group": g, **row} if g is not None else row)
    if all(r["n_pre"] == 0 or r["n_post"] == 0 for r in rows):
        raise AnalysisError(
            f"no non-missing '{outcome}' at '{pre_s}' or at '{post_s}' (column '{time}')"
        )
    return UnmatchedResult(
        summary=_frame(rows, UNMATCHED_COLUMNS, group is not None), excluded=excluded,
        outcome=outcome, time=time, pre=pre_s, post=post_s, group=group, conf_level=conf_level,
    )


def _unmatched_row(pre: np.ndarray, post: np.ndarray, conf_level: float) -> dict[str, Any]:
    nan = float("nan")
    tt = st.welch_t(pre, post, conf_level=conf_level)
    mw = st.rank_sum(pre, post)
    hg = st.hedges_g_pooled(pre, post, conf_level=conf_level)
    rb = st.rank_biserial_independent(pre, post, conf_level=conf_level)
    return {
        "n_pre": int(pre.size), "n_post": int(post.size),
        "mean_pre": float(pre.mean()) if pre.size else nan,
        "mean_post": float(post.mean()) if post.size else nan,
        "sd_pre": float(pre.std(ddof=1)) if pre.size > 1 else nan,
        "sd_post": float(post.std(ddof=1)) if post.size > 1 else nan,
        "mean_diff": float(post.mean() - pre.mean()) if pre.size and post.size else nan,
        "t": tt["t"], "df": tt["df"], "p": tt["p"],
        "ci_low": tt["ci_low"], "ci_high": tt["ci_high"],
        "W": mw["W"], "p_mann_whitney": mw["p"], "mann_whitney_exact": bool(mw["exact"]),
        "hedges_g": hg["g"], "hedges_g_ci_low": hg["ci_low"], "hedges_g_ci_high": hg["ci_high"],
        "rank_biserial": rb["r"], "rank_biserial_ci_low": rb["ci_low"],
        "rank_biserial_ci_high": rb["ci_high"],
    }


def compare_binary(
    data: pd.DataFrame,
    *,
    outcome: str,
    subject: str,
    time: str,
    pre: Any,
    post: Any,
    group: str | None = None,
    duplicates: Duplicates = "error",
) -> BinaryResult:
    """McNemar's test for a yes/no item answered by the same subjects at both waves.

    ``p`` is R's ``mcnemar.test`` default (continuity correction, applied when the two
    discordant counts differ); ``p_exact`` is the exact binomial test
    ``binom.test(n01, n01 + n10)``. Pairing and exclusions work as in :func:`compare`.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data, one row per subject and wave.
    outcome : str
        Column coded 0/1 (or False/True); missing allowed.
    subject, time, pre, post, group, duplicates
        As in :func:`compare`.

    Returns
    -------
    BinaryResult
        ``summary`` (one row per group), ``excluded`` and ``pairs``.

    Raises
    ------
    AnalysisError
        As :func:`compare`, and when the outcome holds values other than 0 and 1.

    Examples
    --------
    >>> from evalkit.prepost._toy import toy_prepost
    >>> res = compare_binary(toy_prepost(), outcome="practice", subject="participant",
    ...                      time="wave", pre="baseline", post="endline")
    >>> res.summary[["n_pairs", "n01", "n10", "statistic"]].to_dict("records")
    [{'n_pairs': 11, 'n01': 4, 'n10': 0, 'statistic': 2.25}]
    """
    paired, pre_s, post_s = _prepare_paired(data, outcome=outcome, subject=subject, time=time,
                                            pre=pre, post=post, group=group,
                                            duplicates=duplicates)
    values = numeric_outcome(data, outcome)
    bad = values.notna() & ~values.isin([0.0, 1.0])
    if bad.any():
        found = sorted({float(v) for v in values[bad]})[:5]
        raise AnalysisError(
            f"outcome column '{outcome}' must be coded 0/1 for McNemar's test; found "
            f"{found} (first in row {show(values.index[bad][0])})"
        )
    if paired.pairs.empty:
        raise _no_pairs(paired, outcome, pre_s, post_s)
    rows = []
    for g, pairs, _ in _groups(paired):
        a = pairs["pre"].to_numpy(float)
        b = pairs["post"].to_numpy(float)
        counts = {f"n{i}{j}": int(np.sum((a == i) & (b == j))) for i in (0, 1) for j in (0, 1)}
        n = int(a.size)
        mc = st.mcnemar(counts["n01"], counts["n10"])
        row = {"n_pairs": n, **counts,
               "prop_pre": float(a.mean()) if n else float("nan"),
               "prop_post": float(b.mean()) if n else float("nan"), **mc}
        rows.append({"group": g, **row} if group is not None else row)
    return BinaryResult(
        summary=_frame(rows, BINARY_COLUMNS, group is not None), excluded=paired.excluded,
        pairs=paired.pairs.drop(columns="diff"), outcome=outcome, subject=subject, time=time,
        pre=pre_s, post=post_s, group=group,
    )
