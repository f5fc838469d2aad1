"""Adversarial inputs at the entrances: `evalkit submit` and the CSV analysis commands.

Every case asserts the outcome: refused with a one-line message naming the file (and the
row and column where there is one), or ingested completely; that a refusal leaves the
store byte-for-byte unchanged (the file's bytes and a dump of every table); and that no
output holds a traceback. Rows are counted as the file counts them: the header is row 1.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.project import create_project
from evalkit.store import read_table

runner = CliRunner()
KEY = "adversarial-key-0123456789"
TABLES = ("sites", "organizations", "participants", "responses", "answers", "provenance",
          "meta")
HEADER = "response_id,CF01,CF02,COMMENT"
REF = Path(__file__).parent / "reference"


# Helpers --------------------------------------------------------------------------------
@pytest.fixture()
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_ID_KEY", KEY)
    root = tmp_path / "proj"
    create_project(root)
    return root


def _store(project: Path) -> Path:
    return project / "evalkit.duckdb"


def snapshot(store: Path) -> tuple[str, dict[str, list]] | None:
    """The store's bytes (hash) and every table, or None when there is no store."""
    from evalkit.store import open_store

    if not store.exists():
        return None
    digest = hashlib.sha256(store.read_bytes()).hexdigest()
    con = open_store(store, read_only=True)
    try:
        tables = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").df().astype(str)
                  .values.tolist() for t in TABLES}
    finally:
        con.close()
    return digest, tables


def submit(project: Path, path: Path, *extra: str, site: str = "S01", wave: str = "baseline",
           instrument: str = "community"):
    result = runner.invoke(app, ["submit", str(path), "--site", site, "--wave", wave, "-i",
                                 instrument, "-p", str(project), *extra])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    return result


def error_line(result) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, result.output
    return lines[0]


def refused(project: Path, path: Path, *extra: str, expect: list[str], **kw) -> str:
    """Submit ``path``; assert exit 1, one error line holding ``expect``, store unchanged."""
    before = snapshot(_store(project))
    result = submit(project, path, *extra, **kw)
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert line.startswith(f"error: {path}") or f"{path}" in line, line
    for part in expect:
        assert part in line, (part, line)
    assert snapshot(_store(project)) == before
    return line


def accepted(project: Path, path: Path, *extra: str, rows: int, **kw):
    result = submit(project, path, *extra, **kw)
    assert result.exit_code == 0, result.output
    assert f"Accepted {path}: {rows} responses" in result.stdout
    return result


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def answers(project: Path) -> dict[tuple[str, str], object]:
    frame = read_table(_store(project), "SELECT response_id, item, value, text FROM answers")
    return {(r.response_id.rsplit(":", 1)[-1], r.item): (r.text if r.text is not None and
                                                          not isinstance(r.text, float)
                                                          else r.value)
            for r in frame.itertuples(index=False)}


