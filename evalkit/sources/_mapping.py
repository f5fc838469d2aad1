"""The instrument-to-survey mapping: how LimeSurvey's columns map back to instrument items.

``evalkit surveys deploy`` plans a LimeSurvey question for every item (Likert items that
share a scale and domain become one array question, ``G1[SQ001]`` ...), writes the plan
into the project file ``limesurvey.yml`` together with the survey id the server gave, and
``evalkit pull`` reads the same record to turn an export back into item codes and values.
The file is plain YAML meant to be committed with the project: it is the only place that
knows that column ``sharedaim[SQ002]`` of survey 246810 is item ``PSA02``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from evalkit._yaml import load_model
from evalkit.errors import ConfigError, IngestError
from evalkit.instruments import Instrument, Item, parse_condition
from evalkit.sources._identity import normalize_code, pseudonym

__all__ = [
    "MAPPING_FILE",
    "QuestionMap",
    "Deployment",
    "Deployments",
    "load_deployments",
    "save_deployments",
    "plan_questions",
    "relevance",
    "map_responses",
    "MappedResponses",
    "origin_tag",
]

#: The project file (next to ``evalkit.yml``) that records every deployed survey.
MAPPING_FILE = "limesurvey.yml"

#: Participant attributes evalkit creates in each survey's participants table.
ATTRIBUTES = {"attribute_1": "site", "attribute_2": "wave", "attribute_3": "org",
              "attribute_4": "role"}

#: Submit date LimeSurvey writes into anonymized surveys without date stamps.
ANONYMIZED_DATE = "1980-01-01 00:00:00"

QuestionType = Literal["F", "L", "M", "N", "T", "D"]
# Response-table columns of every survey and ExpressionScript's own variable names: never
# used as question codes (compared case-insensitively).
_RESERVED = {"id", "token", "submitdate", "lastpage", "startlanguage", "seed", "startdate",
             "datestamp", "ipaddr", "refurl", "lang", "sid", "savedid", "qid", "gid", "sgq",
             "this", "self", "that"}
_LS_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,19}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuestionMap(_Strict):
    """One LimeSurvey question and the instrument item(s) behind it.

    ``role``: ``item`` (answers are stored), ``site`` (the respondent's site, in open
    surveys), ``linkage`` (the self-generated code; hashed into the respondent id, never
    stored). ``item`` names the item of a one-column question; ``subquestions`` maps each
    subquestion code to the stored item (``PSA01``, ``contact[S01-O02]``, ``tools[2]``);
    ``answers`` maps answer codes to values; ``sites`` answer codes to site ids.
    """

    code: str = Field(pattern=_LS_CODE.pattern)
    type: QuestionType
    role: Literal["item", "site", "linkage"] = "item"
    item: str | None = None
    subquestions: dict[str, str] = {}
    answers: dict[str, float] = {}
    sites: dict[str, str] = {}

    def columns(self) -> dict[str, str]:
        """Export heading -> stored item (``sharedaim[SQ001]`` -> ``PSA01``)."""
        if self.subquestions:
            return {f"{self.code}[{sq}]": item for sq, item in self.subquestions.items()}
        return {self.code: self.item or self.code}


def origin_tag(url: str, survey_id: int, created: str) -> str:
    """The short tag that keeps one server's survey apart from another's with the same id.

    A plain hash of the server URL at deployment, the survey id and the survey's
    creation time as the server reported it (``datecreated``); it goes into response ids
    (``limesurvey:<tag>:<survey id>:<response id>``) and does not change when the project
    moves to a new server address (``evalkit surveys move-server``).
    """
    return hashlib.sha256(f"{url}|{survey_id}|{created}".encode()).hexdigest()[:10]


class Deployment(_Strict):
    """One instrument deployed as one LimeSurvey survey (for one wave, optionally one site).

    ``url`` is the server the survey lives on now; ``survey_created`` its ``datecreated`` as
    that server returned it (``get_survey_properties``): with the survey id, the server's
    own identity of the survey, checked on every pull. ``origin`` tags the response ids;
    ``moved_from`` lists earlier server URLs; ``status`` is ``retired`` once the deployment
    was ended on purpose (``evalkit surveys retire``): kept here, never pulled again.
    """

    survey_id: int
    instrument: str
    version: str
    wave: str
    site: str | None = None
    url: str = ""
    survey_created: str | None = None
    origin: str | None = None
    moved_from: tuple[str, ...] = ()
    status: Literal["active", "retired"] = "active"
    retired_at: dt.datetime | None = None
    title: str
    anonymized: bool = False
    tokens: bool = True
    deployed_at: dt.datetime
    questions: tuple[QuestionMap, ...] = Field(min_length=1)
    participants: dict[str, int] = {}  # site -> participants registered (participants add)

    @property
    def retired(self) -> bool:
        return self.status == "retired"

    @property
    def label(self) -> str:
        """``survey 246810 (partnership, baseline, S01)``, as messages name a survey."""
        what = ", ".join(x for x in (self.instrument, self.wave, self.site) if x)
        return f"survey {self.survey_id} ({what})"

    @property
    def response_prefix(self) -> str:
        """Start of this survey's response ids: ``limesurvey:<origin>:<survey id>:``.

        Deployments recorded before evalkit kept server identities have no origin; their
        ids stay ``limesurvey:<survey id>:`` so responses already stored keep their ids.
        """
        if self.origin:
            return f"limesurvey:{self.origin}:{self.survey_id}:"
        return f"limesurvey:{self.survey_id}:"

    @model_validator(mode="after")
    def _unique_codes(self) -> Deployment:
        seen: set[str] = set()
        for i, q in enumerate(self.questions):
            if q.code in seen:
                raise ValueError(f"questions[{i}].code: duplicate question code {q.code!r}")
            seen.add(q.code)
        return self

    def columns(self) -> dict[str, QuestionMap]:
        """Export heading -> the question it belongs to."""
        return {col: q for q in self.questions for col in q.columns()}


class Deployments(_Strict):
    deployments: tuple[Deployment, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> Deployments:
        seen: set[tuple[str, int]] = set()
        for i, d in enumerate(self.deployments):
            if (d.url, d.survey_id) in seen:
                raise ValueError(f"deployments[{i}].survey_id: survey {d.survey_id} is "
                                 "recorded twice")
            seen.add((d.url, d.survey_id))
        return self

    def find(self, *, instrument: str | None = None, wave: str | None = None,
             site: str | None = None, retired: bool = False) -> list[Deployment]:
        """Deployments of an instrument / wave / site; retired ones only if ``retired``."""
        return [d for d in self.deployments
                if (retired or not d.retired)
                and (instrument is None or d.instrument == instrument)
                and (wave is None or d.wave == wave)
                and (site is None or d.site in (None, site))]

    def replace(self, deployment: Deployment) -> Deployments:
        """A copy with ``deployment`` added, or put in place of the same survey's record."""
        same = (deployment.url, deployment.survey_id)
        if any((d.url, d.survey_id) == same for d in self.deployments):
            return Deployments(deployments=tuple(
                deployment if (d.url, d.survey_id) == same else d for d in self.deployments))
        return Deployments(deployments=(*self.deployments, deployment))


