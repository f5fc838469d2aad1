"""The embedded store: one DuckDB file per evaluation, written only through :func:`ingest`.

Tables: ``sites``, ``organizations`` (with sector), ``participants`` (pseudonymous ids
only), ``responses`` (instrument, wave, site, respondent, source, submitted_at, complete),
``answers`` (long form: response x item -> value) and ``provenance`` (one row per ingest).

Ingest is one transaction: it either applies completely or leaves the store exactly as it
was. It is idempotent: a batch whose content was already ingested from the same source is
recognised by its hash and skipped; a response seen before with the same content is left
alone, and one whose content changed is updated (counted in provenance).

Examples
--------
>>> import tempfile, pathlib
>>> from evalkit.store import Batch, ingest, open_store
>>> tmp = pathlib.Path(tempfile.mkdtemp()) / "toy.duckdb"
>>> batch = Batch.from_records(
...     responses=[{"response_id": "r1", "instrument": "toy", "wave": "baseline",
...                 "site_id": "S1", "respondent_id": "P1"}],
...     answers=[{"response_id": "r1", "item": "Q1", "value": 4.0}])
>>> ingest(tmp, batch, source="doctest").inserted
1
>>> ingest(tmp, batch, source="doctest").skipped
True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from evalkit.errors import IngestError

__all__ = ["Batch", "IngestSummary", "open_store", "ingest", "read_table", "content_hash"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS sites (
    site_id VARCHAR PRIMARY KEY, name VARCHAR, region VARCHAR, modality VARCHAR,
    modalities VARCHAR, start_date DATE);
CREATE TABLE IF NOT EXISTS organizations (
    org_id VARCHAR PRIMARY KEY, site_id VARCHAR NOT NULL, name VARCHAR, sector VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS participants (
    participant_id VARCHAR PRIMARY KEY, site_id VARCHAR NOT NULL, role VARCHAR, org_id VARCHAR);
CREATE TABLE IF NOT EXISTS responses (
    response_id VARCHAR PRIMARY KEY, instrument VARCHAR NOT NULL, wave VARCHAR NOT NULL,
    site_id VARCHAR NOT NULL, respondent_id VARCHAR, source VARCHAR NOT NULL,
    submitted_at TIMESTAMP, complete BOOLEAN NOT NULL DEFAULT TRUE,
    fingerprint VARCHAR NOT NULL, ingest_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    response_id VARCHAR NOT NULL, item VARCHAR NOT NULL, value DOUBLE, text VARCHAR,
    PRIMARY KEY (response_id, item));
CREATE TABLE IF NOT EXISTS provenance (
    ingest_id VARCHAR PRIMARY KEY, source VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL, started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP,
    responses_inserted INTEGER, responses_updated INTEGER, responses_unchanged INTEGER,
    answers_written INTEGER, personal_items_dropped INTEGER, detail VARCHAR);
"""

_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # table: (required columns, optional columns)
    "sites": (("site_id",), ("name", "region", "modality", "modalities", "start_date")),
    "organizations": (("org_id", "site_id", "sector"), ("name",)),
    "participants": (("participant_id", "site_id"), ("role", "org_id")),
    "responses": (
        ("response_id", "instrument", "wave", "site_id"),
        ("respondent_id", "submitted_at", "complete"),
    ),
    "answers": (("response_id", "item"), ("value", "text")),
}


def _empty(table: str) -> pd.DataFrame:
    req, opt = _COLUMNS[table]
    return pd.DataFrame(columns=list(req + opt))


