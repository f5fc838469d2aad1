"""Analysis tables read from the store: one row per response, one column per item.

These are the only tables analyses see. Personal items never reach the store (ingest drops
them), and these functions never return free-text answers unless asked for them by name.

Examples
--------
>>> import tempfile, pathlib
>>> from evalkit.store import Batch, ingest
>>> from evalkit.tables import wide_answers
>>> db = pathlib.Path(tempfile.mkdtemp()) / "toy.duckdb"
>>> _ = ingest(db, Batch.from_records(
...     sites=[{"site_id": "S1", "modality": "peer"}],
...     responses=[{"response_id": "r1", "instrument": "toy", "wave": "baseline",
...                 "site_id": "S1", "respondent_id": "P1"}],
...     answers=[{"response_id": "r1", "item": "Q1", "value": 4.0},
...              {"response_id": "r1", "item": "Q2", "value": 2.0}]), source="doctest")
>>> wide_answers(db, "toy")[["respondent_id", "modality", "Q1", "Q2"]]
  respondent_id modality   Q1   Q2
0            P1     peer  4.0  2.0
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from evalkit.store import read_table

__all__ = ["wide_answers", "text_answers", "RESPONSE_COLUMNS"]

#: Columns that describe a response in every wide table, before the item columns.
RESPONSE_COLUMNS = ["response_id", "instrument", "wave", "site_id", "modality",
                    "respondent_id", "submitted_at"]


def wide_answers(store: str | Path, instrument: str, *,
                 items: Sequence[str] | None = None) -> pd.DataFrame:
    """Numeric answers of one instrument, one row per complete response.

    Parameters
    ----------
    store
        The DuckDB file.
    instrument
        Instrument id, e.g. ``"partnership"``.
    items
        Item codes to return (all numeric items answered at least once if omitted). Items
        asked but never answered still get a column (all missing).

    Returns
    -------
    pandas.DataFrame
        :data:`RESPONSE_COLUMNS` followed by one float column per item, sorted by site,
        wave and respondent.
    """
    meta = read_table(
        store,
        "SELECT r.response_id, r.instrument, r.wave, r.site_id, s.modality, r.respondent_id, "
        "r.submitted_at FROM responses r LEFT JOIN sites s USING (site_id) "
        "WHERE r.instrument = ? AND r.complete ORDER BY r.site_id, r.wave, r.respondent_id, "
        "r.response_id",
        [instrument],
    )
    long = read_table(
        store,
        "SELECT a.response_id, a.item, a.value FROM answers a JOIN responses r "
        "USING (response_id) WHERE r.instrument = ? AND r.complete AND a.value IS NOT NULL",
        [instrument],
    )
    wide = long.pivot(index="response_id", columns="item", values="value")
    if items is not None:
        wide = wide.reindex(columns=list(items))
    wide.columns.name = None
    out = meta.merge(wide, left_on="response_id", right_index=True, how="left")
    return out.reset_index(drop=True)


def text_answers(store: str | Path, instrument: str, item: str) -> pd.DataFrame:
    """Free-text answers to one item: ``response_id, wave, site_id, modality, text``.

    Only non-empty answers are returned.
    """
    return read_table(
        store,
        "SELECT r.response_id, r.wave, r.site_id, s.modality, a.text FROM answers a "
        "JOIN responses r USING (response_id) LEFT JOIN sites s USING (site_id) "
        "WHERE r.instrument = ? AND a.item = ? AND r.complete AND trim(coalesce(a.text, '')) "
        "<> '' ORDER BY r.site_id, r.wave, r.response_id",
        [instrument, item],
    )
