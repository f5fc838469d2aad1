"""Adversarial pulls, deploys and invitations through the CLI, against the fake LimeSurvey.

Every case runs the ``evalkit`` commands with typer's ``CliRunner`` and asserts the exit
code, the exact lines printed and that no traceback reached the user; a refused pull must
leave the DuckDB store exactly as it was (every table's rows and the file's bytes).

The fake server (tests/limesurvey_server.py) replays what the recorded LimeSurvey 6.14
server does. Deleting or deactivating a survey, adding a question in the web interface and
a failing mail server are not in the recording; the fake models them on the closest
recorded shapes (see its docstring): a deleted survey answers like an id that never
existed (fixtures 10, 76, 77), a deactivated one like one never activated (08, 21).
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import typer
import yaml
from limesurvey_server import FakeLimeSurvey, started
from typer.testing import CliRunner

import evalkit.cli  # noqa: F401 - the main CLI first, as in production
from evalkit.cli._surveys import register
from evalkit.instruments import load_instruments
from evalkit.project import create_project
from evalkit.sources import (
    Deployments,
    connect,
    deploy,
    load_deployments,
    participant_token,
    save_deployments,
)
from evalkit.store import read_table

PASSWORD = "Admin-Pass-2024"
ID_KEY = "safety-test-key-0123456789"
KEY = ID_KEY.encode()

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)
register(app)
runner = CliRunner()


@pytest.fixture
def server():
    s = started(password=PASSWORD)
    yield s
    s.stop()


@pytest.fixture
def other():
    """A second, fresh server: it numbers its first survey 100000 again."""
    s = started(password=PASSWORD, now="2026-12-01 08:00:00")
    yield s
    s.stop()


@pytest.fixture
def project(tmp_path, server, monkeypatch):
    folder = tmp_path / "proj"
    create_project(folder)
    _point_to(folder, server.url)
    monkeypatch.setenv("EVALKIT_LIMESURVEY_PASSWORD", PASSWORD)
    monkeypatch.setenv("EVALKIT_ID_KEY", ID_KEY)
    return folder


def _point_to(project: Path, url: str) -> None:
    data = yaml.safe_load((project / "evalkit.yml").read_text())
    data["limesurvey"] = {"url": url, "user": "admin"}
    (project / "evalkit.yml").write_text(yaml.safe_dump(data, sort_keys=False))


def _run(*args: object):
    result = runner.invoke(app, [str(a) for a in args])
    # Never a traceback: the command ends normally or through typer.Exit / SystemExit.
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        repr(result.exception))
    return result


def _store(project: Path) -> tuple[dict[str, list[tuple]], str]:
    """Every table's rows (sorted) and the SHA-256 of the store file."""
    path = project / "evalkit.duckdb"
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                            "ORDER BY table_name").fetchall()]
        dump = {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                for t in tables}
    finally:
        con.close()
    return dump, hashlib.sha256(path.read_bytes()).hexdigest()


def _people(path: Path, n: int = 2) -> Path:
    pd.DataFrame([{"code": f"N{i}", "site": ["S01", "S02"][i % 2], "email": f"n{i}@x.org",
                   "firstname": "Ana", "lastname": "García", "role": "nurse"}
                  for i in range(n)]).to_csv(path, index=False)
    return path


def _deployed(project: Path, instrument: str = "partnership", wave: str = "baseline"):
    result = _run("surveys", "deploy", instrument, "--wave", wave, "-p", project)
    assert result.exit_code == 0, result.output
    return load_deployments(project / "limesurvey.yml").find(instrument=instrument,
                                                             wave=wave)[-1]


def _answers(d, value: str = "A4") -> dict[str, str]:
    return {f"{q.code}[{sq}]": value for q in d.questions for sq in q.subquestions}


def _with_responses(project: Path, server: FakeLimeSurvey, tmp_path: Path,
                    wave: str = "baseline", n: int = 2):
    """Partnership deployed for ``wave``, ``n`` participants registered, all answered."""
    d = _deployed(project, "partnership", wave)
    added = _run("participants", "add", _people(tmp_path / f"{wave}.csv", n), "-i",
                 "partnership", "-w", wave, "-p", project)
    assert added.exit_code == 0, added.output
    for i in range(n):
        server.respond(d.survey_id, _answers(d),
                       token=participant_token(["S01", "S02"][i % 2], f"N{i}", key=KEY))
    return d


