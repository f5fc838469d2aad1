"""The report renderer, checked by what a reader of the rendered files sees.

The fallback engine (nbclient + pandoc) is exercised end to end; the Quarto path runs against
a stand-in ``quarto`` script that records how it was called, and against the real CLI only
when one is on PATH.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from evalkit.errors import EvalkitError, RenderError
from evalkit.reporting._fallback import _Cell, _parse
from evalkit.reporting._render import RenderedDocument, quarto_available, render_document

FIXTURES = Path(__file__).parent / "render_fixtures"
SITE = "Riverside: North & South"  # a colon and an ampersand: quoting and escaping matter


def _listing(folder: Path) -> list[tuple[str, int]]:
    return sorted(
        (p.relative_to(folder).as_posix(), p.lstat().st_mtime_ns) for p in folder.rglob("*")
    )


def _silently(call):
    """Run ``call()`` and return its result and everything written to stdout/stderr (fds too)."""
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(1), os.dup(2)
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        text = io.StringIO()
        try:
            with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
                result = call()
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        sink.seek(0)
        return result, sink.read().decode(errors="replace") + text.getvalue()


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """One fallback render (HTML + Word) of the parameterised fixture, shared by the tests."""
    source = tmp_path_factory.mktemp("source")
    shutil.copy(FIXTURES / "params_report.qmd", source)
    (source / "_quarto.yml").write_text("project:\n  type: default\nlang: en-GB\n")
    before = _listing(source)
    out = tmp_path_factory.mktemp("out")
    doc, printed = _silently(
        lambda: render_document(
            source / "params_report.qmd",
            output_dir=out / "reports",
            params={"site_name": SITE},
            formats=("html", "docx"),
            engine="fallback",
        )
    )
    html = doc.outputs[0].read_text(encoding="utf-8")
    return {"doc": doc, "html": html, "printed": printed, "before": before, "source": source}


@pytest.mark.slow
def test_fallback_applies_the_project_options(rendered):
    assert '<html xmlns="http://www.w3.org/1999/xhtml" lang="en-GB"' in rendered["html"]


@pytest.mark.slow
def test_fallback_returns_the_outputs_it_wrote(rendered):
    doc = rendered["doc"]
    assert isinstance(doc, RenderedDocument)
    assert doc.engine == "fallback"
    assert doc.source == (rendered["source"] / "params_report.qmd").resolve()
    assert [p.name for p in doc.outputs] == ["params_report.html", "params_report.docx"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in doc.outputs)


@pytest.mark.slow
def test_fallback_injects_the_parameter_after_the_parameters_cell(rendered):
    html = rendered["html"]
    # inline `{python} ...` expressions see the overridden value and the cell's other default
    assert "This report covers Riverside: North &amp; South with 3 participants." in html
    assert "Default site" not in html


@pytest.mark.slow
def test_fallback_shows_title_headings_toc_and_asis_markdown(rendered):
    html = rendered["html"]
    assert '<h1 class="title">Fixture report</h1>' in html
    assert '<p class="subtitle">Rendered by the fallback engine</p>' in html
    assert '<p class="author">Evalkit tests</p>' in html
    assert '<h2 id="participants">Participants</h2>' in html
    # printed by an `output: asis` cell, so it is markdown turned into a heading and a list
    assert ">Findings for Riverside: North &amp; South</h2>" in html
    assert "<li>P3 took part</li>" in html
    assert '<nav id="TOC"' in html and 'href="#participants"' in html
    assert '<div class="callout-note">' in html


@pytest.mark.slow
def test_fallback_keeps_dataframe_html_tables(rendered):
    html = rendered["html"]
    assert '<table border="1" class="dataframe">' in html
    assert "<td>P3</td>" in html and "<td>5.5</td>" in html


@pytest.mark.slow
def test_fallback_embeds_the_figure_with_caption_and_alt_text(rendered):
    images = [attrs for tag, attrs in _tags(rendered["html"]) if tag == "img"]
    assert len(images) == 1
    assert images[0]["src"].startswith("data:image/png;base64,iVBOR")
    assert images[0]["alt"] == "Bar chart of the score of each participant"
    assert "<figcaption>Scores by participant</figcaption>" in rendered["html"]
    assert '<figure id="fig-scores">' in rendered["html"]


@pytest.mark.slow
def test_fallback_echoes_only_cells_that_ask_for_it(rendered):
    html = rendered["html"]
    assert html.count('<code class="sourceCode python">') == 1  # the `echo: true` cell
    assert "import pandas" not in html
    assert '<pre class="cell-output cell-output-stdout"><code>mean score 4.5</code></pre>' in html


@pytest.mark.slow
def test_fallback_html_loads_nothing_from_outside(rendered):
    for tag, attrs in _tags(rendered["html"]):
        for name in ("src", "href"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("data:", "#")), (tag, name, value[:60])
    assert "<script" not in rendered["html"]


@pytest.mark.slow
def test_fallback_html_has_a_self_contained_theme_like_quartos(rendered):
    html = rendered["html"]
    style = html[html.index("<style>"):]
    assert 'system-ui, -apple-system, "Segoe UI", Roboto' in style  # no web font
    assert "max-width: 50rem" in style  # a readable line length
    assert "border-bottom: 2px solid" in style and "figcaption" in style  # rules, captions
    assert "url(" not in style and "@import" not in style


@pytest.mark.slow
def test_fallback_writes_nothing_beside_the_document_and_prints_nothing(rendered):
    assert _listing(rendered["source"]) == rendered["before"]
    assert rendered["printed"] == ""


@pytest.mark.slow
def test_fallback_word_output_has_the_value_table_and_figure(rendered):
    with zipfile.ZipFile(rendered["doc"].outputs[1]) as docx:
        body = docx.read("word/document.xml").decode("utf-8")
        media = [n for n in docx.namelist() if n.startswith("word/media/")]
    assert "Riverside: North &amp; South" in body
    assert "<w:tbl>" in body and ">P3<" in body
    assert len(media) == 1


@pytest.mark.slow
def test_failing_cell_names_file_cell_line_and_exception(tmp_path):
    shutil.copy(FIXTURES / "failing.qmd", tmp_path)
    with pytest.raises(RenderError) as info:
        render_document(tmp_path / "failing.qmd", output_dir=tmp_path / "out", engine="fallback")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'failing.qmd'}: cell 'broken'")
    assert "python cell 2, starting on line 11" in message
    assert "raised ValueError: bad input for the report (at line 14)" in message
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failing.qmd"]


@pytest.mark.slow
def test_a_cell_running_past_the_timeout_is_a_render_error(tmp_path):
    (tmp_path / "slow.qmd").write_text("```{python}\nimport time\ntime.sleep(120)\n```\n")
    started = time.monotonic()
    with pytest.raises(RenderError, match=r"slow\.qmd: .* timeout=3 s"):
        render_document(tmp_path / "slow.qmd", output_dir=tmp_path / "out", timeout=3)
    assert time.monotonic() - started < 20


def test_parser_finds_cells_options_and_skips_fenced_examples(tmp_path):
    text = (
        "---\ntitle: T\n---\n\n"
        "````markdown\n```{python}\nnot_a_cell()\n```\n````\n\n"
        '```{python}\n#| label: one\n#| fig-cap: "A: caption"\n\nx = 1\n```\n'
        "Text with `{python} x`.\n"
    )
    (tmp_path / "doc.qmd").write_text(text)
    meta, blocks = _parse(tmp_path / "doc.qmd")
    cells = [b for b in blocks if isinstance(b, _Cell)]
    assert meta == {"title": "T"}
    assert len(cells) == 1
    assert cells[0].options == {"label": "one", "fig-cap": "A: caption"}
    assert (cells[0].line, cells[0].first_code_line, cells[0].code) == (11, 15, "x = 1")
    assert "not_a_cell()" in blocks[0].text and blocks[-1].text == "Text with `{python} x`."


def test_missing_document_is_a_render_error(tmp_path):
    missing = tmp_path / "nowhere.qmd"
    with pytest.raises(RenderError, match="report document not found: .*nowhere.qmd"):
        render_document(missing, output_dir=tmp_path / "out")
    assert issubclass(RenderError, EvalkitError)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"formats": ("odt",)},
            r"formats: unsupported format 'odt'; supported are \['docx', 'html', 'pdf'\]",
        ),
        ({"formats": ()}, "formats: at least one output format"),
        ({"params": {"not valid": 1}}, "params: 'not valid' is not a valid Python variable name"),
        ({"params": {"when": object()}}, r"params\['when'\]: expected a string, number"),
        ({"output_stem": "../up"}, "output_stem must be a plain file name"),
        ({"engine": "knitr"}, "engine must be 'auto', 'quarto' or 'fallback'"),
        ({"timeout": 0}, "timeout must be a positive number"),
    ],
)
def test_bad_options_are_render_errors(tmp_path, options, expected):
    with pytest.raises(RenderError, match=expected):
        render_document(FIXTURES / "failing.qmd", output_dir=tmp_path, **options)


def test_quarto_engine_without_quarto_is_a_render_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert quarto_available() is None
    with pytest.raises(RenderError, match="quarto CLI is not on PATH"):
        render_document(FIXTURES / "failing.qmd", output_dir=tmp_path, engine="quarto")


def test_unsupported_language_cell_is_a_render_error(tmp_path):
    (tmp_path / "r.qmd").write_text("# R\n\n```{r}\n1 + 1\n```\n", encoding="utf-8")
    with pytest.raises(RenderError, match=r"r\.qmd: line 3: the fallback engine runs only python"):
        render_document(tmp_path / "r.qmd", output_dir=tmp_path / "out", engine="fallback")


# A stand-in for the Quarto CLI: records its call and writes the output file beside its input.
_FAKE_QUARTO = """#!{python}
import json, os, sys
from pathlib import Path