def load_deployments(path: str | Path) -> Deployments:
    """Read the mapping file; a missing file means nothing was deployed yet."""
    path = Path(path)
    if not path.exists():
        return Deployments()
    return load_model(path, Deployments)


def save_deployments(path: str | Path, deployments: Deployments) -> None:
    """Write the mapping file atomically (a temporary file renamed into place)."""
    path = Path(path)
    data = deployments.model_dump(mode="json", exclude_defaults=False)
    for d in data["deployments"]:
        for key in ("survey_created", "origin", "retired_at"):
            if d[key] is None:
                del d[key]
        if not d["moved_from"]:
            del d["moved_from"]
        for q in d["questions"]:
            for key in ("subquestions", "answers", "sites"):
                if not q[key]:
                    del q[key]
            if q["item"] is None:
                del q["item"]
            if q["role"] == "item":
                del q["role"]
    header = ("# Written by `evalkit surveys deploy|retire|move-server` and `evalkit participants\n"
              "# add`: which LimeSurvey survey on which server holds which instrument and wave,\n"
              "# and how its columns map back to item codes. Commit it with the project; do not\n"
              "# edit by hand.\n")
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True,
                                           width=100), encoding="utf-8")
    tmp.replace(path)


# Planning ---------------------------------------------------------------------------------
def _ls_code(text: str, taken: set[str]) -> str:
    """A LimeSurvey question code (letters and digits, starts with a letter, <= 20 chars)."""
    base = re.sub(r"[^A-Za-z0-9]", "", text) or "Q"
    if not base[0].isalpha():
        base = "Q" + base
    base = base[:18]
    code, n = base, 1
    while code.lower() in taken:
        n += 1
        code = f"{base}{n}"
    taken.add(code.lower())
    return code