def _community(project: Path, server: FakeLimeSurvey):
    d = _deployed(project, "community", "baseline")
    site_q = next(q for q in d.questions if q.role == "site")
    server.respond(d.survey_id, {site_q.code: "A1", **_answers(d, "A3")})
    return d


# Server identity --------------------------------------------------------------------------
def test_a_pull_from_another_server_is_refused_and_the_store_is_unchanged(
        project, server, other, tmp_path):
    d = _with_responses(project, server, tmp_path)
    assert _run("pull", "-p", project).exit_code == 0
    before = _store(project)
    # Server B has a survey 100000 of its own, with a response numbered 1.
    theirs = deploy(connect(other.url, "admin", PASSWORD),
                    load_instruments(project / "surveys")["partnership"], wave="baseline",
                    mapping_file=tmp_path / "elsewhere.yml")
    assert theirs.survey_id == d.survey_id == 100000
    other.respond(theirs.survey_id, _answers(theirs, "A1"))
    other.calls.clear()
    _point_to(project, other.url)
    result = _run("pull", "-p", project)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: survey 100000 (partnership, baseline) was deployed on {server.url}, not on "
        f"{other.url}; nothing was pulled (if the project moved to {other.url}, run `evalkit "
        f"surveys move-server --to {other.url}`)\n")
    assert _store(project) == before
    assert other.calls == []  # refused before connecting


def test_another_survey_under_the_same_id_at_the_same_url_is_refused(
        project, server, tmp_path):
    d = _with_responses(project, server, tmp_path)
    assert _run("pull", "-p", project).exit_code == 0
    before = _store(project)
    # The server was reinstalled at the same address: a new survey got the same id.
    server.delete_survey(d.survey_id)
    server.now = "2027-02-02 09:30:00"
    fresh = deploy(connect(server.url, "admin", PASSWORD),
                   load_instruments(project / "surveys")["partnership"], wave="baseline",
                   mapping_file=tmp_path / "elsewhere.yml")
    assert fresh.survey_id == d.survey_id
    server.respond(fresh.survey_id, _answers(fresh, "A1"))
    server.calls.clear()
    result = _run("pull", "-p", project)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {server.url} is not the server survey 100000 (partnership, baseline) was "
        "deployed on: its survey 100000 was created 2027-02-02 09:30:00, the deployed one "
        "2026-11-23 00:35:04; nothing was pulled\n")
    assert _store(project) == before
    assert "export_responses" not in server.calls


def test_the_same_survey_id_on_two_servers_is_kept_apart(project, server, other, tmp_path):
    a = _with_responses(project, server, tmp_path, n=1)
    assert _run("pull", "-p", project).exit_code == 0
    stored_a = read_table(project / "evalkit.duckdb", "SELECT * FROM responses")
    retired = _run("surveys", "retire", "partnership", "--wave", "baseline", "-p", project)
    assert retired.exit_code == 0, retired.output
    _point_to(project, other.url)
    b = _with_responses(project, other, tmp_path, n=1)
    assert a.survey_id == b.survey_id == 100000 and a.origin != b.origin
    pulled = _run("pull", "-p", project)
    assert pulled.exit_code == 0, pulled.output
    assert pulled.stdout.splitlines()[-1] == ("Store: 1 new, 0 updated, 0 unchanged responses "
                                              "(24 answers written).")
    stored = read_table(project / "evalkit.duckdb", "SELECT response_id, source FROM responses")
    assert sorted(stored.itertuples(index=False, name=None)) == sorted([
        (f"limesurvey:{a.origin}:100000:1", f"limesurvey:{server.url}"),
        (f"limesurvey:{b.origin}:100000:1", f"limesurvey:{other.url}")])
    again = read_table(project / "evalkit.duckdb", "SELECT * FROM responses WHERE "
                       "response_id = ?", [stored_a["response_id"][0]])
    assert again.equals(stored_a)  # server A's response untouched
    prov = read_table(project / "evalkit.duckdb", "SELECT detail FROM provenance WHERE "
                      "kind = 'limesurvey' AND source = ?", [f"limesurvey:{other.url}"])
    assert f'"origin": "{b.origin}"' in prov["detail"][0]


