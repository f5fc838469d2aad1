"""The scenario matrix: whole projects of other designs than the demo, end to end.

For every design of :data:`evalkit.scenarios.DESIGNS` (rising, falling, null effects; 2, 3
and 4 waves; 1 to 4 modalities; 1 to 5 outcomes; baseline only; a site below the
suppression threshold; no network survey; no community survey; anonymous only; unequal
sites): create the project, ingest (the falling design through ``evalkit submit`` of site
files), ``evalkit analyze``, ``evalkit report`` in HTML and Word, then read every rendered
report back with :mod:`report_checker` and require zero contradictions with ``results/``,
and that the ``pending`` table explains every planned analysis left out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from report_checker import Truth, check_reports, check_text, read_truth
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.findings import build_findings
from evalkit.pipeline import analyze_project
from evalkit.results import read_results
from evalkit.scenarios import (
    DESIGNS,
    generate_scenario,
    scenario_submission_files,
    write_scenario,
)

pytestmark = pytest.mark.slow
KEY = "scenario-matrix-key-0123456789"


def _ok(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"evalkit {' '.join(args)}:\n{result.output}"
    assert "Traceback" not in result.output
    return result.output


def _build(name: str, folder: Path, seed: int = 1) -> Path:
    scenario = generate_scenario(name, seed=seed)
    if name == "falling":  # the site teams' route: files through `evalkit submit`
        project = write_scenario(scenario, folder / "project", responses=False)
        for path, site, wave, inst in scenario_submission_files(scenario, folder / "files"):
            _ok(["submit", str(path), "--site", site, "--wave", wave, "-i", inst,
                 "-p", str(project)])
        return project
    return write_scenario(scenario, folder / "project")


def _unexplained(project: Path) -> list[str]:
    """Planned analyses with neither results nor a row in the pending table."""
    results = project / "results"
    manifest = json.loads((results / "manifest.json").read_text())
    plan, tables = manifest["plan"], manifest["tables"]

    def read(name: str) -> pd.DataFrame:
        return (pd.read_parquet(results / tables[name]["file"]) if name in tables
                else pd.DataFrame())

    pending, pp, emm = read("pending"), read("prepost"), read("model_emmeans")
    said = {(r.analysis, r.outcome if isinstance(r.outcome, str) else None)
            for r in pending.itertuples()}
    missing = []
    for o in plan["outcomes"]:
        done = len(pp) and len(pp[(pp["outcome"] == o["id"]) & (pp["level"] == "collaborative")
                                  ].dropna(subset=["mean_diff"]))
        if not done and ("prepost", o["id"]) not in said:
            missing.append(f"prepost of {o['id']}")
        if o.get("model") and plan.get("model"):
            fitted = len(emm) and (emm["outcome"] == o["id"]).any()
            if not fitted and ("model", o["id"]) not in said and ("model", None) not in said:
                missing.append(f"model of {o['id']}")
    for section, table in (("network", "network_change"), ("feedback", "feedback_scores"),
                           ("linkage", "linkage")):
        if plan.get(section) and not len(read(table)) and not any(
                a == section for a, _ in said):
            missing.append(section)
    return missing


# The designs whose Word reports are read back too; the others render HTML only (the same
# findings sentences reach both formats, and the suite must stay under 15 minutes).
WORD_TOO = {"rising", "falling", "small_site"}


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_every_design_analyzes_reports_and_says_only_what_the_results_hold(
        name, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_ID_KEY", KEY)
    project = _build(name, tmp_path)
    _ok(["status", "-p", str(project)])
    _ok(["analyze", "-p", str(project)])
    formats = "html,docx" if name in WORD_TOO else "html"
    out = _ok(["report", "-p", str(project), "--format", formats])
    assert "rendered" in out
    reports = check_reports(project)
    n_sites = len(generate_scenario(name, seed=1).config["sites"])
    # cross-site, lessons, each site; HTML (+ Word)
    assert len(reports) == (formats.count(",") + 1) * (2 + n_sites)
    contradictions = [c for r in reports for c in r.contradictions]
    assert contradictions == []
    assert sum(r.claims for r in reports) > 0
    assert _unexplained(project) == []


def test_the_falling_lessons_report_says_scores_fell_and_recommends_nothing(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv("EVALKIT_ID_KEY", KEY)
    project = _build("falling", tmp_path)
    analyze_project(project)
    _ok(["report", "-p", str(project), "--format", "html"])
    from report_checker import report_text

    text = report_text(project / "_output" / "lessons" / "lessons.html")
    assert "Transitions between partners fell across the collaborative." in text
    assert "Care coordination self-assessment (6 questions) at baseline and endline" in text
    assert "Offer " not in text and "largest gain" not in text
    assert "fell under every approach, least under" in text
    for absent in ("Partnership self-assessment", "midpoint", "network survey",
                   "community survey", "community feedback", "community members", "anonymous"):
        assert absent.lower() not in text.lower()


def test_baseline_only_reports_what_is_still_to_come(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_ID_KEY", KEY)
    project = _build("baseline_only", tmp_path)
    analyze_project(project)
    _ok(["report", "-p", str(project), "--format", "html"])
    from report_checker import report_text

    text = report_text(project / "_output" / "cross-site" / "cross-site.html")
    assert "This evaluation cannot yet say which modality worked best." in text
    assert "Still to come" in text
    pending = read_results(project / "results").table("pending")
    assert len(pending) and pending["reason"].str.len().gt(0).all()


def _findings_text(project: Path) -> str:
    f = build_findings(read_results(project / "results"))
    return "\n".join(f"{h} {s}" for h, s in zip(f["headline"], f["sentence"], strict=True))


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["falling", "null", "two_waves", "small_site"]),
       effect=st.floats(min_value=-2, max_value=2), n=st.floats(min_value=0.5, max_value=2),
       seed=st.integers(min_value=0, max_value=10_000))
def test_findings_never_contradict_the_numbers(name, effect, n, seed, tmp_path_factory):
    # Hypothesis drives the numbers inside a design; every finding is read back as text.
    folder = tmp_path_factory.mktemp(name)
    project = write_scenario(generate_scenario(name, seed=seed, effect_scale=effect,
                                               n_scale=n), folder / "project")
    analyze_project(project)
    truth: Truth = read_truth(project)
    rep = check_text(_findings_text(project), truth, project / "findings")
    assert rep.contradictions == []
    assert _unexplained(project) == []


def test_every_modelled_outcome_gets_its_section_with_the_df_method_it_used(tmp_path,
                                                                           monkeypatch):
    # Two outcomes in the model, Kenward-Roger df: both sections, the caption names
    # Kenward-Roger (never Satterthwaite), and each outcome's notes are printed once.
    monkeypatch.setenv("EVALKIT_ID_KEY", KEY)
    project = _build("two_waves", tmp_path)
    plan = project / "analyses" / "plan.yml"
    text = plan.read_text().replace("df_method: satterthwaite", "df_method: kenward-roger")
    text = text.replace("    scale: trust\n    design: matched\n    model: false",
                        "    scale: trust\n    design: matched\n    model: true")
    plan.write_text(text)
    analyze_project(project)
    _ok(["report", "-p", str(project), "--format", "html"])
    from report_checker import report_text

    page = report_text(project / "_output" / "cross-site" / "cross-site.html")
    section = page[page.index("Which modality worked best?"):]
    assert "Partnership score (all domains)" in section and "\nTrust\n" in section
    assert section.count("Kenward-Roger degrees of freedom") == 2
    assert "Satterthwaite" not in page
    notes = read_results(project / "results").table("model_notes")
    for note in notes["note"]:
        assert page.count(note) == (notes["note"] == note).sum()
    assert check_reports(project)[0].contradictions == []
