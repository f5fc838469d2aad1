"""Word files that can be edited and sent: tables laid out from their contents.

Pandoc (both engines end in it) writes every table with fixed column widths taken from the
Markdown source, so Word and LibreOffice wrap a site id as "S 0 1" and a p-value as
"< 0. 0 0 1" in a column that is too narrow. :func:`tidy_docx` rewrites each table of a
rendered ``.docx`` in place:

- the layout is ``autofit`` and the table as wide as its contents need (``w:tblW`` auto),
  with column widths (``w:gridCol`` and every cell's ``w:tcW``, which LibreOffice reads)
  estimated from the text: a column is at least as wide as its widest unbreakable piece and
  at most as wide as its longest line, and the page width is shared out between those two
  bounds as browsers do for HTML tables;
- a cell holding a value (a number, percentage, p-value, confidence interval, id, or any
  short text) is ``w:noWrap``, and its column is wide enough for it on one line, so it never
  breaks inside a number or word; longer text wraps at its spaces only;
- a table whose unbreakable pieces do not fit the portrait text width goes, with its caption,
  into a landscape section of its own;
- rows do not split across pages (``w:cantSplit``) and the header row repeats;
- every table has a named table style (``Table``, pandoc's), and headings and captions keep
  their Word styles (``Heading N``, ``Table Caption``, ``Image Caption``), so a reference
  document (``reports.docx_reference``) restyles all of them at once.

Examples
--------
>>> _text_width("0.27 [0.23, 0.31]", 12) > _text_width("0.27", 12)
True
>>> _is_value("<0.001"), _is_value("0.27 [0.23, 0.31]"), _is_value("S01")
(True, True, True)
>>> _is_value("Technical assistance and coaching vs Peer learning")
False
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import RenderError

__all__ = ["DocxLayout", "tidy_docx"]

#: Table style given to a table pandoc left without one (pandoc's reference document
#: defines it; a center's reference document restyles it).
TABLE_STYLE = "Table"
#: Page used when the document does not say (Word's US default): 8.5 x 11 in, 1 in margins.
_LETTER = {"w": 12240, "h": 15840, "margin": 1440}
#: Cells up to this many characters are never wrapped.
_SHORT = 16
#: Safety factor on estimated text widths (kerning, rounding).
_SLACK = 1.03
#: Twips added to every column beyond its text and cell margins.
_SPARE = 40
_VALUE = re.compile(
    r"^[\s\[\](),;:=<>≤≥±+\-−–—~*%$€£/]*"  # signs, brackets, comparison
    r"(?:[A-Za-z_]{0,4}[\s=]*)?"  # an optional short label such as "d_z =" or "g ="
    r"[\d\s.,:;%\[\]()<>=≤≥±+\-−–—/$€£]*$"
)
# Advance widths in units of 1/2048 em of DejaVu Sans, LibreOffice's fallback for fonts it
# lacks and wider than Aptos, Calibri or Arial, so columns sized with it fit in Word too.
_ADVANCE = dict(zip(
    " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
    "abcdefghijklmnopqrstuvwxyz{|}~",
    (651, 821, 942, 1716, 1303, 1946, 1597, 563, 799, 799, 1024, 1716, 651, 739, 651, 690,
     *[1303] * 10, 690, 690, 1716, 1716, 1716, 1087, 2048,
     1401, 1405, 1430, 1577, 1294, 1178, 1587, 1540, 604, 604, 1343, 1141, 1767, 1532,
     1612, 1235, 1612, 1423, 1300, 1251, 1499, 1401, 2025, 1403, 1251, 1403,
     799, 690, 799, 1716, 1024, 1024,
     1255, 1300, 1126, 1300, 1260, 721, 1300, 1298, 569, 569, 1186, 569, 1995, 1298, 1253,
     1300, 1300, 842, 1067, 803, 1298, 1212, 1675, 1212, 1212, 1075, 1303, 690, 1303, 1716),
    strict=True))
_ADVANCE.update({"\xa0": 651, "\u2009": 400, "\u202f": 400, "\u2013": 1024,
                 "\u2014": 2048, "\u2018": 651, "\u2019": 651, "\u201c": 1059, "\u201d": 1059,
                 "\u2212": 1716, "\u2264": 1716, "\u2265": 1716, "\u00b1": 1716,
                 "\u00d7": 1716, "\u2026": 2048})
_OTHER_ADVANCE = 1350


@dataclass(frozen=True)
class DocxLayout:
    """What :func:`tidy_docx` changed.

    Attributes
    ----------
    tables
        Tables laid out.
    landscape
        Tables put into a landscape section because they do not fit a portrait page.
    no_wrap_cells
        Cells marked ``w:noWrap``.
    text_width
        Portrait text width, in twentieths of a point (twips).
    """

    tables: int
    landscape: int
    no_wrap_cells: int
    text_width: int


def _w(tag: str) -> str:
    from docx.oxml.ns import qn

    return qn(f"w:{tag}")


def _is_value(text: str, *, header: bool = False) -> bool:
    """Whether a cell's text is a value that must stay on one line: a number, p-value,
    interval or id, or (outside the header row, whose labels may wrap) any short text."""
    text = text.strip()
    if not text:
        return False
    if len(text) <= _SHORT and (not header or " " not in text):
        return True
    return bool(re.search(r"\d", text)) and bool(_VALUE.match(text))


def _text_width(text: str, size_pt: float) -> int:
    """Estimated width of a line of text, in twips (1/20 pt).

    >>> _text_width("Partnership", 10)  # LibreOffice sets it 57.4 pt wide (1148 twips)
    1184
    """
    units = sum(_ADVANCE.get(ch, _OTHER_ADVANCE) for ch in text)
    return int(units / 2048 * size_pt * 20 * _SLACK) + 1


# --------------------------------------------------------------------------- styles


class _Styles:
    """Font sizes of paragraph styles, following ``basedOn`` and the document defaults."""

    def __init__(self, styles_element: Any) -> None:
        self.by_id: dict[str, Any] = {}
        self.default_size = 11.0
        self.default_paragraph: str | None = None
        if styles_element is None:
            return
        for style in styles_element.iterchildren(_w("style")):
            sid = style.get(_w("styleId"))
            if sid:
                self.by_id[sid] = style
                if (style.get(_w("type")) == "paragraph"
                        and style.get(_w("default")) in ("1", "true")):
                    self.default_paragraph = sid
        sz = styles_element.find(f"{_w('docDefaults')}/{_w('rPrDefault')}/{_w('rPr')}/"
                                 f"{_w('sz')}")
        if sz is not None and (sz.get(_w("val")) or "").isdigit():
            self.default_size = int(sz.get(_w("val"))) / 2

    def own_size(self, style_id: str | None) -> float | None:
        """The font size a style or one it is based on sets, if any."""
        seen: set[str] = set()
        sid = style_id
        while sid and sid not in seen and sid in self.by_id:
            seen.add(sid)
            style = self.by_id[sid]
            sz = style.find(f"{_w('rPr')}/{_w('sz')}")
            if sz is not None and (sz.get(_w("val")) or "").isdigit():
                return int(sz.get(_w("val"))) / 2
            based = style.find(_w("basedOn"))
            sid = based.get(_w("val")) if based is not None else None
        return None

    def size(self, style_id: str | None, table_style: str | None = None) -> float:
        """Font size of a paragraph (in a table of ``table_style``): its paragraph style's,
        else the table style's, else the document default (Word's order)."""
        for found in (self.own_size(style_id or self.default_paragraph),
                      self.own_size(table_style)):
            if found is not None:
                return found
        return self.default_size

    def table_text_size(self, table_style: str, size_pt: float) -> None:
        """Give a table style a font size when neither it nor the document's paragraph
        styles set one (pandoc's reference document: tables would be set at 12 pt)."""
        from docx.oxml import OxmlElement

        style = self.by_id.get(table_style)
        if style is None or self.own_size(table_style) is not None:
            return
        rpr = style.find(_w("rPr"))
        if rpr is None:
            rpr = OxmlElement("w:rPr")
            anchor = style.find(_w("tblPr"))
            if anchor is None:
                style.append(rpr)
            else:
                anchor.addprevious(rpr)
        for tag in ("sz", "szCs"):
            el = OxmlElement(f"w:{tag}")
            el.set(_w("val"), str(int(size_pt * 2)))
            rpr.append(el)

    def cell_margins(self, table_style: str | None) -> int:
        """Left plus right cell margin of a table style, in twips (Word's default 108+108)."""
        style = self.by_id.get(table_style or "")
        total = 0
        for side in ("left", "right"):
            el = None if style is None else style.find(
                f"{_w('tblPr')}/{_w('tblCellMar')}/{_w(side)}")
            value = el.get(_w("w")) if el is not None else None
            total += int(value) if value and value.isdigit() else 108
        return total


# --------------------------------------------------------------------------- pages


def _child(parent: Any, tag: str, *, before: tuple[str, ...] = ()) -> Any:
    """The first child ``tag`` of ``parent``, created (before any of ``before``) if missing."""
    from docx.oxml import OxmlElement

    found = parent.find(_w(tag))
    if found is not None:
        return found
    el = OxmlElement(f"w:{tag}")
    for name in before:
        anchor = parent.find(_w(name))
        if anchor is not None:
            anchor.addprevious(el)
            return el
    parent.append(el)
    return el


def _int(el: Any, attr: str, default: int) -> int:
    value = None if el is None else el.get(_w(attr))
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _page(sect: Any) -> tuple[int, int, int, int]:
    """(page width, page height, left margin, right margin) of a ``w:sectPr``; a page the
    document does not give is written as US Letter with 1-inch margins."""
    size = _child(sect, "pgSz", before=("pgMar", "cols", "docGrid", "titlePg"))
    if size.get(_w("w")) is None or size.get(_w("h")) is None:
        size.set(_w("w"), str(_LETTER["w"]))
        size.set(_w("h"), str(_LETTER["h"]))
    margins = _child(sect, "pgMar", before=("cols", "docGrid", "titlePg"))
    for side in ("top", "right", "bottom", "left"):
        if margins.get(_w(side)) is None:
            margins.set(_w(side), str(_LETTER["margin"]))
    for side in ("header", "footer"):
        if margins.get(_w(side)) is None:
            margins.set(_w(side), "720")
    if margins.get(_w("gutter")) is None:
        margins.set(_w("gutter"), "0")
    return (_int(size, "w", _LETTER["w"]), _int(size, "h", _LETTER["h"]),
            _int(margins, "left", _LETTER["margin"]), _int(margins, "right", _LETTER["margin"]))


def _landscape(sect: Any) -> Any:
    """A copy of a portrait ``w:sectPr`` turned to landscape (same margins, turned)."""
    turned = copy.deepcopy(sect)
    size = turned.find(_w("pgSz"))
    width, height = size.get(_w("w")), size.get(_w("h"))
    size.set(_w("w"), height)
    size.set(_w("h"), width)
    size.set(_w("orient"), "landscape")
    margins = turned.find(_w("pgMar"))
    top, right, bottom, left = (margins.get(_w(s)) for s in ("top", "right", "bottom", "left"))
    margins.set(_w("top"), left)
    margins.set(_w("right"), top)
    margins.set(_w("bottom"), right)
    margins.set(_w("left"), bottom)
    return turned


def _section_break(sect: Any) -> Any:
    """An empty paragraph that ends a section laid out as ``sect``."""
    from docx.oxml import OxmlElement

    para = OxmlElement("w:p")
    ppr = OxmlElement("w:pPr")
    para.append(ppr)
    ppr.append(copy.deepcopy(sect))
    return para


# --------------------------------------------------------------------------- tables


def _cells(row: Any) -> Iterator[Any]:
    for child in row.iterchildren():
        if child.tag == _w("tc"):
            yield child
        elif child.tag == _w("sdt"):  # a content control around cells
            content = child.find(_w("sdtContent"))
            if content is not None:
                yield from content.iterchildren(_w("tc"))


def _cell_text(cell: Any) -> list[tuple[str, str | None]]:
    """(text, paragraph style) of each paragraph of a cell."""
    out = []
    for para in cell.iter(_w("p")):
        style = para.find(f"{_w('pPr')}/{_w('pStyle')}")
        text = "".join(t.text or "" for t in para.iter(_w("t")))
        out.append((text, style.get(_w("val")) if style is not None else None))
    return out


def _span(cell: Any) -> int:
    span = cell.find(f"{_w('tcPr')}/{_w('gridSpan')}")
    return max(1, _int(span, "val", 1))


def _tidy_table(table: Any, styles: _Styles, text_width: int, landscape_width: int,
                ) -> tuple[bool, int]:
    """Lay out one table; returns (needs landscape, cells marked no-wrap)."""
    from docx.oxml import OxmlElement

    tbl_pr = _child(table, "tblPr")
    style = _child(tbl_pr, "tblStyle")
    if not style.get(_w("val")):
        style.set(_w("val"), TABLE_STYLE)
    padding = styles.cell_margins(style.get(_w("val")))
    rows = list(table.iterchildren(_w("tr")))
    grid = table.find(_w("tblGrid"))
    columns = len(list(grid.iterchildren(_w("gridCol")))) if grid is not None else 0
    columns = max([columns, *(sum(_span(c) for c in _cells(r)) for r in rows)])
    if columns == 0:
        return False, 0
    padding += _SPARE
    low = [padding] * columns  # widest unbreakable piece
    high = [padding] * columns  # longest line
    no_wrap = 0
    placed: list[tuple[Any, int, int]] = []
    for row in rows:
        tr_pr = _child(row, "trPr", before=("tc", "sdt"))
        _child(tr_pr, "cantSplit")
        header = tr_pr.find(_w("tblHeader")) is not None
        col = 0
        for cell in _cells(row):
            span = _span(cell)
            paragraphs = _cell_text(cell)
            keep = bool(paragraphs) and all(_is_value(t, header=header) or not t.strip()
                                            for t, _ in paragraphs)
            need_low = need_high = 0
            for text, para_style in paragraphs:
                size = styles.size(para_style, style.get(_w("val")))
                whole = _text_width(text.strip(), size)
                longest = max((_text_width(word, size) for word in text.split()), default=0)
                need_high = max(need_high, whole)
                need_low = max(need_low, whole if keep else longest)
            tc_pr = _child(cell, "tcPr")
            if keep:
                _child(tc_pr, "noWrap", before=("tcMar", "textDirection", "tcFitText",
                                                "vAlign", "hideMark"))
                no_wrap += 1
            if span == 1 and col < columns:
                low[col] = max(low[col], need_low + padding)
                high[col] = max(high[col], need_high + padding)
            placed.append((cell, col, span))
            col += span
    # Spanning cells only widen their columns when those are too narrow together.
    for cell, col, span in placed:
        if span > 1:
            paragraphs = _cell_text(cell)
            need = max((_text_width(w, styles.size(s, style.get(_w("val"))))
                        for t, s in paragraphs
                        for w in t.split()), default=0) + padding
            have = sum(low[col:col + span])
            if need > have:
                for i in range(col, min(col + span, columns)):
                    low[i] += (need - have) // span + 1
                    high[i] = max(high[i], low[i])

    wide = sum(low) > text_width
    available = landscape_width if wide else text_width
    widths = _share(low, high, available)

    tbl_w = _child(tbl_pr, "tblW", before=("jc", "tblCellSpacing", "tblInd", "tblBorders",
                                           "shd", "tblLayout", "tblCellMar", "tblLook",
                                           "tblCaption", "tblDescription"))
    tbl_w.set(_w("type"), "auto")
    tbl_w.set(_w("w"), "0")
    layout = _child(tbl_pr, "tblLayout", before=("tblCellMar", "tblLook", "tblCaption",
                                                 "tblDescription"))
    layout.set(_w("type"), "autofit")
    if grid is None:
        grid = OxmlElement("w:tblGrid")
        tbl_pr.addnext(grid)
    for old in list(grid):
        grid.remove(old)
    for width in widths:
        gc = OxmlElement("w:gridCol")
        gc.set(_w("w"), str(width))
        grid.append(gc)
    for cell, col, span in placed:
        tc_pr = _child(cell, "tcPr")
        tc_w = _child(tc_pr, "tcW", before=("gridSpan", "hMerge", "vMerge", "tcBorders",
                                            "shd", "noWrap", "tcMar", "textDirection",
                                            "tcFitText", "vAlign", "hideMark"))
        tc_w.set(_w("type"), "dxa")
        tc_w.set(_w("w"), str(sum(widths[col:col + span])))
    return wide, no_wrap


def _share(low: list[int], high: list[int], available: int) -> list[int]:
    """Column widths between ``low`` and ``high`` filling at most ``available`` (as HTML's
    automatic table layout): every column its longest line when all fit, else its widest
    unbreakable piece plus a share of the rest in proportion to how much more it wants.

    >>> _share([100, 100], [300, 500], 2000)
    [300, 500]
    >>> _share([100, 100], [300, 500], 600)
    [233, 366]
    >>> _share([400, 400], [500, 500], 600)
    [300, 300]
    """
    if sum(high) <= available:
        return list(high)
    if sum(low) >= available:  # does not fit even unbroken pieces: shrink in proportion
        return [max(1, low_i * available // sum(low)) for low_i in low]
    spare = available - sum(low)
    extra = sum(h - lo for lo, h in zip(low, high, strict=True))
    return [lo + (h - lo) * spare // extra for lo, h in zip(low, high, strict=True)]


def _caption_before(table: Any) -> Any:
    """The table's caption paragraph right before it (pandoc's place for it), if any."""
    prev = table.getprevious()
    while prev is not None and prev.tag in (_w("bookmarkStart"), _w("bookmarkEnd")):
        prev = prev.getprevious()
    if prev is None or prev.tag != _w("p"):
        return None
    style = prev.find(f"{_w('pPr')}/{_w('pStyle')}")
    return prev if style is not None and style.get(_w("val")) == "TableCaption" else None


def tidy_docx(path: str | Path, *, table_text_pt: float | None = 10) -> DocxLayout:
    """Lay out every table of a Word file from its contents, in place.

    See the module docstring for what changes. Text, styles of paragraphs, images and their
    alt text are left as they are.

    Parameters
    ----------
    path
        A ``.docx`` file, e.g. as written by pandoc; rewritten in place (atomically).
    table_text_pt
        Font size given to the ``Table`` style when neither it nor the cells' paragraph
        styles set one (pandoc's own reference document sets none, so its tables would be
        12 pt); ``None`` leaves styles alone.

    Returns
    -------
    DocxLayout
        How many tables were laid out, turned to landscape, and cells kept on one line.

    Raises
    ------
    RenderError
        If the file cannot be read as a Word document.

    Examples
    --------
    >>> import docx, tempfile
    >>> doc = docx.Document()
    >>> table = doc.add_table(rows=2, cols=2)
    >>> table.cell(0, 0).text, table.cell(1, 0).text = "Site", "S01"
    >>> file = Path(tempfile.mkdtemp()) / "t.docx"
    >>> doc.save(file)
    >>> tidy_docx(file).tables
    1
    """
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    path = Path(path)
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise RenderError(f"{path}: cannot read the Word file to lay out its tables "
                          f"({exc})") from None
    body = document.element.body
    styles = _Styles(document.styles.element)
    final = body.find(_w("sectPr"))
    if final is None:
        final = _child(body, "sectPr")
    width, height, left, right = _page(final)
    portrait = copy.deepcopy(final)
    text_width = width - left - right
    turned = _landscape(final)
    landscape_width = height - _int(turned.find(_w("pgMar")), "left", left) - _int(
        turned.find(_w("pgMar")), "right", right)
    if width > height:  # the document is landscape already: no narrower turn
        landscape_width = text_width

    if table_text_pt is not None:
        styles.table_text_size(TABLE_STYLE, table_text_pt)
    count = landscape = no_wrap = 0
    for table in list(body.iterchildren(_w("tbl"))):
        wide, kept = _tidy_table(table, styles, text_width, landscape_width)
        count += 1
        no_wrap += kept
        if wide and landscape_width > text_width:
            landscape += 1
            first = _caption_before(table)
            start = first if first is not None else table
            start.addprevious(_section_break(portrait))
            table.addnext(_section_break(turned))
    _merge_adjacent_breaks(body)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".docx", dir=path.parent)
    os.close(fd)
    try:
        document.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return DocxLayout(tables=count, landscape=landscape, no_wrap_cells=no_wrap,
                      text_width=text_width)


def _is_break(el: Any) -> bool:
    return (el is not None and el.tag == _w("p") and el.find(f"{_w('pPr')}/{_w('sectPr')}")
            is not None and not "".join(t.text or "" for t in el.iter(_w("t"))))


def _orient(el: Any) -> str | None:
    size = el.find(f"{_w('pPr')}/{_w('sectPr')}/{_w('pgSz')}")
    return size.get(_w("orient")) if size is not None else None


def _merge_adjacent_breaks(body: Any) -> None:
    """Two wide tables in a row share one landscape section, and a section break at the
    very start of the document (a wide first table) is dropped."""
    children = list(body)
    for el, nxt in zip(children, children[1:], strict=False):
        if _is_break(el) and _is_break(nxt) and _orient(el) == "landscape" and (
                _orient(nxt) != "landscape"):
            body.remove(el)
            body.remove(nxt)
    first = next((c for c in body if c.tag in (_w("p"), _w("tbl"))), None)
    if _is_break(first) and _orient(first) != "landscape":
        body.remove(first)
