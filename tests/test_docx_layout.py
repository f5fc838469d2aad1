"""Word reports as a reader prints them: no table cell broken inside a word or number.

The slow test renders the demo, converts every ``.docx`` to PDF with LibreOffice
(``soffice --headless --convert-to pdf``, Debian's ``libreoffice-writer-nogui``) and reads
the PDF page by page with ``pdftotext -layout`` (poppler-utils). Every table cell read from
the ``.docx`` with python-docx must appear in the PDF with none of its words or numbers
split across lines, and a cell holding a value (a number, p-value, interval, id or short
label) must appear whole on one line. Without LibreOffice or pdftotext the test skips,
except under CI (``CI`` set), where it fails: CI installs both (``.ci/run``).

The fast tests check :func:`evalkit.reporting._docx.tidy_docx` on small pandoc-made files
and ``reports.docx_reference``.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import docx
import pytest
import yaml
from docx.shared import Pt
from typer.testing import CliRunner

from evalkit._assets import asset_path
from evalkit.cli import app
from evalkit.config import load_config
from evalkit.errors import ConfigError
from evalkit.reporting import render_reports
from evalkit.reporting._docx import _is_value, tidy_docx
from evalkit.reporting._reports import ReportJob

runner = CliRunner()

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


# --------------------------------------------------------------------------- helpers


def _pandoc_docx(markdown: str, path: Path, *extra: str) -> Path:
    import pypandoc

    pypandoc.convert_text(markdown, "docx", format="markdown", outputfile=str(path),
                          extra_args=list(extra))
    return path


def _pandoc_reference(path: Path) -> Path:
    """Pandoc's own reference document (the styles pandoc writes with)."""
    import pypandoc

    data = subprocess.run([pypandoc.get_pandoc_path(), "--print-default-data-file",
                           "reference.docx"], capture_output=True, check=True).stdout
    path.write_bytes(data)
    return path


NARROW = """
## Results

Table: Respondents by site.

| Site | Design | n | Change [95% CI] | p | Note |
|-|-|-|-|-|---------------------------------------------------------|
| S01 | matched pairs | 159 | 0.27 [0.23, 0.31] | <0.001 | Coaching at every wave of the year |
| S02 | two samples | 1212 | -0.14 [-0.21, -0.06] | 0.807 | Peer learning |
"""


def _table_xml(path: Path, index: int = 0):
    return docx.Document(str(path)).tables[index]._tbl


# --------------------------------------------------------------------------- tidy_docx


def test_tidy_docx_autofits_and_keeps_values_on_one_line(tmp_path):
    path = _pandoc_docx(NARROW, tmp_path / "narrow.docx")
    before = _table_xml(path)
    assert before.xpath("./w:tblPr/w:tblLayout/@w:type") == ["fixed"]  # pandoc's layout

    layout = tidy_docx(path)
    assert (layout.tables, layout.landscape) == (1, 0)
    table = _table_xml(path)
    assert table.xpath("./w:tblPr/w:tblLayout/@w:type") == ["autofit"]
    assert table.xpath("./w:tblPr/w:tblW/@w:type") == ["auto"]
    assert table.xpath("./w:tblPr/w:tblStyle/@w:val") == ["Table"]
    widths = [int(w) for w in table.xpath("./w:tblGrid/w:gridCol/@w:w")]
    assert len(widths) == 6 and sum(widths) <= layout.text_width
    no_wrap = {}
    for row in docx.Document(str(path)).tables[0].rows[1:]:
        for cell in row.cells:
            no_wrap[cell.text] = cell._tc.tcPr.find(f"{W}noWrap") is not None
            # every cell's width is its column's
            assert cell._tc.tcPr.find(f"{W}tcW").get(f"{W}type") == "dxa"
    assert {text for text, kept in no_wrap.items() if not kept} == {
        "Coaching at every wave of the year"}
    assert no_wrap["0.27 [0.23, 0.31]"] and no_wrap["<0.001"] and no_wrap["matched pairs"]
    # rows stay whole across pages, the header repeats
    rows = table.xpath("./w:tr")
    assert all(r.xpath("./w:trPr/w:cantSplit") for r in rows)
    assert rows[0].xpath("./w:trPr/w:tblHeader")
    # pandoc sets no size for table text: the Table style gets 10 pt
    styles = docx.Document(str(path)).styles
    assert styles["Table"].element.find(f"{W}rPr/{W}sz").get(f"{W}val") == "20"


