"""The report engine: one folder per document, incremental re-rendering, the publish scan.

Fast tests check the cache keys on small results folders and the incremental logic with a
stand-in renderer; the slow ones render for real (a tiny planted document, and the demo).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import docx
import pandas as pd
import pytest
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.errors import RenderError
from evalkit.reporting import render_reports, report_jobs
from evalkit.reporting._cache import STATE_FILE, results_digest
from evalkit.reporting._render import RenderedDocument
from evalkit.reporting._reports import ReportJob
from evalkit.reporting._scan import ScanRules, check_outputs, scan_file
from evalkit.results import write_results

runner = CliRunner()

SITES = [("S01", "North"), ("S02", "South")]


# --------------------------------------------------------------------------- a tiny project


def _tables(*, s02_mean: float = 3.0, collaborative_mean: float = 3.2,
            model_estimate: float = 0.4) -> dict[str, pd.DataFrame]:
    return {
        "sites": pd.DataFrame({"site_id": ["S01", "S02"], "name": ["North", "South"]}),
        "outcomes": pd.DataFrame({"id": ["score"], "label": ["Score"]}),
        "wave_summary": pd.DataFrame({
            "level": ["site", "site", "collaborative"],
            "site_id": ["S01", "S02", None],
            "n": [40, 35, 75],
            "mean": [3.4, s02_mean, collaborative_mean],
        }),
        "model_fit": pd.DataFrame({"outcome": ["score"], "estimate": [model_estimate]}),
    }


def _write(results: Path, **changes: float) -> None:
    write_results(_tables(**changes), results, plan={"name": "tiny"}, data_hash=str(changes),
                  extra={"suppression_threshold": 11})


@pytest.fixture
def tiny(tmp_path):
    """A reports folder with the three documents and a results folder."""
    reports = tmp_path / "reports"
    reports.mkdir()
    for name in ("cross_site.qmd", "lessons.qmd", "site.qmd"):
        (reports / name).write_text(f"---\ntitle: {name}\n---\n\nText.\n")
    _write(tmp_path / "results")
    return tmp_path


# --------------------------------------------------------------------------- layout


def test_every_document_has_its_own_folder(tiny):
    jobs = report_jobs(tiny / "reports", tiny / "results", SITES)
    assert [(j.folder, j.output_stem, j.site) for j in jobs] == [
        ("cross-site", "cross-site", None), ("lessons", "lessons", None),
        ("sites/S01", "site-S01", "S01"), ("sites/S02", "site-S02", "S02")]
    assert jobs[2].params == {"results_dir": str((tiny / "results").resolve()), "site": "S01"}
    assert jobs[0].params == {"results_dir": str((tiny / "results").resolve())}


def test_lessons_is_left_out_when_the_project_has_none(tiny):
    (tiny / "reports" / "lessons.qmd").unlink()
    jobs = report_jobs(tiny / "reports", tiny / "results", SITES)
    assert [j.job_id for j in jobs] == ["cross-site/cross-site", "sites/S01/site-S01",
                                        "sites/S02/site-S02"]
    assert [j.job_id for j in report_jobs(tiny / "reports", tiny / "results", SITES[:1],
                                          whole=False)] == ["sites/S01/site-S01"]


# --------------------------------------------------------------------------- cache keys


def test_a_site_key_reads_only_that_sites_rows(tmp_path):
    _write(tmp_path / "a")
    _write(tmp_path / "b", s02_mean=2.5)
    a, b = results_digest(tmp_path / "a"), results_digest(tmp_path / "b")
    assert a.sites["S01"] == b.sites["S01"]
    assert a.sites["S02"] != b.sites["S02"]
    assert a.shared == b.shared and a.comparison == b.comparison
    assert a.whole != b.whole


def test_collaborative_rows_and_models_are_not_in_site_keys(tmp_path):
    _write(tmp_path / "a")
    _write(tmp_path / "b", collaborative_mean=3.3, model_estimate=0.5)
    a, b = results_digest(tmp_path / "a"), results_digest(tmp_path / "b")
    assert a.sites == b.sites and a.shared == b.shared
    assert a.comparison != b.comparison and a.whole != b.whole


def test_analysing_the_same_data_again_changes_no_key(tmp_path):
    _write(tmp_path / "a")
    first = results_digest(tmp_path / "a")
    manifest = tmp_path / "a" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["created_at"] = "2031-01-01T00:00:00+00:00"
    manifest.write_text(json.dumps(data))
    assert results_digest(tmp_path / "a") == first


def test_a_missing_results_folder_is_a_render_error(tmp_path):
    with pytest.raises(RenderError, match=r"manifest\.json: cannot read the results manifest"):
        results_digest(tmp_path / "nowhere")


# --------------------------------------------------------------------------- incremental


class _Calls(list):
    """The output stems rendered, in order, and the reference document each was given."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[Path | None] = []


