"""Site forms: a workbook written by `evalkit surveys form`, filled in, submits as it is."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from evalkit._assets import asset_path
from evalkit.cli import app
from evalkit.errors import ConfigError
from evalkit.forms import FORM_SHEETS, form_columns, write_form
from evalkit.instruments import load_instruments
from evalkit.sources import SubmissionRejectedError, submit_file
from evalkit.store import read_table
from evalkit.tabular import RESPONSES_NAME, TableFileError, read_tabular

KEY = b"forms-test-key-0123456789"
INSTRUMENTS = load_instruments(asset_path("surveys"))
ORGS = {"S01-O01": "Clinic", "S01-O02": "Food bank"}
runner = CliRunner()


def _fill(path: Path, rows: list[dict[str, object]]) -> None:
    """Type ``rows`` into the Responses sheet the way a person would (numbers as numbers,
    dates as dates), under the headers the form has."""
    book = openpyxl.load_workbook(path)
    ws = book[FORM_SHEETS[0]]
    header = [c.value for c in ws[1]]
    for r, row in enumerate(rows, start=2):
        for column, value in row.items():
            ws.cell(r, header.index(column) + 1, value)
    book.save(path)


def test_columns_are_what_submit_reads():
    assert form_columns(INSTRUMENTS["community"]) == [
        "response_id", "submitted_at", "complete", "CF01", "CF02", "CF03", "CF04", "CF05",
        "CF06", "CF07", "CF08", "COMMENT", "SGIC", "age_group", "language", "language_other"]
    assert form_columns(INSTRUMENTS["network"], organizations=ORGS)[4:] == [
        "contact[S01-O01]", "contact[S01-O02]", "collaboration[S01-O01]",
        "collaboration[S01-O02]", "trust[S01-O01]", "trust[S01-O02]", "value[S01-O01]",
        "value[S01-O02]"]
    with pytest.raises(ConfigError, match=r"item 'contact' is a rating grid whose columns are "
                                          r"the site's organizations"):
        form_columns(INSTRUMENTS["network"])


@pytest.mark.parametrize("name", sorted(INSTRUMENTS))
def test_every_header_is_one_submit_accepts(name):
    import pandas as pd

    from evalkit.sources import validate_submission

    inst = INSTRUMENTS[name]
    columns = form_columns(inst, organizations=ORGS)
    report = validate_submission(pd.DataFrame(columns=columns), inst)
    assert report["rule"].tolist() == ["rows"]  # only: no responses yet; no header problem
    answered = {i.code for i in inst.items if not i.personal}
    assert {c.partition("[")[0] for c in columns} - {"response_id", "participant_code",
                                                     "submitted_at", "complete"} == answered


def test_the_workbook_has_drop_downs_notes_and_instructions(tmp_path):
    path = write_form(INSTRUMENTS["session_feedback"], tmp_path / "sf.xlsx", site="S02",
                      wave="endline")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == list(FORM_SHEETS)
    ws = book["Responses"]
    header = [c.value for c in ws[1]]
    assert header == form_columns(INSTRUMENTS["session_feedback"])
    validations = {str(dv.sqref): dv for dv in ws.data_validations.dataValidation}

    def at(column: str):
        letter = openpyxl.utils.get_column_letter(header.index(column) + 1)
        return validations[f"{letter}2:{letter}201"]

    ls01 = at("LS01")
    assert (ls01.type, ls01.formula1) == ("list", "'Codes'!$D$2:$D$6")
    assert ls01.prompt == ("1 = Strongly disagree; 2 = Disagree; 3 = Neither agree nor "
                           "disagree; 4 = Agree; 5 = Strongly agree")
    assert at("LS05").formula1 == ls01.formula1  # one list per response scale
    assert at("modality").formula1 == "'Codes'!$A$2:$A$5"  # the first list, in item order
    assert (at("hours").type, at("hours").formula1, at("hours").formula2) == (
        "decimal", "0", "40")
    assert at("complete").formula1 == '"yes,no"'
    codes = book["Codes"]
    assert [codes.cell(r, 4).value for r in range(1, 7)] == ["agree5: code", 1, 2, 3, 4, 5]
    assert codes.cell(4, 5).value == "Neither agree nor disagree"
    assert codes.cell(2, 2).value == "Technical assistance or coaching"
    assert ws.cell(1, header.index("LS04") + 1).comment.text.startswith(
        "The session repeated what I already knew.")
    assert ws.cell(2, header.index("response_id") + 1).number_format == "@"
    guide = book["Instructions"]
    text = "\n".join(str(c.value) for row in guide.iter_rows() for c in row if c.value)
    assert ("evalkit submit sf.xlsx --site S02 --wave endline --instrument session_feedback"
            in text)
    assert "Learning-session and technical-assistance feedback" in text
    defined = book.defined_names[RESPONSES_NAME]
    assert [title for title, _ in defined.destinations] == ["Responses"]


def test_a_filled_form_submits_without_edits(tmp_path):
    store = tmp_path / "s.duckdb"
    community = INSTRUMENTS["community"]
    path = write_form(community, tmp_path / "community.xlsx", site="S01", wave="baseline")
    book = openpyxl.load_workbook(path)
    assert "contact_email" not in [c.value for c in book["Responses"][1]]  # personal: left off
    _fill(path, [
        {"response_id": "007", "submitted_at": dt.date(2026, 2, 3), "complete": "yes",
         "CF01": 4, "CF02": 2, "CF03": 5, "CF04": 4, "CF05": 3, "CF06": 5, "CF07": 5, "CF08": 4,
         "COMMENT": "Très bien", "SGIC": "MA05A", "age_group": 2, "language": 3,
         "language_other": "Tagalog"},
        {"response_id": "008", "CF01": 3, "CF02": 4, "language": 1},
    ])
    result = submit_file(path, community, site="S01", wave="baseline", store=store, key=KEY)
    assert (result.rows, result.ingest.inserted, result.read_as) == (2, 2, "sheet 'Responses'")
    responses = read_table(store, "SELECT response_id, submitted_at FROM responses ORDER BY 1")
    assert responses["response_id"].tolist() == ["file:community:baseline:S01:007",
                                                 "file:community:baseline:S01:008"]
    assert str(responses["submitted_at"][0].date()) == "2026-02-03"
    answers = read_table(store, "SELECT item, value, text FROM answers WHERE response_id = "
                         "'file:community:baseline:S01:007' ORDER BY item")
    got = answers.set_index("item")
    assert got.loc["CF02", "value"] == 2.0 and got.loc["language_other", "text"] == "Tagalog"

    network = INSTRUMENTS["network"]
    grid = write_form(network, tmp_path / "network.xlsx", site="S01", wave="baseline",
                      organizations=ORGS)
    _fill(grid, [{"response_id": "S01-O01", "contact[S01-O02]": 4, "trust[S01-O02]": 3,
                  "value[S01-O02]": 4, "collaboration[S01-O02]": 2}])
    done = submit_file(grid, network, site="S01", wave="baseline", store=store, key=KEY)
    assert done.ingest.inserted == 1


def test_a_form_with_a_bad_answer_is_rejected_by_row_and_column(tmp_path):
    psa = INSTRUMENTS["partnership"]
    path = write_form(psa, tmp_path / "psa.xlsx", site="S01", wave="baseline")
    _fill(path, [{"participant_code": "A-1", "PSA01": 6}])
    with pytest.raises(SubmissionRejectedError, match=r"first: row 2, column 'PSA01', value "
                                                      r"'6': not a code of scale agree5"):
        submit_file(path, psa, site="S01", wave="baseline", store=tmp_path / "s.duckdb", key=KEY)
    empty = write_form(psa, tmp_path / "empty.xlsx", site="S01", wave="baseline")
    with pytest.raises(SubmissionRejectedError, match="the file has no responses"):
        submit_file(empty, psa, site="S01", wave="baseline", store=tmp_path / "s.duckdb",
                    key=KEY)


def test_the_reader_needs_the_mark_to_choose_among_sheets(tmp_path):
    path = write_form(INSTRUMENTS["partnership"], tmp_path / "psa.xlsx", site="S01",
                      wave="baseline")
    assert read_tabular(path).sheet == "Responses"
    book = openpyxl.load_workbook(path)
    del book.defined_names[RESPONSES_NAME]
    book.save(path)
    with pytest.raises(TableFileError, match=r"sheets \['Responses', 'Instructions', 'Codes'\] "
                                             r"all hold data"):
        read_tabular(path)


def test_form_then_submit_from_the_command_line(tmp_path, monkeypatch):
    project = tmp_path / "eval"
    assert runner.invoke(app, ["init", str(project)]).exit_code == 0
    monkeypatch.setenv("EVALKIT_ID_KEY", "cli-forms-key-0123456789")
    out = tmp_path / "psa_S02.xlsx"
    made = runner.invoke(app, ["surveys", "form", "partnership", "--site", "S02", "--wave",
                               "midpoint", "--out", str(out), "-p", str(project)])
    assert made.exit_code == 0, made.output
    assert made.output == (f"Wrote {out}: the partnership form for site S02, wave midpoint. "
                           "When it comes back filled in: evalkit submit psa_S02.xlsx --site "
                           "S02 --wave midpoint --instrument partnership\n")
    _fill(out, [{"participant_code": f"p-{k}", "complete": "yes",
                 **{f"PSA{i:02d}": 1 + (i + k) % 5 for i in range(1, 25)}} for k in range(3)])
    sent = runner.invoke(app, ["submit", str(out), "--site", "S02", "--wave", "midpoint", "-i",
                               "partnership", "-p", str(project)])
    assert sent.exit_code == 0, sent.output
    assert sent.output.startswith(f"Accepted {out}: 3 responses (partnership, midpoint, S02).")
    wrong = runner.invoke(app, ["surveys", "form", "network", "--site", "S09", "--wave",
                                "baseline", "-p", str(project)])
    assert wrong.exit_code == 1 and "S09" in wrong.output
    assert not os.path.exists("network_S09_baseline.xlsx")
