"""CR2 cluster-robust covariance at site level, as clubSandwich 0.5 computes it for an lmer fit.

``clubSandwich::vcovCR(<lmerMod>, type = "CR2")`` clusters on the outermost grouping factor
(the site) and, with no target given, uses the fitted model's own working covariance:
``Theta_j = W_j^-1 = H_j`` (the relative covariance of site ``j``; ``inverse_var = TRUE``).
With ``M = (X' W X)^-1``, ``R_j`` the upper Cholesky factor of ``Theta_j`` and
``G_j = R_j (Theta_j - X_j M X_j') R_j'``, the adjustment is ``A_j = R_j' G_j^{-1/2} R_j``
(eigenvalues below 1e-12 give zero), ``E_j = X_j' W_j A_j`` and
``vcov = M (sum_j E_j e_j e_j' E_j') M`` with ``e_j`` the marginal residuals ``y - X beta``.

Satterthwaite df follow ``coef_test(..., test = "Satterthwaite")``: for a contrast ``c``,
``P`` is the ``J x J`` matrix ``diag(|c' M E_j L_j|^2) - H_c' H_c`` with
``H_c[:, j] = (c' M E_j X_j L_M)'``, ``L_j`` and ``L_M`` lower Cholesky factors of ``Theta_j``
and ``M``; ``df = (tr P)^2 / sum(P^2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from evalkit.models._kenward_roger import _site_inverse


@dataclass(frozen=True, eq=False)
class RobustState:
    vcov: np.ndarray
    G: list[np.ndarray]  # per site: M E_j L_j  (p x n_j)
    H: np.ndarray  # (p, p, J): per site M E_j X_j L_M


def cr2_state(X: np.ndarray, y: np.ndarray, site: np.ndarray, participant: np.ndarray,
              psi: tuple[float, float], beta: np.ndarray) -> RobustState:
    p = X.shape[1]
    starts = np.flatnonzero(np.r_[True, site[1:] != site[:-1]])
    ends = np.r_[starts[1:], site.size]
    blocks = []
    XtWX = np.zeros((p, p))
    for a, b in zip(starts, ends, strict=True):
        W = _site_inverse(psi[0], psi[1], participant[a:b])
        Xj = X[a:b]
        XW = Xj.T @ W
        XtWX += XW @ Xj
        blocks.append((a, b, W, XW))
    M = linalg.inv(XtWX)
    M = 0.5 * (M + M.T)
    LM = linalg.cholesky(M, lower=True)
    resid = y - X @ beta
    comps = np.empty((p, len(blocks)))
    Gs: list[np.ndarray] = []
    H = np.empty((p, p, len(blocks)))
    for j, (a, b, W, XW) in enumerate(blocks):
        Xj = X[a:b]
        Theta = linalg.inv(W)
        Theta = 0.5 * (Theta + Theta.T)
        Rj = linalg.cholesky(Theta, lower=False)
        G = Rj @ (Theta - Xj @ M @ Xj.T) @ Rj.T
        vals, vecs = np.linalg.eigh(0.5 * (G + G.T))
        vp = np.where(vals > 1e-12, np.abs(vals) ** -0.5, 0.0)
        A = Rj.T @ ((vecs * vp) @ vecs.T) @ Rj
        E = XW @ A
        comps[:, j] = E @ resid[a:b]
        ME = M @ E
        Gs.append(ME @ Rj.T)
        H[:, :, j] = ME @ Xj @ LM
    vcov = M @ (comps @ comps.T) @ M
    return RobustState(vcov=0.5 * (vcov + vcov.T), G=Gs, H=H)


def cr2_df(state: RobustState, L: np.ndarray) -> np.ndarray:
    """Satterthwaite df of each row of ``L`` (clubSandwich ``coef_test`` /
    ``linear_contrast``)."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    out = np.empty(L.shape[0])
    for r, c in enumerate(L):
        Hc = np.einsum("i,iuj->uj", c, state.H)  # (p, J)
        P = -(Hc.T @ Hc)
        P[np.diag_indices_from(P)] += np.array([float(np.sum((c @ g) ** 2)) for g in state.G])
        out[r] = np.trace(P) ** 2 / np.sum(P * P)
    return out
