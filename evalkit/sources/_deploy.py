"""Deploy an instrument to LimeSurvey, register participants, send invitations and reminders."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evalkit.errors import ConfigError
from evalkit.instruments import Instrument
from evalkit.sources._errors import LimeSurveyError
from evalkit.sources._identity import participant_token, pseudonym
from evalkit.sources._limesurvey import Invitations, LimeSurvey
from evalkit.sources._lss import build_lss
from evalkit.sources._mapping import (
    ATTRIBUTES,
    Deployment,
    load_deployments,
    plan_questions,
    save_deployments,
)

__all__ = ["deploy", "ParticipantsAdded", "add_participants", "remind_participants",
           "read_participants"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ATTRIBUTE_NUMBERS = [int(k.split("_")[1]) for k in ATTRIBUTES]
_BY_ROLE = {v: k for k, v in ATTRIBUTES.items()}


def deploy(
    ls: LimeSurvey,
    instrument: Instrument,
    *,
    wave: str,
    mapping_file: str | Path,
    site: str | None = None,
    sites: Mapping[str, str] | None = None,
    organizations: Mapping[str, str] | None = None,
    title: str | None = None,
    anonymized: bool | None = None,
    replace: bool = False,
) -> Deployment:
    """Create, import and activate the LimeSurvey survey of an instrument for one wave.

    Parameters
    ----------
    ls
        A connected :class:`LimeSurvey`.
    instrument
        The instrument to deploy.
    wave
        The wave the survey collects.
    mapping_file
        The project's mapping file (``limesurvey.yml``); the new survey is recorded there.
    site
        Deploy for one site only (required for instruments with rating grids).
    sites
        Site id -> name; an open (anonymized) survey for several sites asks the site first.
    organizations
        Organization id -> name: the rows of rating grids.
    title
        Survey title (default: instrument title, wave and site).
    anonymized
        Keep responses unlinked from participants (default: for community instruments).
        Anonymized surveys are open (no participant table); respondents are linked across
        waves by the instrument's self-generated code.
    replace
        Deploy again even though the instrument and wave are recorded already.

    Returns
    -------
    Deployment
        As recorded in ``mapping_file``.
    """
    mapping_file = Path(mapping_file)
    recorded = load_deployments(mapping_file)
    existing = [d for d in recorded.find(instrument=instrument.id, wave=wave)
                if d.site == site and d.url == ls.url]
    if existing and not replace:
        raise ConfigError(
            f"{mapping_file}: instrument {instrument.id!r} wave {wave!r}"
            f"{f' site {site!r}' if site else ''} is deployed already as survey "
            f"{existing[0].survey_id}; pass replace=True (--replace) to deploy a new survey")
    anonymized = instrument.respondent == "community" if anonymized is None else anonymized
    open_sites = list(sites or {}) if anonymized and site is None else []
    questions = plan_questions(instrument, organizations=list(organizations or {}),
                               sites=open_sites)
    title = title or " - ".join(x for x in (instrument.title, wave, site) if x)
    labels = {**(sites or {}), **(organizations or {})}
    lss = build_lss(instrument, questions, title=title, anonymized=anonymized, labels=labels)
    survey_id = ls.import_survey(lss, title=title)
    try:
        codes = ls.question_codes(survey_id)
        planned = [q.code for q in questions]
        if codes != planned:
            raise LimeSurveyError(
                f"LimeSurvey import_survey (survey {survey_id}): the imported questions are "
                f"{codes}, expected {planned}")
        ls.activate_survey(survey_id)
        if not anonymized:
            ls.activate_tokens(survey_id, _ATTRIBUTE_NUMBERS)
    except LimeSurveyError as exc:
        raise type(exc)(f"{exc}; survey {survey_id} was imported but not set up - delete it "
                        "in LimeSurvey and deploy again", method=exc.method,
                        status=exc.status) from None
    deployment = Deployment(
        survey_id=survey_id, instrument=instrument.id, version=instrument.version, wave=wave,
        site=site, url=ls.url, title=title, anonymized=anonymized, tokens=not anonymized,
        deployed_at=dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None),
        questions=questions)
    save_deployments(mapping_file, load_deployments(mapping_file).replace(deployment))
    return deployment


def read_participants(path: str | Path) -> pd.DataFrame:
    """Read a participant list (CSV or XLSX) with every value as text.

    Columns: ``code`` (the site's participant code), ``site``, ``email``; optional
    ``firstname``, ``lastname``, ``role``, ``org``. Names and emails go to LimeSurvey only.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        frame = pd.read_excel(path, dtype=str, keep_default_na=False)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.map(lambda v: str(v).strip())


@dataclass(frozen=True)
class ParticipantsAdded:
    """What ``participants add`` did: counts, refused rows (the server's words), emails."""

    added: int
    already: int
    refused: tuple[str, ...] = ()
    invitations: Invitations | None = None
    registered: dict[str, int] = field(default_factory=dict)
    participants: pd.DataFrame | None = None


def _check_rows(rows: pd.DataFrame, *, source: str, sites: Sequence[str],
                deployment: Deployment) -> None:
    problems = []
    for col in ("code", "site", "email"):
        if col not in rows.columns:
            problems.append(f"missing column {col!r}")
    unknown = set(rows.columns) - {"code", "site", "email", "firstname", "lastname", "role",
                                   "org"}
    if unknown:
        problems.append(f"unknown column(s) {sorted(unknown)}; expected code, site, email, "
                        "firstname, lastname, role, org")
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    for i, r in enumerate(rows.to_dict("records"), start=2):
        if not r["code"]:
            problems.append(f"row {i}, column 'code': empty")
        if r["site"] not in sites:
            problems.append(f"row {i}, column 'site': {r['site']!r} is not one of {list(sites)}")
        elif deployment.site and r["site"] != deployment.site:
            problems.append(f"row {i}, column 'site': {r['site']!r}, but survey "
                            f"{deployment.survey_id} is for site {deployment.site!r}")
        if not _EMAIL.match(r["email"]):
            problems.append(f"row {i}, column 'email': {r['email']!r} is not an email address")
    dup = rows.duplicated(["site", "code"])
    for i in dup[dup].index:
        problems.append(f"row {i + 2}, column 'code': {rows.at[i, 'code']!r} appears twice "
                        f"for site {rows.at[i, 'site']!r}")
    if problems:
        raise ConfigError(f"{source}: {len(problems)} problem(s), nothing was sent: "
                          + "; ".join(problems))


def add_participants(
    ls: LimeSurvey,
    deployment: Deployment,
    rows: pd.DataFrame,
    *,
    key: bytes,
    sites: Sequence[str],
    mapping_file: str | Path,
    invite: bool = False,
    source: str = "participants",
) -> ParticipantsAdded:
    """Register participants in a deployed survey; optionally email their invitations.

    Each participant's token is derived from the keyed hash of site and participant code,
    so it is the same in every wave's survey and the pseudonymous id computed from it at
    pull time matches across waves. Participants already registered (same token) are left
    alone, so running the same list twice adds nobody. The registered count per site is
    recorded in ``mapping_file`` (used for response rates).

    Returns
    -------
    ParticipantsAdded
        ``participants``: pseudonymous rows for the store (participant_id, site_id, role,
        org_id) - no names or emails.
    """
    if not deployment.tokens:
        raise ConfigError(f"survey {deployment.survey_id} ({deployment.instrument}, "
                          f"{deployment.wave}) is anonymized and open: it has no participants")
    _check_rows(rows, source=source, sites=sites, deployment=deployment)
    existing = {p["token"] for p in ls.list_participants(deployment.survey_id)}
    outgoing = []
    for r in rows.to_dict("records"):
        token = participant_token(r["site"], r["code"], key=key)
        if token in existing:
            continue
        outgoing.append({
            "firstname": r.get("firstname", ""), "lastname": r.get("lastname", ""),
            "email": r["email"], "token": token,
            _BY_ROLE["site"]: r["site"], _BY_ROLE["wave"]: deployment.wave,
            _BY_ROLE["org"]: r.get("org", ""), _BY_ROLE["role"]: r.get("role", "")})
    answer = ls.add_participants(deployment.survey_id, outgoing)
    refused = tuple(
        f"participant {i + 1} of the new ones: " + "; ".join(
            f"{col}: {' '.join(map(str, msgs))}" for col, msgs in row["errors"].items())
        for i, row in enumerate(answer) if isinstance(row, dict) and row.get("errors"))
    listed = ls.list_participants(deployment.survey_id, attributes=list(ATTRIBUTES))
    registered: dict[str, int] = {}
    for p in listed:
        site = p.get(_BY_ROLE["site"]) or ""
        registered[site] = registered.get(site, 0) + 1
    recorded = load_deployments(mapping_file)
    updated = deployment.model_copy(update={"participants": registered})
    save_deployments(mapping_file, recorded.replace(updated))
    invitations = ls.invite(deployment.survey_id) if invite else None
    store_rows = pd.DataFrame([{
        "participant_id": pseudonym("token", p["token"], key=key),
        "site_id": p.get(_BY_ROLE["site"]), "role": p.get(_BY_ROLE["role"]) or None,
        "org_id": p.get(_BY_ROLE["org"]) or None} for p in listed if p.get(_BY_ROLE["site"])],
        columns=["participant_id", "site_id", "role", "org_id"])
    return ParticipantsAdded(added=len(outgoing) - len(refused),
                             already=len(rows) - len(outgoing), refused=refused,
                             invitations=invitations, registered=registered,
                             participants=store_rows)


def remind_participants(ls: LimeSurvey, deployment: Deployment, *,
                        min_days_between: int | None = None,
                        max_reminders: int | None = None) -> Invitations:
    """Email reminders to invited participants who have not completed the survey."""
    if not deployment.tokens:
        raise ConfigError(f"survey {deployment.survey_id} is anonymized and open: it has no "
                          "participants to remind")
    return ls.remind(deployment.survey_id, min_days_between=min_days_between,
                     max_reminders=max_reminders)
