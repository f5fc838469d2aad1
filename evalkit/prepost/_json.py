"""JSON-ready dictionaries of pre/post results (NaN becomes None, numpy scalars plain Python)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from evalkit.errors import AnalysisError
from evalkit.prepost._results import BinaryResult, PrePostResult, UnmatchedResult


def _plain(value: Any) -> Any:
    """A JSON-serializable Python value: NaN/NA -> None, numpy scalars -> int/float/bool."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _excluded(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{"subject": _plain(s), "reason": r}
            for s, r in zip(frame["subject"], frame["reason"], strict=True)]


def _ci(row: pd.Series, name: str) -> dict[str, Any]:
    return {"ci_low": _plain(row[f"{name}_ci_low"]), "ci_high": _plain(row[f"{name}_ci_high"])}


def _prepost_record(row: pd.Series, excluded: pd.DataFrame) -> dict[str, Any]:
    return {
        "n_pairs": _plain(row["n_pairs"]),
        "mean_pre": _plain(row["mean_pre"]),
        "mean_post": _plain(row["mean_post"]),
        "mean_diff": _plain(row["mean_diff"]),
        "ttest": {k: _plain(row[k]) for k in ("t", "df", "p", "ci_low", "ci_high")},
        "wilcoxon": {"V": _plain(row["V"]), "p": _plain(row["p_wilcoxon"])},
        "effect_sizes": {k: _plain(row[k]) for k in ("cohen_dz", "hedges_gz", "rank_biserial")},
        "effect_sizes_ci": {k: _ci(row, k) for k in ("cohen_dz", "hedges_gz", "rank_biserial")},
        "excluded": _excluded(excluded),
    }


def _unmatched_record(row: pd.Series) -> dict[str, Any]:
    return {
        "n_pre": _plain(row["n_pre"]),
        "n_post": _plain(row["n_post"]),
        "mean_pre": _plain(row["mean_pre"]),
        "mean_post": _plain(row["mean_post"]),
        "mean_diff": _plain(row["mean_diff"]),
        "ttest": {k: _plain(row[k]) for k in ("t", "df", "p", "ci_low", "ci_high")},
        "mann_whitney": {"W": _plain(row["W"]), "p": _plain(row["p_mann_whitney"])},
        "effect_sizes": {k: _plain(row[k]) for k in ("hedges_g", "rank_biserial")},
        "effect_sizes_ci": {k: _ci(row, k) for k in ("hedges_g", "rank_biserial")},
    }


def _binary_record(row: pd.Series, excluded: pd.DataFrame) -> dict[str, Any]:
    out = {k: _plain(row[k]) for k in ("n_pairs", "n00", "n01", "n10", "n11", "prop_pre",
                                       "prop_post")}
    out["mcnemar"] = {k: _plain(row[k]) for k in ("statistic", "df", "p", "p_exact")}
    out["excluded"] = _excluded(excluded)
    return out


def to_json(result: PrePostResult | UnmatchedResult | BinaryResult) -> dict[str, Any]:
    """A JSON-serializable dictionary of a pre/post result.

    For :class:`PrePostResult` without groups the shape is::

        {"n_pairs", "mean_pre", "mean_post", "mean_diff",
         "ttest": {"t", "df", "p", "ci_low", "ci_high"},
         "wilcoxon": {"V", "p"},
         "effect_sizes": {"cohen_dz", "hedges_gz", "rank_biserial"},
         "effect_sizes_ci": {"cohen_dz": {"ci_low", "ci_high"}, "hedges_gz": {...},
                             "rank_biserial": {...}},
         "excluded": [{"subject", "reason"}, ...]}

    With groups it is ``{"groups": {"<group>": {...the same...}}, "excluded": [...]}``: each
    group lists its own exclusions, and the top-level ``excluded`` lists the subjects that
    belong to no group (missing group, missing subject id). Group keys are
    the group values as text. Undefined numbers (e.g. a t statistic with one pair) are
    ``None``.

    :class:`UnmatchedResult` gives ``n_pre``, ``n_post``, means, ``ttest``,
    ``mann_whitney`` {``W``, ``p``}, ``effect_sizes`` {``hedges_g``, ``rank_biserial``} and
    ``effect_sizes_ci``; :class:`BinaryResult` gives the counts and ``mcnemar``
    {``statistic``, ``df``, ``p``, ``p_exact``}. Both group the same way.

    Parameters
    ----------
    result : PrePostResult, UnmatchedResult or BinaryResult
        A result of :func:`compare`, :func:`compare_unmatched` or :func:`compare_binary`.

    Returns
    -------
    dict
        Plain Python values, ready for ``json.dumps``.

    Examples
    --------
    >>> from evalkit.prepost import compare
    >>> from evalkit.prepost._toy import toy_prepost
    >>> res = compare(toy_prepost(), outcome="score", subject="participant", time="wave",
    ...               pre="baseline", post="endline")
    >>> out = to_json(res)
    >>> sorted(out)
    ['effect_sizes', 'effect_sizes_ci', 'excluded', 'mean_diff', 'mean_post', 'mean_pre', \
'n_pairs', 'ttest', 'wilcoxon']
    >>> out["wilcoxon"]["V"], out["excluded"][0]
    (43.0, {'subject': 'P11', 'reason': "no 'endline' response"})
    """
    if isinstance(result, PrePostResult | BinaryResult):
        summary, excluded = result.summary, result.excluded
        make = _prepost_record if isinstance(result, PrePostResult) else _binary_record
        if result.group is None:
            return make(summary.iloc[0], excluded)
        groups = {}
        for _, row in summary.iterrows():
            g = row["group"]
            groups[str(_plain(g))] = make(row, excluded[excluded["group"] == g])
        in_group = excluded["group"].isin(list(summary["group"]))
        return {"groups": groups, "excluded": _excluded(excluded[~in_group])}
    if isinstance(result, UnmatchedResult):
        summary = result.summary
        if result.group is None:
            return _unmatched_record(summary.iloc[0])
        return {"groups": {str(_plain(row["group"])): _unmatched_record(row)
                           for _, row in summary.iterrows()}}
    raise AnalysisError(
        "to_json expects a PrePostResult, UnmatchedResult or BinaryResult; received "
        f"{type(result).__name__}"
    )
