"""Site-level randomization test of the difference in change between modalities.

Under the sharp null that modality changes nobody's outcome, any reassignment of the observed
modality labels to sites (keeping the number of sites per modality) was as likely as the one
observed. The statistic is the Wald statistic of all wave x modality interaction terms,
estimated by generalized least squares with the variance ratios of the model *without*
modality terms (``outcome ~ wave (+ covariates)`` with the same random intercepts). Those
ratios do not depend on the labels, so the statistic is a fixed function of the assignment
and the test is exact. With two modalities and two waves it is the square of the
difference-in-change t statistic, so the test is two-sided.

Every distinct relabeling is enumerated when there are at most ``max_exact`` of them;
otherwise ``n_permutations`` random relabelings are drawn (``p = (1 + #{W >= W_obs}) /
(B + 1)``).

What is computed once and what per relabeling
---------------------------------------------
Once: the null model's REML (or ML) fit, which gives the variance ratios ``psi``, and for
every site ``j`` the ``(d + 1) x (d + 1)`` matrix ``C_j = [D_j y_j]' H_j^-1 [D_j y_j]`` of the
null design ``D`` (intercept, waves, covariates; ``d`` columns) and the outcome, at those
ratios (closed form, see :mod:`evalkit.models._reml`).

Per relabeling: nothing that touches the rows. A site of modality ``g`` has full design
``X_j = D_j E_g``, where ``E_g`` is the fixed 0/1 matrix that copies the intercept into
modality ``g``'s main-effect column and the wave columns into its interaction columns. So
``X' H^-1 X = sum_g E_g' (sum_{j in g} C_j[D, D]) E_g`` and ``X' H^-1 y = sum_g E_g'
(sum_{j in g} C_j[D, y])``: one sum of the site blocks per modality (a matrix product of the
label indicators with the stacked ``C_j``), then one ``p x p`` solve for the GLS estimate,
its covariance ``(X' H^-1 X)^-1`` (the residual variance cancels in the statistic) and the
Wald statistic ``b_I' V_II^-1 b_I`` of the interaction terms ``I``. Because ``psi`` does not
depend on the labels and ``H`` depends only on ``psi``, this is exactly the statistic a full
GLS refit of the relabeled data at the null ratios gives (tested against such refits in
``tests/test_models.py``), at ``O(n_sites p^2)`` per relabeling instead of ``O(n p^2)``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from evalkit.errors import AnalysisError
from evalkit.models._design import Design, null_design
from evalkit.models._reml import block_stats, optimize_psi


@dataclass(frozen=True)
class PermutationOutcome:
    statistic: float
    p: float
    n_permutations: int
    exact: bool
    min_p: float
    n_relabelings: int


def n_relabelings(labels: np.ndarray) -> int:
    counts = np.bincount(labels)
    out = math.factorial(labels.size)
    for c in counts:
        out //= math.factorial(int(c))
    return out


def enumerate_relabelings(labels: np.ndarray) -> np.ndarray:
    """Every distinct assignment of the multiset ``labels`` to positions, one per row."""
    n = labels.size
    levels, counts = np.unique(labels, return_counts=True)
    rows: list[np.ndarray] = []

    def rec(avail: tuple[int, ...], k: int, current: np.ndarray) -> None:
        if k == len(levels) - 1:
            done = current.copy()
            done[list(avail)] = levels[k]
            rows.append(done)
            return
        for chosen in itertools.combinations(avail, int(counts[k])):
            nxt = current.copy()
            nxt[list(chosen)] = levels[k]
            rest = tuple(i for i in avail if i not in set(chosen))
            rec(rest, k + 1, nxt)

    rec(tuple(range(n)), 0, np.empty(n, dtype=labels.dtype))
    return np.array(rows)


def _site_gls_blocks(design: Design, reml: bool) -> tuple[np.ndarray, list[int]]:
    """Per-site ``[D y]' H_j^-1 [D y]`` for the null design ``D`` at the null model's ratios."""
    D, keep = null_design(design)
    stats = block_stats(D, design.y, design.site, design.participant)
    opt = optimize_psi(stats, reml)
    psi_s, psi_p = opt.psi
    A = np.column_stack([D, design.y])
    n = A.shape[0]
    site, part = design.site, design.participant
    J = design.n_sites
    AtA = _pair_sums(A, site, J)
    p_starts = np.flatnonzero(np.r_[True, part[1:] != part[:-1]])
    S = np.add.reduceat(A, p_starts, axis=0)
    n_i = np.diff(np.r_[p_starts, n]).astype(float)
    w = 1.0 / (1.0 + n_i * psi_p)
    part_site = site[p_starts]
    SS = _pair_sums(S, part_site, J, weights=w)
    T = np.column_stack([np.bincount(part_site, weights=w * S[:, a], minlength=J)
                         for a in range(A.shape[1])])
    m = np.bincount(part_site, weights=n_i * w, minlength=J)
    c = psi_s / (1.0 + psi_s * m)
    C = AtA - psi_p * SS - c[:, None, None] * np.einsum("ja,jb->jab", T, T)
    return C, keep


def _pair_sums(values: np.ndarray, index: np.ndarray, size: int,
               weights: np.ndarray | None = None) -> np.ndarray:
    """``out[g] = sum over rows with index g of w v v'`` for the rows ``v`` of ``values``."""
    q = values.shape[1]
    out = np.empty((size, q, q))
    for a in range(q):
        va = values[:, a] if weights is None else weights * values[:, a]
        for b in range(a, q):
            s = np.bincount(index, weights=va * values[:, b], minlength=size)
            out[:, a, b] = s
            out[:, b, a] = s
    return out


