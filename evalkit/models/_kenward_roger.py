"""Kenward-Roger adjusted covariance and degrees of freedom as pbkrtest 0.5 computes them.

pbkrtest writes ``Sigma = sum_k gamma_k G_k`` (``G`` = ``Z_site Z_site'``,
``Z_part Z_part'`` and ``I``; ``gamma`` the variances) and needs, for every pair ``(k, l)``,
``P_k = -X' S G_k S X``, ``Q_kl = X' S G_k S G_l S X`` and ``tr(S G_k S G_l)`` with
``S = Sigma^-1``. ``Sigma`` is block diagonal by site, so every quantity is a sum of per-site
terms; each site block is formed densely from its closed-form inverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalkit.errors import AnalysisError


@dataclass(frozen=True, eq=False)
class KenwardRogerState:
    vcov_beta: np.ndarray  # Phi: the unadjusted vcov(beta)
    vcov_adjusted: np.ndarray  # PhiA
    P: list[np.ndarray]
    W: np.ndarray


def _site_inverse(psi_s: float, psi_p: float, pid: np.ndarray) -> np.ndarray:
    """``H^-1`` for one site, ``H = I + psi_p Zp Zp' + psi_s 1 1'`` (rows grouped by ``pid``)."""
    _, inv, counts = np.unique(pid, return_inverse=True, return_counts=True)
    w_row = 1.0 / (1.0 + counts[inv] * psi_p)
    same = inv[:, None] == inv[None, :]
    Hi = np.eye(pid.size) - psi_p * same * w_row[:, None]
    m = float(w_row.sum())  # sum_i n_i w_i
    c = psi_s / (1.0 + psi_s * m)
    Hi -= c * np.outer(w_row, w_row)
    return Hi


def kenward_roger_state(X: np.ndarray, site: np.ndarray, participant: np.ndarray,
                        psi: tuple[float, float], sigma: float, vcov_beta: np.ndarray
                        ) -> KenwardRogerState:
    p = X.shape[1]
    s2 = sigma * sigma
    n_g = 3
    PP = [np.zeros((p, p)) for _ in range(n_g)]
    QQ = {(k, l): np.zeros((p, p)) for k in range(n_g) for l in range(k, n_g)}  # noqa: E741
    K = np.zeros((n_g, n_g))
    starts = np.flatnonzero(np.r_[True, site[1:] != site[:-1]])
    ends = np.r_[starts[1:], site.size]
    for a, b in zip(starts, ends, strict=True):
        pid = participant[a:b]
        Xj = X[a:b]
        S = _site_inverse(psi[0], psi[1], pid) / s2
        _, inv = np.unique(pid, return_inverse=True)
        # HH_k = G_k S for G = 1 1' (site), Zp Zp' (participant), I (residual)
        col = S.sum(axis=0)
        HH_s = np.broadcast_to(col, S.shape)
        part_sums = np.zeros((inv.max() + 1, S.shape[1]))
        np.add.at(part_sums, inv, S)
        HH_p = part_sums[inv]
        HH = [HH_s, HH_p, S]
        TT = S @ Xj
        OO = [h @ Xj for h in HH]
        SO = [S @ o for o in OO]
        for k in range(n_g):
            PP[k] -= OO[k].T @ TT
            for l in range(k, n_g):  # noqa: E741
                QQ[(k, l)] += OO[k].T @ SO[l]
                K[k, l] += float(np.sum(HH[k].T * HH[l]))
    K = np.triu(K) + np.triu(K, 1).T
    Phi = vcov_beta
    IE2 = np.empty((n_g, n_g))
    for i in range(n_g):
        PhiPi = Phi @ PP[i]
        for j in range(i, n_g):
            IE2[i, j] = IE2[j, i] = (K[i, j] - 2.0 * np.sum(Phi * QQ[(i, j)])
                                     + np.sum(PhiPi * (PP[j] @ Phi)))
    condi = np.min(np.abs(np.linalg.eigvalsh(IE2)))
    WW = 2.0 * (np.linalg.inv(IE2) if condi > 1e-10 else np.linalg.pinv(IE2))
    WW = 0.5 * (WW + WW.T)
    UU = np.zeros((p, p))
    for i in range(n_g - 1):
        for j in range(i + 1, n_g):
            UU += WW[i, j] * (QQ[(i, j)] - PP[i] @ Phi @ PP[j])
    UU = UU + UU.T
    for i in range(n_g):
        UU += WW[i, i] * (QQ[(i, i)] - PP[i] @ Phi @ PP[i])
    PhiA = Phi + 2.0 * Phi @ UU @ Phi
    return KenwardRogerState(vcov_beta=Phi, vcov_adjusted=PhiA, P=PP, W=WW)


def kenward_roger_df(state: KenwardRogerState, L: np.ndarray) -> np.ndarray:
    """pbkrtest's ``Lb_ddf`` for each row of ``L`` (one-dimensional contrasts)."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    out = np.empty(L.shape[0])
    V0 = state.vcov_beta
    n_g = len(state.P)
    for r, row in enumerate(L):
        Lr = row[None, :]
        den = float(row @ V0 @ row)
        if den <= 0:
            raise AnalysisError(
                f"Kenward-Roger df: contrast {row.tolist()} has zero variance; expected a "
                "contrast of estimable fixed effects"
            )
        Theta = Lr.T @ Lr / den
        ThetaV0 = Theta @ V0
        A1 = A2 = 0.0
        for i in range(n_g):
            ui = ThetaV0 @ state.P[i] @ V0
            for j in range(i, n_g):
                e = 1.0 if i == j else 2.0
                uj = ThetaV0 @ state.P[j] @ V0
                A1 += e * state.W[i, j] * np.trace(ui) * np.trace(uj)
                A2 += e * state.W[i, j] * np.sum(ui * uj.T)
        q = 1.0
        B = (A1 + 6.0 * A2) / (2.0 * q)
        g = ((q + 1.0) * A1 - (q + 4.0) * A2) / ((q + 2.0) * A2)
        c1 = g / (3.0 * q + 2.0 * (1.0 - g))
        c2 = (q - g) / (3.0 * q + 2.0 * (1.0 - g))
        c3 = (q + 2.0 - g) / (3.0 * q + 2.0 * (1.0 - g))
        V0_ = 1.0 + c1 * B
        V1 = 1.0 - c2 * B
        V2 = 1.0 - c3 * B
        if abs(V0_) < 1e-10:
            V0_ = 0.0
        x = 1.0 - A2 / q
        ratio = 1.0 if (abs(x) < 1e-14 and abs(V1) < 1e-14) else x / V1
        rho = (ratio**2) * V0_ / V2 / q
        out[r] = 4.0 + (q + 2.0) / (q * rho - 1.0)
    return out
