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
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from evalkit.errors import IngestError

__all__ = ["Batch", "IngestSummary", "KEY_FINGERPRINT", "KeyMismatchError", "ResponseConflictError",
           "StoreLockedError", "open_store", "ingest", "read_table", "content_hash", "check_key",
           "stored_key_fingerprint", "stored_responses", "source_ingested"]

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
CREATE TABLE IF NOT EXISTS meta (name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
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


class StoreLockedError(IngestError):
    """Another process holds the store's write lock."""


class KeyMismatchError(IngestError):
    """The key of the pseudonymous ids is not the one the store's ids were made with."""


class ResponseConflictError(IngestError):
    """Responses of the batch were stored before from another source.

    ``conflicts`` has one row per stored response: ``response_id``, ``source`` and ``file``
    (the file name recorded when it was ingested, or None).
    """

    def __init__(self, message: str, *, conflicts: pd.DataFrame) -> None:
        super().__init__(message)
        self.conflicts = conflicts


#: Name of the ``meta`` row holding the fingerprint of the key of the pseudonymous ids.
KEY_FINGERPRINT = "id_key_fingerprint"


def _connect(path: Path, *, read_only: bool, wait: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            con.execute("SET enable_progress_bar = false")  # never bars on a user's terminal
            return con
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise IngestError(f"{path}: cannot open the store ({str(exc).splitlines()[0]})"
                                  ) from None
            if time.monotonic() >= deadline:
                raise StoreLockedError(
                    f"another evalkit process is writing to {path}; wait or retry"
                    f"{' (waited ' + format(wait, 'g') + ' s)' if wait > 0 else ''}"
                ) from None
            time.sleep(min(0.2, max(deadline - time.monotonic(), 0.01)))


def open_store(path: str | Path, *, read_only: bool = False, wait: float = 0.0
               ) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the DuckDB store at ``path`` with its tables in place.

    Parameters
    ----------
    read_only
        Open without writing (the store must exist).
    wait
        Seconds to wait for another process's lock before giving up with
        :class:`StoreLockedError` (``another evalkit process is writing to STORE ...``).
    """
    path = Path(path)
    if read_only:
        if not path.exists():
            raise IngestError(f"{path}: store not found; ingest data first")
        return _connect(path, read_only=True, wait=wait)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _connect(path, read_only=False, wait=wait)
    con.execute(SCHEMA)
    return con


def _key_problem(store: Path, stored: str | None, fingerprint: str | None) -> str | None:
    if fingerprint is None or stored is None or stored == fingerprint:
        return None
    return (f"{store}: EVALKIT_ID_KEY is not the key this store's pseudonymous ids were made "
            "with; with it the same participants would get new ids, so pre/post matching "
            "across waves and linkage of self-generated codes would break. Set the original "
            "key (from the team's password manager) and retry; nothing was ingested")


def stored_key_fingerprint(store: str | Path, *, wait: float = 0.0) -> str | None:
    """The fingerprint of the id key recorded in the store, None if none (or no store)."""
    store = Path(store)
    if not store.exists():
        return None
    con = open_store(store, read_only=True, wait=wait)
    try:
        if not _has_table(con, "meta"):
            return None
        row = con.execute("SELECT value FROM meta WHERE name = ?", [KEY_FINGERPRINT]).fetchone()
        return None if row is None else str(row[0])
    finally:
        con.close()


def check_key(store: str | Path, fingerprint: str, *, wait: float = 0.0) -> None:
    """Raise :class:`KeyMismatchError` if the store's ids were made with another key."""
    problem = _key_problem(Path(store), stored_key_fingerprint(store, wait=wait), fingerprint)
    if problem:
        raise KeyMismatchError(problem)


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE "
                            "table_name = ?", [name]).fetchone()[0])  # type: ignore[index]


