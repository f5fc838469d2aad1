"""Multiplicity adjustment of p-values, as R's ``p.adjust``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from evalkit.errors import AnalysisError
from evalkit.prepost import _stats as st
from evalkit.prepost._data import _is_missing, show

AdjustMethod = Literal["holm", "BH", "bonferroni"]


def adjust_p(p: Sequence[float] | np.ndarray | pd.Series, *,
             method: AdjustMethod = "holm") -> np.ndarray | pd.Series:
    """Adjust p-values for multiple comparisons exactly as R's ``p.adjust``.

    Missing values (NaN/None) stay missing and do not count towards the number of tests,
    as in R.

    Parameters
    ----------
    p : sequence of float, numpy array or pandas Series
        Unadjusted p-values in [0, 1].
    method : {"holm", "BH", "bonferroni"}, default "holm"
        Holm's step-down, Benjamini-Hochberg false discovery rate, or Bonferroni.

    Returns
    -------
    numpy.ndarray or pandas.Series
        Adjusted p-values in the input order (a Series keeps its index and name).

    Raises
    ------
    AnalysisError
        An unknown method, or a p-value outside [0, 1].

    Examples
    --------
    >>> adjust_p([0.01, 0.04, 0.03, None], method="holm").round(4).tolist()
    [0.03, 0.06, 0.06, nan]
    >>> adjust_p([0.01, 0.04, 0.03], method="BH").round(4).tolist()
    [0.03, 0.04, 0.04]
    """
    if method not in ("holm", "BH", "bonferroni"):
        raise AnalysisError(
            f"method must be 'holm', 'BH' or 'bonferroni'; received {show(method)}"
        )
    series = p if isinstance(p, pd.Series) else None
    try:
        arr = np.array([np.nan if _is_missing(v) else v for v in list(p)], dtype=float)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"p must be numbers between 0 and 1; {exc}") from None
    bad = ~np.isnan(arr) & ((arr < 0) | (arr > 1))
    if bad.any():
        raise AnalysisError(
            f"p-values must be between 0 and 1; received {show(arr[bad][0])} at position "
            f"{int(np.flatnonzero(bad)[0])}"
        )
    out = st.adjust_p(arr, method)
    if series is not None:
        return pd.Series(out, index=series.index, name=series.name)
    return out