def answer_code(value: int) -> str:
    """LimeSurvey answer code of a numeric response code (``4`` -> ``A4``, ``-1`` -> ``AN1``)."""
    return f"A{value}" if value >= 0 else f"AN{-value}"


def plan_questions(instrument: Instrument, *, organizations: Sequence[str] = (),
                   sites: Sequence[str] = ()) -> tuple[QuestionMap, ...]:
    """Lay out an instrument as LimeSurvey questions.

    Parameters
    ----------
    instrument
        The instrument to deploy.
    organizations
        Organization ids: the rows of every ``rating_grid`` item (a network survey is
        deployed per site, its rows being that site's organizations).
    sites
        Site ids for an open (anonymized) survey serving several sites: a first question
        asks the respondent's site.

    Returns
    -------
    tuple of QuestionMap
        In survey order. Consecutive Likert items with the same response scale and domain,
        no skip condition, become one array question with subquestions ``SQ001`` ...
    """
    taken: set[str] = set(_RESERVED)
    out: list[QuestionMap] = []
    if sites:
        out.append(QuestionMap(code=_ls_code("SITE", taken), type="L", role="site",
                               sites={f"A{i}": s for i, s in enumerate(sites, start=1)}))
    items = list(instrument.items)
    i = 0
    while i < len(items):
        item = items[i]
        if item.type == "likert" and item.shown_if is None:
            run = [item]
            while (i + len(run) < len(items) and items[i + len(run)].type == "likert"
                   and items[i + len(run)].shown_if is None
                   and items[i + len(run)].response_scale == item.response_scale
                   and items[i + len(run)].domain == item.domain):
                run.append(items[i + len(run)])
            if len(run) > 1:
                codes = instrument.answer_codes(item.code) or {}
                out.append(QuestionMap(
                    code=_ls_code(item.domain or "likert", taken), type="F",
                    subquestions={f"SQ{k:03d}": it.code for k, it in enumerate(run, start=1)},
                    answers={answer_code(c): float(c) for c in codes}))
                i += len(run)
                continue
        out.append(_single_question(instrument, item, taken, organizations))
        i += 1
    return tuple(out)


def _single_question(instrument: Instrument, item: Item, taken: set[str],
                     organizations: Sequence[str]) -> QuestionMap:
    code = _ls_code(item.code, taken)
    codes = instrument.answer_codes(item.code) or {}
    answers = {answer_code(c): float(c) for c in codes}
    if item.type in ("likert", "single"):
        return QuestionMap(code=code, type="L", item=item.code, answers=answers)
    if item.type == "multiple":
        return QuestionMap(code=code, type="M", subquestions={
            f"SQ{opt:03d}" if opt >= 0 else f"SQN{-opt:02d}": f"{item.code}[{opt}]"
            for opt in codes})
    if item.type == "rating_grid":
        if not organizations:
            raise ConfigError(
                f"instrument {instrument.id!r}: item {item.code!r} is a rating grid whose rows "
                "are the site's organizations; deploy it for one site with its organizations")
        return QuestionMap(code=code, type="F", answers=answers, subquestions={
            f"SQ{k:03d}": f"{item.code}[{org}]" for k, org in enumerate(organizations, 1)})
    role = "linkage" if item.code == instrument.linkage_code else "item"
    kind = {"numeric": "N", "text": "T", "date": "D"}[item.type]
    return QuestionMap(code=code, type=kind, item=item.code, role=role)  # type: ignore[arg-type]


