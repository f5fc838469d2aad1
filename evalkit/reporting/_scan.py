"""The final check of a rendered report: no small cell and no personal data in what it shows.

:func:`scan_file` reads a rendered HTML or Word file as a reader sees it and returns every
problem it finds:

- **personal data** in any visible text (HTML: text outside ``<script>`` and ``<style>``,
  plus ``alt``, ``title`` and ``aria-label`` attributes, with ``data:`` URIs and base64 runs
  removed; Word: paragraphs, tables, headers, footers, the document title and image
  descriptions): whatever the ingest and quote scrubber removes, found by the same detectors
  (:class:`evalkit.privacy.Scrubber`): an email address (spelled-out, full-width and
  URL-encoded forms too), a phone number of any region, a national id, a date of birth, a
  street address, a pseudonymous participant id (``P-`` and 16 lower-case or 8 upper-case
  hexadecimal digits), a name from the project's names file (matched as the scrubber
  matches it: whole names and each part of one, ignoring case and accents; names that are
  also common words only when capitalized) or a person's name found with the name lexicon.
  The check fails closed: an error while looking is a finding too;
- **small cells** in tables: in every column the table declares as a count (the marker
  :func:`evalkit.reporting.markdown_table` writes for ``counts=``: a ``<div
  class="evalkit-counts">`` in HTML, a bookmark in Word) and every column whose header is
  a count header (see :func:`is_count_header`), a number greater than zero and below the
  suppression threshold.
  Suppressed cells read ``<11`` (or a dash) and pass; zero passes.

Figures are images and are not read; their labels come from the same suppressed tables.

Examples
--------
>>> is_count_header("n"), is_count_header("n baseline"), is_count_header("Mean")
(True, True, False)
>>> rules = ScanRules(threshold=11)
>>> [f.kind for f in scan_text_chunks(["Reach me at ana@example.org"], rules)]
['email address']
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

from evalkit.errors import RenderError
from evalkit.privacy import DEFAULT_REGION, KINDS, Scrubber, Span

__all__ = ["COUNT_HEADERS", "Finding", "ScanRules", "check_outputs", "is_count_header",
           "scan_file", "scan_text_chunks"]

#: Table headers that hold counts of people (besides ``n`` and ``n ...``). Any column so
#: headed must show no count from 1 to threshold - 1. Counts of organizations in the partner
#: network tables (``Organizations``, ``Answered``, ``Did not answer``) are not people and
#: are not checked: the network figure shows every organization anyway.
COUNT_HEADERS = frozenset({"Matched"})
#: Headers that count people whatever their case (``N``, ``Respondents``).
COUNT_WORDS = frozenset({"n", "count", "respondents", "responses", "participants", "people"})
#: The identifier a declared table carries (:func:`evalkit.reporting.markdown_table` with
#: ``counts=``): ``evk<table>_c<i>_<j>``, the 0-based positions of its count columns. HTML
#: keeps it on the ``<div class="evalkit-counts" data-counts="i,j">`` around the table, Word
#: as a bookmark just before the table.
_DECLARED = re.compile(r"^evk\d+_c((?:\d+_?)*)$")
#: Header prefixes of count columns (``Seen at baseline``).
COUNT_HEADER_PREFIXES = ("n ", "Seen at ")

#: What each kind of personal data is called in a finding.
PERSONAL_KINDS = {"email": "email address", "phone": "phone number",
                  "participant_id": "participant id", "national_id": "national id",
                  "date_of_birth": "date of birth", "address": "street address",
                  "name": "name"}
_DATA_URI = re.compile(r"data:[\w/+.-]+(?:;[\w=.-]+)*,[^\s\"')]*")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{120,}={0,2}")
_NUMBER = re.compile(r"^(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?=$|\s|\()")
_BLOCK_TAGS = frozenset("""
address article aside blockquote body br caption dd details dialog div dl dt fieldset
figcaption figure footer form h1 h2 h3 h4 h5 h6 head header hr html li main nav ol p pre
section summary table tbody td tfoot th thead title tr ul text svg g desc td th
""".split())
_SKIP_TAGS = frozenset({"script", "style", "template"})
_ATTRIBUTES = ("alt", "title", "aria-label")
_LINKS = ("mailto:", "tel:", "sms:", "callto:")


def is_count_header(header: str) -> bool:
    """Whether a table column with this header holds counts that must not be small.

    The convention shared with the table layer: a header that is exactly ``n``, starts with
    ``n `` (``n baseline``) or ``Seen at ``, or is one of :data:`COUNT_HEADERS`.

    >>> [is_count_header(h) for h in ("n", "n endline", "Matched", "Seen at midpoint", "SD")]
    [True, True, True, True, False]
    """
    header = " ".join(str(header).split())
    return (header.lower() in COUNT_WORDS or header in COUNT_HEADERS
            or header.startswith(COUNT_HEADER_PREFIXES))


def _declared(name: str | None) -> frozenset[int] | None:
    """The count columns a table's marker declares, or None when it is not a marker."""
    match = _DECLARED.match(name or "")
    if match is None:
        return None
    return frozenset(int(i) for i in match.group(1).split("_") if i)


