"""Expected respondents per site, wave and instrument: the denominators of response rates.

A LimeSurvey survey knows how many participants were invited; a site's file does not. The
number of people expected to answer comes from ``rosters:`` in ``evalkit.yml`` or from
``evalkit participants expect``, which records it in the project file :data:`ROSTER_FILE`
(same layout; it overrides ``evalkit.yml`` for the same site, wave and instrument)::

    rosters:
      S01:
        partnership: 12                        # every wave partnership is used at
        network: {baseline: 9, endline: 10}    # or wave: number

A roster's number is used for the response rate in ``evalkit status`` in place of the
participants registered in LimeSurvey or known to the store.

Examples
--------
>>> import pathlib, shutil, tempfile
>>> from evalkit._assets import asset_path
>>> from evalkit.config import load_config
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = shutil.copy(asset_path("templates") / "evalkit.yml", folder / "evalkit.yml")
>>> cfg = load_config(folder)
>>> set_expected(cfg, site="S01", wave="baseline", instrument="partnership", n=12).previous
>>> expected_respondents(cfg)
{('S01', 'baseline', 'partnership'): 12}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.config import ProjectConfig, check_rosters, roster_counts
from evalkit.errors import ConfigError

__all__ = ["ROSTER_FILE", "Expected", "expected_respondents", "read_roster_file",
           "set_expected"]

#: The project file (next to ``evalkit.yml``) that ``evalkit participants expect`` keeps.
ROSTER_FILE = "rosters.yml"
_HEADER = ("# Expected respondents per site, instrument and wave, kept by `evalkit participants\n"
           "# expect` (same layout as rosters: in evalkit.yml, which this file overrides).\n")


@dataclass(frozen=True)
class Expected:
    """What :func:`set_expected` recorded: the file, the number, and the number it replaced
    (None if there was none); ``in_config`` is the number ``evalkit.yml`` gives, if any."""

    path: Path
    site: str
    wave: str
    instrument: str
    n: int
    previous: int | None
    in_config: int | None


def _roster_path(config: ProjectConfig) -> Path:
    return config.path(ROSTER_FILE)


def read_roster_file(config: ProjectConfig) -> dict[str, Any]:
    """The checked contents of :data:`ROSTER_FILE` (empty if the file does not exist).

    Raises
    ------
    ConfigError
        One line naming the file and the key at fault.
    """
    from evalkit._yaml import read_yaml

    path = _roster_path(config)
    if not path.exists():
        return {}
    data = read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict) or set(data) != {"rosters"} or not isinstance(
            data["rosters"], dict):
        raise ConfigError(f"{path}: expected one key, rosters: site -> instrument -> number "
                          f"or wave -> number; got {data!r}")
    try:
        check_rosters(data["rosters"], config)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return data["rosters"]


def expected_respondents(config: ProjectConfig) -> dict[tuple[str, str, str], int]:
    """Expected respondents by (site, wave, instrument): ``rosters:`` of ``evalkit.yml``,
    overridden by :data:`ROSTER_FILE`."""
    out = config.roster_counts()
    out.update(roster_counts(read_roster_file(config), config))
    return out


def set_expected(config: ProjectConfig, *, site: str, wave: str, instrument: str, n: int
                 ) -> Expected:
    """Record that ``n`` people are expected to answer ``instrument`` at ``site`` in ``wave``.

    Raises
    ------
    ConfigError
        An unknown site or instrument, a wave the instrument is not used at, or ``n`` < 1.
    """
    import yaml

    sites = [s.id for s in config.sites]
    if site not in sites:
        raise ConfigError(f"--site: {site!r} is not one of the sites {sites}")
    if instrument not in config.instruments:
        raise ConfigError(f"--instrument: {instrument!r} is not one of the instruments "
                          f"{sorted(config.instruments)}")
    used_at = list(config.instruments[instrument].waves)
    if wave not in used_at:
        raise ConfigError(f"--wave: {instrument} is not used at wave {wave!r}; it is used at "
                          f"{used_at}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"N: expected a whole number of people, at least 1, got {n!r}")
    data = read_roster_file(config)
    uses = dict(data.get(site, {}))
    current = uses.get(instrument)
    by_wave = (dict(current) if isinstance(current, dict)
               else dict.fromkeys(used_at, current) if current is not None else {})
    previous = by_wave.get(wave)
    by_wave[wave] = n
    uses[instrument] = by_wave
    updated = {**data, site: uses}
    path = _roster_path(config)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(_HEADER + yaml.safe_dump({"rosters": updated}, sort_keys=True),
                   encoding="utf-8")
    tmp.replace(path)
    return Expected(path, site, wave, instrument, n, previous,
                    config.roster_counts().get((site, wave, instrument)))
