"""`evalkit demo` end to end into a temporary folder, then again on the same folder."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.store import read_table

pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    first = runner.invoke(app, ["demo", "--out", str(out)])
    assert first.exit_code == 0, first.output
    return out, first.output


def _counts(db):
    return read_table(db, "SELECT (SELECT count(*) FROM responses) AS responses, "
                          "(SELECT count(*) FROM answers) AS answers, "
                          "(SELECT count(*) FROM provenance) AS ingests").iloc[0].to_dict()


def test_demo_makes_every_step(demo_dir):
    out, output = demo_dir
    assert (out / "evalkit.yml").exists()
    assert (out / "data" / "demo_truth.json").exists()
    assert (out / "evalkit.duckdb").exists()
    manifest = json.loads((out / "results" / "manifest.json").read_text())
    assert {"prepost", "model_emmeans", "model_contrasts", "wave_summary"} <= set(
        manifest["tables"])
    assert manifest["plan"]["compare"] == {"pre": "baseline", "post": "endline"}
    assert manifest["versions"]["evalkit"]
    reports = sorted(p.relative_to(out / "_output").as_posix()
                     for p in (out / "_output").rglob("*") if p.suffix in (".html", ".docx"))
    docs = ["cross-site/cross-site", "lessons/lessons",
            *[f"sites/S0{i}/site-S0{i}" for i in range(1, 7)]]
    assert reports == sorted(f"{d}.{ext}" for d in docs for ext in ("html", "docx"))
    assert "Reports:" in output and "cross-site/cross-site.html" in output
    assert "8 rendered, 0 up to date." in output
    assert re.search(r"Done in \d+\.\d s\.", output)


def test_reports_show_what_a_reader_needs(demo_dir):
    out, _ = demo_dir
    cross = (out / "_output" / "cross-site" / "cross-site.html").read_text()
    for text in ("Which modality worked best?", "Difference in change",
                 "Partnership score (all domains)", "Riverbend Complex Care Partnership",
                 "data:image/png;base64"):
        assert text in cross, text
    site = (out / "_output" / "sites" / "S02" / "site-S02.html").read_text()
    assert "Harbor County Care Network" in site and "Peer learning" in site
    assert "<title>Harbor County Care Network: site report</title>" in site
    assert "Change at your site" in site



def test_no_personal_data_in_any_report(demo_dir):
    from evalkit.demo import DEMO_NAMES

    out, _ = demo_dir
    for page in sorted((out / "_output").rglob("*.html")):
        text = re.sub(r"data:[^\"')]+", "", page.read_text())  # embedded images
        assert not re.search(r"[\w.+-]+@[\w-]+\.\w+", text), page.name
        assert not re.search(r"\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}", text), page.name
        for name in DEMO_NAMES:
            for part in name.split():
                assert part not in text, (page.name, part)
        assert not re.search(r"\bP-[0-9A-F]{8}\b", text), page.name  # pseudonymous ids


def test_rerun_on_same_folder_is_safe(demo_dir):
    out, _ = demo_dir
    before = _counts(out / "evalkit.duckdb")
    tables_before = json.loads((out / "results" / "manifest.json").read_text())["tables"]
    again = runner.invoke(app, ["demo", "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert "nothing new" in again.output
    assert "0 rendered, 8 up to date." in again.output  # same data: no report rendered again
    assert _counts(out / "evalkit.duckdb") == before
    tables_after = json.loads((out / "results" / "manifest.json").read_text())["tables"]
    assert {k: v["sha256"] for k, v in tables_after.items()} == {
        k: v["sha256"] for k, v in tables_before.items()}