@dataclass(frozen=True)
class ScanRules:
    """What a rendered report must not contain.

    Attributes
    ----------
    threshold
        Counts from 1 to ``threshold - 1`` in count columns are small cells.
    names
        People's names (participants, staff) that must not appear.
    names_source
        Where the names came from, quoted in messages instead of the name itself.
    region
        Default region of phone numbers written without a country code.
    single_given_names
        Also count a lexicon given name standing alone ("Ask Rosa") as a name. Off by
        default: quotes have had such names scrubbed already, and report prose and
        configured names use them for places and organisations; full names ("Rosa
        Delgado"), titled names ("Dr Delgado") and listed names are always found.
    """

    threshold: int = 11
    names: tuple[str, ...] = ()
    names_source: str = "the names file"
    region: str = DEFAULT_REGION
    single_given_names: bool = False
    _scrubber: Scrubber | None = field(default=None, init=False, repr=False, compare=False)
    # What the scrubber found in each text already looked at. A render's documents (and the
    # HTML and Word file of one document) repeat most of their text; on the demo 5,746
    # pieces of text are 799 distinct ones, and the scan of 16 files went from 3.1 s to
    # about 1.4 s. Bounded, and shared by the render threads (a lost race only repeats work).
    _found: dict[str, list[Span]] = field(default_factory=dict, init=False, repr=False,
                                          compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int) or (
                self.threshold < 1):
            raise RenderError(f"scan threshold must be a positive integer, got "
                              f"{self.threshold!r}")
        names = tuple(n for n in self.names if isinstance(n, str) and n.strip())
        object.__setattr__(self, "names", names)
        kinds = tuple(k for k in KINDS if k in PERSONAL_KINDS)
        object.__setattr__(self, "_scrubber", Scrubber(
            names, region=self.region, kinds=kinds, single_names=self.single_given_names))

    def digest_parts(self) -> dict[str, object]:
        """The rules as plain data, for the render cache (names hashed, never stored)."""
        import hashlib

        names = hashlib.sha256("\n".join(self.names).encode("utf-8")).hexdigest()
        return {"threshold": self.threshold, "names": names, "region": self.region,
                "single_given_names": self.single_given_names, "scan": _SCAN_VERSION}


_SCAN_VERSION = 2


@dataclass(frozen=True)
class Finding:
    """One problem in a rendered file.

    Attributes
    ----------
    kind
        ``"small cell"``, ``"email address"``, ``"phone number"``, ``"participant id"``,
        ``"national id"``, ``"date of birth"``, ``"street address"``, ``"name"`` or
        ``"scan error"`` (the personal-data check itself failed: the file is not published).
    where
        Where a reader sees it (table caption and column, or the section heading).
    detail
        What was found, with personal data masked.
    """

    kind: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} {self.detail} in {self.where}"


# --------------------------------------------------------------------------- text


def _mask(text: str, keep: int = 2) -> str:
    text = text.strip()
    return text[:keep] + "…" if len(text) > keep else "…"


