"""Site file submissions: CSV or XLSX responses checked cell by cell, ingested whole or not.

A submission has one row per response and one column per item (``PSA01``; rating grids as
``contact[ORG_ID]``; multiple choice as ``item[OPTION]`` with 1 / 0), plus:

``response_id``
    The site's number for the form (paper survey number). Needed unless ``participant_code``
    identifies each row.
``participant_code``
    The site's code for the participant; turned into the pseudonymous respondent id (keyed
    hash), never stored.
``submitted_at``
    Date (``YYYY-MM-DD``) the form was filled in; optional.
``complete``
    ``yes`` / ``no`` (or 1 / 0); optional, default yes.

The file is read by :func:`evalkit.tabular.read_tabular` (encoding and delimiter detected;
every sheet with data or ``sheet``; ragged rows, control characters such as NUL, cells over
32,767 characters, merged cells and formulas without a saved value are problems). Every
cell is then checked against the instrument: codes on the item's scale written with the
digits 0-9 (no ``٤``, no ``4e0``), numbers in range, ISO dates, skip conditions (an item not
asked must be blank), required items. Ids and codes are at most 64 characters of letters,
digits, spaces and ``- _ . /``, and are compared normalised (case, spaces and hyphens
ignored: ``abc-1`` is ``ABC1``).

A response is identified by (instrument, wave, site, respondent key): its ``response_id``,
or the pseudonym of its ``participant_code``. Within a wave a key, or a participant, may
appear once: twice in the file, or once in the file and once in the store from another
source, is a problem; ids stored before from another file are refused unless ``replace``
(the message names that file). A self-generated code (the instrument's ``linkage_code``)
cannot prove identity: one that repeats within a wave is flagged ``ambiguous`` in the
validation report and those responses are stored unlinked (no respondent id), never as
one person or several.

Any problem rejects the whole file and leaves the store untouched; the validation report
lists each one by row (as the file numbers it: the header is row 1), column, value and
rule. The same file submitted again (same SHA-256, instrument, site and wave) is
recognised and not ingested twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalkit.instruments import Instrument, parse_condition
from evalkit.sources._errors import SubmissionRejectedError
from evalkit.sources._identity import key_fingerprint, normalize_code, pseudonym
from evalkit.store import (
    Batch,
    IngestSummary,
    check_key,
    ingest,
    source_ingested,
    stored_responses,
)
from evalkit.tabular import MAX_CELL_CHARS, ascii_number, read_tabular

__all__ = ["Submission", "read_submission", "validate_submission", "submit_file",
           "REPORT_COLUMNS", "MAX_ID_CHARS"]

#: Columns of a validation report.
REPORT_COLUMNS = ["row", "column", "value", "rule", "message"]
#: The longest response id, participant code or self-generated code accepted.
MAX_ID_CHARS = 64
_META = ("response_id", "participant_code", "submitted_at", "complete")
_GRID = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\[([^\[\]]+)\]$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_CODE = re.compile(r"^\d+(?:\.0+)?$", re.ASCII)
_SCIENTIFIC = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+$", re.ASCII)
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")
_ID_CHARS = re.compile(r"[^A-Za-z0-9 ._/\-]")
_YES = {"yes": True, "y": True, "1": True, "true": True, "no": False, "n": False, "0": False,
        "false": False}
_MAX_TEXT = MAX_CELL_CHARS
_OPS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal, ">": np.greater,
    ">=": np.greater_equal}


@dataclass(frozen=True)
class Submission:
    """The outcome of an accepted submission: the store's summary and the file's hash.

    ``warnings`` lists what was accepted with a caveat (:data:`REPORT_COLUMNS`; rule
    ``ambiguous``: a self-generated code seen more than once in the wave, stored unlinked);
    ``report`` is where they were written, None if there were none.
    """

    file: Path
    sha256: str
    rows: int
    ingest: IngestSummary
    warnings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REPORT_COLUMNS))
    report: Path | None = None
    read_as: str = ""


def read_submission(path: str | Path, *, sheet: str | None = None) -> pd.DataFrame:
    """Read a CSV (encoding and delimiter detected) or XLSX file; cells as text, blanks ``""``.

    Structural problems are not raised here; :func:`submit_file` reports them.
    """
    return read_tabular(path, sheet=sheet).frame


def _problem(row: int | str, column: str, value: str, rule: str, message: str
             ) -> dict[str, Any]:
    return {"row": row, "column": column, "value": value, "rule": rule, "message": message}


class _Problems:
    """Problems collected column by column, sorted as a person reads the file at the end."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, rows: np.ndarray, column: str, values: Any, rule: str, message: Any,
            phase: int, pos: int = 0) -> None:
        if len(rows):
            self.parts.append(pd.DataFrame({
                "row": np.asarray(rows, dtype=np.int64), "column": column,
                "value": np.asarray(values, dtype=object), "rule": rule,
                "message": message, "_phase": phase, "_pos": pos}))

    def one(self, problem: dict[str, Any], phase: int, pos: int = 0) -> None:
        self.parts.append(pd.DataFrame([{**problem, "_phase": phase, "_pos": pos}]))

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=REPORT_COLUMNS)
        out = pd.concat(self.parts, ignore_index=True)
        out = out.sort_values(["row", "_phase", "_pos"], kind="mergesort")
        return out[REPORT_COLUMNS].reset_index(drop=True)


