"""Response rates by site, wave and instrument."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evalkit.config import ProjectConfig
from evalkit.instruments import load_instrument
from evalkit.sources._mapping import MAPPING_FILE, load_deployments
from evalkit.store import read_table

__all__ = ["response_rates"]


def response_rates(config: ProjectConfig) -> pd.DataFrame:
    """Complete responses against the people expected to answer, per site, wave, instrument.

    ``expected`` is the roster's number (``rosters:`` in ``evalkit.yml`` or
    ``evalkit participants expect``, :func:`evalkit.rosters.expected_respondents`) where
    one is given; otherwise the number of participants registered in the wave's LimeSurvey survey
    (``limesurvey.yml``, kept by ``evalkit participants add``; a retired survey counts
    unless a new deployment replaced it); without such a record, the
    store's participants (participant instruments) or organizations (organization
    instruments) of the site. Community surveys are open: no denominator unless a roster.

    Returns
    -------
    pandas.DataFrame
        ``site, wave, instrument, expected, responded, rate``: one row per configured site,
        wave the instrument is used at, and instrument; ``expected`` and ``rate`` are missing
        where there is no denominator; ``rate`` = responded / expected.

    Examples
    --------
    >>> from evalkit._assets import asset_path
    >>> from evalkit.config import load_config
    >>> cfg = load_config(asset_path("templates") / "evalkit.yml")
    >>> rates = response_rates(cfg)
    >>> list(rates.columns)
    ['site', 'wave', 'instrument', 'expected', 'responded', 'rate']
    """
    respondent: dict[str, str | None] = {}
    for name, use in config.instruments.items():
        path = config.path(use.file)
        respondent[name] = load_instrument(path).respondent if path.exists() else None
    rows = [{"site": s.id, "wave": w, "instrument": name}
            for name, use in config.instruments.items() for w in use.waves
            for s in config.sites]
    out = pd.DataFrame(rows, columns=["site", "wave", "instrument"])
    responded = pd.DataFrame(columns=["site", "wave", "instrument", "responded"])
    people = pd.DataFrame(columns=["site", "n"])
    orgs = pd.DataFrame(columns=["site", "n"])
    if config.store_path.exists():
        responded = read_table(config.store_path, (
            "SELECT site_id AS site, wave, instrument, count(*) AS responded FROM responses "
            "WHERE complete GROUP BY ALL"))
        people = read_table(config.store_path, "SELECT site_id AS site, count(*) AS n "
                            "FROM participants GROUP BY ALL")
        orgs = read_table(config.store_path, "SELECT site_id AS site, count(*) AS n "
                          "FROM organizations GROUP BY ALL")
    out = out.merge(responded, how="left", on=["site", "wave", "instrument"])
    out["responded"] = out["responded"].fillna(0).astype("int64")
    registered: dict[tuple[str, str, str], int] = {}
    recorded = load_deployments(config.path(MAPPING_FILE))
    active = {(d.instrument, d.wave, d.site) for d in recorded.find()}
    for d in recorded.deployments:
        if d.retired and (d.instrument, d.wave, d.site) in active:
            continue  # replaced by a new deployment: its participants were registered again
        for site, count in d.participants.items():
            k = (site, d.wave, d.instrument)
            registered[k] = registered.get(k, 0) + count
    fallback: dict[str, dict[str, int]] = {
        "participant": {str(k): int(v) for k, v in zip(people["site"], people["n"],
                                                       strict=True)},
        "organization": {str(k): int(v) for k, v in zip(orgs["site"], orgs["n"], strict=True)}}
    from evalkit.rosters import expected_respondents

    rosters = expected_respondents(config)
    expected = []
    for site, wave, name in zip(out["site"], out["wave"], out["instrument"], strict=True):
        k = (str(site), str(wave), str(name))
        if k in rosters:
            expected.append(float(rosters[k]))
        elif k in registered:
            expected.append(float(registered[k]))
        else:
            known = fallback.get(respondent.get(k[2]) or "", {}).get(k[0])
            expected.append(float(known) if known else np.nan)
    out["expected"] = pd.array(expected, dtype="Float64").astype("Int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rate"] = (out["responded"] / out["expected"].astype("float64")).round(3)
    return out[["site", "wave", "instrument", "expected", "responded", "rate"]]