def test_deploying_on_another_server_while_surveys_are_active_elsewhere_is_refused(
        project, server, other):
    _deployed(project)
    mapping = project / "limesurvey.yml"
    recorded = mapping.read_bytes()
    _point_to(project, other.url)
    result = _run("surveys", "deploy", "community", "--wave", "baseline", "-p", project)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {mapping}: survey 100000 (partnership, baseline) is deployed on {server.url}, "
        f"not on {other.url}; nothing was deployed. Retire the deployments there (`evalkit "
        "surveys retire INSTRUMENT --wave WAVE`) or, if the surveys moved, run `evalkit "
        f"surveys move-server --to {other.url}` first\n")
    assert mapping.read_bytes() == recorded and "import_survey" not in other.calls


def test_move_server_then_pull_recognises_the_stored_responses(
        project, server, other, tmp_path):
    d = _with_responses(project, server, tmp_path)
    assert _run("pull", "-p", project).exit_code == 0
    before = _store(project)
    # The installation moved: server B now holds server A's database.
    with server._lock:
        other.surveys = copy.deepcopy(server.surveys)
        other.next_gid, other.next_qid = server.next_gid, server.next_qid
    server.stop()
    _point_to(project, other.url)
    mapping = project / "limesurvey.yml"
    moved = _run("surveys", "move-server", "--to", other.url, "-p", project)
    assert moved.exit_code == 0, moved.output
    assert moved.stdout == (f"Moved survey 100000 (partnership, baseline) from {server.url} to "
                            f"{other.url} (same survey id and creation time there).\n")
    (now,) = load_deployments(mapping).deployments
    assert (now.url, now.moved_from, now.origin) == (other.url, (server.url,), d.origin)
    pulled = _run("pull", "-p", project)
    assert pulled.exit_code == 0, pulled.output
    # Same response ids (the origin moved with the survey): recognised, nothing rewritten.
    assert pulled.stdout.splitlines()[-1] == ("Store: 0 new, 0 updated, 2 unchanged responses "
                                              "(0 answers written).")
    assert _store(project)[0]["responses"] == before[0]["responses"]


def test_move_server_to_a_server_without_the_survey_changes_nothing(
        project, server, other, tmp_path):
    _with_responses(project, server, tmp_path)
    mapping = project / "limesurvey.yml"
    recorded = mapping.read_bytes()
    result = _run("surveys", "move-server", "--to", other.url, "-p", project)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: survey 100000 (partnership, baseline) is not on {other.url} (LimeSurvey "
        "get_survey_properties (survey 100000): Error: Invalid survey ID); nothing was moved\n")
    assert mapping.read_bytes() == recorded


def test_move_server_to_a_server_with_another_survey_under_the_id_changes_nothing(
        project, server, other, tmp_path):
    _with_responses(project, server, tmp_path)
    deploy(connect(other.url, "admin", PASSWORD),
           load_instruments(project / "surveys")["partnership"], wave="baseline",
           mapping_file=tmp_path / "elsewhere.yml")  # B's own survey 100000
    mapping = project / "limesurvey.yml"
    recorded = mapping.read_bytes()
    result = _run("surveys", "move-server", "--to", other.url, "-p", project)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {other.url} has another survey 100000 than survey 100000 (partnership, "
        f"baseline) on {server.url}: created 2026-12-01 08:00:00, the deployed one 2026-11-23 "
        "00:35:04; nothing was moved\n")
    assert mapping.read_bytes() == recorded


def test_a_deployment_recorded_without_identity_is_refused_until_recorded(
        project, server, tmp_path):
    d = _with_responses(project, server, tmp_path, n=1)
    mapping = project / "limesurvey.yml"
    legacy = d.model_copy(update={"survey_created": None, "origin": None})
    save_deployments(mapping, Deployments(deployments=(legacy,)))
    refused = _run("pull", "-p", project)
    assert refused.exit_code == 1
    assert refused.stderr == (
        f"error: survey 100000 (partnership, baseline) on {server.url} was recorded without "
        "the server's identity of the survey (deployed with an older evalkit); nothing was "
        f"pulled (run `evalkit surveys move-server --to {server.url}` to record it)\n")
    assert not (project / "evalkit.duckdb").exists() or _store(project)[0]["responses"] == []
    recorded = _run("surveys", "move-server", "--to", server.url, "-p", project)
    assert recorded.stdout == (f"Recorded the server's identity of survey 100000 (partnership, "
                               f"baseline) on {server.url}: created 2026-11-23 00:35:04.\n")
    pulled = _run("pull", "-p", project)
    assert pulled.exit_code == 0, pulled.output
    ids = read_table(project / "evalkit.duckdb", "SELECT response_id FROM responses")
    assert ids["response_id"].tolist() == ["limesurvey:100000:1"]  # the ids it always had


