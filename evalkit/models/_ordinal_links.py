"""Link functions of the cumulative-link models and the per-row interval quantities.

A row in category ``k`` has probability ``F(a) - F(b)`` with ``a = theta_k - eta`` and
``b = theta_{k-1} - eta`` (``theta_0 = -inf``, ``theta_K = +inf``), as in ``ordinal::clm``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special

Link = Literal["logit", "probit"]
LINKS = ("logit", "probit")


def cdf(x: np.ndarray, link: str) -> np.ndarray:
    return special.expit(x) if link == "logit" else special.ndtr(x)


def densities(x: np.ndarray, link: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Density ``f`` and its first two derivatives at ``x`` (zero at +-inf)."""
    finite = np.isfinite(x)
    xf = np.where(finite, x, 0.0)
    if link == "logit":
        F = special.expit(xf)
        f = F * special.expit(-xf)
        d1 = f * (1.0 - 2.0 * F)
        d2 = f * (1.0 - 6.0 * F + 6.0 * F * F)
    else:
        f = np.exp(-0.5 * xf * xf) / np.sqrt(2.0 * np.pi)
        d1 = -xf * f
        d2 = (xf * xf - 1.0) * f
    zero = ~finite
    if zero.any():
        f = np.where(zero, 0.0, f)
        d1 = np.where(zero, 0.0, d1)
        d2 = np.where(zero, 0.0, d2)
    return f, d1, d2


def interval_prob(a: np.ndarray, b: np.ndarray, link: str) -> np.ndarray:
    """``F(a) - F(b)`` without cancellation in the upper tail (both links are symmetric)."""
    upper = b > 0
    return np.where(upper, cdf(-b, link) - cdf(-a, link), cdf(a, link) - cdf(b, link))


@dataclass(frozen=True)
class Interval:
    """Per-row quantities of ``l = log(F(a) - F(b))``.

    ``la, lb``: dl/da, dl/db. ``r``: -dl/deta. ``w``: -d2l/deta2 (>= 0 for log-concave F).
    ``laa, lbb, lab``: second derivatives. ``wa, wb``: dw/da, dw/db (only when asked).
    """

    p: np.ndarray
    la: np.ndarray
    lb: np.ndarray
    r: np.ndarray
    w: np.ndarray
    laa: np.ndarray
    lbb: np.ndarray
    lab: np.ndarray
    ra: np.ndarray | None = None
    rb: np.ndarray | None = None
    wa: np.ndarray | None = None
    wb: np.ndarray | None = None


def interval(a: np.ndarray, b: np.ndarray, link: str, *, third: bool = False) -> Interval:
    """Derivatives of the log interval probability at every row."""
    p = interval_prob(a, b, link)
    with np.errstate(divide="ignore", invalid="ignore"):
        fa, fa1, fa2 = densities(a, link)
        fb, fb1, fb2 = densities(b, link)
        la = fa / p
        lb = -fb / p
        r = la + lb  # (f(a) - f(b)) / p
        s = (fa1 - fb1) / p
        w = r * r - s
        laa = fa1 / p - la * la
        lbb = -fb1 / p - lb * lb
        lab = fa * fb / (p * p)
        if not third:
            return Interval(p, la, lb, r, w, laa, lbb, lab)
        ra = fa1 / p - r * la
        rb = -fb1 / p - r * lb
        sa = fa2 / p - s * la
        sb = -fb2 / p - s * lb
        wa = 2.0 * r * ra - sa
        wb = 2.0 * r * rb - sb
    return Interval(p, la, lb, r, w, laa, lbb, lab, ra, rb, wa, wb)