# CSV cells and rows refused with row and column -------------------------------------------
BAD_CSV: dict[str, tuple[str, list[str]]] = {
    "short row": (f"{HEADER}\n1,4,2,ok\n2,4\n", ["row 3", "column 'CF02'", "(rule fields)"]),
    "long row": (f"{HEADER}\n1,4,2,ok,surplus\n", ["row 2", "column 'field 5'",
                                                  "(rule fields)"]),
    "NUL byte": (f"{HEADER}\n1,4,2,ok\n2,4,2,a\x00b\n", ["row 3", "column 'COMMENT'",
                                                        "U+0000 (NUL)"]),
    "bell character": (f"{HEADER}\n1,4,2,ding\x07\n", ["row 2", "column 'COMMENT'",
                                                      "U+0007"]),
    "arabic-indic digit": (f"{HEADER}\n1,٤,2,ok\n", ["row 2", "column 'CF01'",
                                                    "type the digits 0-9"]),
    "fullwidth digit": (f"{HEADER}\n1,４,2,ok\n", ["row 2", "column 'CF01'", "(rule code)"]),
    "devanagari digit in id": (f"{HEADER}\n४,4,2,ok\n", ["row 2", "column 'response_id'",
                                                        "non-ASCII digit"]),
    "scientific code": (f"{HEADER}\n1,4e0,2,ok\n", ["row 2", "column 'CF01'",
                                                   "scientific notation"]),
    "scientific code with sign": (f"{HEADER}\n1,3,4.0E+0,ok\n", ["row 2", "column 'CF02'",
                                                                "scientific notation"]),
    "underscore number": (f"{HEADER}\n1,1_0,2,ok\n", ["row 2", "column 'CF01'",
                                                     "(rule code)"]),
    "plus sign code": (f"{HEADER}\n1,+4,2,ok\n", ["row 2", "column 'CF01'", "(rule code)"]),
    "scientific id": (f"{HEADER}\n1.23E+05,4,2,ok\n", ["row 2", "column 'response_id'",
                                                      "scientific notation"]),
    "id over 64 characters": (f"{HEADER}\n{'A' * 65},4,2,ok\n",
                              ["row 2", "column 'response_id'", "(rule size)"]),
    "5 MB id": (f"{HEADER}\n{'7' * 5_000_000},4,2,ok\n", ["row 2", "column 'response_id'",
                                                         "(rule size)"]),
    "cell over 32767 characters": (f"{HEADER}\n1,4,2,{'x' * 40_000}\n",
                                   ["row 2", "column 'COMMENT'", "the limit is 32767"]),
    "accented id": (f"{HEADER}\nFé1,4,2,ok\n", ["row 2", "column 'response_id'",
                                               "(rule code)"]),
    "punctuation-only id": (f"{HEADER}\n---,4,2,ok\n", ["row 2", "column 'response_id'",
                                                       "no letter or digit"]),
    "ids equal once normalised": (f"{HEADER}\nF-1,4,2,ok\nf 1,3,3,ok\n",
                                  ["row 3", "column 'response_id'", "(rule unique)"]),
    "blank id": (f"{HEADER}\n,4,2,ok\n", ["row 2", "column 'response_id'",
                                         "(rule required)"]),
    "row after a blank line": (f"{HEADER}\n1,4,2,ok\n\n2,9,2,ok\n",
                               ["row 4", "column 'CF01'", "value '9'"]),
    "row after a two-line cell": (f'{HEADER}\n1,4,2,"two\nlines"\n2,7,2,ok\n',
                                  ["row 4", "column 'CF01'", "value '7'"]),
    "carriage-return lines": (f"{HEADER}\r1,4,2,ok\r2,6,2,ok\r", ["row 3", "column 'CF01'"]),
    "header only": (f"{HEADER}\n", ["the file has no responses"]),
    "unknown column": ("response_id,CF01,shoe_size\n1,4,44\n", ["row 1",
                                                               "column 'shoe_size'"]),
    "unnamed column with values": ("response_id,CF01,\n1,4,x\n", ["row 1", "column 3",
                                                                 "no name"]),
    "skip condition broken": ("response_id,language,language_other\n1,1,Tagalog\n",
                              ["row 2", "column 'language_other'", "(rule skip)"]),
}


@pytest.mark.parametrize("case", list(BAD_CSV))
def test_bad_csv_is_refused_whole_naming_row_and_column(project, case):
    text, expect = BAD_CSV[case]
    path = write(project / "site.csv", text)
    line = refused(project, path, expect=["rejected", *expect])
    assert line.endswith(f"report: {path}.validation.csv")
    report = pd.read_csv(f"{path}.validation.csv", dtype=str, keep_default_na=False)
    assert list(report.columns) == ["row", "column", "value", "rule", "message"]
    assert report["value"].str.len().max() < 300  # huge cells are shortened in the report


def test_a_refusal_after_earlier_data_leaves_the_store_byte_for_byte(project):
    accepted(project, write(project / "good.csv", f"{HEADER}\n1,4,2,ok\n"), rows=1)
    for case in ("NUL byte", "short row", "scientific code", "5 MB id"):
        refused(project, write(project / "bad.csv", BAD_CSV[case][0]),
                expect=BAD_CSV[case][1])