# Surveys gone, ended or changed on the server ------------------------------------------------
def test_a_deleted_survey_is_skipped_and_the_others_are_pulled(project, server, tmp_path):
    gone = _with_responses(project, server, tmp_path, "baseline")
    kept = _with_responses(project, server, tmp_path, "endline")
    server.delete_survey(gone.survey_id)
    result = _run("pull", "-p", project)
    assert result.exit_code == 1
    assert result.stdout == (
        f"Exporting survey {kept.survey_id} (partnership, endline)\n"
        f"  survey {kept.survey_id} partnership endline: 2 complete, 0 incomplete\n"
        "Store: 2 new, 0 updated, 0 unchanged responses (48 answers written).\n")
    assert result.stderr == (
        f"warning: survey {gone.survey_id} (partnership, baseline): not on the server "
        "(get_survey_properties: Error: Invalid survey ID); skipped\n"
        f"error: 1 of 2 survey(s) skipped (survey {gone.survey_id} (partnership, baseline)), "
        "the others were pulled; end a deployment on purpose with `evalkit surveys retire "
        "INSTRUMENT --wave WAVE`\n")
    waves = read_table(project / "evalkit.duckdb", "SELECT DISTINCT wave FROM responses")
    assert waves["wave"].tolist() == ["endline"]


def test_a_deactivated_survey_is_skipped(project, server, tmp_path):
    off = _with_responses(project, server, tmp_path, "baseline")
    on = _community(project, server)
    server.deactivate_survey(off.survey_id)
    result = _run("pull", "-p", project)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == ("Store: 1 new, 0 updated, 0 unchanged responses "
                                              "(7 answers written).")
    assert result.stderr.splitlines() == [
        f"warning: survey {off.survey_id} (partnership, baseline): not active on the server "
        "(active = 'N': deactivated or never activated); skipped",
        f"error: 1 of 2 survey(s) skipped (survey {off.survey_id} (partnership, baseline)), "
        "the others were pulled; end a deployment on purpose with `evalkit surveys retire "
        "INSTRUMENT --wave WAVE`"]
    assert f"survey {on.survey_id} community baseline: 1 complete" in result.stdout


def test_a_retired_survey_is_kept_and_never_pulled_again(project, server, tmp_path):
    d = _with_responses(project, server, tmp_path)
    assert _run("pull", "-p", project).exit_code == 0
    before = _store(project)
    server.delete_survey(d.survey_id)
    retired = _run("surveys", "retire", "partnership", "--wave", "baseline", "-p", project)
    assert retired.exit_code == 0
    assert retired.stdout == (f"Retired survey 100000 (partnership, baseline) on {server.url}: "
                              f"kept in {project}/limesurvey.yml as retired; pull skips it "
                              "from now on.\n")
    (record,) = load_deployments(project / "limesurvey.yml").deployments
    assert record.status == "retired" and record.retired_at is not None
    server.calls.clear()
    pulled = _run("pull", "-p", project)
    assert (pulled.exit_code, pulled.stdout, pulled.stderr) == (
        0, "Nothing to pull: every deployed survey is retired.\n", "")
    assert server.calls == [] and _store(project) == before
    again = _run("surveys", "retire", "partnership", "--wave", "baseline", "-p", project)
    assert again.exit_code == 1
    assert again.stderr == (f"error: {project}/limesurvey.yml: instrument 'partnership' wave "
                            "'baseline' has no active deployment to retire; survey 100000 "
                            "(partnership, baseline) is retired already\n")
    # Deploying the wave again needs no --replace once the old survey is retired.
    redeployed = _run("surveys", "deploy", "partnership", "--wave", "baseline", "-p", project)
    assert redeployed.exit_code == 0, redeployed.output


def test_retire_then_pull_pulls_the_others_silently(project, server, tmp_path):
    old = _with_responses(project, server, tmp_path, "baseline")
    new = _with_responses(project, server, tmp_path, "endline")
    assert _run("surveys", "retire", "partnership", "-w", "baseline", "-p", project
                ).exit_code == 0
    server.delete_survey(old.survey_id)
    result = _run("pull", "-p", project)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        f"Exporting survey {new.survey_id} (partnership, endline)\n"
        f"  survey {new.survey_id} partnership endline: 2 complete, 0 incomplete\n"
        "Store: 2 new, 0 updated, 0 unchanged responses (48 answers written).\n")