def test_tidy_docx_keeps_word_styles_and_text_and_is_idempotent(tmp_path):
    path = _pandoc_docx(NARROW, tmp_path / "styled.docx")
    texts = [p.text for p in docx.Document(str(path)).paragraphs]
    cells = [c.text for r in docx.Document(str(path)).tables[0].rows for c in r.cells]
    tidy_docx(path)
    document = docx.Document(str(path))
    assert [p.text for p in document.paragraphs] == texts
    assert [c.text for r in document.tables[0].rows for c in r.cells] == cells
    styles = {p.text: p.style.name for p in document.paragraphs if p.text}
    assert styles["Results"] == "Heading 2"
    assert styles["Respondents by site."] == "Table Caption"

    def layout() -> tuple[list[str], int]:
        table = _table_xml(path)
        return table.xpath("./w:tblGrid/w:gridCol/@w:w"), len(table.xpath(".//w:noWrap"))

    first = layout()
    tidy_docx(path)
    assert layout() == first


def test_a_table_too_wide_for_portrait_gets_a_landscape_section(tmp_path):
    header = "| " + " | ".join(f"Mean at wave {i}" for i in range(1, 13)) + " |"
    rule = "|" + "-|" * 12
    row = "| " + " | ".join(f"{i}.25 [{i}.10, {i}.40]" for i in range(1, 13)) + " |"
    markdown = ("Before.\n\nTable: Every wave.\n\n" + "\n".join([header, rule, row])
                + "\n\nAfter.\n")
    path = _pandoc_docx(markdown, tmp_path / "wide.docx")
    layout = tidy_docx(path)
    assert layout.landscape == 1
    document = docx.Document(str(path))
    orientations = [s.orientation for s in document.sections]
    assert [int(o) for o in orientations] == [0, 1, 0]  # portrait, landscape, portrait
    landscape = document.sections[1]
    assert landscape.page_width > landscape.page_height
    # the caption travels with its table into the landscape section
    body = document.element.body
    caption = next(p for p in body.iterchildren(f"{W}p") if "Every wave." in
                   "".join(t.text or "" for t in p.iter(f"{W}t")))
    assert caption.getnext().tag == f"{W}tbl"
    assert caption.getprevious().find(f"{W}pPr/{W}sectPr") is not None


def test_values_and_labels_that_stay_on_one_line():
    for text in ("S01", "<0.001", "0.27 [0.23, 0.31]", "-0.14 [-0.21, -0.06]",
                 "d_z = 1.10 [0.90, 1.30]", "matched pairs", "1,212", "45%", "—"):
        assert _is_value(text), text
    for text in ("Technical assistance and coaching", "Partnership score (all domains)"):
        assert not _is_value(text), text
    assert not _is_value("Mean Baseline", header=True)  # a header label may wrap


def test_a_file_that_is_not_word_is_a_render_error(tmp_path):
    from evalkit.errors import RenderError

    path = tmp_path / "broken.docx"
    path.write_text("not a zip")
    with pytest.raises(RenderError, match=r"broken\.docx: cannot read the Word file"):
        tidy_docx(path)


# --------------------------------------------------------------------------- docx_reference