# Files that cannot be read as tables: one line naming the file -----------------------------
UNREADABLE: dict[str, tuple[str, bytes, list[str]]] = {
    "unclosed quote": ("site.csv", f'{HEADER}\n1,4,2,"never closed\n'.encode(),
                       ["row 2", "cannot be read as CSV"]),
    "quote then text": ("site.csv", f'{HEADER}\n1,4,2,"x"y\n'.encode(),
                        ["row 2", "check the quotes"]),
    "empty file": ("site.csv", b"", ["the file is empty"]),
    "blank lines only": ("site.csv", b"\n\n \n", ["the file is empty"]),
    "mixed encodings": ("site.csv", f"{HEADER}\n1,4,2,Zoë\n".encode() + b"2,4,2,Zo\xe9\n",
                        ["mixes UTF-8 with another encoding", "line 3"]),
    "text named .xlsx": ("site.xlsx", f"{HEADER}\n1,4,2,ok\n".encode(),
                         ["not an Excel workbook"]),
    "zip named .xlsx": ("site.xlsx", b"", ["not an Excel workbook"]),
    "old .xls named .xlsx": ("site.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600,
                             ["Excel 97-2003 .xls"]),
    "truncated workbook": ("site.xlsx", b"", ["not an Excel workbook"]),
    "workbook named .csv": ("site.csv", b"", ["is a workbook (XLSX), not CSV text"]),
    "json file": ("site.json", b"{}", ["expected a .csv or .xlsx file, got .json"]),
}


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    return buf.getvalue()


