"""Reading the tables people export: CSV in any common encoding and delimiter, or XLSX.

One reader for site submissions (:mod:`evalkit.sources`) and the CSV analysis commands
(``evalkit prepost``, ``reliability``, ``model``), so both see the same cells and number
rows the same way: as the file numbers them, 1-based, the header being row 1 (a CSV
record that spans several lines is numbered by its first line; blank lines count).

- Encoding: a byte-order mark (UTF-8, UTF-16) wins; otherwise UTF-8, UTF-16 without a mark,
  or what charset-normalizer detects (Windows-1252 for Western single-byte text). A file
  mixing UTF-8 with another encoding is refused.
- Delimiter: comma, semicolon or tab, whichever splits the header into most fields.
- Workbooks: the one sheet that holds data (``sheet`` picks one when several do, else the
  sheet the defined name :data:`RESPONSES_NAME` marks, as on evalkit's forms); merged
  cells, formulas without a saved value and error cells are problems, not blanks.

Structural problems (ragged rows, control characters such as NUL, cells over
:data:`MAX_CELL_CHARS`) are returned as a table, ``row, column, value, rule, message``, so a
caller can refuse the whole file and show every problem at once.

Examples
--------
>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "scores.csv"
>>> _ = path.write_bytes("id;score\\r\\nA;3\\r\\n\\r\\nB;4\\r\\n".encode("cp1252"))
>>> table = read_tabular(path)
>>> table.delimiter, table.frame["score"].tolist(), table.lines.tolist()
(';', ['3', '4'], [2, 4])
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import math
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalkit.errors import ConfigError, EvalkitError

__all__ = ["MAX_CELL_CHARS", "PROBLEM_COLUMNS", "RESPONSES_NAME", "Table", "TableFileError",
           "read_tabular", "parse_labels", "typed_frame", "ascii_number"]

#: The longest cell accepted, in characters (Excel's own limit for a cell).
MAX_CELL_CHARS = 32_767
#: Workbook-level defined name marking the sheet of data when several sheets hold text (the
#: forms ``evalkit surveys form`` writes: responses, instructions, codes).
RESPONSES_NAME = "evalkit_responses"
#: Columns of a problem table.
PROBLEM_COLUMNS = ["row", "column", "value", "rule", "message"]
_DELIMITERS = (",", ";", "\t")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$", re.ASCII)
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|"
                             rb"[\xf0-\xf4][\x80-\xbf]{3}")
_MISSING = frozenset({"", "NA", "N/A", "NaN", "nan", "NULL", "null", "#N/A", "None"})
_WORKBOOK = (".xlsx", ".xlsm")
_TEXT = (".csv", ".txt", ".tsv")


class TableFileError(EvalkitError):
    """A file cannot be read as a table at all (not a workbook, unknown encoding ...)."""


@dataclass(frozen=True)
class Table:
    """A file's cells as text (stripped, blanks ``""``) and where each row is in the file.

    ``lines[i]`` is the file's row number of ``frame.iloc[i]`` (header = ``header_line``);
    ``problems`` lists structural problems (:data:`PROBLEM_COLUMNS`), empty if none.
    """

    path: Path
    frame: pd.DataFrame
    lines: np.ndarray
    header_line: int
    problems: pd.DataFrame
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None

    @property
    def where(self) -> str:
        """How the file was read, e.g. ``cp1252, ';'`` or ``sheet 'Responses'``."""
        if self.sheet is not None:
            return f"sheet {self.sheet!r}"
        return f"{self.encoding}, {self.delimiter!r}"


def _problem(row: int, column: str, value: str, rule: str, message: str) -> dict[str, Any]:
    return {"row": row, "column": column, "value": value, "rule": rule, "message": message}


def ascii_number(text: str) -> bool:
    """Whether ``text`` is a number written with ASCII digits (``"4"``, ``"-2.5"``, ``"1e3"``).

    Python's ``float`` also reads ``"٤"``, ``"1_000"`` and ``"inf"``; people's files must not.
    """
    return bool(_NUMBER.match(text))


# Encoding ---------------------------------------------------------------------------------
def _decode(raw: bytes, path: Path) -> tuple[str, str]:
    """The file's text and the encoding it was read with."""
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"),
                      (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
                      (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            return _strict(raw, name, path), name
    sample = raw[:4096]
    if len(sample) >= 4 and len(raw) % 2 == 0:
        half = len(sample) // 2
        odd, even = sample[1::2].count(0), sample[0::2].count(0)
        if odd > 0.4 * half and even < 0.05 * half:
            return _strict(raw, "utf-16-le", path), "utf-16-le"
        if even > 0.4 * half and odd < 0.05 * half:
            return _strict(raw, "utf-16-be", path), "utf-16-be"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        bad = exc.start
    line = raw[:bad].count(b"\n") + 1
    if _UTF8_MULTIBYTE.search(raw):
        raise TableFileError(
            f"{path}: mixes UTF-8 with another encoding (byte {raw[bad]:#04x} on line {line} "
            "is not UTF-8, other characters are); save it again as 'CSV UTF-8'")
    from charset_normalizer import from_bytes

    matches = list(from_bytes(raw[:200_000]))
    if matches:
        least = min(m.chaos for m in matches)
        calm = [m for m in matches if m.chaos <= least + 0.01]
        # Short Western text decodes cleanly in many code pages; Excel on Windows writes
        # cp1252, so it wins whenever it reads the bytes as well as the best guess.
        if any("cp1252" in m.could_be_from_charset for m in calm):
            try:
                return raw.decode("cp1252"), "cp1252"
            except UnicodeDecodeError:
                pass
        guess = calm[0].encoding
    else:
        guess = "cp1252"
    return _strict(raw, guess, path), guess


def _strict(raw: bytes, encoding: str, path: Path) -> str:
    try:
        return raw.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        where = ""
        if isinstance(exc, UnicodeDecodeError):
            line = raw[:exc.start].count(b"\n") + 1
            where = f" (line {line})"
        raise TableFileError(f"{path}: cannot be read as {encoding} text{where}; save it as "
                             "'CSV UTF-8' or XLSX") from None


# CSV --------------------------------------------------------------------------------------
def _sniff(text: str) -> str:
    head = text[:65_536]
    first = next((ln for ln in head.splitlines() if ln.strip()), "")
    best, fields = ",", 1
    for delim in _DELIMITERS:
        try:
            n = len(next(csv.reader([first], delimiter=delim)))
        except (csv.Error, StopIteration):
            continue
        if n > fields:
            best, fields = delim, n
    return best


def _read_csv(path: Path, raw: bytes) -> Table:
    if raw.startswith(b"PK\x03\x04"):
        raise TableFileError(f"{path}: is a workbook (XLSX), not CSV text; rename it to .xlsx "
                             "or export it as CSV")
    text, encoding = _decode(raw, path)
    delim = _sniff(text)
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    records: list[list[str]] = []
    starts: list[int] = []
    last = 0
    try:
        for fields in reader:
            start, last = last + 1, reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            records.append(fields)
            starts.append(start)
    except csv.Error as exc:
        raise TableFileError(f"{path}: row {last + 1}: cannot be read as CSV ({exc}); check "
                             "the quotes on that line") from None
    if not records:
        raise TableFileError(f"{path}: the file is empty (no header row)")
    header, rows, lines = records[0], records[1:], np.asarray(starts[1:], dtype=np.int64)
    width = len(header)
    problems: list[dict[str, Any]] = []
    names = [h.strip() for h in header]
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    for i in np.flatnonzero(lengths != width):
        fields = rows[i]
        n = len(fields)
        if n < width:
            problems.append(_problem(int(lines[i]), names[n], "", "fields",
                                     f"the row has {n} fields, the header has {width}; "
                                     f"{', '.join(map(repr, names[n:]))} missing"))
            rows[i] = fields + [""] * (width - n)
        else:
            extra = [f for f in fields[width:]]
            if any(f.strip() for f in extra):
                problems.append(_problem(int(lines[i]), f"field {width + 1}",
                                         _short(extra[0]), "fields",
                                         f"the row has {n} fields, the header has {width}"))
            rows[i] = fields[:width]
    frame = pd.DataFrame(rows, columns=range(width), dtype=object) if rows else \
        pd.DataFrame(columns=range(width), dtype=object)
    frame.columns = pd.Index(names, dtype=object)
    return _finish(Table(path, frame, lines, int(starts[0]), pd.DataFrame(problems),
                         encoding=encoding, delimiter=delim), scan=text)


# XLSX -------------------------------------------------------------------------------------
def _cell_text(value: Any) -> str:
    """A spreadsheet cell as the text a person typed (``4.0`` -> ``"4"``, dates ISO)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _load_workbook(path: Path, *, data_only: bool) -> Any:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return openpyxl.load_workbook(path, data_only=data_only)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError,
            TypeError, EOFError) as exc:
        raw = path.read_bytes()[:8]
        what = "an old Excel 97-2003 .xls file" if raw.startswith(b"\xd0\xcf\x11\xe0") else \
            "not an Excel workbook"
        raise TableFileError(f"{path}: {what}, cannot be read as .xlsx "
                             f"({type(exc).__name__}: {str(exc)[:80] or 'damaged'}); save it "
                             "from Excel as .xlsx or CSV") from None


def _has_data(ws: Any) -> bool:
    return any(v is not None and str(v).strip() != ""
               for row in ws.iter_rows(values_only=True) for v in row)


def _marked_sheet(book: Any) -> str | None:
    """The sheet the workbook's :data:`RESPONSES_NAME` names, if it names one."""
    name = book.defined_names.get(RESPONSES_NAME)
    if name is None:
        return None
    sheets = {title for title, _ in name.destinations}
    return sheets.pop() if len(sheets) == 1 else None


def _read_xlsx(path: Path, sheet: str | None) -> Table:
    from openpyxl.utils import get_column_letter

    book = _load_workbook(path, data_only=False)
    names = list(book.sheetnames)
    if sheet is not None:
        if sheet not in names:
            raise TableFileError(f"{path}: --sheet {sheet!r} not found; sheets are {names}")
        chosen = sheet
    else:
        with_data = [n for n in names if _has_data(book[n])]
        if not with_data:
            raise TableFileError(f"{path}: no sheet holds any data (sheets {names})")
        marked = _marked_sheet(book)
        if len(with_data) > 1 and marked in with_data:
            with_data = [marked]
        if len(with_data) > 1:
            raise TableFileError(
                f"{path}: sheets {with_data} all hold data and only one is read; pass "
                f"--sheet NAME to pick one (or put every response on one sheet)")
        chosen = with_data[0]
    ws = book[chosen]
    problems: list[dict[str, Any]] = []
    grid = [list(r) for r in ws.iter_rows()]
    cells = [[c.value for c in r] for r in grid]
    formulas = [(i, j) for i, r in enumerate(grid) for j, c in enumerate(r)
                if c.data_type == "f"]
    cached: dict[tuple[int, int], Any] = {}
    if formulas:
        values = _load_workbook(path, data_only=True)[chosen]
        for i, j in formulas:
            cached[(i, j)] = values.cell(row=grid[i][j].row, column=grid[i][j].column).value
    top = next((i for i, r in enumerate(cells) if any(_cell_text(v).strip() for v in r)), None)
    if top is None:
        raise TableFileError(f"{path}: sheet {chosen!r} holds no data")
    row0 = grid[top][0].row if grid[top] else top + 1
    header = [_cell_text(v).strip() for v in cells[top]]
    while header and header[-1] == "" and not any(
            len(r) >= len(header) and _cell_text(r[len(header) - 1]).strip()
            for r in cells[top + 1:]):
        header.pop()
    width = len(header)
    ref = f"{chosen}!"

    def col_name(j: int) -> str:
        return header[j] if j < width and header[j] else f"column {get_column_letter(j + 1)}"

    for i, j in formulas:
        if cached[(i, j)] is None:
            c = grid[i][j]
            problems.append(_problem(c.row, col_name(j), _short(str(c.value)), "formula",
                                     f"cell {ref}{c.coordinate} is a formula without a saved "
                                     "value; open the file in Excel and save it, or paste "
                                     "the values"))
        else:
            cells[i][j] = cached[(i, j)]
    for i, r in enumerate(grid):
        for j, c in enumerate(r):
            if c.data_type == "e" or (isinstance(cells[i][j], str)
                                      and cells[i][j] in ("#DIV/0!", "#N/A", "#VALUE!",
                                                          "#REF!", "#NAME?", "#NUM!",
                                                          "#NULL!")):
                problems.append(_problem(c.row, col_name(j), str(cells[i][j]), "formula",
                                         f"cell {ref}{c.coordinate} holds an error value"))
    for rng in ws.merged_cells.ranges:
        problems.append(_problem(rng.min_row, col_name(rng.min_col - 1), str(rng.coord),
                                 "merged", f"cells {ref}{rng.coord} are merged; only the "
                                 "first would keep its value: unmerge them and fill each cell"))
    rows, lines = [], []
    for i in range(top + 1, len(cells)):
        texts = [_cell_text(v).strip() for v in cells[i]]
        if not any(texts):
            continue
        number = grid[i][0].row if grid[i] else i + 1
        extra = [t for t in texts[width:] if t]
        if extra:
            problems.append(_problem(number, col_name(width), _short(extra[0]), "fields",
                                     f"a value right of the last named column "
                                     f"({header[-1] if header else 'none'!r})"))
        rows.append((texts + [""] * width)[:width])
        lines.append(number)
    frame = pd.DataFrame(rows, columns=range(width), dtype=object) if rows else \
        pd.DataFrame(columns=range(width), dtype=object)
    frame.columns = pd.Index(header, dtype=object)
    return _finish(Table(path, frame, np.asarray(lines, dtype=np.int64), row0,
                         pd.DataFrame(problems), sheet=chosen), scan=None)


# Both -------------------------------------------------------------------------------------
def _short(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[:limit] + f"... ({len(value)} characters)"


def _finish(table: Table, *, scan: str | None) -> Table:
    """Strip cells, drop unnamed empty columns, add control-character and size problems."""
    frame = table.frame
    problems = [table.problems] if len(table.problems) else []
    found: list[dict[str, Any]] = []
    header_names = list(frame.columns)
    for j, name in enumerate(header_names):
        if _CONTROL.search(name) or len(name) > 200:
            found.append(_problem(table.header_line, f"column {j + 1}", _short(repr(name)),
                                  "header", "a column name must be printable and at most 200 "
                                  "characters"))
    check_control = scan is None or _CONTROL.search(scan) is not None
    check_size = scan is None or len(scan) > MAX_CELL_CHARS
    keep = []
    for j, name in enumerate(header_names):
        col = frame.iloc[:, j].astype(object)
        text = col.str.strip() if len(col) else col
        frame.iloc[:, j] = text
        if name == "" and not (text != "").any():
            continue  # a trailing separator or an empty formatted column
        keep.append(j)
        if check_control and len(col):
            bad = col.str.contains(_CONTROL.pattern, regex=True)
            for i in np.flatnonzero(bad.to_numpy(dtype=bool)):
                value = str(col.iloc[i])
                char = _CONTROL.search(value)
                code = f"U+{ord(char.group()):04X}" if char else "?"
                found.append(_problem(int(table.lines[i]), name or f"column {j + 1}",
                                      _short(repr(value)), "character",
                                      f"holds the control character {code}"
                                      f"{' (NUL)' if code == 'U+0000' else ''}"))
        if check_size and len(col):
            long = col.str.len() > MAX_CELL_CHARS
            for i in np.flatnonzero(long.to_numpy(dtype=bool)):
                value = str(col.iloc[i])
                found.append(_problem(int(table.lines[i]), name or f"column {j + 1}",
                                      _short(value), "size",
                                      f"{len(value)} characters; the limit is "
                                      f"{MAX_CELL_CHARS}"))
    frame = frame.iloc[:, keep].reset_index(drop=True)
    for j, name in enumerate(frame.columns):
        if name == "":
            found.append(_problem(table.header_line, f"column {keep[j] + 1}", "", "header",
                                  "a column with values has no name in the header"))
    if found:
        problems.append(pd.DataFrame(found))
    report = (pd.concat(problems, ignore_index=True) if problems
              else pd.DataFrame(columns=PROBLEM_COLUMNS))
    report = report.reindex(columns=PROBLEM_COLUMNS)
    report = report.sort_values("row", kind="mergesort").reset_index(drop=True)
    return Table(table.path, frame, table.lines, table.header_line, report,
                 encoding=table.encoding, delimiter=table.delimiter, sheet=table.sheet)


def read_tabular(path: str | Path, *, sheet: str | None = None) -> Table:
    """Read a CSV (any common encoding and delimiter) or an XLSX sheet, every cell as text.

    Parameters
    ----------
    path
        ``.csv`` / ``.txt`` / ``.tsv`` or ``.xlsx`` / ``.xlsm``.
    sheet
        The workbook sheet to read; needed when several sheets hold data.

    Returns
    -------
    Table
        Cells as stripped text; ``problems`` lists ragged rows, control characters, cells
        over :data:`MAX_CELL_CHARS`, merged cells and formulas without a saved value.

    Raises
    ------
    ConfigError
        The file does not exist or its suffix is not a table's.
    TableFileError
        The file cannot be read as a table at all (one line naming the file).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in _WORKBOOK:
        return _read_xlsx(path, sheet)
    if suffix not in _TEXT:
        raise ConfigError(f"{path}: expected a .csv or .xlsx file, got {suffix or 'none'}")
    if sheet is not None:
        raise TableFileError(f"{path}: --sheet {sheet!r} given, but a CSV file has no sheets")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TableFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return _read_csv(path, raw)


# Typed frames for the analysis commands ----------------------------------------------------
def parse_labels(spec: str | None) -> dict[str, float]:
    """``"Strongly disagree=1,Disagree=2"`` -> ``{"strongly disagree": 1.0, ...}``.

    Labels are matched without regard to case or repeated spaces.
    """
    out: dict[str, float] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        label, sep, code = part.rpartition("=")
        if not sep or not label.strip() or not ascii_number(code.strip()):
            raise ConfigError(f"--labels: expected LABEL=NUMBER pairs separated by commas "
                              f"(e.g. 'Strongly disagree=1,Disagree=2'); got {part.strip()!r}")
        out[_label_key(label)] = float(code)
    return out


def _label_key(text: str) -> str:
    return " ".join(text.split()).casefold()


def typed_frame(table: Table, *, numeric: Sequence[str] = (),
                labels: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The table with number columns as numbers, indexed by the file's row numbers.

    A column is numeric if every filled cell is an ASCII number (after ``labels`` mapped
    label cells to codes); ``numeric`` columns must be, or a :class:`TableFileError` names
    the file, row, column and value. Missing-value markers (``NA``, ``#N/A``, blank ...)
    become NaN. The index is the file's row number, so errors that cite a row cite the file's.
    """
    if len(table.problems):
        p = table.problems.iloc[0]
        raise TableFileError(f"{table.path}: row {p['row']}, column {p['column']!r}: "
                             f"{p['message']} ({len(table.problems)} problem(s))")
    frame = table.frame
    dupes = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if dupes:
        raise TableFileError(f"{table.path}: row {table.header_line}: column(s) {dupes} appear "
                             "more than once in the header")
    out = {}
    for name in frame.columns:
        col = frame[name]
        if labels:
            keys = col.map(_label_key)
            hit = keys.isin(list(labels))
            if hit.any():
                col = col.where(~hit, keys.map(labels).map(lambda v: repr(float(v))))
        missing = col.isin(list(_MISSING))
        filled = col[~missing]
        numbers = filled.map(ascii_number).astype(bool) if len(filled) else filled.astype(bool)
        if name in numeric and not numbers.all():
            i = int(np.flatnonzero(~numbers.to_numpy())[0])
            pos = int(np.flatnonzero(~missing.to_numpy())[i])
            value = str(filled.iloc[i])
            hint = (" (a label: map labels to codes with --labels 'LABEL=1,...')"
                    if any(ch.isalpha() for ch in value) else "")
            raise TableFileError(f"{table.path}: row {int(table.lines[pos])}, column "
                                 f"{name!r}: {value!r} is not a number{hint}")
        if len(filled) and numbers.all():
            values = pd.to_numeric(col.where(~missing, None), errors="raise").astype(float)
            integral = not missing.any() and bool(filled.str.fullmatch(r"[+-]?\d+").all())
            out[name] = values.astype("int64") if integral else values
        else:
            out[name] = col.where(~missing, np.nan)
    typed = pd.DataFrame(out, columns=list(frame.columns))
    typed.index = pd.Index(table.lines, name="row")
    return typed