def test_a_question_added_on_the_server_is_warned_on_every_pull(project, server, tmp_path):
    d = _with_responses(project, server, tmp_path)
    server.add_question(d.survey_id, "EXTRA", text="Anything else?")
    server.add_question(d.survey_id, d.questions[0].code, subquestions=("SQ009",))
    warning = (f"warning: survey {d.survey_id} (partnership, baseline): 2 question column(s) "
               "on the server that the recorded mapping of instrument 'partnership' does not "
               f"know, not pulled: {d.questions[0].code}[SQ009], EXTRA\n")
    first = _run("pull", "-p", project)
    assert (first.exit_code, first.stderr) == (0, warning)
    second = _run("pull", "-p", project)
    assert (second.exit_code, second.stderr) == (0, warning)
    assert second.stdout.splitlines()[-1] == ("Nothing new: the store already holds these 2 "
                                              "responses.")


# Kept copies of an interrupted pull -----------------------------------------------------------
def _interrupt(project: Path, server: FakeLimeSurvey, calls: int):
    server.stop_answering(after=calls)
    result = _run("pull", "-p", project)
    server.resume()
    assert result.exit_code == 1
    return result


def test_an_interrupted_pull_resumes_with_the_confirmed_copy(project, server, tmp_path):
    first = _with_responses(project, server, tmp_path)
    second = _community(project, server)
    before = _store(project)  # the participants only
    # login, 2 x (properties, questions), survey 1 (export, participants): the 8th fails.
    stopped = _interrupt(project, server, 7)
    staging = project / ".evalkit" / "pull"
    assert stopped.stderr == (
        f"error: LimeSurvey at {server.url} stopped answering during export_responses "
        f"(ConnectionError); stopped at survey {second.survey_id} (community, baseline), 1 of "
        f"2 surveys fetched. Nothing was ingested; 1 fetched survey(s) are kept in {staging} "
        "and the next `evalkit pull` reuses them if the server confirms they are unchanged\n")
    assert _store(project) == before
    resumed = _run("pull", "-p", project)
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout == (
        f"Exporting survey {second.survey_id} (community, baseline)\n"
        f"  survey {first.survey_id} partnership baseline: 2 complete, 0 incomplete (kept copy "
        "from the interrupted pull reused: the server confirms it is unchanged)\n"
        f"  survey {second.survey_id} community baseline: 1 complete, 0 incomplete\n"
        "Store: 3 new, 0 updated, 0 unchanged responses (55 answers written).\n")
    assert not list(staging.glob("*.json"))


def test_a_stale_kept_copy_is_fetched_again(project, server, tmp_path):
    d = _with_responses(project, server, tmp_path)
    c = _community(project, server)
    _interrupt(project, server, 7)
    # Between the two pulls an administrator corrects an answer of response 1.
    server.now = "2026-11-24 10:00:00"
    server.edit_response(d.survey_id, 1, {f"{d.questions[0].code}[SQ001]": "A1"})
    resumed = _run("pull", "-p", project)
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout.splitlines()[:3] == [
        f"Exporting survey {d.survey_id} (partnership, baseline)",
        f"Exporting survey {c.survey_id} (community, baseline)",
        f"  survey {d.survey_id} partnership baseline: 2 complete, 0 incomplete (kept copy from "
        "the interrupted pull not confirmed unchanged by the server: fetched again)"]
    value = read_table(project / "evalkit.duckdb", "SELECT value FROM answers WHERE "
                       "response_id = ? AND item = 'PSA01'", [f"{d.response_prefix}1"])
    assert value["value"].tolist() == [1.0]  # the corrected answer, not the kept one


def test_a_kept_copy_of_a_survey_without_dates_is_fetched_again(project, server, tmp_path):
    anonymous = _community(project, server)  # anonymized: no last-action dates to compare
    _with_responses(project, server, tmp_path)
    # login, 2 x (properties, questions), survey 1 (export): the 7th fails.
    _interrupt(project, server, 6)
    resumed = _run("pull", "-p", project)
    assert resumed.exit_code == 0, resumed.output
    assert (f"  survey {anonymous.survey_id} community baseline: 1 complete, 0 incomplete (kept "
            "copy from the interrupted pull not confirmed unchanged by the server: fetched "
            "again)") in resumed.stdout.splitlines()


