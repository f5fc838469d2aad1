"""Human-corrected theme codes: export for coders, import back, and merge with suggestions.

Corrected codes live in the store, in a table of their own that ingest never touches::

    comment_codes(response_id, item, themes, text_sha, source_file, imported_at)
        PRIMARY KEY (response_id, item)

``themes`` holds the theme ids separated by ``;`` in alphabetical order (empty = the coder
decided no theme applies); ``text_sha`` is a hash of the comment the coder saw, so a code
whose comment was later changed by a re-ingest is ignored rather than misapplied. The table
is created on the first import (``CREATE TABLE IF NOT EXISTS`` inside the import's
transaction); an import either applies completely or not at all.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.errors import IngestError
from evalkit.feedback._themes import NO_THEME, Codebook, code_themes
from evalkit.privacy import FORMULA_START, safe_csv_cell
from evalkit.store import open_store
from evalkit.tables import text_answers

CODES_TABLE = """
CREATE TABLE IF NOT EXISTS comment_codes (
    response_id VARCHAR NOT NULL, item VARCHAR NOT NULL, themes VARCHAR NOT NULL,
    text_sha VARCHAR NOT NULL, source_file VARCHAR, imported_at TIMESTAMP NOT NULL,
    PRIMARY KEY (response_id, item))
"""
EXPORT_COLUMNS = ["response_id", "site_id", "wave", "comment", "suggested_themes", "themes",
                  "reviewed"]
_TRUE = {"y", "yes", "true", "1", "x"}
_FALSE = {"", "n", "no", "false", "0"}
_MAX_PROBLEMS = 20


@dataclass(frozen=True)
class CodeExport:
    """What :func:`export_codes` wrote: ``rows`` comments, ``corrected`` already corrected."""

    path: Path
    rows: int
    corrected: int


@dataclass(frozen=True)
class CodeImport:
    """What :func:`import_codes` did.

    ``rows`` in the file; ``stored`` of them were corrections or marked reviewed (the others
    equal the suggestion and are left to the codebook); of those, ``inserted`` were new,
    ``updated`` replaced an earlier correction and ``unchanged`` were already stored.
    """

    path: Path
    rows: int
    stored: int
    inserted: int
    updated: int
    unchanged: int


def text_sha(text: str) -> str:
    """The hash of a comment that ties a corrected code to the text the coder saw."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def read_comments(store: str | Path, *, instrument: str = "community",
                  item: str = "COMMENT") -> pd.DataFrame:
    """Non-empty comments: ``response_id, wave, site_id, modality, text``."""
    return text_answers(store, instrument, item)


def corrected_codes(store: str | Path, *, item: str = "COMMENT") -> pd.DataFrame:
    """The stored corrected codes: ``response_id, item, themes, text_sha`` (empty if none)."""
    columns = ["response_id", "item", "themes", "text_sha"]
    store = Path(store)
    if not store.exists():
        return pd.DataFrame(columns=columns)
    con = open_store(store, read_only=True)
    try:
        exists = con.execute("SELECT count(*) FROM information_schema.tables "
                             "WHERE table_name = 'comment_codes'").fetchone()
        if exists is None or not exists[0]:  # count(*) always gives one row
            return pd.DataFrame(columns=columns)
        return con.execute("SELECT response_id, item, themes, text_sha FROM comment_codes "
                           "WHERE item = ? ORDER BY response_id", [item]).df()
    finally:
        con.close()


def _split(themes: str) -> list[str]:
    """Theme ids from a cell such as ``"food; Waiting"`` (``no_theme``/``none`` = none)."""
    parts = {t.strip() for t in re.split(r"[;,|]", themes.lower())}
    return sorted(p for p in parts if p and p not in (NO_THEME, "none"))


def _joined(themes: list[str] | set[str]) -> str:
    return ";".join(sorted(t for t in themes if t != NO_THEME))


def current_corrections(comments: pd.DataFrame, corrected: pd.DataFrame) -> pd.DataFrame:
    """The corrections that still apply: their comment exists and has not changed since.

    ``comments`` has ``response_id, text``; ``corrected`` is as from
    :func:`corrected_codes`. Returns the applicable rows of ``corrected`` (an empty
    ``themes`` means the coder decided no theme applies).
    """
    sha = dict(zip(comments["response_id"], comments["text"].map(text_sha), strict=True))
    matches = [sha.get(r) == s for r, s in
               zip(corrected["response_id"], corrected["text_sha"], strict=True)]
    return corrected.loc[np.array(matches, dtype=bool)]


