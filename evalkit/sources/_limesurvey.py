"""The LimeSurvey RemoteControl 2 operations evalkit needs, over an injected ``citric`` client.

:class:`LimeSurvey` is the seam: it takes a ready :class:`citric.Client` (or anything with
the same methods and a ``session``) and turns what the server answers into Python values
and typed errors. The real server reports most failures as HTTP 200 with
``{"result": {"status": "..."}}``; those become :class:`LimeSurveyError` subclasses whose
message quotes the server's words. Statuses that only mean "nothing there yet" (no surveys,
no participants, no responses) become empty results.

Examples
--------
Connecting needs a server; tests pass a client talking to a local fake one::

    ls = connect("https://surveys.example.org/index.php/admin/remotecontrol", "evaluator",
                 password_from_env())
    ls.list_surveys()
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import requests

from evalkit.errors import ConfigError
from evalkit.sources._errors import (
    AuthenticationError,
    LimeSurveyError,
    ServerUnavailableError,
    SessionExpiredError,
    SurveyNotFoundError,
    SurveyStateError,
)

__all__ = ["PASSWORD_ENV", "LimeSurvey", "Invitations", "ServerMismatchError", "connect",
           "password_from_env", "same_url"]

#: The environment variable holding the LimeSurvey password.
PASSWORD_ENV = "EVALKIT_LIMESURVEY_PASSWORD"

T = TypeVar("T")

# Statuses seen on a real LimeSurvey 6.14 server (tests/limesurvey/fixtures/README.md).
_AUTH = {"Invalid user name or password"}
_SESSION = {"Invalid session key"}
_NOT_FOUND = {"Error: Invalid survey ID", "Invalid surveyid", "No permission"}
_STATE = {"No Data, survey table does not exist.", "Error: No survey participants table",
          "No survey response table", "Error: Survey already active",
          "Error: Survey not active"}
_NO_PARTICIPANTS = "No survey participants found."
_NO_RESPONSES = "No Data, could not get max id."
_NO_SURVEYS = "No surveys found"
_NO_CANDIDATES = "Error: No candidate tokens"
_LEFT_TO_SEND = re.compile(r"^(-?\d+) left to send$")


class ServerMismatchError(LimeSurveyError):
    """The server is not the one a survey was deployed on (another URL, or another survey
    under the same id); nothing was pulled."""


def same_url(a: str, b: str) -> bool:
    """Whether two RemoteControl URLs name the same endpoint (trailing slash aside)."""
    return a.rstrip("/") == b.rstrip("/")


def password_from_env(env: str = PASSWORD_ENV) -> str:
    """The LimeSurvey password from environment variable ``env``."""
    value = os.environ.get(env)
    if not value:
        raise ConfigError(f"environment variable {env}: expected the LimeSurvey password, "
                          "got nothing (set it in the shell that runs evalkit)")
    return value


class _TimeoutSession(requests.Session):
    """A requests session whose calls give up after ``timeout`` seconds (citric sets none)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self._timeout)
        return super().request(*args, **kwargs)


def _status(result: object) -> str | None:
    """The status string of a status payload, or None for a data result / plain OK."""
    if isinstance(result, dict) and isinstance(result.get("status"), str):
        status = result["status"]
        return None if status == "OK" else status
    return None


def _error_for(method: str, status: str, context: str = "") -> LimeSurveyError:
    where = f"LimeSurvey {method}{context}"
    if status in _AUTH:
        return AuthenticationError(
            f"{where}: {status} (user name from evalkit.yml limesurvey.user, password from "
            f"{PASSWORD_ENV})", method=method, status=status)
    if status in _SESSION:
        return SessionExpiredError(f"{where}: {status}", method=method, status=status)
    if status in _NOT_FOUND:
        hint = " (the survey does not exist, or this user may not read it)" if (
            status == "No permission") else ""
        return SurveyNotFoundError(f"{where}: {status}{hint}", method=method, status=status)
    if status in _STATE:
        return SurveyStateError(f"{where}: {status}", method=method, status=status)
    return LimeSurveyError(f"{where}: {status}", method=method, status=status)