@dataclass(frozen=True)
class Batch:
    """A set of rows to ingest together. Missing tables are empty."""

    sites: pd.DataFrame = field(default_factory=lambda: _empty("sites"))
    organizations: pd.DataFrame = field(default_factory=lambda: _empty("organizations"))
    participants: pd.DataFrame = field(default_factory=lambda: _empty("participants"))
    responses: pd.DataFrame = field(default_factory=lambda: _empty("responses"))
    answers: pd.DataFrame = field(default_factory=lambda: _empty("answers"))

    @classmethod
    def from_records(cls, **tables: list[dict]) -> Batch:
        return cls(**{k: pd.DataFrame.from_records(v) for k, v in tables.items()})

    def normalized(self) -> Batch:
        """Return the batch with every table holding exactly its schema's columns."""
        out = {}
        for table, (req, opt) in _COLUMNS.items():
            df = getattr(self, table)
            missing = [c for c in req if c not in df.columns]
            if missing:
                raise IngestError(
                    f"table {table!r}: missing required column(s) {missing}; "
                    f"columns are {list(df.columns)}"
                )
            df = df.copy()
            for c in opt:
                if c not in df.columns:
                    df[c] = None
            for c in req:
                bad = df[c].isna()
                if bad.any():
                    row = int(bad.to_numpy().nonzero()[0][0])
                    raise IngestError(f"table {table!r}: row {row}: column {c!r} is empty")
            out[table] = df[list(req + opt)].reset_index(drop=True)
        r = out["responses"]
        r["complete"] = r["complete"].fillna(True).astype(bool)
        r["submitted_at"] = pd.to_datetime(r["submitted_at"])
        a = out["answers"]
        a["value"] = pd.to_numeric(a["value"], errors="raise").astype("float64")
        a["text"] = a["text"].astype("object").where(a["text"].notna(), None)
        if "start_date" in out["sites"]:
            out["sites"]["start_date"] = pd.to_datetime(out["sites"]["start_date"]).dt.date
        return Batch(**out)


@dataclass(frozen=True)
class IngestSummary:
    """What one ingest did. ``skipped`` is True when the same content was ingested before."""

    ingest_id: str
    source: str
    content_hash: str
    inserted: int
    updated: int
    unchanged: int
    answers_written: int
    personal_items_dropped: int
    skipped: bool
    text_scrubbed: int = 0


