"""Public reliability functions: Cronbach's alpha, McDonald's omega, item statistics."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from evalkit.errors import AnalysisError
from evalkit.reliability._psych import (
    alpha_parts,
    cov2cor,
    first_component_loadings,
    omega,
    smc,
)
from evalkit.reliability._results import AlphaResult, EmptyRows, Missing, OmegaResult
from evalkit.reliability._validate import check_conf, check_items, check_scale, prepare


def cronbach_alpha(
    data: pd.DataFrame,
    *,
    items: Sequence[str],
    reverse: Sequence[str] = (),
    scale_min: float | None = None,
    scale_max: float | None = None,
    missing: Missing = "pairwise",
    empty_rows: EmptyRows = "count",
    conf_level: float = 0.95,
) -> AlphaResult:
    """Cronbach's alpha with item statistics, as ``psych::alpha`` computes them.

    With ``missing="pairwise"`` (psych's default) the covariance matrix uses every pair of
    answers (``cov(x, use = "pairwise")``) and, as in psych, n counts every row of the data,
    including respondents who answered no item: they add nothing to the covariances but do
    enter the standard error and the Feldt interval (``empty_rows="drop"`` leaves them out
    of n instead, which widens both slightly). With ``"listwise"`` only respondents who
    answered every item are used, and n is their number (``result.n_dropped`` says how many
    rows that left out); psych's ``alpha(x, use = "complete.obs")`` would still put every
    row in n.

    An item that loads negatively on the first principal component of the (reverse-scored)
    items is named in ``result.warnings``: it correlates negatively with the total and
    probably should be reversed. psych warns on the same rule, but only when no item is
    reversed (``keys`` not given); evalkit checks the data after the reversals it was given.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent.
    items : list of str
        The item columns (at least two).
    reverse : list of str, optional
        Items to reverse-score as ``scale_min + scale_max - x``. Without a scale range the
        observed minimum and maximum over all items are used (psych's rule).
    scale_min, scale_max : float, optional
        The response scale; when given, answers outside it are an error.
    missing : {"pairwise", "listwise"}, default "pairwise"
        How missing answers are handled.
    empty_rows : {"count", "drop"}, default "count"
        With ``"pairwise"``: whether respondents who answered no item count in n (psych) or
        not. Ignored with ``"listwise"``.
    conf_level : float, default 0.95
        Level of the Feldt and Duhachek intervals.

    Returns
    -------
    AlphaResult
        Alpha, its intervals, ``item_stats``, for three or more items omega, the row counts
        (``n_rows``, ``n_empty``, ``n_dropped``) and ``warnings``.

    Raises
    ------
    AnalysisError
        Missing or non-numeric item columns, a reverse item not among the items, answers
        outside the scale, an item without variance, or fewer than 3 respondents.

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"q1": [1, 2, 3, 4, 5, 3], "q2": [2, 2, 3, 5, 4, 3],
    ...                      "q3": [5, 3, 3, 2, 1, 4]})
    >>> res = cronbach_alpha(data, items=["q1", "q2", "q3"], reverse=["q3"],
    ...                      scale_min=1, scale_max=5)
    >>> round(res.raw_alpha, 4), res.n, res.warnings
    (0.9318, 6, ())
    >>> list(res.item_stats.columns)
    ['item', 'n', 'raw_r', 'std_r', 'r_cor', 'r_drop', 'mean', 'sd', 'alpha_if_dropped']
    >>> forgot = cronbach_alpha(data, items=["q1", "q2", "q3"])
    >>> print(forgot.warnings[0])  # doctest: +NORMALIZE_WHITESPACE
    item 'q3' correlates negatively with the total of the other items (r = -0.854) and
    probably should be reversed: alpha is -2.215 with it as it is, 0.908 without it
    """
    check_conf(conf_level)
    if empty_rows not in ("count", "drop"):
        raise AnalysisError(
            f"empty_rows must be 'count' or 'drop'; received {empty_rows!r}")
    if isinstance(reverse, str):
        reverse = (reverse,)
    x, n_answered = prepare(data, items, reverse, scale_min, scale_max, missing, minimum=2)
    names = list(x.columns)
    k = len(names)
    c = x.cov(ddof=1).to_numpy()  # pairwise complete, as R's cov(use = "pairwise")
    if np.isnan(c).any():
        raise AnalysisError(
            "some pairs of items were never answered together; alpha needs every pairwise "
            "covariance"
        )
    r = cov2cor(c)
    parts = alpha_parts(c, r)
    n_rows = len(data)
    if missing == "listwise":
        n = len(x)
    else:
        n = n_rows if empty_rows == "count" else n_answered

    total = x.mean(axis=1, skipna=True)
    raw_r = [float(total.corr(x[i])) for i in names]
    # psych's colSums(R) / sqrt(sum(R)): NaN (not an error) when items so oppose each other
    # that the sum is not positive, as R's sqrt of a negative number gives.
    std_r = r.sum(axis=0) / np.sqrt(r.sum()) if r.sum() > 0 else np.full(k, np.nan)
    rc = r.copy()
    np.fill_diagonal(rc, smc(r))
    r_cor = rc.sum(axis=0) / np.sqrt(rc.sum()) if rc.sum() > 0 else np.full(k, np.nan)
    r_drop = []
    drop_alpha = []
    for i in range(k):
        keep = [j for j in range(k) if j != i]
        v_drop = float(c[np.ix_(keep, keep)].sum())
        c_drop = float(c[:, i].sum() - c[i, i])
        r_drop.append(c_drop / math.sqrt(c[i, i] * v_drop) if v_drop > 0 else math.nan)
        drop_alpha.append(
            alpha_parts(c[np.ix_(keep, keep)], r[np.ix_(keep, keep)])["raw"] if k > 2
            else float("nan"))
    item_stats = pd.DataFrame({
        "item": names,
        "n": x.notna().sum().to_numpy(dtype=int),
        "raw_r": raw_r,
        "std_r": std_r,
        "r_cor": r_cor,
        "r_drop": r_drop,
        "mean": x.mean().to_numpy(),
        "sd": x.std(ddof=1).to_numpy(),
        "alpha_if_dropped": drop_alpha,
    })

    pairwise_r = x.corr().to_numpy()  # principal(x)'s cor(x, use = "pairwise")
    warnings = _negative_items(names, first_component_loadings(pairwise_r), r_drop, drop_alpha,
                               parts["raw"])
    ase = math.sqrt(parts["q"] / n)
    tail = (1 - conf_level) / 2
    df1, df2 = n - 1, (n - 1) * (k - 1)
    raw = parts["raw"]
    z = float(sps.norm.ppf(1 - tail))
    omega_total: float | None
    omega_h: float | None
    if k >= 3:
        omega_total, omega_h, _, _ = omega(x)
    else:
        omega_total = omega_h = None
    return AlphaResult(
        n=n, n_items=k, missing=missing, reversed=tuple(reverse),
        raw_alpha=raw, std_alpha=parts["std"], g6=parts["g6"], average_r=parts["average_r"],
        ase=ase,
        feldt_ci_low=1 - (1 - raw) * float(sps.f.ppf(1 - tail, df1, df2)),
        feldt_ci_high=1 - (1 - raw) * float(sps.f.ppf(tail, df1, df2)),
        duhachek_ci_low=raw - z * ase, duhachek_ci_high=raw + z * ase,
        total_mean=float(total.mean()), total_sd=float(total.std(ddof=1)),
        item_stats=item_stats,
        alpha_if_dropped=dict(zip(names, drop_alpha, strict=True)),
        omega_total=omega_total, omega_h=omega_h, conf_level=conf_level,
        n_rows=n_rows, n_empty=n_rows - n_answered, n_dropped=n_rows - n,
        warnings=warnings,
    )


def _negative_items(names: list[str], loadings: np.ndarray, r_drop: list[float],
                    drop_alpha: list[float], raw: float) -> tuple[str, ...]:
    """A warning for each item with a negative loading on the first principal component."""
    out = []
    for i, name in enumerate(names):
        if loadings[i] >= 0:
            continue
        without = ("" if math.isnan(drop_alpha[i])
                   else f": alpha is {raw:.3f} with it as it is, {drop_alpha[i]:.3f} without it")
        out.append(f"item '{name}' correlates negatively with the total of the other items "
                   f"(r = {r_drop[i]:.3f}) and probably should be reversed{without}")
    return tuple(out)


def mcdonald_omega(
    data: pd.DataFrame,
    *,
    items: Sequence[str],
    reverse: Sequence[str] = (),
    scale_min: float | None = None,
    scale_max: float | None = None,
    missing: Missing = "pairwise",
) -> OmegaResult:
    """McDonald's omega total from a one-factor minres model, as ``psych::omega(x, nfactors = 1)``.

    The item correlations are pairwise (``cor(x, use = "pairwise")``) or from complete rows
    (``"listwise"``); respondents who answered no item are dropped. Reversing items does not
    change omega (psych flips items with negative loadings), but ``reverse`` is accepted so
    that the call mirrors :func:`cronbach_alpha`.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent.
    items : list of str
        The item columns (at least three).
    reverse, scale_min, scale_max, missing
        As in :func:`cronbach_alpha`.

    Returns
    -------
    OmegaResult
        ``omega_total``, ``omega_h`` and the factor ``loadings``.

    Raises
    ------
    AnalysisError
        As :func:`cronbach_alpha`; also with fewer than three items.

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"q1": [1, 2, 3, 4, 5, 3, 2], "q2": [2, 2, 3, 5, 4, 3, 1],
    ...                      "q3": [1, 3, 3, 4, 5, 2, 2]})
    >>> res = mcdonald_omega(data, items=["q1", "q2", "q3"])
    >>> round(res.omega_total, 4)
    0.933
    >>> list(res.loadings.columns)
    ['item', 'loading', 'uniqueness']
    """
    if isinstance(reverse, str):
        reverse = (reverse,)
    x, _ = prepare(data, items, reverse, scale_min, scale_max, missing, minimum=3)
    omega_total, omega_h, loadings, iterations = omega(x)
    return OmegaResult(
        n=len(x), omega_total=omega_total, omega_h=omega_h,
        loadings=pd.DataFrame({"item": list(x.columns), "loading": loadings,
                               "uniqueness": 1 - loadings**2}),
        iterations=iterations,
    )


def item_statistics(
    data: pd.DataFrame,
    *,
    items: Sequence[str],
    scale_min: float,
    scale_max: float,
) -> pd.DataFrame:
    """Per-item answers, mean, SD and the shares at the bottom and top of the scale.

    Every row of ``data`` counts (a respondent who skipped everything adds to ``n_missing``).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent.
    items : list of str
        The item columns.
    scale_min, scale_max : float
        The lowest and highest possible answer; answers outside are an error.

    Returns
    -------
    pandas.DataFrame
        One row per item: ``item``, ``n`` (answers), ``n_missing``, ``mean``, ``sd``,
        ``floor_share`` and ``ceiling_share`` (share of the answers equal to ``scale_min`` /
        ``scale_max``; NaN when nobody answered).

    Raises
    ------
    AnalysisError
        Missing or non-numeric item columns, or answers outside the scale.

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"q1": [1, 5, 5, None], "q2": [2, 3, 4, 4]})
    >>> stats = item_statistics(data, items=["q1", "q2"], scale_min=1, scale_max=5)
    >>> stats.round(3).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'item': 'q1', 'n': 3, 'n_missing': 1, 'mean': 3.667, 'sd': 2.309, 'floor_share': 0.333,
      'ceiling_share': 0.667},
     {'item': 'q2', 'n': 4, 'n_missing': 0, 'mean': 3.25, 'sd': 0.957, 'floor_share': 0.0,
      'ceiling_share': 0.0}]
    """
    x = check_items(data, items, minimum=1)
    lo, hi = check_scale(x, scale_min, scale_max, required=True)
    rows = []
    for item in x.columns:
        col = x[item].dropna()
        n = int(col.size)
        rows.append({
            "item": item,
            "n": n,
            "n_missing": int(len(x) - n),
            "mean": float(col.mean()) if n else float("nan"),
            "sd": float(col.std(ddof=1)) if n > 1 else float("nan"),
            "floor_share": float((col == lo).mean()) if n else float("nan"),
            "ceiling_share": float((col == hi).mean()) if n else float("nan"),
        })
    return pd.DataFrame(rows, columns=["item", "n", "n_missing", "mean", "sd", "floor_share",
                                       "ceiling_share"])
