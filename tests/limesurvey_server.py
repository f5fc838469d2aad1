"""A stateful fake LimeSurvey RemoteControl 2 (JSON-RPC) server for the tests.

It keeps surveys, participants and responses in memory and answers over HTTP on
127.0.0.1 with exactly the shapes a real LimeSurvey 6.14 server gave in the recorded
fixtures (``tests/limesurvey/fixtures/``, README there): errors as HTTP 200 with
``{"result": {"status": "..."}}``; ids renumbered on import; base64 exports in the real
JSON and CSV dialects; session keys that expire; ``list_participants`` paging by ``tid``
(``iStart`` is a ``tid >=`` filter, ``iLimit`` defaults to 10); unknown methods and missing
parameters as HTTP 500 HTML pages; notifications (id null/0) as empty bodies.
``tests/limesurvey/test_fake_server.py`` replays the whole recorded session against it
and compares every answer.

Test controls: :meth:`FakeLimeSurvey.stop_answering` (drop connections or answer with an
HTML 500 from the n-th next call), :meth:`FakeLimeSurvey.expire_sessions`,
:meth:`FakeLimeSurvey.respond` (a respondent filling the survey on the web: tokens get
``completed``; anonymized surveys without date stamps get the 1980 submit date),
:meth:`FakeLimeSurvey.edit_response`, and what an administrator does in the web interface:
:meth:`FakeLimeSurvey.delete_survey`, :meth:`FakeLimeSurvey.deactivate_survey`,
:meth:`FakeLimeSurvey.add_question`, :meth:`FakeLimeSurvey.fail_emails` (no working mail
server). ``calls`` logs every method called; ``requests`` every (method, params).

Not recorded, modelled on the closest recorded shapes (say so where used):
- a deleted survey answers like a survey id that never existed (fixtures 10, 14, 76, 77);
- a deactivated survey answers like one never activated: ``active`` ``"N"`` (08) and
  ``No Data, survey table does not exist.`` on export (21);
- a question added in the web interface appears in ``list_questions`` / exports like the
  imported ones (12, 52);
- a failed invitation / reminder email: the row ``{"name", "email", "status": "fail",
  "error": <mailer message>}`` of LimeSurvey's ``emailTokens`` (application/helpers/
  admin/token_helper.php), inside the recorded-style ``{"status": "N left to send"}``
  envelope; the participant's ``sent`` / ``remindersent`` stay unchanged.

What it does not do (never used by evalkit): send real emails, quotas, statistics, file
uploads, PDF/XLS/DOC exports, conditions other than those in ``list_participants``.
"""

from __future__ import annotations

import base64
import datetime as dt
import inspect
import json
import random
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ENDPOINT = "/index.php/admin/remotecontrol"
ANONYMIZED_DATE = "1980-01-01 00:00:00"
_KEY_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789~_"
_TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_HTML_500 = (b"<!DOCTYPE html><html><head><title>500: Internal Server Error</title></head>"
             b"<body>[server's HTML error page elided]</body></html>")

# Survey properties in the order get_survey_properties returns them (fixture 07).
_SURVEY_PROPS: dict[str, Any] = {
    "sid": 0, "owner_id": 1, "gsid": 1, "admin": "", "active": "N", "expires": None,
    "startdate": None, "adminemail": "", "anonymized": "N", "format": "G", "savetimings": "N",
    "template": "fruity_twentythree", "language": "en", "additional_languages": "",
    "datestamp": "N", "usecookie": "N", "allowregister": "N", "allowsave": "Y",
    "autonumber_start": 0, "autoredirect": "N", "allowprev": "N", "printanswers": "N",
    "ipaddr": "N", "ipanonymize": "N", "refurl": "N", "datecreated": None,
    "showsurveypolicynotice": 0, "publicstatistics": "N", "publicgraphs": "N",
    "listpublic": "N", "htmlemail": "Y", "sendconfirmation": "N",
    "tokenanswerspersistence": "N", "assessments": "N", "usecaptcha": "N", "usetokens": "N",
    "bounce_email": "", "attributedescriptions": "", "emailresponseto": "",
    "emailnotificationto": "", "tokenlength": 15, "showxquestions": "Y",
    "showgroupinfo": "B", "shownoanswer": "Y", "showqnumcode": "X", "bouncetime": None,
    "bounceprocessing": "N", "bounceaccounttype": None, "bounceaccounthost": None,
    "bounceaccountpass": None, "bounceaccountencryption": None, "bounceaccountuser": None,
    "showwelcome": "Y", "showprogress": "Y", "questionindex": 0, "navigationdelay": 0,
    "nokeyboard": "N", "alloweditaftercompletion": "N", "googleanalyticsstyle": None,
    "googleanalyticsapikey": None, "tokenencryptionoptions": "",
}
_INT_PROPS = {"sid", "owner_id", "gsid", "autonumber_start", "showsurveypolicynotice",
              "tokenlength", "questionindex", "navigationdelay"}
# Participant columns in get_participant_properties order (fixture 39).
_TOKEN_COLUMNS = ("usesleft", "completed", "emailstatus", "tid", "participant_id",
                  "firstname", "lastname", "email", "token", "language", "blacklisted", "sent",
                  "remindersent", "remindercount", "validfrom", "validuntil", "mpid")
_FIXED = ("id", "submitdate", "lastpage", "startlanguage", "seed", "token", "startdate",
          "datestamp")
_FIXED_FULL = {"id": "Response ID", "submitdate": "Date submitted", "lastpage": "Last page",
               "startlanguage": "Start language", "seed": "Seed", "token": "Access code",
               "startdate": "Date started", "datestamp": "Date last action"}
_EMAIL_OK = "@"


class RPCFault(Exception):
    """Raised by a method to answer with the JSON-RPC ``error`` field."""


