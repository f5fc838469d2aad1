"""``evalkit surveys|participants|pull|submit``: exit codes and exact output, errors included."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import typer
import yaml
from limesurvey_server import started
from typer.testing import CliRunner

import evalkit.cli  # noqa: F401 - the main CLI first, as in production
from evalkit.cli._surveys import register
from evalkit.project import create_project
from evalkit.sources import load_deployments, participant_token
from evalkit.store import read_table

PASSWORD = "Admin-Pass-2024"
ID_KEY = "cli-test-key-0123456789"

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)
register(app)
runner = CliRunner()


@pytest.fixture
def server():
    s = started(password=PASSWORD)
    yield s
    s.stop()


@pytest.fixture
def project(tmp_path, server, monkeypatch):
    folder = tmp_path / "proj"
    create_project(folder)
    data = yaml.safe_load((folder / "evalkit.yml").read_text())
    data["limesurvey"] = {"url": server.url, "user": "admin"}
    (folder / "evalkit.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("EVALKIT_LIMESURVEY_PASSWORD", PASSWORD)
    monkeypatch.setenv("EVALKIT_ID_KEY", ID_KEY)
    return folder


def _run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _commands() -> list[list[str]]:
    import typer.main

    out: list[list[str]] = []

    def walk(group, path):
        for name, cmd in sorted(group.commands.items()):
            if hasattr(cmd, "commands"):
                walk(cmd, [*path, name])
            else:
                out.append([*path, name])

    walk(typer.main.get_command(app), [])
    return out


def test_the_commands_are_registered():
    # participants expect, surveys form and surveys new come from evalkit.cli._authoring,
    # which adds them to the same sub-apps when evalkit.cli is imported.
    assert _commands() == [["participants", "add"], ["participants", "expect"],
                           ["participants", "remind"], ["pull"], ["submit"],
                           ["surveys", "codebook"], ["surveys", "deploy"], ["surveys", "form"],
                           ["surveys", "move-server"], ["surveys", "new"], ["surveys", "retire"],
                           ["surveys", "validate"]]


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_every_command_has_help_with_an_example(command):
    result = _run(*command, "--help")
    assert result.exit_code == 0
    assert "Example: evalkit " + " ".join(command) in result.output


def test_validate_passes_the_shipped_instruments(project):
    result = _run("surveys", "validate", "-p", project)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"ok {project}/surveys/community_feedback.yaml: community v1.0, 14 items, 4 scales",
        f"ok {project}/surveys/learning_session_feedback.yaml: session_feedback v1.0, 8 items,"
        " 1 scales",
        f"ok {project}/surveys/partner_network.yaml: network v1.0, 5 items, 0 scales",
        f"ok {project}/surveys/partnership_self_assessment.yaml: partnership v1.0, 24 items, 9"
        " scales"]


def test_validate_fails_naming_the_file_and_key(project):
    broken = project / "surveys" / "partnership_self_assessment.yaml"
    broken.write_text(broken.read_text().replace("response_scale: agree5, reverse: true, "
                                                 "text: \"Each", "response_scale: agree7, "
                                                 "reverse: true, text: \"Each"))
    result = _run("surveys", "validate", "-p", project)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {broken}: items[2] (PSA03).response_scale: expected one of ['agree5'], got "
        "'agree7'\n")
    assert "ok " in result.stdout and "partnership" not in result.stdout


def test_codebook_writes_markdown_and_csv(project, tmp_path):
    result = _run("surveys", "codebook", "-p", project, "--out", tmp_path / "cb")
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"Codebook of 4 instruments:\n  {tmp_path}/cb/codebook.md\n"
                             f"  {tmp_path}/cb/codebook.csv\n")


def test_deploy_participants_pull_and_pull_again(project, server, tmp_path):
    deployed = _run("surveys", "deploy", "partnership", "--wave", "baseline", "-p", project)
    assert deployed.exit_code == 0, deployed.output
    (d,) = load_deployments(project / "limesurvey.yml").deployments
    assert deployed.stdout == (
        f"Deployed partnership (baseline) as LimeSurvey survey {d.survey_id}: 8 questions, "
        "active, participant table with attributes site, wave, org, role.\n"
        f"Mapping recorded in {project}/limesurvey.yml.\n")
    again = _run("surveys", "deploy", "partnership", "--wave", "baseline", "-p", project)
    assert again.exit_code == 1
    assert again.stderr == (
        f"error: {project}/limesurvey.yml: instrument 'partnership' wave 'baseline' is deployed "
        f"already as survey {d.survey_id}; pass replace=True (--replace) to deploy a new "
        "survey\n")

    people = tmp_path / "staff.csv"
    pd.DataFrame([{"code": f"N{i}", "site": ["S01", "S02"][i % 2], "email": f"n{i}@x.org",
                   "firstname": "Ana", "lastname": "García", "role": "nurse"}
                  for i in range(4)]).to_csv(people, index=False)
    added = _run("participants", "add", people, "-i", "partnership", "-w", "baseline", "-p",
                 project, "--invite")
    assert added.exit_code == 0, added.output
    assert added.stdout == (f"Added 4 participant(s) to survey {d.survey_id} (0 already "
                            "there). Registered: S01 2, S02 2.\nInvitations sent: 4.\n")
    stored = read_table(project / "evalkit.duckdb", "SELECT * FROM participants")
    assert len(stored) == 4 and "García" not in stored.to_csv()

    key = ID_KEY.encode()
    answers = {f"{q.code}[{sq}]": "A4" for q in d.questions for sq in q.subquestions}
    server.respond(d.survey_id, answers, token=participant_token("S01", "N0", key=key))
    server.respond(d.survey_id, {}, token=participant_token("S02", "N1", key=key),
                   complete=False)
    pulled = _run("pull", "-p", project)
    assert pulled.exit_code == 0, pulled.output
    assert pulled.stdout == (
        f"Exporting survey {d.survey_id} (partnership, baseline)\n"
        f"  survey {d.survey_id} partnership baseline: 1 complete, 1 incomplete\n"
        "Store: 2 new, 0 updated, 0 unchanged responses (24 answers written).\n")
    again = _run("pull", "-p", project)
    assert again.exit_code == 0
    assert again.stdout.splitlines()[-1] == ("Nothing new: the store already holds these 2 "
                                            "responses.")
    reminded = _run("participants", "remind", "-i", "partnership", "-w", "baseline", "-p",
                    project)
    assert (reminded.exit_code, reminded.stdout) == (0, "Reminders sent: 3.\n")


def test_pull_when_the_server_is_gone(project, server):
    _run("surveys", "deploy", "partnership", "--wave", "baseline", "-p", project)
    server.stop()
    result = _run("pull", "-p", project)
    assert result.exit_code == 1
    assert result.stderr == (f"error: LimeSurvey at {server.url} stopped answering during "
                             "get_session_key (ConnectionError)\n")


def test_wrong_password(project, monkeypatch):
    monkeypatch.setenv("EVALKIT_LIMESURVEY_PASSWORD", "not-it")
    result = _run("surveys", "deploy", "partnership", "--wave", "baseline", "-p", project)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: LimeSurvey get_session_key: Invalid user name or password (user name from "
        "evalkit.yml limesurvey.user, password from EVALKIT_LIMESURVEY_PASSWORD)\n")


@pytest.mark.parametrize(("args", "env", "message"), [
    (["surveys", "deploy", "partnerhsip", "--wave", "baseline"], {},
     "--instrument: 'partnerhsip' is not one of the project's instruments ['community', "
     "'network', 'partnership'] ({root}/evalkit.yml)"),
    (["surveys", "deploy", "network", "--wave", "midpoint"], {},
     "--wave: instrument 'network' is used at waves ['baseline', 'endline'], not 'midpoint' "
     "({root}/evalkit.yml)"),
    (["surveys", "deploy", "network", "--wave", "baseline"], {},
     "--site: instrument 'network' has rating grids whose rows are a site's organizations; "
     "deploy it once per site"),
    (["pull"], {}, "{root}/limesurvey.yml: no deployed survey; run `evalkit surveys deploy` "
                   "first"),
    (["participants", "add", "x.csv", "-i", "partnership", "-w", "baseline"], {},
     "{root}/limesurvey.yml: instrument 'partnership' wave 'baseline' is not deployed; run "
     "`evalkit surveys deploy partnership --wave baseline` first"),
    (["surveys", "deploy", "partnership", "--wave", "baseline"],
     {"EVALKIT_LIMESURVEY_PASSWORD": None},
     "environment variable EVALKIT_LIMESURVEY_PASSWORD: expected the LimeSurvey password, got "
     "nothing (set it in the shell that runs evalkit)"),
])
def test_one_line_errors(project, monkeypatch, args, env, message):
    for name, value in env.items():
        monkeypatch.delenv(name) if value is None else monkeypatch.setenv(name, value)
    result = _run(*args, "-p", project)
    assert result.exit_code == 1
    assert result.stderr == "error: " + message.format(root=project) + "\n"


def test_deploy_without_limesurvey_settings(project):
    data = yaml.safe_load((project / "evalkit.yml").read_text())
    del data["limesurvey"]
    (project / "evalkit.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    result = _run("surveys", "deploy", "partnership", "--wave", "baseline", "-p", project)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {project}/evalkit.yml: limesurvey: not set; add limesurvey: {{url: "
        "https://HOST/index.php/admin/remotecontrol, user: NAME}\n")


def _forms(path, cf01="4"):
    pd.DataFrame([{"response_id": "F1", "CF01": cf01, "CF02": "2", "SGIC": "AB12C"},
                  {"response_id": "F2", "CF01": "5", "CF02": "", "SGIC": ""}]).to_csv(
        path, index=False)
    return path


def test_submit_accepts_then_recognises_the_same_file(project, tmp_path):
    path = _forms(tmp_path / "forms.csv")
    first = _run("submit", path, "--site", "S01", "--wave", "baseline", "-i", "community",
                 "-p", project)
    assert first.exit_code == 0, first.output
    assert first.stdout == (f"Accepted {path}: 2 responses (community, baseline, S01). "
                            "Store: 2 new, 0 updated, 0 unchanged.\n")
    second = _run("submit", path, "--site", "S01", "--wave", "baseline", "-i", "community",
                  "-p", project)
    assert second.exit_code == 0
    assert re.fullmatch(rf"Already ingested: {re.escape(str(path))} \(same SHA-256 "
                        r"[0-9a-f]{12}\); nothing changed\.\n", second.stdout)


def test_submit_rejects_a_file_with_one_bad_cell(project, tmp_path):
    path = _forms(tmp_path / "forms.csv", cf01="6")
    result = _run("submit", path, "--site", "S01", "--wave", "baseline", "-i", "community",
                  "-p", project)
    assert result.exit_code == 1
    scale = ("1=Strongly disagree, 2=Disagree, 3=Neither agree nor disagree, 4=Agree, "
             "5=Strongly agree")
    assert result.stderr == (
        f"  row 2, column 'CF01', value '6': not a code of scale agree5 ({scale}) (rule code)\n"
        f"error: {path}: rejected, 1 problem(s), nothing was ingested; first: row 2, column "
        f"'CF01', value '6': not a code of scale agree5 ({scale}) (rule code); report: "
        f"{path}.validation.csv\n")
    assert not (project / "evalkit.duckdb").exists()
    assert (tmp_path / "forms.csv.validation.csv").exists()


def test_submit_checks_site_and_wave(project, tmp_path):
    path = _forms(tmp_path / "forms.csv")
    result = _run("submit", path, "--site", "S09", "--wave", "baseline", "-i", "community",
                  "-p", project)
    assert result.exit_code == 1
    assert result.stderr == (f"error: --site: 'S09' is not one of the project's sites ['S01', "
                             f"'S02', 'S03'] ({project}/evalkit.yml)\n")


def test_submit_without_the_id_key(project, tmp_path, monkeypatch):
    monkeypatch.delenv("EVALKIT_ID_KEY")
    result = _run("submit", _forms(tmp_path / "f.csv"), "--site", "S01", "--wave", "baseline",
                  "-i", "community", "-p", project)
    assert result.exit_code == 1
    assert result.stderr == ("error: environment variable EVALKIT_ID_KEY: expected a secret of "
                             "at least 16 characters (the key of the pseudonymous ids), got "
                             "unset\n")
