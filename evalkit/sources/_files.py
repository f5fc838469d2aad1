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

Every cell is checked against the instrument: codes on the item's scale, numbers in range,
ISO dates, skip conditions (an item not asked must be blank), required items. Any problem
rejects the whole file; the validation report lists each one by row (as the spreadsheet
numbers it: the header is row 1), column, value and rule. The same file submitted again is
recognised by its SHA-256 and not ingested twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.errors import ConfigError, IngestError
from evalkit.instruments import Instrument
from evalkit.sources._errors import SubmissionRejectedError
from evalkit.sources._identity import normalize_code, pseudonym
from evalkit.store import Batch, IngestSummary, ingest

__all__ = ["Submission", "read_submission", "validate_submission", "submit_file",
           "REPORT_COLUMNS"]

#: Columns of a validation report.
REPORT_COLUMNS = ["row", "column", "value", "rule", "message"]
_META = ("response_id", "participant_code", "submitted_at", "complete")
_GRID = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\[([^\[\]]+)\]$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_YES = {"yes": True, "y": True, "1": True, "true": True, "no": False, "n": False, "0": False,
        "false": False}
_MAX_TEXT = 100_000


@dataclass(frozen=True)
class Submission:
    """The outcome of an accepted submission: the store's summary and the file's hash."""

    file: Path
    sha256: str
    rows: int
    ingest: IngestSummary


