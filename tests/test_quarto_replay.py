"""The replaying stand-in ``quarto`` (tests/fake_quarto.py) and evalkit's Quarto path through it.

Each transcript in tests/quarto/fixtures was recorded from a real Quarto 1.10.18 on a fresh
copy of tests/quarto/project; the stand-in must reproduce, for the same call, its exit code,
the lines of its stderr that matter, the files it left (where they are) and what the kernel
executed (``exec-counter.txt``). Then evalkit renders through it as it would through Quarto.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit.errors import RenderError
from evalkit.reporting._quarto import _missing_modules, quarto_error
from evalkit.reporting._render import render_document

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the stand-in quarto is a POSIX script")

HERE = Path(__file__).parent
FIXTURES = HERE / "quarto" / "fixtures"
PROJECT = HERE / "quarto" / "project"
ALL = sorted(p.name for p in FIXTURES.glob("*.json"))
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# What each recorded Python could import (the fixtures' README); a test Python is this
# interpreter with the missing ones made unimportable, and jupyter-cache a stub.
PYTHONS = {
    "<venv-no-papermill>": ("papermill",),
    "<venv-papermill>": (),
    "<venv-jupyter-cache>": (),
    "<venv-no-ipykernel>": ("papermill", "ipykernel"),
    "<system-python3>": ("papermill", "ipykernel", "nbformat"),
}


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _python(folder: Path, placeholder: str) -> Path:
    """A `python` that cannot import what the recorded one could not."""
    lib = folder / f"lib-{placeholder.strip('<>')}"
    lib.mkdir(parents=True, exist_ok=True)
    for name in PYTHONS[placeholder]:
        (lib / name).mkdir(exist_ok=True)
        (lib / name / "__init__.py").write_text(f"raise ImportError('{name} is blocked')\n")
    if placeholder == "<venv-jupyter-cache>":
        (lib / "jupyter_cache").mkdir(exist_ok=True)
        (lib / "jupyter_cache" / "__init__.py").write_text("# stub: importable only\n")
    bindir = folder / f"bin-{placeholder.strip('<>')}"
    bindir.mkdir(exist_ok=True)
    python = bindir / "python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH="{lib}${{PYTHONPATH:+:$PYTHONPATH}}" '
                      f'exec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    return python


def _listing(root: Path) -> dict[str, tuple[str, str | None]]:
    import hashlib

    out: dict[str, tuple[str, str | None]] = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_dir():
            out[rel + "/"] = ("dir", None)
        else:
            out[rel] = ("file", hashlib.sha1(path.read_bytes()).hexdigest())
    return out


def _replay(name: str, tmp: Path, bindir: Path) -> tuple[dict, subprocess.CompletedProcess, Path]:
    fixture = _load(name)
    if "starts_from" not in fixture:
        project = tmp / "project"
        shutil.copytree(PROJECT, project)
        if "project_changes" in fixture:
            (project / "_quarto.yml").unlink()
    else:
        earlier = next(n for n in ALL if n.split("_")[0] == fixture["starts_from"].split()[-1])
        _, _, project = _replay(earlier, tmp, bindir)
    recorded = fixture["env"].get("QUARTO_PYTHON") or fixture["env"]["PATH"].split(":")[0]
    placeholder = next((k for k in PYTHONS if recorded.startswith(k)), "<venv-papermill>")
    python = _python(tmp, placeholder)
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "HOME": os.environ.get("HOME", str(tmp)),
           "LANG": "C.UTF-8", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    if "QUARTO_PYTHON" in fixture["env"]:
        env["QUARTO_PYTHON"] = str(python)
    else:  # 42: the first python on PATH
        env["PATH"] = f"{python.parent}:{env['PATH']}"
    argv = [a.replace("<project>", str(project)) for a in fixture["command"]]
    before = _listing(project)
    done = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600, check=False)
    after = _listing(project)
    changed = {k for k, v in after.items() if before.get(k) != v and v[0] == "file"}
    changed |= {k for k in after if k not in before}
    done.changed = changed  # type: ignore[attr-defined]
    return fixture, done, project


def _meaningful(text: str) -> list[str]:
    lines = [ANSI.sub("", x).strip() for x in text.splitlines()]
    keep = [x for x in lines if x.startswith(("ERROR:", "WARN:", "Output created:",
                                              "Executing '", "An error occurred"))
            or re.match(r"^(The \S+ package is required|\S*Error: |No such kernel|Jupyter is)", x)
            or re.match(r"^Cell \d+/\d+: ", x) or x.startswith(("Version:", "Kernels:"))]
    return keep


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_stand_in_replays_the_transcript(name, tmp_path, fake_quarto_bin):
    fixture, done, project = _replay(name, tmp_path, fake_quarto_bin)
    assert done.returncode == fixture["exit_code"], done.stderr[-2000:]
    expected_out = fixture["stdout"].replace("<project>", str(project))
    assert done.stdout == expected_out
    recorded = fixture["stderr"].replace("<project>", str(project))
    for key in PYTHONS:
        recorded = recorded.replace(f"{key}/bin/python", "PY").replace(key, "PY")
    got = done.stderr
    for line in re.findall(r"\S*/bin-[\w-]+/python", got):
        got = got.replace(line, "PY")
    assert _meaningful(got) == _meaningful(recorded)
    assert quarto_error(got) == quarto_error(recorded)
    # the files it left, where the transcript says
    created = {e["path"] for e in fixture["files_after"] if e["status"] == "created"}
    changed = {e["path"] for e in fixture["files_after"] if e["status"] == "changed"}
    # a re-rendered output may come out byte-identical here (52): it must exist
    assert created <= done.changed <= created | changed
    assert all((project / path).exists() for path in changed)
    for entry in fixture["files_after"]:
        if entry["type"] == "file" and entry["path"].endswith((".html", ".docx")):
            assert (project / entry["path"]).stat().st_size > 1000  # a real output
    for path, text in fixture["exec_counter"].items():
        assert (project / path).read_text() == text
    # what a reader sees in each output, as recorded (the README's visible_text and figures)
    for path, recorded_text in fixture.get("visible_text", {}).items():
        out = project / path
        figures = fixture["figures"][path]
        if path.endswith(".html"):
            seen = _html_visible(out)
            assert seen["visible_text"] == recorded_text["visible_text"], path
            assert [i.get("alt") for i in _html_images(out)] == [
                i["alt"] for i in figures["imgs"]], path
            assert seen["figure_tags"] == figures["figure_tags"], path
            if name.split("_")[0] not in NOT_EMBEDDED:
                assert seen["external_refs"] == recorded_text["external_refs"], path
        else:
            paragraphs, tables = _docx_visible(out)
            assert paragraphs == recorded_text["paragraphs"], path
            assert tables == recorded_text["tables"], path
            assert _docx_descr(out) == [d["descr"] for d in figures["drawings"]], path


# The recorded outputs that are not self-contained: 10 and 13 fail half-way, 16b has no project
# file to ask for embedded resources. The stand-in always writes self-contained HTML, so the
# links of Quarto's libraries there (``doc_files/libs/...``) are the one part of what Quarto
# writes that it does not make.
NOT_EMBEDDED = {"10", "13", "16b"}


def _html_visible(path: Path) -> dict:
    """The README's HTML ``visible_text`` (text nodes outside script/style/noscript),
    ``external_refs`` and ``figure_tags``."""
    from html.parser import HTMLParser

    seen: dict = {"visible_text": [], "external_refs": [], "figure_tags": 0}

    class Reader(HTMLParser):
        skip = 0

        def handle_starttag(self, tag, attrs):
            if tag in ("script", "style", "noscript"):
                self.skip += 1
            seen["figure_tags"] += tag == "figure"
            for key, value in attrs:
                if key in ("src", "href") and value and not value.startswith(("data:", "#")):
                    seen["external_refs"].append(value)

        def handle_endtag(self, tag):
            if tag in ("script", "style", "noscript"):
                self.skip -= 1

        def handle_data(self, data):
            if not self.skip and data.strip():
                seen["visible_text"].append(data.strip())

    Reader().feed(path.read_text(encoding="utf-8"))
    return seen


def _docx_visible(path: Path) -> tuple[list[dict], list[list[list[str]]]]:
    """The README's DOCX ``paragraphs`` (body-level, with text: style and text) and
    ``tables`` (body-level, rows of cell texts, a cell's paragraphs joined with " / ")."""
    import zipfile

    from lxml import etree

    w = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    body = etree.fromstring(zipfile.ZipFile(path).read("word/document.xml")).find(w + "body")

    def text(node) -> str:
        return "".join(t.text or "" for t in node.iter(w + "t"))

    paragraphs = []
    for para in body.findall(w + "p"):
        if text(para).strip():
            style = para.find(f"{w}pPr/{w}pStyle")
            paragraphs.append({"style": style.get(w + "val") if style is not None else None,
                               "text": text(para)})
    tables = [[[" / ".join(t for t in (text(p) for p in cell.iter(w + "p")) if t.strip())
                for cell in row.findall(w + "tc")] for row in table.findall(w + "tr")]
              for table in body.findall(w + "tbl")]
    return paragraphs, tables


def _html_images(path: Path) -> list[dict[str, str | None]]:
    from html.parser import HTMLParser

    found: list[dict[str, str | None]] = []

    class Images(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "img":
                found.append(dict(attrs))

    Images().feed(path.read_text(encoding="utf-8"))
    return found


def _docx_descr(path: Path) -> list[str]:
    import zipfile

    body = zipfile.ZipFile(path).read("word/document.xml").decode("utf-8")
    return re.findall(r'<wp:docPr[^>]*descr="([^"]*)"', body)


@pytest.mark.slow
def test_stand_in_outputs_show_the_figures_quarto_shows(tmp_path, fake_quarto_bin):
    """Fixture 25: figure A (Agg + plt.show) is lost, B and C numbered, E unnumbered."""
    fixture, done, project = _replay("25_candidate_all_formats_params_output_dir.json",
                                     tmp_path, fake_quarto_bin)
    html = project / "out/reports/doc.html"
    alts = [img.get("alt") for img in _html_images(html)]
    recorded = [img["alt"] for img in fixture["figures"]["out/reports/doc.html"]["imgs"]]
    assert [a for a in alts if a] == [a for a in recorded if a]
    text = " ".join(_html_visible(html)["visible_text"])
    # Quarto joins "Figure" and its number with a no-break space
    assert "Figure\u00a01: Variant B caption" in text
    assert "Figure\u00a02: Variant C caption" in text
    assert "Variant A caption" not in text
    descr = _docx_descr(project / "out/reports/doc.docx")
    recorded_descr = [d["descr"] for d in fixture["figures"]["out/reports/doc.docx"]["drawings"]]
    assert [d for d in descr if d] == [d for d in recorded_descr if d]


@pytest.mark.slow
def test_stand_in_alt_text_with_fig_alt_and_alt(tmp_path, fake_quarto_bin):
    """Fixture 62: fig-alt + alt on an image without a fig- id reach HTML and DOCX."""
    fixture, done, project = _replay("62_alt_text_fig_alt_plus_alt.json", tmp_path,
                                     fake_quarto_bin)
    alts = [img.get("alt") for img in _html_images(project / "reports/alt3.html")]
    recorded = [img["alt"] for img in fixture["figures"]["reports/alt3.html"]["imgs"]]
    assert alts == recorded
    descr = _docx_descr(project / "reports/alt3.docx")
    assert descr == [d["descr"] for d in fixture["figures"]["reports/alt3.docx"]["drawings"]]


def test_stand_in_refuses_an_unrecorded_call(tmp_path, fake_quarto_bin):
    shutil.copytree(PROJECT, tmp_path / "p")
    done = subprocess.run(["quarto", "render", "reports/doc.qmd", "--to", "pdf"],
                          cwd=tmp_path / "p", capture_output=True, text=True, check=False,
                          env={**os.environ, "QUARTO_PYTHON": sys.executable})
    assert done.returncode == 97
    assert "no recorded transcript" in done.stderr


# --------------------------------------------------------------------------- evalkit's path


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("10_html_output_with_embed_resources_FAILS.json",
         "ERROR: NotFound: No such file or directory (os error 2): readfile "
         "'<project>/doc_files/libs/quarto-html/quarto.js'"),
        ("16_html_docx_comma_list_FAILS.json", "ERROR: Unknown format html,docx"),
        ("20_execute_params_no_papermill.json",
         "The papermill package is required for processing --execute-params"),
        ("30_broken_html.json",
         "cell 'failing-cell' (2 of 2) raised ValueError: fixture failure: key 'b' missing "
         "from ['a']"),
        ("40_quarto_python_no_ipykernel.json", "No such kernel named python3"),
        ("41_quarto_python_without_jupyter.json",
         "ModuleNotFoundError: No module named 'nbformat'"),
        ("50_cache_flag.json", "The jupyter-cache package is required for cached execution"),
        ("53_cache_with_inline_expressions_FAILS.json",
         "ERROR: Inline expression encountered (site). Inline expressions cannot be used with "
         "Jupyter Cache."),
    ],
)
def test_quarto_error_finds_the_line_that_matters(name, expected):
    assert quarto_error(_load(name)["stderr"]) == expected