def _selection(design: Design, keep: list[int]) -> np.ndarray:
    """``E[g]`` maps null-design columns to full-design columns for a site of group ``g``."""
    d = len(keep)
    p = len(design.terms)
    K = len(design.group_levels)
    src = {design.terms[k]: i for i, k in enumerate(keep)}
    E = np.zeros((K, d, p))
    for g in range(K):
        g_name = f"{design.group}[T.{design.group_levels[g]}]"
        for col, (term, kind) in enumerate(zip(design.terms, design.term_kinds, strict=True)):
            if kind not in ("group", "interaction"):
                E[g, src[term], col] = 1.0
            elif kind == "group" and term == g_name:
                E[g, 0, col] = 1.0
            elif kind == "interaction" and term.endswith(":" + g_name):
                E[g, src[term[: -len(g_name) - 1]], col] = 1.0
    return E


def _wald(C: np.ndarray, E: np.ndarray, labels: np.ndarray, idx: list[int]) -> np.ndarray:
    """Wald statistic of the interaction terms for each row of ``labels`` (relabelings)."""
    K = E.shape[0]
    d = E.shape[1]
    J, q = C.shape[0], C.shape[1]
    flat = C.reshape(J, q * q)
    # per relabeling and modality: the sum of C_j over its sites (the last as the remainder)
    Sk = np.empty((labels.shape[0], K, q * q))
    for k in range(K - 1):
        Sk[:, k] = (labels == k).astype(float) @ flat
    Sk[:, K - 1] = flat.sum(axis=0) - Sk[:, :K - 1].sum(axis=1)
    Sk = Sk.reshape(labels.shape[0], K, q, q)
    p = E.shape[2]
    # X'H^-1 X = sum_k E_k' S_k E_k and X'H^-1 y = sum_k E_k' s_k as matrix products
    lift = np.einsum("kxp,kyr->kxypr", E, E).reshape(K * d * d, p * p)
    XtX = (np.ascontiguousarray(Sk[:, :, :d, :d]).reshape(-1, K * d * d) @ lift
           ).reshape(-1, p, p)
    Xty = np.ascontiguousarray(Sk[:, :, :d, d]).reshape(-1, K * d) @ E.reshape(K * d, p)
    inv = np.linalg.inv(XtX)
    beta = np.einsum("bpr,br->bp", inv, Xty)
    bI = beta[:, idx]
    VI = inv[:, idx][:, :, idx]
    return np.einsum("bi,bi->b", bI, np.linalg.solve(VI, bI[:, :, None])[:, :, 0])


def permutation_test(design: Design, *, reml: bool = True, max_exact: int = 10_000,
                     n_permutations: int = 9_999, seed: int | None = None,
                     batch: int = 2_000) -> PermutationOutcome:
    labels = design.site_group.astype(np.int64)
    batch = max(1, min(batch, 4_000_000 // labels.size))  # label indicators stay below 32 MB
    if np.bincount(labels).min() < 1:
        raise AnalysisError("permutation test: every modality needs at least one site")
    C, keep = _site_gls_blocks(design, reml)
    E = _selection(design, keep)
    idx = design.interaction_columns()
    observed = float(_wald(C, E, labels[None, :], idx)[0])
    tol = observed * (1.0 - 1e-9) - 1e-12
    total = n_relabelings(labels)
    if total <= max_exact:
        perms = enumerate_relabelings(labels)
        stats = np.concatenate([_wald(C, E, perms[i:i + batch], idx)
                                for i in range(0, len(perms), batch)])
        p = float(np.mean(stats >= tol))
        top = stats.max()
        min_p = float(np.mean(stats >= top * (1.0 - 1e-9) - 1e-12))
        return PermutationOutcome(observed, p, int(len(perms)), True, min_p, total)
    if n_permutations < 1:
        raise AnalysisError(
            f"permutations must be a positive number of random relabelings; received "
            f"{n_permutations}"
        )
    rng = np.random.default_rng(seed)
    count = 0
    done = 0
    # small integers shuffle faster; the draws (hence the relabelings) are the same
    small = labels.astype(np.int8) if labels.max() < 127 else labels
    while done < n_permutations:
        size = min(batch, n_permutations - done)
        perms = rng.permuted(np.tile(small, (size, 1)), axis=1)
        count += int(np.sum(_wald(C, E, perms, idx) >= tol))
        done += size
    p = (1.0 + count) / (n_permutations + 1.0)
    return PermutationOutcome(observed, p, int(n_permutations), False,
                              1.0 / (n_permutations + 1.0), total)