@pytest.fixture
def fake_renderer(monkeypatch):
    """Stand in for render_document: writes small files and records what was rendered."""
    calls = _Calls()
    references = calls.references

    def render(qmd, *, output_dir, params=None, formats=("html",), output_stem=None,
               engine="auto", project_dir=None, timeout=600, title=None,
               docx_reference=None):
        calls.append(output_stem)
        references.append(docx_reference)
        output_dir.mkdir(parents=True, exist_ok=True)
        outputs = []
        for fmt in formats:
            path = output_dir.resolve() / f"{output_stem}.{fmt}"
            if fmt == "html":
                contact = "<p>Ask Rosa.</p>" if output_stem == "site-S01" else ""
                path.write_text(f"<html><body><p>{output_stem}</p>{contact}</body></html>")
            else:
                document = docx.Document()
                document.add_paragraph(output_stem)
                table = document.add_table(rows=2, cols=2)
                table.cell(0, 0).text, table.cell(0, 1).text = "Site", "p"
                table.cell(1, 0).text, table.cell(1, 1).text = "S01", "<0.001"
                document.save(str(path))
            outputs.append(path)
        return RenderedDocument(Path(qmd), tuple(outputs), "fallback")

    monkeypatch.setattr("evalkit.reporting._render.render_document", render)
    return calls


def _render(tiny, **options):
    jobs = report_jobs(tiny / "reports", tiny / "results", SITES)
    options.setdefault("formats", ("html", "docx"))
    return render_reports(jobs, output_dir=tiny / "_output", engine="fallback", **options)


def _ids(jobs):
    return sorted(j.job_id for j in jobs)


def test_only_what_changed_is_rendered_again(tiny, fake_renderer):
    first = _render(tiny)
    assert _ids(first.rendered) == ["cross-site/cross-site", "lessons/lessons",
                                    "sites/S01/site-S01", "sites/S02/site-S02"]
    assert [p.relative_to((tiny / "_output").resolve()).as_posix() for p in first.outputs] == [
        "cross-site/cross-site.html", "cross-site/cross-site.docx",
        "lessons/lessons.html", "lessons/lessons.docx",
        "sites/S01/site-S01.html", "sites/S01/site-S01.docx",
        "sites/S02/site-S02.html", "sites/S02/site-S02.docx"]
    assert (tiny / "_output" / STATE_FILE).exists()

    again = _render(tiny)
    assert again.rendered == () and len(again.up_to_date) == 4
    assert again.describe() == "0 rendered, 4 up to date."

    _write(tiny / "results", s02_mean=2.5)  # one site's data changed
    changed = _render(tiny)
    assert _ids(changed.rendered) == ["cross-site/cross-site", "lessons/lessons",
                                      "sites/S02/site-S02"]
    assert _ids(changed.up_to_date) == ["sites/S01/site-S01"]
    assert changed.stale_comparisons == ()

    assert len(_render(tiny, force=True).rendered) == 4


def test_comparison_rows_changed_are_reported_not_rendered(tiny, fake_renderer):
    _render(tiny)
    _write(tiny / "results", collaborative_mean=3.3)
    summary = _render(tiny)
    assert _ids(summary.rendered) == ["cross-site/cross-site", "lessons/lessons"]
    assert _ids(summary.stale_comparisons) == ["sites/S01/site-S01", "sites/S02/site-S02"]
    assert summary.describe() == (
        "2 rendered, 2 up to date. The site reports of S01, S02 show modality and "
        "collaborative rows from earlier results; render with --force to refresh them.")
    # they stay flagged until rendered again
    assert len(_render(tiny).stale_comparisons) == 2
    _render(tiny, force=True)
    assert _render(tiny).stale_comparisons == ()


def test_document_formats_and_edited_outputs_trigger_a_render(tiny, fake_renderer):
    _render(tiny)
    site = tiny / "reports" / "site.qmd"
    site.write_text(site.read_text() + "\nMore text.\n")
    assert _ids(_render(tiny).rendered) == ["sites/S01/site-S01", "sites/S02/site-S02"]
    (tiny / "_output" / "lessons" / "lessons.html").write_text("edited by hand")
    (tiny / "_output" / "sites" / "S01" / "site-S01.docx").unlink()
    assert _ids(_render(tiny).rendered) == ["lessons/lessons", "sites/S01/site-S01"]
    assert len(_render(tiny, formats=("html",)).rendered) == 4
    (tiny / "_quarto.yml").write_text("format:\n  html:\n    toc: true\n")
    assert len(_render(tiny, formats=("html",), project_dir=tiny).rendered) == 4


