"""Instruments as data (skip conditions included) and the codebook written from them."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from evalkit._assets import asset_path
from evalkit.codebook import CODEBOOK_COLUMNS, codebook, codebook_markdown, write_codebook
from evalkit.errors import ConfigError
from evalkit.instruments import Condition, load_instrument, load_instruments, parse_condition

INSTRUMENTS = load_instruments(asset_path("surveys"))


def test_shipped_instruments_cover_the_four_respondent_kinds():
    assert sorted(INSTRUMENTS) == ["community", "network", "partnership", "session_feedback"]
    assert len(INSTRUMENTS["partnership"].items) == 24
    assert {i.respondent for i in INSTRUMENTS.values()} == {"participant", "organization",
                                                            "community"}
    assert INSTRUMENTS["community"].item("language_other").shown_if == "language == 3"


def test_skip_conditions_parse_and_evaluate():
    assert parse_condition("Q1 >= 4 and Q2 == 1 or Q3 < 2") == (
        (Condition("Q1", ">=", 4.0), Condition("Q2", "==", 1.0)),
        (Condition("Q3", "<", 2.0),))
    cf = INSTRUMENTS["community"]
    assert cf.is_shown("language_other", {"language": 3.0})
    assert not cf.is_shown("language_other", {"language": 1.0})
    assert not cf.is_shown("language_other", {})  # unanswered: not asked
    with pytest.raises(ValueError, match="cannot read 'Q1 = 4'"):
        parse_condition("Q1 = 4")


@pytest.mark.parametrize(("shown_if", "message"), [
    ("nope == 1", r"items\[14\] \(extra\)\.shown_if: 'nope' is not an item code"),
    ("COMMENT == 1", r"items\[14\] \(extra\)\.shown_if: 'COMMENT' is a text item; conditions "
                     r"can only test likert, single or numeric items"),
    ("language == 7", r"items\[14\] \(extra\)\.shown_if: 7 is not a code of 'language'; "
                      r"codes are \[1, 2, 3\]"),
    ("language === 1", r"items\[14\] \(extra\)\.shown_if: cannot read 'language === 1'"),
])
def test_a_broken_skip_condition_names_the_file_and_key(tmp_path, shown_if, message):
    data = yaml.safe_load((asset_path("surveys") / "community_feedback.yaml").read_text())
    data["items"].append({"code": "extra", "type": "text", "text": "x", "shown_if": shown_if})
    path = tmp_path / "cf.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=rf"^{path}: {message}"):
        load_instrument(path)


def test_a_condition_on_a_later_item_is_refused(tmp_path):
    data = yaml.safe_load((asset_path("surveys") / "community_feedback.yaml").read_text())
    data["items"][0]["shown_if"] = "language == 1"
    path = tmp_path / "cf.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"items\[0\] \(CF01\)\.shown_if: 'language' must "
                                          r"come before 'CF01'"):
        load_instrument(path)


def test_codebook_has_one_row_per_item_with_codes_and_scales():
    book = codebook(INSTRUMENTS)
    assert list(book.columns) == CODEBOOK_COLUMNS
    assert len(book) == sum(len(i.items) for i in INSTRUMENTS.values())
    row = book[(book["instrument"] == "partnership") & (book["item"] == "PSA20")].iloc[0]
    assert row["reverse"] and row["scales"] == "total; sustainability"
    assert row["codes"].startswith("1 = Strongly disagree; 2 = Disagree")
    email = book[book["item"] == "contact_email"].iloc[0]
    assert email["personal"] and email["scales"] == ""
    assert book.loc[book["item"] == "SGIC", "linkage"].tolist() == [True]
    assert book.loc[book["item"] == "hours", ["min", "max"]].values.tolist() == [[0.0, 40.0]]


def test_codebook_markdown_and_csv_are_written(tmp_path):
    md_path, csv_path = write_codebook(INSTRUMENTS, tmp_path / "out")
    md = md_path.read_text(encoding="utf-8")
    assert md.startswith("# Codebook\n")
    for inst in INSTRUMENTS.values():
        assert f"## {inst.title} (`{inst.id}`, version {inst.version})" in md
        for item in inst.items:
            assert f"| `{item.code}` |" in md
    assert "| 13 | `language_other` | text | Which language? (optional) |  | asked if " \
           "`language == 3` |" in md
    assert "| `trust` | Trust | PSA04, PSA05, PSA06 | mean | 2 |" in md
    assert pd.read_csv(csv_path).shape == (len(codebook(INSTRUMENTS)), len(CODEBOOK_COLUMNS))
    assert codebook_markdown(INSTRUMENTS.values()) == md