def stored_responses(store: str | Path, responses: pd.DataFrame, *, wait: float = 0.0
                     ) -> pd.DataFrame:
    """Stored responses that share a ``response_id`` or a respondent with ``responses``.

    A respondent is shared when instrument, wave, site and ``respondent_id`` are equal.
    Returns ``response_id, instrument, wave, site_id, respondent_id, source, file, match``
    (``match`` is ``response_id`` or ``respondent``); empty if there is no store.
    """
    cols = ["response_id", "instrument", "wave", "site_id", "respondent_id", "source", "file",
            "match"]
    store = Path(store)
    if not store.exists() or not len(responses):
        return pd.DataFrame(columns=cols)
    incoming = responses[["response_id", "instrument", "wave", "site_id",
                          "respondent_id"]].copy()
    con = open_store(store, read_only=True, wait=wait)
    try:
        con.register("_incoming", incoming)
        return con.execute(
            "WITH hits AS ("
            " SELECT r.*, 'response_id' AS match FROM responses r"
            " WHERE r.response_id IN (SELECT response_id FROM _incoming)"
            " UNION ALL"
            " SELECT r.*, 'respondent' AS match FROM responses r JOIN _incoming i"
            " ON r.instrument = i.instrument AND r.wave = i.wave AND r.site_id = i.site_id"
            " AND r.respondent_id = i.respondent_id"
            " WHERE r.response_id NOT IN (SELECT response_id FROM _incoming))"
            " SELECT DISTINCT h.response_id, h.instrument, h.wave, h.site_id, h.respondent_id,"
            " h.source, json_extract_string(p.detail, '$.file') AS file, h.match"
            " FROM hits h LEFT JOIN provenance p ON p.ingest_id = h.ingest_id"
            " ORDER BY h.response_id").df()[cols]
    finally:
        con.close()


def source_ingested(store: str | Path, source: str, *, wait: float = 0.0,
                    **detail: str) -> IngestSummary | None:
    """The summary of an earlier ingest from ``source`` whose detail matches, if any.

    Used to recognise a file submitted again (same SHA-256, instrument, site and wave) as
    already ingested without opening the store for writing.
    """
    store = Path(store)
    if not store.exists():
        return None
    frame = read_table(store, "SELECT ingest_id, content_hash, detail, responses_inserted, "
                       "responses_updated, responses_unchanged FROM provenance WHERE source = ?"
                       " ORDER BY started_at", [source], wait=wait)
    for row in frame.itertuples(index=False):
        facts = json.loads(row.detail or "{}")
        if all(str(facts.get(k)) == v for k, v in detail.items()):
            total = int(row.responses_inserted or 0) + int(row.responses_updated or 0) + int(
                row.responses_unchanged or 0)
            return IngestSummary(str(row.ingest_id), source, str(row.content_hash), 0, 0,
                                 total, 0, 0, True)
    return None


def _text(values: pd.Series | np.ndarray) -> np.ndarray:
    """``values.map(str)`` as an object array, each distinct value converted once."""
    arr = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else values
    cache: dict[Any, str] = {}
    out = np.empty(len(arr), dtype=object)
    for i, v in enumerate(arr):
        try:
            text = cache.get(v)
            if text is None:
                text = cache[v] = str(v)
        except TypeError:  # unhashable
            text = str(v)
        out[i] = text
    return out


def _frame_hash(df: pd.DataFrame) -> str:
    cols = sorted(df.columns)
    df = df[cols].sort_values(cols, kind="mergesort") if len(df) else df[cols]
    payload = df.to_json(orient="values", date_format="iso", double_precision=15)
    return hashlib.sha256(payload.encode()).hexdigest()


def _digest(b: Batch, responses: pd.DataFrame) -> str:
    """Hash of a prepared batch: its reference tables and every response's fingerprint."""
    parts = []
    for t in ("sites", "organizations", "participants"):
        df = getattr(b, t)
        parts.append(_frame_hash(pd.DataFrame({c: _text(df[c]) for c in df.columns},
                                              columns=df.columns, index=df.index, dtype=object)))
    pairs = sorted(f"{r}\x1f{f}" for r, f in zip(_text(responses["response_id"]),
                                                  responses["fingerprint"], strict=True))
    parts.append(hashlib.sha256("\x1e".join(pairs).encode()).hexdigest())
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class _Prepared:
    batch: Batch
    responses: pd.DataFrame  # with fingerprints
    answers: pd.DataFrame  # personal items dropped, contact details scrubbed
    dropped: int
    scrubbed: int
    digest: str