def _reference(path: Path, font: str) -> Path:
    document = docx.Document()
    document.styles["Normal"].font.name = font
    document.save(str(path))
    return path


def test_the_word_reference_document_is_passed_on_and_keyed(tiny, fake_renderer):
    reference = _reference(tiny / "reference.docx", "Liberation Serif")
    first = _render(tiny, docx_reference=reference)
    assert len(first.rendered) == 4
    assert set(fake_renderer.references) == {reference.resolve()}
    assert _render(tiny, docx_reference=reference).rendered == ()
    _reference(reference, "Liberation Sans")  # the center changed its template
    assert len(_render(tiny, docx_reference=reference).rendered) == 4
    assert len(_render(tiny).rendered) == 4  # and dropping it renders again too
    with pytest.raises(RenderError, match=r"^docx_reference: Word reference document not "
                                          r"found: .*nowhere\.docx$"):
        _render(tiny, docx_reference=tiny / "nowhere.docx")


def test_word_tables_are_laid_out_before_the_scan_and_the_state(tiny, fake_renderer):
    summary = _render(tiny)
    assert summary.engines == {job.job_id: "fallback" for job in summary.rendered}
    assert set(summary.seconds) == set(summary.engines)
    path = tiny / "_output" / "sites" / "S01" / "site-S01.docx"
    table = docx.Document(str(path)).tables[0]._tbl
    assert table.xpath("./w:tblPr/w:tblLayout/@w:type") == ["autofit"]
    assert len(table.xpath(".//w:tc/w:tcPr/w:noWrap")) == 4
    # the state remembers the laid-out file, so the next run finds it unedited
    assert _render(tiny).rendered == ()


def test_new_scan_rules_rescan_up_to_date_outputs(tiny, fake_renderer):
    _render(tiny)
    rules = ScanRules(names=("Rosa Delgado",), names_source="names.txt")
    with pytest.raises(RenderError, match=r"site-S01\.html: name \(line 1 of names\.txt\)"
                       ) as caught:
        _render(tiny, scan=rules)
    assert "Rosa" not in str(caught.value)
    assert fake_renderer.count("site-S01") == 1  # checked again, not rendered again
    assert not (tiny / "_output" / "sites" / "S01" / "site-S01.html").exists()
    assert not (tiny / "_output" / "sites" / "S01" / "site-S01.docx").exists()
    assert _ids(_render(tiny).rendered) == ["sites/S01/site-S01"]


def test_progress_callback_sees_every_job(tiny, fake_renderer):
    seen: list[str] = []
    _render(tiny, on_done=lambda job: seen.append(job.job_id))
    _render(tiny, on_done=lambda job: seen.append(job.job_id))
    assert len(seen) == 8 and len(set(seen)) == 4


def test_a_failed_job_is_reported_and_the_others_are_kept(tiny, fake_renderer, monkeypatch):
    import evalkit.reporting._render as render_module

    good = render_module.render_document

    def flaky(qmd, **kwargs):
        if kwargs["output_stem"] == "site-S02":
            raise RenderError(f"{qmd}: cell 3 raised ValueError: boom")
        return good(qmd, **kwargs)

    monkeypatch.setattr(render_module, "render_document", flaky)
    with pytest.raises(RenderError, match=r"site\.qmd: cell 3 raised ValueError: boom"):
        _render(tiny)
    monkeypatch.setattr(render_module, "render_document", good)
    assert _ids(_render(tiny).rendered) == ["sites/S02/site-S02"]


# --------------------------------------------------------------------------- the scan

PAGE = """<!DOCTYPE html><html><head><title>Report</title>
<style>body { font: 12px; } /* admin@example.org */</style>
<script>var contact = "help@example.org"; var phone = "555-201-3344";</script></head>
<body><h1>Results</h1><p>Thanks to everyone.</p>
<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42m
Nk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==" alt="A chart">
<table><caption>Respondents by wave</caption>
<thead><tr><th>Site</th><th>n baseline</th><th>n endline</th><th>Mean</th></tr></thead>
<tbody><tr><td>North</td><td>&lt;11</td><td>0</td><td>3.1</td></tr>
<tr><td>South</td><td>25</td><td>7</td><td>4.0</td></tr></tbody></table>
<h2>Pairs</h2>
<table><tr><th colspan="2">Outcome</th><th>Matched</th></tr>
<tr><td>A</td><td>B</td><td>3</td></tr></table>
%s
</body></html>"""