def _failing_doc(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "_quarto.yml").write_text("project:\n  type: default\n")
    (folder / "reports").mkdir(exist_ok=True)
    doc = folder / "reports" / "load-results.qmd"
    doc.write_text("---\ntitle: Broken\n---\n\n```{python}\n#| tags: [parameters]\nsite = 'S'\n"
                   "```\n\n```{python}\n#| label: load\nraise KeyError('results_dir')\n```\n")
    return doc


@pytest.mark.slow
def test_evalkit_gives_the_failing_cell_in_one_line(tmp_path, fake_quarto_bin):
    doc = _failing_doc(tmp_path / "p")
    with pytest.raises(RenderError) as info:
        render_document(doc, output_dir=tmp_path / "out", params={"site": "S1"},
                        formats=("html", "docx"), engine="quarto")
    message = str(info.value)
    assert message == (f"{doc}: quarto render failed (exit 1): cell 'load' (3 of 3) raised "
                       "KeyError: 'results_dir'")
    assert not (tmp_path / "out").exists()


def test_evalkit_names_the_module_quarto_python_lacks(tmp_path, fake_quarto_bin, monkeypatch):
    python = _python(tmp_path, "<venv-no-papermill>")
    monkeypatch.setenv("QUARTO_PYTHON", str(python))
    _missing_modules.cache_clear()
    with pytest.raises(RenderError) as info:
        render_document(PROJECT / "reports" / "doc.qmd", output_dir=tmp_path / "out",
                        params={"site": "S1"}, engine="quarto")
    message = str(info.value)
    assert "\n" not in message
    assert f"Quarto runs the cells with {python} (QUARTO_PYTHON), which cannot import " \
           "papermill (Quarto needs it for the report's parameters)" in message