class HTML500(Exception):
    """Raised to answer with an HTTP 500 HTML page (PHP fatal error)."""


def _status(text: str) -> dict[str, str]:
    return {"status": text}


@dataclass
class Question:
    qid: int
    parent_qid: int
    gid: int
    type: str
    title: str
    question: str
    help: str
    other: str = "N"
    mandatory: str = "N"
    question_order: int = 0
    relevance: str = "1"
    theme: str | None = None
    preg: str = ""
    encrypted: str = "N"
    answers: list[dict[str, Any]] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class Survey:
    sid: int
    props: dict[str, Any]
    language_settings: dict[str, Any]
    groups: list[dict[str, Any]]
    questions: list[Question]
    tokens: list[dict[str, Any]] | None = None
    n_attributes: int = 0
    responses: dict[int, dict[str, Any]] | None = None  # None until activated
    next_rid: int = 1
    next_tid: int = 1

    @property
    def active(self) -> bool:
        return self.props["active"] == "Y"

    @property
    def anonymized(self) -> bool:
        return self.props["anonymized"] == "Y"

    @property
    def datestamp(self) -> bool:
        return self.props["datestamp"] == "Y"

    def parents(self) -> list[Question]:
        groups = {g["gid"]: g["group_order"] for g in self.groups}
        return sorted((q for q in self.questions if q.parent_qid == 0),
                      key=lambda q: (groups[q.gid], q.question_order))

    def children(self, qid: int) -> list[Question]:
        return sorted((q for q in self.questions if q.parent_qid == qid),
                      key=lambda q: q.question_order)

    def group(self, gid: int) -> dict[str, Any]:
        return next(g for g in self.groups if g["gid"] == gid)

    def columns(self) -> list[tuple[str, str, Question | None, Question | None]]:
        """(SGQA name, code heading, question, subquestion) of every response column."""
        out: list[tuple[str, str, Question | None, Question | None]] = []
        for name in _FIXED:
            if name == "token" and (self.anonymized or self.tokens is None):
                continue
            if name in ("startdate", "datestamp") and not self.datestamp:
                continue
            out.append((name, name, None, None))
        for q in self.parents():
            base = f"{self.sid}X{q.gid}X{q.qid}"
            subs = self.children(q.qid)
            if subs:
                out += [(base + s.title, f"{q.title}[{s.title}]", q, s) for s in subs]
                if q.other == "Y":
                    out.append((base + "other", f"{q.title}[other]", q, None))
            else:
                out.append((base, q.title, q, None))
        return out


