"""A command line that explains itself: --version, -h everywhere, full descriptions in
``evalkit --help``, metavars in words, --json on status and analyze, report --only, and
p-values printed as ``< 0.001``."""

from __future__ import annotations

import inspect
import json
import re
from importlib import metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.cli._common import _p, _p_clause

runner = CliRunner()
REF = Path(__file__).parent / "reference"


def _tree():
    import typer.main

    return typer.main.get_command(app)


def _commands(group=None, path=()):
    """Every command and group below the root, as argument paths."""
    group = group or _tree()
    out = []
    for name, cmd in sorted(group.commands.items()):
        out.append([*path, name])
        if hasattr(cmd, "commands"):
            out += _commands(cmd, (*path, name))
    return out


def _flat(text: str) -> str:
    """Help text with its line wrapping undone (click also breaks lines after hyphens)."""
    return re.sub(r"-\s+", "-", " ".join(text.split()))


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"evalkit {metadata.version('evalkit')}\n"
    assert re.fullmatch(r"evalkit \d+\.\d+\.\d+\S*\n", result.output)


@pytest.mark.parametrize("command", [[], *_commands()], ids=lambda c: " ".join(c) or "root")
def test_dash_h_is_help_everywhere(command):
    short = runner.invoke(app, [*command, "-h"])
    assert short.exit_code == 0, short.output
    assert short.output == runner.invoke(app, [*command, "--help"]).output
    assert "-h, --help" in short.output


@pytest.mark.parametrize("group", [[]] + [c for c in _commands() if len(c) == 1 and hasattr(
    _tree().commands[c[0]], "commands")], ids=lambda c: " ".join(c) or "root")
def test_help_lists_every_command_with_its_whole_description(group):
    node = _tree()
    for name in group:
        node = node.commands[name]
    result = runner.invoke(app, [*group, "--help"])
    assert result.exit_code == 0
    listing = _flat(result.output.split("Commands:", 1)[1])
    assert "..." not in listing
    for name, cmd in node.commands.items():
        first = inspect.cleandoc(cmd.help or "").split("\n\n")[0]
        assert _flat(f"{name} {first}") in listing, name


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_metavars_are_words(command):
    text = runner.invoke(app, [*command, "--help"], terminal_width=200).output
    assert not re.search(r"<[\w\[\]|, ]+>", text), text  # no <str>, <path>, <list[str]>
    assert not re.search(r"(--[\w-]+|^\s+[A-Z]+) (STR|INTEGER|FLOAT|<)", text, re.M)


def test_metavars_of_the_statistics_commands():
    text = _flat(runner.invoke(app, ["model", "--help"], terminal_width=200).output)
    for shown in ("Usage: evalkit model [OPTIONS] {FILE}", "--outcome COLUMN",
                  "--time COLUMN", "--time-order LEVELS", "--group COLUMN", "--cluster COLUMN",
                  "--subject COLUMN", "--covariate COLUMN", "--df-method METHOD",
                  "--permutations N", "--seed N", "--sheet SHEET", "--labels LABEL=CODE,..."):
        assert shown in text, shown
    text = _flat(runner.invoke(app, ["report", "--help"], terminal_width=200).output)
    for shown in ("-p, --project DIR", "--site SITE", "--only DOCUMENTS", "--format FORMATS",
                  "-j, --jobs N"):
        assert shown in text, shown


# p-values --------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "text", "clause"), [
    (0.0, "< 0.001", "p < 0.001"), (1e-12, "< 0.001", "p < 0.001"),
    (0.000999, "< 0.001", "p < 0.001"), (0.001, "0.001", "p = 0.001"),
    (0.0123, "0.012", "p = 0.012"), (1.0, "1.000", "p = 1.000"),
    (float("nan"), "—", "p = —"), (None, "—", "p = —"),
])
def test_p_values_for_people(value, text, clause):
    assert _p(value) == text
    assert _p_clause(value) == clause


def _model_args():
    return ["model", str(REF / "models" / "balanced.csv"), "--outcome", "score", "--time",
            "wave", "--time-order", "baseline,midline,endline", "--group", "modality",
            "--cluster", "site", "--subject", "participant"]


