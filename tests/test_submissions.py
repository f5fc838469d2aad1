"""Site file submissions: validated cell by cell, ingested whole or rejected whole."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalkit._assets import asset_path
from evalkit.instruments import Instrument, load_instruments
from evalkit.sources import (
    REPORT_COLUMNS,
    SubmissionRejectedError,
    pseudonym,
    submit_file,
    validate_submission,
)
from evalkit.store import read_table

KEY = b"submission-test-key-012345"
INSTRUMENTS = load_instruments(asset_path("surveys"))
CF = INSTRUMENTS["community"]
PSA = INSTRUMENTS["partnership"]


def _write_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _community_rows() -> list[dict]:
    return [
        {"response_id": "F001", "submitted_at": "2026-02-03", "CF01": "4", "CF02": "2",
         "CF03": "5", "COMMENT": "Gracias — très bien 🌱", "SGIC": "ma 05-a", "language": "3",
         "language_other": "Tagalog", "contact_email": "me@example.org"},
        {"response_id": "F002", "submitted_at": "2026-02-04", "CF01": "3", "CF02": "",
         "CF03": "4", "COMMENT": "", "SGIC": "", "language": "1", "language_other": "",
         "contact_email": ""},
    ]


def _counts(store: Path) -> tuple[int, ...]:
    if not store.exists():
        return (0, 0, 0)
    return tuple(int(read_table(store, f"SELECT count(*) AS n FROM {t}")["n"][0])
                 for t in ("responses", "answers", "provenance"))


def test_a_valid_csv_is_ingested_with_pseudonymous_ids_only(tmp_path):
    store = tmp_path / "s.duckdb"
    path = _write_csv(tmp_path / "paper.csv", _community_rows())
    result = submit_file(path, CF, site="S01", wave="baseline", store=store, key=KEY)
    assert (result.rows, result.ingest.inserted, result.ingest.skipped) == (2, 2, False)
    responses = read_table(store, "SELECT * FROM responses ORDER BY response_id")
    assert list(responses["response_id"]) == ["file:community:baseline:S01:F001",
                                              "file:community:baseline:S01:F002"]
    assert responses["respondent_id"][0] == pseudonym("sgic", "MA05A", key=KEY, scope="S01")
    assert pd.isna(responses["respondent_id"][1])
    assert responses["submitted_at"][0] == pd.Timestamp("2026-02-03")
    answers = read_table(store, "SELECT item, value, text FROM answers WHERE response_id = ? "
                         "ORDER BY item", ["file:community:baseline:S01:F001"])
    assert answers.set_index("item")["value"].dropna().to_dict() == {
        "CF01": 4.0, "CF02": 2.0, "CF03": 5.0, "language": 3.0}
    assert answers.set_index("item")["text"].dropna().to_dict() == {
        "COMMENT": "Gracias — très bien 🌱", "language_other": "Tagalog"}
    everything = read_table(store, "SELECT * FROM answers").to_csv()
    assert "me@example.org" not in everything and "ma 05" not in everything


def test_the_same_file_twice_is_recognised_by_its_hash(tmp_path):
    store = tmp_path / "s.duckdb"
    path = _write_csv(tmp_path / "paper.csv", _community_rows())
    submit_file(path, CF, site="S01", wave="baseline", store=store, key=KEY)
    before = _counts(store)
    copy = shutil.copy(path, tmp_path / "renamed copy.csv")
    again = submit_file(copy, CF, site="S01", wave="baseline", store=store, key=KEY)
    assert again.ingest.skipped and _counts(store) == before


def test_one_bad_cell_rejects_the_whole_file_and_the_report_names_it(tmp_path):
    store = tmp_path / "s.duckdb"
    good = _write_csv(tmp_path / "good.csv", _community_rows()[:1])
    submit_file(good, CF, site="S02", wave="baseline", store=store, key=KEY)
    before = _counts(store)
    rows = _community_rows()
    rows[1]["CF03"] = "7"
    bad = _write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(SubmissionRejectedError) as info:
        submit_file(bad, CF, site="S01", wave="baseline", store=store, key=KEY)
    report_path = tmp_path / "bad.csv.validation.csv"
    assert str(info.value) == (
        f"{bad}: rejected, 1 problem(s), nothing was ingested; first: row 3, column 'CF03', "
        "value '7': not a code of scale agree5 (1=Strongly disagree, 2=Disagree, 3=Neither "
        "agree nor disagree, 4=Agree, 5=Strongly agree) (rule code); report: "
        f"{report_path}")
    report = pd.read_csv(report_path, dtype=str)
    assert list(report.columns) == REPORT_COLUMNS
    assert report[["row", "column", "value", "rule"]].values.tolist() == [
        ["3", "CF03", "7", "code"]]
    assert _counts(store) == before


def test_every_kind_of_problem_is_reported_at_once():
    frame = pd.DataFrame([
        {"response_id": "A", "CF01": "x", "language": "1", "language_other": "Klingon",
         "submitted_at": "2026-13-01", "complete": "maybe", "nickname": "Al"},
        {"response_id": "A", "CF01": "2.5", "language": "9", "language_other": "",
         "submitted_at": "", "complete": "no", "nickname": ""},
    ])
    report = validate_submission(frame.astype(str), CF)
    got = report[["row", "column", "rule"]].values.tolist()
    assert got == [
        [1, "nickname", "header"],
        [2, "complete", "code"],
        [2, "submitted_at", "date"],
        [2, "CF01", "code"],
        [2, "language_other", "skip"],
        [3, "response_id", "unique"],
        [3, "CF01", "code"],
        [3, "language", "code"],
    ]


def test_numeric_ranges_required_items_and_grids():
    inst = Instrument.model_validate({
        "id": "toy", "version": "1", "title": "Toy", "respondent": "organization",
        "response_scales": {"lvl": {"codes": {1: "Low", 2: "Mid", 3: "High"}}},
        "items": [
            {"code": "hours", "type": "numeric", "min": 0, "max": 40, "text": "Hours",
             "required": True},
            {"code": "when", "type": "date", "text": "When"},
            {"code": "trust", "type": "rating_grid", "response_scale": "lvl", "text": "Trust"},
            {"code": "tools", "type": "multiple", "options": {1: "A", 2: "B"}, "text": "T"}]})
    frame = pd.DataFrame([
        {"participant_code": "X1", "hours": "41", "when": "2026-02-30",
         "trust[ORG-1]": "3", "tools[1]": "2", "tools[2]": "1"},
        {"participant_code": "X2", "hours": "", "when": "2026-02-03",
         "trust[ORG-1]": "4", "tools[1]": "0", "tools[2]": "1"},
    ])
    got = validate_submission(frame, inst)[["row", "column", "value", "rule"]]
    assert got.values.tolist() == [
        [2, "hours", "41", "range"], [2, "when", "2026-02-30", "date"],
        [2, "tools[1]", "2", "code"], [3, "trust[ORG-1]", "4", "code"],
        [3, "hours", "", "required"]]
    header = validate_submission(pd.DataFrame([{"trust": "1", "tools[3]": "1"}]), inst)
    assert header["rule"].tolist() == ["header"] * 3 + ["required"]
    assert header["message"].tolist() == [
        "rating_grid item 'trust' needs one column per row, e.g. trust[ROW]",
        "'3' is not an option of 'tools'; options are [1, 2]",
        "a response_id or participant_code column must identify each row",
        "required item has no column"]


def test_xlsx_submissions_read_numbers_and_dates_as_typed(tmp_path):
    store = tmp_path / "s.duckdb"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["participant_code", "submitted_at", *[f"PSA{i:02d}" for i in range(1, 25)]])
    import datetime as dt

    sheet.append(["A-17", dt.datetime(2026, 2, 3), *([4] * 23), None])
    sheet.append(["B-02", dt.datetime(2026, 2, 4), *([2.0] * 24)])
    path = tmp_path / "forms.xlsx"
    book.save(path)
    result = submit_file(path, PSA, site="S03", wave="midpoint", store=store, key=KEY)
    assert result.ingest.inserted == 2
    r = read_table(store, "SELECT * FROM responses ORDER BY response_id")
    assert r["respondent_id"].tolist() == [pseudonym("code", "A17", key=KEY, scope="S03"),
                                           pseudonym("code", "B02", key=KEY, scope="S03")]
    n = read_table(store, "SELECT count(*) AS n, sum(value) AS s FROM answers")
    assert (int(n["n"][0]), float(n["s"][0])) == (47, 23 * 4 + 24 * 2)


def test_a_file_with_no_rows_or_a_wrong_type_is_refused(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("response_id,CF01\n")
    with pytest.raises(SubmissionRejectedError, match="the file has no responses"):
        submit_file(empty, CF, site="S01", wave="baseline", store=tmp_path / "s.duckdb",
                    key=KEY)
    other = tmp_path / "data.json"
    other.write_text("{}")
    from evalkit.errors import ConfigError

    with pytest.raises(ConfigError, match=r"expected a \.csv or \.xlsx file, got \.json"):
        submit_file(other, CF, site="S01", wave="baseline", store=tmp_path / "s.duckdb",
                    key=KEY)


# Any input either ingests exactly or is rejected whole -----------------------------------
TOY = Instrument.model_validate({
    "id": "toy", "version": "1", "title": "Toy", "respondent": "participant",
    "response_scales": {"ag3": {"codes": {1: "No", 2: "Maybe", 3: "Yes"}}},
    "items": [{"code": "Q1", "type": "likert", "response_scale": "ag3", "text": "Q1"},
              {"code": "Q2", "type": "numeric", "min": 0, "max": 10, "text": "Q2"},
              {"code": "Q3", "type": "text", "text": "Q3", "shown_if": "Q1 == 3"}]})
CELL = st.one_of(st.sampled_from(["", "1", "2", "3", "4", "0", "10", "11", "2.5", "-1", "x"]),
                 st.text(max_size=6))


def _oracle(row: dict) -> bool:
    """Independent statement of the rules for TOY (codes and numbers in ASCII digits only)."""
    q1, q2, q3 = row["Q1"], row["Q2"], row["Q3"]
    ok1 = q1 == "" or re.fullmatch(r"[123](\.0+)?", q1) is not None
    ok2 = q2 == "" or (re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", q2, re.ASCII)
                       is not None and 0 <= float(q2) <= 10)
    ok3 = q3 == "" or (ok1 and q1 != "" and float(q1) == 3
                       and not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", q3))
    return ok1 and ok2 and ok3


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.fixed_dictionaries({"Q1": CELL, "Q2": CELL, "Q3": CELL}),
                     min_size=1, max_size=4))
def test_any_file_is_ingested_exactly_or_rejected_whole(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("prop")
    store = folder / "s.duckdb"
    rows = [{k: v.strip() for k, v in r.items()} for r in rows]
    rows = [{k: ("" if v.lower() in ("nan", "na", "n/a", "null", "none", "#n/a") else v)
             for k, v in r.items()} for r in rows]  # spreadsheet blanks read as text
    frame = [{"response_id": f"R{i}", **r} for i, r in enumerate(rows)]
    path = folder / "f.csv"
    pd.DataFrame(frame).to_csv(path, index=False)
    valid = all(_oracle(r) for r in rows)
    if not valid:
        with pytest.raises(SubmissionRejectedError):
            submit_file(path, TOY, site="S01", wave="baseline", store=store, key=KEY)
        assert not store.exists()
        return
    submit_file(path, TOY, site="S01", wave="baseline", store=store, key=KEY)
    got = read_table(store, "SELECT response_id, item, value, text FROM answers")
    expected = set()
    for i, r in enumerate(rows):
        for item in ("Q1", "Q2", "Q3"):
            if r[item] != "":
                value = None if item == "Q3" else float(r[item])
                text = r[item] if item == "Q3" else None
                expected.add((f"file:toy:baseline:S01:R{i}", item, value, text))
    stored = {(a.response_id, a.item, None if pd.isna(a.value) else a.value,
               None if a.text is None or (isinstance(a.text, float)) else a.text)
              for a in got.itertuples(index=False)}
    assert stored == expected
    assert _counts(store)[0] == len(rows)
