"""Satterthwaite degrees of freedom as lmerTest computes them (lmerTest 3.1).

lmerTest works in the variance-parameter vector ``varpar = (theta..., sigma)`` where ``theta``
are lme4's relative standard deviations. ``vcov(varpar) = 2 H^+`` with ``H`` the Hessian of
the (RE)ML deviance at fixed ``varpar`` (Moore-Penrose inverse over eigenvalues > 1e-8), and
the derivatives of ``vcov(beta)`` with respect to ``varpar`` give the gradient of the variance
of any contrast. For a contrast ``L``:

``df = 2 (L' C L)^2 / (g' vcov(varpar) g)``, ``g_k = L' (dC / d varpar_k) L``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalkit.models._reml import BlockStats, covbeta_jacobian, varpar_hessian

EIGEN_TOL = 1e-8


@dataclass(frozen=True, eq=False)
class SatterthwaiteState:
    vcov_beta: np.ndarray
    vcov_varpar: np.ndarray
    jacobian: list[np.ndarray]
    hessian_eigenvalues: np.ndarray


def satterthwaite_state(stats: BlockStats, varpar: np.ndarray, vcov_beta: np.ndarray,
                        reml: bool) -> SatterthwaiteState:
    h = varpar_hessian(stats, varpar, reml)
    vals, vecs = np.linalg.eigh(h)
    pos = vals > EIGEN_TOL
    h_inv = (vecs[:, pos] / vals[pos]) @ vecs[:, pos].T
    return SatterthwaiteState(
        vcov_beta=vcov_beta, vcov_varpar=2.0 * h_inv,
        jacobian=covbeta_jacobian(stats, varpar), hessian_eigenvalues=vals,
    )


def satterthwaite_df(state: SatterthwaiteState, L: np.ndarray) -> np.ndarray:
    """Degrees of freedom for each row of ``L`` (one contrast per row)."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    var = np.einsum("ij,jk,ik->i", L, state.vcov_beta, L)
    grad = np.column_stack([np.einsum("ij,jk,ik->i", L, J, L) for J in state.jacobian])
    denom = np.einsum("ij,jk,ik->i", grad, state.vcov_varpar, grad)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, 2.0 * var**2 / denom, np.inf)


def _fstat_ddf(nu: np.ndarray, tol: float = 1e-8) -> float:
    """lmerTest's ``get_Fstat_ddf``."""
    if nu.size == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(nu.mean())
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2.0)))
    return 2.0 * E / (E - nu.size)


def satterthwaite_f(state: SatterthwaiteState, beta: np.ndarray, L: np.ndarray
                    ) -> tuple[float, int, float]:
    """Multi-df F test of ``L beta = 0`` as lmerTest's ``contestMD``: (F, numerator df,
    denominator df)."""
    L = np.atleast_2d(L)
    VL = L @ state.vcov_beta @ L.T
    d, P = np.linalg.eigh(VL)
    order = np.argsort(d)[::-1]
    d, P = d[order], P[:, order]
    tol = max(np.sqrt(np.finfo(float).eps) * d[0], 0.0)
    q = int(np.sum(d > tol))
    PtL = (P.T @ L)[:q]
    t2 = (PtL @ beta) ** 2 / d[:q]
    F = float(t2.sum() / q)
    nu = satterthwaite_df(state, PtL)
    return F, q, _fstat_ddf(nu)