def relevance(instrument: Instrument, item_code: str,
              questions: Sequence[QuestionMap]) -> str:
    """The LimeSurvey relevance equation of an item's skip condition (``"1"`` if none).

    ``language == 3`` becomes ``language == "A3"``; comparisons with ``<``/``>`` on coded
    items become a set of ``==`` (answer codes are strings in ExpressionScript).
    """
    item = instrument.item(item_code)
    if item.shown_if is None:
        return "1"
    variable: dict[str, str] = {}
    for q in questions:
        for sq, stored in q.subquestions.items():
            variable[stored] = f"{q.code}_{sq}"
        if q.item:
            variable[q.item] = q.code
    alternatives = []
    for alt in parse_condition(item.shown_if):
        terms = []
        for cond in alt:
            name = variable[cond.item]
            codes = instrument.answer_codes(cond.item)
            if codes is None:
                terms.append(f"{name} {cond.op} {cond.value:g}")
                continue
            ok = [c for c in sorted(codes) if cond.holds(float(c))]
            terms.append("(" + " or ".join(f'{name} == "{answer_code(c)}"' for c in ok) + ")"
                         if ok else "0")
        alternatives.append(" and ".join(terms))
    return " or ".join(f"({a})" if len(alternatives) > 1 else a for a in alternatives)


