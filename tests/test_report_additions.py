"""Branded titles, the site report's summary table, trust and value, community quotes and the
community-experience chart: configured, rendered (fallback engine) and read back as a reader
sees them, and absent from a project that has neither a partner network nor a community
survey."""

from __future__ import annotations

import base64
import dataclasses
import re
import zipfile
from pathlib import Path

import pytest
import yaml
from report_checker import check_reports, report_text

from evalkit.config import load_config
from evalkit.errors import ConfigError
from evalkit.pipeline import analyze_project
from evalkit.reporting import Branding, brand_markdown, render_reports, report_jobs
from evalkit.scenarios import DESIGNS, generate_scenario, write_scenario

KEY = "report-additions-key-0123456789"
ORG = "Northwind <b>Evaluation</b> Center & *Partners*"
FUNDER = "Funded by the Kresge Foundation <script>x()</script> (grant 2025-118)."
# A 1x1 PNG.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwAD"
                       "hgGAWjR9awAAAABJRU5ErkJggg==")


def _project_with_reports(folder: Path, reports: dict) -> Path:
    """A minimal project (the shipped template) whose evalkit.yml has these reports: keys."""
    from evalkit.project import create_project

    project = folder / "p"
    create_project(project)
    cfg = yaml.safe_load((project / "evalkit.yml").read_text())
    cfg["reports"] = {**(cfg.get("reports") or {}), **reports}
    (project / "evalkit.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return project


# 1. Configuration ------------------------------------------------------------------------

def test_branding_options_are_read_and_the_logo_resolved(tmp_path):
    project = _project_with_reports(tmp_path, {"organisation": ORG, "funder": FUNDER,
                                               "logo": "branding/logo.png"})
    (project / "branding").mkdir()
    (project / "branding" / "logo.png").write_bytes(PNG)
    cfg = load_config(project)
    assert (cfg.reports.organisation, cfg.reports.funder) == (ORG, FUNDER)
    assert cfg.logo_path == project.resolve() / "branding" / "logo.png"
    assert Branding.from_config(cfg).params() == {
        "organisation": ORG, "funder": FUNDER, "logo": str(cfg.logo_path)}


@pytest.mark.parametrize(("logo", "content", "says"), [
    ("missing.png", None, "reports.logo: logo file 'missing.png' not found"),
    ("logo.gif", b"GIF89a", "reports.logo: expected an image file ending in .png, .jpg, "
                            ".jpeg or .svg, got .gif"),
    ("logo.png", b"not really a png", "reports.logo: 'logo.png' is not a PNG image"),
    ("logo.svg", b"<html></html>", "reports.logo: 'logo.svg' is not a SVG image"),
])
def test_a_bad_logo_is_refused_in_one_line_naming_the_file_and_key(tmp_path, logo, content,
                                                                   says):
    project = _project_with_reports(tmp_path, {"logo": logo})
    if content is not None:
        (project / logo).write_bytes(content)
    with pytest.raises(ConfigError) as err:
        load_config(project)
    message = str(err.value)
    assert says in message and "evalkit.yml" in message and "\n" not in message


def test_brand_markdown_escapes_text_and_embeds_the_logo(tmp_path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    out = brand_markdown(organisation=ORG, funder=FUNDER, logo=str(logo))
    assert f"data:image/png;base64,{base64.b64encode(PNG).decode()}" in out
    assert 'alt="Logo of Northwind <b>Evaluation</b> Center & *Partners*"' in out
    assert "**Northwind \\<b\\>Evaluation\\</b\\> Center &amp; \\*Partners\\***" in out
    assert "\\<script\\>x()\\</script\\>" in out
    assert brand_markdown() == ""


# 2. Rendered reports ---------------------------------------------------------------------

def _render(project: Path, *, formats: tuple[str, ...], sites: int = 1) -> None:
    cfg = load_config(project)
    jobs = report_jobs(project / "reports", cfg.results_path,
                       [(s.id, s.name) for s in cfg.sites[:sites]],
                       branding=Branding.from_config(cfg))
    render_reports(jobs, output_dir=cfg.output_path, engine="fallback", formats=formats,
                   project_dir=project)


@pytest.fixture(scope="module")
def branded(tmp_path_factory):
    """two_waves (network and community survey, 4 sites), branded, rendered in HTML and
    Word: the cross-site report, the lessons report and the first site's report."""
    mp = pytest.MonkeyPatch()
    mp.setenv("EVALKIT_ID_KEY", KEY)
    folder = tmp_path_factory.mktemp("branded")
    project = write_scenario(generate_scenario("two_waves", seed=2), folder / "project")
    (project / "logo.png").write_bytes(PNG)
    cfg = yaml.safe_load((project / "evalkit.yml").read_text())
    cfg["reports"] = {**(cfg.get("reports") or {}), "organisation": ORG, "funder": FUNDER,
                      "logo": "logo.png"}
    (project / "evalkit.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    analyze_project(project)
    _render(project, formats=("html", "docx"))
    yield project
    mp.undo()


def _outputs(project: Path) -> list[Path]:
    return sorted(p for p in (project / "_output").rglob("*") if p.suffix in (".html", ".docx"))


@pytest.mark.slow
def test_every_title_carries_the_escaped_branding_and_the_embedded_logo(branded):
    outputs = _outputs(branded)
    assert len(outputs) == 6  # cross-site, lessons, one site; HTML and Word
    for path in outputs:
        text = report_text(path)
        head = text[:1500]
        assert "Northwind <b>Evaluation</b> Center & *Partners*" in head, path.name
        assert "Funded by the Kresge Foundation <script>x()</script> (grant 2025-118)." in head
        if path.suffix == ".html":
            raw = path.read_text(encoding="utf-8")
            assert "<script>x()" not in raw and "<b>Evaluation</b>" not in raw
            logo = re.search(r'<img[^>]*src="data:image/png;base64,([^"]+)"[^>]*'
                             r'alt="Logo of Northwind[^"]*"', raw)
            assert logo and base64.b64decode(logo.group(1)) == PNG
            # the branding comes before the first section of the body (after the list of
            # contents, which the fallback engine puts under the title)
            body = raw.index("</nav>") if "</nav>" in raw else 0
            assert body < raw.index("evalkit-brand") < raw.index("<h2", body)
        else:
            with zipfile.ZipFile(path) as z:
                media = [n for n in z.namelist() if n.startswith("word/media/")]
                assert PNG in [z.read(n) for n in media]
                body = z.read("word/document.xml").decode()
                assert 'descr="Logo of Northwind &lt;b&gt;Evaluation&lt;/b&gt; Center' in body


@pytest.mark.slow
def test_the_site_report_opens_with_one_summary_table(branded):
    text = report_text(branded / "_output" / "sites" / "S01" / "site-S01.html")
    start = text.index("Counts below")  # the lead paragraph, after the contents
    summary, details = text.index("\nSummary\n", start), text.index("\nScores by wave\n", start)
    assert summary < details
    table = text[summary:details]
    assert "Outcome\nn\nBaseline\nEndline\nChange [95% CI]\n" in table
    assert "Partnership score (all domains)" in table
    assert re.search(r"\n-?\d\.\d\d \[-?\d\.\d\d, -?\d\.\d\d\]\n", table)


@pytest.mark.slow
def test_network_sections_show_trust_and_value_by_site_and_wave(branded):
    from evalkit.findings import trust_value_tables
    from evalkit.results import read_results

    by_wave, _ = trust_value_tables(read_results(branded / "results"))
    s01 = by_wave[(by_wave["site_id"] == "S01") & (by_wave["measure"] == "trust")]
    for path in (branded / "_output" / "sites" / "S01" / "site-S01.html",
                 branded / "_output" / "cross-site" / "cross-site.html"):
        text = report_text(path)
        section = text[text.rindex("Trust and value between partners"):]
        assert "as the PARTNER tool defines them" in section
        for r in s01.itertuples():
            assert f"{r.mean:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]" in section
        assert "the mean trust rating partner organizations received" in section
        assert "the mean value rating partner organizations received" in section


@pytest.mark.slow
def test_lessons_quote_the_community_by_theme_and_chart_its_experience(branded):
    text = report_text(branded / "_output" / "lessons" / "lessons.html")
    start = text.rindex("\nWhat community members told us\n")  # the heading, not the contents
    section = text[start:text.index("\nHow we measured\n", start)]
    assert "Line chart of the mean community experience (all items) at each wave" in section
    assert "Figure 1. Community experience (all items) at each wave" in section
    assert "only themes at least 11 people wrote about" in section
    quotes = section[section.index("In their own words"):]
    assert len(quotes.splitlines()) >= 3
    assert not re.search(r"@|\bP-[0-9a-f]{16}\b|\(\d{3}\) \d{3}-\d{4}", quotes)
    raw = (branded / "_output" / "lessons" / "lessons.html").read_text(encoding="utf-8")
    assert raw.count("<blockquote>") >= 2
    docx = report_text(branded / "_output" / "lessons" / "lessons.docx")
    assert "What community members told us" in docx


@pytest.mark.slow
def test_branded_reports_say_nothing_the_results_do_not_hold(branded):
    reports = check_reports(branded)
    assert len(reports) == 6
    assert [c for r in reports for c in r.contradictions] == []


@pytest.mark.slow
def test_without_network_or_community_survey_those_sections_are_not_there(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("EVALKIT_ID_KEY", KEY)
    design = dataclasses.replace(DESIGNS["no_network"], name="partnership_only",
                                 instruments=("partnership",))
    project = write_scenario(generate_scenario(design, seed=4), tmp_path / "project")
    analyze_project(project)
    _render(project, formats=("html",))
    outputs = _outputs(project)
    assert len(outputs) == 3
    for path in outputs:
        text = report_text(path).lower()
        for absent in ("trust and value", "partnership networks", "partner network",
                       "community members", "community survey", "community feedback",
                       "anonymous", "quote", "northwind"):
            assert absent not in text, (path.name, absent)
        assert "summary" in text if path.name.startswith("site-") else True
    assert [c for r in check_reports(project) for c in r.contradictions] == []
