"""Suppression across the tables of one release: differencing attacks planted and audited.

The small_site scenario has a site (S01) of 6 participants and 6 community respondents; a
reader sees the cross-site report, the lessons report and every site report together. The
oracle is linear algebra: a hidden count is recoverable when its unit vector lies in the row
space of the published count forms (plus the identity that equity groups add up to the
total), checked by :func:`evalkit.reporting.recoverable_cells` with numpy ranks.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from evalkit.pipeline import analyze_project, render_project
from evalkit.reporting import (
    PROTECTED,
    markdown_table,
    plan_suppression,
    published_cells,
    recoverable_cells,
    suppress_small,
)
from evalkit.reporting._scan import ScanRules, scan_file
from evalkit.results import read_results
from evalkit.scenarios import generate_scenario, write_scenario


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = write_scenario(generate_scenario("small_site", seed=1),
                             tmp_path_factory.mktemp("small") / "project")
    analyze_project(project)
    return project


def _hidden(plan) -> list:  # noqa: ANN001
    return list(plan.cells.loc[plan.cells["status"] != "show", "key"])


def _naive(res) -> list:  # noqa: ANN001
    cells = published_cells(res)
    return list(cells.loc[cells["value"].fillna(99).between(1, 10), "key"])


def test_naive_suppression_is_recoverable_and_the_plan_is_not(small: Path) -> None:
    res = read_results(small / "results")
    # hiding only the small cells: S01's counts follow from totals minus the other sites
    leaked = recoverable_cells(res, _naive(res), threshold=11)
    assert ("N", "partnership_total", "endline", "S01") in leaked
    assert ("P", "partnership_total", "S01") in leaked  # pairs: "Matched" minus siblings
    plan = plan_suppression(res)
    assert recoverable_cells(res, _hidden(plan), threshold=11) == []


def test_site_total_by_subtraction_across_cross_site_rows(small: Path) -> None:
    plan = plan_suppression(read_results(small / "results"))
    assert plan.status("wave_n", "partnership_total", "endline", "site", "S01") == "small"
    # a sibling of the same modality is hidden to protect it, shown as a dash with a note
    assert plan.status("wave_n", "partnership_total", "endline", "site", "S02") == "protect"
    assert plan.label(25, "wave_n", "partnership_total", "endline", "site", "S02") == PROTECTED
    assert plan.status("wave_n", "partnership_total", "endline", "collaborative", "") == "show"


def test_modality_total_minus_sibling_from_its_own_report(small: Path) -> None:
    # coaching = S01 + S02: the feedback modality total (cross-site) minus S02's own report
    res = read_results(small / "results")
    plan = plan_suppression(res)
    assert plan.status("feedback_n", "experience", "endline", "modality", "coaching") == "show"
    assert plan.hidden("feedback_n", "experience", "endline", "site", "S02")
    shown = [k for k in published_cells(res)["key"] if not plan.hidden(*k)]
    assert ("F", "experience", "endline", "S01") not in recoverable_cells(
        res, [k for k in published_cells(res)["key"] if k not in shown], threshold=11)


def test_three_way_site_wave_outcome_margins(small: Path) -> None:
    # cross-sectional n = n_pre + n_post at a site: a wave margin of site x wave x outcome
    res = read_results(small / "results")
    plan = plan_suppression(res)
    for o in ("community_experience", "community_coordination"):
        assert plan.hidden("prepost_n", o, "site", "S01")
        assert plan.hidden("prepost_n", o, "site", "S02")
    hidden = _hidden(plan)
    exposed = [k for k in hidden if k[0] == "prepost_n" and k[-1] == "S01"]
    assert recoverable_cells(res, [k for k in hidden if k not in exposed], threshold=11)


def test_suppressed_row_hides_every_derived_column() -> None:
    df = pd.DataFrame({"Outcome": ["A"], "n": [5], "Mean": [3.2],
                       "Change [95% CI]": ["0.43 [0.26, 0.62]"], "Effect size": ["d_z = 2.6"],
                       "p": ["0.031"]})
    out = suppress_small(df, count_columns=["n"], threshold=11, labels=["Outcome"])
    assert out.iloc[0].tolist() == ["A", "<11", "—", "—", "—", "—"]


def test_scan_checks_declared_count_columns_whatever_the_header(tmp_path: Path) -> None:
    import pypandoc

    table = pd.DataFrame({"Site": ["A", "B"], "Team size": [4, 30], "%": [12.0, 88.0]})
    text = markdown_table(table, caption="Sites", counts=["Team size"])
    for ext in ("html", "docx"):
        out = tmp_path / f"page.{ext}"
        pypandoc.convert_text(text, ext, format="markdown", outputfile=str(out))
        found = [(f.kind, f.where) for f in scan_file(out, ScanRules(threshold=11))]
        assert found == [("small cell", "table 1 ('Sites'), column 'Team size', row 1")], ext


@pytest.mark.slow
def test_rendered_release_publishes_no_recoverable_cell(small: Path) -> None:
    render_project(small, engine="fallback", formats=("html",), workers=2)
    pages = sorted((small / "_output").rglob("*.html"))
    assert len(pages) >= 8
    text = {p: p.read_text(encoding="utf-8") for p in pages}
    # the small site and its protector show no count; the equity breakdown no false "<11"
    s02 = next(t for p, t in text.items() if "S02" in p.parts)
    assert PROTECTED in s02
    cross = next(t for p, t in text.items() if "cross-site" in p.parts)
    assert "Hidden so that a count below the threshold" in cross
    assert not re.search(r"among the \d+ anonymous responses at [^.]*Riverbend", cross)
    res = read_results(small / "results")
    assert recoverable_cells(res, _hidden(plan_suppression(res)), threshold=11) == []


def test_a_text_seen_before_is_reported_again_where_it_appears_again():
    """The scan remembers what it found in each text (documents repeat most of theirs);
    a repeated text is still a finding in every place it appears."""
    from evalkit.reporting._scan import scan_text_chunks

    rules = ScanRules(threshold=11)
    first = scan_text_chunks(["Call 555-201-3344", "Mean 3.13 [2.99, 3.28]"], rules, "a.html")
    again = scan_text_chunks(["Call 555-201-3344"], rules, "a.docx")
    assert [(f.kind, f.where) for f in first] == [("phone number", "a.html")]
    assert [(f.kind, f.where) for f in again] == [("phone number", "a.docx")]
    assert len(rules._found) == 2
