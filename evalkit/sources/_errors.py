"""Typed errors for what a LimeSurvey server answers, with the server's own words."""

from __future__ import annotations

from evalkit.errors import EvalkitError, IngestError

__all__ = [
    "LimeSurveyError",
    "AuthenticationError",
    "SessionExpiredError",
    "SurveyNotFoundError",
    "SurveyStateError",
    "ServerUnavailableError",
    "PullInterruptedError",
    "SubmissionRejectedError",
]


class LimeSurveyError(EvalkitError):
    """LimeSurvey refused a call. ``method`` is the RPC method, ``status`` the server's words."""

    def __init__(self, message: str, *, method: str = "", status: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.status = status


class AuthenticationError(LimeSurveyError):
    """Wrong user name or password (``Invalid user name or password``)."""


class SessionExpiredError(LimeSurveyError):
    """The session key expired or was released (``Invalid session key``)."""


class SurveyNotFoundError(LimeSurveyError):
    """The survey id does not exist on the server (its wording differs by method)."""


class SurveyStateError(LimeSurveyError):
    """The survey exists but is not in the state the call needs (not active, no tokens...)."""


class ServerUnavailableError(LimeSurveyError):
    """The server did not answer, answered with an HTML error page or an empty body."""


class PullInterruptedError(LimeSurveyError):
    """A pull stopped half-way; nothing was ingested and a retry continues from the stop."""


class SubmissionRejectedError(IngestError):
    """A submitted file failed validation; ``report`` lists every problem (a DataFrame)."""

    def __init__(self, message: str, *, report: object = None) -> None:
        super().__init__(message)
        self.report = report
