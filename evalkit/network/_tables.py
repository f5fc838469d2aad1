"""The network result tables the analysis runner writes to ``results/``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evalkit.config import ProjectConfig
from evalkit.network._coverage import sector_coverage
from evalkit.network._measures import network_measures
from evalkit.network._read import network_ratings, network_respondents, store_organizations

TABLE_NAMES = ("network_sites", "network_organizations", "network_ties", "network_change",
               "network_tie_changes", "network_sectors")


def network_tables(store_path: str | Path, config: ProjectConfig, *, min_level: int = 3,
                   item: str = "collaboration", instrument: str = "network",
                   weak_below: int = 2) -> dict[str, pd.DataFrame]:
    """Network result tables for every site and wave in the store.

    The waves compared are the first and last wave the configuration lists for the
    instrument (``instruments.network.waves``). Only sites in the configuration are kept.

    Parameters
    ----------
    store_path
        The DuckDB store.
    config
        The project configuration (sites, modalities, waves, sectors).
    min_level, item, weak_below
        Passed to :func:`network_measures` and :func:`sector_coverage`.
    instrument
        Id of the partner-network instrument; when the configuration does not use it the
        result is an empty dict.

    Returns
    -------
    dict[str, pandas.DataFrame]
        ``network_sites`` (:attr:`NetworkResult.sites` plus ``modality``),
        ``network_organizations``, ``network_ties``, ``network_change`` (plus
        ``modality``), ``network_tie_changes`` and ``network_sectors``
        (:func:`sector_coverage`). Organization ids and names are not personal data and are
        kept, so reports can draw and label the networks.
    """
    if instrument not in config.instruments:
        return {}
    waves = [w for w in config.wave_ids if w in config.instruments[instrument].waves]
    pre, post = waves[0], waves[-1]
    sites = [s.id for s in config.sites]
    ratings = network_ratings(store_path, instrument=instrument)
    respondents = network_respondents(store_path, instrument=instrument)
    organizations = store_organizations(store_path)
    ratings = ratings[ratings["site_id"].isin(sites)]
    respondents = respondents[respondents["site_id"].isin(sites)]
    organizations = organizations[organizations["site_id"].isin(sites)]
    result = network_measures(ratings, organizations=organizations, respondents=respondents,
                              min_level=min_level, item=item, waves=config.wave_ids,
                              pre=pre, post=post)
    modality = config.site_modality()
    site_table = result.sites.copy()
    site_table.insert(1, "modality", site_table["site_id"].map(modality))
    change = result.change.copy()
    change.insert(1, "modality", change["site_id"].map(modality))
    return {
        "network_sites": site_table,
        "network_organizations": result.organizations,
        "network_ties": result.ties,
        "network_change": change,
        "network_tie_changes": result.tie_changes,
        "network_sectors": sector_coverage(result, sectors=config.sectors,
                                           weak_below=weak_below),
    }
