"""Pull responses from LimeSurvey into the store: all-or-nothing, incremental, resumable.

A pull exports every active recorded survey (complete and incomplete responses, completion
kept as a flag), maps the columns back to item codes and ingests everything in one
transaction. Re-pulling unchanged data adds nothing (the store recognises the batch by its
hash); a response edited on the server is updated and counted in provenance.

Before anything is fetched, every survey is checked against the server: a survey recorded
on another server URL, or a survey whose creation time (``datecreated``) differs from the
one recorded at deployment - another server, or another survey under the same id - stops
the pull with :class:`ServerMismatchError` and nothing is fetched or ingested. A survey
missing on the server or no longer active is reported and skipped; the others are pulled.
Questions on the server that the recorded mapping does not know are listed on every pull.

If the server stops answering half-way, nothing is ingested. The surveys fetched so far
are kept - already pseudonymised, without personal items - in ``.evalkit/pull/`` under
the project. The next pull reuses a kept copy only if the server confirms it is unchanged:
a small export of each response's id, submit date, last page and last-action date
(``aFields``, fixture 63) must match the kept one; otherwise it is fetched again.
Surveys without last-action dates (anonymized ones keep none) cannot be confirmed and are
always fetched again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.instruments import Instrument
from evalkit.sources._errors import (
    PullInterruptedError,
    ServerUnavailableError,
    SurveyNotFoundError,
    SurveyStateError,
)
from evalkit.sources._identity import key_fingerprint
from evalkit.sources._limesurvey import LimeSurvey, ServerMismatchError, same_url
from evalkit.sources._mapping import ATTRIBUTES, Deployment, MappedResponses, map_responses
from evalkit.store import Batch, IngestSummary, ingest, read_table

__all__ = ["PullSummary", "check_server", "pull"]

_STAGING_VERSION = 2
_STAMP_FIELDS = ("id", "submitdate", "lastpage")
_DATESTAMP = "datestamp"


@dataclass(frozen=True)
class PullSummary:
    """What a pull did.

    ``surveys``: one row per survey pulled (survey_id, instrument, wave, site, responses,
    complete, incomplete, copy, resumed); ``copy`` is ``fetched``, ``reused`` (kept from
    an interrupted pull, confirmed unchanged by the server) or ``refetched`` (kept, but
    the server did not confirm it; fetched again); ``resumed`` is ``copy == 'reused'``.
    ``ingest``: the store's summary (``skipped`` when nothing changed since the last
    pull). ``notes``: warnings - questions the mapping does not know, responses left out,
    responses gone from the server. ``skipped``: one line per survey not pulled (missing
    on the server, not active).
    """

    surveys: pd.DataFrame
    ingest: IngestSummary | None
    notes: tuple[str, ...]
    skipped: tuple[str, ...] = ()

    @property
    def responses(self) -> int:
        return int(self.surveys["responses"].sum()) if len(self.surveys) else 0


def check_server(deployments: Sequence[Deployment], url: str) -> None:
    """Refuse deployments recorded on another server, or recorded without an identity.

    Raises
    ------
    ServerMismatchError
        One line naming the survey, the server it was deployed on and ``url``.
    """
    for d in deployments:
        if d.retired:
            continue
        if not same_url(d.url, url):
            raise ServerMismatchError(
                f"{d.label} was deployed on {d.url}, not on {url}; nothing was pulled (if "
                f"the project moved to {url}, run `evalkit surveys move-server --to {url}`)",
                status="other server")
        if d.survey_created is None:
            raise ServerMismatchError(
                f"{d.label} on {d.url} was recorded without the server's identity of the "
                "survey (deployed with an older evalkit); nothing was pulled (run `evalkit "
                f"surveys move-server --to {d.url}` to record it)", status="no identity")


def _staging_file(folder: Path, deployment: Deployment) -> Path:
    return folder / f"{deployment.origin or 'survey'}-{deployment.survey_id}.json"


def _stamp_fields(props: Mapping[str, Any]) -> list[str] | None:
    """Export fields whose values change whenever a response changes, or None if none do.

    ``datestamp`` (the date of the last action) exists only with ``datestamp=Y``; without
    it an edit of the answers leaves id, submitdate and lastpage as they were.
    """
    return [*_STAMP_FIELDS, _DATESTAMP] if props.get("datestamp") == "Y" else None


def _stamp(records: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> str:
    rows = sorted(([str(r.get(f)) for f in fields] for r in records), key=lambda r: r[0])
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def _save_staged(path: Path, deployment: Deployment, mapped: MappedResponses,
                 stamp: str | None) -> None:
    responses = mapped.responses.copy()
    responses["submitted_at"] = responses["submitted_at"].map(
        lambda t: None if t is None or pd.isna(t) else pd.Timestamp(t).isoformat())
    payload = {
        "version": _STAGING_VERSION, "survey_id": deployment.survey_id, "url": deployment.url,
        "origin": deployment.origin, "survey_created": deployment.survey_created,
        "fetched_at": dt.datetime.now(dt.UTC).isoformat(), "stamp": stamp,
        "responses": responses.to_dict("records"),
        "answers": mapped.answers.astype(object).where(mapped.answers.notna(), None)
        .to_dict("records"),
        "personal_dropped": mapped.personal_dropped, "notes": list(mapped.notes)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def _load_staged(path: Path, deployment: Deployment, max_age: dt.timedelta
                 ) -> tuple[MappedResponses, str | None] | None:
    """A kept copy of this very survey (same server, origin, creation), or None."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        fetched = dt.datetime.fromisoformat(payload["fetched_at"])
        if (payload.get("version") != _STAGING_VERSION
                or not same_url(str(payload.get("url")), deployment.url)
                or payload.get("origin") != deployment.origin
                or payload.get("survey_created") != deployment.survey_created
                or dt.datetime.now(dt.UTC) - fetched > max_age):
            return None
        responses = pd.DataFrame(payload["responses"],
                                 columns=["response_id", "instrument", "wave", "site_id",
                                          "respondent_id", "submitted_at", "complete"])
        responses["submitted_at"] = pd.to_datetime(responses["submitted_at"])
        answers = pd.DataFrame(payload["answers"],
                               columns=["response_id", "item", "value", "text"])
        mapped = MappedResponses(responses=responses, answers=answers,
                                 personal_dropped=int(payload.get("personal_dropped", 0)),
                                 notes=tuple(payload.get("notes", ())))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    stamp = payload.get("stamp")
    return mapped, stamp if isinstance(stamp, str) else None