# Invitations and reminders ----------------------------------------------------------------
def test_invitations_that_fail_exit_non_zero_with_counts_by_reason(project, server, tmp_path):
    d = _deployed(project)
    server.fail_emails("SMTP connect() failed.")
    people = _people(tmp_path / "staff.csv", 4)
    result = _run("participants", "add", people, "-i", "partnership", "-w", "baseline", "-p",
                  project, "--invite")
    assert result.exit_code == 1
    assert result.stdout == (f"Added 4 participant(s) to survey {d.survey_id} (0 already "
                             "there). Registered: S01 2, S02 2.\nInvitations sent: 0.\n")
    assert result.stderr == (
        "error: 4 of 4 invitations failed (4 x 'SMTP connect() failed.'); the participants "
        "are registered; fix the survey's email settings in LimeSurvey and run this command "
        "again to send the failed ones\n")
    assert len(read_table(project / "evalkit.duckdb", "SELECT * FROM participants")) == 4
    server.fail_emails(None)
    again = _run("participants", "add", people, "-i", "partnership", "-w", "baseline", "-p",
                 project, "--invite")
    assert (again.exit_code, again.stderr) == (0, "")
    assert again.stdout.splitlines()[-1] == "Invitations sent: 4."


def test_some_invitations_failing_is_still_a_failure(project, server, tmp_path):
    _deployed(project)
    server.fail_emails("Invalid address:  (to): n1@x.org", tids={2})
    result = _run("participants", "add", _people(tmp_path / "staff.csv", 3), "-i",
                  "partnership", "-w", "baseline", "-p", project, "--invite")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "Invitations sent: 2."
    assert result.stderr == (
        "error: 1 of 3 invitations failed (1 x 'Invalid address: (to): n1@x.org'); the "
        "participants are registered; fix the survey's email settings in LimeSurvey and run "
        "this command again to send the failed ones\n")


def test_remind_says_when_nobody_was_ever_invited(project, server, tmp_path):
    d = _deployed(project)
    empty = _run("participants", "remind", "-i", "partnership", "-w", "baseline", "-p", project)
    assert empty.exit_code == 1
    assert empty.stderr == (
        f"error: survey {d.survey_id} (partnership, baseline): no participants are registered, "
        "so nobody can be reminded; add them with `evalkit participants add FILE -i "
        "partnership -w baseline --invite`\n")
    _run("participants", "add", _people(tmp_path / "staff.csv", 3), "-i", "partnership", "-w",
         "baseline", "-p", project)
    result = _run("participants", "remind", "-i", "partnership", "-w", "baseline", "-p",
                  project)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: survey {d.survey_id} (partnership, baseline): nobody was ever invited (3 "
        "participant(s) registered, 0 invitations sent), so nobody can be reminded; send the "
        "invitations with `evalkit participants add FILE -i partnership -w baseline "
        "--invite`\n")
    assert "remind_participants" not in server.calls


def test_reminders_that_fail_exit_non_zero(project, server, tmp_path):
    _deployed(project)
    invited = _run("participants", "add", _people(tmp_path / "staff.csv", 4), "-i",
                   "partnership", "-w", "baseline", "-p", project, "--invite")
    assert invited.exit_code == 0, invited.output
    server.fail_emails("Could not instantiate mail function.", tids={1, 3})
    result = _run("participants", "remind", "-i", "partnership", "-w", "baseline", "-p",
                  project)
    assert (result.exit_code, result.stdout) == (1, "Reminders sent: 2.\n")
    assert result.stderr == (
        "error: 2 of 4 reminders failed (2 x 'Could not instantiate mail function.'); fix the "
        "survey's email settings in LimeSurvey and run this command again\n")


# Keys --------------------------------------------------------------------------------------
def test_a_pull_with_another_id_key_is_refused_and_the_store_is_unchanged(
        project, server, tmp_path, monkeypatch):
    d = _with_responses(project, server, tmp_path)
    assert _run("pull", "-p", project).exit_code == 0
    server.respond(d.survey_id, _answers(d, "A2"))  # something new to pull
    before = _store(project)
    monkeypatch.setenv("EVALKIT_ID_KEY", "a-different-key-0123456789")
    result = _run("pull", "-p", project)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "EVALKIT_ID_KEY" in result.stderr and "pre/post" in result.stderr
    assert _store(project) == before
