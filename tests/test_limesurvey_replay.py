"""What evalkit's LimeSurvey client makes of each answer the real server gave.

Each test feeds recorded responses (``tests/limesurvey/fixtures/``, a LimeSurvey 6.14
server; see the README there) verbatim - status, headers and body bytes - to the client
through a ``requests`` transport adapter, and checks what the client returns or raises.
The adapter also checks that the client sends what was recorded (method and parameters;
extra trailing parameters must be empty), with the request id the client chose.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from limesurvey_server import _csv, _php_json
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from evalkit.instruments import Instrument
from evalkit.sources import (
    AuthenticationError,
    Deployment,
    LimeSurveyError,
    QuestionMap,
    ServerUnavailableError,
    SessionExpiredError,
    SurveyNotFoundError,
    SurveyStateError,
    connect,
    map_responses,
    parse_export,
    pseudonym,
)

FIXTURES = Path(__file__).resolve().parent / "limesurvey" / "fixtures"
URL = "http://limesurvey.test/index.php/admin/remotecontrol"
KEY = b"replay-test-key-0123456789"


def recorded(number: str) -> dict:
    (path,) = [p for p in FIXTURES.glob(f"{number}_*.json") if ".decoded." not in p.name]
    return json.loads(path.read_text(encoding="utf-8"))


class Replay(BaseAdapter):
    """Answers each request with the next recorded response, verbatim."""

    def __init__(self, numbers: list[str], *, check_params: bool = True) -> None:
        super().__init__()
        self.queue = [recorded(n) for n in numbers]
        self.check_params = check_params

    def send(self, request, **kwargs):  # noqa: ANN001 - requests' adapter signature
        fx = self.queue.pop(0)
        body = json.loads(request.body)
        if fx["request"] is not None:
            assert body["method"] == fx["request"]["method"]
            if self.check_params:
                ours, theirs = body["params"], fx["request"]["params"]
                skip = 0 if body["method"] == "get_session_key" else 1  # the session key
                assert ours[skip:len(theirs)] == theirs[skip:], (ours, theirs)
                # Extra trailing parameters must be the server's defaults (the recording left
                # them out): empty values, or the default authentication plugin.
                assert all(p in (None, False, [], {}, "Authdb") for p in ours[len(theirs):]), ours
        raw = re.sub(r'^\{"id":\d+', '{"id":' + str(body["id"]), fx["response_raw"])
        response = requests.Response()
        response.status_code = fx["http_status"]
        response._content = raw.encode("utf-8")
        response.headers = CaseInsensitiveDict(fx["response_headers"])
        response.encoding = "utf-8"
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        return None


def client(*numbers: str, check_params: bool = True, page_size: int = 500):
    """Log in with fixture 01, then answer from ``numbers``."""
    adapter = Replay(["01", *numbers], check_params=check_params)
    session = requests.Session()
    session.mount("http://", adapter)
    ls = connect(URL, "admin", "Admin-Pass-2024", requests_session=session)
    ls.page_size = page_size
    return ls, adapter


def test_login_gives_a_session_and_release_says_ok():
    ls, adapter = client("85")
    ls.close()
    assert adapter.queue == []


def test_wrong_password_is_an_authentication_error_in_the_servers_words():
    session = requests.Session()
    session.mount("http://", Replay(["02"]))
    with pytest.raises(AuthenticationError) as info:
        connect(URL, "admin", "wrong-password", requests_session=session)
    assert str(info.value) == (
        "LimeSurvey get_session_key: Invalid user name or password (user name from evalkit.yml "
        "limesurvey.user, password from EVALKIT_LIMESURVEY_PASSWORD)")
    assert info.value.status == "Invalid user name or password"


def test_invalid_session_key_without_relogin_is_typed():
    ls, _ = client("03")
    ls._reconnect = None
    with pytest.raises(SessionExpiredError, match=r"^LimeSurvey list_surveys: Invalid session "
                                                  r"key$"):
        ls.list_surveys()


def test_expired_session_logs_in_again_and_repeats_the_call():
    # 87: the key expired; 86: a new key; 06: the repeated call succeeds.
    ls, adapter = client("87", "86", "06")
    surveys = ls.list_surveys()
    assert [s["sid"] for s in surveys] == [246810]
    assert ls.relogins == 1 and adapter.queue == []


def test_no_surveys_is_an_empty_list_not_an_error():
    ls, _ = client("04")
    assert ls.list_surveys() == []


def test_import_sends_the_file_and_returns_the_new_id():
    ls, _ = client("05")
    lss = (FIXTURES / "evalkit_site_evaluation.lss").read_bytes()
    sid = ls.import_survey(lss, title="Learning Collaborative Site Evaluation (fixture)",
                           survey_id=246810)
    assert sid == 246810


def test_survey_properties_keep_the_servers_types():
    ls, _ = client("08")
    props = ls.survey_properties(246810, ["sid", "active", "language", "anonymized",
                                          "datestamp", "usetokens", "savetimings",
                                          "additional_languages"])
    assert props["sid"] == 246810 and props["active"] == "N" and props["datestamp"] == "Y"


def test_question_codes_skip_interleaved_subquestions():
    ls, _ = client("12")
    assert ls.question_codes(246810) == ["SITE", "STAFFN", "JOINDATE", "LIKERT", "TOOLS",
                                         "SAT", "RECOMMEND", "COMMENTS"]


@pytest.mark.parametrize(("number", "call", "error", "message"), [
    ("10", lambda ls: ls.survey_properties(999999, ["active"]), SurveyNotFoundError,
     "LimeSurvey get_survey_properties (survey 999999): Error: Invalid survey ID"),
    ("14", lambda ls: ls.question_codes(999999), SurveyNotFoundError,
     "LimeSurvey list_questions (survey 999999): Error: Invalid survey ID"),
    ("76", lambda ls: ls.export_responses(999999), SurveyNotFoundError,
     "LimeSurvey export_responses (survey 999999): No permission (the survey does not exist, "
     "or this user may not read it)"),
    ("77", lambda ls: ls.summary(999999), SurveyNotFoundError,
     "LimeSurvey get_summary (survey 999999): Invalid surveyid"),
    ("21", lambda ls: ls.export_responses(246810), SurveyStateError,
     "LimeSurvey export_responses (survey 246810): No Data, survey table does not exist."),
    ("22", lambda ls: ls.list_participants(246810), SurveyStateError,
     "LimeSurvey list_participants (survey 246810): Error: No survey participants table"),
    ("25", lambda ls: ls.activate_survey(246810), SurveyStateError,
     "LimeSurvey activate_survey (survey 246810): Error: Survey already active"),
    ("66", lambda ls: ls.call("export_responses", 246810, "pdfx"), LimeSurveyError,
     "LimeSurvey export_responses: Writer for pdfx should implement IWriter"),
    ("78", lambda ls: ls.call("no_such_method"), ServerUnavailableError,
     f"LimeSurvey at {URL} answered no_such_method with HTTP 500 and an error page instead "
     "of JSON (unknown method, wrong parameters or a server fault)"),
    ("82", lambda ls: ls.list_surveys(), ServerUnavailableError,
     f"LimeSurvey at {URL} answered list_surveys with an empty or non-JSON body; is the "
     "JSON-RPC interface enabled (Global settings > Interfaces > RPC interface: JSON-RPC)?"),
])
def test_status_payloads_become_typed_errors(number, call, error, message):
    ls, _ = client(number, check_params=False)
    with pytest.raises(error) as info:
        call(ls)
    assert str(info.value) == message


def test_activation_ok_statuses_are_success():
    ls, adapter = client("24", "28")
    ls.activate_survey(246810)
    ls.activate_tokens(246810, [1, 2])
    assert adapter.queue == []


def test_empty_survey_exports_no_records():
    ls, _ = client("26", check_params=False)
    assert ls.export_responses(246810) == []


def test_empty_participant_table_lists_nobody():
    ls, _ = client("29", check_params=False)
    assert ls.list_participants(246810) == []


def test_add_participants_keeps_our_tokens_and_returns_row_errors():
    ls, _ = client("31", "33")
    rows = recorded("31")["request"]["params"][2]
    added = ls.add_participants(246810, rows)
    assert [(r["tid"], r["token"]) for r in added] == [("1", "tokS01ana"), ("2", "tokS02ben"),
                                                       ("3", "tokS03chloe")]
    # 33 was recorded with bCreateToken=true; a refused row comes back with its errors.
    ls2, _ = client("33", check_params=False)
    (bad,) = ls2.add_participants(246810, [{"email": "not-an-email", "firstname": "Bad"}])
    assert bad["errors"] == {"email": ["Invalid email address."]}


def test_list_participants_with_attributes_reads_one_short_page():
    ls, adapter = client("35", page_size=10)
    rows = ls.list_participants(246810, attributes=["attribute_1", "attribute_2", "completed",
                                                    "usesleft", "language", "validfrom"])
    assert [(r["tid"], r["attribute_1"]) for r in rows] == [(1, "S01"), (2, "S02"), (3, "S03"),
                                                           (4, "S01")]
    assert adapter.queue == []  # 4 < 10 rows: no second page asked for


def test_summary_counts_are_ints():
    ls, _ = client("73")
    assert ls.summary(246810)["full_responses"] == 5


def test_export_all_keeps_incomplete_responses_and_values_verbatim():
    ls, _ = client("52")
    records = ls.export_responses(246810)
    assert [r["id"] for r in records] == [1, 2, 3, 4, 5]
    assert [r["submitdate"] is None for r in records] == [False, False, True, False, True]
    long_text = recorded("42")["request"]["params"][2]["246810X2X8"]
    assert len(long_text) == 2698 and records[1]["COMMENTS"] == long_text
    assert records[1]["TOOLS[other]"] == "Cuadros de mando (dashboards) – ✓"
    assert records[0]["TOOLS[SQ003]"] == "" and records[1]["TOOLS[SQ003]"] is None


@pytest.mark.parametrize(("json_number", "csv_number"), [("52", "56"), ("59", "58")])
def test_csv_and_json_exports_parse_to_the_same_records(json_number, csv_number):
    as_json = parse_export(recorded(json_number)["response"]["result"], "json")
    as_csv = parse_export(recorded(csv_number)["response"]["result"], "csv")
    assert as_csv == as_json


def test_unknown_token_list_exports_no_records():
    assert parse_export(recorded("70")["response"]["result"], "json") == []


# Mapping the recorded export back to instrument items -------------------------------------
FIXTURE_INSTRUMENT = Instrument.model_validate({
    "id": "site_eval", "version": "1", "title": "Site evaluation", "respondent": "participant",
    "response_scales": {"agree5": {"codes": {1: "Strongly disagree", 2: "Disagree",
                                             3: "Neutral", 4: "Agree", 5: "Strongly agree"}}},
    "items": [
        {"code": "staff", "type": "numeric", "text": "Staff", "min": 0, "max": 500},
        {"code": "joined", "type": "date", "text": "Joined"},
        *({"code": f"exp{i}", "type": "likert", "response_scale": "agree5", "text": f"E{i}"}
          for i in range(1, 5)),
        {"code": "tools", "type": "multiple", "text": "Tools",
         "options": {1: "PDSA cycles", 2: "Run charts", 3: "Daily huddles"}},
        {"code": "comments", "type": "text", "text": "Comments"}]})
FIXTURE_DEPLOYMENT = Deployment(
    survey_id=246810, instrument="site_eval", version="1", wave="baseline", title="fixture",
    deployed_at="2026-11-23T00:35:04", questions=(
        QuestionMap(code="SITE", type="L", role="site",
                    sites={"S01": "S01", "S02": "S02", "S03": "S03"}),
        QuestionMap(code="STAFFN", type="N", item="staff"),
        QuestionMap(code="JOINDATE", type="D", item="joined"),
        QuestionMap(code="LIKERT", type="F", answers={f"A{i}": float(i) for i in range(1, 6)},
                    subquestions={f"SQ00{i}": f"exp{i}" for i in range(1, 5)}),
        QuestionMap(code="TOOLS", type="M",
                    subquestions={f"SQ00{i}": f"tools[{i}]" for i in range(1, 4)}),
        QuestionMap(code="COMMENTS", type="T", item="comments")))


def test_recorded_export_maps_back_to_items():
    records = parse_export(recorded("52")["response"]["result"], "json")
    participants = {"tokS01ana": {"site": "S01"}, "tokS02ben": {"site": "S02"},
                    "tokS03chloe": {"site": "S03"}}
    mapped = map_responses(records, FIXTURE_DEPLOYMENT, FIXTURE_INSTRUMENT, key=KEY,
                           participants=participants)
    r = mapped.responses.set_index("response_id")
    assert list(r.index) == [f"limesurvey:246810:{i}" for i in (1, 2, 3, 4)]
    assert mapped.notes == ("survey 246810: 1 response(s) left out because their site is "
                            "unknown (no participant record and no site answer)",)
    assert list(r["complete"]) == [True, True, False, True]
    assert list(r["site_id"]) == ["S01", "S02", "S03", "S01"]  # 4: anonymous, its SITE answer
    assert r.loc["limesurvey:246810:1", "respondent_id"] == pseudonym("token", "tokS01ana",
                                                                      key=KEY)
    assert pd.isna(r.loc["limesurvey:246810:4", "respondent_id"])
    assert r.loc["limesurvey:246810:1", "submitted_at"] == pd.Timestamp("2024-03-14 10:22:05")
    a = mapped.answers.set_index(["response_id", "item"])
    one = "limesurvey:246810:1"
    assert [a.loc[(one, f"exp{i}"), "value"] for i in range(1, 5)] == [4.0, 5.0, 4.0, 3.0]
    assert [a.loc[(one, f"tools[{i}]"), "value"] for i in range(1, 4)] == [1.0, 1.0, 0.0]
    assert a.loc[(one, "staff"), "value"] == 12.0
    assert a.loc[(one, "joined"), "text"] == "2023-09-01"
    two = "limesurvey:246810:2"
    assert a.loc[(two, "comments"), "text"] == recorded("42")["request"]["params"][2][
        "246810X2X8"]
    assert (two, "tools[2]") in a.index and a.loc[(two, "tools[2]"), "value"] == 0.0
    four = "limesurvey:246810:4"
    assert (four, "exp3") not in a.index  # unanswered: no row
    assert not any(rid == "limesurvey:246810:3" and item.startswith("exp")
                   for rid, item in a.index)
    assert not mapped.answers["text"].fillna("").str.contains("tokS0").any()


# The export parser, for any content the server can write --------------------------------
VALUE = st.one_of(st.none(), st.text(alphabet=st.characters(codec="utf-8",
                                                            exclude_categories=("Cs",)),
                                     max_size=40))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(rows=st.lists(st.tuples(st.integers(1, 10**6), st.one_of(st.none(), st.integers(0, 9)),
                               VALUE, VALUE, VALUE), max_size=5))
def test_csv_and_json_exports_of_any_values_parse_back_exactly(rows):
    header = ["id", "lastpage", "Q1", "Q2[SQ001]", "Q3"]
    records = [dict(zip(header, r, strict=True)) for r in rows]
    text_json = '{"responses": [' + ",".join(_php_json(r) for r in records) + "]}"
    lines = [";".join(_csv(h) for h in header)] + [
        ";".join(_csv(None if v is None else str(v)) for v in r) for r in rows]
    text_csv = "\ufeff" + "\r\n".join(lines) + "\r\n\r\n"
    assert parse_export(text_json.encode(), "json") == records
    assert parse_export(text_csv.encode(), "csv") == records


def test_generated_lss_has_the_layout_the_real_server_imported():
    import xml.etree.ElementTree as ET

    from evalkit._assets import asset_path
    from evalkit.instruments import load_instruments
    from evalkit.sources import build_lss, plan_questions

    reference = ET.parse(FIXTURES / "evalkit_site_evaluation.lss").getroot()

    def layout(root):
        return [(section.tag, [f.text for f in section.findall("fields/fieldname")])
                for section in root]

    cf = load_instruments(asset_path("surveys"))["community"]
    questions = plan_questions(cf, sites=["S01", "S02"])
    ours = ET.fromstring(build_lss(cf, questions, title="Community ]]> & <feedback>",
                                   anonymized=True))
    assert layout(ours) == layout(reference)
    assert ours.findtext("surveys/rows/row/anonymized") == "Y"
    assert ours.findtext("surveys_languagesettings/rows/row/surveyls_title") == (
        "Community ]]> & <feedback>")
    relevance = {r.findtext("title"): r.findtext("relevance")
                 for r in ours.findall("questions/rows/row")}
    assert relevance["languageother"] == '(language == "A3")'
    codes = [r.findtext("title") for r in ours.findall("questions/rows/row")]
    assert codes == [q.code for q in questions]
