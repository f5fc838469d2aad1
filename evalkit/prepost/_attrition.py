"""Attrition: who answered at each wave, and how completers differed from dropouts."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import pandas as pd

from evalkit.prepost import _stats as st
from evalkit.prepost._compare import _frame, _prepare_paired
from evalkit.prepost._data import Duplicates, group_levels
from evalkit.prepost._results import AttritionResult


def attrition(
    data: pd.DataFrame,
    *,
    outcome: str,
    subject: str,
    time: str,
    pre: Any,
    post: Any,
    group: str | None = None,
    duplicates: Duplicates = "error",
) -> AttritionResult:
    """Response and retention per wave, and the baseline outcome of completers vs dropouts.

    Completers are the subjects :func:`compare` analyses (a non-missing outcome at both
    waves). Dropouts are subjects with a non-missing baseline (``pre``) outcome who are not
    completers: no ``post`` response, or a missing ``post`` outcome. Subjects with duplicate
    responses (with ``duplicates="exclude"``) or without a group are in neither. With
    ``group`` a subject is a (group, subject id) pair, as in :func:`compare`.
    The test is Welch's ``t.test(completers, dropouts)``.

    Parameters
    ----------
    data, outcome, subject, time, pre, post, group, duplicates
        As in :func:`compare`.

    Returns
    -------
    AttritionResult
        ``waves`` (wave, n_seen, n_outcome, n_matched) and ``baseline`` (completers vs
        dropouts).

    Examples
    --------
    >>> from evalkit.prepost._toy import toy_prepost
    >>> res = attrition(toy_prepost(), outcome="score", subject="participant", time="wave",
    ...                 pre="baseline", post="endline")
    >>> res.waves.to_dict("records")
    [{'wave': 'baseline', 'n_seen': 12, 'n_outcome': 12, 'n_matched': 10}, \
{'wave': 'endline', 'n_seen': 11, 'n_outcome': 10, 'n_matched': 10}]
    >>> res.baseline[["n_completers", "n_dropouts"]].to_dict("records")
    [{'n_completers': 10, 'n_dropouts': 2}]
    """
    paired, pre_s, post_s = _prepare_paired(data, outcome=outcome, subject=subject, time=time,
                                            pre=pre, post=post, group=group,
                                            duplicates=duplicates)
    rows = paired.rows.assign(has_y=paired.rows["y"].notna())
    subjects = paired.subjects
    if group is None:
        strata: list[tuple[Hashable | None, pd.DataFrame]] = [(None, subjects)]
    else:
        ok = subjects[subjects["group_ok"]]
        strata = [(g, ok[ok["group"] == g]) for g in group_levels(ok["group"])]

    wave_rows, base_rows = [], []
    for g, subs in strata:
        members = rows[rows["key"].isin(subs["key"])]
        matched = int(subs["reason"].isna().sum())
        for wave in (pre_s, post_s):
            at = members[members["time"] == wave]
            rec = {"wave": wave, "n_seen": int(at["key"].nunique()),
                   "n_outcome": int(at.loc[at["has_y"], "key"].nunique()),
                   "n_matched": matched}
            wave_rows.append({"group": g, **rec} if g is not None else rec)
        completers = subs.loc[subs["reason"].isna(), "pre"].to_numpy(float)
        drop = (subs["reason"].notna() & ~subs["duplicated"] & subs["group_ok"]
                & subs["pre"].notna())
        dropouts = subs.loc[drop, "pre"].to_numpy(float)
        tt = st.welch_t(dropouts, completers)
        nan = float("nan")
        rec = {
            "n_completers": int(completers.size),
            "mean_completers": float(completers.mean()) if completers.size else nan,
            "sd_completers": float(completers.std(ddof=1)) if completers.size > 1 else nan,
            "n_dropouts": int(dropouts.size),
            "mean_dropouts": float(dropouts.mean()) if dropouts.size else nan,
            "sd_dropouts": float(dropouts.std(ddof=1)) if dropouts.size > 1 else nan,
            "difference": (float(completers.mean() - dropouts.mean())
                           if completers.size and dropouts.size else nan),
            "t": tt["t"], "df": tt["df"], "p": tt["p"],
        }
        base_rows.append({"group": g, **rec} if g is not None else rec)
    wave_cols = ["wave", "n_seen", "n_outcome", "n_matched"]
    base_cols = ["n_completers", "mean_completers", "sd_completers", "n_dropouts",
                 "mean_dropouts", "sd_dropouts", "difference", "t", "df", "p"]
    return AttritionResult(waves=_frame(wave_rows, wave_cols, group is not None),
                           baseline=_frame(base_rows, base_cols, group is not None))
