"""Array-level statistics for pre/post comparisons, each replicating one R function.

Every function takes plain float arrays (already cleaned of missing values) and returns a
dictionary of floats. The R call each one reproduces is named in its docstring; the
reference values live in ``tests/reference/prepost``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import numpy as np
from scipy import optimize, special
from scipy import stats as sps

__all__ = [
    "paired_t",
    "welch_t",
    "signed_rank",
    "rank_sum",
    "cohens_d_paired",
    "hedges_g_paired",
    "hedges_g_pooled",
    "cohens_d_pooled",
    "rank_biserial_paired",
    "rank_biserial_independent",
    "mcnemar",
    "adjust_p",
    "hedges_j",
    "psignrank",
    "pwilcox",
]

_NAN = float("nan")


# --------------------------------------------------------------------------------------------
# t-tests
# --------------------------------------------------------------------------------------------


def paired_t(pre: np.ndarray, post: np.ndarray, *, conf_level: float = 0.95) -> dict[str, float]:
    """``t.test(post, pre, paired = TRUE)``: t, df, p, mean difference and its CI."""
    d = np.asarray(post, dtype=float) - np.asarray(pre, dtype=float)
    n = d.size
    out = {"estimate": float(d.mean()) if n else _NAN, "t": _NAN, "df": _NAN, "p": _NAN,
           "ci_low": _NAN, "ci_high": _NAN}
    if n < 2:
        return out
    se = float(d.std(ddof=1)) / math.sqrt(n)
    df = n - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        t = float(np.float64(out["estimate"]) / se)
    q = float(sps.t.ppf(1 - (1 - conf_level) / 2, df))
    out.update(t=t, df=float(df), p=float(2 * sps.t.cdf(-abs(t), df)),
               ci_low=(t - q) * se, ci_high=(t + q) * se)
    return out


def welch_t(pre: np.ndarray, post: np.ndarray, *, conf_level: float = 0.95) -> dict[str, float]:
    """``t.test(post, pre, var.equal = FALSE)``: Welch's t, Satterthwaite df, p and CI."""
    x = np.asarray(post, dtype=float)
    y = np.asarray(pre, dtype=float)
    out = {"estimate": _NAN, "t": _NAN, "df": _NAN, "p": _NAN, "ci_low": _NAN, "ci_high": _NAN}
    if x.size:
        out["estimate"] = float(x.mean() - (y.mean() if y.size else _NAN))
    if x.size < 2 or y.size < 2:
        return out
    sx2 = float(x.var(ddof=1)) / x.size
    sy2 = float(y.var(ddof=1)) / y.size
    se = math.sqrt(sx2 + sy2)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = float(np.float64(se**4) / (sx2**2 / (x.size - 1) + sy2**2 / (y.size - 1)))
        t = float(np.float64(x.mean() - y.mean()) / se)
    q = float(sps.t.ppf(1 - (1 - conf_level) / 2, df))
    out.update(t=t, df=df, p=float(2 * sps.t.cdf(-abs(t), df)),
               ci_low=(t - q) * se, ci_high=(t + q) * se)
    return out


