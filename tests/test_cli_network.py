"""``evalkit network`` and ``evalkit feedback themes|export|import`` on a demo project."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.config import load_config
from evalkit.demo import demo_config, generate
from evalkit.feedback import read_comments
from evalkit.network import network_tables
from evalkit.project import create_project
from evalkit.store import ingest

runner = CliRunner()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-demo") / "proj"
    demo = generate(seed=5, n_sites=3)
    cfg = create_project(folder, config=demo_config(demo))
    ingest(cfg.store_path, demo.batch, source="demo", kind="demo")
    return folder


@pytest.fixture()
def project(built, tmp_path):
    """A private copy of the demo project (imports write to its store)."""
    folder = tmp_path / "proj"
    shutil.copytree(built, folder)
    return folder


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_network_summary(built):
    result = run("network", "-p", built)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    cfg = load_config(built)
    tables = network_tables(cfg.store_path, cfg)
    sites = tables["network_sites"]
    assert "Partner networks (tie = collaboration >= 3)" in lines[0]
    for row in sites.itertuples():
        line = next(x for x in lines if x.split()[:2] == [row.site_id, row.wave])
        assert line.split()[2:5] == [f"{row.n_respondents}/{row.n_orgs}", str(row.ties),
                                     f"{row.density:.2f}"]
    for row in tables["network_change"].itertuples():
        line = next(x for x in lines if x.split()[:2] == [row.site_id, row.modality])
        assert line.split()[3:7] == [str(row.ties_gained), str(row.ties_lost),
                                     str(row.ties_deepened), f"{row.net_change:+d}"]
    assert "  S01 (endline): missing none; weakly tied none" in lines
    n = int(sites["n_nonrespondents"].sum())
    assert lines[-1] == (f"{n} organization-waves did not answer; ties others reported about "
                         "them are counted.")


def test_network_json_and_site_filter(built):
    result = run("network", "-p", built, "--site", "S02", "--min-level", "4", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"min_level", "sites", "change", "sector_gaps"}
    assert data["min_level"] == 4
    assert {r["site_id"] for r in data["sites"]} == {"S02"}
    assert [r["wave"] for r in data["sites"]] == ["baseline", "endline"]
    assert all(r["min_level"] == 4 for r in data["sites"])
    assert len(data["change"]) == 1 and data["change"][0]["modality"] == "peer"


def test_network_errors_are_one_line(tmp_path, built):
    result = run("network", "-p", tmp_path / "nowhere")
    assert result.exit_code == 1
    assert result.output == f"error: {tmp_path / 'nowhere'}: file not found\n"
    empty = tmp_path / "empty"
    shutil.copytree(built, empty)
    (empty / "evalkit.duckdb").unlink()
    result = run("network", "-p", empty)
    assert result.exit_code == 1
    assert result.output == (f"error: {empty.resolve() / 'evalkit.duckdb'}: store not found; "
                             "ingest data first\n")
    result = run("network", "-p", built, "--min-level", "9")
    assert result.exit_code == 2 and "Invalid value for '--min-level'" in result.output


def test_feedback_themes(built):
    result = run("feedback", "themes", "-p", built)
    assert result.exit_code == 0, result.output
    n = len(read_comments(load_config(built).store_path))
    assert f"Themes of {n} comments" in result.output
    assert result.output.splitlines()[-1] == ("0 comment(s) use corrected codes; the rest use "
                                              "the codebook's suggestions.")
    assert "Coordination between services" in result.output
    data = json.loads(run("feedback", "themes", "-p", built, "--site", "S01", "--json").output)
    assert data["comments"] == n and data["corrected"] == 0
    assert {r["site_id"] for r in data["themes"]} == {"S01"}


def test_feedback_export_correct_import(project, tmp_path):
    sheet = tmp_path / "coding.csv"
    result = run("feedback", "export", "-p", project, "--out", sheet)
    assert result.exit_code == 0, result.output
    n = len(read_comments(project / "evalkit.duckdb"))
    assert result.output.splitlines()[0] == (f"Wrote {n} comments to {sheet} (0 with corrected "
                                             "codes).")
    data = pd.read_csv(sheet, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    data.loc[0, "themes"] = "housing"
    data.loc[1, "reviewed"] = "yes"
    data.to_csv(sheet, index=False)
    result = run("feedback", "import", sheet, "-p", project)
    assert result.exit_code == 0, result.output
    assert result.output == (f"{sheet}: {n} rows, 2 corrected or reviewed: 2 new, 0 updated, "
                             "0 unchanged.\n")
    again = run("feedback", "import", sheet, "-p", project, "--json")
    assert json.loads(again.output) == {"path": str(sheet), "rows": n, "stored": 2,
                                        "inserted": 0, "updated": 0, "unchanged": 2}
    themes = json.loads(run("feedback", "themes", "-p", project, "--json").output)
    assert themes["corrected"] == 2


def test_feedback_import_errors(project, tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"response_id": ["nope"], "themes": ["food"]}).to_csv(bad, index=False)
    result = run("feedback", "import", bad, "-p", project)
    assert result.exit_code == 1
    assert result.output == (f"error: {bad}: 1 problem(s); nothing was imported:\n"
                             "  line 2: response_id 'nope' is not a comment in the store\n")
    result = run("feedback", "themes", "-p", project, "--codebook", tmp_path / "none.yml")
    assert result.exit_code == 1
    assert result.output == f"error: {tmp_path / 'none.yml'}: file not found\n"


@pytest.mark.parametrize("command", [["network"], ["feedback", "themes"],
                                     ["feedback", "export"], ["feedback", "import"]])
def test_help_has_an_example(command):
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert f"Example: evalkit {' '.join(command)}" in result.output
