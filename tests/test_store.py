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


# Fingerprints are computed column-wise now; they must equal the original definition, or
# every stored response would look "updated" on the next pull.
def _original_fingerprints(responses: pd.DataFrame, answers: pd.DataFrame) -> pd.Series:
    import hashlib

    a = answers.sort_values(["response_id", "item"], kind="mergesort")
    a_text = (a["item"].astype(str) + "="
              + a["value"].map(lambda v: "" if pd.isna(v) else repr(float(v))) + "|"
              + a["text"].map(lambda v: "" if v is None or (isinstance(v, float) and pd.isna(v))
                              else v))
    per = a_text.groupby(a["response_id"]).agg(";".join)
    meta = responses[["instrument", "wave", "site_id", "respondent_id", "submitted_at",
                      "complete"]]
    meta_text = meta.iloc[:, 0].map(str)
    for col in meta.columns[1:]:
        meta_text = meta_text + "|" + meta[col].map(str)
    joined = meta_text + "#" + responses["response_id"].map(per).astype(object).fillna("")
    return joined.map(lambda s: hashlib.sha256(s.encode()).hexdigest()[:32])


def test_fingerprints_equal_the_original_definition(demo_data):
    b = demo_data.batch.normalized()
    fast = store_mod._fingerprints(b.responses, b.answers)
    assert fast.tolist() == _original_fingerprints(b.responses, b.answers).tolist()
    odd = Batch.from_records(
        responses=[{"response_id": "r1", "instrument": "toy", "wave": "w", "site_id": "S",
                    "respondent_id": None, "submitted_at": None},
                   {"response_id": "r2", "instrument": "toy", "wave": "w", "site_id": "S",
                    "respondent_id": "P", "submitted_at": "2026-02-03", "complete": False},
                   {"response_id": "r3", "instrument": "toy", "wave": "w", "site_id": "S"}],
        answers=[{"response_id": "r1", "item": "b", "value": -0.0},
                 {"response_id": "r1", "item": "a[X]", "value": 1e-17},
                 {"response_id": "r2", "item": "t", "value": None, "text": "é;|="},
                 {"response_id": "r2", "item": "a", "value": 3.0}]).normalized()
    assert store_mod._fingerprints(odd.responses, odd.answers).tolist() == \
        _original_fingerprints(odd.responses, odd.answers).tolist()


def _one(rid: str, value: float) -> Batch:
    return Batch.from_records(
        responses=[{"response_id": rid, "instrument": "toy", "wave": "baseline",
                    "site_id": "S1", "respondent_id": "P1"}],
        answers=[{"response_id": rid, "item": "Q1", "value": value}])


def test_the_key_fingerprint_is_kept_and_another_key_refused(db):
    ingest(db, _one("r1", 1.0), source="a", key_fingerprint="f" * 32)
    before = _snapshot(db)
    with pytest.raises(store_mod.KeyMismatchError, match="pre/post matching"):
        ingest(db, _one("r2", 1.0), source="b", key_fingerprint="0" * 32)
    with pytest.raises(store_mod.KeyMismatchError):
        store_mod.check_key(db, "0" * 32)
    store_mod.check_key(db, "f" * 32)
    for table, frame in _snapshot(db).items():
        pd.testing.assert_frame_equal(before[table], frame)
    assert read_table(db, "SELECT * FROM meta").values.tolist() == [
        ["id_key_fingerprint", "f" * 32]]


def test_conflicts_refuse_names_the_earlier_file(db):
    ingest(db, _one("r1", 1.0), source="file:sha256:aa", detail={"file": "first.csv"})
    before = _snapshot(db)
    with pytest.raises(store_mod.ResponseConflictError,
                       match=r"1 response\(s\) of this batch \(first 'r1'\) were stored "
                             r"before from first.csv") as info:
        ingest(db, _one("r1", 2.0), source="file:sha256:bb", conflicts="refuse")
    assert info.value.conflicts["file"].tolist() == ["first.csv"]
    after = _snapshot(db)
    for table in before:
        pd.testing.assert_frame_equal(before[table], after[table])
    assert ingest(db, _one("r1", 2.0), source="file:sha256:bb").updated == 1


def test_a_locked_store_is_one_line_and_wait_gives_up(db, tmp_path):
    import subprocess
    import sys
    import time

    ingest(db, _one("r1", 1.0), source="a")
    hold = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; "
                             "c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
                             "time.sleep(3)", str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert hold.stdout is not None and hold.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(store_mod.StoreLockedError) as info:
            ingest(db, _one("r2", 1.0), source="b", wait=0.5)
        assert time.monotonic() - started >= 0.5
        assert str(info.value) == (f"another evalkit process is writing to {db}; wait or "
                                   "retry (waited 0.5 s)")
        with pytest.raises(store_mod.StoreLockedError):
            read_table(db, "SELECT 1")
    finally:
        hold.wait()
    assert len(read_table(db, "SELECT * FROM responses")) == 1
