"""The frozen result objects of the reliability analyses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

Missing = Literal["pairwise", "listwise"]
EmptyRows = Literal["count", "drop"]


@dataclass(frozen=True, eq=False)
class AlphaResult:
    """Cronbach's alpha of a scale (returned by :func:`cronbach_alpha`).

    Attributes
    ----------
    n : int
        The n of the standard error and the confidence intervals: with ``"pairwise"`` every
        row of the data, including respondents who answered no item (psych's n; with
        ``empty_rows="drop"`` only those who answered at least one item); with
        ``"listwise"`` the respondents who answered every item.
    n_items : int
        Number of items.
    missing : {"pairwise", "listwise"}
        How missing answers were handled.
    reversed : tuple of str
        Items that were reverse-scored before the analysis.
    raw_alpha, std_alpha : float
        Alpha from the covariance matrix, and from the correlation matrix (standardized).
    g6 : float
        Guttman's lambda 6 from squared multiple correlations (psych's ``G6(smc)``).
    average_r : float
        Mean inter-item correlation.
    ase : float
        Duhachek's asymptotic standard error of raw alpha.
    feldt_ci_low, feldt_ci_high : float
        Feldt's F-distribution interval (``psych::alpha(...)$feldt``).
    duhachek_ci_low, duhachek_ci_high : float
        raw_alpha -/+ z * ase (psych prints this with z = 1.96; evalkit uses the exact normal
        quantile, a difference of 4e-5 * ase).
    total_mean, total_sd : float
        Mean and SD of the respondents' mean item score (psych's ``mean`` and ``sd``).
    item_stats : pandas.DataFrame
        One row per item: ``item``, ``n`` (answers), ``raw_r`` (item-total correlation),
        ``std_r`` (standardized), ``r_cor`` (corrected for overlap and reliability),
        ``r_drop`` (item with the total of the other items), ``mean``, ``sd`` (after reversal),
        ``alpha_if_dropped`` (raw alpha of the other items; NaN for a two-item scale).
    alpha_if_dropped : dict of str to float
        ``item_stats["alpha_if_dropped"]`` keyed by item.
    omega_total, omega_h : float or None
        McDonald's omega total and the one-factor omega_h (see :func:`mcdonald_omega`); None
        for fewer than three items.
    conf_level : float
        Confidence level of both intervals.
    n_rows : int
        Rows in the data.
    n_empty : int
        Respondents who answered no item.
    n_dropped : int
        Rows left out of ``n`` (``n_rows - n``): with ``"listwise"`` every row with a missing
        answer, with ``empty_rows="drop"`` the empty rows, otherwise 0.
    warnings : tuple of str
        Plain-language warnings about the scale, e.g. an item that correlates negatively
        with the total and probably should be reversed (psych's "Some items were negatively
        correlated with the total scale and probably should be reversed").
    """

    n: int
    n_items: int
    missing: Missing
    reversed: tuple[str, ...]
    raw_alpha: float
    std_alpha: float
    g6: float
    average_r: float
    ase: float
    feldt_ci_low: float
    feldt_ci_high: float
    duhachek_ci_low: float
    duhachek_ci_high: float
    total_mean: float
    total_sd: float
    item_stats: pd.DataFrame
    alpha_if_dropped: dict[str, float]
    omega_total: float | None
    omega_h: float | None
    conf_level: float
    n_rows: int
    n_empty: int
    n_dropped: int
    warnings: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class OmegaResult:
    """McDonald's omega from a one-factor model (returned by :func:`mcdonald_omega`).

    Attributes
    ----------
    n : int
        Respondents used.
    omega_total : float
        ``psych::omega(x, nfactors = 1)$omega.tot``: (sum(R) - sum(u2)) / sum(R), with R the
        item correlation matrix (items with negative loadings flipped) and u2 the
        uniquenesses.
    omega_h : float
        ``$omega_h``: (sum of |loadings|)^2 / sum(R).
    loadings : pandas.DataFrame
        ``item``, ``loading``, ``uniqueness`` (1 - loading^2) of the minres factor.
    iterations : int
        Principal-axis iterations to convergence.
    """

    n: int
    omega_total: float
    omega_h: float
    loadings: pd.DataFrame
    iterations: int
