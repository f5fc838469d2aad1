"""The DuckDB store: transactional, idempotent ingest with provenance."""

from __future__ import annotations

import pandas as pd
import pytest

import evalkit.store as store_mod
from evalkit.errors import IngestError
from evalkit.store import Batch, ingest, read_table

COUNT_SQL = {t: f"SELECT count(*) AS n FROM {t}" for t in
             ("sites", "organizations", "participants", "responses", "answers", "provenance")}


def _counts(db) -> dict[str, int]:
    return {t: int(read_table(db, sql)["n"].iloc[0]) for t, sql in COUNT_SQL.items()}


def _snapshot(db) -> dict[str, pd.DataFrame]:
    return {t: read_table(db, f"SELECT * FROM {t} ORDER BY ALL") for t in COUNT_SQL}


@pytest.fixture()
def db(tmp_path):
    return tmp_path / "evalkit.duckdb"


PERSONAL = {"community": frozenset({"contact_email"}), "network": frozenset({"respondent_role"})}


def test_demo_batch_ingests_completely(db, demo_data):
    summary = ingest(db, demo_data.batch, source="demo", kind="demo", personal_items=PERSONAL)
    b = demo_data.batch
    counts = _counts(db)
    assert counts["responses"] == len(b.responses) == summary.inserted
    personal = int((b.answers["item"] == "contact_email").sum())
    assert personal > 0 and summary.personal_items_dropped == personal
    assert counts["answers"] == len(b.answers) - personal == summary.answers_written
    assert counts["organizations"] == len(b.organizations)
    assert counts["provenance"] == 1
    # Contact details typed into comments are replaced at ingest.
    assert summary.text_scrubbed > 0
    text = read_table(db, "SELECT text FROM answers WHERE text IS NOT NULL")["text"]
    assert not text.str.contains(r"@|\d{3}[.-]\d{4}|Cedar Street", regex=True).any()
    assert text.str.contains(r"\[email\]|\[phone\]", regex=True).any()


def test_same_data_twice_changes_nothing(db, demo_data):
    ingest(db, demo_data.batch, source="demo", personal_items=PERSONAL)
    before = _snapshot(db)
    again = ingest(db, demo_data.batch, source="demo", personal_items=PERSONAL)
    assert again.skipped and again.inserted == 0
    after = _snapshot(db)
    for table in before:
        pd.testing.assert_frame_equal(before[table], after[table])


def test_same_responses_from_another_source_are_not_duplicated(db, demo_data):
    ingest(db, demo_data.batch, source="first.csv")
    second = ingest(db, demo_data.batch, source="second.csv")
    assert (second.inserted, second.updated) == (0, 0)
    assert second.unchanged == len(demo_data.batch.responses)
    assert _counts(db)["responses"] == len(demo_data.batch.responses)


def test_changed_response_is_updated_not_duplicated(db):
    def batch(value):
        return Batch.from_records(
            responses=[{"response_id": "r1", "instrument": "toy", "wave": "baseline",
                        "site_id": "S1", "respondent_id": "P1"}],
            answers=[{"response_id": "r1", "item": "Q1", "value": value},
                     {"response_id": "r1", "item": "Q2", "value": 1.0}])

    ingest(db, batch(4.0), source="upload")
    summary = ingest(db, batch(5.0), source="upload")
    assert (summary.inserted, summary.updated) == (0, 1)
    ans = read_table(db, "SELECT item, value FROM answers ORDER BY item")
    assert ans["value"].tolist() == [5.0, 1.0]


def test_interrupted_ingest_leaves_store_exactly_as_before(db, demo_data, monkeypatch):
    first = Batch.from_records(
        responses=[{"response_id": "old", "instrument": "toy", "wave": "baseline",
                    "site_id": "S1", "respondent_id": "P1"}],
        answers=[{"response_id": "old", "item": "Q1", "value": 2.0}])
    ingest(db, first, source="earlier")
    before = _snapshot(db)

    def boom(con):
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(store_mod, "write_answers", boom)
    with pytest.raises(RuntimeError, match="simulated"):
        ingest(db, demo_data.batch, source="demo")
    after = _snapshot(db)
    for table in before:
        pd.testing.assert_frame_equal(before[table], after[table])
    monkeypatch.undo()
    # The same ingest succeeds afterwards: nothing half-written blocks it.
    assert ingest(db, demo_data.batch, source="demo").inserted == len(demo_data.batch.responses)


def test_missing_column_is_named(db):
    bad = Batch(responses=pd.DataFrame({"response_id": ["r1"], "wave": ["baseline"],
                                        "site_id": ["S1"]}))
    with pytest.raises(IngestError, match=r"table 'responses': missing required column\(s\) "
                                          r"\['instrument'\]"):
        ingest(db, bad, source="x")
    assert not db.exists() or _counts(db)["responses"] == 0


def test_empty_key_is_named_with_row(db):
    bad = Batch.from_records(
        responses=[{"response_id": "r1", "instrument": "toy", "wave": "baseline",
                    "site_id": "S1"},
                   {"response_id": None, "instrument": "toy", "wave": "baseline",
                    "site_id": "S1"}])
    with pytest.raises(IngestError, match=r"table 'responses': row 1: column 'response_id' is "
                                          r"empty"):
        ingest(db, bad, source="x")


def test_answers_must_reference_a_response(db):
    bad = Batch.from_records(
        responses=[{"response_id": "r1", "instrument": "toy", "wave": "baseline",
                    "site_id": "S1"}],
        answers=[{"response_id": "r2", "item": "Q1", "value": 1.0}])
    with pytest.raises(IngestError, match="r2"):
        ingest(db, bad, source="x")
