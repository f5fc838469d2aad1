"""CR2 cluster-robust covariance at site level, as clubSandwich 0.5 computes it for an lmer fit.

What clubSandwich computes
--------------------------
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

How it is computed here (no site-sized matrix)
----------------------------------------------
*Any square root will do.* Write ``F = R_j'`` (``F F' = Theta_j``) and ``B = Theta_j - X_j M
X_j'``, so ``A = F (F' B F)^{-1/2} F'``. Replacing ``F`` by ``F Q`` with ``Q`` orthogonal
turns ``F' B F`` into ``Q' (F' B F) Q`` (same eigenvalues, so the same thresholding) and leaves
``A`` unchanged; every square root of ``Theta_j`` is such an ``F Q``, so the symmetric root
``Theta^{1/2}`` gives the same ``A``.

*A acts as the identity off a small subspace.* Let ``S`` be a subspace of the site's rows that
contains the columns of ``X_j`` and is mapped into itself by ``Theta_j``. Then ``B`` and the
symmetric roots map ``S`` and its orthogonal complement into themselves, ``B = Theta`` on the
complement, so there ``F' B F = Theta^2`` (eigenvalues >= 1, never thresholded) and
``A = Theta^{1/2} Theta^{-1} Theta^{1/2} = I``. Hence with ``Q`` an orthonormal basis of
``S``, ``A = I + Q (A_S - I) Q'`` where ``A_S`` is the same formula applied to
``Theta_S = Q' Theta Q`` and ``B_S = Theta_S - (Q'X) M (Q'X)'``. Everything clubSandwich needs
is then small: ``X_j' W_j = X_S' Theta_S^-1 Q'`` (``X_j`` lies in ``S``), so
``E_j e_j = X_S' Theta_S^-1 A_S Q'e_j``, ``E_j X_j = X_S' Theta_S^-1 A_S X_S`` and
``E_j Theta_j E_j' = X_S' Theta_S^-1 A_S Theta_S A_S Theta_S^-1 X_S`` (the df need only
these, since ``L_j L_j' = Theta_j``).

*The subspace.* Within a site ``X_j = D_j E_g`` with ``D`` the design without modality terms
(intercept, waves, covariates; ``d`` columns) and ``E_g`` the 0/1 map of modality ``g``'s
columns. ``Theta = I + Z Phi Z'`` (``Z`` the participant indicators, ``Phi = psi_p I +
psi_s 1 1'``). Split ``D = D~ + sum_k V_k``: ``D~`` the deviations of each row from its
participant's mean (``Z' D~ = 0``, so ``Theta`` is the identity on them), and ``V_k`` the
participant means on the rows of the participants with ``n_k`` observations (zero elsewhere).
``S = span(D~) + sum_k span(V_k)`` contains ``X_j`` and is ``Theta``-invariant (``Z Phi Z'
V_k`` lies in ``span(V_k)`` plus ``psi_s`` times the sum of the intercept columns of all
``V_l``), and its pieces are mutually orthogonal. Its dimension is at most ``d (K + 1)``
(``K`` distinct numbers of observations per participant, at most the number of waves), so
each site costs a few ``r x r`` eigen-decompositions with ``r`` about 12 whatever its size,
done for all sites at once; the data are touched once, in ``O(n d^2)`` sums. An orthonormal
basis of each piece comes from the eigen-decomposition of its Gram matrix (columns scaled to
unit length; directions with relative eigenvalue below 1e-10 are linear dependencies, e.g.
the intercept has no within-participant part, and are dropped). In these coordinates
``Theta_S`` is the identity on ``span(D~)`` and ``diag(1 + psi_p n_k) + psi_s t t'`` on the
``V_k`` pieces.

The result equals the dense computation (kept in ``tests/test_models.py`` as the oracle) to
rounding error; both are checked against clubSandwich in ``tests/reference/models``.

The ``J x J`` matrix ``P`` of the df is never formed: ``tr P = sum_j P_jj - |H_c|^2`` and
``sum(P^2) = sum_j P_jj^2 - 2 sum_j P_jj |H_c[:, j]|^2 + |H_c H_c'|^2`` (Frobenius norms).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from evalkit.models._design import Design, null_design
from evalkit.models._permutation import _pair_sums, _selection

DEPENDENT_TOL = 1e-10  # relative Gram eigenvalue below which a basis direction is a dependency
SINGULAR_TOL = 1e-12  # clubSandwich's matrix_power threshold on the eigenvalues of G_j


@dataclass(frozen=True, eq=False)
class RobustState:
    vcov: np.ndarray  # (p, p) CR2 covariance of beta
    M: np.ndarray  # (p, p) (X' W X)^-1
    LM: np.ndarray  # lower Cholesky factor of M
    EX: np.ndarray  # (J, p, p) per site E_j X_j
    ETE: np.ndarray  # (J, p, p) per site E_j Theta_j E_j'
    singular_sites: tuple[int, ...]  # sites whose G_j had eigenvalues set to zero


def _orthonormal(gram: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``T`` (stacked) with ``T' gram T = I`` on the independent directions, zero columns else.

    ``scale`` holds the length of each column before any centring, so that a column that is
    zero up to rounding (the within-participant part of the intercept) counts as dependent.
    """
    scale = np.where(scale > 0.0, scale, 1.0)
    normed = gram / (scale[..., :, None] * scale[..., None, :])
    vals, vecs = np.linalg.eigh(normed)
    keep = vals > DEPENDENT_TOL * np.maximum(vals[..., -1:], 1.0)
    inv_root = np.where(keep, 1.0 / np.sqrt(np.where(keep, vals, 1.0)), 0.0)
    return (vecs * inv_root[..., None, :]) / scale[..., :, None]