def _workbook_bytes(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    for r in rows:
        book.active.append(r)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_unreadable_files_get_one_line(project, case):
    name, data, expect = UNREADABLE[case]
    if case == "zip named .xlsx":
        data = _zip_bytes()
    elif case == "truncated workbook":
        data = _workbook_bytes([HEADER.split(","), [1, 4, 2, "ok"]])[:300]
    elif case == "workbook named .csv":
        data = _workbook_bytes([HEADER.split(","), [1, 4, 2, "ok"]])
    path = project / name
    path.write_bytes(data)
    refused(project, path, expect=expect)


def test_missing_file_and_sheet_of_a_csv(project):
    refused(project, project / "nope.csv", expect=["file not found"])
    path = write(project / "site.csv", f"{HEADER}\n1,4,2,ok\n")
    refused(project, path, "--sheet", "Responses", expect=["a CSV file has no sheets"])


# Encodings and delimiters that are accepted exactly -----------------------------------------
GOOD_TEXT = "response_id{d}CF01{d}CF02{d}COMMENT\r\nF1{d}4{d}2{d}Très bien — merci\r\n" \
            "F2{d}3{d}{d}\r\n"


@pytest.mark.parametrize(("encoding", "delimiter"), [
    ("utf-8", ","), ("utf-8-sig", ";"), ("cp1252", ";"), ("utf-16", "\t"), ("utf-16-le", ","),
    ("utf-8", "\t")])
def test_exports_in_any_common_encoding_are_ingested_exactly(project, encoding, delimiter):
    text = GOOD_TEXT.format(d=delimiter)
    if encoding == "cp1252":
        text = text.replace(" — ", " - ")
    path = write(project / "site.csv", text, encoding)
    accepted(project, path, rows=2)
    got = answers(project)
    assert got == {("F1", "CF01"): 4.0, ("F1", "CF02"): 2.0,
                   ("F1", "COMMENT"): text.split("\r\n")[1].split(delimiter)[3],
                   ("F2", "CF01"): 3.0}


# Workbooks ---------------------------------------------------------------------------------
def _book(path: Path, sheets: dict[str, list[list]], merge: str | None = None) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        ws = book.create_sheet(name)
        for r in rows:
            ws.append(r)
        if merge and name == next(iter(sheets)):
            ws.merge_cells(merge)
    book.save(path)
    return path


ROWS = [["response_id", "CF01", "CF02"], ["F1", 4, 2], ["F2", 3, 5]]


def test_every_sheet_with_data_is_read_or_the_file_is_refused_naming_them(project):
    path = _book(project / "forms.xlsx", {"Responses": ROWS,
                                          "More": [ROWS[0], ["F3", 1, 1]], "Notes": []})
    refused(project, path, expect=["sheets ['Responses', 'More'] all hold data",
                                   "--sheet NAME"])
    accepted(project, path, "--sheet", "More", rows=1)
    assert set(answers(project)) == {("F3", "CF01"), ("F3", "CF02")}


def test_unknown_sheet_is_named(project):
    path = _book(project / "forms.xlsx", {"Responses": ROWS})
    refused(project, path, "--sheet", "Sheet9", expect=["--sheet 'Sheet9' not found",
                                                        "['Responses']"])


def test_merged_cells_refuse_the_workbook_naming_them(project):
    path = _book(project / "forms.xlsx", {"Responses": ROWS + [["F3", 4, None]]},
                 merge="B4:C4")
    refused(project, path, expect=["row 4", "column 'CF01'", "Responses!B4:C4",
                                   "(rule merged)"])


def test_formula_without_saved_value_is_named(project):
    path = _book(project / "forms.xlsx", {"Responses": ROWS + [["F3", "=B2-1", 2]]})
    refused(project, path, expect=["row 4", "column 'CF01'", "Responses!B4",
                                   "formula without a saved value"])


def test_formula_with_saved_value_is_read_as_its_value(project):
    path = _book(project / "forms.xlsx", {"Responses": ROWS + [["F3", "=B2-1", 2]]})
    # Put Excel's cached value (3) into the sheet XML, as Excel does when it saves.
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    name = "xl/worksheets/sheet1.xml"
    parts[name] = parts[name].replace(b"<f>B2-1</f><v></v>", b"<f>B2-1</f><v>3</v>")
    if b"<v>3</v>" not in parts[name]:
        parts[name] = parts[name].replace(b"<f>B2-1</f>", b"<f>B2-1</f><v>3</v>")
    with zipfile.ZipFile(path, "w") as z:
        for n, data in parts.items():
            z.writestr(n, data)
    accepted(project, path, rows=3)
    assert answers(project)[("F3", "CF01")] == 3.0


def test_error_cells_are_refused(project):
    path = _book(project / "forms.xlsx", {"Responses": ROWS + [["F3", "#DIV/0!", 2]]})
    refused(project, path, expect=["row 4", "column 'CF01'", "error value"])


# Identity: collisions, duplicates, self-generated codes --------------------------------------
def test_a_second_file_reusing_ids_is_refused_naming_the_first(project):
    first = write(project / "site_a.csv", "response_id,CF01\n1,4\n2,3\n3,5\n4,2\n")
    accepted(project, first, rows=4)
    second = write(project / "site_b.csv", "response_id,CF01\n1,1\n2,1\n3,1\n4,1\n")
    line = refused(project, second, expect=["row 2", "column 'response_id'",
                                            "already stored from site_a.csv",
                                            "pass --replace"])
    assert "4 response id(s) were already stored from site_a.csv" in line
    result = submit(project, second, "--replace")
    assert result.exit_code == 0
    assert "0 new, 4 updated" in result.stdout
    assert {v for (_, item), v in answers(project).items() if item == "CF01"} == {1.0}


def test_the_same_file_again_is_already_ingested_and_writes_nothing(project):
    path = write(project / "site.csv", "response_id,CF01\n1,4\n")
    accepted(project, path, rows=1)
    before = snapshot(_store(project))
    copy = write(project / "renamed.csv", "response_id,CF01\n1,4\n")
    result = submit(project, copy)
    assert result.exit_code == 0 and result.stdout.startswith(f"Already ingested: {copy}")
    assert snapshot(_store(project)) == before


def test_participant_codes_are_normalised_before_duplicate_checks(project):
    path = write(project / "site.csv", "participant_code,CF01\nabc-1,4\nABC1,3\n")
    refused(project, path, expect=["row 3", "column 'participant_code'", "as 'ABC1'",
                                   "(rule unique)"])


def test_a_participant_stored_in_the_wave_from_another_file_is_refused(project):
    accepted(project, write(project / "a.csv", "response_id,participant_code,CF01\n"
                                                "1,ab 12,4\n"), rows=1)
    refused(project, write(project / "b.csv", "response_id,participant_code,CF01\n"
                                              "7,AB-12,2\n"),
            expect=["row 2", "column 'participant_code'", "already has a community "
                    "response in wave baseline at S01, stored from a.csv"])


def test_a_repeated_self_generated_code_is_flagged_and_stored_unlinked(project):
    path = write(project / "site.csv", "response_id,CF01,SGIC\n1,4,MA05A\n2,3,ma-05a\n"
                                       "3,3,ma 05 a\n4,2,ZZ01B\n")
    result = accepted(project, path, rows=4)
    assert "3 response(s) share a self-generated code" in result.stderr
    report = pd.read_csv(f"{path}.validation.csv", dtype=str)
    assert report["rule"].tolist() == ["ambiguous"] * 3
    assert report["row"].tolist() == ["2", "3", "4"]
    resp = read_table(_store(project), "SELECT response_id, respondent_id FROM responses "
                      "ORDER BY response_id")
    assert resp["respondent_id"].isna().tolist() == [True, True, True, False]


def test_a_self_generated_code_already_stored_in_the_wave_is_flagged(project):
    accepted(project, write(project / "a.csv", "response_id,CF01,SGIC\n1,4,MA05A\n"), rows=1)
    path = write(project / "b.csv", "response_id,CF01,SGIC\n2,4,ma05a\n")
    result = accepted(project, path, rows=1)
    assert "stored unlinked" in result.stderr
    report = pd.read_csv(f"{path}.validation.csv", dtype=str)
    assert "a response already stored" in report["message"][0]


# Keys and locks ------------------------------------------------------------------------------
def test_a_different_key_is_refused_saying_what_would_break(project, monkeypatch):
    accepted(project, write(project / "a.csv", "response_id,CF01\n1,4\n"), rows=1)
    monkeypatch.setenv("EVALKIT_ID_KEY", "another-key-0123456789")
    path = write(project / "b.csv", "response_id,CF01\n2,4\n")
    before = snapshot(_store(project))
    result = submit(project, path)
    assert result.exit_code == 1
    line = error_line(result)
    assert "EVALKIT_ID_KEY is not the key" in line and "pre/post matching" in line
    assert snapshot(_store(project)) == before
    fp = read_table(_store(project), "SELECT value FROM meta")["value"][0]
    assert KEY not in fp and "another" not in fp


@pytest.mark.parametrize("key", [" " * 16, " " * 40, "short-key", "a b c d e f g h i j k o",
                                 "\t" * 8 + "abcdefg" + "\n" * 8])
def test_a_weak_key_is_refused(project, monkeypatch, key):
    monkeypatch.setenv("EVALKIT_ID_KEY", key)
    result = submit(project, write(project / "a.csv", "response_id,CF01\n1,4\n"))
    assert result.exit_code == 1
    line = error_line(result)
    assert "expected a secret of at least 16 characters" in line
    solid = sum(not ch.isspace() for ch in key)
    assert line.endswith(f"only {solid} of them non-blank" if solid < len(key) else
                         f"got {len(key)} characters")
    assert not _store(project).exists()


HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _hold_lock(store: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(store), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_locked_store_gives_one_line_and_wait_waits(project):
    accepted(project, write(project / "a.csv", "response_id,CF01\n1,4\n"), rows=1)
    store = _store(project)
    path = write(project / "b.csv", "response_id,CF01\n2,4\n")
    proc = _hold_lock(store, 2.0)
    try:
        result = submit(project, path)
        assert result.exit_code == 1
        assert error_line(result) == (f"error: another evalkit process is writing to "
                                      f"{store}; wait or retry")
    finally:
        proc.wait()
    before = snapshot(store)
    assert before is not None and len(before[1]["responses"]) == 1
    proc = _hold_lock(store, 1.5)
    try:
        started = time.monotonic()
        result = submit(project, path, "--wait", "30")
        assert result.exit_code == 0, result.output
        assert time.monotonic() - started >= 0.5
    finally:
        proc.wait()
    assert len(read_table(store, "SELECT * FROM responses")) == 2


def test_errors_turns_foreseeable_exceptions_into_one_line(tmp_path):
    import duckdb

    from evalkit.cli import _errors

    def line(exc: BaseException) -> str:
        result = runner.invoke(_command(exc, tmp_path / "x.xlsx", _errors), [])
        assert "Traceback" not in result.output and result.exit_code == 1
        return result.output.strip()

    assert line(duckdb.IOException('IO Error: Could not set lock on file "/s.duckdb": '
                                   "Conflicting lock")) == (
        "error: another evalkit process is writing to /s.duckdb; wait or retry")
    assert line(zipfile.BadZipFile("File is not a zip file")).startswith(
        f"error: {tmp_path / 'x.xlsx'}: not an Excel workbook")
    from openpyxl.utils.exceptions import InvalidFileException

    assert str(tmp_path / "x.xlsx") in line(InvalidFileException("bad"))
    assert "not text in a known encoding" in line(b"\xff".decode("utf-8", "strict")
                                                  if False else UnicodeDecodeError(
                                                      "utf-8", b"\xff", 0, 1, "invalid"))
    assert line(PermissionError(13, "Permission denied", "/data/site.csv")) == (
        "error: /data/site.csv: Permission denied")


def _command(exc: BaseException, file: Path, errors: Callable):
    import typer

    one = typer.Typer()

    @one.command()
    def go() -> None:
        with errors(file):
            raise exc

    return one


# The CSV analysis commands -------------------------------------------------------------------
PAIRED = REF / "prepost" / "paired_basic.csv"
PREPOST = ["--id", "subject", "--time", "wave", "--pre", "baseline", "--post", "endline",
           "--outcome", "score", "--json"]


def stats(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    return result


@pytest.fixture(scope="module")
def paired_reference():
    result = stats("prepost", str(PAIRED), *PREPOST)
    assert result.exit_code == 0
    return json.loads(result.stdout)


@pytest.mark.parametrize(("encoding", "delimiter"), [
    ("utf-8-sig", ","), ("cp1252", ";"), ("utf-16", "\t"), ("utf-16-le", ";"),
    ("utf-8", "\t")])
def test_prepost_reads_any_common_export(tmp_path, paired_reference, encoding, delimiter):
    frame = pd.read_csv(PAIRED)
    path = tmp_path / "export.csv"
    path.write_bytes(frame.to_csv(index=False, sep=delimiter, lineterminator="\r\n")
                     .encode(encoding))
    result = stats("prepost", str(path), *PREPOST)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == paired_reference


def test_prepost_reads_a_workbook_with_sheet(tmp_path, paired_reference):
    frame = pd.read_csv(PAIRED)
    path = tmp_path / "export.xlsx"
    with pd.ExcelWriter(path) as xl:
        frame.to_excel(xl, sheet_name="Data", index=False)
        frame.head(3).to_excel(xl, sheet_name="Old", index=False)
    result = stats("prepost", str(path), *PREPOST)
    assert result.exit_code == 1
    assert "sheets ['Data', 'Old'] all hold data" in result.output
    result = stats("prepost", str(path), *PREPOST, "--sheet", "Data")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == paired_reference


ALPHA = REF / "reliability" / "alpha_complete.csv"
LABELS = {1: "Strongly disagree", 2: "Disagree", 3: "Neutral", 4: "Agree",
          5: "Strongly agree"}
LABEL_SPEC = ",".join(f"{v}={k}" for k, v in LABELS.items())
ALPHA_ARGS = ["--items", "q1,q2,q3,q4,q5", "--scale-min", "1", "--scale-max", "5", "--json"]


def test_a_redcap_label_export_is_mapped_through_labels(tmp_path):
    numeric = stats("reliability", str(ALPHA), *ALPHA_ARGS)
    frame = pd.read_csv(ALPHA)
    items = ["q1", "q2", "q3", "q4", "q5"]
    shouted = frame.copy()
    shouted[items] = frame[items].apply(lambda c: c.map(lambda v: LABELS[int(v)]))
    shouted.loc[0, "q1"] = "  strongly   DISAGREE " if frame.loc[0, "q1"] == 1 else \
        shouted.loc[0, "q1"].upper()
    path = tmp_path / "redcap_labels.csv"
    shouted.to_csv(path, index=False)
    result = stats("reliability", str(path), *ALPHA_ARGS, "--labels", LABEL_SPEC)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(numeric.stdout)
    unmapped = stats("reliability", str(path), *ALPHA_ARGS, "--labels",
                     LABEL_SPEC.replace(",Neutral=3", ""))
    assert unmapped.exit_code == 1
    line = unmapped.output.strip()
    assert line.startswith(f"error: {path}: row ") and "'Neutral' is not a number" in line
    assert "--labels" in line and len(line.splitlines()) == 1
    row = int(line.split("row ")[1].split(",")[0])
    assert "Neutral" in path.read_text().splitlines()[row - 1]


BAD_STATS: dict[str, tuple[bytes, list[str]]] = {
    "NUL in outcome": (b"subject,wave,score\nA,baseline,3\nA,endline,4\x00\n",
                       ["row 3", "column 'score'", "U+0000"]),
    "ragged row": (b"subject,wave,score\nA,baseline,3\nA,endline\n",
                   ["row 3", "column 'score'", "the row has 2 fields"]),
    "arabic digit outcome": ("subject,wave,score\nA,baseline,3\nA,endline,٤\n".encode(),
                             ["row 3", "column 'score'", "'٤' is not a number"]),
    "row after blank lines": (b"subject,wave,score\nA,baseline,3\n\n\nA,endline,high\n",
                              ["row 5", "column 'score'", "'high' is not a number"]),
    "mixed encodings": ("subject,wave,score\nZoë,baseline,3\n".encode() +
                        b"Zo\xe9,endline,4\n", ["mixes UTF-8"]),
    "damaged workbook": (b"PK\x03\x04garbage", ["not an Excel workbook"]),
    "empty file": (b"", ["the file is empty"]),
}


@pytest.mark.parametrize("case", list(BAD_STATS))
def test_bad_exports_for_the_stats_commands_get_one_line(tmp_path, case):
    data, expect = BAD_STATS[case]
    path = tmp_path / ("export.xlsx" if case == "damaged workbook" else "export.csv")
    path.write_bytes(data)
    result = stats("prepost", str(path), *PREPOST)
    assert result.exit_code == 1
    line = result.output.strip()
    assert len(line.splitlines()) == 1 and line.startswith(f"error: {path}"), line
    for part in expect:
        assert part in line, (part, line)


def test_a_bad_labels_option_is_one_line(tmp_path):
    result = stats("reliability", str(ALPHA), *ALPHA_ARGS, "--labels", "Agree=four")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: --labels: expected LABEL=NUMBER pairs separated by commas (e.g. "
        "'Strongly disagree=1,Disagree=2'); got 'Agree=four'")


def test_model_reads_a_semicolon_cp1252_export(tmp_path):
    model = REF / "models" / "balanced.csv"
    args = ["--outcome", "score", "--time", "wave", "--time-order",
            "baseline,midline,endline", "--group", "modality", "--cluster", "site",
            "--subject", "participant", "--json"]
    plain = stats("model", str(model), *args)
    path = tmp_path / "export.csv"
    path.write_bytes(pd.read_csv(model).to_csv(index=False, sep=";").encode("cp1252"))
    result = stats("model", str(path), *args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(plain.stdout)


# Properties: any file either ingests exactly or is refused whole ------------------------------
TRICKY = st.sampled_from(["6", "0", "4e0", "٤", "４", "x", "a\x00b", "é", "\x07", '"', ",",
                          ";", "\n", "--", "1_0", "+4", "NA", "Ünïcødé 🌱", "y" * 70])
GOOD = st.sampled_from(["", "1", "2", "3", "4", "5", "4.0", " 2 "])
CODE = st.one_of(GOOD, GOOD, GOOD, GOOD, TRICKY)
TEXT = st.one_of(st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")),
                         max_size=12), TRICKY)
ROW = st.one_of(st.tuples(CODE, CODE, TEXT).map(list), st.tuples(CODE, CODE, TEXT).map(list),
                st.lists(CODE, min_size=2, max_size=5))


def _expected_code(cell: str) -> float | None | bool:
    """Oracle for a CF item cell: None if blank, the code, or False if refused."""
    c = cell.strip()
    if c == "":
        return None
    return float(c) if c in ("1", "2", "3", "4", "5", "4.0") else False


_TEMPLATE: dict[str, Path] = {}


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=1, max_size=3), encoding=st.sampled_from(
    ["utf-8", "utf-8-sig", "utf-16"]), delimiter=st.sampled_from([",", ";", "\t"]))
def test_any_site_file_ingests_exactly_or_is_refused_whole(tmp_path_factory, rows, encoding,
                                                           delimiter):
    os.environ["EVALKIT_ID_KEY"] = KEY
    if "project" not in _TEMPLATE:
        template = tmp_path_factory.mktemp("template") / "proj"
        create_project(template)
        # A stored file first, so "unchanged" is a real comparison.
        accepted(template, write(template / "earlier.csv", "response_id,CF01\nE1,4\n"),
                 rows=1)
        _TEMPLATE["project"] = template
    project = tmp_path_factory.mktemp("adv") / "proj"
    shutil.copytree(_TEMPLATE["project"], project)
    buf = io.StringIO()
    import csv

    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["response_id", "CF01", "CF02", "COMMENT"])
    for i, cells in enumerate(rows):
        writer.writerow([f"R{i}", *cells])
    path = project / "site.csv"
    path.write_bytes(buf.getvalue().encode(encoding))
    valid = True
    expected: dict[tuple[str, str], object] = {("E1", "CF01"): 4.0}
    for i, cells in enumerate(rows):
        cf = [_expected_code(c) for c in cells[:2]]
        comment = cells[2].strip() if len(cells) > 2 else None
        if len(cells) != 3 or any(v is False for v in cf):
            valid = False
        if comment is not None and any(ch in comment for ch in "\x00\x07"):
            valid = False
        if comment is not None and len(comment) > 32_767:
            valid = False
        for item, v in zip(("CF01", "CF02"), cf, strict=False):
            if v is not None and v is not False:
                expected[(f"R{i}", item)] = v
        if comment:
            expected[(f"R{i}", "COMMENT")] = comment
    if len(buf.getvalue().strip().splitlines()) == 0:
        valid = False
    before = snapshot(_store(project))
    result = submit(project, path)
    if not valid:
        event("refused")
        assert result.exit_code == 1, (rows, result.output)
        assert error_line(result).startswith(f"error: {path}")
        assert snapshot(_store(project)) == before
        return
    assert result.exit_code == 0, (rows, result.output)
    event("ingested")
    assert answers(project) == expected


