"""Where responses come from: LimeSurvey (deploy, participants, pull) and site files.

Sources know LimeSurvey and files, not statistics. Everything they hand to the store is
pseudonymous: respondents are keyed hashes of a token, participant code or self-generated
code (key in ``EVALKIT_ID_KEY``); names, emails and personal items never reach it.

- :func:`connect` / :class:`LimeSurvey`: RC2 calls over an injected ``citric`` client, with
  the server's status payloads turned into typed errors (:class:`LimeSurveyError` ...).
- :func:`deploy`: instrument -> ``.lss`` -> imported, activated survey, recorded with its
  column mapping in the project's ``limesurvey.yml`` (:data:`MAPPING_FILE`).
- :func:`add_participants`, :func:`remind_participants`: participants with site and wave
  attributes, invitations and reminders.
- :func:`pull`: export, map back, ingest in one transaction; resumable, idempotent; refuses
  a server that is not the one a survey was deployed on (:class:`ServerMismatchError`),
  skips surveys missing or inactive there.
- :func:`retire`, :func:`move_server`: end a deployment on purpose; re-map deployments to
  a server's new address.
- :func:`submit_file`: a site's CSV/XLSX, validated cell by cell, ingested whole or not.
- :func:`response_rates`: responded / expected by site, wave and instrument.
"""

from evalkit.sources._deploy import (
    Moved,
    ParticipantsAdded,
    add_participants,
    deploy,
    move_server,
    read_participants,
    remind_participants,
    retire,
)
from evalkit.sources._errors import (
    AuthenticationError,
    LimeSurveyError,
    PullInterruptedError,
    ServerUnavailableError,
    SessionExpiredError,
    SubmissionRejectedError,
    SurveyNotFoundError,
    SurveyStateError,
)
from evalkit.sources._files import (
    REPORT_COLUMNS,
    Submission,
    read_submission,
    submit_file,
    validate_submission,
)
from evalkit.sources._identity import ID_KEY_ENV, id_key, participant_token, pseudonym
from evalkit.sources._limesurvey import (
    PASSWORD_ENV,
    Invitations,
    LimeSurvey,
    ServerMismatchError,
    connect,
    parse_export,
    password_from_env,
    same_url,
)
from evalkit.sources._lss import build_lss
from evalkit.sources._mapping import (
    MAPPING_FILE,
    Deployment,
    Deployments,
    MappedResponses,
    QuestionMap,
    load_deployments,
    map_responses,
    origin_tag,
    plan_questions,
    save_deployments,
)
from evalkit.sources._pull import PullSummary, check_server, pull
from evalkit.sources._rates import response_rates

__all__ = [
    "AuthenticationError",
    "Deployment",
    "Deployments",
    "ID_KEY_ENV",
    "Invitations",
    "LimeSurvey",
    "LimeSurveyError",
    "MAPPING_FILE",
    "MappedResponses",
    "Moved",
    "PASSWORD_ENV",
    "ParticipantsAdded",
    "PullInterruptedError",
    "PullSummary",
    "QuestionMap",
    "REPORT_COLUMNS",
    "ServerUnavailableError",
    "ServerMismatchError",
    "SessionExpiredError",
    "Submission",
    "SubmissionRejectedError",
    "SurveyNotFoundError",
    "SurveyStateError",
    "add_participants",
    "build_lss",
    "check_server",
    "connect",
    "deploy",
    "id_key",
    "load_deployments",
    "map_responses",
    "move_server",
    "origin_tag",
    "parse_export",
    "participant_token",
    "password_from_env",
    "plan_questions",
    "pseudonym",
    "pull",
    "read_participants",
    "read_submission",
    "remind_participants",
    "response_rates",
    "retire",
    "same_url",
    "save_deployments",
    "submit_file",
    "validate_submission",
]