class FakeLimeSurvey:
    """The in-memory server. ``start()`` returns the RemoteControl URL."""

    def __init__(self, *, user: str = "admin", password: str = "Admin-Pass-2024",
                 now: str = "2026-11-23 00:35:04", seed: int = 0,
                 session_ttl: float = 7200.0, max_emails: int = 50) -> None:
        self.user, self.password = user, password
        self.now = now
        self.rng = random.Random(seed)
        self.session_ttl = session_ttl
        self.max_emails = max_emails
        self.surveys: dict[int, Survey] = {}
        self.sessions: dict[str, float] = {}
        self.clock = 0.0  # seconds; advance() moves it
        self.calls: list[str] = []
        self.next_gid = 1
        self.next_qid = 1
        self.requests: list[tuple[str, Any]] = []
        self.email_failure: str | None = None  # fail_emails(): every email fails with this
        self.email_fail_tids: set[int] | None = None
        self._fail_after: int | None = None
        self._fail_mode = "drop"
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self.url = ""

    # HTTP ---------------------------------------------------------------------------------
    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each answer waits ~40 ms for a delayed ACK

            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                outcome = fake.handle(self.path, self.headers.get("Content-Type", ""), body)
                if outcome is None:  # stopped answering: drop the connection
                    self.close_connection = True
                    return
                status, ctype, payload = outcome
                self.send_response(status)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host}:{port}{ENDPOINT}"
        return self.url

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def handle(self, path: str, content_type: str, body: bytes
               ) -> tuple[int, str, bytes] | None:
        html = "text/html; charset=UTF-8"
        with self._lock:
            if self._fail_after is not None:
                if self._fail_after <= 0:
                    self.calls.append("<no answer>")
                    if self._fail_mode == "drop":
                        return None
                    return 500, html, _HTML_500
                self._fail_after -= 1
            if path != ENDPOINT:
                return 404, html, b"<html><body>Not found</body></html>"
            if "application/json" not in content_type:
                return 200, html, b""
            try:
                request = json.loads(body.decode("utf-8"))
                if not isinstance(request, dict):
                    raise ValueError
            except (ValueError, UnicodeDecodeError):
                return 200, "application/json", _encode(
                    {"id": None, "result": None, "error": "unable to decode malformed json"})
            method = request.get("method")
            params = request.get("params", [])
            rid = request.get("id")
            self.calls.append(str(method))
            self.requests.append((str(method), params))
            fn = getattr(self, f"rpc_{method}", None) if isinstance(method, str) else None
            if fn is None:
                return 500, html, _HTML_500
            try:
                result = _invoke(fn, params)
                error = None
            except HTML500:
                return 500, html, _HTML_500
            except RPCFault as fault:
                result, error = None, str(fault)
            if rid in (None, 0):  # a notification: the method ran, the body is empty
                return 200, html, b""
            streamed = method in ("export_responses", "export_responses_by_token") and (
                isinstance(result, str))
            return 200, "application/json", _encode({"id": rid, "result": result,
                                                     "error": error}, streamed=streamed)

    # Test controls ------------------------------------------------------------------------
    def stop_answering(self, after: int = 0, *, mode: str = "drop") -> None:
        """Answer ``after`` more calls, then drop connections (or send HTML 500s)."""
        with self._lock:
            self._fail_after = after
            self._fail_mode = mode

    def resume(self) -> None:
        with self._lock:
            self._fail_after = None

    def expire_sessions(self) -> None:
        """Move every session key past its expiry time."""
        with self._lock:
            self.clock += self.session_ttl + 1

    def survey(self, sid: int) -> Survey:
        return self.surveys[int(sid)]

    def respond(self, sid: int, answers: dict[str, str | None], *, token: str | None = None,
                complete: bool = True, submitdate: str | None = None,
                startdate: str | None = None, lastpage: int | None = None) -> int:
        """A respondent answers on the web; ``answers`` uses code headings (``G1[SQ001]``)."""
        with self._lock:
            s = self.survey(sid)
            if s.responses is None:
                raise RuntimeError(f"survey {sid} is not active")
            heading_to_sgqa = {code: sgqa for sgqa, code, _, _ in s.columns()}
            row = {sgqa: None for sgqa, *_ in s.columns()}
            for code, value in answers.items():
                row[heading_to_sgqa[code]] = value
            when = submitdate or self.now
            row.update(id=s.next_rid, lastpage=lastpage, startlanguage=s.props["language"],
                       seed=None)
            if not s.datestamp:
                row["submitdate"] = ANONYMIZED_DATE if complete else None
            else:
                row["submitdate"] = when if complete else None
                row["startdate"] = startdate or when
                row["datestamp"] = when
            if "token" in row:
                row["token"] = token
            if token and complete and s.tokens is not None:
                for t in s.tokens:
                    if t["token"] == token:
                        t["completed"] = when[:16] if s.datestamp else "Y"
                        t["usesleft"] = max(int(t["usesleft"]) - 1, 0)
            s.responses[s.next_rid] = row
            s.next_rid += 1
            return row["id"]

    def edit_response(self, sid: int, response_id: int, answers: dict[str, str | None]) -> None:
        """An administrator edits a stored response (code headings)."""
        with self._lock:
            s = self.survey(sid)
            heading_to_sgqa = {code: sgqa for sgqa, code, _, _ in s.columns()}
            row = s.responses[response_id]  # type: ignore[index]
            for code, value in answers.items():
                row[heading_to_sgqa[code]] = value
            if s.datestamp:
                row["datestamp"] = self.now

    def delete_survey(self, sid: int) -> None:
        """An administrator deletes a survey (not recorded: afterwards it answers like a
        survey id that never existed, fixtures 10, 14, 76, 77)."""
        with self._lock:
            del self.surveys[int(sid)]

    def deactivate_survey(self, sid: int) -> None:
        """An administrator deactivates a survey (not recorded: the responses table is
        archived, so it answers like a survey never activated, fixtures 08 and 21)."""
        with self._lock:
            s = self.survey(sid)
            s.props["active"] = "N"
            s.responses = None

    def add_question(self, sid: int, code: str, *, type: str = "T",  # noqa: A002
                     text: str = "Added on the server", subquestions: tuple[str, ...] = ()
                     ) -> None:
        """An administrator adds a question (or subquestions to array ``code``) to a survey,
        in its last group; its column appears in exports from then on (empty so far)."""
        with self._lock:
            s = self.survey(sid)
            parent = next((q for q in s.questions if q.title == code and q.parent_qid == 0),
                          None)
            if parent is None:
                gid = s.groups[-1]["gid"]
                order = 1 + max((q.question_order for q in s.questions
                                 if q.gid == gid and q.parent_qid == 0), default=-1)
                parent = Question(qid=self.next_qid, parent_qid=0, gid=gid, type=type,
                                  title=code, question=text, help="", question_order=order)
                self.next_qid += 1
                s.questions.append(parent)
            for sub in subquestions:
                order = len(s.children(parent.qid))
                s.questions.append(Question(qid=self.next_qid, parent_qid=parent.qid,
                                            gid=parent.gid, type=parent.type, title=sub,
                                            question=sub, help="", question_order=order))
                self.next_qid += 1
            for row in (s.responses or {}).values():
                for sgqa, *_ in s.columns():
                    row.setdefault(sgqa, None)

    def fail_emails(self, reason: str | None = "SMTP connect() failed.", *,
                    tids: set[int] | None = None) -> None:
        """Make invitation / reminder emails fail (all, or those of ``tids``) with
        ``reason`` as the mailer's message; ``None`` sends again."""
        with self._lock:
            self.email_failure = reason
            self.email_fail_tids = tids

    # Helpers ------------------------------------------------------------------------------
    def _check_key(self, key: object) -> dict[str, str] | None:
        expires = self.sessions.get(str(key))
        if expires is None or expires < self.clock:
            return _status("Invalid session key")
        return None

    def _get(self, sid: object) -> Survey | None:
        try:
            return self.surveys.get(int(sid))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None

    # Sessions -----------------------------------------------------------------------------
    def rpc_get_session_key(self, username, password, plugin="Authdb"):
        if username != self.user or password != self.password:
            return _status("Invalid user name or password")
        key = "".join(self.rng.choice(_KEY_ALPHABET) for _ in range(32))
        self.sessions[key] = self.clock + self.session_ttl
        return key

    def rpc_release_session_key(self, sSessionKey):
        self.sessions.pop(str(sSessionKey), None)
        return "OK"

    # Surveys ------------------------------------------------------------------------------
    def rpc_list_surveys(self, sSessionKey, sUsername=None, surveyGroupId=None):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        if not self.surveys:
            return _status("No surveys found")
        return [{"sid": s.sid, "gsid": s.props["gsid"],
                 "surveyls_title": s.language_settings["surveyls_title"],
                 "startdate": s.props["startdate"], "expires": s.props["expires"],
                 "active": s.props["active"]} for s in self.surveys.values()]

    def rpc_import_survey(self, sSessionKey, sImportData, sImportDataType, sNewSurveyName=None,
                          DestSurveyID=None):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        if sImportDataType != "lss":
            return _status("Invalid extension")
        try:
            root = ET.fromstring(base64.b64decode(sImportData))
        except (ValueError, ET.ParseError):
            return _status("Error: Could not import survey")
        sid = self._new_sid(DestSurveyID, root)
        survey = self._load_lss(root, sid)
        if sNewSurveyName:
            survey.language_settings["surveyls_title"] = sNewSurveyName
        self.surveys[sid] = survey
        return sid

    def _new_sid(self, wanted: object, root: ET.Element) -> int:
        candidates = []
        if wanted not in (None, ""):
            candidates.append(int(wanted))  # type: ignore[arg-type]
        else:
            row = root.find("surveys/rows/row")
            if row is not None and row.findtext("sid"):
                candidates.append(int(row.findtext("sid") or 0))
        for c in candidates:
            if c not in self.surveys and 100000 <= c <= 999999:
                return c
        while True:
            c = self.rng.randint(100000, 999999)
            if c not in self.surveys:
                return c

    def _load_lss(self, root: ET.Element, sid: int) -> Survey:
        def rows(section: str) -> list[dict[str, str]]:
            sec = root.find(section)
            if sec is None or sec.find("rows") is None:
                return []
            return [{c.tag: c.text or "" for c in r} for r in sec.find("rows")]  # type: ignore[union-attr]

        language = (root.findtext("languages/language") or "en").strip()
        survey_row = (rows("surveys") or [{}])[0]
        props = dict(_SURVEY_PROPS)
        for key, value in survey_row.items():
            if key in props and key not in ("sid", "active"):
                props[key] = (int(value) if key in _INT_PROPS and value != "" else
                              (value if value != "" or key in ("additional_languages",
                               "attributedescriptions", "emailresponseto",
                               "emailnotificationto", "tokenencryptionoptions", "admin",
                               "adminemail", "bounce_email") else None))
        props.update(sid=sid, active="N", datecreated=self.now, language=language)
        ls_row = (rows("surveys_languagesettings") or [{}])[0]
        language_settings = {
            "surveyls_title": ls_row.get("surveyls_title", ""),
            "surveyls_description": ls_row.get("surveyls_description", ""),
            "surveyls_welcometext": ls_row.get("surveyls_welcometext", ""),
            "surveyls_endtext": ls_row.get("surveyls_endtext", ""),
            "surveyls_url": ls_row.get("surveyls_url", ""),
            "surveyls_urldescription": ls_row.get("surveyls_urldescription", ""),
            "surveyls_dateformat": int(ls_row.get("surveyls_dateformat") or 1),
            "surveyls_numberformat": int(ls_row.get("surveyls_numberformat") or 0),
        }
        gid_map: dict[str, int] = {}
        groups = []
        g_l10n = {r["gid"]: r for r in rows("group_l10ns")}
        for i, g in enumerate(rows("groups"), start=1):
            gid_map[g["gid"]] = self.next_gid
            l10n = g_l10n.get(g["gid"], {})
            groups.append({"id": self.next_gid, "gid": self.next_gid, "sid": sid,
                           "group_order": int(g.get("group_order") or i - 1),
                           "randomization_group": g.get("randomization_group", ""),
                           "grelevance": g.get("grelevance") or "1",
                           "group_name": l10n.get("group_name", ""),
                           "description": l10n.get("description", ""), "language": language})
            self.next_gid += 1
        q_l10n = {r["qid"]: r for r in rows("question_l10ns")}
        qid_map: dict[str, int] = {}
        questions: list[Question] = []
        for section in ("questions", "subquestions"):
            for r in rows(section):
                qid_map[r["qid"]] = self.next_qid
                l10n = q_l10n.get(r["qid"], {})
                questions.append(Question(
                    qid=self.next_qid, parent_qid=int(r.get("parent_qid") or 0),
                    gid=gid_map[r["gid"]], type=r["type"], title=r["title"],
                    question=l10n.get("question", ""), help=l10n.get("help", ""),
                    other=r.get("other") or "N", mandatory=r.get("mandatory") or "N",
                    question_order=int(r.get("question_order") or 0),
                    relevance=r.get("relevance") or "1",
                    theme=r.get("question_theme_name") or None, preg=r.get("preg", ""),
                    encrypted=r.get("encrypted") or "N"))
                self.next_qid += 1
        for q in questions:
            if q.parent_qid:
                q.parent_qid = qid_map[str(q.parent_qid)]
        by_qid = {q.qid: q for q in questions}
        a_l10n = {r["aid"]: r for r in rows("answer_l10ns")}
        for a in rows("answers"):
            q = by_qid[qid_map[a["qid"]]]
            q.answers.append({"code": a["code"], "answer": a_l10n.get(a["aid"], {}).get(
                "answer", ""), "assessment_value": int(a.get("assessment_value") or 0),
                "scale_id": int(a.get("scale_id") or 0), "order": int(a.get("sortorder") or 0)})
        for a in rows("question_attributes"):
            by_qid[qid_map[a["qid"]]].attributes[a["attribute"]] = a["value"]
        return Survey(sid=sid, props=props, language_settings=language_settings, groups=groups,
                      questions=questions)

    def rpc_get_survey_properties(self, sSessionKey, iSurveyID, aSurveySettings=None):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("Error: Invalid survey ID")
        if not aSurveySettings:
            return dict(s.props)
        return {k: s.props[k] for k in aSurveySettings if k in s.props}

    def rpc_get_language_properties(self, sSessionKey, iSurveyID, aSurveyLocaleSettings=None,
                                    sLang=None):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("Error: Invalid survey ID")
        if sLang not in (None, s.props["language"]):
            return _status("Error: Invalid language")
        props = s.language_settings
        if not aSurveyLocaleSettings:
            return dict(props)
        return {k: props[k] for k in aSurveyLocaleSettings if k in props}

    def rpc_activate_survey(self, sSessionKey, iSurveyID, aUserData=None):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("Error: Invalid survey ID")
        if s.active:
            return _status("Error: Survey already active")
        s.props["active"] = "Y"
        s.responses = {}
        return {"status": "OK", "pluginFeedback": None, "isAllowRegister": False}

    def rpc_activate_tokens(self, sSessionKey, iSurveyID, aAttributeFields=None):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("Error: Invalid survey ID")
        if s.tokens is None:
            s.tokens = []
            s.n_attributes = max([int(a) for a in (aAttributeFields or [])] or [0])
        return _status("OK")

    def rpc_get_summary(self, sSessionKey, iSurveyID, sStatName="all"):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("Invalid surveyid")
        if not s.active:
            return []
        out: dict[str, int] = {}
        if s.tokens is not None:
            t = s.tokens
            out.update(token_count=len(t),
                       token_invalid=sum(1 for x in t if x["emailstatus"] != "OK"),
                       token_sent=sum(1 for x in t if x["sent"] != "N"),
                       token_opted_out=sum(1 for x in t if x["emailstatus"] == "OptOut"),
                       token_completed=sum(1 for x in t if x["completed"] != "N"),
                       token_screenout=0)
        done = sum(1 for r in (s.responses or {}).values() if r["submitdate"] is not None)
        out.update(completed_responses=done,
                   incomplete_responses=len(s.responses or {}) - done,
                   full_responses=len(s.responses or {}))
        if sStatName != "all":
            if sStatName not in out:
                return _status("No such property")
            return out[sStatName]
        return out

    # Structure ----------------------------------------------------------------------------
    def rpc_list_groups(self, sSessionKey, iSurveyID, sLanguage=None):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("Error: Invalid survey ID")
        return [dict(g) for g in s.groups]

    def _question_row(self, s: Survey, q: Question) -> dict[str, Any]:
        return {"id": q.qid, "question": q.question, "help": q.help,
                "language": s.props["language"], "qid": q.qid, "parent_qid": q.parent_qid,
                "sid": s.sid, "type": q.type, "title": q.title, "preg": q.preg,
                "other": q.other, "mandatory": q.mandatory, "encrypted": q.encrypted,
                "question_order": q.question_order, "scale_id": 0, "same_default": 0,
                "question_theme_name": q.theme if q.parent_qid == 0 else None,
                "modulename": "", "gid": q.gid, "relevance": q.relevance, "same_script": 0}

    def rpc_list_questions(self, sSessionKey, iSurveyID, iGroupID=None, sLanguage=None):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("Error: Invalid survey ID")
        if iGroupID is None:
            groups = {g["gid"]: g["group_order"] for g in s.groups}
            ordered = sorted(s.questions, key=lambda q: (groups[q.gid], q.question_order, q.qid))
        else:
            ordered = sorted((q for q in s.questions if q.gid == int(iGroupID)),
                             key=lambda q: (q.parent_qid, q.question_order, q.qid))
        if not ordered:
            return _status("No questions found")
        return [self._question_row(s, q) for q in ordered]

    def rpc_get_question_properties(self, sSessionKey, iQuestionID, aQuestionSettings=None,
                                    sLanguage=None):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        for s in self.surveys.values():
            for q in s.questions:
                if q.qid == int(iQuestionID):
                    return self._question_properties(s, q, aQuestionSettings)
        return _status("Error: Invalid questionid")

    def _question_properties(self, s: Survey, q: Question, wanted: list[str] | None
                             ) -> dict[str, Any]:
        subs = s.children(q.qid)
        props: dict[str, Any] = {
            "qid": q.qid, "parent_qid": q.parent_qid, "sid": s.sid, "gid": q.gid,
            "type": q.type, "title": q.title, "preg": q.preg, "other": q.other,
            "mandatory": q.mandatory, "encrypted": q.encrypted,
            "question_order": q.question_order, "scale_id": 0, "same_default": 0,
            "relevance": q.relevance, "question_theme_name": q.theme, "modulename": "",
            "same_script": 0, "question": q.question, "help": q.help, "script": "",
            "questionl10ns": {"id": q.qid, "qid": q.qid, "question": q.question,
                              "help": q.help, "script": "", "language": s.props["language"]},
            "available_answers": ({x.title: x.question for x in subs} if subs else
                                  {a["code"]: a["answer"] for a in q.answers}
                                  or "No available answers"),
            "subquestions": ({str(x.qid): {"title": x.title, "question": x.question,
                                           "scale_id": 0} for x in subs}
                             or "No available answers"),
            "attributes": dict(q.attributes), "attributes_lang": {},
            "answeroptions": ({a["code"]: {k: a[k] for k in ("answer", "assessment_value",
                                                             "scale_id", "order")}
                               for a in q.answers} or "No available answer options"),
            "defaultvalue": None,
        }
        if wanted:
            return {k: props[k] for k in wanted if k in props}
        return props

    def rpc_get_fieldmap(self, sSessionKey, iSurveyID):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("Error: Invalid survey ID")
        out: dict[str, dict[str, Any]] = {}
        for name in _FIXED:
            if name == "token" and (s.anonymized or s.tokens is None):
                continue
            if name in ("startdate", "datestamp") and not s.datestamp:
                continue
            entry = {"fieldname": name, "sid": s.sid, "type": name}
            if name in ("submitdate", "startdate", "datestamp"):
                entry = {"fieldname": name, "type": name, "sid": s.sid}
            entry.update(gid="", qid="", aid="", title="", question=_FIXED_FULL[name],
                         group_name="")
            out[name] = entry
        group_seq = {g["gid"]: i for i, g in enumerate(sorted(s.groups,
                                                             key=lambda g: g["group_order"]))}
        for seq, q in enumerate(s.parents()):
            base = f"{s.sid}X{q.gid}X{q.qid}"
            common = {"group_name": s.group(q.gid)["group_name"], "mandatory": q.mandatory,
                      "encrypted": q.encrypted, "hasconditions": "N",
                      "usedinconditions": "N", "questionSeq": seq,
                      "groupSeq": group_seq[q.gid]}
            tail = {"relevance": q.relevance, "grelevance": s.group(q.gid)["grelevance"],
                    "other": q.other, "help": q.help}
            subs = s.children(q.qid)
            if not subs:
                out[base] = {"fieldname": base, "type": q.type, "sid": s.sid, "gid": q.gid,
                             "qid": q.qid, "aid": "", "title": q.title,
                             "question": q.question, **common, "relevance": q.relevance,
                             "grelevance": tail["grelevance"], "preg": q.preg,
                             "other": q.other, "help": q.help}
                continue
            for i, sq in enumerate(subs):
                name = base + sq.title
                entry = {"fieldname": name, "type": q.type, "sid": s.sid, "gid": q.gid,
                         "qid": q.qid, "aid": sq.title, "sqid": sq.qid, "title": q.title,
                         "question": q.question, "subquestion": sq.question, **common,
                         "preg": q.preg, "SQrelevance": sq.relevance}
                if i == len(subs) - 1 and q.other != "Y":
                    entry.update(tail)
                out[name] = entry
            if q.other == "Y":
                name = base + "other"
                out[name] = {"fieldname": name, "type": q.type, "sid": s.sid, "gid": q.gid,
                             "qid": q.qid, "aid": "other", "title": q.title,
                             "question": q.question, "subquestion": "Other", **common,
                             "other": "Y", "relevance": q.relevance,
                             "grelevance": tail["grelevance"], "preg": q.preg, "help": q.help}
        return out

    # Participants -------------------------------------------------------------------------
    def _token_row(self, s: Survey, t: dict[str, Any]) -> dict[str, Any]:
        out = {k: t.get(k) for k in _TOKEN_COLUMNS}
        out["tid"] = int(t["tid"])
        for i in range(1, s.n_attributes + 1):
            out[f"attribute_{i}"] = t.get(f"attribute_{i}")
        return out

    def rpc_add_participants(self, sSessionKey, iSurveyID, aParticipantData,
                             bCreateToken=True):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("Error: Invalid survey ID")
        if s.tokens is None:
            return _status("No survey participants table")
        out = []
        for given in aParticipantData:
            given = dict(given)
            email = str(given.get("email", ""))
            if email and (_EMAIL_OK not in email or email.startswith("@")):
                out.append({**given, "errors": {"email": ["Invalid email address."]}})
                continue
            row: dict[str, Any] = {"sent": "N", "remindersent": "N", "remindercount": 0,
                                   "completed": "N", "usesleft": 1, "emailstatus": "OK"}
            row.update(given)
            if bCreateToken:
                row["token"] = "".join(self.rng.choice(_TOKEN_ALPHABET)
                                       for _ in range(int(s.props["tokenlength"])))
            row.setdefault("language", "")
            row.update(tid=str(s.next_tid), participant_id=None, blacklisted=None,
                       validfrom=None, validuntil=None, mpid=None)
            for i in range(1, s.n_attributes + 1):
                row.setdefault(f"attribute_{i}", None)
            stored = {k: row.get(k) for k in _TOKEN_COLUMNS}
            stored.update({k: v for k, v in row.items() if k.startswith("attribute_")})
            stored["tid"] = s.next_tid
            for k in ("firstname", "lastname", "email", "token"):
                stored[k] = stored.get(k) or ""
            s.tokens.append(stored)
            s.next_tid += 1
            out.append(row)
        return out

    def rpc_list_participants(self, sSessionKey, iSurveyID, iStart=0, iLimit=10,
                              bUnused=False, aAttributes=False, aConditions=None):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("Error: Invalid survey ID")
        if s.tokens is None:
            return _status("Error: No survey participants table")
        rows = [t for t in s.tokens if t["tid"] >= int(iStart or 0)]
        if bUnused:
            rows = [t for t in rows if t["completed"] == "N"]
        for column, cond in (aConditions or {}).items():
            rows = [t for t in rows if _matches(t.get(column), cond)]
        rows = sorted(rows, key=lambda t: t["tid"])[: int(iLimit)]
        if not rows:
            return _status("No survey participants found.")
        out = []
        for t in rows:
            row = {"tid": t["tid"], "token": t["token"],
                   "participant_info": {"firstname": t["firstname"], "lastname": t["lastname"],
                                        "email": t["email"]}}
            for attr in aAttributes or []:
                row[attr] = t.get(attr)
            out.append(row)
        return out

    def _find_token(self, s: Survey, query: Any) -> dict[str, Any] | None:
        if isinstance(query, dict):
            for t in s.tokens or []:
                if all(str(t.get(k)) == str(v) for k, v in query.items()):
                    return t
            return None
        for t in s.tokens or []:
            if t["tid"] == int(query):
                return t
        return None

    def rpc_get_participant_properties(self, sSessionKey, iSurveyID, aTokenQueryProperties,
                                       aTokenProperties=None):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("Error: Invalid survey ID")
        if s.tokens is None:
            return _status("Error: No survey participants table")
        t = self._find_token(s, aTokenQueryProperties)
        if t is None:
            return _status("Error: No results were found based on your attributes.")
        row = self._token_row(s, t)
        if aTokenProperties:
            return {k: v for k, v in row.items() if k in aTokenProperties}
        return row

    def rpc_set_participant_properties(self, sSessionKey, iSurveyID, aTokenQueryProperties,
                                       aTokenData):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("Error: Invalid survey ID")
        t = self._find_token(s, aTokenQueryProperties)
        if t is None:
            return _status("Error: No results were found based on your attributes.")
        t.update(aTokenData)
        return self._token_row(s, t)

    def _send(self, s: Survey, candidates: list[dict[str, Any]], kind: str
              ) -> dict[str, Any]:
        batch = candidates[: self.max_emails]
        out: dict[str, Any] = {}
        for t in batch:
            if self.email_failure is not None and (
                    self.email_fail_tids is None or t["tid"] in self.email_fail_tids):
                # Not recorded: emailTokens' failure row; the participant stays unsent.
                out[str(t["tid"])] = {"name": f"{t['firstname']} {t['lastname']}",
                                      "email": t["email"], "status": "fail",
                                      "error": self.email_failure}
                continue
            if kind == "invite":
                t["sent"] = self.now[:16]
            else:
                t["remindersent"] = self.now[:16]
                t["remindercount"] = int(t["remindercount"]) + 1
            out[str(t["tid"])] = {"name": f"{t['firstname']} {t['lastname']}".strip(),
                                  "email": t["email"], "status": "OK"}
        out["status"] = f"{len(candidates) - len(batch)} left to send"
        return out

    def rpc_invite_participants(self, sSessionKey, iSurveyID, aTokenIds=None, bEmail=True,
                                continueOnError=False):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("Error: Invalid survey ID")
        if s.tokens is None:
            return _status("Error: No survey participants table")
        ids = {int(i) for i in aTokenIds} if aTokenIds else None
        candidates = [t for t in s.tokens if t["sent"] == "N" and t["completed"] == "N"
                      and t["emailstatus"] == "OK" and t["email"]
                      and (ids is None or t["tid"] in ids)]
        if not candidates:
            return _status("Error: No candidate tokens")
        return self._send(s, candidates, "invite")

    def rpc_remind_participants(self, sSessionKey, iSurveyID, iMinDaysBetween=None,
                                iMaxReminders=None, aTokenIds=False, continueOnError=False):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("Error: Invalid survey ID")
        if s.tokens is None:
            return _status("Error: No survey participants table")
        ids = {int(i) for i in aTokenIds} if aTokenIds else None
        candidates = [t for t in s.tokens if t["sent"] != "N" and t["completed"] == "N"
                      and t["emailstatus"] == "OK" and t["email"]
                      and (iMaxReminders in (None, 0)
                           or int(t["remindercount"]) < int(iMaxReminders))
                      and (ids is None or t["tid"] in ids)]
        if not candidates:
            return _status("Error: No candidate tokens")
        return self._send(s, candidates, "remind")

    # Responses ----------------------------------------------------------------------------
    def rpc_add_response(self, sSessionKey, iSurveyID, aResponseData):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("Error: Invalid survey ID")
        if s.responses is None:
            raise RPCFault("CDbCommand failed to execute the SQL statement: SQLSTATE[42S02]: "
                           "Base table or view not found: 1146 Table "
                           f"'limesurvey.lime_survey_{s.sid}' doesn't exist")
        row: dict[str, Any] = {sgqa: None for sgqa, *_ in s.columns()}
        for key, value in aResponseData.items():
            if key in row and key != "id":
                row[key] = value
        for key in ("submitdate", "startdate", "datestamp"):
            if key not in row:
                continue
            if key not in aResponseData:
                row[key] = self.now
            elif aResponseData[key] == "":
                row[key] = None
        if row.get("startlanguage") in (None, ""):
            row["startlanguage"] = s.props["language"]
        if row.get("lastpage") is not None:
            row["lastpage"] = int(row["lastpage"])
        row["id"] = s.next_rid
        s.responses[s.next_rid] = row
        s.next_rid += 1
        return str(row["id"])

    def rpc_delete_response(self, sSessionKey, iSurveyID, iResponseID):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("Error: Invalid survey ID")
        if s.responses is None or int(iResponseID) not in s.responses:
            return _status("Response Id not found")
        del s.responses[int(iResponseID)]
        return {str(iResponseID): "deleted"}

    def rpc_get_response_ids(self, sSessionKey, iSurveyID, sToken):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("Error: Invalid survey ID")
        return [rid for rid, r in (s.responses or {}).items() if r.get("token") == sToken]

    def rpc_export_responses(self, sSessionKey, iSurveyID, sDocumentType, sLanguageCode=None,
                             sCompletionStatus="all", sHeadingType="code",
                             sResponseType="short", iFromResponseID=None, iToResponseID=None,
                             aFields=None, aAdditionalOptions=None):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("No permission")
        return self._export(s, None, sDocumentType, sLanguageCode, sCompletionStatus,
                            sHeadingType, sResponseType, iFromResponseID, iToResponseID,
                            aFields, aAdditionalOptions)

    def rpc_export_responses_by_token(self, sSessionKey, iSurveyID, sDocumentType, sToken,
                                      sLanguageCode=None, sCompletionStatus="all",
                                      sHeadingType="code", sResponseType="short",
                                      iFromResponseID=None, iToResponseID=None, aFields=None,
                                      aAdditionalOptions=None):
        if (bad := self._check_key(sSessionKey)) is not None:
            return bad
        s = self._get(iSurveyID)
        if s is None:
            return _status("No permission")
        tokens = [sToken] if isinstance(sToken, str) else list(sToken)
        if isinstance(sToken, str) and not any(
                r.get("token") == sToken for r in (s.responses or {}).values()):
            return _status("No Response found for Token")
        return self._export(s, tokens, sDocumentType, sLanguageCode, sCompletionStatus,
                            sHeadingType, sResponseType, iFromResponseID, iToResponseID,
                            aFields, aAdditionalOptions)

    def _export(self, s: Survey, tokens: list[str] | None, doc_type: str,
                language: str | None, completion: str, heading: str, response: str,
                first: Any, last: Any, fields: list[str] | None,
                options: dict[str, Any] | None) -> Any:
        if language not in (None, "") and language != s.props["language"]:
            return _status("Language code not found for this survey.")
        if doc_type not in ("json", "csv"):
            raise RPCFault(f"Writer for {doc_type} should implement IWriter")
        if s.responses is None:
            return _status("No Data, survey table does not exist.")
        if not s.responses:
            return _status("No Data, could not get max id.")
        if heading not in ("code", "full", "abbreviated"):
            heading = "code"
        columns = s.columns()
        if fields:
            by_name = {c[0]: c for c in columns}
            columns = [by_name[f] for f in fields if f in by_name]
        rows = []
        for rid in sorted(s.responses):
            r = s.responses[rid]
            if completion == "complete" and r["submitdate"] is None:
                continue
            if completion == "incomplete" and r["submitdate"] is not None:
                continue
            if first not in (None, "") and rid < int(first):
                continue
            if last not in (None, "") and rid > int(last):
                continue
            if tokens is not None and r.get("token") not in tokens:
                continue
            rows.append(r)
        headings = [_heading(c, heading) for c in columns]
        records = []
        for r in rows:
            values = [_value(r.get(sgqa), q, sq, sgqa, response, options)
                      for sgqa, _, q, sq in columns]
            records.append(list(zip(headings, values, strict=True)))
        if doc_type == "json":
            text = '{"responses": [' + ",".join(
                _php_json(dict(rec)) for rec in records) + "]}"
            return base64.b64encode(text.encode("utf-8")).decode()
        lines = [";".join(_csv(h) for h in headings)]
        for rec in records:
            lines.append(";".join(_csv(None if v is None else str(v)) for _, v in rec))
        text = "\ufeff" + "\r\n".join(lines) + "\r\n\r\n"
        return base64.b64encode(text.encode("utf-8")).decode()