def test_scan_finds_small_cells_by_table_and_column(tmp_path):
    page = tmp_path / "r.html"
    page.write_text(PAGE % "")
    found = [str(f) for f in scan_file(page, ScanRules(threshold=11))]
    assert found == [
        "small cell 7 (counts from 1 to 10 must be suppressed) in table 1 ('Respondents by "
        "wave'), column 'n endline', row 2",
        "small cell 3 (counts from 1 to 10 must be suppressed) in table 2 under 'Pairs', "
        "column 'Matched', row 1",
    ]
    assert [f.kind for f in scan_file(page, ScanRules(threshold=3))] == []


@pytest.mark.parametrize(("planted", "kind", "hidden"), [
    ("<p>Write to rosa.delgado@example.org</p>", "email address", "rosa.delgado@example.org"),
    ("<p>Call (555) 201-3344 today</p>", "phone number", "201-3344"),
    ("<p>Respondent P-0A1B2C3D said so</p>", "participant id", "P-0A1B2C3D"),
    ("<p>Thanks, <b>Rosa</b> Delgado!</p>", "name", "Delgado"),
    ('<p><img src="x.png" alt="Photo of Rosa"></p>', "name", "Rosa"),
])
def test_scan_finds_personal_data_without_repeating_it(tmp_path, planted, kind, hidden):
    page = tmp_path / "r.html"
    page.write_text(PAGE % planted)
    rules = ScanRules(threshold=3, names=("Rosa Delgado",), names_source="data/names.txt")
    found = scan_file(page, rules)
    assert [f.kind for f in found] == [kind]
    assert found[0].where in ("the section 'Pairs'",)
    with pytest.raises(RenderError) as caught:
        check_outputs([page], rules, label="sites/S01/site-S01")
    message = str(caught.value)
    assert message.startswith("sites/S01/site-S01: not safe to publish, so r.html was deleted:")
    assert kind in message and hidden not in message
    assert not page.exists()