def _prepare(batch: Batch, personal: Mapping[str, frozenset[str]]) -> _Prepared:
    b = batch.normalized()
    codes = _check_references(b)
    answers, kept, dropped = _drop_personal(b.answers, b.responses, personal, codes)
    # Contact details typed into free text never reach the store either.
    answers, scrubbed = _scrub_contact_details(answers)
    responses = b.responses.copy()
    responses["fingerprint"] = _fingerprints(responses, answers,
                                             codes.subset(kept)).to_numpy()
    return _Prepared(b, responses, answers, dropped, scrubbed, _digest(b, responses))


def content_hash(batch: Batch, personal_items: Mapping[str, frozenset[str]] | None = None
                 ) -> str:
    """A hash of everything in the batch, independent of row order.

    Over the reference tables and each response's fingerprint (its metadata and answers,
    after personal items are dropped and contact details scrubbed, as they are stored).
    """
    return _prepare(batch, personal_items or {}).digest


def _joined_answers(prefix: np.ndarray, item_codes: np.ndarray, values: np.ndarray,
                    texts: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per group ``starts[k]:ends[k]``: ``item=value|text`` of its answers joined by ``;``."""
    try:  # Arrow's string kernels: the same text, ten times faster than Python loops
        text = pc.fill_null(pa.array(texts, type=pa.large_string(), from_pandas=True), "")
        parts = pc.binary_join_element_wise(
            pa.array(prefix, type=pa.large_string()).take(pa.array(item_codes)),
            pa.array(values, type=pa.large_string()), pa.scalar("", pa.large_string()))
        parts = pc.binary_join_element_wise(parts, text, pa.scalar("|", pa.large_string()))
        offsets = pa.array(np.concatenate((starts, ends[-1:])).astype(np.int64))
        lists = pa.LargeListArray.from_arrays(offsets, parts)
        return np.asarray(pc.binary_join(lists, pa.scalar(";", pa.large_string()))
                          .to_numpy(zero_copy_only=False), dtype=object)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        # e.g. a text that is not a string: the same result, in Python
        pieces = [f"{p}{v}|{'' if t is None or (isinstance(t, float) and t != t) else t}"
                  for p, v, t in zip(prefix[item_codes], values, texts, strict=True)]
        return np.array([";".join(pieces[a:z]) for a, z in zip(starts, ends, strict=True)],
                        dtype=object)


def _fingerprints(responses: pd.DataFrame, answers: pd.DataFrame, codes: _Codes | None = None
                  ) -> pd.Series:
    """One hash per response over its metadata and all its answers.

    Each response's text is its metadata joined by ``|``, ``#``, then its answers in item
    order as ``item=repr(value)|text`` joined by ``;``; the hash is 32 hex digits of its
    SHA-256. Computed column-wise on integer codes (200,000 responses in a few seconds).
    """
    if responses.empty:  # e.g. a batch of participants only
        return pd.Series([], index=responses.index, dtype=object)
    ids = responses["response_id"].to_numpy(dtype=object)
    per = np.full(len(ids), "", dtype=object)
    if len(answers):
        if codes is None:
            where = pd.Index(ids).get_indexer(answers["response_id"].to_numpy(dtype=object))
            item_codes, item_uniques = pd.factorize(answers["item"].to_numpy(dtype=object),
                                                    sort=True)
        else:
            where, item_codes, item_uniques = codes.where, codes.item_codes, codes.items
        order = np.lexsort((item_codes, where))
        values = answers["value"].to_numpy(dtype=float)
        uniq, inverse = np.unique(values, return_inverse=True)
        shown = np.array(["" if np.isnan(u) else repr(float(u)) for u in uniq], dtype=object)
        value_text = shown[inverse.reshape(-1)]
        value_text[(values == 0) & np.signbit(values)] = repr(-0.0)
        texts = answers["text"].to_numpy(dtype=object)[order]
        owner = where[order]
        bounds = np.flatnonzero(np.diff(owner)) + 1
        starts = np.concatenate(([0], bounds))
        ends = np.concatenate((bounds, [len(order)]))
        prefix = np.array([f"{i}=" for i in item_uniques], dtype=object)
        joined = _joined_answers(prefix, item_codes[order], value_text[order], texts, starts,
                                 ends)
        per[owner[starts]] = joined
    meta_cols = ["instrument", "wave", "site_id", "respondent_id", "submitted_at", "complete"]
    meta = [_text(responses[c]) for c in meta_cols]
    digests = [hashlib.sha256(("|".join(m) + "#" + p).encode()).hexdigest()[:32]
               for p, *m in zip(per, *meta, strict=True)]
    return pd.Series(digests, index=responses.index, dtype=object)


def _drop_personal(answers: pd.DataFrame, responses: pd.DataFrame,
                   personal: Mapping[str, frozenset[str]], codes: _Codes
                   ) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Answers without personal items, the mask of rows kept, and how many were dropped."""
    keep = np.ones(len(answers), dtype=bool)
    if not personal or not any(personal.values()) or not len(answers):
        return answers, keep, 0
    bases = [re.sub(r"\[.*\]$", "", str(i)) for i in codes.items]
    flagged = {k for k, b in enumerate(bases) if any(b in v for v in personal.values())}
    if not flagged:
        return answers, keep, 0
    candidates = np.isin(codes.item_codes, sorted(flagged))
    inst = responses["instrument"].to_numpy(dtype=object)[codes.where[candidates]]
    item_base = np.asarray(bases, dtype=object)[codes.item_codes[candidates]]
    hit = np.array([b in personal.get(i, frozenset()) for i, b in zip(inst, item_base,
                                                                         strict=True)],
                   dtype=bool)
    drop = np.zeros(len(answers), dtype=bool)
    drop[np.flatnonzero(candidates)[hit]] = True
    if not drop.any():
        return answers, keep, 0
    return answers[~drop].reset_index(drop=True), ~drop, int(drop.sum())


def _scrub_contact_details(answers: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Replace emails, phone numbers and street addresses in free text with markers."""
    from evalkit.privacy import Scrubber

    has_text = answers["text"].notna()
    if not has_text.any():
        return answers, 0
    scrub = Scrubber()
    before = answers.loc[has_text, "text"]
    distinct = pd.unique(before.to_numpy(dtype=object))
    cleaned = {t: scrub(t) for t in distinct}
    after = pd.Series([cleaned[t] for t in before.to_numpy(dtype=object)], index=before.index,
                      dtype=object)
    changed = int((after.to_numpy(dtype=object) != before.to_numpy(dtype=object)).sum())
    if changed:
        answers = answers.copy()
        answers.loc[has_text, "text"] = after
    return answers, changed


def _isin(values: pd.Series, among: pd.Series) -> np.ndarray:
    """``values.isin(among)`` through a hash table of Python strings (fast for Arrow strings)."""
    return np.asarray(pd.Index(among.to_numpy(dtype=object)).unique().get_indexer(
        values.to_numpy(dtype=object)) >= 0)


@dataclass(frozen=True)
class _Codes:
    """Answers as integer codes: the row of their response, and their item (sorted)."""

    where: np.ndarray
    item_codes: np.ndarray
    items: np.ndarray

    def subset(self, keep: np.ndarray) -> _Codes:
        return _Codes(self.where[keep], self.item_codes[keep], self.items)


def _check_references(b: Batch) -> _Codes:
    ids = b.responses["response_id"].to_numpy(dtype=object)
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        row = int(dup.nonzero()[0][0])
        raise IngestError(
            f"table 'responses': row {row}: response_id "
            f"{b.responses['response_id'].iloc[row]!r} appears more than once"
        )
    where = pd.Index(ids).get_indexer(b.answers["response_id"].to_numpy(dtype=object))
    orphan = where < 0
    if orphan.any():
        row = int(orphan.nonzero()[0][0])
        raise IngestError(
            f"table 'answers': row {row}: response_id {b.answers['response_id'].iloc[row]!r} "
            "is not in this batch's responses"
        )
    item_codes, items = pd.factorize(b.answers["item"].to_numpy(dtype=object), sort=True)
    dup = pd.Series(where.astype(np.int64) * max(len(items), 1) + item_codes
                    ).duplicated().to_numpy()
    if dup.any():
        row = int(dup.nonzero()[0][0])
        raise IngestError(
            f"table 'answers': row {row}: item {b.answers['item'].iloc[row]!r} answered twice "
            f"in response {b.answers['response_id'].iloc[row]!r}"
        )
    return _Codes(where, item_codes, np.asarray(items, dtype=object))


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
    conflicts: Literal["update", "refuse"] = "update",
    key_fingerprint: str | None = None,
    wait: float = 0.0,
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
    conflicts
        ``update`` (default): a response stored before is updated if its content changed.
        ``refuse``: a response stored before from another source refuses the whole batch
        (:class:`ResponseConflictError`).
    key_fingerprint
        Fingerprint of the key of the pseudonymous ids in the batch
        (``evalkit.sources._identity.key_fingerprint``): recorded on first use; a different one
        refuses the batch (:class:`KeyMismatchError`).
    wait
        Seconds to wait for another process's lock (:class:`StoreLockedError`).

    Returns
    -------
    IngestSummary
    """
    prepared = _prepare(batch, personal_items or {})
    b, answers, dropped, scrubbed = (prepared.batch, prepared.answers, prepared.dropped,
                                     prepared.scrubbed)
    digest = prepared.digest
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ingest_id = hashlib.sha256(f"{source}|{digest}".encode()).hexdigest()[:16]
    con = open_store(store, wait=wait)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            if key_fingerprint is not None:
                row = con.execute("SELECT value FROM meta WHERE name = ?",
                                  [KEY_FINGERPRINT]).fetchone()
                problem = _key_problem(Path(store), None if row is None else str(row[0]),
                                       key_fingerprint)
                if problem:
                    raise KeyMismatchError(problem)
                if row is None:
                    con.execute("INSERT INTO meta VALUES (?, ?)",
                                [KEY_FINGERPRINT, key_fingerprint])
            seen = con.execute(
                "SELECT ingest_id FROM provenance WHERE source = ? AND content_hash = ?",
                [source, digest],
            ).fetchone()
            if seen:
                con.execute("ROLLBACK")
                return IngestSummary(seen[0], source, digest, 0, 0, len(b.responses), 0,
                                     dropped, True)
            responses = prepared.responses
            responses["source"] = source
            responses["ingest_id"] = ingest_id
            con.register("_ids", responses[["response_id"]])
            existing = con.execute(
                "SELECT r.response_id, r.fingerprint, r.source, "
                "json_extract_string(p.detail, '$.file') AS file FROM responses r "
                "LEFT JOIN provenance p ON p.ingest_id = r.ingest_id "
                "WHERE r.response_id IN (SELECT response_id FROM _ids)"
            ).df()
            con.unregister("_ids")
            if conflicts == "refuse":
                other = existing[existing["source"] != source]
                if len(other):
                    files = sorted({str(f) for f in other["file"].fillna(other["source"])})
                    raise ResponseConflictError(
                        f"{len(other)} response(s) of this batch (first "
                        f"{other['response_id'].iloc[0]!r}) were stored before from "
                        f"{', '.join(files)}; nothing was ingested",
                        conflicts=other[["response_id", "source", "file"]].reset_index(
                            drop=True))
            where = pd.Index(existing["response_id"].to_numpy(dtype=object)).get_indexer(
                responses["response_id"].to_numpy(dtype=object))
            stored_fp = existing["fingerprint"].to_numpy(dtype=object)
            is_new = pd.Series(where < 0, index=responses.index)
            prior = pd.Series([stored_fp[w] if w >= 0 else None for w in where],
                              index=responses.index, dtype=object)
            changed = ~is_new & (prior != responses["fingerprint"])
            to_write = is_new | changed
            _upsert_reference_tables(con, b)
            keep = responses.loc[to_write].reset_index(drop=True)
            if bool(to_write.all()):
                ans = answers
            else:
                ans = answers[_isin(answers["response_id"], keep["response_id"])]
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


def read_table(store: str | Path, sql: str, params: list | None = None, *,
               wait: float = 0.0) -> pd.DataFrame:
    """Run a read-only query against the store and return a DataFrame."""
    con = open_store(store, read_only=True, wait=wait)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()