def _matches(value: Any, cond: Any) -> bool:
    if isinstance(cond, list) and cond:
        op, args = str(cond[0]).upper(), cond[1:]
        if op == "IN":
            return str(value) in [str(a) for a in args]
        a = args[0] if args else None
        ops: dict[str, Callable[[Any, Any], bool]] = {
            "=": lambda x, y: str(x) == str(y), "<>": lambda x, y: str(x) != str(y),
            "<": lambda x, y: str(x) < str(y), ">": lambda x, y: str(x) > str(y),
            "<=": lambda x, y: str(x) <= str(y), ">=": lambda x, y: str(x) >= str(y),
            "LIKE": lambda x, y: str(y).strip("%") in str(x)}
        return ops[op](value, a)
    return str(value) == str(cond)


def _abbreviate(text: str) -> str:
    return text if len(text) <= 15 else text[:15] + ".. "


def _heading(column: tuple[str, str, Question | None, Question | None], kind: str) -> str:
    sgqa, code, q, sq = column
    if kind == "code" or q is None:
        return code if kind == "code" else _FIXED_FULL[sgqa]
    shorten = _abbreviate if kind == "abbreviated" else (lambda t: t)
    if code.endswith("[other]"):
        return f"{shorten(q.question)} [Other]"
    if sq is not None:
        return f"{shorten(q.question)} [{shorten(sq.question)}]"
    return shorten(q.question)


