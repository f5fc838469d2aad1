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
from evalkit.sources._errors import LimeSurveyError, SurveyNotFoundError, SurveyStateError
from evalkit.sources._identity import participant_token, pseudonym
from evalkit.sources._limesurvey import Invitations, LimeSurvey, ServerMismatchError, same_url
from evalkit.sources._lss import build_lss
from evalkit.sources._mapping import (
    ATTRIBUTES,
    Deployment,
    Deployments,
    load_deployments,
    origin_tag,
    plan_questions,
    save_deployments,
)

__all__ = ["deploy", "ParticipantsAdded", "add_participants", "remind_participants",
           "read_participants", "retire", "move_server", "Moved"]

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
    elsewhere = [d for d in recorded.find() if not same_url(d.url, ls.url)]
    if elsewhere:
        # A project's active surveys live on one server: pull refuses a mixture.
        raise ConfigError(
            f"{mapping_file}: {elsewhere[0].label} is deployed on {elsewhere[0].url}, not on "
            f"{ls.url}; nothing was deployed. Retire the deployments there (`evalkit surveys "
            f"retire INSTRUMENT --wave WAVE`) or, if the surveys moved, run `evalkit surveys "
            f"move-server --to {ls.url}` first")
    existing = [d for d in recorded.find(instrument=instrument.id, wave=wave)
                if d.site == site]
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
        # The server's own identity of the survey: its creation time (fixtures 07/08 show
        # `datecreated` as "YYYY-MM-DD HH:MM:SS"). A fresh server numbers its surveys from
        # the same ids again, so the id alone does not tell two servers' surveys apart.
        created = ls.survey_properties(survey_id, ["datecreated"]).get("datecreated")
    except LimeSurveyError as exc:
        raise type(exc)(f"{exc}; survey {survey_id} was imported but not set up - delete it "
                        "in LimeSurvey and deploy again", method=exc.method,
                        status=exc.status) from None
    deployment = Deployment(
        survey_id=survey_id, instrument=instrument.id, version=instrument.version, wave=wave,
        site=site, url=ls.url, survey_created=None if created is None else str(created),
        origin=origin_tag(ls.url, survey_id, str(created)), title=title,
        anonymized=anonymized, tokens=not anonymized,
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
    """Email reminders to invited participants who have not completed the survey.

    Raises
    ------
    SurveyStateError
        Nobody is registered, or nobody was ever invited (the survey's ``get_summary``
        counts ``token_count`` / ``token_sent``, fixture 73): there is nobody to remind.
    """
    if not deployment.tokens:
        raise ConfigError(f"survey {deployment.survey_id} is anonymized and open: it has no "
                          "participants to remind")
    counts = ls.summary(deployment.survey_id)
    registered, sent = counts.get("token_count", 0), counts.get("token_sent", 0)
    where = deployment.label
    if not registered:
        raise SurveyStateError(
            f"{where}: no participants are registered, so nobody can be reminded; add them "
            f"with `evalkit participants add FILE -i {deployment.instrument} -w "
            f"{deployment.wave} --invite`", method="get_summary", status="no participants")
    if not sent:
        raise SurveyStateError(
            f"{where}: nobody was ever invited ({registered} participant(s) registered, 0 "
            f"invitations sent), so nobody can be reminded; send the invitations with "
            f"`evalkit participants add FILE -i {deployment.instrument} -w {deployment.wave} "
            "--invite`", method="get_summary", status="nobody invited")
    return ls.remind(deployment.survey_id, min_days_between=min_days_between,
                     max_reminders=max_reminders)


def retire(mapping_file: str | Path, *, instrument: str, wave: str, site: str | None = None,
           when: dt.datetime | None = None) -> list[Deployment]:
    """End deployments on purpose: kept in ``mapping_file`` as retired, never pulled again.

    For a survey deleted or closed on the server (or one replaced by a new deployment).
    Responses already in the store stay there. Nothing is asked of the server.

    Returns
    -------
    list of Deployment
        The deployments retired (all surveys of the instrument and wave, or of one site).

    Raises
    ------
    ConfigError
        No active deployment of the instrument and wave (and site).
    """
    mapping_file = Path(mapping_file)
    recorded = load_deployments(mapping_file)
    found = [d for d in recorded.find(instrument=instrument, wave=wave)
             if site is None or d.site == site]
    if not found:
        retired = [d for d in recorded.find(instrument=instrument, wave=wave, retired=True)
                   if d.retired and (site is None or d.site == site)]
        state = (f"; {', '.join(d.label for d in retired)} is retired already" if retired
                 else "")
        raise ConfigError(f"{mapping_file}: instrument {instrument!r} wave {wave!r}"
                          f"{f' site {site!r}' if site else ''} has no active deployment to "
                          f"retire{state}")
    when = when or dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
    out = [d.model_copy(update={"status": "retired", "retired_at": when}) for d in found]
    for d in out:
        recorded = recorded.replace(d)
    save_deployments(mapping_file, recorded)
    return out


@dataclass(frozen=True)
class Moved:
    """What ``move_server`` did: ``deployments`` as now recorded on ``url``, ``before`` as
    they were (same order); ``identified``: those recorded before identities were kept."""

    url: str
    deployments: tuple[Deployment, ...]
    before: tuple[Deployment, ...] = ()
    identified: tuple[Deployment, ...] = ()


def move_server(ls: LimeSurvey, mapping_file: str | Path, *,
                from_url: str | None = None) -> Moved:
    """Re-map active deployments to the server ``ls`` is connected to, on purpose.

    For a LimeSurvey installation moved to a new address (its database with it): every
    active deployment not on ``ls.url`` (or only those on ``from_url``) must exist there
    under the same survey id with the same creation time; then its URL is replaced and
    the old one kept in ``moved_from``. Response ids keep their origin tag, so responses
    already stored are recognised. A deployment recorded before evalkit kept server
    identities gets the identity the server reports (moving to the same URL does only
    that). All or nothing: if one survey does not match, nothing is changed.

    Raises
    ------
    ServerMismatchError
        A survey is missing on the new server or is another survey under the same id.
    ConfigError
        Nothing to move.
    """
    mapping_file = Path(mapping_file)
    recorded = load_deployments(mapping_file)
    to = ls.url
    chosen = [i for i, d in enumerate(recorded.deployments)
              if not d.retired and (from_url is None or same_url(d.url, from_url))
              and (not same_url(d.url, to) or d.survey_created is None)]
    if not chosen:
        raise ConfigError(f"{mapping_file}: no active deployment "
                          f"{f'on {from_url} ' if from_url else ''}to move to {to}")
    candidates = [recorded.deployments[i] for i in chosen]
    taken = {d.survey_id for i, d in enumerate(recorded.deployments)
             if same_url(d.url, to) and i not in chosen}
    moved: list[Deployment] = []
    identified: list[Deployment] = []
    for d in candidates:
        if d.survey_id in taken:
            raise ServerMismatchError(
                f"{mapping_file}: {d.label} cannot move to {to}: survey {d.survey_id} there "
                "is recorded as another deployment already; nothing was moved",
                status="taken")
        taken.add(d.survey_id)
        try:
            props = ls.survey_properties(d.survey_id, ["datecreated", "active"])
        except SurveyNotFoundError as exc:
            raise ServerMismatchError(
                f"{d.label} is not on {to} ({exc}); nothing was moved", method=exc.method,
                status=exc.status) from None
        created = props.get("datecreated")
        created = None if created is None else str(created)
        if d.survey_created is not None and created != d.survey_created:
            raise ServerMismatchError(
                f"{to} has another survey {d.survey_id} than {d.label} on {d.url}: created "
                f"{created}, the deployed one {d.survey_created}; nothing was moved",
                method="get_survey_properties", status="other survey")
        update: dict[str, object] = {"url": to}
        if not same_url(d.url, to):
            update["moved_from"] = (*d.moved_from, d.url)
        new = d.model_copy(update=update)
        if d.survey_created is None:
            new = new.model_copy(update={"survey_created": created})
            identified.append(new)
        moved.append(new)
    replaced = dict(zip(chosen, moved, strict=True))
    save_deployments(mapping_file, Deployments(deployments=tuple(
        replaced.get(i, d) for i, d in enumerate(recorded.deployments))))
    return Moved(url=to, deployments=tuple(moved), before=tuple(candidates),
                 identified=tuple(identified))
