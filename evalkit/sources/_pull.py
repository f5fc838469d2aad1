"""Pull responses from LimeSurvey into the store: all-or-nothing, incremental, resumable.

A pull exports every recorded survey (complete and incomplete responses, completion kept
as a flag), maps the columns back to item codes and ingests everything in one transaction.
Re-pulling unchanged data adds nothing (the store recognises the batch by its hash); a
response edited on the server is updated and counted in provenance.

If the server stops answering half-way, nothing is ingested. The surveys fetched so far
are kept - already pseudonymised, without personal items - in ``.evalkit/pull/`` under
the project, and the next pull (within ``resume_within``) fetches only the rest.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evalkit.instruments import Instrument
from evalkit.sources._errors import (
    PullInterruptedError,
    ServerUnavailableError,
    SurveyStateError,
)
from evalkit.sources._limesurvey import LimeSurvey
from evalkit.sources._mapping import ATTRIBUTES, Deployment, MappedResponses, map_responses
from evalkit.store import Batch, IngestSummary, ingest, read_table

__all__ = ["PullSummary", "pull"]

_STAGING_VERSION = 1


@dataclass(frozen=True)
class PullSummary:
    """What a pull did.

    ``surveys``: one row per survey (survey_id, instrument, wave, site, responses,
    complete, incomplete, resumed); ``ingest``: the store's summary (``skipped`` when
    nothing changed since the last pull); ``notes``: responses left out, responses gone
    from the server.
    """

    surveys: pd.DataFrame
    ingest: IngestSummary | None
    notes: tuple[str, ...]

    @property
    def responses(self) -> int:
        return int(self.surveys["responses"].sum()) if len(self.surveys) else 0


def _staging_file(folder: Path, deployment: Deployment) -> Path:
    return folder / f"{deployment.survey_id}.json"


def _save_staged(path: Path, deployment: Deployment, mapped: MappedResponses) -> None:
    responses = mapped.responses.copy()
    responses["submitted_at"] = responses["submitted_at"].map(
        lambda t: None if t is None or pd.isna(t) else pd.Timestamp(t).isoformat())
    payload = {
        "version": _STAGING_VERSION, "survey_id": deployment.survey_id, "url": deployment.url,
        "fetched_at": dt.datetime.now(dt.UTC).isoformat(),
        "responses": responses.to_dict("records"),
        "answers": mapped.answers.astype(object).where(mapped.answers.notna(), None)
        .to_dict("records"),
        "personal_dropped": mapped.personal_dropped, "notes": list(mapped.notes)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def _load_staged(path: Path, deployment: Deployment, max_age: dt.timedelta
                 ) -> MappedResponses | None:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        fetched = dt.datetime.fromisoformat(payload["fetched_at"])
    except (OSError, ValueError, KeyError):
        return None
    if (payload.get("version") != _STAGING_VERSION or payload.get("url") != deployment.url
            or dt.datetime.now(dt.UTC) - fetched > max_age):
        return None
    responses = pd.DataFrame(payload["responses"],
                             columns=["response_id", "instrument", "wave", "site_id",
                                      "respondent_id", "submitted_at", "complete"])
    responses["submitted_at"] = pd.to_datetime(responses["submitted_at"])
    answers = pd.DataFrame(payload["answers"], columns=["response_id", "item", "value", "text"])
    return MappedResponses(responses=responses, answers=answers,
                           personal_dropped=int(payload.get("personal_dropped", 0)),
                           notes=tuple(payload.get("notes", ())))


def _fetch(ls: LimeSurvey, deployment: Deployment, instrument: Instrument, key: bytes
           ) -> MappedResponses:
    sid = deployment.survey_id
    props = ls.survey_properties(sid, ["active", "anonymized"])
    if props.get("active") != "Y":
        raise SurveyStateError(f"LimeSurvey survey {sid} ({deployment.instrument}, "
                               f"{deployment.wave}) is not active; activate it or deploy again",
                               method="get_survey_properties", status="not active")
    anonymized = props.get("anonymized") == "Y"
    records = ls.export_responses(sid)
    participants: dict[str, dict[str, str]] = {}
    if records and deployment.tokens and not anonymized:
        for p in ls.list_participants(sid, attributes=list(ATTRIBUTES)):
            participants[p["token"]] = {role: p.get(attr) or "" for attr, role in
                                        ATTRIBUTES.items()}
    return map_responses(records, deployment, instrument, key=key, participants=participants,
                         anonymized=anonymized)


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
        The surveys to pull (from the project's mapping file).
    instruments
        Instrument id -> instrument.
    store
        The DuckDB store.
    key
        Key of the pseudonymous ids.
    staging
        Folder that keeps fetched surveys between an interrupted pull and its retry.
    resume_within
        A retry reuses surveys fetched at most this long ago.
    progress
        Called with each deployment before it is fetched.

    Returns
    -------
    PullSummary

    Raises
    ------
    PullInterruptedError
        The server stopped answering; nothing was ingested; a retry continues.
    LimeSurveyError
        The server refused a call (its words quoted); nothing was ingested.
    IngestError
        An export did not fit the recorded mapping; nothing was ingested.
    """
    staging = Path(staging)
    mapped: list[tuple[Deployment, MappedResponses, bool]] = []
    for i, deployment in enumerate(deployments):
        if deployment.instrument not in instruments:
            raise SurveyStateError(
                f"survey {deployment.survey_id}: instrument {deployment.instrument!r} is not "
                "in this project's evalkit.yml", status="unknown instrument")
        path = _staging_file(staging, deployment)
        staged = _load_staged(path, deployment, resume_within) if path.exists() else None
        if staged is not None:
            mapped.append((deployment, staged, True))
            continue
        if progress is not None:
            progress(deployment)
        try:
            result = _fetch(ls, deployment, instruments[deployment.instrument], key)
        except ServerUnavailableError as exc:
            kept = sum(1 for _ in staging.glob("*.json")) if staging.exists() else 0
            raise PullInterruptedError(
                f"{exc}; stopped at survey {deployment.survey_id} ({deployment.instrument}, "
                f"{deployment.wave}), {i} of {len(deployments)} surveys fetched. Nothing was "
                f"ingested; {kept} fetched survey(s) are kept in {staging} and the next "
                "`evalkit pull` continues from where this one stopped",
                method=exc.method) from None
        _save_staged(path, deployment, result)
        mapped.append((deployment, result, False))
    frames_r = [m.responses for _, m, _ in mapped if len(m.responses)]
    frames_a = [m.answers for _, m, _ in mapped if len(m.answers)]
    notes = [n for _, m, _ in mapped for n in m.notes]
    rows = [{"survey_id": d.survey_id, "instrument": d.instrument, "wave": d.wave,
             "site": d.site, "responses": len(m.responses),
             "complete": int(m.responses["complete"].sum()) if len(m.responses) else 0,
             "incomplete": int((~m.responses["complete"].astype(bool)).sum())
             if len(m.responses) else 0, "resumed": resumed} for d, m, resumed in mapped]
    surveys = pd.DataFrame(rows, columns=["survey_id", "instrument", "wave", "site",
                                          "responses", "complete", "incomplete", "resumed"])
    summary = None
    if frames_r:
        responses = pd.concat(frames_r, ignore_index=True)
        answers = (pd.concat(frames_a, ignore_index=True) if frames_a else
                   pd.DataFrame(columns=["response_id", "item", "value", "text"]))
        answers["text"] = answers["text"].astype(object).where(answers["text"].notna(), None)
        urls = sorted({d.url for d, _, _ in mapped})
        summary = ingest(
            store, Batch(responses=responses, answers=answers),
            source=f"limesurvey:{','.join(urls)}", kind="limesurvey",
            personal_items={k: v.personal_items for k, v in instruments.items()},
            detail={"surveys": [int(d.survey_id) for d, _, _ in mapped],
                    "personal_answers_dropped": sum(m.personal_dropped for _, m, _ in mapped),
                    "resumed": [int(d.survey_id) for d, _, r in mapped if r]})
        notes += _gone_from_server(store, mapped)
    for deployment, _, _ in mapped:
        _staging_file(staging, deployment).unlink(missing_ok=True)
    return PullSummary(surveys=surveys, ingest=summary, notes=tuple(notes))


def _gone_from_server(store: str | Path,
                      mapped: Sequence[tuple[Deployment, MappedResponses, bool]]) -> list[str]:
    notes = []
    for d, m, _ in mapped:
        prefix = f"limesurvey:{d.survey_id}:"
        stored = read_table(store, "SELECT response_id FROM responses WHERE "
                            "starts_with(response_id, ?)", [prefix])["response_id"]
        gone = set(stored) - set(m.responses["response_id"])
        if gone:
            notes.append(f"survey {d.survey_id}: {len(gone)} stored response(s) are no longer "
                         "on the server (deleted there); the store keeps them")
    return notes