def _project_config(tmp_path: Path, **reports: str) -> Path:
    data = yaml.safe_load((asset_path("templates") / "evalkit.yml").read_text())
    data["reports"].update(reports)
    path = tmp_path / "evalkit.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_docx_reference_is_checked_when_the_configuration_loads(tmp_path):
    path = _project_config(tmp_path, docx_reference="styles/center.odt")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (f"{path}: reports.docx_reference: expected a Word file "
                                 "ending in .docx (got 'styles/center.odt')")
    path = _project_config(tmp_path, docx_reference="styles/center.docx")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"{path}: reports.docx_reference: Word reference document 'styles/center.docx' not "
        f"found (looked for {tmp_path.resolve() / 'styles' / 'center.docx'})")
    assert "\n" not in str(caught.value)
    (tmp_path / "styles").mkdir()
    _pandoc_reference(tmp_path / "styles" / "center.docx")
    cfg = load_config(path)
    assert cfg.docx_reference_path == tmp_path.resolve() / "styles" / "center.docx"
    assert load_config(_project_config(tmp_path)).docx_reference_path is None


def _styles_xml(path: Path) -> str:
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return archive.read("word/styles.xml").decode("utf-8")


@pytest.mark.slow
def test_docx_reference_styles_reach_the_output(tmp_path):
    reference = _pandoc_reference(tmp_path / "center.docx")
    document = docx.Document(str(reference))
    document.styles["Normal"].font.name = "Liberation Serif"
    document.styles["Normal"].font.size = Pt(13)
    document.save(str(reference))
    (tmp_path / "tiny.qmd").write_text("---\ntitle: Tiny\n---\n\n## Results\n\n"
                                       "| Site | n |\n|-|-|\n| S01 | 159 |\n\n"
                                       ": Sites. {#tbl-sites}\n")
    job = ReportJob(tmp_path / "tiny.qmd", "tiny", folder="tiny")
    summary = render_reports([job], output_dir=tmp_path / "_output", formats=("docx",),
                             engine="fallback", docx_reference=reference)
    out = summary.outputs[0]
    styles = docx.Document(str(out)).styles
    assert styles["Normal"].font.name == "Liberation Serif"
    assert styles["Normal"].font.size == Pt(13)
    assert 'w:ascii="Liberation Serif"' in _styles_xml(out)
    # the center's template styles the tables: no 10 pt imposed on its Table style
    assert styles["Table"].element.find(f"{W}rPr/{W}sz") is None
    assert _table_xml(out).xpath("./w:tblPr/w:tblLayout/@w:type") == ["autofit"]


# --------------------------------------------------------------------------- the demo in PDF


def _tools() -> tuple[str, str]:
    soffice, pdftotext = shutil.which("soffice"), shutil.which("pdftotext")
    if soffice and pdftotext:
        return soffice, pdftotext
    missing = " and ".join(name for name, found in (("soffice", soffice),
                                                     ("pdftotext", pdftotext)) if not found)
    message = (f"{missing} not on PATH: apt-get install libreoffice-writer-nogui "
               "poppler-utils (CI installs them, see .ci/run)")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _norm(text: str) -> str:
    """Text as compared: compatibility forms, plain minus and spaces, no single space
    between two em dashes (pdftotext drops it; cells far apart keep theirs), whitespace
    collapsed."""
    text = unicodedata.normalize("NFKC", text).replace("\u2212", "-").replace("\xa0", " ")
    text = re.sub(r"\u2014(?: ?\u2014)+", lambda m: m.group(0).replace(" ", ""), text)
    return re.sub(r"\s+", " ", text).strip()


def _words(text: str) -> list[str]:
    """The pieces a line may not break inside: words split at spaces and after a hyphen
    between letters (where Word and LibreOffice may break a line: "Community-" / "based")."""
    return [w for w in re.split(r"\s+|(?<=[A-Za-z]-)(?=[A-Za-z])", text) if w]


def _bounded(text: str) -> re.Pattern[str]:
    """``text`` whole: after a space, a line start or a hyphen that may end a line, and
    before a space, the line end or (for a piece ending in a hyphen) the next piece."""
    body = r" +".join(re.escape(w) for w in text.split(" "))
    after = r"(?=\S)" if text.endswith("-") else r"(?!\S)"
    return re.compile(r"(?:(?<!\S)|(?<=[A-Za-z]-))" + body + r"(?:" + after + r"|(?!\S))")


def _count(pattern: re.Pattern[str], lines: list[str]) -> int:
    return sum(len(pattern.findall(line)) for line in lines)