def _sym_functions(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric square root and inverse of stacked symmetric positive definite matrices."""
    vals, vecs = np.linalg.eigh(mat)
    root = (vecs * np.sqrt(vals)[..., None, :]) @ np.swapaxes(vecs, -1, -2)
    inv = (vecs / vals[..., None, :]) @ np.swapaxes(vecs, -1, -2)
    return root, inv


def cr2_state(design: Design, psi: tuple[float, float], beta: np.ndarray) -> RobustState:
    """CR2 covariance of ``beta`` and what its Satterthwaite df need (see the module doc)."""
    D, keep_cols = null_design(design)
    Esel = _selection(design, keep_cols)[design.site_group]  # (J, d, p)
    y, site, part = design.y, design.site, design.participant
    n, d = D.shape
    J = design.n_sites
    psi_s, psi_p = float(psi[0]), float(psi[1])
    A = np.column_stack([D, y])  # (n, q)

    # participant sums and the per-site, per-size sums of their outer products
    p_starts = np.flatnonzero(np.r_[True, part[1:] != part[:-1]])
    S = np.add.reduceat(A, p_starts, axis=0)  # (P, q)
    n_i = np.diff(np.r_[p_starts, n])
    sizes, size_idx = np.unique(n_i, return_inverse=True)
    K = sizes.size
    flat = site[p_starts] * K + size_idx
    between = _pair_sums(S, flat, J * K).reshape(J, K, d + 1, d + 1)
    between /= sizes[None, :, None, None]  # V_k' [V_k  e]-type products: sum S_i S_i' / n_k
    ones = np.column_stack([np.bincount(flat, weights=S[:, c], minlength=J * K)
                            for c in range(d)]).reshape(J, K, d)  # sum_i S_i (D part)
    # deviations of each row from its participant's mean: the within-participant piece
    tilde = A - (S / n_i[:, None])[np.repeat(np.arange(p_starts.size), n_i)]
    within = _pair_sums(tilde, site, J)  # (J, q, q)

    # orthonormal coordinates of S: [within (d), size 1 (d), ..., size K (d)]
    gram = np.concatenate([within[:, None, :d, :d], between[:, :, :d, :d]], axis=1)
    raw = np.column_stack([np.bincount(site, weights=D[:, c] ** 2, minlength=J)
                           for c in range(d)])  # uncentred column lengths of D_j
    scale = np.sqrt(np.concatenate([raw[:, None, :],
                                    np.einsum("jkaa->jka", between[:, :, :d, :d])], axis=1))
    T = _orthonormal(gram, scale)  # (J, K + 1, d, d)
    cross = np.concatenate([within[:, None, :d, :], between[:, :, :d, :]], axis=1)
    coord = np.einsum("jkab,jkaq->jkbq", T, cross)  # Q' [D y] per piece
    r = d * (K + 1)
    DS = coord[..., :d].reshape(J, r, d)
    yS = coord[..., d].reshape(J, r)
    kept = (np.abs(T).sum(axis=2) > 0.0).astype(float)  # (J, K + 1, d)
    diag = np.ones((J, K + 1, d))
    diag[:, 1:, :] += psi_p * sizes[None, :, None] * kept[:, 1:, :]
    t_parts = np.zeros((J, K + 1, d))
    t_parts[:, 1:, :] = np.einsum("jkab,jka->jkb", T[:, 1:], ones)
    t = t_parts.reshape(J, r)
    Theta = psi_s * t[:, :, None] * t[:, None, :]
    Theta[:, np.arange(r), np.arange(r)] += diag.reshape(J, r)

    root, Theta_inv = _sym_functions(Theta)
    DtWD = np.swapaxes(DS, 1, 2) @ Theta_inv @ DS  # (J, d, d) = D_j' W_j D_j
    XtWX = np.einsum("jap,jab,jbr->pr", Esel, DtWD, Esel)
    M = linalg.inv(XtWX)
    M = 0.5 * (M + M.T)
    LM = linalg.cholesky(M, lower=True)
    inner = Esel @ M @ np.swapaxes(Esel, 1, 2)  # (J, d, d) = E_g M E_g'
    B = Theta - DS @ inner @ np.swapaxes(DS, 1, 2)
    G = root @ B @ root
    vals, vecs = np.linalg.eigh(0.5 * (G + np.swapaxes(G, 1, 2)))
    small = vals <= SINGULAR_TOL
    vp = np.where(small, 0.0, 1.0 / np.sqrt(np.where(small, 1.0, vals)))
    Aadj = root @ ((vecs * vp[:, None, :]) @ np.swapaxes(vecs, 1, 2)) @ root
    KS = Theta_inv @ Aadj  # Theta_S^-1 A_S
    gamma = np.einsum("jdp,p->jd", Esel, beta)
    eS = yS - np.einsum("jrd,jd->jr", DS, gamma)
    DtK = np.swapaxes(DS, 1, 2) @ KS  # (J, d, r)
    u = np.einsum("jdr,jr->jd", DtK, eS)
    comps = np.einsum("jdp,jd->pj", Esel, u)  # (p, J): E_j e_j
    EX = np.swapaxes(Esel, 1, 2) @ (DtK @ DS) @ Esel
    ETE = np.swapaxes(Esel, 1, 2) @ (DtK @ Theta @ np.swapaxes(DtK, 1, 2)) @ Esel
    vcov = M @ (comps @ comps.T) @ M
    singular = tuple(int(j) for j in np.flatnonzero(small.any(axis=1)))
    return RobustState(vcov=0.5 * (vcov + vcov.T), M=M, LM=LM, EX=EX, ETE=ETE,
                       singular_sites=singular)


def cr2_df(state: RobustState, L: np.ndarray) -> np.ndarray:
    """Satterthwaite df of each row of ``L`` (clubSandwich ``coef_test`` /
    ``linear_contrast``)."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    g = L @ state.M  # (m, p): c' M
    Pd = np.einsum("mp,jpr,mr->mj", g, state.ETE, g)  # P_jj = |c' M E_j L_j|^2
    Hc = np.einsum("mp,jpr,rs->mjs", g, state.EX, state.LM)  # H_c[:, j] = (c' M E_j X_j L_M)'
    h2 = np.einsum("mjs,mjs->mj", Hc, Hc)
    HH = np.einsum("mjs,mjt->mst", Hc, Hc)
    trace = Pd.sum(axis=1) - h2.sum(axis=1)
    ss = (Pd * Pd).sum(axis=1) - 2.0 * (Pd * h2).sum(axis=1) + np.einsum("mst,mst->m", HH, HH)
    return np.asarray(trace**2 / ss, dtype=float)
