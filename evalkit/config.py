"""The project configuration (``evalkit.yml``): one file per evaluation.

It names the collaborative, its sites, modalities, waves, which instruments are used at
which waves, how many people are expected to answer them (``rosters:``), where the store
lives and how reports are published.

Examples
--------
>>> from evalkit.config import load_config
>>> from evalkit._assets import asset_path
>>> cfg = load_config(asset_path("templates") / "evalkit.yml")
>>> [w.id for w in cfg.waves]
['baseline', 'midpoint', 'endline']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evalkit._yaml import load_model
from evalkit.errors import ConfigError

__all__ = [
    "DEFAULT_SECTORS",
    "Collaborative",
    "Modality",
    "Site",
    "Wave",
    "InstrumentUse",
    "ReportSettings",
    "PrivacySettings",
    "LimeSurveySettings",
    "ProjectConfig",
    "load_config",
    "check_rosters",
    "roster_counts",
]

DEFAULT_SECTORS: tuple[str, ...] = (
    "consumers_families",
    "health_systems",
    "community_based_orgs",
    "public_health",
    "social_services",
    "behavioral_health",
    "payers",
    "educators",
    "first_responders",
    "faith_based",
    "other",
)

_ID = r"^[A-Za-z][A-Za-z0-9_\-]*$"
#: File types a report logo may have (``reports.logo``).
LOGO_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Period(_Strict):
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class Collaborative(_Strict):
    name: str = Field(min_length=1)
    period: Period


class Modality(_Strict):
    id: str = Field(pattern=_ID)
    label: str


class Site(_Strict):
    id: str = Field(pattern=_ID)
    name: str
    region: str = ""
    modalities: tuple[str, ...] = Field(min_length=1)
    start_date: dt.date | None = None


class Wave(_Strict):
    id: str = Field(pattern=_ID)
    label: str
    window: Period | None = None


class InstrumentUse(_Strict):
    file: str
    waves: tuple[str, ...] = Field(min_length=1)


class ReportSettings(_Strict):
    """How reports are published. ``docx_reference`` is a Word file (relative to the
    project) whose styles the ``.docx`` reports take: headings, captions, body text and the
    ``Table`` table style."""

    suppression_threshold: int = Field(default=11, ge=1)
    results_dir: str = "results"
    output_dir: str = "_output"
    docx_reference: str | None = None
    #: Shown on the title of every report (HTML and Word): the organisation that publishes
    #: them, a funder acknowledgement, and a logo file (PNG, JPEG or SVG, relative to the
    #: project), embedded in the file.
    organisation: str | None = Field(default=None, min_length=1)
    funder: str | None = Field(default=None, min_length=1)
    logo: str | None = None

    @field_validator("docx_reference")
    @classmethod
    def _a_word_file(cls, value: str | None) -> str | None:
        if value is not None and Path(value).suffix.lower() != ".docx":
            raise ValueError("expected a Word file ending in .docx")
        return value

    @field_validator("logo")
    @classmethod
    def _an_image_file(cls, value: str | None) -> str | None:
        if value is not None and Path(value).suffix.lower() not in LOGO_SUFFIXES:
            raise ValueError(f"expected an image file ending in .png, .jpg, .jpeg or .svg, "
                             f"got {Path(value).suffix or 'no suffix'}")
        return value


class LimeSurveySettings(_Strict):
    """Where the LimeSurvey server is. The password is never in this file: it is read from
    the environment variable named by ``password_env``."""

    url: str = Field(pattern=r"^https?://")
    user: str = Field(min_length=1)
    password_env: str = "EVALKIT_LIMESURVEY_PASSWORD"
    timeout: float = Field(default=60.0, gt=0)
    allow_http: bool = False

    @property
    def plain_http(self) -> bool:
        """Whether the password would travel unencrypted (http:// to a non-loopback host)."""
        return not insecure_url_ok(self.url, allow_http=False)

    @model_validator(mode="after")
    def _encrypted(self) -> LimeSurveySettings:
        if not insecure_url_ok(self.url, allow_http=self.allow_http):
            raise ValueError(f"url: {self.url!r} is plain http, so the LimeSurvey password "
                             f"would travel unencrypted; use https://, or set "
                             f"limesurvey.allow_http: true if you accept that")
        return self


def insecure_url_ok(url: str, *, allow_http: bool) -> bool:
    """True for https, for http to a loopback host, or when plain http is allowed.

    >>> insecure_url_ok("http://127.0.0.1:8080/rc", allow_http=False)
    True
    >>> insecure_url_ok("http://surveys.example.org/rc", allow_http=False)
    False
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "https" or allow_http:
        return True
    host = (parts.hostname or "").lower()
    return host == "localhost" or host == "::1" or host.startswith("127.")


class PrivacySettings(_Strict):
    """How personal data is recognised in free text: the region of phone numbers written
    without a country code (ISO 3166 alpha-2) and extra national-id patterns (regular
    expressions) besides the built-in ones (US SSN, UK NI number, ...)."""

    default_region: str = "US"
    national_ids: tuple[str, ...] = ()

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        import phonenumbers

        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"expected a two-letter region code such as US, GB or FR; got "
                             f"{value!r}")
        return value.upper()

    @field_validator("national_ids")
    @classmethod
    def _patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import re

        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression ({exc})") from exc
        return value


class ProjectConfig(_Strict):
    """A validated ``evalkit.yml``. Paths inside are relative to ``root``."""

    collaborative: Collaborative
    modalities: tuple[Modality, ...] = Field(min_length=1)
    sites: tuple[Site, ...] = Field(min_length=1)
    waves: tuple[Wave, ...] = Field(min_length=2)
    instruments: dict[str, InstrumentUse] = Field(min_length=1)
    sectors: tuple[str, ...] = DEFAULT_SECTORS
    store: str = "evalkit.duckdb"
    plan: str = "analyses/plan.yml"
    reports: ReportSettings = ReportSettings()
    privacy: PrivacySettings = PrivacySettings()
    limesurvey: LimeSurveySettings | None = None
    # Expected respondents, for response rates where no survey server counts them (files
    # from sites): site -> instrument -> a number for every wave, or wave -> number.
    rosters: dict[str, dict[str, Any]] = {}
    root: Path = Field(default=Path("."), exclude=True)

    @field_validator("sites")
    @classmethod
    def _unique_sites(cls, sites: tuple[Site, ...]) -> tuple[Site, ...]:
        _no_duplicates([s.id for s in sites], "site id")
        return sites

    @field_validator("waves")
    @classmethod
    def _unique_waves(cls, waves: tuple[Wave, ...]) -> tuple[Wave, ...]:
        _no_duplicates([w.id for w in waves], "wave id")
        return waves

    @model_validator(mode="after")
    def _cross_references(self) -> ProjectConfig:
        modality_ids = [m.id for m in self.modalities]
        _no_duplicates(modality_ids, "modality id")
        for i, site in enumerate(self.sites):
            for m in site.modalities:
                if m not in modality_ids:
                    raise ValueError(
                        f"sites[{i}].modalities: modality {m!r} (site {site.id}) is not one of the "
                        f"modalities {modality_ids}"
                    )
        wave_ids = [w.id for w in self.waves]
        for name, use in self.instruments.items():
            for w in use.waves:
                if w not in wave_ids:
                    raise ValueError(
                        f"instruments.{name}.waves: wave {w!r} is not one of the waves {wave_ids}"
                    )
        check_rosters(self.rosters, self)
        return self

    def roster_counts(self) -> dict[tuple[str, str, str], int]:
        """Expected respondents from ``rosters:``, keyed by (site, wave, instrument)."""
        return roster_counts(self.rosters, self)

    # Convenience accessors -------------------------------------------------------------
    def path(self, relative: str) -> Path:
        """Resolve a path from the configuration against the project folder."""
        p = Path(relative)
        return p if p.is_absolute() else self.root / p

    @property
    def store_path(self) -> Path:
        return self.path(self.store)

    @property
    def results_path(self) -> Path:
        return self.path(self.reports.results_dir)

    @property
    def output_path(self) -> Path:
        return self.path(self.reports.output_dir)

    @property
    def docx_reference_path(self) -> Path | None:
        """The Word reference document of the reports, if the configuration names one."""
        reference = self.reports.docx_reference
        return self.path(reference) if reference is not None else None

    @property
    def logo_path(self) -> Path | None:
        """The reports' logo file, if the configuration names one."""
        return self.path(self.reports.logo) if self.reports.logo is not None else None

    @property
    def wave_ids(self) -> list[str]:
        return [w.id for w in self.waves]

    def site_modality(self) -> dict[str, str]:
        """Each site's primary (first-listed) modality."""
        return {s.id: s.modalities[0] for s in self.sites}


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_rosters(rosters: Mapping[str, Any], config: ProjectConfig, *,
                  key: str = "rosters") -> None:
    """Check a ``rosters:`` mapping (site -> instrument -> number, or wave -> number) against
    the configuration; ValueError naming the key, what was expected and what was found."""
    site_ids = [s.id for s in config.sites]
    for site, uses in rosters.items():
        where = f"{key}.{site}"
        if site not in site_ids:
            raise ValueError(f"{where}: site {site!r} is not one of the sites {site_ids}")
        if not isinstance(uses, Mapping):
            raise ValueError(f"{where}: expected instrument: number of people, got {uses!r}")
        for name, counts in uses.items():
            at = f"{where}.{name}"
            if name not in config.instruments:
                raise ValueError(f"{at}: instrument {name!r} is not one of the instruments "
                                 f"{sorted(config.instruments)}")
            waves = list(config.instruments[name].waves)
            if isinstance(counts, Mapping):
                for wave, n in counts.items():
                    if wave not in waves:
                        raise ValueError(f"{at}.{wave}: wave {wave!r} is not one of the waves "
                                         f"{name} is used at {waves}")
                    if not _whole(n):
                        raise ValueError(f"{at}.{wave}: expected a whole number of people, "
                                         f"at least 1, got {n!r}")
            elif not _whole(counts):
                raise ValueError(f"{at}: expected a whole number of people (at least 1) for "
                                 f"every wave, or wave: number, got {counts!r}")


def roster_counts(rosters: Mapping[str, Any], config: ProjectConfig
                  ) -> dict[tuple[str, str, str], int]:
    """A checked ``rosters:`` mapping as (site, wave, instrument) -> expected respondents."""
    out: dict[tuple[str, str, str], int] = {}
    for site, uses in rosters.items():
        for name, counts in uses.items():
            by_wave = (dict(counts) if isinstance(counts, Mapping)
                       else dict.fromkeys(config.instruments[name].waves, counts))
            for wave, n in by_wave.items():
                out[(str(site), str(wave), str(name))] = int(n)
    return out


def _no_duplicates(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"duplicate {what} {v!r}")
        seen.add(v)


def _looks_like(path: Path) -> bool:
    """Whether an image file's first bytes match its suffix (PNG, JPEG, SVG)."""
    head = path.read_bytes()[:4096]
    suffix = path.suffix.lower()
    if suffix == ".png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if suffix in (".jpg", ".jpeg"):
        return head.startswith(b"\xff\xd8\xff")
    return b"<svg" in head


def load_config(path: str | Path) -> ProjectConfig:
    """Read and validate an ``evalkit.yml``.

    Parameters
    ----------
    path
        The configuration file, or the project folder that holds ``evalkit.yml``.

    Raises
    ------
    ConfigError
        Naming the file, each invalid key, what was expected and what was found.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "evalkit.yml"
    cfg = load_model(path, ProjectConfig)
    cfg = cfg.model_copy(update={"root": path.parent.resolve()})
    reference = cfg.reports.docx_reference
    if reference is not None and not cfg.path(reference).is_file():
        raise ConfigError(f"{path}: reports.docx_reference: Word reference document "
                          f"{reference!r} not found (looked for {cfg.path(reference)})")
    logo = cfg.reports.logo
    if logo is not None and not cfg.path(logo).is_file():
        raise ConfigError(f"{path}: reports.logo: logo file {logo!r} not found (looked for "
                          f"{cfg.path(logo)})")
    if logo is not None and not _looks_like(cfg.path(logo)):
        raise ConfigError(f"{path}: reports.logo: {logo!r} is not a "
                          f"{Path(logo).suffix.lower().lstrip('.').upper()} image (its first "
                          f"bytes do not match the file type)")
    return cfg