args = sys.argv[1:]
if os.environ.get("FAKE_QUARTO_SLEEP"):
    import time
    time.sleep(float(os.environ["FAKE_QUARTO_SLEEP"]))
if os.environ.get("FAKE_QUARTO_FAIL"):
    print("ERROR: boom in cell 'setup'", file=sys.stderr)
    sys.exit(1)
qmd = Path(args[1])
option = lambda name: args[args.index(name) + 1] if name in args else None
record = {{
    "args": args,
    "cwd": os.getcwd(),
    "python": os.environ.get("QUARTO_PYTHON"),
    "params": Path(option("--execute-params")).read_text() if option("--execute-params") else None,
    "project": Path("_quarto.yml").read_text() if Path("_quarto.yml").exists() else None,
    "beside_input": sorted(os.listdir(qmd.parent)),
    "in_root": sorted(os.listdir(".")),
}}
with open(os.environ["FAKE_QUARTO_LOG"], "a") as log:
    log.write(json.dumps(record) + "\\n")
import yaml
formats = list(yaml.safe_load(Path("_quarto.yml").read_text())["format"])
for fmt in formats:
    out = Path(option("--output-dir")) / qmd.parent / (qmd.stem + "." + fmt)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("<p>rendered " + fmt + "</p>")
"""


@pytest.fixture
def fake_quarto(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "quarto"
    script.write_text(_FAKE_QUARTO.format(python=sys.executable), encoding="utf-8")
    script.chmod(0o755)
    log = tmp_path / "quarto-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_QUARTO_LOG", str(log))
    return log


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    (root / "reports").mkdir(parents=True)
    (root / "_quarto.yml").write_text("project:\n  output-dir: _site\nexecute:\n  echo: false\n")
    (root / "styles.css").write_text("body {}\n")
    shutil.copy(FIXTURES / "params_report.qmd", root / "reports")
    (root / "reports" / "data.csv").write_text("a\n1\n")
    (root / "reports" / "params_report.html").write_text("an earlier render, left alone\n")
    return root


@pytest.mark.skipif(os.name == "nt", reason="the stand-in quarto is a POSIX script")
def test_quarto_engine_renders_a_private_copy(fake_quarto, project, tmp_path):
    before = _listing(project)
    qmd = project / "reports" / "params_report.qmd"
    doc = render_document(
        qmd,
        output_dir=tmp_path / "out",
        params={"site_name": SITE, "cutoff": 2.5},
        formats=["html", "docx"],
        output_stem="site-report",
    )
    assert doc.engine == "quarto"
    assert [p.name for p in doc.outputs] == ["site-report.html", "site-report.docx"]
    assert doc.outputs[0].read_text() == "<p>rendered html</p>"
    assert _listing(project) == before

    calls = [json.loads(line) for line in fake_quarto.read_text().splitlines()]
    assert len(calls) == 1  # one call renders every format (fixture 25)
    html = calls[0]
    args = html["args"]
    assert not Path(html["cwd"]).is_relative_to(project)
    # fixture 25: cwd = staged project root, no --to, --output-dir, embedded, params file
    assert args[:2] == ["render", "reports/params_report.qmd"]
    assert args[2:6] == ["--output-dir", "_evalkit_quarto_out", "-M", "embed-resources:true"]
    assert args[6] == "--execute-params" and Path(args[7]).is_absolute() and len(args) == 8
    assert yaml.safe_load(html["params"]) == {"site_name": SITE, "cutoff": 2.5}
    assert html["python"] == sys.executable
    config = yaml.safe_load(html["project"])
    assert config["project"] == {"type": "default"}  # outputs stay in the stage, not in _site
    assert config["execute"] == {"echo": False}
    assert config["format"] == {"html": {"format-links": False}, "docx": "default"}
    assert "data.csv" in html["beside_input"] and "styles.css" in html["in_root"]
    assert "params_report.html" not in html["beside_input"]  # not linked, so not overwritten


@pytest.mark.skipif(os.name == "nt", reason="the stand-in quarto is a POSIX script")
def test_quarto_failure_is_a_render_error_with_its_message(fake_quarto, project, monkeypatch):
    monkeypatch.setenv("FAKE_QUARTO_FAIL", "1")
    qmd = project / "reports" / "params_report.qmd"
    with pytest.raises(RenderError, match=r"quarto render failed \(exit 1\): ERROR: boom") as info:
        render_document(qmd, output_dir=project / "out", engine="quarto")
    assert "\n" not in str(info.value)
    assert not (project / "out").exists()


@pytest.mark.skipif(os.name == "nt", reason="the stand-in quarto is a POSIX script")
def test_quarto_running_past_the_timeout_is_stopped(fake_quarto, project, monkeypatch):
    monkeypatch.setenv("FAKE_QUARTO_SLEEP", "60")
    started = time.monotonic()
    with pytest.raises(RenderError, match=r"quarto render took longer than timeout=1 s"):
        render_document(project / "reports" / "params_report.qmd", output_dir=project, timeout=1)
    assert time.monotonic() - started < 10


@pytest.mark.slow
@pytest.mark.skipif(quarto_available() is None, reason="the quarto CLI is not on PATH")
def test_real_quarto_renders_the_fixture(tmp_path):
    shutil.copy(FIXTURES / "params_report.qmd", tmp_path)
    before = _listing(tmp_path)
    doc = render_document(
        tmp_path / "params_report.qmd",
        output_dir=tmp_path / "out",
        params={"site_name": SITE},
        engine="quarto",
    )
    html = doc.outputs[0].read_text(encoding="utf-8")
    assert doc.engine == "quarto"
    assert "Riverside: North &amp; South" in html
    assert "Scores by participant" in html
    assert [entry for entry in _listing(tmp_path) if not entry[0].startswith("out")] == before


def _reference_docx(path: Path, marker: str) -> Path:
    """Pandoc's default reference document with ``marker`` as the body font."""
    import pypandoc

    data = subprocess.run(
        [pypandoc.get_pandoc_path(), "--print-default-data-file", "reference.docx"],
        capture_output=True, check=True,
    ).stdout
    base = path.with_suffix(".base.docx")
    base.write_bytes(data)
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            content = src.read(item.filename)
            if item.filename == "word/styles.xml":
                content = content.replace(b'w:asciiTheme="minorHAnsi"',
                                          f'w:ascii="{marker}"'.encode(), 1)
            dst.writestr(item, content)
    return path


