"""evalkit export: analysis-ready tables with labels that R, Stata and SPSS users see."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from evalkit.config import load_config
from evalkit.errors import ConfigError
from evalkit.export import NOTICE, analysis_tables, export_project, write_export
from evalkit.pipeline import project_instruments
from evalkit.store import read_table

REFERENCE = Path(__file__).parent / "reference" / "export"
_spec = importlib.util.spec_from_file_location("fixed_export", REFERENCE / "fixed.py")
assert _spec is not None and _spec.loader is not None
fixed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixed)
READERS = {"stata": (pyreadstat.read_dta, ".dta"), "spss": (pyreadstat.read_sav, ".sav")}


@pytest.fixture(scope="module")
def fixed_project(tmp_path_factory) -> Path:
    return fixed.build(tmp_path_factory.mktemp("fixed") / "project")


@pytest.fixture(scope="module")
def fixed_tables(fixed_project):
    cfg = load_config(fixed_project)
    return analysis_tables(cfg, instruments=project_instruments(cfg))


@pytest.fixture(scope="module")
def demo_project(tmp_path_factory, demo_data) -> Path:
    from evalkit.demo import demo_config
    from evalkit.project import create_project
    from evalkit.store import ingest

    folder = tmp_path_factory.mktemp("demo") / "project"
    cfg = create_project(folder, config=demo_config(demo_data), force=True)
    instruments = project_instruments(cfg)
    ingest(cfg.store_path, demo_data.batch, source="demo", kind="demo",
           personal_items={k: v.personal_items for k, v in instruments.items()})
    return folder


@pytest.fixture(scope="module")
def demo_tables(demo_project):
    cfg = load_config(demo_project)
    return analysis_tables(cfg, instruments=project_instruments(cfg))


@pytest.mark.parametrize("fmt", ["stata", "spss"])
def test_labels_written_are_the_labels_r_haven_reads(fixed_project, tmp_path, fmt):
    # Oracle: R 4.2.2 haven 2.5.1 read_dta / read_sav of the same fixed export
    # (tests/reference/export/haven_labels.R -> haven_labels.json); sums to 1e-9.
    seen = json.loads((REFERENCE / "haven_labels.json").read_text(encoding="utf-8"))[fmt]
    written = export_project(fixed_project, tmp_path, format=fmt)  # type: ignore[arg-type]
    read, suffix = READERS[fmt]
    assert sorted(p.name for p in written.files) == sorted(f"{t}{suffix}" for t in seen)
    for table, r in seen.items():
        frame, meta = read(str(tmp_path / f"{table}{suffix}"))
        assert meta.file_label == r["file_label"]
        assert list(frame.columns) == r["columns"] and len(frame) == r["n_rows"]
        for name, var in r["variables"].items():
            assert meta.column_names_to_labels[name] == var["label"], (table, name)
            mine = meta.variable_value_labels.get(name, {})
            assert [(float(k), v) for k, v in mine.items()] == [
                (float(lab["value"]), lab["label"]) for lab in var["labels"]], (table, name)
            if "sum" in var:
                values = pd.to_numeric(frame[name], errors="coerce")
                assert math.isclose(values.sum(), var["sum"], rel_tol=1e-9, abs_tol=1e-9)
                assert int(values.isna().sum()) == var["n_missing"], (table, name)


def test_fixed_export_names_labels_and_leaves_out_text(fixed_tables):
    tables = fixed_tables
    toy = tables["toy"]
    assert list(toy.data.columns) == ["response_id", "respondent_id", "site", "modality", "wave",
                                      "submitted_at", "toy_total", "T1", "T2", "tools_1",
                                      "tools_2", "started"]  # no note (text), no email
    assert toy.variable("tools_2").label == "Referral app: Which tools do you use?"
    assert toy.variable("started").type == "date"
    assert str(toy.data["started"].iloc[0].date()) == "2025-10-01"
    feedback = tables["session_feedback"]
    assert "modality_item" in feedback.data.columns  # the item, beside the site's modality
    assert "LS_COMMENT" not in feedback.data.columns
    assert feedback.variable("hours").type == "number"
    network = tables["network"]
    assert network.variable("contact_S01_O2").label.startswith("Org 2 of S01 — café: How often")
    # toy_total: mean of T1 and reversed T2 (0 + 2 - T2); hand calculation for each row.
    expected = (toy.data["T1"].astype(float) + 2 - toy.data["T2"].astype(float)) / 2
    assert toy.data["toy_total"].tolist() == pytest.approx(expected.tolist(), abs=1e-12)


def test_demo_export_csv_is_scored_and_holds_no_personal_data(demo_project, demo_tables,
                                                              tmp_path):
    done = write_export(demo_tables, tmp_path, format="csv")
    cfg = load_config(demo_project)
    counts = read_table(cfg.store_path, "SELECT instrument, count(*) AS n FROM responses "
                        "WHERE complete GROUP BY ALL")
    assert dict(done.rows) == dict(zip(counts["instrument"], counts["n"], strict=True))
    psa = pd.read_csv(tmp_path / "partnership.csv")
    assert psa.groupby(["respondent_id", "wave"]).size().max() == 1
    assert set(psa["wave"]) <= set(cfg.wave_ids) and set(psa["site"]) <= {s.id for s in cfg.sites}
    # Hand calculation (oracle): trust = mean of PSA04, PSA05 and 6 - PSA06 when >= 2 answered.
    items = psa[["PSA04", "PSA05"]].assign(PSA06=6 - psa["PSA06"])
    hand = items.mean(axis=1).where(items.notna().sum(axis=1) >= 2)
    assert psa["trust"].tolist() == pytest.approx(hand.tolist(), abs=1e-12, nan_ok=True)
    community = pd.read_csv(tmp_path / "community.csv", dtype=str)
    assert not {"COMMENT", "SGIC", "contact_email", "language_other"} & set(community.columns)
    everything = "".join(p.read_text(encoding="utf-8") for p in tmp_path.glob("*.csv"))
    assert "@" not in everything  # no email address anywhere
    book = pd.read_csv(tmp_path / "codebook.csv")
    assert set(book.loc[book["table"] == "partnership", "variable"]) == set(psa.columns)
    assert NOTICE in (tmp_path / "codebook.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["stata", "spss"])
def test_demo_export_labels_read_back(demo_tables, tmp_path, fmt):
    write_export({"partnership": demo_tables["partnership"]}, tmp_path,
                 format=fmt)  # type: ignore[arg-type]
    read, suffix = READERS[fmt]
    frame, meta = read(str(tmp_path / f"partnership{suffix}"))
    assert meta.column_names_to_labels["PSA01"].startswith("Partners in our ecosystem")
    assert meta.variable_value_labels["PSA01"] == {1: "Strongly disagree", 2: "Disagree",
                                                   3: "Neither agree nor disagree", 4: "Agree",
                                                   5: "Strongly agree"}
    assert meta.variable_value_labels["wave"] == {1: "baseline", 2: "midpoint", 3: "endline"}
    assert meta.column_names_to_labels["total"] == "Partnership score (all domains)"
    assert set(frame["wave"].dropna()) <= {1, 2, 3}
    if fmt == "spss":
        assert meta.variable_measure["PSA01"] == "ordinal"
        assert meta.variable_measure["total"] == "scale"


def test_parquet_keeps_waves_in_order(fixed_tables, tmp_path):
    write_export({"toy": fixed_tables["toy"]}, tmp_path, format="parquet")
    frame = pd.read_parquet(tmp_path / "toy.parquet")
    assert list(frame["wave"].cat.categories) == ["baseline", "endline"]
    assert frame["wave"].cat.ordered


def test_export_errors_name_what_is_wrong(tmp_path, fixed_project, fixed_tables):
    cfg = load_config(fixed_project)
    tables = fixed_tables
    with pytest.raises(ConfigError, match=r"^--format: expected one of \['csv', 'parquet', "
                                          r"'stata', 'spss'\], got 'xls'$"):
        write_export(tables, tmp_path, format="xls")  # type: ignore[arg-type]
    cfg.store_path.rename(cfg.store_path.with_suffix(".moved"))
    try:
        with pytest.raises(ConfigError, match="the store does not exist yet"):
            analysis_tables(cfg, instruments=project_instruments(cfg))
    finally:
        cfg.store_path.with_suffix(".moved").rename(cfg.store_path)


def test_export_from_the_command_line_says_the_suppression_rule_does_not_apply(fixed_project,
                                                                              tmp_path):
    from typer.testing import CliRunner

    from evalkit.cli import app

    out = tmp_path / "exports"
    result = CliRunner().invoke(app, ["export", "--format", "spss", "--out", str(out), "-p",
                                      str(fixed_project)], terminal_width=400)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"Exported 4 table(s) to {out} (SPSS .sav):",
        "  partnership.sav  8 rows", "  session_feedback.sav  8 rows", "  network.sav  2 rows",
        "  toy.sav  8 rows", "  codebook: codebook.csv, codebook.md", f"Note: {NOTICE}"]
    assert "The suppression rule of published reports" in NOTICE and "NOT applied" in NOTICE
    bad = CliRunner().invoke(app, ["export", "--format", "xlsx", "--out", str(out), "-p",
                                   str(fixed_project)])
    assert bad.exit_code == 1
    assert bad.output == ("error: --format: expected one of ['csv', 'parquet', 'stata', "
                          "'spss'], got 'xlsx'\n")