def final_codes(comments: pd.DataFrame, suggested: pd.DataFrame,
                corrected: pd.DataFrame) -> pd.DataFrame:
    """The codes to count: a current correction wins over the suggestion.

    Parameters
    ----------
    comments
        ``response_id, text``.
    suggested
        ``response_id, theme`` (as from :func:`code_themes`).
    corrected
        ``response_id, themes, text_sha`` (as from :func:`corrected_codes`). A correction
        whose ``text_sha`` no longer matches the comment is ignored.

    Returns
    -------
    pandas.DataFrame
        ``response_id, theme, origin`` (``suggested`` or ``corrected``), one row per comment
        x theme; comments with no theme have no row.

    Examples
    --------
    >>> import pandas as pd
    >>> comments = pd.DataFrame({"response_id": ["a", "b"], "text": ["long wait", "bus"]})
    >>> suggested = pd.DataFrame({"response_id": ["a", "b"], "theme": ["waiting", "food"]})
    >>> corrected = pd.DataFrame({"response_id": ["b"], "themes": ["access_transport"],
    ...                           "text_sha": [text_sha("bus")]})
    >>> final_codes(comments, suggested, corrected)
      response_id             theme     origin
    0           a           waiting  suggested
    1           b  access_transport  corrected
    """
    sha = dict(zip(comments["response_id"], comments["text"].map(text_sha), strict=True))
    current = current_corrections(comments, corrected)
    won = set(current["response_id"])
    keep = suggested[suggested["response_id"].isin(sha) & ~suggested["response_id"].isin(won)]
    rows = [{"response_id": r, "theme": t, "origin": "corrected"}
            for r, themes in zip(current["response_id"], current["themes"], strict=True)
            for t in _split(themes)]
    out = pd.concat([keep[["response_id", "theme"]].assign(origin="suggested"),
                     pd.DataFrame(rows, columns=["response_id", "theme", "origin"])],
                    ignore_index=True)
    order = {r: i for i, r in enumerate(comments["response_id"])}
    out = out.assign(_o=out["response_id"].map(order)).sort_values(["_o", "theme"],
                                                                    kind="mergesort")
    return out.drop(columns="_o").reset_index(drop=True)


def export_codes(store: str | Path, path: str | Path, *, codebook: Codebook,
                 scrubber: Callable[[str], str], instrument: str = "community",
                 item: str = "COMMENT") -> CodeExport:
    """Write every comment with its suggested and current themes to a CSV for coders.

    Columns: ``response_id, site_id, wave, comment`` (scrubbed of personal data),
    ``suggested_themes`` (from the codebook), ``themes`` (the current code: an earlier
    correction if there is one, else the suggestion; coders edit this column, theme ids
    separated by ``;``, empty for none) and ``reviewed`` (``yes`` where a correction is
    stored; set it to ``yes`` to confirm a suggestion as it is). UTF-8 with a byte-order
    mark, so spreadsheet programs read accents correctly. A cell that a spreadsheet would
    run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return)
    gets a leading single quote (:func:`evalkit.privacy.safe_csv_cell`); the import reads
    ``response_id`` and ``themes`` with that quote removed again.
    """
    comments = read_comments(store, instrument=instrument, item=item)
    suggested = code_themes(comments, codebook=codebook)
    by_id = suggested.groupby("response_id")["theme"].agg(list)
    corrected = corrected_codes(store, item=item)
    current = set(current_corrections(comments, corrected)["response_id"])
    corrected_themes = dict(zip(corrected["response_id"], corrected["themes"], strict=True))
    rows = []
    for rec in comments.itertuples(index=False):
        suggestion = _joined(by_id.get(rec.response_id, []))
        fixed = rec.response_id in current
        rows.append({"response_id": rec.response_id, "site_id": rec.site_id,
                     "wave": rec.wave, "comment": scrubber(rec.text),
                     "suggested_themes": suggestion.replace(";", "; "),
                     "themes": (corrected_themes[rec.response_id] if fixed
                                else suggestion).replace(";", "; "),
                     "reviewed": "yes" if fixed else ""})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows, columns=EXPORT_COLUMNS).map(safe_csv_cell)
    # CRLF line ends (RFC 4180) make the writer quote any cell holding a CR or an LF, so a
    # carriage return typed in a comment cannot start a new row.
    table.to_csv(path, index=False, encoding="utf-8-sig", quoting=csv.QUOTE_MINIMAL,
                 lineterminator="\r\n")
    return CodeExport(path=path, rows=len(rows), corrected=len(current))


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise IngestError(f"{path}: file not found")
    try:
        data = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save "
                          "the spreadsheet as 'CSV UTF-8'") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise IngestError(f"{path}: not a readable CSV file ({exc})") from None
    data.columns = [str(c).strip() for c in data.columns]
    for column in ("response_id", "themes", "suggested_themes", "reviewed"):
        if column in data.columns:
            data[column] = data[column].map(_unquote)
    missing = [c for c in ("response_id", "themes") if c not in data.columns]
    if missing:
        raise IngestError(f"{path}: missing column(s) {missing}; columns are "
                          f"{list(data.columns)}")
    return data


