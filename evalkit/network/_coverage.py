"""Sector coverage: which sectors are at each site's table, how tied in, and who is missing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evalkit.errors import AnalysisError
from evalkit.network._measures import NetworkResult

COVERAGE_COLUMNS = ["site_id", "wave", "sector", "expected", "n_orgs", "n_respondents",
                    "ties_within", "ties_across", "mean_degree", "share_tied", "status"]


def sector_coverage(network: NetworkResult, *, sectors: Sequence[str],
                    weak_below: int = 2) -> pd.DataFrame:
    """A site x wave x sector table of who is at the table and how connected they are.

    Parameters
    ----------
    network
        The result of :func:`network_measures`.
    sectors
        The expected sectors (``ProjectConfig.sectors``); every one gets a row at every
        site and wave, so a sector with no organization shows up as ``missing``. Sectors
        found in the data but not expected are listed after them with ``expected`` False.
    weak_below
        A present sector with fewer ties than this to other sectors is ``weak``.

    Returns
    -------
    pandas.DataFrame
        ``site_id, wave, sector, expected``, ``n_orgs`` (organizations of the sector on the
        site's list), ``n_respondents``, ``ties_within`` (symmetric ties between two of its
        organizations), ``ties_across`` (symmetric ties to other sectors' organizations),
        ``mean_degree`` (symmetric degree of its organizations; missing when none),
        ``share_tied`` (share of its organizations with at least one tie) and ``status``:
        ``missing`` (no organization), ``weak`` (``ties_across < weak_below``) or
        ``connected``.

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.network import network_measures
    >>> orgs = pd.DataFrame({"org_id": ["A", "B", "C"], "site_id": "S1",
    ...                      "sector": ["payers", "faith_based", "payers"]})
    >>> ratings = pd.DataFrame({"site_id": "S1", "wave": "baseline", "org_id": ["A", "B"],
    ...                         "partner_id": ["B", "A"], "collaboration": [4, 3]})
    >>> net = network_measures(ratings, organizations=orgs, respondents="raters")
    >>> cov = sector_coverage(net, sectors=["payers", "faith_based", "educators"], weak_below=1)
    >>> cov[["sector", "n_orgs", "ties_across", "status"]]
            sector  n_orgs  ties_across     status
    0       payers       2            1  connected
    1  faith_based       1            1  connected
    2    educators       0            0    missing
    """
    if weak_below < 0:
        raise AnalysisError(f"weak_below must be 0 or more; got {weak_below}")
    orgs = network.organizations
    expected = list(dict.fromkeys(sectors))
    extra = sorted(set(orgs["sector"].dropna()) - set(expected))
    all_sectors = expected + extra
    sector_of = dict(zip(orgs["org_id"], orgs["sector"], strict=True))
    rows = []
    for (site, wave), group in orgs.groupby(["site_id", "wave"], sort=False):
        ties = network.ties[(network.ties["site_id"] == site) & (network.ties["wave"] == wave)]
        pairs = {frozenset(p) for p in zip(ties["org_id"], ties["partner_id"], strict=True)}
        within = dict.fromkeys(all_sectors, 0)
        across = dict.fromkeys(all_sectors, 0)
        for pair in pairs:
            a, b = (sector_of[o] for o in pair)
            if a == b:
                within[a] += 1
            else:
                across[a] += 1
                across[b] += 1
        for sector in all_sectors:
            members = group[group["sector"] == sector]
            n = len(members)
            status = ("missing" if n == 0 else "weak" if across[sector] < weak_below
                      else "connected")
            rows.append({
                "site_id": site, "wave": wave, "sector": sector,
                "expected": sector in expected, "n_orgs": n,
                "n_respondents": int(members["responded"].sum()),
                "ties_within": within[sector], "ties_across": across[sector],
                "mean_degree": float(members["degree"].astype(float).mean()) if n else np.nan,
                "share_tied": float((members["degree"] > 0).mean()) if n else np.nan,
                "status": status,
            })
    return pd.DataFrame(rows, columns=COVERAGE_COLUMNS)