def _columns(instrument: Instrument, columns: Sequence[str]
             ) -> tuple[dict[str, tuple[str, str | None]], list[dict[str, Any]]]:
    """Column -> (item code, grid row / option); problems with the header."""
    problems = []
    known: dict[str, tuple[str, str | None]] = {}
    codes = {i.code: i for i in instrument.items}
    seen: set[str] = set()
    for col in columns:
        if col in seen:
            problems.append(_problem(1, col, col, "header", "column appears twice"))
            continue
        seen.add(col)
        if col in _META:
            continue
        m = _GRID.match(col)
        base, inner = (m.group(1), m.group(2)) if m else (col, None)
        item = codes.get(base)
        if item is None:
            problems.append(_problem(1, col, col, "header", f"not an item of instrument "
                                     f"{instrument.id!r} nor one of {list(_META)}"))
        elif item.type in ("rating_grid", "multiple") and inner is None:
            problems.append(_problem(1, col, col, "header", f"{item.type} item {base!r} needs "
                                     f"one column per row, e.g. {base}[ROW]"))
        elif item.type not in ("rating_grid", "multiple") and inner is not None:
            problems.append(_problem(1, col, col, "header", f"item {base!r} is not a grid"))
        elif item.type == "multiple" and inner not in {str(o) for o in (item.options or {})}:
            problems.append(_problem(1, col, col, "header", f"{inner!r} is not an option of "
                                     f"{base!r}; options are {sorted(item.options or {})}"))
        else:
            known[col] = (base, inner)
    if "response_id" not in seen and "participant_code" not in seen:
        problems.append(_problem(1, "response_id", "", "header", "a response_id or "
                                 "participant_code column must identify each row"))
    return known, problems