def _value(value: Any, q: Question | None, sq: Question | None, sgqa: str, response: str,
           options: dict[str, Any] | None) -> Any:
    if q is None:
        return value
    options = options or {}
    if response == "long":
        if q.type in ("L", "!", "O") and value is not None:
            return next((a["answer"] for a in q.answers if a["code"] == value), value)
        if q.type in ("F", "H", "A", "B", "C", "E"):
            if value is None:
                return ""
            return next((a["answer"] for a in q.answers if a["code"] == value), value)
        if q.type == "M" and not sgqa.endswith("other"):
            return {"Y": "Yes", "": "No"}.get(value, "N/A") if value is not None else "N/A"
        if q.type == "Y":
            return {"Y": "Yes", "N": "No"}.get(value, "N/A") if value is not None else "N/A"
        return value
    if options.get("convertY") and value == "Y" and q.type in ("M", "Y"):
        return str(options.get("yValue", "1"))
    if options.get("convertN") and q.type in ("M", "Y") and value in ("N", "") and not (
            sgqa.endswith("other")):
        return str(options.get("nValue", "0"))
    return value


def _csv(value: str | None) -> str:
    if value is None:
        return ""
    return '"' + value.replace('"', '""') + '"'


def _php_json(obj: Any) -> str:
    """JSON as PHP's json_encode writes it: compact, \\uXXXX escapes, escaped slashes."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")


def _encode(envelope: dict[str, Any], *, streamed: bool = False) -> bytes:
    if streamed:  # the export writer's spacing (fixtures 52-70)
        return (f'{{"id":{json.dumps(envelope["id"])}, "result":'
                f'{json.dumps(envelope["result"])}, "error":null}}').encode()
    return _php_json(envelope).encode()


def _invoke(fn: Callable[..., Any], params: Any) -> Any:
    """Call ``fn`` like PHP's call_user_func_array: positional list or named object."""
    sig = inspect.signature(fn)
    try:
        if isinstance(params, dict):
            bound = sig.bind(**params)
        elif isinstance(params, list):
            n = len(sig.parameters)
            bound = sig.bind(*params[:n])  # PHP ignores extra arguments
        else:
            raise HTML500
    except TypeError:
        raise HTML500 from None  # ArgumentCountError: an HTML error page
    return fn(*bound.args, **bound.kwargs)


def started(**kwargs: Any) -> FakeLimeSurvey:
    """A started server (stop it with ``.stop()``)."""
    server = FakeLimeSurvey(**kwargs)
    server.start()
    return server


def now_text(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S")
