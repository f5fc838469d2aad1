"""Closed-form power of two-arm comparisons (Hedges 2007; Dong & Maynard 2013, PowerUpR).

Two-level cluster-randomised trial (PowerUpR ``power.cra2``, no covariates): ``J`` clusters
of ``n`` individuals, a share ``P`` of the clusters treated, intraclass correlation ``rho``
and standardized effect ``delta`` (difference in means over the total SD):

``lambda = delta / sqrt(rho / (P (1 - P) J) + (1 - rho) / (P (1 - P) J n))``,
``df = J - 2``, power ``= 1 - T_df(t_{1-alpha/2}; lambda) + T_df(-t_{1-alpha/2}; lambda)``
with ``T_df(.; lambda)`` the noncentral t distribution function.

Individually randomised trial (PowerUpR ``power.ira``): ``N`` individuals, ``lambda = delta
sqrt(P (1 - P) N)``, ``df = N - 2``.
"""

from __future__ import annotations

import math

from evalkit.errors import AnalysisError


def _two_sided(lam: float, df: float, alpha: float) -> float:
    from scipy import stats as sps

    q = float(sps.t.ppf(1.0 - alpha / 2.0, df))
    return float(sps.nct.sf(q, df, lam) + sps.nct.cdf(-q, df, lam))


def cluster_trial_power(*, effect: float, icc: float, clusters: int, cluster_size: int,
                        share_treated: float = 0.5, alpha: float = 0.05) -> float:
    """Power of a two-level cluster-randomised comparison (Hedges 2007, PowerUpR ``cra2``).

    Parameters
    ----------
    effect : float
        Standardized difference in means (over the total SD).
    icc : float
        Share of the variance between clusters.
    clusters : int
        Clusters in both arms together (``J``).
    cluster_size : int
        Individuals per cluster (``n``).
    share_treated : float, default 0.5
    alpha : float, default 0.05

    Returns
    -------
    float

    Examples
    --------
    >>> round(cluster_trial_power(effect=0.5, icc=0.1, clusters=20, cluster_size=20), 3)
    0.793
    """
    if clusters < 3 or cluster_size < 1 or not 0.0 <= icc < 1.0 or not 0 < share_treated < 1:
        raise AnalysisError(
            "cluster_trial_power needs clusters >= 3, cluster_size >= 1, 0 <= icc < 1 and "
            f"0 < share_treated < 1; received clusters={clusters}, cluster_size={cluster_size}"
            f", icc={icc}, share_treated={share_treated}")
    pq = share_treated * (1.0 - share_treated)
    lam = effect / math.sqrt(icc / (pq * clusters) + (1.0 - icc) / (pq * clusters
                                                                    * cluster_size))
    return _two_sided(lam, clusters - 2.0, alpha)


def individual_trial_power(*, effect: float, n: int, share_treated: float = 0.5,
                           alpha: float = 0.05) -> float:
    """Power of an individually randomised two-arm comparison (PowerUpR ``ira``, no
    covariates): ``N`` individuals in both arms.

    Examples
    --------
    >>> round(individual_trial_power(effect=0.5, n=128), 3)
    0.801
    """
    if n < 3 or not 0 < share_treated < 1:
        raise AnalysisError(f"individual_trial_power needs n >= 3; received n={n}")
    lam = effect * math.sqrt(share_treated * (1.0 - share_treated) * n)
    return _two_sided(lam, n - 2.0, alpha)