NUMBERS = st.one_of(st.integers(-1000, 1000).map(str),
                    st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: f"{f:.3f}"),
                    st.sampled_from(["", "NA", "٣", "1e3", "x", "\x00", "3,5"]))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(cells=st.lists(st.tuples(NUMBERS, NUMBERS), min_size=1, max_size=6),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]),
       delimiter=st.sampled_from([",", ";", "\t"]))
def test_the_stats_reader_reads_numbers_exactly_or_refuses(cells, encoding, delimiter):
    import csv
    import tempfile

    from evalkit.errors import EvalkitError
    from evalkit.tabular import read_tabular, typed_frame

    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["a", "b"])
    writer.writerows(cells)
    try:
        data = buf.getvalue().encode(encoding)
    except UnicodeEncodeError:
        return  # not representable in cp1252: nothing to read
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.csv"
        path.write_bytes(data)

        def ok(v: str) -> bool:
            return v in ("", "NA") or (v.lstrip("-").replace(".", "", 1).isdigit()
                                       and v.isascii()) or v == "1e3"

        valid = all(ok(v) for pair in cells for v in pair)
        try:
            frame = typed_frame(read_tabular(path), numeric=["a", "b"])
        except EvalkitError as exc:
            assert not valid, (cells, exc)
            assert str(exc).startswith(f"{path}")
            return
        assert valid, cells
        for j, col in enumerate(("a", "b")):
            want = [None if p[j] in ("", "NA") else float(p[j]) for p in cells]
            got = [None if pd.isna(v) else float(v) for v in frame[col]]
            assert got == want
        assert frame.index.tolist() == list(range(2, len(cells) + 2))