def _cell_text(value: Any) -> str:
    """A spreadsheet cell as the text a person typed (``4.0`` -> ``"4"``, dates ISO)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def read_submission(path: str | Path) -> pd.DataFrame:
    """Read a CSV (UTF-8, ``,`` or ``;``) or XLSX file; every cell as text, blanks as ``""``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            frame = pd.read_excel(path, dtype=object, engine="openpyxl")
            frame = frame.map(_cell_text)
        elif suffix in (".csv", ".txt"):
            raw = path.read_bytes().decode("utf-8-sig")
            first = raw.splitlines()[0] if raw else ""
            sep = ";" if first.count(";") > first.count(",") else ","
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep,
                                encoding="utf-8-sig")
        else:
            raise ConfigError(f"{path}: expected a .csv or .xlsx file, got {suffix or 'none'}")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save "
                          "it as 'CSV UTF-8' or XLSX") from None
    except (ValueError, pd.errors.ParserError) as exc:
        raise IngestError(f"{path}: cannot be read as a table: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.astype(object).map(lambda v: "" if v is None else str(v).strip())


def _problem(row: int | str, column: str, value: str, rule: str, message: str
             ) -> dict[str, Any]:
    return {"row": row, "column": column, "value": value, "rule": rule, "message": message}


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


def validate_submission(frame: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """Check every cell of a submission; returns the validation report (empty if valid).

    Returns
    -------
    pandas.DataFrame
        :data:`REPORT_COLUMNS`: ``row`` as the spreadsheet numbers it (header = 1),
        ``column``, the cell ``value``, the ``rule`` broken (``header``, ``required``,
        ``code``, ``number``, ``range``, ``date``, ``skip``, ``unique``, ``text``) and a
        sentence saying what was expected.
    """
    known, problems = _columns(instrument, list(frame.columns))
    if not len(frame):
        problems.append(_problem(2, "", "", "rows", "the file has no responses"))
    for col in ("response_id", "participant_code"):
        if col in frame.columns:
            filled = frame[col][frame[col] != ""]
            for idx in filled[filled.duplicated()].index:
                problems.append(_problem(int(idx) + 2, col, str(frame.at[idx, col]), "unique",
                                         f"{col} appears more than once in the file"))
    ident = [c for c in ("response_id", "participant_code") if c in frame.columns]
    for idx, row in frame.iterrows():
        r = int(idx) + 2  # type: ignore[call-overload]
        if ident and all(row[c] == "" for c in ident):
            problems.append(_problem(r, ident[0], "", "required", f"{' or '.join(ident)} must "
                                     "identify the response"))
        complete = True
        if "complete" in frame.columns and row["complete"] != "":
            flag = _YES.get(row["complete"].lower())
            if flag is None:
                problems.append(_problem(r, "complete", row["complete"], "code",
                                         "expected yes or no"))
            complete = bool(flag)
        if "submitted_at" in frame.columns and row["submitted_at"] != "":
            if not _valid_date(row["submitted_at"]):
                problems.append(_problem(r, "submitted_at", row["submitted_at"], "date",
                                         "expected a date YYYY-MM-DD"))
        numeric: dict[str, float | None] = {}
        for col, (base, inner) in known.items():
            value = row[col]
            ok, number, rule, message = _check_cell(instrument, base, inner, value)
            if not ok:
                problems.append(_problem(r, col, value, rule, message))
            elif inner is None and number is not None:
                numeric[base] = number
        for col, (base, _inner) in known.items():
            item = instrument.item(base)
            shown = instrument.is_shown(base, numeric)
            if not shown and row[col] != "":
                problems.append(_problem(r, col, row[col], "skip", f"asked only if "
                                         f"{item.shown_if}; must be blank here"))
            elif shown and complete and item.required and row[col] == "":
                problems.append(_problem(r, col, "", "required", "required in a complete "
                                         "response"))
        for item in instrument.items:
            if item.required and complete and item.type not in ("rating_grid", "multiple") \
                    and item.code not in frame.columns and instrument.is_shown(item.code,
                                                                               numeric):
                problems.append(_problem(r, item.code, "", "required", "required item has no "
                                         "column"))
    report = pd.DataFrame(problems, columns=REPORT_COLUMNS)
    return report.sort_values("row", kind="mergesort").reset_index(drop=True)


def _valid_date(text: str) -> bool:
    if not _DATE.match(text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _check_cell(instrument: Instrument, base: str, inner: str | None, value: str
                ) -> tuple[bool, float | None, str, str]:
    """(valid, numeric value, rule, message) of one cell; blanks are valid here."""
    if value == "":
        return True, None, "", ""
    item = instrument.item(base)
    if item.type == "multiple":
        if value in ("0", "1"):
            return True, float(value), "", ""
        return False, None, "code", "expected 1 (ticked) or 0 (not ticked)"
    if item.type in ("likert", "single", "rating_grid"):
        codes = instrument.answer_codes(base) or {}
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if number.is_integer() and int(number) in codes:
            return True, number, "", ""
        where = f"scale {item.response_scale}" if item.response_scale else "the options"
        shown = ", ".join(f"{c}={label}" for c, label in sorted(codes.items()))
        return False, None, "code", f"not a code of {where} ({shown})"
    if item.type == "numeric":
        try:
            number = float(value)
        except ValueError:
            return False, None, "number", "expected a number"
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


def _to_batch(frame: pd.DataFrame, instrument: Instrument, *, site: str, wave: str, key: bytes
              ) -> tuple[Batch, int]:
    known, _ = _columns(instrument, list(frame.columns))
    responses, answers = [], []
    dropped = 0
    for _, row in frame.iterrows():
        local = row["response_id"] if "response_id" in frame.columns and row["response_id"] \
            else f"code:{row['participant_code']}"
        rid = f"file:{instrument.id}:{wave}:{site}:{local}"
        code = row.get("participant_code", "") if "participant_code" in frame.columns else ""
        linkage = (normalize_code(row[instrument.linkage_code]) if instrument.linkage_code
                   and instrument.linkage_code in frame.columns else "")
        if code:
            respondent = pseudonym("code", normalize_code(code), key=key, scope=site)
        elif linkage:
            respondent = pseudonym("sgic", linkage, key=key, scope=site)
        else:
            respondent = None
        complete = _YES.get(str(row.get("complete", "")).lower(), True) \
            if "complete" in frame.columns else True
        submitted = row["submitted_at"] if "submitted_at" in frame.columns else ""
        responses.append({"response_id": rid, "instrument": instrument.id, "wave": wave,
                          "site_id": site, "respondent_id": respondent,
                          "submitted_at": pd.Timestamp(submitted) if submitted else None,
                          "complete": complete})
        for col, (base, _inner) in known.items():
            value = row[col]
            if value == "" or base == instrument.linkage_code:
                continue
            if base in instrument.personal_items:
                dropped += 1
                continue
            item = instrument.item(base)
            if item.type in ("text", "date"):
                answers.append({"response_id": rid, "item": col, "value": None, "text": value})
            else:
                answers.append({"response_id": rid, "item": col, "value": float(value),
                                "text": None})
    batch = Batch(
        responses=pd.DataFrame(responses, columns=["response_id", "instrument", "wave",
                                                   "site_id", "respondent_id", "submitted_at",
                                                   "complete"]),
        answers=pd.DataFrame(answers, columns=["response_id", "item", "value", "text"]))
    return batch, dropped


def submit_file(
    path: str | Path,
    instrument: Instrument,
    *,
    site: str,
    wave: str,
    store: str | Path,
    key: bytes,
    report: str | Path | None = None,
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
        Key of the pseudonymous ids.
    report
        Where to write the validation report (CSV) when the file is rejected; default
        ``<file>.validation.csv`` beside the file.

    Returns
    -------
    Submission
        ``ingest.skipped`` is True when this exact file (same SHA-256) was ingested before.

    Raises
    ------
    SubmissionRejectedError
        Any problem; ``report`` holds the validation report; the store is unchanged.
    """
    path = Path(path)
    frame = read_submission(path)
    problems = validate_submission(frame, instrument)
    report_path = Path(report) if report else path.with_name(path.name + ".validation.csv")
    if len(problems):
        problems.to_csv(report_path, index=False, encoding="utf-8")
        first = problems.iloc[0]
        raise SubmissionRejectedError(
            f"{path}: rejected, {len(problems)} problem(s), nothing was ingested; first: row "
            f"{first['row']}, column {first['column']!r}, value {first['value']!r}: "
            f"{first['message']} (rule {first['rule']}); report: {report_path}",
            report=problems)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    batch, dropped = _to_batch(frame, instrument, site=site, wave=wave, key=key)
    summary = ingest(store, batch, source=f"file:sha256:{sha}", kind="file",
                     personal_items={instrument.id: instrument.personal_items},
                     detail={"file": path.name, "instrument": instrument.id, "site": site,
                             "wave": wave, "rows": len(frame),
                             "personal_answers_dropped": dropped})
    return Submission(file=path, sha256=sha, rows=len(frame), ingest=summary)