def _clean(text: str) -> str:
    return _BASE64.sub(" ", _DATA_URI.sub(" ", text))


_FOUND_LIMIT = 100_000  # texts remembered by one ScanRules before it starts afresh


def scan_text_chunks(chunks: Iterable[str], rules: ScanRules, where: str = "the text"
                     ) -> list[Finding]:
    """Personal data in pieces of visible text, each scanned on its own.

    >>> rules = ScanRules(names=("Rosa Delgado",), names_source="names.txt")
    >>> [str(f) for f in scan_text_chunks(["Thanks to Rosa!", "Call 555-201-3344"], rules)]
    ['name (line 1 of names.txt) in the text', 'phone number 55… in the text']
    """
    out: list[Finding] = []
    scrubber = rules._scrubber or Scrubber(rules.names, region=rules.region)
    found = rules._found
    for chunk in chunks:
        text = _clean(chunk)
        if not text.strip():
            continue
        spans = found.get(text)
        if spans is None:
            try:
                spans = scrubber.find(text)
            except Exception as exc:  # fail closed: what could not be checked is not published
                out.append(Finding("scan error", where,
                                   f"(the personal-data check failed: {type(exc).__name__})"))
                continue
            if len(found) >= _FOUND_LIMIT:
                found.clear()
            found[text] = spans
        named = False
        for span in spans:
            kind = PERSONAL_KINDS.get(span.kind)
            if kind is None:
                continue
            if kind != "name":
                keep = 4 if span.kind == "participant_id" else 2
                out.append(Finding(kind, where, _mask(span.text, keep)))
            elif not named:
                named = True
                out.append(Finding("name", where, f"({_which_name(text, rules)})"))
    return out


def _which_name(text: str, rules: ScanRules) -> str:
    for line, name in enumerate(rules.names, start=1):
        if Scrubber((name,), lexicon=False, kinds=("name",)).find(text):
            return f"line {line} of {rules.names_source}"
    if rules.names:
        return f"not in {rules.names_source}: found by the name lexicon"
    return "found by the name lexicon"


def _small_cells(caption: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
                 rules: ScanRules, declared: frozenset[int] = frozenset()) -> list[Finding]:
    """Small counts in the table's count columns: those it declares, and those whose header
    reads as a count."""
    out = []
    for col, header in enumerate(headers):
        if col not in declared and not is_count_header(header):
            continue
        for number, row in enumerate(rows, start=1):
            if col >= len(row):
                continue
            match = _NUMBER.match(row[col].strip())
            if match is None:
                continue
            value = float(match.group(0).replace(",", ""))
            if 0 < value < rules.threshold:
                out.append(Finding(
                    "small cell", f"{caption}, column {' '.join(header.split())!r}, row {number}",
                    f"{match.group(0)} (counts from 1 to {rules.threshold - 1} must be "
                    f"suppressed)"))
    return out


# --------------------------------------------------------------------------- HTML


@dataclass
class _Table:
    caption: str = ""
    heading: str = ""
    header_rows: list[list[str]] = field(default_factory=list)
    body_rows: list[list[str]] = field(default_factory=list)
    section: str = ""
    row: list[tuple[str, bool]] | None = None
    cell: list[str] | None = None
    cell_th: bool = False
    cell_span: int = 1
    in_caption: bool = False
    caption_parts: list[str] = field(default_factory=list)
    counts: frozenset[int] = frozenset()