@pytest.mark.slow
def test_fallback_docx_uses_the_given_reference_document(tmp_path):
    reference = _reference_docx(tmp_path / "centre.docx", "EvalkitMarkerFont")
    assert b"EvalkitMarkerFont" in zipfile.ZipFile(reference).read("word/styles.xml")
    done = render_document(FIXTURES / "params_report.qmd", output_dir=tmp_path / "out",
                           formats=("docx",), engine="fallback", docx_reference=reference)
    with zipfile.ZipFile(done.outputs[0]) as docx:
        assert b"EvalkitMarkerFont" in docx.read("word/styles.xml")


def test_missing_docx_reference_is_a_render_error(tmp_path):
    with pytest.raises(RenderError, match="docx_reference: Word reference document not found"):
        render_document(FIXTURES / "failing.qmd", output_dir=tmp_path, formats=("docx",),
                        docx_reference=tmp_path / "nowhere.docx")


def test_embedded_pictures_reach_pandoc_as_files_with_the_same_bytes(tmp_path):
    """figure_markdown prints a PNG as a data: URI; pandoc's Markdown reader takes seconds
    over such text, so the fallback hands the same bytes over as a file (SVG stays inline,
    pandoc embeds an SVG file differently)."""
    import base64

    from evalkit.reporting._fallback import _extract_images

    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    svg = base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg'/>").decode()
    text = (f"![Figure 1. A.](data:image/png;base64,{base64.b64encode(png).decode()})"
            '{fig-alt="a" alt="a"}\n\n'
            f"![](data:image/svg+xml;base64,{svg}){{alt=\"logo\"}}")
    figures = tmp_path / "figures"
    figures.mkdir()
    cell = _Cell(number=4, line=10, code="", source="", options={}, first_code_line=11)
    out = _extract_images(text, cell, figures)
    assert out.startswith('![Figure 1. A.](embedded/cell-4-1.png){fig-alt="a" alt="a"}')
    assert (tmp_path / "embedded" / "cell-4-1.png").read_bytes() == png
    assert f"(data:image/svg+xml;base64,{svg})" in out
    assert list(figures.iterdir()) == []  # the cells' own display images stay apart
