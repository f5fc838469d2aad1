"""The proportional-odds check of ``ordinal::nominal_test``.

For each term of ``time * group`` the model is refitted with that term's effect allowed to
differ between the thresholds (``clm(..., nominal = ~ term)``): the thresholds become
``N theta_j`` with ``N`` the term's design (with intercept), location columns that ``N``
already spans are dropped (clm drops aliased coefficients), and the likelihood-ratio test
compares it with the proportional-odds fit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from evalkit.models._design import Design
from evalkit.models._ordinal_fit import ClmFit, fit_clm


def _span_drop(N: np.ndarray, X: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Indices of the columns of ``X`` kept after those in the span of ``N`` (and of the
    columns kept before them) are dropped, in order."""
    keep: list[int] = []
    base = N
    rank = np.linalg.matrix_rank(base, tol=tol * max(1.0, np.abs(base).max()))
    for j in range(X.shape[1]):
        trial = np.column_stack([base, X[:, j]])
        r = np.linalg.matrix_rank(trial, tol=tol * max(1.0, np.abs(trial).max()))
        if r > rank:
            keep.append(j)
            base, rank = trial, r
    return np.array(keep, dtype=np.int64)


def _full_rank(N: np.ndarray) -> np.ndarray:
    cols: list[int] = []
    for j in range(N.shape[1]):
        trial = N[:, [*cols, j]]
        if np.linalg.matrix_rank(trial) == len(cols) + 1:
            cols.append(j)
    return N[:, cols]


def nominal_table(d: Design, y: np.ndarray, X: np.ndarray, K: int, link: str,
                  plain: ClmFit) -> pd.DataFrame:
    """``term, df, loglik, aic, lrt, p`` for the time, group and interaction terms."""
    n = len(y)
    kinds = np.array(d.term_kinds[1:])
    g_code = d.site_group[d.site] if d.site.size else np.zeros(0, dtype=np.int64)
    n_groups = len(d.group_levels)
    cell = d.time_code * n_groups + g_code
    cell_ind = (cell[:, None] == np.arange(len(d.time_levels) * n_groups)[None, :])
    specs = [
        (d.time, np.column_stack([np.ones(n), X[:, kinds == "time"]])),
        (d.group, np.column_stack([np.ones(n), X[:, kinds == "group"]])),
        (f"{d.time}:{d.group}", _full_rank(np.column_stack([np.ones(n),
                                                             cell_ind.astype(float)]))),
    ]
    edf0 = (K - 1) + X.shape[1]
    rows = []
    for term, N in specs:
        keep = _span_drop(N, X)
        Xk = X[:, keep]
        m = N.shape[1]
        start = np.concatenate([
            np.column_stack([plain.theta[:, 0], np.zeros((K - 1, m - 1))]).ravel(),
            plain.beta[keep]])
        try:
            nom = fit_clm(y, Xk, K, link, N=N, start=start)
            ok = nom.converged
        except FloatingPointError:
            ok = False
        edf = m * (K - 1) + Xk.shape[1]
        if ok:
            lrt = 2.0 * (nom.loglik - plain.loglik)
            df = edf - edf0
            rows.append((term, df, nom.loglik, -2.0 * nom.loglik + 2.0 * edf, lrt,
                         float(sps.chi2.sf(lrt, df))))
        else:
            rows.append((term, edf - edf0, np.nan, np.nan, np.nan, np.nan))
    return pd.DataFrame(rows, columns=["term", "df", "loglik", "aic", "lrt", "p"])
