"""Scale scores from item answers, driven by the instrument definition.

Reverse-coded items are recoded as ``min + max - value`` of their response scale; a scale
score is the mean (or sum) of its answered items, and is missing when fewer than the
scale's ``min_items`` were answered. Sum scores are only formed from complete item sets
when ``min_items`` equals the number of items; otherwise a sum over fewer items would not
be comparable, so sum scales with a lower ``min_items`` are prorated (mean x number of items)
and say so in the ``prorated`` column.

Examples
--------
>>> import pandas as pd
>>> from evalkit.instruments import Instrument
>>> inst = Instrument.model_validate({
...     "id": "toy", "version": "1", "title": "Toy", "respondent": "participant",
...     "response_scales": {"a5": {"codes": {1: "no", 2: "", 3: "", 4: "", 5: "yes"}}},
...     "items": [{"code": c, "text": c, "type": "likert", "response_scale": "a5",
...                "reverse": c == "Q3"} for c in ("Q1", "Q2", "Q3")],
...     "scales": [{"id": "total", "label": "Total", "items": ["Q1", "Q2", "Q3"],
...                 "min_items": 2}]})
>>> data = pd.DataFrame({"response_id": ["a", "b"], "Q1": [5, 4], "Q2": [5, None],
...                      "Q3": [1, None]})
>>> score(data, instrument=inst)[["response_id", "scale", "score", "n_answered"]]
  response_id  scale  score  n_answered
0           a  total    5.0           3
1           b  total    NaN           1
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evalkit.errors import AnalysisError
from evalkit.instruments import Instrument

__all__ = ["reverse_code", "score", "score_wide"]


def reverse_code(data: pd.DataFrame, *, instrument: Instrument) -> pd.DataFrame:
    """Return a copy of ``data`` with the instrument's reverse items recoded.

    Values outside an item's response scale raise :class:`AnalysisError` naming the item,
    the row and the allowed range.
    """
    out = data.copy()
    for item in instrument.items:
        if item.code not in out.columns:
            continue
        rng = instrument.item_range(item.code)
        if rng is None:
            continue
        lo, hi = rng
        col = pd.to_numeric(out[item.code], errors="coerce")
        bad = col.notna() & ((col < lo) | (col > hi))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise AnalysisError(
                f"instrument {instrument.id!r}: item {item.code!r} row {row}: value "
                f"{col.iloc[row]:g} is outside its response scale {lo}..{hi}"
            )
        out[item.code] = lo + hi - col if item.reverse else col
    return out


def score(data: pd.DataFrame, *, instrument: Instrument,
          scales: Sequence[str] | None = None, id_columns: Sequence[str] | None = None,
          ) -> pd.DataFrame:
    """Score the instrument's scales for every row of a wide answer table.

    Parameters
    ----------
    data
        One row per response, one column per item (as from
        :func:`evalkit.tables.wide_answers`). Items missing from the table count as
        unanswered.
    instrument
        The instrument whose ``scales`` and ``reverse`` flags define the scoring.
    scales
        Scale ids to score (all by default).
    id_columns
        Columns carried to the output (default: every non-item column).

    Returns
    -------
    pandas.DataFrame
        Long form, one row per response x scale: the id columns, then ``scale``,
        ``score``, ``n_answered``, ``n_items``, ``prorated``.
    """
    chosen = [instrument.scale(s) for s in scales] if scales else list(instrument.scales)
    if not chosen:
        raise AnalysisError(f"instrument {instrument.id!r} defines no scales to score")
    item_codes = {i.code for i in instrument.items}
    ids = list(id_columns) if id_columns is not None else [
        c for c in data.columns if c not in item_codes]
    recoded = reverse_code(data, instrument=instrument)
    frames = []
    for sc in chosen:
        cols = [recoded[c] if c in recoded.columns else pd.Series(np.nan, index=recoded.index)
                for c in sc.items]
        values = pd.concat(cols, axis=1).astype("float64").to_numpy()
        answered = np.sum(~np.isnan(values), axis=1)
        ok = answered >= sc.min_items
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(answered > 0, np.nansum(values, axis=1) / np.maximum(answered, 1),
                            np.nan)
        if sc.method == "mean":
            value = mean
            prorated = np.zeros(len(values), dtype=bool)
        else:
            value = mean * len(sc.items)
            prorated = answered < len(sc.items)
        frame = data[ids].copy()
        frame["scale"] = sc.id
        frame["score"] = np.where(ok, value, np.nan)
        frame["n_answered"] = answered
        frame["n_items"] = len(sc.items)
        frame["prorated"] = prorated & ok
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def score_wide(data: pd.DataFrame, *, instrument: Instrument,
               scales: Sequence[str] | None = None) -> pd.DataFrame:
    """Like :func:`score` but one column per scale (named by scale id).

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.instruments import load_instrument
    >>> from evalkit._assets import asset_path
    >>> inst = load_instrument(asset_path("surveys") / "community_feedback.yaml")
    >>> row = {f"CF0{i}": 4 for i in range(1, 9)}
    >>> score_wide(pd.DataFrame([row]), instrument=inst)["experience"].round(3).tolist()
    [3.75]
    """
    item_codes = {i.code for i in instrument.items}
    ids = [c for c in data.columns if c not in item_codes]
    long = score(data.reset_index(drop=True).assign(_row=lambda d: range(len(d))),
                 instrument=instrument, scales=scales, id_columns=["_row"])
    wide = long.pivot(index="_row", columns="scale", values="score")
    wide.columns.name = None
    return pd.concat([data[ids].reset_index(drop=True), wide.reset_index(drop=True)], axis=1)