# The store is never left half-written by concurrent submits ---------------------------------
def test_two_submits_at_once_leave_whole_files(project):
    a = write(project / "a.csv", "response_id,CF01\n" + "".join(f"A{i},4\n"
                                                               for i in range(200)))
    b = write(project / "b.csv", "response_id,CF01\n" + "".join(f"B{i},3\n"
                                                               for i in range(200)))
    env = {**os.environ, "EVALKIT_ID_KEY": KEY}
    cmd = [sys.executable, "-c", "from evalkit.cli import app; app()", "submit"]
    outs: list[subprocess.CompletedProcess] = []

    def go(path: Path) -> None:
        outs.append(subprocess.run([*cmd, str(path), "-s", "S02", "-w", "baseline", "-i",
                                    "community", "-p", str(project), "--wait", "60"],
                                   env=env, capture_output=True, text=True))

    threads = [threading.Thread(target=go, args=(p,)) for p in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [o.returncode for o in outs] == [0, 0], [o.stderr for o in outs]
    assert not any("Traceback" in o.stderr + o.stdout for o in outs)
    assert len(read_table(_store(project), "SELECT * FROM responses")) == 400


def test_formulas_in_a_rejected_file_are_neutralised_in_the_validation_report(tmp_path):
    # OWASP CSV injection: the report is opened in spreadsheets; a cell that would start a
    # formula is written with a leading quote (hand: "=HYPERLINK(1)" -> "'=HYPERLINK(1)").
    from evalkit.sources._files import _write_report

    report = pd.DataFrame({"row": [2, 3], "column": ["CF01", "CF02"],
                           "value": ["=HYPERLINK(1)", "@SUM(A1)"], "message": ["x", "-y"]})
    path = tmp_path / "r.validation.csv"
    _write_report(report, path)
    text = path.read_text()
    assert "'=HYPERLINK(1)" in text and "'@SUM(A1)" in text and ",'-y" in text
    assert b"\r\n" in path.read_bytes()