def _transport_error(method: str, url: str, exc: BaseException) -> LimeSurveyError:
    """Translate what citric / requests raise when the server does not answer properly."""
    from citric import exceptions as cx

    where = f"LimeSurvey at {url}" if url else "LimeSurvey"
    if isinstance(exc, requests.HTTPError):
        code = exc.response.status_code if exc.response is not None else "?"
        return ServerUnavailableError(
            f"{where} answered {method} with HTTP {code} and an error page instead of JSON "
            "(unknown method, wrong parameters or a server fault)", method=method)
    if isinstance(exc, requests.Timeout):
        return ServerUnavailableError(f"{where} did not answer {method} in time",
                                      method=method)
    if isinstance(exc, requests.RequestException):
        return ServerUnavailableError(
            f"{where} stopped answering during {method} ({type(exc).__name__})", method=method)
    if isinstance(exc, cx.RPCInterfaceNotEnabledError | cx.InvalidJSONResponseError):
        return ServerUnavailableError(
            f"{where} answered {method} with an empty or non-JSON body; is the JSON-RPC "
            "interface enabled (Global settings > Interfaces > RPC interface: JSON-RPC)?",
            method=method)
    if isinstance(exc, cx.ResponseMismatchError):
        return ServerUnavailableError(f"{where}: {exc}", method=method)
    if isinstance(exc, cx.LimeSurveyStatusError):
        return _error_for(method, str(exc))
    if isinstance(exc, cx.LimeSurveyApiError):
        return LimeSurveyError(f"LimeSurvey {method}: {exc}", method=method, status=str(exc))
    raise exc


def connect(url: str, user: str, password: str, *, timeout: float = 60.0,
            requests_session: requests.Session | None = None) -> LimeSurvey:
    """Log in to a LimeSurvey server and return a :class:`LimeSurvey`.

    Parameters
    ----------
    url
        The RemoteControl endpoint, ``https://host/index.php/admin/remotecontrol``.
    user, password
        LimeSurvey credentials (the password from :func:`password_from_env`).
    timeout
        Seconds to wait for each answer.
    requests_session
        A ``requests.Session`` to send calls through (tests pass one with a replay adapter).

    Raises
    ------
    AuthenticationError
        Wrong user name or password (the server's words are quoted).
    ServerUnavailableError
        Nothing, or no JSON-RPC, answers at ``url``.
    """

    def login() -> Any:
        from citric import Client
        from citric import exceptions as cx

        try:
            return Client(url, user, password,
                          requests_session=requests_session or _TimeoutSession(timeout))
        except (requests.RequestException, cx.LimeSurveyError, cx.ResponseMismatchError) as exc:
            raise _transport_error("get_session_key", url, exc) from None

    return LimeSurvey(login(), reconnect=login, url=url)


@dataclass(frozen=True)
class Invitations:
    """What an ``invite_participants`` / ``remind_participants`` call did.

    ``sent``: emails sent now; ``failed``: participant tid -> the server's reason;
    ``left``: emails the server still has to send (it sends in batches; call again).
    """

    sent: int
    failed: dict[int, str]
    left: int