# Mapping back -----------------------------------------------------------------------------
class MappedResponses(BaseModel):
    """Rows for the store from one survey's export.

    ``responses``: response_id, instrument, wave, site_id, respondent_id, submitted_at,
    complete. ``answers``: response_id, item, value, text. ``notes``: what was left out.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    responses: pd.DataFrame
    answers: pd.DataFrame
    personal_dropped: int = 0
    notes: tuple[str, ...] = ()


def _date(value: str | None, *, anonymized: bool) -> pd.Timestamp | None:
    if value in (None, "") or (anonymized and value == ANONYMIZED_DATE):
        return None
    try:
        return pd.Timestamp(value)
    except ValueError:
        return None


def map_responses(
    records: Sequence[Mapping[str, Any]],
    deployment: Deployment,
    instrument: Instrument,
    *,
    key: bytes,
    participants: Mapping[str, Mapping[str, str]] | None = None,
    anonymized: bool | None = None,
) -> MappedResponses:
    """Turn exported records (question-code headings, answer codes) into store rows.

    Parameters
    ----------
    records
        From :meth:`LimeSurvey.export_responses`.
    deployment
        The recorded mapping of this survey.
    instrument
        The instrument (its personal items are dropped here).
    key
        Key of the pseudonymous ids (:func:`~evalkit.sources.id_key`).
    participants
        Token -> participant attributes (``site``, ``wave``, ``org``) from the survey's
        participants table.
    anonymized
        Whether the server keeps responses unlinked from tokens (defaults to the record).

    Returns
    -------
    MappedResponses
        Respondent ids are keyed hashes of the token or, in anonymized surveys, of the
        self-generated code; tokens, codes and personal items never appear.

    Raises
    ------
    IngestError
        A column of the recorded mapping is missing from the export, or an answer code is
        not one the mapping knows (the survey was edited after deployment).
    """
    anonymized = deployment.anonymized if anonymized is None else anonymized
    participants = participants or {}
    sid = deployment.survey_id
    columns = deployment.columns()
    personal = instrument.personal_items
    known_items = {i.code for i in instrument.items}
    for q in deployment.questions:
        for stored in q.columns().values():
            if q.role == "item" and stored.split("[")[0] not in known_items:
                raise IngestError(
                    f"survey {sid}: the mapping names item {stored!r}, which instrument "
                    f"{instrument.id!r} version {instrument.version} does not have")
    if records:
        missing = [c for c in columns if c not in records[0]]
        if missing:
            raise IngestError(
                f"survey {sid}: the export lacks column(s) {missing[:5]} of the recorded "
                f"mapping ({MAPPING_FILE}); was the survey edited after it was deployed?")
    resp_rows: list[dict[str, Any]] = []
    ans_rows: list[dict[str, Any]] = []
    dropped = 0
    no_site = 0
    for rec in records:
        rid = f"{deployment.response_prefix}{rec['id']}"
        token = rec.get("token") if not anonymized else None
        person = participants.get(token or "", {})
        site = deployment.site or person.get("site") or None
        linkage: str | None = None
        for q in deployment.questions:
            if q.role == "site":
                code = rec.get(q.code)
                if code not in (None, ""):
                    if code not in q.sites:
                        raise IngestError(f"survey {sid} response {rec['id']}: column "
                                          f"{q.code!r}: {code!r} is not one of {sorted(q.sites)}")
                    site = site or q.sites[code]
            elif q.role == "linkage":
                value = rec.get(q.code)
                if value not in (None, "") and normalize_code(value):
                    linkage = normalize_code(value)
        if site is None:
            no_site += 1
            continue
        if token:
            respondent = (person["org"] if instrument.respondent == "organization"
                          and person.get("org") else pseudonym("token", token, key=key))
        elif linkage:
            respondent = pseudonym("sgic", linkage, key=key, scope=site)
        else:
            respondent = None
        resp_rows.append({
            "response_id": rid, "instrument": instrument.id, "wave": deployment.wave,
            "site_id": site, "respondent_id": respondent,
            "submitted_at": _date(rec.get("submitdate"), anonymized=anonymized),
            "complete": rec.get("submitdate") not in (None, ""),
        })
        for q in deployment.questions:
            if q.role != "item":
                continue
            rows = _decode(q, rec, rid, sid, respondent_org=person.get("org"))
            kept = [r for r in rows if r["item"].split("[")[0] not in personal]
            dropped += len(rows) - len(kept)
            ans_rows.extend(kept)
    notes = []
    if no_site:
        notes.append(f"survey {sid}: {no_site} response(s) left out because their site is "
                     "unknown (no participant record and no site answer)")
    responses = pd.DataFrame(resp_rows, columns=["response_id", "instrument", "wave", "site_id",
                                                 "respondent_id", "submitted_at", "complete"])
    answers = pd.DataFrame(ans_rows, columns=["response_id", "item", "value", "text"])
    return MappedResponses(responses=responses, answers=answers, personal_dropped=dropped,
                           notes=tuple(notes))


def _decode(q: QuestionMap, rec: Mapping[str, Any], rid: str, sid: int, *,
            respondent_org: str | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def bad(col: str, value: object, expected: str) -> IngestError:
        return IngestError(f"survey {sid} response {rec['id']}: column {col!r}: {value!r} is "
                           f"not {expected} (recorded in {MAPPING_FILE})")

    if q.type == "M":
        ticked = {col: rec.get(col) == "Y" for col in q.columns()}
        if any(ticked.values()):
            out.extend({"response_id": rid, "item": item, "value": 1.0 if ticked[col] else 0.0,
                        "text": None} for col, item in q.columns().items())
        return out
    for col, item in q.columns().items():
        value = rec.get(col)
        if value is None or value == "":
            continue
        if q.type in ("F", "L"):
            if item.endswith(f"[{respondent_org}]"):
                continue  # an organization does not rate itself
            if value not in q.answers:
                raise bad(col, value, f"one of the answer codes {sorted(q.answers)}")
            out.append({"response_id": rid, "item": item, "value": q.answers[value],
                        "text": None})
        elif q.type == "N":
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise bad(col, value, "a number") from None
            out.append({"response_id": rid, "item": item, "value": number, "text": None})
        elif q.type == "D":
            text = str(value)
            out.append({"response_id": rid, "item": item, "value": None,
                        "text": text[:10] if text.endswith(" 00:00:00") else text})
        else:
            out.append({"response_id": rid, "item": item, "value": None, "text": str(value)})
    return out
