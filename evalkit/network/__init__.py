"""Partner networks: who works with whom in each site's ecosystem, and how that changed.

From the partner-network survey (each responding organization rates the others it knows)
this package builds each site's organization network per wave with networkx, measures it
(density, reciprocity, centralization, components, degree, betweenness, trust and value
received), counts ties gained, lost and deepened between two waves, and tabulates sector
coverage ("who is at the table, who is missing"). Organizations that did not answer stay in
the network: ties other organizations report about them count, and the tables say how many
did not answer. Who answered is never guessed from the ratings (an organization that
answered but rated nobody leaves no rating): :func:`network_measures` takes the respondents
table, or ``respondents="raters"`` as an explicit choice.

Examples
--------
>>> import pandas as pd
>>> from evalkit.network import network_measures
>>> orgs = pd.DataFrame({"org_id": ["A", "B", "C", "D"], "site_id": "S1",
...                      "sector": ["payers", "educators", "payers", "faith_based"]})
>>> ratings = pd.DataFrame({"site_id": "S1", "wave": "baseline",
...                         "org_id": ["A", "A", "A", "B"], "partner_id": ["B", "C", "D", "A"],
...                         "collaboration": [3, 4, 5, 2]})
>>> answered = pd.DataFrame({"site_id": "S1", "wave": "baseline", "org_id": ["A", "B"]})
>>> res = network_measures(ratings, organizations=orgs, respondents=answered)
>>> res.sites[["ties", "degree_centralization", "n_nonrespondents"]]
   ties  degree_centralization  n_nonrespondents
0     3                    1.0                 2
>>> res.organizations[["org_id", "in_degree", "out_degree", "degree"]]
  org_id  in_degree  out_degree  degree
0      A          0           3       3
1      B          1           0       1
2      C          1        <NA>       1
3      D          1        <NA>       1
"""

from __future__ import annotations

from evalkit.network._coverage import sector_coverage
from evalkit.network._measures import NetworkResult, degree_centralization, network_measures
from evalkit.network._read import network_ratings, network_respondents, store_organizations
from evalkit.network._tables import TABLE_NAMES, network_tables

__all__ = [
    "NetworkResult",
    "network_ratings",
    "network_respondents",
    "store_organizations",
    "network_measures",
    "degree_centralization",
    "sector_coverage",
    "network_tables",
    "TABLE_NAMES",
]