def test_scan_reads_word_paragraphs_tables_and_captions(tmp_path):
    path = tmp_path / "r.docx"
    document = docx.Document()
    document.add_heading("Change at your site", level=1)
    document.add_paragraph("Questions: ana@example.org")
    table = document.add_table(rows=3, cols=2)
    for row, values in zip(table.rows, [("Group", "n"), ("This site", "<11"),
                                        ("Modality", "4")], strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.save(str(path))
    found = [str(f) for f in scan_file(path, ScanRules(threshold=11))]
    assert found == [
        "email address an… in the section 'Change at your site'",
        "small cell 4 (counts from 1 to 10 must be suppressed) in table 1 under "
        "'Change at your site', column 'n', row 2",
    ]


def test_a_clean_page_passes_and_is_kept(tmp_path):
    page = tmp_path / "r.html"
    page.write_text(PAGE % "<p>Scores rose by 0.35 [0.12, 0.58], p = 0.004, in 2024-2025.</p>")
    check_outputs([page], ScanRules(threshold=3, names=("Rosa Delgado",)))
    assert page.exists()



def test_a_scan_that_cannot_read_a_file_fails_closed(tmp_path):
    # A scan that raises (here: a .docx that is not a zip file) must not keep the files.
    page, word = tmp_path / "r.html", tmp_path / "r.docx"
    page.write_text(PAGE % "<p>Fine.</p>")
    word.write_bytes(b"not a zip archive")
    with pytest.raises(RenderError, match=r"r\.docx: could not be scanned \("):
        check_outputs([page, word], ScanRules(threshold=3))
    assert not page.exists() and not word.exists()


def test_a_render_that_fails_half_way_leaves_no_file(tiny, fake_renderer, monkeypatch):
    # The HTML was written, then the Word conversion failed: the unscanned HTML is deleted.
    import evalkit.reporting._render as render_module

    good = render_module.render_document

    def half(qmd, **kwargs):
        if kwargs["output_stem"] == "site-S02":
            good(qmd, **{**kwargs, "formats": ("html",)})
            raise RuntimeError("pandoc died")
        return good(qmd, **kwargs)

    monkeypatch.setattr(render_module, "render_document", half)
    with pytest.raises(RuntimeError, match="pandoc died"):
        _render(tiny)
    assert not list((tiny / "_output" / "sites" / "S02").glob("site-S02.*"))


# --------------------------------------------------------------------------- CLI


def test_report_rejects_site_with_all_and_unknown_formats():
    result = runner.invoke(app, ["report", "--site", "S01", "--all"])
    assert result.exit_code == 1
    assert result.output == "error: --site and --all: choose one (--all renders every report)\n"
    result = runner.invoke(app, ["report", "--format", "html,odt"])
    assert result.exit_code == 1
    assert result.output == ("error: --format: unsupported format(s) ['odt']; choose from "
                             "html, docx, pdf (e.g. --format html,docx)\n")


def test_report_help_shows_every_option():
    usage = runner.invoke(app, ["report", "--help"], terminal_width=200).output
    for option in ("--site", "--all", "--format", "--engine", "--force", "--jobs"):
        assert option in usage
    assert "Example: evalkit report" in usage


# --------------------------------------------------------------------------- real renders

PLANTED = """---
title: "Planted"
execute:
  echo: false
---

```{python}
#| output: asis
from evalkit.reporting import markdown_table
import pandas as pd

print(markdown_table(pd.DataFrame({"Group": ["A", "B"], "n": [25, 4]}),
                     caption="Respondents"))
print()
print("Questions go to " + "ana.lopez" + "@" + "example.org.")
```
"""


@pytest.mark.slow
def test_a_planted_small_cell_and_email_fail_the_render_and_leave_nothing(tmp_path):
    (tmp_path / "planted.qmd").write_text(PLANTED)
    job = ReportJob(tmp_path / "planted.qmd", "planted", folder="planted")
    out = tmp_path / "_output"
    with pytest.raises(RenderError) as caught:
        render_reports([job], output_dir=out, formats=("html", "docx"), engine="fallback",
                       scan=ScanRules(threshold=11))
    message = str(caught.value)
    assert message.startswith("planted/planted: not safe to publish, so planted.html, "
                              "planted.docx were deleted:")
    for name in ("planted.html", "planted.docx"):
        assert (f"{name}: small cell 4 (counts from 1 to 10 must be suppressed) in table 1 "
                "('Respondents'), column 'n', row 2") in message
        assert re.search(rf"{re.escape(name)}: email address an… in ", message)
    assert "ana.lopez" not in message
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == [STATE_FILE]
    assert json.loads((out / STATE_FILE).read_text())["jobs"] == {}


# --------------------------------------------------------------------------- the demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("engine") / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _rendered(output: str) -> list[str]:
    return sorted(Path(line.split()[-1]).name for line in output.splitlines()
                  if line.strip().startswith("rendered "))


@pytest.mark.slow
def test_demo_renders_everything_then_only_what_changed(demo):
    files = sorted(p.relative_to(demo / "_output").as_posix()
                   for p in (demo / "_output").rglob("*") if p.suffix in (".html", ".docx"))
    docs = ["cross-site/cross-site", "lessons/lessons",
            *[f"sites/S0{i}/site-S0{i}" for i in range(1, 7)]]
    assert files == sorted(f"{d}.{ext}" for d in docs for ext in ("html", "docx"))

    result = runner.invoke(app, ["report", "-p", str(demo)])
    assert result.exit_code == 0, result.output
    assert "0 rendered, 8 up to date." in result.output
    assert _rendered(result.output) == []

    # One changed answer at S03, then analyze: S03 and the whole-collaborative reports only.
    from evalkit.store import Batch, ingest, read_table

    db = demo / "evalkit.duckdb"
    response = read_table(db, "SELECT response_id, instrument, wave, site_id, respondent_id, "
                              "submitted_at, complete FROM responses WHERE site_id = 'S03' AND "
                              "instrument = 'partnership' AND wave = 'endline' "
                              "ORDER BY response_id LIMIT 1")
    answers = read_table(db, "SELECT response_id, item, value, text FROM answers "
                             "WHERE response_id = ?", [response["response_id"].iloc[0]])
    row = answers.index[answers["value"].notna()][0]
    answers.loc[row, "value"] = 1.0 if answers.loc[row, "value"] != 1.0 else 2.0
    assert ingest(db, Batch(responses=response, answers=answers), source="test:S03").updated == 1
    assert runner.invoke(app, ["analyze", "-p", str(demo)]).exit_code == 0

    result = runner.invoke(app, ["report", "-p", str(demo)])
    assert result.exit_code == 0, result.output
    assert "3 rendered, 5 up to date." in result.output
    assert _rendered(result.output) == sorted(
        f"{name}.{ext}" for name in ("cross-site", "lessons", "site-S03")
        for ext in ("html", "docx"))

    result = runner.invoke(app, ["report", "-p", str(demo), "--site", "S01", "--force",
                                 "--format", "html"])
    assert result.exit_code == 0, result.output
    assert "1 rendered, 0 up to date." in result.output
    assert _rendered(result.output) == ["site-S01.html"]