def _docx_text(path: Path) -> tuple[list[tuple[str, bool]], list[str]]:
    """((cell text, in a header row) of every table cell, body paragraphs) of a .docx."""
    document = docx.Document(str(path))
    cells: list[tuple[str, bool]] = []
    for table in document.tables:
        for row in table.rows:
            header = row._tr.trPr is not None and row._tr.trPr.find(f"{W}tblHeader") is not None
            seen: set[int] = set()
            for cell in row.cells:
                if id(cell._tc) in seen:  # a merged cell is listed once per column
                    continue
                seen.add(id(cell._tc))
                text = _norm(cell.text)
                if text:
                    cells.append((text, header))
    prose = [_norm(p.text) for p in document.paragraphs if _norm(p.text)]
    return cells, prose


def _pdf_pages(pdf: Path, pdftotext: str) -> list[list[str]]:
    text = subprocess.run([pdftotext, "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    return [[_norm(line) for line in page.splitlines()] for page in text.split("\f")]


def broken_cells(path: Path, pdf: Path, pdftotext: str) -> tuple[int, list[str]]:
    """How many table cells a .docx has, and those its PDF breaks.

    A cell is broken when one of its words or numbers is not found whole on a line of some
    page as often as the document holds it (in cells and paragraphs), or when it holds a
    value (:func:`evalkit.reporting._docx._is_value`) that is not found whole on one line as
    often as the document holds it.
    """
    cells, prose = _docx_text(path)
    pages = _pdf_pages(pdf, pdftotext)
    lines = [line for page in pages for line in page]  # counted page by page, line by line
    split_words: set[str] = set()
    for word, held in collections.Counter(w for text, _ in cells for w in _words(text)).items():
        pattern = _bounded(word)
        if _count(pattern, lines) < held + _count(pattern, prose):
            split_words.add(word)
    not_whole: set[str] = set()
    values = collections.Counter(text for text, header in cells
                                 if _is_value(text, header=header))
    for text, held in values.items():
        pattern = _bounded(text)
        if _count(pattern, lines) < held + _count(pattern, prose):
            not_whole.add(text)
    broken = [text for text, _ in cells
              if text in not_whole or any(w in split_words for w in _words(text))]
    return len(cells), broken


def to_pdf(files: list[Path], out: Path, soffice: str) -> list[Path]:
    """Convert Word files to PDF with LibreOffice (its own profile, so runs never clash)."""
    out.mkdir(parents=True, exist_ok=True)
    profile = (out / ".lo-profile").resolve().as_uri()
    done = subprocess.run([soffice, f"-env:UserInstallation={profile}", "--headless",
                           "--convert-to", "pdf", "--outdir", str(out), *map(str, files)],
                          capture_output=True, text=True, timeout=600)
    pdfs = [out / f"{f.stem}.pdf" for f in files]
    missing = [p.name for p in pdfs if not p.exists()]
    assert not missing, (f"LibreOffice wrote no {missing} (exit {done.returncode}):\n"
                         f"{done.stdout}\n{done.stderr}")
    return pdfs


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The demo project, rendered once (HTML and Word)."""
    _tools()
    out = tmp_path_factory.mktemp("docx-layout") / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_no_table_cell_of_the_demo_breaks_inside_a_word_or_number_in_pdf(demo, tmp_path):
    soffice, pdftotext = _tools()
    files = sorted((demo / "_output").rglob("*.docx"))
    assert len(files) == 8, files
    pdfs = to_pdf(files, tmp_path / "pdf", soffice)
    problems, total = [], 0
    for path, pdf in zip(files, pdfs, strict=True):
        count, broken = broken_cells(path, pdf, pdftotext)
        total += count
        if broken:
            problems.append(f"{path.name}: {len(broken)} of {count} table cells broken in the "
                            f"PDF, e.g. {sorted(set(broken))[:8]}")
    assert total > 1000, f"only {total} table cells in the demo's Word files"
    assert not problems, "\n".join(problems)