class _Cells:
    """The frame's columns as arrays of text (first occurrence of a repeated name)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.pos: dict[str, int] = {}
        for j, c in enumerate(frame.columns):
            self.pos.setdefault(str(c), j)
        self._cache: dict[str, np.ndarray] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.pos

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            s = self.frame.iloc[:, self.pos[name]]
            if pd.api.types.infer_dtype(s, skipna=False) != "string":  # not all text yet
                s = s.astype(object).where(s.notna(), "").astype(str)
            self._cache[name] = s.to_numpy(dtype=object)
        return self._cache[name]


_NOT_CODE = {c: None for c in range(128) if not ("0" <= chr(c) <= "9" or "A" <= chr(c) <= "Z")}


def _normalize(code: str) -> str:
    """:func:`normalize_code`, with a fast path for ASCII text (the same result)."""
    return code.upper().translate(_NOT_CODE) if code.isascii() else normalize_code(code)


def _by_value(values: np.ndarray, check: Callable[[str], Any]) -> np.ndarray:
    """``check`` applied once per distinct value, spread back over ``values``."""
    codes, uniques = pd.factorize(values)
    results = np.empty(len(uniques), dtype=object)
    for i, u in enumerate(uniques):
        results[i] = check(u)
    return results[codes] if len(values) else np.empty(0, dtype=object)


def _shown(instrument: Instrument, code: str, numeric: dict[str, np.ndarray], n: int
           ) -> np.ndarray:
    """Whether item ``code`` is asked in each row, given the valid numeric answers."""
    item = instrument.item(code)
    if item.shown_if is None:
        return np.ones(n, dtype=bool)
    shown = np.zeros(n, dtype=bool)
    for alt in parse_condition(item.shown_if):
        holds = np.ones(n, dtype=bool)
        for cond in alt:
            values = numeric.get(cond.item, np.full(n, np.nan))
            with np.errstate(invalid="ignore"):
                holds &= _OPS[cond.op](values, cond.value) & ~np.isnan(values)
        shown |= holds
    return shown


def _id_problem(value: str, *, linkage: bool) -> tuple[str, str] | None:
    """(rule, message) of a bad id or code, None if it is fine."""
    if value == "":
        return None
    if len(value) > MAX_ID_CHARS:
        return "size", f"{len(value)} characters; an id or code has at most {MAX_ID_CHARS}"
    digit = _OTHER_DIGIT.search(value)
    if digit:
        return "code", (f"holds the non-ASCII digit {digit.group()!r} "
                        f"(U+{ord(digit.group()):04X}); type the digits 0-9")
    if linkage:
        return None
    if _SCIENTIFIC.match(value):
        return "code", ("a number in scientific notation (as Excel shows long numbers): the "
                        "original id is lost; format the column as text and export again")
    bad = _ID_CHARS.search(value)
    if bad:
        return "code", (f"holds {bad.group()!r}; an id may hold only letters A-Z, digits 0-9, "
                        "spaces and - _ . /")
    if not normalize_code(value):
        return "code", "has no letter or digit"
    return None


def validate_submission(frame: pd.DataFrame, instrument: Instrument, *,
                        lines: Sequence[int] | np.ndarray | None = None) -> pd.DataFrame:
    """Check every cell of a submission; returns the validation report (empty if valid).

    Parameters
    ----------
    frame
        Cells as text (:func:`read_submission`).
    instrument
        The instrument the file answers.
    lines
        The file's row number of each row of ``frame``; default: row ``i`` is ``i + 2``
        (the header is row 1).

    Returns
    -------
    pandas.DataFrame
        :data:`REPORT_COLUMNS`: ``row`` as the file numbers it (header = 1), ``column``, the
        cell ``value``, the ``rule`` broken (``header``, ``required``, ``code``, ``number``,
        ``range``, ``date``, ``skip``, ``unique``, ``text``, ``size``) and a sentence saying
        what was expected.
    """
    n = len(frame)
    rows = (np.asarray(lines, dtype=np.int64) if lines is not None
            else np.arange(2, n + 2, dtype=np.int64))
    known, header = _columns(instrument, [str(c) for c in frame.columns])
    out = _Problems()
    for p in header:
        out.one(p, phase=0)
    if not n:
        out.one(_problem(2, "", "", "rows", "the file has no responses"), phase=0)
    cells = _Cells(frame)
    order = {c: j for j, c in enumerate(cells.pos)}
    link = instrument.linkage_code if instrument.linkage_code in cells else None
    ident = [c for c in ("response_id", "participant_code") if c in cells]
    for col in [*ident, *([link] if link else [])]:
        values = cells[col]
        found = _by_value(values, partial(_id_problem, linkage=col == link))
        bad = np.flatnonzero([f is not None for f in found])
        for rule in ("size", "code"):
            hit = bad[[found[i][0] == rule for i in bad]] if len(bad) else bad
            out.add(rows[hit], col, values[hit], rule, [found[i][1] for i in hit], phase=5,
                    pos=order[col])
    for col in ident:
        norm = _by_value(cells[col], _normalize)
        filled = pd.Series(norm != "")
        dup = (pd.Series(norm).duplicated() & filled).to_numpy()
        if dup.any():
            first = pd.Series(rows).groupby(norm).transform("first").to_numpy()
            what = "response" if col == "response_id" else "participant"
            out.add(rows[dup], col, cells[col][dup], "unique",
                    [f"{col} appears more than once in the file (as {k!r}, first in row "
                     f"{f}): the same {what} twice in one wave"
                     for k, f in zip(norm[dup], first[dup], strict=True)], phase=1)
    if ident:
        blank = np.logical_and.reduce([cells[c] == "" for c in ident])
        out.add(rows[blank], ident[0], np.full(int(blank.sum()), "", dtype=object), "required",
                f"{' or '.join(ident)} must identify the response", phase=2)
    complete = np.ones(n, dtype=bool)
    if "complete" in cells:
        values = cells["complete"]
        flag = _by_value(values, lambda v: True if v == "" else _YES.get(v.lower()))
        bad = np.array([f is None for f in flag], dtype=bool)
        out.add(rows[bad], "complete", values[bad], "code", "expected yes or no", phase=3)
        complete = np.array([bool(f) for f in flag], dtype=bool)
    if "submitted_at" in cells:
        values = cells["submitted_at"]
        bad = (values != "") & ~_by_value(values, _valid_date).astype(bool)
        out.add(rows[bad], "submitted_at", values[bad], "date", "expected a date YYYY-MM-DD",
                phase=4)
    numeric: dict[str, np.ndarray] = {}
    for col, (base, inner) in known.items():
        values = cells[col]
        checked = _by_value(values, partial(_check_cell, instrument, base, inner))
        ok = np.array([c[0] for c in checked], dtype=bool)
        bad = np.flatnonzero(~ok)
        for rule in sorted({checked[i][2] for i in bad}):
            hit = bad[[checked[i][2] == rule for i in bad]]
            out.add(rows[hit], col, values[hit], rule, [checked[i][3] for i in hit], phase=5,
                    pos=order[col])
        if inner is None:
            numeric[base] = np.array([np.nan if c[1] is None or not c[0] else c[1]
                                      for c in checked], dtype=float)
    for col, (base, _inner) in known.items():
        item = instrument.item(base)
        shown = _shown(instrument, base, numeric, n)
        filled = cells[col] != ""
        skip = ~shown & filled
        out.add(rows[skip], col, cells[col][skip], "skip",
                f"asked only if {item.shown_if}; must be blank here", phase=6, pos=order[col])
        if item.required:
            need = shown & complete & ~filled
            out.add(rows[need], col, np.full(int(need.sum()), "", dtype=object), "required",
                    "required in a complete response", phase=6, pos=order[col])
    for k, item in enumerate(instrument.items):
        if item.required and item.type not in ("rating_grid", "multiple") \
                and item.code not in cells:
            need = complete & _shown(instrument, item.code, numeric, n)
            out.add(rows[need], item.code, np.full(int(need.sum()), "", dtype=object),
                    "required", "required item has no column", phase=7, pos=k)
    return out.frame()


def _valid_date(text: str) -> bool:
    if not _DATE.match(text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _hint(value: str) -> str:
    if _OTHER_DIGIT.search(value):
        return "; type the digits 0-9"
    if _SCIENTIFIC.match(value):
        return "; scientific notation is not a code"
    return ""


def _check_cell(instrument: Instrument, base: str, inner: str | None, value: str
                ) -> tuple[bool, float | None, str, str]:
    """(valid, numeric value, rule, message) of one cell; blanks are valid here."""
    if value == "":
        return True, None, "", ""
    item = instrument.item(base)
    if item.type == "multiple":
        if value in ("0", "1"):
            return True, float(value), "", ""
        return False, None, "code", f"expected 1 (ticked) or 0 (not ticked){_hint(value)}"
    if item.type in ("likert", "single", "rating_grid"):
        codes = instrument.answer_codes(base) or {}
        if _CODE.match(value) and int(float(value)) in codes:
            return True, float(value), "", ""
        where = f"scale {item.response_scale}" if item.response_scale else "the options"
        shown = ", ".join(f"{c}={label}" for c, label in sorted(codes.items()))
        return False, None, "code", f"not a code of {where} ({shown}){_hint(value)}"
    if item.type == "numeric":
        if not ascii_number(value):
            return False, None, "number", f"expected a number{_hint(value)}"
        number = float(value)
        if not math.isfinite(number):
            return False, None, "number", "expected a finite number"
        if (item.min is not None and number < item.min) or (
                item.max is not None and number > item.max):
            return False, None, "range", (f"expected a number from {item.min:g} to "
                                          f"{item.max:g}" if item.min is not None and
                                          item.max is not None else "out of range")
        return True, number, "", ""
    if item.type == "date":
        if _valid_date(value):
            return True, None, "", ""
        return False, None, "date", "expected a date YYYY-MM-DD"
    if len(value) > _MAX_TEXT:
        return False, None, "text", f"longer than {_MAX_TEXT} characters"
    return True, None, "", ""


@dataclass(frozen=True)
class _Keys:
    """Per row: the response id, the respondent pseudonym, and which column made it."""

    response_ids: np.ndarray
    respondents: np.ndarray  # object: pseudonym or None
    by_code: np.ndarray  # bool: respondent from participant_code (else linkage or none)
    linkage: np.ndarray  # object: normalised self-generated code, "" if none


def _keys(frame: pd.DataFrame, instrument: Instrument, *, site: str, wave: str, key: bytes
          ) -> _Keys:
    cells = _Cells(frame)
    n = len(frame)
    blank = np.full(n, "", dtype=object)
    code = _by_value(cells["participant_code"], _normalize) if "participant_code" in cells \
        else blank
    link = (_by_value(cells[instrument.linkage_code], _normalize)
            if instrument.linkage_code and instrument.linkage_code in cells else blank)
    local = _by_value(cells["response_id"], _normalize) if "response_id" in cells else blank
    by_code = code != ""
    coded = _by_value(code, lambda c: pseudonym("code", c, key=key, scope=site) if c else None)
    linked = _by_value(link, lambda c: pseudonym("sgic", c, key=key, scope=site) if c else None)
    respondents = np.where(by_code, coded, linked)
    local = np.where(local != "", local, np.array([f"code:{p}" for p in coded], dtype=object))
    prefix = f"file:{instrument.id}:{wave}:{site}:"
    ids = np.array([prefix + str(v) for v in local], dtype=object)
    return _Keys(ids, respondents, by_code, link)


def _to_batch(frame: pd.DataFrame, instrument: Instrument, keys: _Keys, *, site: str,
              wave: str) -> tuple[Batch, int]:
    known, _ = _columns(instrument, [str(c) for c in frame.columns])
    cells = _Cells(frame)
    n = len(frame)
    complete = (np.array([_YES.get(v.lower(), True) for v in cells["complete"]], dtype=bool)
                if "complete" in cells else np.ones(n, dtype=bool))
    submitted = (pd.to_datetime(pd.Series(cells["submitted_at"]).replace("", None),
                                format="%Y-%m-%d") if "submitted_at" in cells
                 else pd.Series([pd.NaT] * n, dtype="datetime64[ns]"))
    responses = pd.DataFrame({
        "response_id": keys.response_ids, "instrument": instrument.id, "wave": wave,
        "site_id": site, "respondent_id": pd.Series(keys.respondents, dtype=object),
        "submitted_at": submitted.to_numpy(), "complete": complete})
    parts, dropped = [], 0
    for col, (base, _inner) in known.items():
        values = cells[col]
        filled = values != ""
        if not filled.any() or base == instrument.linkage_code:
            continue
        if base in instrument.personal_items:
            dropped += int(filled.sum())
            continue
        item = instrument.item(base)
        ids = keys.response_ids[filled]
        if item.type in ("text", "date"):
            parts.append(pd.DataFrame({"response_id": ids, "item": col,
                                       "value": np.full(len(ids), np.nan),
                                       "text": values[filled]}))
        else:
            parts.append(pd.DataFrame({"response_id": ids, "item": col,
                                       "value": _by_value(values[filled], float).astype(float),
                                       "text": None}))
    answers = (pd.concat(parts, ignore_index=True) if parts else
               pd.DataFrame(columns=["response_id", "item", "value", "text"]))
    return Batch(responses=responses, answers=answers), dropped


def _short(value: Any, limit: int = 200) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"... ({len(value)} characters)"
    return value


def _ambiguous(keys: _Keys, rows: np.ndarray, stored: pd.DataFrame, column: str | None,
               values: np.ndarray | None) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Rows whose self-generated code repeats in the wave (in the file or the store)."""
    anon = ~keys.by_code & (keys.linkage != "")
    series = pd.Series(keys.linkage).where(anon)
    repeated = anon & series.duplicated(keep=False).to_numpy()
    in_store = set(stored.loc[stored["match"] == "respondent", "respondent_id"])
    from_store = (anon & np.isin(keys.respondents, list(in_store)) if in_store
                  else np.zeros(len(anon), dtype=bool))
    flagged = repeated | from_store
    if not flagged.any():
        return flagged, []
    idx = np.flatnonzero(flagged)
    groups = pd.Series(rows[idx]).groupby(keys.linkage[idx]).agg(list).to_dict()
    warnings = []
    for i in idx:
        code = keys.linkage[i]
        others = [str(r) for r in groups[code] if r != rows[i]]
        said = []
        if others:
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more"
                                             if len(others) > 5 else "")
            said.append(f"row{'s' if len(others) > 1 else ''} {shown} of this file")
        if from_store[i]:
            said.append("a response already stored")
        warnings.append({"row": int(rows[i]), "column": column or "",
                         "value": _short(str(values[i])) if values is not None else "",
                         "rule": "ambiguous",
                         "message": f"self-generated code {code!r} is also used by "
                                    f"{' and '.join(said)} in this wave: two people can "
                                    "share a code, so this response is stored unlinked "
                                    "(no respondent id)"})
    return flagged, warnings