def _fetch(ls: LimeSurvey, deployment: Deployment, instrument: Instrument, key: bytes,
           props: Mapping[str, Any]) -> tuple[MappedResponses, str | None]:
    sid = deployment.survey_id
    anonymized = props.get("anonymized") == "Y"
    records = ls.export_responses(sid)
    fields = _stamp_fields(props)
    participants: dict[str, dict[str, str]] = {}
    if records and deployment.tokens and not anonymized:
        for p in ls.list_participants(sid, attributes=list(ATTRIBUTES)):
            participants[p["token"]] = {role: p.get(attr) or "" for attr, role in
                                        ATTRIBUTES.items()}
    mapped = map_responses(records, deployment, instrument, key=key,
                           participants=participants, anonymized=anonymized)
    return mapped, _stamp(records, fields) if fields else None


def _check(ls: LimeSurvey, d: Deployment) -> tuple[dict[str, Any] | None, str | None,
                                                  list[str]]:
    """(properties, skip reason, unknown question columns) of one survey on the server."""
    sid = d.survey_id
    try:
        props = ls.survey_properties(sid, ["active", "anonymized", "datestamp",
                                           "datecreated"])
    except SurveyNotFoundError as exc:
        return None, f"{d.label}: not on the server ({exc.method}: {exc.status}); skipped", []
    created = props.get("datecreated")
    created = None if created is None else str(created)
    if d.survey_created is not None and created != d.survey_created:
        raise ServerMismatchError(
            f"{ls.url} is not the server {d.label} was deployed on: its survey {sid} was "
            f"created {created}, the deployed one {d.survey_created}; nothing was pulled",
            method="get_survey_properties", status="other survey")
    if props.get("active") != "Y":
        return None, (f"{d.label}: not active on the server (active = "
                      f"{props.get('active')!r}: deactivated or never activated); "
                      "skipped"), []
    known = d.columns()
    unknown = [c for c in ls.question_columns(sid) if c not in known]
    return dict(props), None, unknown