def open_store(path: str | Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the DuckDB store at ``path`` with its tables in place."""
    path = Path(path)
    if read_only:
        if not path.exists():
            raise IngestError(f"{path}: store not found; ingest data first")
        return duckdb.connect(str(path), read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute(SCHEMA)
    return con


def _frame_hash(df: pd.DataFrame) -> str:
    cols = sorted(df.columns)
    df = df[cols].sort_values(cols, kind="mergesort") if len(df) else df[cols]
    payload = df.to_json(orient="values", date_format="iso", double_precision=15)
    return hashlib.sha256(payload.encode()).hexdigest()


def content_hash(batch: Batch) -> str:
    """A hash of everything in the batch, independent of row order."""
    b = batch.normalized()
    parts = [_frame_hash(getattr(b, t).map(str)) for t in _COLUMNS]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _fingerprints(responses: pd.DataFrame, answers: pd.DataFrame) -> pd.Series:
    """One hash per response over its metadata and all its answers."""
    if responses.empty:  # e.g. a batch of participants only
        return pd.Series([], index=responses.index, dtype=object)
    a = answers.sort_values(["response_id", "item"], kind="mergesort")
    if a.empty:  # responses without answers (e.g. opened and left): nothing to join
        a = pd.DataFrame({"response_id": pd.Series(dtype=object),
                          "item": pd.Series(dtype=object), "value": pd.Series(dtype=object),
                          "text": pd.Series(dtype=object)})
    a_text = (
        a["item"].astype(str)
        + "="
        + a["value"].map(lambda v: "" if pd.isna(v) else repr(float(v)))
        + "|"
        + a["text"].map(lambda v: "" if v is None or (isinstance(v, float) and pd.isna(v)) else v)
    )
    per = a_text.groupby(a["response_id"]).agg(";".join)
    meta = responses[["instrument", "wave", "site_id", "respondent_id", "submitted_at", "complete"]]
    meta_text = meta.iloc[:, 0].map(str)
    for col in meta.columns[1:]:
        meta_text = meta_text + "|" + meta[col].map(str)
    joined = meta_text + "#" + responses["response_id"].map(per).astype(object).fillna("")
    return joined.map(lambda s: hashlib.sha256(s.encode()).hexdigest()[:32])


def _drop_personal(answers: pd.DataFrame, responses: pd.DataFrame,
                   personal: Mapping[str, frozenset[str]]) -> tuple[pd.DataFrame, int]:
    if not personal:
        return answers, 0
    inst = answers["response_id"].map(responses.set_index("response_id")["instrument"])
    base_item = answers["item"].str.replace(r"\[.*\]$", "", regex=True)
    drop = pd.Series(
        [b in personal.get(i, frozenset()) for i, b in zip(inst, base_item, strict=True)],
        index=answers.index, dtype=bool,
    )
    return answers[~drop].reset_index(drop=True), int(drop.sum())


def _scrub_contact_details(answers: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Replace emails, phone numbers and street addresses in free text with markers."""
    from evalkit.privacy import Scrubber

    has_text = answers["text"].notna()
    if not has_text.any():
        return answers, 0
    scrub = Scrubber()
    before = answers.loc[has_text, "text"]
    after = before.map(scrub)
    changed = int((after != before).sum())
    if changed:
        answers = answers.copy()
        answers.loc[has_text, "text"] = after
    return answers, changed


def _check_references(b: Batch) -> None:
    dup = b.responses["response_id"].duplicated()
    if dup.any():
        row = int(dup.to_numpy().nonzero()[0][0])
        raise IngestError(
            f"table 'responses': row {row}: response_id "
            f"{b.responses['response_id'].iloc[row]!r} appears more than once"
        )
    dup = b.answers.duplicated(["response_id", "item"])
    if dup.any():
        row = int(dup.to_numpy().nonzero()[0][0])
        raise IngestError(
            f"table 'answers': row {row}: item {b.answers['item'].iloc[row]!r} answered twice "
            f"in response {b.answers['response_id'].iloc[row]!r}"
        )
    orphan = ~b.answers["response_id"].isin(b.responses["response_id"])
    if orphan.any():
        row = int(orphan.to_numpy().nonzero()[0][0])
        raise IngestError(
            f"table 'answers': row {row}: response_id {b.answers['response_id'].iloc[row]!r} "
            "is not in this batch's responses"
        )


def _upsert_reference_tables(con: duckdb.DuckDBPyConnection, b: Batch) -> None:
    for table, key in (("sites", "site_id"), ("organizations", "org_id"),
                       ("participants", "participant_id")):
        df = getattr(b, table)
        if not len(df):
            continue
        con.register("_incoming", df)
        cols = ", ".join(df.columns)
        con.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM _incoming)")
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _incoming")
        con.unregister("_incoming")


def _write_responses(con: duckdb.DuckDBPyConnection, responses: pd.DataFrame,
                     answers: pd.DataFrame, replace: pd.Series) -> None:
    con.register("_resp", responses)
    con.register("_ans", answers)
    replaced = responses.loc[replace, ["response_id"]]
    con.register("_replaced", replaced)
    con.execute("DELETE FROM answers WHERE response_id IN (SELECT response_id FROM _replaced)")
    con.execute("DELETE FROM responses WHERE response_id IN (SELECT response_id FROM _replaced)")
    con.execute(
        "INSERT INTO responses (response_id, instrument, wave, site_id, respondent_id, source, "
        "submitted_at, complete, fingerprint, ingest_id) SELECT response_id, instrument, wave, "
        "site_id, respondent_id, source, submitted_at, complete, fingerprint, ingest_id FROM _resp"
    )
    write_answers(con)
    for name in ("_resp", "_ans", "_replaced"):
        con.unregister(name)