class _HTMLReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[tuple[str, str]] = []  # (text, heading it is under)
        self.tables: list[_Table] = []
        self._stack: list[_Table] = []
        self._skip = 0
        self._buffer: list[str] = []
        self._heading = ""
        self._in_heading = False
        self._heading_parts: list[str] = []
        self._counts: frozenset[int] | None = None  # declared by the enclosing div

    # chunks of visible text break at block elements
    def _flush(self) -> None:
        text = " ".join("".join(self._buffer).split())
        if text:
            self.chunks.append((text, self._heading))
        self._buffer = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
            return
        if self._skip:
            return
        for name, value in attrs:
            if name in _ATTRIBUTES and value:
                self.chunks.append((value, self._heading))
            elif name == "href" and value and value.lower().startswith(_LINKS):
                # a mailto: or tel: link shows its target on hover and on click
                self.chunks.append((unquote(value.split(":", 1)[1]), self._heading))
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._in_heading, self._heading_parts = True, []
        if tag == "div":
            given = dict(attrs)
            declared = _declared(given.get("id"))
            if declared is not None or "evalkit-counts" in (given.get("class") or "").split():
                self._counts = declared if declared is not None else frozenset(
                    int(i) for i in (given.get("data-counts") or "").split(",")
                    if i.strip().isdigit())
        if tag == "table":
            self._stack.append(_Table(heading=self._heading, counts=self._counts or frozenset()))
            self._counts = None
        elif self._stack:
            table = self._stack[-1]
            if tag in ("thead", "tbody", "tfoot"):
                table.section = tag
            elif tag == "tr":
                table.row = []
            elif tag in ("td", "th"):
                span = dict(attrs).get("colspan") or "1"
                table.cell, table.cell_th = [], tag == "th"
                table.cell_span = int(span) if span.isdigit() and int(span) > 0 else 1
            elif tag == "caption":
                table.in_caption, table.caption_parts = True, []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("table", "td", "th", "tr", "caption"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
            return
        if self._skip:
            return
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6") and self._in_heading:
            self._in_heading = False
            self._heading = " ".join("".join(self._heading_parts).split())
        if not self._stack:
            return
        table = self._stack[-1]
        if tag in ("td", "th") and table.cell is not None and table.row is not None:
            text = " ".join("".join(table.cell).split())
            table.row.extend([(text, table.cell_th)] * table.cell_span)
            table.cell = None
        elif tag == "tr" and table.row is not None:
            cells = [text for text, _ in table.row]
            if table.section == "thead" or (
                    not table.body_rows and table.row and all(th for _, th in table.row)):
                table.header_rows.append(cells)
            else:
                table.body_rows.append(cells)
            table.row = None
        elif tag in ("thead", "tbody", "tfoot"):
            table.section = ""
        elif tag == "caption":
            table.in_caption = False
            table.caption = " ".join("".join(table.caption_parts).split())
        elif tag == "table":
            self.tables.append(self._stack.pop())

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self._buffer.append(data)
        if self._in_heading:
            self._heading_parts.append(data)
        if self._stack:
            table = self._stack[-1]
            if table.cell is not None:
                table.cell.append(data)
            if table.in_caption:
                table.caption_parts.append(data)


def _describe_table(number: int, caption: str, heading: str) -> str:
    if caption:
        short = caption if len(caption) <= 80 else caption[:77] + "..."
        return f"table {number} ({short!r})"
    return f"table {number}" + (f" under {heading!r}" if heading else "")


def _scan_html(path: Path, rules: ScanRules) -> list[Finding]:
    reader = _HTMLReader()
    reader.feed(path.read_text(encoding="utf-8", errors="replace"))
    reader.close()
    reader._flush()
    out: list[Finding] = []
    for text, heading in reader.chunks:
        where = f"the section {heading!r}" if heading else "the text before the first heading"
        out.extend(scan_text_chunks([text], rules, where))
    for number, table in enumerate(reader.tables, start=1):
        headers = table.header_rows[-1] if table.header_rows else []
        out.extend(_small_cells(_describe_table(number, table.caption, table.heading),
                                headers, table.body_rows, rules, table.counts))
    return out


# --------------------------------------------------------------------------- Word


def _scan_docx(path: Path, rules: ScanRules) -> list[Finding]:
    import docx
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise RenderError(f"{path}: cannot open the Word file to check it: {exc}") from None
    out: list[Finding] = []
    heading, caption, number = "", "", 0
    declared: frozenset[int] = frozenset()

    def where() -> str:
        return f"the section {heading!r}" if heading else "the text before the first heading"

    def table_cells(table: Table) -> list[list[str]]:
        rows = []
        for row in table.rows:
            rows.append([" ".join(cell.text.split()) for cell in row.cells])
            for cell in row.cells:
                for inner in cell.tables:
                    rows.extend(table_cells(inner))
        return rows

    for child in document.element.body.iterchildren():
        marks = [child] if child.tag == qn("w:bookmarkStart") else (
            child.iter(qn("w:bookmarkStart")) if child.tag == qn("w:p") else [])
        for mark in marks:
            found = _declared(mark.get(qn("w:name")))
            if found is not None:
                declared = found
        if child.tag == qn("w:p"):
            paragraph = Paragraph(child, document)
            text = paragraph.text
            style = (paragraph.style.name if paragraph.style is not None else "") or ""
            if style.lower().startswith("heading") or style == "Title":
                heading = " ".join(text.split())
            if style.replace(" ", "").lower() == "tablecaption":
                caption = " ".join(text.split())
            out.extend(scan_text_chunks([text], rules, where()))
        elif child.tag == qn("w:tbl"):
            number += 1
            rows = table_cells(Table(child, document))
            label = _describe_table(number, caption, heading)
            for row in rows:
                out.extend(scan_text_chunks(row, rules, label))
            if rows:
                out.extend(_small_cells(label, rows[0], rows[1:], rules, declared))
            caption, declared = "", frozenset()
    for section in document.sections:
        for part, name in ((section.header, "the page header"),
                           (section.footer, "the page footer")):
            if part.is_linked_to_previous:
                continue
            out.extend(scan_text_chunks([p.text for p in part.paragraphs], rules, name))
    for shape in document.element.body.iter(qn("wp:docPr")):
        texts = [shape.get("descr") or "", shape.get("title") or ""]
        out.extend(scan_text_chunks(texts, rules, "an image description"))
    props = document.core_properties
    out.extend(scan_text_chunks([props.title or "", props.subject or "", props.keywords or ""],
                                rules, "the document properties"))
    return out


# --------------------------------------------------------------------------- public


def scan_file(path: str | Path, rules: ScanRules) -> list[Finding]:
    """Every small cell and piece of personal data in a rendered ``.html`` or ``.docx`` file.

    Other file types are not read and return no findings; a ``.pdf`` is printed from the
    HTML delivered beside it, which is scanned.

    Examples
    --------
    >>> import tempfile
    >>> page = Path(tempfile.mkdtemp()) / "r.html"
    >>> _ = page.write_text("<table><caption>Sites</caption><thead><tr><th>Site</th>"
    ...                     "<th>n</th></tr></thead><tbody><tr><td>A</td><td>4</td></tr>"
    ...                     "<tr><td>B</td><td>&lt;11</td></tr></tbody></table>")
    >>> [(f.kind, f.where) for f in scan_file(page, ScanRules(threshold=11))]
    [('small cell', "table 1 ('Sites'), column 'n', row 1")]
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        return _scan_html(path, rules)
    if suffix == ".docx":
        return _scan_docx(path, rules)
    return []


def check_outputs(paths: Sequence[str | Path], rules: ScanRules, *, label: str = "") -> None:
    """Scan the outputs of one document; on any finding delete them all and raise.

    Raises
    ------
    RenderError
        Naming the file, where each problem is (table caption and column, or section) and
        what it is: the value of a small cell, or the kind of personal data (masked).
    """
    problems: list[str] = []
    for path in paths:
        findings: Sequence[Finding | str]
        try:
            findings = scan_file(path, rules)
        except Exception as exc:  # noqa: BLE001 - the scan fails closed, whatever the cause
            findings = [f"could not be scanned ({type(exc).__name__}: {exc})"]
        for finding in findings:
            problems.append(f"{Path(path).name}: {finding}")
    if not problems:
        return
    for path in paths:
        Path(path).unlink(missing_ok=True)
    shown = problems[:8]
    more = f"\n  ... and {len(problems) - 8} more" if len(problems) > 8 else ""
    what = f"{label}: " if label else ""
    raise RenderError(
        f"{what}not safe to publish, so {', '.join(Path(p).name for p in paths)} "
        f"{'was' if len(paths) == 1 else 'were'} deleted:\n  " + "\n  ".join(shown) + more)