def test_evalkit_reports_a_quarto_failure_in_one_line(tmp_path, fake_quarto_bin, monkeypatch):
    """A Python without ipykernel, past evalkit's check (a stub): Quarto's own line (40)."""
    python = _python(tmp_path, "<venv-no-ipykernel>")
    monkeypatch.setenv("QUARTO_PYTHON", str(python))
    monkeypatch.setattr("evalkit.reporting._quarto._check_python", lambda *a: None)
    doc = PROJECT / "reports" / "doc.qmd"
    with pytest.raises(RenderError) as info:
        render_document(doc, output_dir=tmp_path / "out", engine="quarto")
    assert str(info.value) == f"{doc}: quarto render failed (exit 1): No such kernel named python3"


@pytest.mark.slow
def test_evalkit_renders_the_fixture_document_as_quarto_does(tmp_path, fake_quarto_bin):
    out = tmp_path / "out"
    done = render_document(PROJECT / "reports" / "doc.qmd", output_dir=out,
                           params={"site": "S42", "results_dir": "results-from-params-file"},
                           formats=("html", "docx"), output_stem="site-S42", engine="quarto")
    assert done.engine == "quarto"
    assert [p.name for p in done.outputs] == ["site-S42.html", "site-S42.docx"]
    calls = [json.loads(x) for x in (fake_quarto_bin / "calls.jsonl").read_text().splitlines()]
    assert [c["fixture"] for c in calls] == ["25_candidate_all_formats_params_output_dir.json"]
    assert calls[0]["QUARTO_PYTHON"] == sys.executable
    html = done.outputs[0].read_text(encoding="utf-8")
    assert "Parameters seen by the kernel: site <strong>S42</strong>" in html
    assert not list(PROJECT.rglob("exec-counter.txt"))  # ran in the stage, not the source