def _unquote(cell: str) -> str:
    """A cell as exported before :func:`~evalkit.privacy.safe_csv_cell` quoted it."""
    if cell.startswith("'") and cell[1:].lstrip(" ").startswith(FORMULA_START):
        return cell[1:]
    return cell


def _problems(data: pd.DataFrame, known: set[str], codebook: Codebook) -> list[str]:
    problems = []
    allowed = set(codebook.ids)
    seen: set[str] = set()
    for i, rec in enumerate(data.to_dict("records")):
        line = i + 2  # the header is line 1
        rid = rec["response_id"].strip()
        if not rid:
            problems.append(f"line {line}: response_id is empty")
            continue
        if rid in seen:
            problems.append(f"line {line}: response_id {rid!r} appears more than once")
        seen.add(rid)
        if rid not in known:
            problems.append(f"line {line}: response_id {rid!r} is not a comment in the store")
        bad = [t for t in _split(rec["themes"]) if t not in allowed]
        if bad:
            problems.append(f"line {line}: theme(s) {bad} not in the codebook; themes are "
                            f"{codebook.ids}")
        reviewed = rec.get("reviewed", "").strip().lower()
        if reviewed not in _TRUE | _FALSE:
            problems.append(f"line {line}: reviewed {rec['reviewed']!r} is not yes or no")
    return problems


def import_codes(store: str | Path, path: str | Path, *, codebook: Codebook,
                 instrument: str = "community", item: str = "COMMENT") -> CodeImport:
    """Import a coders' CSV (as written by :func:`export_codes`); corrected codes win.

    Rows whose ``themes`` differ from ``suggested_themes``, or that are marked ``reviewed``,
    are stored as corrections (every row when the file has no ``suggested_themes``
    column). The whole file is checked first and every problem (unknown response ids or
    theme ids, duplicate rows) is reported at once; then the rows are written in one
    transaction. Importing the same file again changes nothing.

    Raises
    ------
    IngestError
        Listing every problem found, by line; nothing is imported.
    """
    path = Path(path)
    data = _read_csv(path)
    comments = read_comments(store, instrument=instrument, item=item)
    problems = _problems(data, set(comments["response_id"]), codebook)
    if problems:
        shown = problems[:_MAX_PROBLEMS]
        more = len(problems) - len(shown)
        raise IngestError(f"{path}: {len(problems)} problem(s); nothing was imported:\n  "
                          + "\n  ".join(shown) + (f"\n  ... and {more} more" if more else ""))
    sha = dict(zip(comments["response_id"], comments["text"].map(text_sha), strict=True))
    rows = []
    for rec in data.to_dict("records"):
        themes = _joined(_split(rec["themes"]))
        changed = ("suggested_themes" not in data.columns
                   or themes != _joined(_split(rec["suggested_themes"])))
        if changed or rec.get("reviewed", "").strip().lower() in _TRUE:
            rid = rec["response_id"].strip()
            rows.append({"response_id": rid, "item": item, "themes": themes,
                         "text_sha": sha[rid]})
    incoming = pd.DataFrame(rows, columns=["response_id", "item", "themes", "text_sha"])
    con = open_store(store)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(CODES_TABLE)
            old = con.execute("SELECT response_id, themes, text_sha FROM comment_codes "
                              "WHERE item = ?", [item]).df().set_index("response_id")
            before = incoming["response_id"].map(old["themes"] + "|" + old["text_sha"])
            now = incoming["themes"] + "|" + incoming["text_sha"]
            is_new = before.isna()
            same = ~is_new & (before == now)
            write = incoming[~same].assign(
                source_file=path.name,
                imported_at=dt.datetime.now(dt.UTC).replace(tzinfo=None))
            con.register("_codes", write)
            con.execute("DELETE FROM comment_codes WHERE item = ? AND response_id IN "
                        "(SELECT response_id FROM _codes)", [item])
            con.execute("INSERT INTO comment_codes SELECT response_id, item, themes, text_sha, "
                        "source_file, imported_at FROM _codes")
            con.unregister("_codes")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    return CodeImport(path=path, rows=len(data), stored=len(incoming),
                      inserted=int(is_new.sum()), updated=int((~is_new & ~same).sum()),
                      unchanged=int(same.sum()))