def pull(
    ls: LimeSurvey,
    deployments: Sequence[Deployment],
    instruments: Mapping[str, Instrument],
    *,
    store: str | Path,
    key: bytes,
    staging: str | Path,
    resume_within: dt.timedelta = dt.timedelta(hours=24),
    progress: Callable[[Deployment], None] | None = None,
) -> PullSummary:
    """Export, map and ingest the responses of the recorded surveys.

    Parameters
    ----------
    ls
        A connected :class:`LimeSurvey` (its session is renewed if it expires).
    deployments
        The surveys to pull (from the project's mapping file); retired ones are left out.
    instruments
        Instrument id -> instrument.
    store
        The DuckDB store.
    key
        Key of the pseudonymous ids.
    staging
        Folder that keeps fetched surveys between an interrupted pull and its retry.
    resume_within
        A retry considers surveys fetched at most this long ago (and reuses them only if
        the server confirms they are unchanged).
    progress
        Called with each deployment before it is fetched.

    Returns
    -------
    PullSummary

    Raises
    ------
    ServerMismatchError
        A survey was deployed on another server (URL or identity); nothing was fetched.
    PullInterruptedError
        The server stopped answering; nothing was ingested; a retry continues.
    LimeSurveyError
        The server refused a call (its words quoted); nothing was ingested.
    IngestError
        An export did not fit the recorded mapping; nothing was ingested.
    """
    staging = Path(staging)
    deployments = [d for d in deployments if not d.retired]
    check_server(deployments, ls.url)
    for d in deployments:
        if d.instrument not in instruments:
            raise SurveyStateError(
                f"survey {d.survey_id}: instrument {d.instrument!r} is not in this project's "
                "evalkit.yml", status="unknown instrument")
    fetched = 0

    def interrupted(exc: ServerUnavailableError, d: Deployment, doing: str
                    ) -> PullInterruptedError:
        kept = sum(1 for _ in staging.glob("*.json")) if staging.exists() else 0
        return PullInterruptedError(
            f"{exc}; stopped {doing} survey {d.survey_id} ({d.instrument}, {d.wave}), "
            f"{fetched} of {len(deployments)} surveys fetched. Nothing was ingested; {kept} "
            f"fetched survey(s) are kept in {staging} and the next `evalkit pull` reuses "
            "them if the server confirms they are unchanged", method=exc.method)

    # 1. Every survey checked against the server before anything is fetched.
    checked: list[tuple[Deployment, dict[str, Any]]] = []
    skipped: list[str] = []
    notes: list[str] = []
    for d in deployments:
        try:
            props, reason, unknown = _check(ls, d)
        except ServerUnavailableError as exc:
            raise interrupted(exc, d, "while checking") from None
        if props is None:
            skipped.append(str(reason))
            _staging_file(staging, d).unlink(missing_ok=True)
            continue
        if unknown:
            notes.append(f"{d.label}: {len(unknown)} question column(s) on the server that "
                         f"the recorded mapping of instrument {d.instrument!r} does not know, "
                         f"not pulled: {', '.join(unknown)}")
        checked.append((d, props))

    # 2. Fetch, or reuse a kept copy the server confirms.
    mapped: list[tuple[Deployment, MappedResponses, str]] = []
    for d, props in checked:
        path = _staging_file(staging, d)
        kept = _load_staged(path, d, resume_within) if path.exists() else None
        copy = "fetched"
        try:
            if kept is not None:
                staged, stamp = kept
                fields = _stamp_fields(props)
                if stamp is not None and fields is not None and _stamp(
                        ls.export_responses(d.survey_id, fields=fields), fields) == stamp:
                    mapped.append((d, staged, "reused"))
                    fetched += 1
                    continue
                copy = "refetched"
            if progress is not None:
                progress(d)
            result, stamp = _fetch(ls, d, instruments[d.instrument], key, props)
        except ServerUnavailableError as exc:
            raise interrupted(exc, d, "at") from None
        except (SurveyNotFoundError, SurveyStateError) as exc:
            # Deleted or deactivated between the check and the export.
            skipped.append(f"{d.label}: {exc.status or exc} during {exc.method}; skipped")
            path.unlink(missing_ok=True)
            continue
        _save_staged(path, d, result, stamp)
        mapped.append((d, result, copy))
        fetched += 1

    frames_r = [m.responses for _, m, _ in mapped if len(m.responses)]
    frames_a = [m.answers for _, m, _ in mapped if len(m.answers)]
    notes += [n for _, m, _ in mapped for n in m.notes]
    rows = [{"survey_id": d.survey_id, "instrument": d.instrument, "wave": d.wave,
             "site": d.site, "responses": len(m.responses),
             "complete": int(m.responses["complete"].sum()) if len(m.responses) else 0,
             "incomplete": int((~m.responses["complete"].astype(bool)).sum())
             if len(m.responses) else 0, "copy": copy, "resumed": copy == "reused"}
            for d, m, copy in mapped]
    surveys = pd.DataFrame(rows, columns=["survey_id", "instrument", "wave", "site",
                                          "responses", "complete", "incomplete", "copy",
                                          "resumed"])
    summary = None
    if frames_r:
        responses = pd.concat(frames_r, ignore_index=True)
        answers = (pd.concat(frames_a, ignore_index=True) if frames_a else
                   pd.DataFrame(columns=["response_id", "item", "value", "text"]))
        answers["text"] = answers["text"].astype(object).where(answers["text"].notna(), None)
        summary = ingest(
            store, Batch(responses=responses, answers=answers),
            source=f"limesurvey:{ls.url}", kind="limesurvey",
            personal_items={k: v.personal_items for k, v in instruments.items()},
            key_fingerprint=key_fingerprint(key),
            detail={"surveys": [int(d.survey_id) for d, _, _ in mapped],
                    "server": {"url": ls.url, "surveys": [
                        {"survey_id": int(d.survey_id), "origin": d.origin,
                         "survey_created": d.survey_created} for d, _, _ in mapped]},
                    "personal_answers_dropped": sum(m.personal_dropped for _, m, _ in mapped),
                    "resumed": [int(d.survey_id) for d, _, c in mapped if c == "reused"],
                    "refetched": [int(d.survey_id) for d, _, c in mapped if c == "refetched"],
                    "skipped": skipped})
        notes += _gone_from_server(store, mapped)
    for d, _, _ in mapped:
        _staging_file(staging, d).unlink(missing_ok=True)
        (staging / f"{d.survey_id}.json").unlink(missing_ok=True)  # older evalkit's name
    return PullSummary(surveys=surveys, ingest=summary, notes=tuple(notes),
                       skipped=tuple(skipped))


def _gone_from_server(store: str | Path,
                      mapped: Sequence[tuple[Deployment, MappedResponses, str]]) -> list[str]:
    notes = []
    for d, m, _ in mapped:
        stored = read_table(store, "SELECT response_id FROM responses WHERE "
                            "starts_with(response_id, ?)", [d.response_prefix])["response_id"]
        gone = set(stored) - set(m.responses["response_id"])
        if gone:
            notes.append(f"survey {d.survey_id}: {len(gone)} stored response(s) are no longer "
                         "on the server (deleted there); the store keeps them")
    return notes