# --------------------------------------------------------------------------------------------
# Exact null distributions (R's csignrank / cwilcox, counted exactly in integers)
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _signrank_counts(n: int) -> tuple[int, ...]:
    """Number of subsets of {1..n} with each sum 0..n(n+1)/2 (R's ``csignrank``)."""
    counts = [1] + [0] * (n * (n + 1) // 2)
    top = 0
    for k in range(1, n + 1):
        top += k
        for s in range(top, k - 1, -1):
            counts[s] += counts[s - k]
    return tuple(counts)


@lru_cache(maxsize=256)
def _wilcox_counts(m: int, n: int) -> tuple[int, ...]:
    """Frequencies of the Mann-Whitney U for sample sizes m, n (R's ``cwilcox``).

    The generating function is the Gaussian binomial coefficient
    ``prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i)``; each division is exact in integers.
    """
    poly = [1] + [0] * (m * n + m)
    deg = 0
    for i in range(1, m + 1):
        # multiply by (1 - q^(n+i))
        new_deg = deg + n + i
        for s in range(new_deg, n + i - 1, -1):
            poly[s] -= poly[s - n - i]
        # divide by (1 - q^i): q_s = p_s + q_{s-i}
        for s in range(i, new_deg + 1):
            poly[s] += poly[s - i]
        deg = new_deg - i
    return tuple(poly[: m * n + 1])


def psignrank(q: float, n: int, *, lower_tail: bool = True) -> float:
    """``psignrank(q, n, lower.tail)``: exact signed-rank distribution function."""
    counts = _signrank_counts(n)
    x = math.floor(q + 1e-7)
    total = 2**n
    if x < 0:
        below = Fraction(0)
    elif x >= len(counts) - 1:
        below = Fraction(1)
    else:
        below = Fraction(sum(counts[: x + 1]), total)
    return float(below if lower_tail else 1 - below)


def pwilcox(q: float, m: int, n: int, *, lower_tail: bool = True) -> float:
    """``pwilcox(q, m, n, lower.tail)``: exact rank-sum (Mann-Whitney U) distribution."""
    counts = _wilcox_counts(m, n)
    x = math.floor(q + 1e-7)
    if x < 0:
        below = Fraction(0)
    elif x >= m * n:
        below = Fraction(1)
    else:
        below = Fraction(sum(counts[: x + 1]), math.comb(m + n, n))
    return float(below if lower_tail else 1 - below)


def _tie_sum(values: np.ndarray) -> float:
    """``sum(NTIES^3 - NTIES)`` over groups of equal values."""
    _, counts = np.unique(values, return_counts=True)
    c = counts.astype(float)
    return float(np.sum(c**3 - c))


def _two_sided_normal(z: float) -> float:
    return float(2 * min(sps.norm.cdf(z), sps.norm.sf(z)))


# --------------------------------------------------------------------------------------------
# Rank tests
# --------------------------------------------------------------------------------------------


def signed_rank(pre: np.ndarray, post: np.ndarray) -> dict[str, float]:
    """``wilcox.test(post, pre, paired = TRUE)`` with R's defaults.

    V is the sum of the ranks of |d| over positive differences d = post - pre, zeros dropped.
    The p-value is exact (``psignrank``) when fewer than 50 nonzero differences remain and
    there are neither ties nor zeros; otherwise it is the normal approximation with
    continuity correction and the tie correction of the variance.
    """
    d = np.asarray(post, dtype=float) - np.asarray(pre, dtype=float)
    zeroes = bool(np.any(d == 0))
    d = d[d != 0]
    n = d.size
    r = sps.rankdata(np.abs(d), method="average") if n else np.array([])
    v = float(np.sum(r[d > 0]))
    ties = n > 0 and np.unique(r).size != n
    exact = n < 50 and not ties and not zeroes
    if exact:
        if n == 0:
            p = _NAN
        elif v > n * (n + 1) / 4:
            p = psignrank(v - 1, n, lower_tail=False)
        else:
            p = psignrank(v, n)
        p = min(2 * p, 1.0) if not math.isnan(p) else p
    else:
        z = v - n * (n + 1) / 4
        var = n * (n + 1) * (2 * n + 1) / 24 - _tie_sum(r) / 48
        sigma = math.sqrt(var) if var > 0 else 0.0
        correction = math.copysign(0.5, z) if z != 0 else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            zc = float(np.float64(z - correction) / sigma)
        p = _NAN if math.isnan(zc) else _two_sided_normal(zc)
    return {"V": v, "p": p, "exact": exact, "n_nonzero": n}


def rank_sum(pre: np.ndarray, post: np.ndarray) -> dict[str, float]:
    """``wilcox.test(post, pre)`` with R's defaults (Mann-Whitney U reported as W).

    W = sum of the ranks of ``post`` in the pooled sample minus n_post (n_post + 1) / 2.
    Exact (``pwilcox``) when both samples have fewer than 50 values and there are no ties;
    otherwise normal approximation with continuity and tie correction.
    """
    x = np.asarray(post, dtype=float)
    y = np.asarray(pre, dtype=float)
    nx, ny = x.size, y.size
    if nx == 0 or ny == 0:
        return {"W": _NAN, "p": _NAN, "exact": False}
    r = sps.rankdata(np.concatenate([x, y]), method="average")
    w = float(np.sum(r[:nx]) - nx * (nx + 1) / 2)
    ties = np.unique(r).size != r.size
    exact = nx < 50 and ny < 50 and not ties
    if exact:
        if w > nx * ny / 2:
            p = pwilcox(w - 1, nx, ny, lower_tail=False)
        else:
            p = pwilcox(w, nx, ny)
        p = min(2 * p, 1.0)
    else:
        z = w - nx * ny / 2
        n = nx + ny
        var = (nx * ny / 12) * ((n + 1) - _tie_sum(r) / (n * (n - 1)))
        sigma = math.sqrt(var) if var > 0 else 0.0
        correction = math.copysign(0.5, z) if z != 0 else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            zc = float(np.float64(z - correction) / sigma)
        p = _NAN if math.isnan(zc) else _two_sided_normal(zc)
    return {"W": w, "p": p, "exact": exact}


# --------------------------------------------------------------------------------------------
# Standardized mean differences (effectsize 0.8.3)
# --------------------------------------------------------------------------------------------


def hedges_j(df: float) -> float:
    """Exact small-sample correction ``exp(lgamma(df/2) - log(sqrt(df/2)) - lgamma((df-1)/2))``."""
    if not df > 1:
        return _NAN
    return math.exp(special.gammaln(df / 2) - math.log(math.sqrt(df / 2))
                    - special.gammaln((df - 1) / 2))


def _ncp_interval(t: float, df: float, conf_level: float) -> tuple[float, float]:
    """Noncentrality parameters whose t distributions put ``t`` at the outer quantiles.

    effectsize's ``.get_ncp_t`` finds these by Nelder-Mead; here they are roots found by
    Brent's method, which the optimizer approximates (agreement about 1e-6 or better).
    """
    if not (math.isfinite(t) and df > 0):
        return _NAN, _NAN
    alpha = 1 - conf_level

    def root(prob: float) -> float:
        def f(ncp: float) -> float:
            return float(sps.nct.cdf(t, df, ncp)) - prob

        lo, hi = t - 1.0, t + 1.0
        step = 1.0
        while f(lo) < 0:
            step *= 2
            lo = t - step
        step = 1.0
        while f(hi) > 0:
            step *= 2
            hi = t + step
        return float(optimize.brentq(f, lo, hi, xtol=1e-14, rtol=1e-14, maxiter=500))

    try:
        return root(1 - alpha / 2), root(alpha / 2)
    except ValueError:
        # scipy's noncentral t cdf returns NaN far in the tails (e.g. t = 173 with df = 2),
        # so no bracket can be found: the limits are not computable, not guessed.
        return _NAN, _NAN


def cohens_d_paired(pre: np.ndarray, post: np.ndarray, *,
                    conf_level: float = 0.95) -> dict[str, float]:
    """``effectsize::cohens_d(post, pre, paired = TRUE)``: d_z = mean(d) / sd(d).

    CI: noncentral-t limits for t = mean(d) / (sd(d)/sqrt(n)) with df = n - 1, times
    sqrt(1/n).
    """
    d = np.asarray(post, dtype=float) - np.asarray(pre, dtype=float)
    n = d.size
    if n < 2:
        return {"d": _NAN, "ci_low": _NAN, "ci_high": _NAN, "df": _NAN}
    s = float(d.std(ddof=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        es = float(np.float64(d.mean()) / s)
        t = float(np.float64(d.mean()) / (s / math.sqrt(n)))
    lo, hi = _ncp_interval(t, n - 1, conf_level)
    return {"d": es, "ci_low": lo * math.sqrt(1 / n), "ci_high": hi * math.sqrt(1 / n),
            "df": float(n - 1)}


def hedges_g_paired(pre: np.ndarray, post: np.ndarray, *,
                    conf_level: float = 0.95) -> dict[str, float]:
    """``effectsize::hedges_g(post, pre, paired = TRUE)``: g_z = d_z * J(n - 1), CI times J.

    With two pairs (df = 1) the correction J(1) = exp(lgamma(1/2) - log(sqrt(1/2)) -
    lgamma(0)) is 0, so effectsize reports g_z = 0 with CI [0, 0] whatever the data; evalkit
    returns NaN (None in JSON) instead, since one degree of freedom cannot be corrected.
    When every difference is zero (sd = 0) d_z and g_z are NaN; effectsize stops with an
    error there.
    """
    res = cohens_d_paired(pre, post, conf_level=conf_level)
    j = hedges_j(res["df"])
    return {"g": res["d"] * j, "ci_low": res["ci_low"] * j, "ci_high": res["ci_high"] * j}


def cohens_d_pooled(pre: np.ndarray, post: np.ndarray, *,
                    conf_level: float = 0.95) -> dict[str, float]:
    """``effectsize::cohens_d(post, pre)``: (mean(post) - mean(pre)) / pooled SD.

    CI: noncentral-t limits for t = difference / (s_pooled sqrt(1/n1 + 1/n2)) with
    df = n1 + n2 - 2, times sqrt(1/n1 + 1/n2).
    """
    x = np.asarray(post, dtype=float)
    y = np.asarray(pre, dtype=float)
    n1, n2 = x.size, y.size
    if n1 < 1 or n2 < 1 or n1 + n2 < 3:
        return {"d": _NAN, "ci_low": _NAN, "ci_high": _NAN, "df": _NAN}
    ss = (float(np.sum((x - x.mean()) ** 2)) + float(np.sum((y - y.mean()) ** 2)))
    s = math.sqrt(ss / (n1 + n2 - 2))
    hn = 1 / n1 + 1 / n2
    diff = float(x.mean() - y.mean())
    with np.errstate(divide="ignore", invalid="ignore"):
        es = float(np.float64(diff) / s)
        t = float(np.float64(diff) / (s * math.sqrt(hn)))
    lo, hi = _ncp_interval(t, n1 + n2 - 2, conf_level)
    return {"d": es, "ci_low": lo * math.sqrt(hn), "ci_high": hi * math.sqrt(hn),
            "df": float(n1 + n2 - 2)}


def hedges_g_pooled(pre: np.ndarray, post: np.ndarray, *,
                    conf_level: float = 0.95) -> dict[str, float]:
    """``effectsize::hedges_g(post, pre)``: pooled-SD d times J(n1 + n2 - 2), CI times J."""
    res = cohens_d_pooled(pre, post, conf_level=conf_level)
    j = hedges_j(res["df"])
    return {"g": res["d"] * j, "ci_low": res["ci_low"] * j, "ci_high": res["ci_high"] * j}


# --------------------------------------------------------------------------------------------
# Rank-biserial correlations (effectsize 0.8.3)
# --------------------------------------------------------------------------------------------


def _fisher_ci(r: float, se: float, conf_level: float) -> tuple[float, float]:
    if math.isnan(r) or math.isnan(se):
        return _NAN, _NAN
    z = float(sps.norm.ppf(1 - (1 - conf_level) / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        rf = float(np.arctanh(np.float64(r)))
    return float(np.tanh(rf - z * se)), float(np.tanh(rf + z * se))


def rank_biserial_paired(pre: np.ndarray, post: np.ndarray, *,
                         conf_level: float = 0.95) -> dict[str, float]:
    """``effectsize::rank_biserial(post - pre, paired = TRUE)``: matched-pairs r.

    r = (R+ - R-) / (nd (nd + 1) / 2) over the nd nonzero differences (zeros dropped, as in
    the signed-rank test). CI: tanh(atanh(r) -/+ z * SE) with
    SE = sqrt((2 nd^3 + 3 nd^2 + nd) / 6) / (nd (nd + 1) / 2), the same nd.

    This is effectsize 0.8.3 on the differences, ``rank_biserial(post - pre)`` or
    ``rank_biserial(Pair(post, pre) ~ 1)``, which its documentation says ``paired = TRUE``
    is equivalent to. Its two-vector call ``rank_biserial(post, pre, paired = TRUE)`` gives
    the same r but puts nd = ``sum(post != 0)`` (the nonzero *post scores*) into the SE, so
    with zero differences its interval is narrower (all pairs when no post score is 0, any
    other count when some are); evalkit does not copy that.

    When every difference is zero r is undefined and evalkit returns NaN (None in JSON) with
    no interval; effectsize reports r = 1 there (CI NA for the differences, [1, 1] for the
    two-vector call), which would read as "everyone improved".
    """
    d = np.asarray(post, dtype=float) - np.asarray(pre, dtype=float)
    d = d[d != 0]
    nd = d.size
    if nd == 0:
        return {"r": _NAN, "ci_low": _NAN, "ci_high": _NAN}
    r = sps.rankdata(np.abs(d), method="average")
    s = nd * (nd + 1) / 2
    rb = float((np.sum(r[d > 0]) - np.sum(r[d < 0])) / s)
    se = math.sqrt((2 * nd**3 + 3 * nd**2 + nd) / 6) / s
    lo, hi = _fisher_ci(rb, se, conf_level)
    return {"r": rb, "ci_low": lo, "ci_high": hi}


def rank_biserial_independent(pre: np.ndarray, post: np.ndarray, *,
                              conf_level: float = 0.95) -> dict[str, float]:
    """``effectsize::rank_biserial(post, pre)``: r = (U_post - U_pre) / (n1 n2).

    CI: tanh(atanh(r) -/+ z * sqrt((n1 + n2 + 1) / (3 n1 n2))).
    """
    x = np.asarray(post, dtype=float)
    y = np.asarray(pre, dtype=float)
    n1, n2 = x.size, y.size
    if n1 == 0 or n2 == 0:
        return {"r": _NAN, "ci_low": _NAN, "ci_high": _NAN}
    ranks = sps.rankdata(np.concatenate([x, y]), method="average")
    u1 = float(np.sum(ranks[:n1]) - n1 * (n1 + 1) / 2)
    u2 = float(np.sum(ranks[n1:]) - n2 * (n2 + 1) / 2)
    rb = (u1 - u2) / (n1 * n2)
    se = math.sqrt((n1 + n2 + 1) / (3 * n1 * n2))
    lo, hi = _fisher_ci(rb, se, conf_level)
    return {"r": rb, "ci_low": lo, "ci_high": hi}


# --------------------------------------------------------------------------------------------
# McNemar and multiplicity
# --------------------------------------------------------------------------------------------


def mcnemar(n01: int, n10: int) -> dict[str, float]:
    """``mcnemar.test(table(pre, post))`` (continuity-corrected) and the exact variant.

    n01 counts pairs that moved 0 -> 1, n10 those that moved 1 -> 0. As in R the correction
    is applied only when n01 != n10. The exact p-value is ``binom.test(n01, n01 + n10)``.
    """
    disc = n01 + n10
    if disc == 0:
        return {"statistic": _NAN, "df": 1.0, "p": _NAN, "p_exact": _NAN}
    diff = abs(n01 - n10)
    stat = (diff - 1) ** 2 / disc if diff != 0 else 0.0
    p = float(sps.chi2.sf(stat, 1))
    if n01 == n10:
        p_exact = 1.0
    else:
        p_exact = min(1.0, 2 * float(sps.binom.cdf(min(n01, n10), disc, 0.5)))
    return {"statistic": float(stat), "df": 1.0, "p": p, "p_exact": p_exact}


def adjust_p(p: np.ndarray, method: str) -> np.ndarray:
    """``p.adjust(p, method)`` for ``holm``, ``BH`` and ``bonferroni``; NaN stays NaN.

    As in R, n is the number of non-missing p-values.
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    n = q.size
    if n == 0:
        return out
    if method == "bonferroni":
        adj = np.minimum(1.0, n * q)
    elif method == "holm":
        order = np.argsort(q, kind="stable")
        i = np.arange(1, n + 1)
        adj_sorted = np.minimum(1.0, np.maximum.accumulate((n - i + 1) * q[order]))
        adj = np.empty(n)
        adj[order] = adj_sorted
    elif method == "BH":
        order = np.argsort(-q, kind="stable")
        i = np.arange(n, 0, -1)
        adj_sorted = np.minimum(1.0, np.minimum.accumulate(n / i * q[order]))
        adj = np.empty(n)
        adj[order] = adj_sorted
    else:  # pragma: no cover - the public wrapper validates the method
        raise ValueError(method)
    out[ok] = adj
    return out
