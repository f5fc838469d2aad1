"""Checks of item data; every failure is an AnalysisError naming the item or parameter."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evalkit.errors import AnalysisError


def show(value: object) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def check_items(data: object, items: Sequence[str], minimum: int) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError(f"data must be a pandas DataFrame; received {type(data).__name__}")
    if isinstance(items, str) or not isinstance(items, Sequence):
        raise AnalysisError(
            f"items must be a list of column names; received {type(items).__name__}"
        )
    items = list(items)
    if len(items) < minimum:
        raise AnalysisError(f"items must name at least {minimum} columns; received {items}")
    if len(set(items)) != len(items):
        dup = sorted({i for i in items if items.count(i) > 1})
        raise AnalysisError(f"items lists the same column more than once: {dup}")
    absent = [i for i in items if i not in data.columns]
    if absent:
        raise AnalysisError(
            f"item column '{absent[0]}' not found in data; columns are "
            f"{[str(c) for c in data.columns][:12]}"
        )
    out = {}
    for item in items:
        s = data[item]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            coerced = pd.to_numeric(s, errors="coerce")
            bad = s.notna() & coerced.isna()
            if bad.any() or pd.api.types.is_bool_dtype(s):
                first = s[bad].iloc[0] if bad.any() else s.dropna().iloc[0]
                raise AnalysisError(
                    f"item column '{item}' must be numeric; found {show(first)} in row "
                    f"{show(s[bad].index[0] if bad.any() else s.dropna().index[0])}"
                )
            s = coerced
        values = pd.Series(s.to_numpy(dtype=float, na_value=np.nan), index=data.index)
        if np.isinf(values).any():
            raise AnalysisError(f"item column '{item}' has infinite values")
        out[item] = values
    return pd.DataFrame(out)


def check_scale(x: pd.DataFrame, scale_min: float | None, scale_max: float | None,
                 *, required: bool) -> tuple[float | None, float | None]:
    if (scale_min is None) != (scale_max is None) or (required and scale_min is None):
        raise AnalysisError(
            "scale_min and scale_max must be given together; received "
            f"scale_min={show(scale_min)}, scale_max={show(scale_max)}"
        )
    if scale_min is None or scale_max is None:
        return None, None
    if not scale_min < scale_max:
        raise AnalysisError(
            f"scale_min must be below scale_max; received {show(scale_min)} and {show(scale_max)}"
        )
    for item in x.columns:
        col = x[item]
        out = col[(col < scale_min) | (col > scale_max)]
        if not out.empty:
            raise AnalysisError(
                f"item '{item}' has values outside the scale {scale_min:g} to {scale_max:g}: "
                f"{sorted(set(out.tolist()))[:5]} (first in row {show(out.index[0])})"
            )
    return float(scale_min), float(scale_max)


def reverse_items(x: pd.DataFrame, reverse: Sequence[str], lo: float | None,
             hi: float | None) -> pd.DataFrame:
    if isinstance(reverse, str):
        reverse = (reverse,)
    unknown = [r for r in reverse if r not in x.columns]
    if unknown:
        raise AnalysisError(
            f"reverse item '{unknown[0]}' is not among items {list(x.columns)}"
        )
    if not reverse:
        return x
    if lo is None or hi is None:  # psych::alpha's rule: the observed range of all items
        lo, hi = float(np.nanmin(x.to_numpy())), float(np.nanmax(x.to_numpy()))
    x = x.copy()
    for item in reverse:
        x[item] = lo + hi - x[item]
    return x


def check_conf(conf_level: float) -> None:
    if not (isinstance(conf_level, int | float) and 0 < conf_level < 1):
        raise AnalysisError(f"conf_level must be between 0 and 1; received {show(conf_level)}")


def prepare(data: object, items: Sequence[str], reverse: Sequence[str],
            scale_min: float | None, scale_max: float | None, missing: str,
            minimum: int) -> tuple[pd.DataFrame, int]:
    """Checked, reverse-scored item columns of the respondents the analysis uses, and the
    number of respondents who answered at least one item."""
    if missing not in ("pairwise", "listwise"):
        raise AnalysisError(f"missing must be 'pairwise' or 'listwise'; received {show(missing)}")
    x = check_items(data, items, minimum)
    lo, hi = check_scale(x, scale_min, scale_max, required=False)
    x = x[x.notna().any(axis=1)]
    n_answered = len(x)
    if missing == "listwise":
        x = x.dropna()
    x = reverse_items(x, reverse, lo, hi)
    if len(x) < 3:
        who = "every item" if missing == "listwise" else "at least one item"
        raise AnalysisError(
            f"need at least 3 respondents who answered {who}; received {len(x)}"
        )
    for item in x.columns:
        col = x[item].dropna()
        if col.size < 2 or col.std(ddof=1) == 0:
            raise AnalysisError(
                f"item '{item}' has no variance ({col.size} answers, values "
                f"{sorted(set(col.tolist()))[:3]}); drop it from items"
            )
    return x, n_answered
