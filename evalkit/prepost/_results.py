"""The frozen result objects of the pre/post analyses and their summary columns."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

PAIRED_COLUMNS = [
    "n_pairs", "mean_pre", "mean_post", "mean_diff", "sd_diff", "t", "df", "p", "ci_low",
    "ci_high", "V", "p_wilcoxon", "wilcoxon_exact", "n_nonzero", "cohen_dz", "cohen_dz_ci_low",
    "cohen_dz_ci_high", "hedges_gz", "hedges_gz_ci_low", "hedges_gz_ci_high", "rank_biserial",
    "rank_biserial_ci_low", "rank_biserial_ci_high",
]
UNMATCHED_COLUMNS = [
    "n_pre", "n_post", "n_missing_pre", "n_missing_post", "mean_pre", "mean_post", "sd_pre",
    "sd_post", "mean_diff", "t", "df", "p", "ci_low", "ci_high", "W", "p_mann_whitney",
    "mann_whitney_exact", "hedges_g", "hedges_g_ci_low", "hedges_g_ci_high", "rank_biserial",
    "rank_biserial_ci_low", "rank_biserial_ci_high",
]
BINARY_COLUMNS = [
    "n_pairs", "n00", "n01", "n10", "n11", "prop_pre", "prop_post", "statistic", "df", "p",
    "p_exact",
]


@dataclass(frozen=True, eq=False)
class PrePostResult:
    """Matched-pairs comparison (returned by :func:`compare`).

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per group (a single row without ``group``). Columns: ``group`` (only when
        grouped), ``n_pairs``, ``mean_pre``, ``mean_post``, ``mean_diff`` (post - pre),
        ``sd_diff``; paired t-test ``t``, ``df``, ``p``, ``ci_low``, ``ci_high`` (CI of the
        mean difference); Wilcoxon signed-rank ``V`` (sum of positive ranks), ``p_wilcoxon``,
        ``wilcoxon_exact`` (exact distribution used), ``n_nonzero`` (pairs with a nonzero
        difference); ``cohen_dz``, ``hedges_gz``, ``rank_biserial``, each with ``_ci_low`` and
        ``_ci_high``. An effect size the data cannot define is NaN, where effectsize 0.8.3
        prints a number: ``hedges_gz`` with two pairs (effectsize: 0, as its correction
        J(1) is 0) and ``rank_biserial`` when every difference is zero (effectsize: 1).
    excluded : pandas.DataFrame
        One row per subject left out: ``subject``, ``group`` (only when grouped), ``reason``.
    pairs : pandas.DataFrame
        The analysed pairs: ``subject``, ``group`` (when grouped), ``pre``, ``post``, ``diff``.
    outcome, subject, time, pre, post, group : str or None
        The column names and time levels the result was computed from.
    conf_level : float
        Confidence level of every interval.
    """

    summary: pd.DataFrame
    excluded: pd.DataFrame
    pairs: pd.DataFrame
    outcome: str
    subject: str
    time: str
    pre: str
    post: str
    group: str | None
    conf_level: float


@dataclass(frozen=True, eq=False)
class UnmatchedResult:
    """Cross-sectional (independent samples) comparison (returned by :func:`compare_unmatched`).

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per group. Columns: ``group`` (only when grouped), ``n_pre``, ``n_post``,
        ``n_missing_pre``, ``n_missing_post``, ``mean_pre``, ``mean_post``, ``sd_pre``,
        ``sd_post``, ``mean_diff`` (post - pre); Welch ``t``, ``df``, ``p``, ``ci_low``,
        ``ci_high``; Mann-Whitney ``W`` (R's statistic for post), ``p_mann_whitney``,
        ``mann_whitney_exact``; ``hedges_g`` (pooled SD) and ``rank_biserial`` with ``_ci_low``
        and ``_ci_high``.
    excluded : pandas.DataFrame
        Rows left out: ``row`` (index label of ``data``), ``reason``.
    outcome, time, pre, post, group : str or None
        The column names and time levels the result was computed from.
    conf_level : float
        Confidence level of every interval.
    """

    summary: pd.DataFrame
    excluded: pd.DataFrame
    outcome: str
    time: str
    pre: str
    post: str
    group: str | None
    conf_level: float


@dataclass(frozen=True, eq=False)
class BinaryResult:
    """McNemar comparison of a yes/no item (returned by :func:`compare_binary`).

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per group. Columns: ``group`` (only when grouped), ``n_pairs``, ``n00``,
        ``n01``, ``n10``, ``n11`` (counts of pre/post answers; ``n01`` moved from 0 to 1),
        ``prop_pre``, ``prop_post`` (share answering 1), ``statistic``, ``df``, ``p``
        (``mcnemar.test`` with continuity correction), ``p_exact`` (exact binomial test of
        ``n01`` out of ``n01 + n10``).
    excluded, pairs : pandas.DataFrame
        As in :class:`PrePostResult`.
    outcome, subject, time, pre, post, group : str or None
        The column names and time levels the result was computed from.
    """

    summary: pd.DataFrame
    excluded: pd.DataFrame
    pairs: pd.DataFrame
    outcome: str
    subject: str
    time: str
    pre: str
    post: str
    group: str | None


@dataclass(frozen=True, eq=False)
class AttritionResult:
    """Who stayed in the study (returned by :func:`attrition`).

    Attributes
    ----------
    waves : pandas.DataFrame
        One row per wave (pre, then post) and group: ``group`` (only when grouped), ``wave``,
        ``n_seen`` (subjects with a response), ``n_outcome`` (with a non-missing outcome),
        ``n_matched`` (usable pairs: a non-missing outcome at both waves).
    baseline : pandas.DataFrame
        Baseline outcome of completers (matched) against dropouts (a non-missing baseline
        outcome but no usable post outcome), one row per group: ``group`` (when grouped),
        ``n_completers``, ``mean_completers``, ``sd_completers``, ``n_dropouts``,
        ``mean_dropouts``, ``sd_dropouts``, ``difference`` (completers - dropouts) and the
        Welch test ``t``, ``df``, ``p``.
    """

    waves: pd.DataFrame
    baseline: pd.DataFrame