def _write_report(report: pd.DataFrame, path: Path) -> None:
    """The validation report, opened by people in spreadsheets: cells that would start a
    formula (= + - @, tab, CR) are neutralised, rows end in CRLF (OWASP CSV injection)."""
    from evalkit.privacy import safe_csv_cell

    report.map(safe_csv_cell).to_csv(path, index=False, encoding="utf-8",
                                     lineterminator="\r\n")


def submit_file(
    path: str | Path,
    instrument: Instrument,
    *,
    site: str,
    wave: str,
    store: str | Path,
    key: bytes,
    report: str | Path | None = None,
    replace: bool = False,
    sheet: str | None = None,
    wait: float = 0.0,
) -> Submission:
    """Validate a site's file and ingest it whole, or reject it whole.

    Parameters
    ----------
    path
        The CSV or XLSX file.
    instrument
        The instrument the file answers.
    site, wave
        Whose responses, and when (checked against the project by the caller).
    store
        The DuckDB store.
    key
        Key of the pseudonymous ids; the store must hold its fingerprint (or none yet).
    report
        Where to write the validation report (CSV) when the file is rejected or accepted
        with warnings; default ``<file>.validation.csv`` beside the file.
    replace
        Replace responses with the same ids stored before from another file (otherwise
        the file is refused, naming that file).
    sheet
        The workbook sheet to read, when several hold data.
    wait
        Seconds to wait for another process writing to the store.

    Returns
    -------
    Submission
        ``ingest.skipped`` is True when this exact file (same SHA-256, instrument, site and
        wave) was ingested before.

    Raises
    ------
    SubmissionRejectedError
        Any problem; ``report`` holds the validation report; the store is unchanged.
    KeyMismatchError
        ``key`` is not the key of the store's pseudonymous ids.
    """
    path = Path(path)
    fingerprint = key_fingerprint(key)
    check_key(store, fingerprint, wait=wait)
    table = read_tabular(path, sheet=sheet)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    source = f"file:sha256:{sha}"
    seen = source_ingested(store, source, wait=wait, instrument=instrument.id, site=site,
                           wave=wave)
    if seen is not None:
        return Submission(file=path, sha256=sha, rows=len(table.frame), ingest=seen,
                          read_as=table.where)
    frame, rows = table.frame, table.lines
    problems = validate_submission(frame, instrument, lines=rows)
    if len(table.problems):  # the reader's problems first within a row
        problems = pd.concat([table.problems.reindex(columns=REPORT_COLUMNS), problems],
                             ignore_index=True).sort_values("row", kind="mergesort",
                                                            ignore_index=True)
    report_path = Path(report) if report else path.with_name(path.name + ".validation.csv")
    warnings = pd.DataFrame(columns=REPORT_COLUMNS)
    conflicts: list[str] = []
    batch: Batch | None = None
    dropped = 0
    if not len(problems):
        keys = _keys(frame, instrument, site=site, wave=wave, key=key)
        batch, dropped = _to_batch(frame, instrument, keys, site=site, wave=wave)
        stored = stored_responses(store, batch.responses, wait=wait)
        cells = _Cells(frame)
        link = instrument.linkage_code if instrument.linkage_code in cells else None
        flagged, notes = _ambiguous(keys, rows, stored, link,
                                    cells[link] if link else None)
        if flagged.any():
            batch.responses.loc[flagged, "respondent_id"] = None
            warnings = pd.DataFrame(notes, columns=REPORT_COLUMNS)
        found = []
        id_col = "response_id" if "response_id" in cells else "participant_code"
        index = {rid: i for i, rid in enumerate(keys.response_ids)}
        same_id = stored[(stored["match"] == "response_id") &
                         (stored["source"] != source)] if not replace else stored.iloc[:0]
        for s in same_id.itertuples(index=False):
            i = index[s.response_id]
            origin = str(s.file) if isinstance(s.file, str) else str(s.source)
            conflicts.append(origin)
            found.append(_problem(int(rows[i]), id_col, _short(str(cells[id_col][i])),
                                  "conflict", f"response {s.response_id.rsplit(':', 1)[-1]!r} "
                                  f"of {instrument.id}/{wave}/{site} was already stored from "
                                  f"{origin}; pass --replace to replace it"))
        owner = {r: i for i, r in enumerate(keys.respondents) if r is not None and
                 keys.by_code[i]}
        for s in stored[stored["match"] == "respondent"].itertuples(index=False):
            if s.respondent_id not in owner:
                continue
            i = owner[s.respondent_id]
            origin = str(s.file) if isinstance(s.file, str) else str(s.source)
            found.append(_problem(int(rows[i]), "participant_code",
                                  _short(str(cells["participant_code"][i])), "unique",
                                  f"this participant already has a {instrument.id} response "
                                  f"in wave {wave} at {site}, stored from {origin}"))
        if found:
            problems = pd.DataFrame(found, columns=REPORT_COLUMNS).sort_values(
                "row", kind="mergesort")
    if len(problems):
        problems = problems.assign(value=problems["value"].map(_short))
        _write_report(pd.concat([problems, warnings], ignore_index=True), report_path)
        first = problems.iloc[0]
        also = ""
        if conflicts:
            files = sorted(set(conflicts))
            also = (f"; {len(conflicts)} response id(s) were already stored from "
                    f"{', '.join(files)}: pass --replace to replace them")
        raise SubmissionRejectedError(
            f"{path}: rejected, {len(problems)} problem(s), nothing was ingested; first: row "
            f"{first['row']}, column {first['column']!r}, value {first['value']!r}: "
            f"{first['message']} (rule {first['rule']}){also}; report: {report_path}",
            report=problems)
    summary = ingest(store, batch if batch is not None else Batch(), source=source, kind="file",
                     personal_items={instrument.id: instrument.personal_items},
                     detail={"file": path.name, "instrument": instrument.id, "site": site,
                             "wave": wave, "rows": len(frame), "read_as": table.where,
                             "replace": replace, "ambiguous_codes": len(warnings),
                             "personal_answers_dropped": dropped},
                     conflicts="update" if replace else "refuse",
                     key_fingerprint=fingerprint, wait=wait)
    written = None
    if len(warnings):
        _write_report(warnings, report_path)
        written = report_path
    return Submission(file=path, sha256=sha, rows=len(frame), ingest=summary,
                      warnings=warnings, report=written, read_as=table.where)
