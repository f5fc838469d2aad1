"""Reading the partner-network survey out of the store as tidy rating rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evalkit.errors import AnalysisError
from evalkit.store import read_table

RATING_COLUMNS = ["site_id", "wave", "org_id", "partner_id"]
_GRID_ITEM = r"^(?P<code>[A-Za-z][A-Za-z0-9_]*)\[(?P<partner_id>[^\]]+)\]$"


def network_ratings(store: str | Path, *, instrument: str = "network") -> pd.DataFrame:
    """Every rating one organization gave another, one row per rater x partner x wave.

    Grid items are stored as ``CODE[PARTNER_ORG_ID]`` (``collaboration[S01-O04]``); the
    responding organization is the response's ``respondent_id``. When an organization
    answered more than once in a wave, its latest complete response is used.

    Parameters
    ----------
    store
        The DuckDB file.
    instrument
        Id of the partner-network instrument.

    Returns
    -------
    pandas.DataFrame
        ``site_id, wave, org_id`` (the rater), ``partner_id`` (the organization rated),
        then one float column per grid item code (``contact, collaboration, trust, value``),
        missing where that item was left blank.
    """
    long = read_table(
        store,
        "SELECT r.site_id, r.wave, r.respondent_id AS org_id, r.response_id, r.submitted_at, "
        "a.item, a.value FROM answers a JOIN responses r USING (response_id) "
        "WHERE r.instrument = ? AND r.complete AND a.value IS NOT NULL",
        [instrument],
    )
    if long["org_id"].isna().any():
        rid = long.loc[long["org_id"].isna(), "response_id"].iloc[0]
        raise AnalysisError(f"instrument {instrument!r}: response {rid!r} has no respondent_id; "
                            "each partner-network response must name its organization")
    parts = long["item"].str.extract(_GRID_ITEM)
    long = pd.concat([long.drop(columns=["item"]), parts], axis=1).dropna(subset=["code"])
    long = _latest_response(long)
    if long.empty:
        return pd.DataFrame(columns=RATING_COLUMNS)
    wide = long.pivot_table(index=RATING_COLUMNS, columns="code", values="value",
                            aggfunc="first").reset_index()
    wide.columns.name = None
    return wide.sort_values(RATING_COLUMNS, kind="mergesort").reset_index(drop=True)


def network_respondents(store: str | Path, *, instrument: str = "network") -> pd.DataFrame:
    """Organizations that answered the partner-network survey: ``site_id, wave, org_id``.

    An organization that answered but knew no other organization is a respondent with no
    ratings; this table is how :func:`network_measures` tells it from a non-respondent.
    """
    out = read_table(
        store,
        "SELECT DISTINCT site_id, wave, respondent_id AS org_id FROM responses "
        "WHERE instrument = ? AND complete AND respondent_id IS NOT NULL "
        "ORDER BY site_id, wave, org_id",
        [instrument],
    )
    return out.reset_index(drop=True)


def store_organizations(store: str | Path) -> pd.DataFrame:
    """The organizations table: ``org_id, site_id, name, sector``."""
    return read_table(store, "SELECT org_id, site_id, name, sector FROM organizations "
                             "ORDER BY site_id, org_id")


def _latest_response(long: pd.DataFrame) -> pd.DataFrame:
    """Keep only each organization's latest response per wave."""
    if long.empty:
        return long
    resp = (long[["site_id", "wave", "org_id", "response_id", "submitted_at"]]
            .drop_duplicates("response_id")
            .sort_values(["submitted_at", "response_id"], na_position="first", kind="mergesort")
            .drop_duplicates(["site_id", "wave", "org_id"], keep="last"))
    return long[long["response_id"].isin(resp["response_id"])]