def write_answers(con: duckdb.DuckDBPyConnection) -> None:
    """Insert the registered ``_ans`` rows (a separate step so tests can interrupt here)."""
    con.execute(
        "INSERT INTO answers (response_id, item, value, text) "
        "SELECT response_id, item, value, text FROM _ans"
    )


def ingest(
    store: str | Path,
    batch: Batch,
    *,
    source: str,
    kind: str = "file",
    personal_items: Mapping[str, frozenset[str]] | None = None,
    detail: dict | None = None,
) -> IngestSummary:
    """Ingest a batch into the store in one transaction.

    Parameters
    ----------
    store
        Path of the DuckDB file (created if missing).
    batch
        The rows to ingest.
    source
        Where the rows came from (a file path, ``limesurvey:<survey id>``, ``demo``); a batch
        with the same content from the same source is skipped.
    kind
        ``file``, ``limesurvey`` or ``demo``; recorded in provenance.
    personal_items
        Instrument id -> item codes that are personal data; their answers are dropped before
        anything is written, and the number dropped is recorded.
    detail
        Extra JSON-serialisable facts for the provenance row (file name, survey id ...).

    Returns
    -------
    IngestSummary
    """
    b = batch.normalized()
    _check_references(b)
    answers, dropped = _drop_personal(b.answers, b.responses, personal_items or {})
    # Contact details typed into free text never reach the store either.
    answers, scrubbed = _scrub_contact_details(answers)
    digest = content_hash(b)
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ingest_id = hashlib.sha256(f"{source}|{digest}".encode()).hexdigest()[:16]
    con = open_store(store)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            seen = con.execute(
                "SELECT ingest_id FROM provenance WHERE source = ? AND content_hash = ?",
                [source, digest],
            ).fetchone()
            if seen:
                con.execute("ROLLBACK")
                return IngestSummary(seen[0], source, digest, 0, 0, len(b.responses), 0,
                                     dropped, True)
            responses = b.responses.copy()
            responses["source"] = source
            responses["ingest_id"] = ingest_id
            responses["fingerprint"] = _fingerprints(responses, answers).to_numpy()
            existing = con.execute(
                "SELECT response_id, fingerprint FROM responses"
            ).df().set_index("response_id")["fingerprint"]
            old = responses["response_id"].map(existing)
            is_new = old.isna()
            changed = ~is_new & (old != responses["fingerprint"])
            to_write = is_new | changed
            _upsert_reference_tables(con, b)
            keep = responses.loc[to_write].reset_index(drop=True)
            ans = answers[answers["response_id"].isin(keep["response_id"])]
            _write_responses(con, keep, ans.reset_index(drop=True),
                             changed.loc[to_write].reset_index(drop=True))
            summary = IngestSummary(
                ingest_id, source, digest, int(is_new.sum()), int(changed.sum()),
                int((~to_write).sum()), len(ans), dropped, False, scrubbed,
            )
            con.execute(
                "INSERT INTO provenance VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [ingest_id, source, kind, digest, started,
                 dt.datetime.now(dt.UTC).replace(tzinfo=None), summary.inserted,
                 summary.updated, summary.unchanged, summary.answers_written, dropped,
                 json.dumps({**(detail or {}), "text_answers_scrubbed": scrubbed},
                            sort_keys=True, default=str)],
            )
            con.execute("COMMIT")
            return summary
        except BaseException as exc:
            con.execute("ROLLBACK")
            if isinstance(exc, IngestError):
                raise
            if isinstance(exc, duckdb.Error):
                raise IngestError(
                    f"ingest from {source!r} failed and was rolled back; the store is unchanged: "
                    f"{exc}"
                ) from exc
            raise
    finally:
        con.close()


def read_table(store: str | Path, sql: str, params: list | None = None) -> pd.DataFrame:
    """Run a read-only query against the store and return a DataFrame."""
    con = open_store(store, read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()