# --------------------------------------------------------------------------- demo, both engines


class _Reader:
    """What a reader sees in a rendered HTML: headings, table cells, figures, captions, alts."""

    def __init__(self, html: str) -> None:
        from html.parser import HTMLParser

        self.headings: list[str] = []
        self.cells: list[str] = []
        self.captions: list[str] = []
        self.alts: list[str | None] = []
        stack: list[str] = []
        texts: dict[str, list[str]] = {}
        reader = self

        class Parser(HTMLParser):
            def handle_starttag(self, tag, attrs):
                if "skip" in stack:
                    if tag == "nav":
                        stack.append("skip")
                elif tag == "nav" or (tag in ("header", "div") and ("id", "TOC") in attrs):
                    stack.append("skip")
                elif tag == "img":
                    reader.alts.append(dict(attrs).get("alt"))
                elif tag in ("h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "figcaption"):
                    stack.append(tag)
                    texts[tag] = []

            def handle_endtag(self, tag):
                if stack and (stack[-1] == tag or (stack[-1] == "skip" and tag == "nav")):
                    top = stack.pop()
                    if top == "skip":
                        return
                    text = " ".join(" ".join(texts[top]).split())
                    if top.startswith("h"):
                        reader.headings.append(text)
                    elif top == "figcaption":
                        reader.captions.append(text)
                    else:
                        reader.cells.append(text)

            def handle_data(self, data):
                if stack and stack[-1] != "skip" and "skip" not in stack:
                    texts[stack[-1]].append(data)

        Parser().feed(html)


def _docx_reader(path: Path) -> dict[str, list[str]]:
    import zipfile

    body = zipfile.ZipFile(path).read("word/document.xml").decode("utf-8")
    paragraphs = re.findall(r"<w:p\b.*?</w:p>", body, re.S)

    from html import unescape

    def text(xml: str) -> str:
        return unescape("".join(re.findall(r"<w:t(?: [^>]*)?>([^<]*)</w:t>", xml)))

    styled = [(re.search(r'<w:pStyle w:val="([^"]+)"', p), text(p)) for p in paragraphs]
    return {
        "headings": [t for s, t in styled if s and s.group(1).startswith("Heading") and t],
        "captions": [t for s, t in styled if s and s.group(1) == "ImageCaption"],
        "cells": [text(c) for c in re.findall(r"<w:tc>.*?</w:tc>", body, re.S)],
        "descr": [unescape(d) for d in re.findall(r'<wp:docPr[^>]*descr="([^"]*)"', body)],
    }


@pytest.fixture(scope="module")
def demo_renders(tmp_path_factory):
    """A demo site report and the cross-site report, each rendered by both engines."""
    import time

    from typer.testing import CliRunner

    from evalkit.cli import app

    out = tmp_path_factory.mktemp("demo")
    done = CliRunner().invoke(app, ["demo", "--out", str(out), "--engine", "fallback"])
    assert done.exit_code == 0, done.output
    bindir = tmp_path_factory.mktemp("fake-quarto-bin")
    script = bindir / "quarto"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{HERE / "fake_quarto.py"}" "$@"\n')
    script.chmod(0o755)
    docs = {"site": (out / "reports" / "site.qmd", {"site": "S02"}, "S02: site report"),
            "cross-site": (out / "reports" / "cross_site.qmd", {}, "Cross-site report")}
    renders: dict[tuple[str, str], tuple[list[Path], float]] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
        patch.setenv("FAKE_QUARTO_LOG", str(bindir / "calls.jsonl"))
        for key, (qmd, params, title) in docs.items():
            for engine in ("fallback", "quarto"):
                started = time.monotonic()
                made = render_document(qmd, output_dir=out / "compare" / engine,
                                       params={"results_dir": str(out / "results"), **params},
                                       formats=("html", "docx"), output_stem=key, title=title,
                                       engine=engine)  # type: ignore[arg-type]
                assert made.engine == engine
                renders[key, engine] = (list(made.outputs), time.monotonic() - started)
    calls = [json.loads(x) for x in (bindir / "calls.jsonl").read_text().splitlines()]
    seconds = {f"{k}/{e}": round(s, 1) for (k, e), (_, s) in renders.items()}
    print(f"render seconds (html+docx; the Quarto ones are the stand-in): {seconds}")
    return renders, calls


@pytest.mark.slow
def test_demo_reports_render_through_the_quarto_stand_in(demo_renders):
    renders, calls = demo_renders
    # one Quarto call per document, the fixture-25 transcript, for HTML and Word
    assert [c["fixture"] for c in calls] == ["25_candidate_all_formats_params_output_dir.json"] * 2
    for key in ("site", "cross-site"):
        (html, docx), _ = renders[key, "quarto"]
        seen = _Reader(html.read_text(encoding="utf-8"))
        assert seen.alts and all(seen.alts), key  # every figure, each with alt text
        described = _docx_reader(docx)["descr"]
        assert len(described) == len(seen.alts) and all(described), key


@pytest.mark.slow
@pytest.mark.parametrize("key", ["site", "cross-site"])
def test_both_engines_show_a_reader_the_same_report(demo_renders, key):
    renders = demo_renders[0]
    (f_html, f_docx), _ = renders[key, "fallback"]
    (q_html, q_docx), _ = renders[key, "quarto"]
    fallback, quarto = (_Reader(p.read_text(encoding="utf-8")) for p in (f_html, q_html))
    assert quarto.headings == fallback.headings and fallback.headings
    assert quarto.cells == fallback.cells and fallback.cells
    assert len(quarto.alts) == len(fallback.alts) > 0
    assert quarto.captions == fallback.captions
    assert quarto.alts == fallback.alts
    fd, qd = _docx_reader(f_docx), _docx_reader(q_docx)
    assert qd == fd
    assert len(fd["descr"]) == len(fallback.alts) and fd["descr"] == fallback.alts