class LimeSurvey:
    """RC2 calls with typed errors, over an injected citric client (the seam).

    Parameters
    ----------
    client
        A logged-in :class:`citric.Client`.
    reconnect
        Makes a new logged-in client; called once when the session key has expired, then the
        call is repeated. Without it an expired session raises :class:`SessionExpiredError`.
    url
        Shown in error messages.
    page_size
        Rows per ``list_participants`` call (the server's default is 10).
    """

    def __init__(self, client: Any, *, reconnect: Callable[[], Any] | None = None,
                 url: str = "", page_size: int = 500) -> None:
        self._client = client
        self._reconnect = reconnect
        self.url = url
        self.page_size = page_size
        self.relogins = 0

    # Plumbing ----------------------------------------------------------------------------
    def close(self) -> None:
        """Release the session key (errors while closing are ignored)."""
        try:
            self._client.close()
        except Exception:  # noqa: BLE001 - closing must never hide the real outcome
            pass

    def __enter__(self) -> LimeSurvey:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, fn: Callable[[Any], T], context: str = "") -> T:
        """Run ``fn(client)``; translate failures; log in again once on an expired session."""
        from citric import exceptions as cx

        for attempt in (0, 1):
            try:
                result = fn(self._client)
            except (requests.RequestException, cx.LimeSurveyError,
                    cx.ResponseMismatchError) as exc:
                error = _transport_error(method, self.url, exc)
                if isinstance(error, LimeSurveyError) and error.status:
                    error = _error_for(method, error.status, context)
            else:
                return result
            if isinstance(error, SessionExpiredError) and self._reconnect and attempt == 0:
                self._client = self._reconnect()
                self.relogins += 1
                continue
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def call(self, method: str, *params: Any, context: str = "") -> Any:
        """Call any RC2 ``method`` through citric's session and return the raw ``result``.

        For the calls citric does not wrap, or wraps with a status handling that does not fit
        (``invite_participants``, ``remind_participants``): a status payload is returned, not
        raised, except for the statuses that are plainly errors (wrong login, expired
        session, unknown survey, survey not in the needed state). The session key is added.
        """

        def run(client: Any) -> Any:
            from citric import exceptions as cx

            answer = client.session.call(method, *params)
            if answer.get("error") is not None:
                raise cx.LimeSurveyApiError(str(answer["error"]))
            status = _status(answer.get("result"))
            if status in _AUTH | _SESSION | _NOT_FOUND | _STATE:
                raise cx.LimeSurveyStatusError(status)
            return answer.get("result")

        return self._call(method, run, context)

    @staticmethod
    def _survey(survey_id: int) -> str:
        return f" (survey {survey_id})"

    # Surveys -----------------------------------------------------------------------------
    def list_surveys(self) -> list[dict[str, Any]]:
        """Every survey the user can see (``[]`` when the server says ``No surveys found``)."""
        try:
            return list(self._call("list_surveys", lambda c: c.list_surveys()))
        except LimeSurveyError as exc:
            if exc.status == _NO_SURVEYS:
                return []
            raise

    def survey_properties(self, survey_id: int, names: Sequence[str]) -> dict[str, Any]:
        """Selected properties of a survey (``active``, ``anonymized``, ``datestamp``...)."""
        return dict(self._call("get_survey_properties",
                               lambda c: c.get_survey_properties(survey_id, list(names)),
                               self._survey(survey_id)))

    def import_survey(self, lss: bytes, *, title: str, survey_id: int | None = None) -> int:
        """Import a ``.lss`` survey structure; returns the id the server gave the survey."""
        import io

        new_id = self._call("import_survey", lambda c: c.import_survey(
            io.BytesIO(lss), "lss", title, survey_id))
        return int(new_id)

    def question_columns(self, survey_id: int) -> list[str]:
        """Export headings of every question on the server (``CODE``, ``CODE[SQ001]``,
        ``CODE[other]``), from ``list_questions`` (subquestions are rows with a parent)."""
        rows = self._call("list_questions", lambda c: c.list_questions(survey_id),
                          self._survey(survey_id))
        parents = [r for r in rows if int(r.get("parent_qid") or 0) == 0]
        children: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            if int(r.get("parent_qid") or 0):
                children.setdefault(int(r["parent_qid"]), []).append(r)
        out: list[str] = []
        for q in parents:
            subs = children.get(int(q["qid"]), [])
            if subs:
                out += [f"{q['title']}[{s['title']}]" for s in subs]
                if q.get("other") == "Y":
                    out.append(f"{q['title']}[other]")
            else:
                out.append(str(q["title"]))
        return out

    def question_codes(self, survey_id: int) -> list[str]:
        """Codes (``title``) of the top-level questions, in survey order."""
        rows = self._call("list_questions", lambda c: c.list_questions(survey_id),
                          self._survey(survey_id))
        return [str(r["title"]) for r in rows if int(r.get("parent_qid") or 0) == 0]

    def activate_survey(self, survey_id: int) -> None:
        """Activate a survey (creates its responses table)."""
        self._call("activate_survey", lambda c: c.activate_survey(survey_id),
                   self._survey(survey_id))

    def activate_tokens(self, survey_id: int, attributes: Sequence[int]) -> None:
        """Create the participants table with ``attribute_N`` columns for ``attributes``."""
        self._call("activate_tokens", lambda c: c.activate_tokens(survey_id, list(attributes)),
                   self._survey(survey_id))

    def summary(self, survey_id: int) -> dict[str, int]:
        """Response and participant counters of a survey."""
        out = self._call("get_summary", lambda c: c.get_summary(survey_id),
                         self._survey(survey_id))
        return {k: int(v) for k, v in (out or {}).items()}

    # Participants ------------------------------------------------------------------------
    def add_participants(self, survey_id: int,
                         rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add participants keeping the tokens given (``bCreateToken=false``).

        Returns the server's rows (with ``tid``). Rows the server refused carry ``errors``;
        they are returned too, so the caller can report them after the others were added.
        """
        if not rows:
            return []
        return list(self._call("add_participants", lambda c: c.add_participants(
            survey_id, participant_data=list(rows), create_tokens=False),
            self._survey(survey_id)))

    def list_participants(self, survey_id: int, *,
                          attributes: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Every participant of a survey, reading every page.

        The server returns ``iLimit`` rows (10 by default) and ``iStart`` is compared with
        ``tid`` (``tid >= iStart``), not an offset; so the next page starts after the
        largest ``tid`` seen.
        """
        out: list[dict[str, Any]] = []
        start = 0
        while True:

            def one_page(client: Any, first: int = start) -> list[dict[str, Any]]:
                return client.list_participants(survey_id, start=first, limit=self.page_size,
                                                attributes=list(attributes) or False)

            try:
                page = self._call("list_participants", one_page, self._survey(survey_id))
            except LimeSurveyError as exc:
                if exc.status == _NO_PARTICIPANTS:
                    break
                raise
            page = [dict(r, tid=int(r["tid"])) for r in page]
            fresh = [r for r in page if r["tid"] >= start]
            out.extend(fresh)
            if len(page) < self.page_size or not fresh:
                break
            start = max(r["tid"] for r in fresh) + 1
        return out

    def invite(self, survey_id: int, tids: Sequence[int] | None = None) -> Invitations:
        """Email invitations (RC2 ``invite_participants``, through citric's session)."""
        result = self.call("invite_participants", survey_id, list(tids) if tids else None,
                           True, context=self._survey(survey_id))
        return self._invitations("invite_participants", result)

    def remind(self, survey_id: int, tids: Sequence[int] | None = None, *,
               min_days_between: int | None = None,
               max_reminders: int | None = None) -> Invitations:
        """Email reminders (RC2 ``remind_participants``, through citric's session)."""
        result = self.call("remind_participants", survey_id, min_days_between, max_reminders,
                           list(tids) if tids else None, context=self._survey(survey_id))
        return self._invitations("remind_participants", result)

    @staticmethod
    def _invitations(method: str, result: Any) -> Invitations:
        if not isinstance(result, dict):
            raise LimeSurveyError(f"LimeSurvey {method}: unexpected answer {result!r}",
                                  method=method)
        status = str(result.get("status", ""))
        if status == _NO_CANDIDATES:
            return Invitations(0, {}, 0)
        m = _LEFT_TO_SEND.match(status)
        if not m:
            raise _error_for(method, status)
        sent, failed = 0, {}
        for tid, row in result.items():
            if tid == "status" or not isinstance(row, dict):
                continue
            if row.get("status") == "OK":
                sent += 1
            else:
                failed[int(tid)] = str(row.get("error") or row.get("status"))
        return Invitations(sent, failed, max(int(m.group(1)), 0))

    # Responses ---------------------------------------------------------------------------
    def export_responses(self, survey_id: int, *, fields: Sequence[str] | None = None
                         ) -> list[dict[str, Any]]:
        """Every response, complete and incomplete, as exported with question-code headings.

        ``completion_status='all'``, JSON, codes (not labels); ``fields`` restricts the
        columns (response-table names: ``id``, ``submitdate``, SGQA names; fixture 63). A
        survey without responses gives ``[]`` (the server says ``No Data, could not get max
        id.``).
        """
        try:
            raw = self._call("export_responses", lambda c: c.export_responses(
                survey_id, file_format="json", completion_status="all",
                heading_type="code", response_type="short",
                fields=list(fields) if fields else None), self._survey(survey_id))
        except LimeSurveyError as exc:
            if exc.status == _NO_RESPONSES:
                return []
            raise
        return parse_export(raw, "json", survey_id=survey_id)


def parse_export(data: bytes | str, file_format: str, *, survey_id: int | None = None
                 ) -> list[dict[str, Any]]:
    """Parse an ``export_responses`` payload (already base64-decoded, or a base64 string).

    JSON: ``{"responses": [{...}, ...]}``. CSV: the server's dialect - UTF-8 with BOM, ``;``
    separated, every non-NULL value quoted, NULL an empty unquoted field, CRLF between
    records, bare LF inside values. Both give the same records: ``None`` for NULL, ``""``
    for a stored empty string, strings for answers, ints for ``id`` and ``lastpage``.
    """
    where = f"LimeSurvey export{'' if survey_id is None else f' of survey {survey_id}'}"
    if isinstance(data, str):
        data = base64.b64decode(data)
    text = data.decode("utf-8-sig")
    if file_format == "json":
        try:
            parsed = json.loads(text)
            rows = parsed["responses"]
        except (ValueError, KeyError, TypeError):
            raise LimeSurveyError(f"{where}: not the expected JSON "
                                  f"{{\"responses\": [...]}}; starts {text[:60]!r}") from None
        if not isinstance(rows, list):
            raise LimeSurveyError(f"{where}: 'responses' is not a list")
        return [dict(r) for r in rows]
    if file_format == "csv":
        return _parse_csv(text, where)
    raise ValueError(f"file_format: expected 'json' or 'csv', got {file_format!r}")


def _parse_csv(text: str, where: str) -> list[dict[str, Any]]:
    records: list[list[str | None]] = []
    row: list[str | None] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == '"':  # quoted value
            j, buf = i + 1, []
            while True:
                k = text.find('"', j)
                if k < 0:
                    raise LimeSurveyError(f"{where}: unterminated quoted value")
                buf.append(text[j:k])
                if k + 1 < n and text[k + 1] == '"':
                    buf.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            row.append("".join(buf))
        else:  # NULL: an empty unquoted field
            row.append(None)
        if text.startswith(";", i):
            i += 1
            if i == n or text.startswith("\r\n", i):
                row.append(None)
            else:
                continue
        if text.startswith("\r\n", i):
            records.append(row)
            row = []
            i += 2
            if text.startswith("\r\n", i) and i + 2 == n:  # the trailing empty line
                break
        elif i < n:
            raise LimeSurveyError(f"{where}: unexpected {text[i:i + 10]!r} after a value")
    if row:
        records.append(row)
    if not records:
        return []
    header = [h or "" for h in records[0]]
    out = []
    for rec in records[1:]:
        if len(rec) != len(header):
            raise LimeSurveyError(f"{where}: a record has {len(rec)} fields, the header "
                                  f"{len(header)}")
        d: dict[str, Any] = dict(zip(header, rec, strict=True))
        for key in ("id", "lastpage"):
            if d.get(key) is not None:
                d[key] = int(d[key])  # JSON exports give these as numbers
        out.append(d)
    return out