def test_model_prints_small_p_values_as_a_bound():
    as_json = json.loads(runner.invoke(app, [*_model_args(), "--json"]).stdout)
    small = [f["term"] for f in as_json["fixed_effects"] if f["p"] < 0.001]
    assert len(small) >= 2  # intercept and wave[T.endline] in this data set
    result = runner.invoke(app, _model_args(), terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "0.0000" not in result.output
    for row in result.output.splitlines():
        cells = [c.strip() for c in row.split("│")]
        if len(cells) > 6 and cells[1] in small:
            assert cells[6] == "< 0.001", row
    # difference in change with p < 0.001 (and Holm): coaching vs peer, baseline to endline
    tiny = [c for c in as_json["change_contrasts"] if c["p"] < 0.0001]  # Holm: 3p < 0.001
    assert [(c["a"], c["b"], c["to"]) for c in tiny] == [("coaching", "peer", "endline")]
    assert re.search(rf"│ {tiny[0]['estimate']:.3f}\s+│ 294\.0 │ < 0\.001 │ < 0\.001\s+│",
                     result.output)
    assert ("Site-level permutation test: p = 0.067 (90 relabelings, exact; smallest "
            "possible p 0.067)") in _flat(result.output)


def test_prepost_prints_p_values_with_three_decimals():
    result = runner.invoke(app, ["prepost", str(REF / "prepost" / "paired_basic.csv"), "--id",
                                 "subject", "--time", "wave", "--pre", "baseline", "--post",
                                 "endline", "--outcome", "score"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert re.search(r"paired t \(df\), p\s+│ 2\.421 \(29\), p = 0\.022", result.output)
    assert re.search(r"Wilcoxon V, p\s+│ 340\.0, p = 0\.026", result.output)


# --json on status and analyze ---------------------------------------------------------------
def test_status_json_of_an_empty_project(tmp_path):
    runner.invoke(app, ["init", str(tmp_path)])
    result = runner.invoke(app, ["status", "-p", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["store"]["empty"] is True and out["response_rates"] == []
    assert [s["id"] for s in out["sites"]] == ["S01", "S02", "S03"]
    assert out["plan"]["outcomes"] == 5


def test_status_json_has_the_response_rates(tmp_path, demo_data):
    from evalkit.demo import demo_config
    from evalkit.project import create_project
    from evalkit.store import ingest

    cfg = create_project(tmp_path, config=demo_config(demo_data))
    ingest(cfg.store_path, demo_data.batch, source="demo")
    result = runner.invoke(app, ["status", "-p", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    assert set(out) == {"collaborative", "sites", "modalities", "waves", "plan", "store",
                        "response_rates", "pending"}
    rates = {(r["site"], r["wave"], r["instrument"]): r for r in out["response_rates"]}
    b = demo_data.batch
    s01 = b.participants[b.participants["site_id"] == "S01"]
    base = b.responses[(b.responses["instrument"] == "partnership")
                       & (b.responses["wave"] == "baseline") & (b.responses["site_id"] == "S01")]
    assert rates["S01", "baseline", "partnership"] == {
        "site": "S01", "wave": "baseline", "instrument": "partnership",
        "expected": len(s01), "responded": len(base), "rate": len(base) / len(s01)}
    assert rates["S01", "baseline", "community"]["expected"] is None  # an open survey


# report --only ------------------------------------------------------------------------------
@pytest.fixture
def rendered_jobs(tmp_path, monkeypatch):
    """A new project whose renderer is a stand-in that records the jobs it was given."""
    import evalkit.reporting as reporting
    from evalkit.reporting._reports import RenderSummary

    runner.invoke(app, ["init", str(tmp_path)])
    seen: list[list[str]] = []

    def render(jobs, *, output_dir, **kwargs):
        seen.append([job.job_id for job in jobs])
        return RenderSummary(outputs=tuple(Path(output_dir) / f"{j.job_id}.html" for j in jobs),
                             rendered=(), up_to_date=tuple(jobs))

    monkeypatch.setattr(reporting, "render_reports", render)
    monkeypatch.setattr(reporting, "read_results", lambda path: None)
    return tmp_path, seen


@pytest.mark.parametrize(("args", "jobs"), [
    (["--only", "lessons"], ["lessons/lessons"]),
    (["--only", "cross-site,lessons"], ["cross-site/cross-site", "lessons/lessons"]),
    (["--only", "cross-site", "--only", "sites"],
     ["cross-site/cross-site", "sites/S01/site-S01", "sites/S02/site-S02",
      "sites/S03/site-S03"]),
    (["--only", "sites", "--site", "S02"], ["sites/S02/site-S02"]),
    ([], ["cross-site/cross-site", "lessons/lessons", "sites/S01/site-S01",
          "sites/S02/site-S02", "sites/S03/site-S03"]),
])
def test_report_only_renders_the_documents_named(rendered_jobs, args, jobs):
    project, seen = rendered_jobs
    result = runner.invoke(app, ["report", "-p", str(project), "--format", "html", *args])
    assert result.exit_code == 0, result.output
    assert seen == [jobs]
    assert f"0 rendered, {len(jobs)} up to date." in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--only", "site"], "error: --only: unknown document(s) ['site']; choose from "
     "cross-site, lessons, sites (e.g. --only cross-site,lessons)"),
    (["--only", "lessons", "--site", "S01"], "error: --site and --only lessons: --site "
     "renders site reports only; drop --site to render the cross-site or lessons report"),
    (["--only", "lessons", "--all"], "error: --only and --all: choose one (--all renders "
     "every report)"),
])
def test_report_only_errors_are_one_line(rendered_jobs, args, message):
    project, seen = rendered_jobs
    result = runner.invoke(app, ["report", "-p", str(project), *args])
    assert result.exit_code == 1
    assert result.output.strip() == message
    assert seen == []


def test_report_only_lessons_without_a_lessons_document(rendered_jobs):
    project, seen = rendered_jobs
    (project / "reports" / "lessons.qmd").unlink()
    result = runner.invoke(app, ["report", "-p", str(project), "--only", "lessons"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "error: --only lessons: the project has no such report (no reports/lessons.qmd)")
