"""Re-implementations of the psych internals that alpha and omega rest on."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from evalkit.errors import AnalysisError

_PINV_TOL = math.sqrt(np.finfo(float).eps)  # psych::Pinv's tolerance


def smc(r: np.ndarray) -> np.ndarray:
    """``psych::smc``: squared multiple correlations, 1 - 1/diag(pinv(R)), clamped to [0, 1]."""
    inv = np.linalg.pinv(r, rcond=_PINV_TOL, hermitian=True)
    return np.clip(1 - 1 / np.diag(inv), 0.0, 1.0)


def cov2cor(c: np.ndarray) -> np.ndarray:
    s = np.sqrt(np.diag(c))
    return c / np.outer(s, s)


def alpha_parts(c: np.ndarray, r: np.ndarray) -> dict[str, float]:
    """psych's ``alpha.1``: raw and standardized alpha, G6, average r and Duhachek's Q."""
    k = c.shape[0]
    sum_c, tr_c = float(c.sum()), float(np.trace(c))
    sum_r = float(r.sum())
    cc = c @ c
    q = (2 * k**2 / ((k - 1) ** 2 * sum_c**3)) * (
        sum_c * (float(np.trace(cc)) + tr_c**2) - 2 * tr_c * float(cc.sum()))
    return {
        "raw": (1 - tr_c / sum_c) * (k / (k - 1)),
        "std": (1 - k / sum_r) * (k / (k - 1)),
        "g6": 1 - (k - float(smc(r).sum())) / sum_r,
        "average_r": (sum_r - k) / (k * (k - 1)),
        "q": q,
    }


def minres_one_factor(r: np.ndarray, *, tol: float = 1e-14,
                       max_iter: int = 20_000) -> tuple[np.ndarray, int]:
    """One-factor minres (unweighted least squares) loadings by iterated principal axes.

    psych's ``fa(fm = "minres")`` minimizes the same criterion with L-BFGS-B from SMC
    starting values; at its minimum the communalities equal the squared loadings, which is
    the fixed point iterated here to machine precision. Uniquenesses are kept >= 0.005 as
    psych's lower bound does.
    """
    h = smc(r)
    loadings = np.sqrt(h)
    it = 0
    while it < max_iter:
        it += 1
        reduced = r.copy()
        np.fill_diagonal(reduced, h)
        values, vectors = np.linalg.eigh(reduced)
        loadings = vectors[:, -1] * math.sqrt(max(values[-1], 0.0))
        h_new = np.minimum(loadings**2, 0.995)
        if np.max(np.abs(h_new - h)) < tol:
            break
        h = h_new
    if loadings.sum() < 0:
        loadings = -loadings
    return loadings, it


def omega(x: pd.DataFrame) -> tuple[float, float, np.ndarray, int]:
    r = x.corr(method="pearson").to_numpy()  # R: cor(x, use = "pairwise")
    if np.isnan(r).any():
        raise AnalysisError(
            "some pairs of items were never answered together; omega needs every pairwise "
            "correlation"
        )
    loadings, iterations = minres_one_factor(r)
    key = np.where(loadings < 0, -1.0, 1.0)
    vt = float((key[:, None] * r * key[None, :]).sum())
    u2 = 1 - loadings**2
    return (vt - float(u2.sum())) / vt, float(np.abs(loadings).sum()) ** 2 / vt, loadings, \
        iterations


def first_component_loadings(r: np.ndarray) -> np.ndarray:
    """Loadings on the first principal component of ``r``, as ``psych::principal(x)``.

    The leading eigenvector times the square root of its eigenvalue, signed so that the
    loadings sum to a positive number (psych's orientation).
    """
    values, vectors = np.linalg.eigh(r)
    loadings = vectors[:, -1] * math.sqrt(max(float(values[-1]), 0.0))
    return -loadings if loadings.sum() < 0 else loadings
