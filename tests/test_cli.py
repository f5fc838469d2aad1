"""The command line: help for every command, init, and one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evalkit.cli import app

runner = CliRunner()


def _commands() -> list[list[str]]:
    """Every leaf command, as the argument path that reaches it (sub-apps walked)."""
    import typer.main

    out: list[list[str]] = []

    def walk(group, path: list[str]) -> None:
        for name, cmd in sorted(group.commands.items()):
            if hasattr(cmd, "commands"):
                walk(cmd, [*path, name])
            else:
                out.append([*path, name])

    walk(typer.main.get_command(app), [])
    return out


def test_help_lists_every_command_with_a_description():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("init", "demo", "status", "analyze", "report"):
        assert re.search(rf"^\s*│?\s*{name}\s+\S", result.output, re.M), name


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_every_command_has_help_with_an_example(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output or "example" in result.output


def test_init_creates_a_valid_project(tmp_path):
    target = tmp_path / "eval"
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert (target / "evalkit.yml").exists()
    assert (target / "surveys" / "partnership_self_assessment.yaml").exists()
    assert (target / "analyses" / "plan.yml").exists()
    assert (target / "reports" / "site.qmd").exists()
    status = runner.invoke(app, ["status", "-p", str(target)])
    assert status.exit_code == 0, status.output
    assert "3 sites" in status.output and "is empty" in status.output


def test_init_refuses_to_overwrite(tmp_path):
    runner.invoke(app, ["init", str(tmp_path)])
    result = runner.invoke(app, ["init", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: {tmp_path / 'evalkit.yml'}: a project already exists here; choose another "
        "folder or pass --force")


def test_bad_config_is_one_line_per_problem_no_traceback(tmp_path):
    runner.invoke(app, ["init", str(tmp_path)])
    cfg = tmp_path / "evalkit.yml"
    cfg.write_text(cfg.read_text().replace("suppression_threshold: 11",
                                           "suppression_threshold: few"))
    result = runner.invoke(app, ["status", "-p", str(tmp_path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.startswith(f"error: {cfg}: reports.suppression_threshold: ")


def test_analyze_without_data_explains(tmp_path):
    runner.invoke(app, ["init", str(tmp_path)])
    result = runner.invoke(app, ["analyze", "-p", str(tmp_path)])
    assert result.exit_code == 1
    assert "the store does not exist yet; ingest data first" in result.output


def test_status_shows_response_rates_for_the_demo(tmp_path, demo_data):
    from evalkit.demo import demo_config
    from evalkit.project import create_project
    from evalkit.store import ingest

    cfg = create_project(tmp_path, config=demo_config(demo_data))
    ingest(cfg.store_path, demo_data.batch, source="demo")
    result = runner.invoke(app, ["status", "-p", str(tmp_path)], terminal_width=120)
    assert result.exit_code == 0, result.output
    assert "Response rates" in result.output
    b = demo_data.batch
    s01 = b.participants[b.participants["site_id"] == "S01"]
    base = b.responses[(b.responses["instrument"] == "partnership")
                       & (b.responses["wave"] == "baseline") & (b.responses["site_id"] == "S01")]
    assert re.search(rf"S01\s+│\s+baseline\s+│\s+partnership\s+│\s+{len(base)}\s+│\s+"
                     rf"{len(s01)}\s+│\s+100%", result.output)
    assert "open survey" in result.output  # community feedback has no denominator


def test_status_checks_the_plan_against_the_project(tmp_path):
    runner.invoke(app, ["init", str(tmp_path)])
    plan = tmp_path / "analyses" / "plan.yml"
    plan.write_text(plan.read_text().replace("scale: trust", "scale: trusting"))
    result = runner.invoke(app, ["status", "-p", str(tmp_path)], terminal_width=300)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: {plan}: outcomes[1] (partnership_trust).scale: 'trusting' is not a scale of "
        "instrument 'partnership'; scales are ['total', 'shared_aim', 'trust', "
        "'communication', 'decision_making', 'data_sharing', 'leadership', "
        "'sustainability', 'community_voice']")


def test_status_says_what_cannot_be_computed_yet(tmp_path, demo_data):
    from evalkit.demo import demo_config
    from evalkit.project import create_project
    from evalkit.store import Batch, ingest

    cfg = create_project(tmp_path, config=demo_config(demo_data))
    b = demo_data.batch
    r = b.responses[b.responses["wave"] == "baseline"]
    ingest(cfg.store_path, Batch(sites=b.sites, organizations=b.organizations,
                                 participants=b.participants, responses=r,
                                 answers=b.answers[b.answers["response_id"].isin(
                                     r["response_id"])]), source="baseline")
    result = runner.invoke(app, ["status", "-p", str(tmp_path)], terminal_width=300)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == "Plan plan.yml: 5 outcomes, consistent with evalkit.yml and surveys/."
    start = lines.index("Not computable yet (12):")
    assert lines[start + 1] == (
        "  prepost, partnership_total: only Baseline data so far: a pre/post comparison "
        "needs answers at Endline (month 15) too. Needs: Partnership self-assessment "
        "responses at Endline (month 15).")
    assert lines[-1] == (
        "  linkage: only Baseline data so far: linking self-generated codes needs Community "
        "feedback survey answers at Baseline and Endline (month 15). Needs: Community "
        "feedback survey responses with the self-generated code at Endline (month 15).")
    as_json = json.loads(runner.invoke(app, ["status", "-p", str(tmp_path), "--json"]).stdout)
    assert len(as_json["pending"]) == 12
    assert as_json["pending"][0]["analysis"] == "prepost"
    analyzed = runner.invoke(app, ["analyze", "-p", str(tmp_path), "--json"])
    assert analyzed.exit_code == 0 and "Traceback" not in analyzed.output
    out = json.loads(analyzed.stdout)  # stdout holds the JSON and nothing else
    assert out["results_dir"] == str(tmp_path / "results")
    assert out["tables"] and all(Path(t["file"]).is_file() for t in out["tables"].values())
    assert json.loads((tmp_path / "results" / "manifest.json").read_text())["data_hash"] == (
        out["data_hash"])
