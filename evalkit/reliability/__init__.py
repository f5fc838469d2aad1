"""Internal consistency of multi-item scales: Cronbach's alpha, McDonald's omega, item statistics.

:func:`cronbach_alpha` reproduces ``psych::alpha`` (psych 2.2.9): raw and standardized alpha,
the average inter-item correlation, the Feldt and Duhachek confidence intervals, item-total
correlations and alpha if an item is dropped. :func:`mcdonald_omega` reproduces
``psych::omega(x, nfactors = 1)``: omega total from a one-factor minres solution.
:func:`item_statistics` gives per-item response counts, means and floor/ceiling shares.
Reference values and the R script are in ``tests/reference/reliability``.

Examples
--------
>>> import pandas as pd
>>> from evalkit.reliability import cronbach_alpha
>>> data = pd.DataFrame({"q1": [1, 2, 3, 4, 5, 3], "q2": [2, 2, 3, 5, 4, 3],
...                      "q3": [1, 3, 3, 4, 5, 2]})
>>> round(cronbach_alpha(data, items=["q1", "q2", "q3"]).raw_alpha, 4)
0.9318
"""

from evalkit.reliability._api import cronbach_alpha, item_statistics, mcdonald_omega
from evalkit.reliability._results import AlphaResult, OmegaResult

__all__ = [
    "AlphaResult",
    "OmegaResult",
    "cronbach_alpha",
    "item_statistics",
    "mcdonald_omega",
]
