#!/usr/bin/env python3
"""A stand-in for the Quarto 1.10.18 CLI that replays recorded transcripts.

``tests/quarto/fixtures/NN_*.json`` are calls of a real Quarto 1.10.18 (their README is in
the shared fixtures folder). For an argv, this script works out its *shape* (subcommand,
``--to`` value, which of ``--output``/``--output-dir``/``--execute-params``/``-P``/
``--cache``/``--no-cache``/``--execute-dir``/``-M embed-resources:true`` are present, the
document: one of the fixture documents by name, or any other document as ``doc``; whether
there is a ``_quarto.yml``; whether ``.quarto/`` is already there, i.e. a re-render; and what
the Python Quarto would use can import: nbformat, ipykernel, papermill, jupyter_cache) and
replays the transcript of the same shape:

- exit code and stderr (stdout) text, with the placeholders (``<project>``, ``<venv-...>``,
  the fixture document's name) put back to this call's paths; for a document that is not a
  fixture document, the ``Cell i/n: 'label'`` progress lines are those of its own cells;
- the files the call left: outputs are REAL, made the way Quarto makes them for that shape:
  each output format executes the document again (with evalkit's fallback executor, without
  its show-every-open-figure hook, so ``plt.show()`` after ``Agg`` shows nothing as under
  Quarto), in the kernel working directory Quarto uses, with the parameters applied; figures
  with a ``fig-`` id are numbered ``Figure N:`` and have empty DOCX alt text, HTML alt text
  comes from ``fig-alt``, DOCX alt text from ``alt=`` (README points 7, 8); the output lands
  where the transcript says (``out/reports/doc.html`` for ``--output-dir out``). Quarto's side
  files (``.quarto/``, ``X_files/``, ``.jupyter_cache/``) are laid out as recorded, with
  placeholder content of the recorded size.

When no transcript has the exact shape, a failure that Quarto reports before doing anything
document-specific is replayed for any shape that has its cause (the order below): a comma
list of formats in a project (16), a Python without nbformat (41) or ipykernel (40),
``--cache`` without jupyter-cache (50), parameters without papermill (20, 22). A document
whose cell raises gives the failing-cell transcript (30) with that cell's source and error.
Anything else exits 97 and says no transcript matches, so a test never passes on an
invented behaviour.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "quarto" / "fixtures"
sys.path.insert(0, str(HERE.parent))  # evalkit, for its fallback executor

# What each recorded Python could import (README table "Python environments").
CAPS = {
    "<venv-no-papermill>": {"nbformat", "ipykernel"},
    "<venv-papermill>": {"nbformat", "ipykernel", "papermill"},
    "<venv-jupyter-cache>": {"nbformat", "ipykernel", "papermill", "jupyter_cache"},
    "<venv-no-ipykernel>": {"nbformat"},
    "<system-python3>": set(),
}
MODULES = ("nbformat", "ipykernel", "papermill", "jupyter_cache")
FIXTURE_DOCS = {"doc", "broken", "cache", "alt", "alt2", "alt3"}
EARLY_FAILURES = ("16", "41", "40", "50", "20", "22")
TCP_WARNING = (
    "[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication "
    "(including code and outputs) is sent in plain text and is susceptible to eavesdropping. "
    "Use IPC transport or launch with kernel manager-provisioned CurveZMQ keys to enable "
    "transport encryption."
)


# --------------------------------------------------------------------------- argv shape


def parse(argv: list[str]) -> dict[str, Any]:
    """The options of a ``quarto`` argv (without argv[0])."""
    out: dict[str, Any] = {"sub": argv[0] if argv else None, "args": [], "P": [], "M": []}
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in ("--to", "--output", "--output-dir", "--execute-params", "--execute-dir"):
            out[arg.lstrip("-")] = argv[i + 1]
            i += 2
        elif arg in ("-P", "-M"):
            out[arg[1]].append(argv[i + 1])
            i += 2
        elif arg in ("--cache", "--no-cache"):
            out["cache"] = arg.lstrip("-")
            i += 1
        else:
            out["args"].append(arg)
            i += 1
    return out


def shape(argv: list[str], caps: set[str], project_file: bool, rerender: bool) -> dict[str, Any]:
    opts = parse(argv)
    if opts["sub"] != "render":
        return {"sub": opts["sub"], "args": tuple(opts["args"]),
                "caps": frozenset(caps) if opts["sub"] == "check" else None}
    doc = Path(opts["args"][0]) if opts["args"] else Path("")
    return {
        "sub": "render",
        "doc": doc.stem if doc.stem in FIXTURE_DOCS else "doc",
        "ext": doc.suffix,
        "to": opts.get("to"),
        "output": "output" in opts,
        "output-dir": "output-dir" in opts,
        "params": "file" if "execute-params" in opts else ("P" if opts["P"] else None),
        "embed": "embed-resources:true" in opts["M"],
        "cache": opts.get("cache"),
        "execute-dir": "execute-dir" in opts,
        "project": project_file,
        "rerender": rerender,
        "caps": frozenset(caps),
    }


def fixture_shape(fixture: dict[str, Any]) -> dict[str, Any]:
    env = fixture["env"]
    python = env.get("QUARTO_PYTHON") or env["PATH"].split(":")[0]
    caps = next((c for key, c in CAPS.items() if python.startswith(key)), set())
    project = "project_changes" not in fixture
    return shape(fixture["command"][1:], caps, project, "starts_from" in fixture)


def load_fixtures() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(FIXTURES.glob("*.json")):
        fixture = json.loads(path.read_text(encoding="utf-8"))
        fixture["id"] = path.name.split("_")[0]
        fixture["file"] = path.name
        out[fixture["id"]] = fixture
    return out


def python_of(env: dict[str, str]) -> str | None:
    """The Python Quarto uses: QUARTO_PYTHON, else the first ``python`` on PATH (42)."""
    if env.get("QUARTO_PYTHON"):
        return env["QUARTO_PYTHON"]
    return shutil.which("python", path=env.get("PATH")) or shutil.which("python3",
                                                                      path=env.get("PATH"))


def capabilities(python: str | None) -> set[str]:
    if not python:
        return set()
    code = ("import importlib, sys\nfor m in sys.argv[1:]:\n    try:\n"
            "        importlib.import_module(m)\n        print(m)\n    except Exception:\n"
            "        pass\n")
    try:
        done = subprocess.run([python, "-c", code, *MODULES], capture_output=True, text=True,
                              timeout=120, check=False)
    except OSError:
        return set()
    return set(done.stdout.split())


def match(current: dict[str, Any], fixtures: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    exact = [f for f in fixtures.values() if fixture_shape(f) == current]
    if exact:
        # 42 and 23 differ only in where the Python came from: prefer the same source
        wants_path = not os.environ.get("QUARTO_PYTHON")
        exact.sort(key=lambda f: ("QUARTO_PYTHON" in f["env"]) == wants_path)
        return exact[0]
    if current["sub"] != "render":
        return None
    caps = current["caps"]
    causes = {
        "16": current["project"] and "," in (current["to"] or ""),
        "41": "nbformat" not in caps,
        "40": "ipykernel" not in caps,
        "50": current["cache"] == "cache" and "jupyter_cache" not in caps,
        "20": current["params"] == "file" and "papermill" not in caps,
        "22": current["params"] == "P" and "papermill" not in caps,
    }
    for fid in EARLY_FAILURES:
        if causes[fid]:
            return fixtures[fid]
    return None


# --------------------------------------------------------------------------- replay


class Replay:
    def __init__(self, argv: list[str], fixture: dict[str, Any]) -> None:
        self.argv, self.fixture = argv, fixture
        self.opts = parse(argv)
        self.recorded = parse(fixture["command"][1:])
        self.cwd = Path.cwd()
        self.python = python_of(dict(os.environ)) or ""
        self.doc = self.rec_doc = Path("none")
        if self.opts["sub"] == "render":
            self.doc = Path(self.opts["args"][0])
            self.rec_doc = Path(self.recorded["args"][0])
        self.stderr = ""

    # paths ------------------------------------------------------------------

    def path(self, recorded: str) -> Path:
        """A recorded path (relative to <project>) as it is for this call."""
        trailing = recorded.endswith("/")
        rec = Path(recorded)
        rec_out, out = self.recorded.get("output-dir"), self.opts.get("output-dir")
        rec_dir, doc_dir = self.rec_doc.parent, self.doc.parent
        parts = list(rec.parts)
        prefix: list[str] = []
        if rec_out and parts[: len(Path(rec_out).parts)] == list(Path(rec_out).parts):
            parts = parts[len(Path(rec_out).parts):]
            prefix = list(Path(out).parts) if out else []
        if parts[: len(rec_dir.parts)] == list(rec_dir.parts) and rec_dir.parts:
            parts = list(doc_dir.parts) + parts[len(rec_dir.parts):]
        elif parts and parts[0] == ".quarto":
            parts = [p if p != self.rec_doc.stem else self.doc.stem for p in parts]
        if parts:
            name = parts[-1]
            stem = self.rec_doc.stem
            if self.recorded.get("output") == recorded:
                name = self.opts.get("output", name)
            elif name.startswith((stem + ".", stem + "_files")):
                name = self.doc.stem + name[len(stem):]
            parts[-1] = name
            parts = [self.doc.stem + "_files" if p == stem + "_files" else p for p in parts]
        return Path(*prefix, *parts) if (prefix or parts) else Path(".") if not trailing \
            else Path(".")

    def text(self, recorded: str) -> str:
        """Recorded stderr/stdout with this call's paths and names."""
        out = recorded.replace("<project>", str(self.cwd))
        for key in CAPS:
            out = out.replace(f"{key}/bin/python", self.python).replace(key, self.python)
        if self.opts["sub"] != "render":
            return out
        stem, name = self.rec_doc.stem, self.doc.stem
        if stem != name:
            out = re.sub(rf"\b{re.escape(stem)}(?=\.(?:quarto_ipynb|html|docx|ipynb)\b)", name,
                         out)
        return out

    # effects ----------------------------------------------------------------

    def run(self) -> int:
        fixture = self.fixture
        if self.opts["sub"] != "render":
            self.side_files({})
            self.stderr = self.text(fixture["stderr"])
            return self.finish()
        # 10, 13 and 53 execute (and 10, 13 write a partial HTML) before they fail
        runs = fixture["exit_code"] == 0 or fixture["id"] in ("10", "13", "53")
        outputs = self.outputs() if runs else {}
        if runs:
            failure = self.render_outputs(outputs)
            if failure is not None:
                return self.cell_failure(failure)
        self.side_files(outputs)
        self.stderr = self.progress(self.text(fixture["stderr"]))
        if outputs and fixture["exit_code"] == 0:
            first = next(iter(outputs.values()))
            self.stderr = re.sub(r"Output created: .*",
                                 "Output created: " + os.path.relpath(first, self.doc_base()),
                                 self.stderr)
        return self.finish()

    def finish(self) -> int:
        sys.stdout.write(self.text(self.fixture["stdout"]))
        sys.stderr.write(self.stderr)
        return int(self.fixture["exit_code"])

    def doc_base(self) -> Path:
        return self.doc.parent if self.doc.parent != Path("") else Path(".")

    def outputs(self) -> dict[str, Path]:
        """Format -> where this call writes it, from the transcript's files."""
        out: dict[str, Path] = {}
        stem = self.rec_doc.stem
        for entry in self.fixture["files_after"]:
            rec = Path(entry["path"])
            if entry["type"] == "file" and rec.stem == stem and \
                    rec.suffix in (".html", ".docx", ".ipynb") and rec.parts[0] != ".quarto" \
                    and rec != self.rec_doc:
                out[rec.suffix[1:]] = self.path(entry["path"])
        order = ["ipynb", "html", "docx"]
        return {k: out[k] for k in sorted(out, key=order.index)}

    def params(self) -> dict[str, Any]:
        import yaml

        values: dict[str, Any] = {}
        if self.opts.get("execute-params"):
            values.update(yaml.safe_load(Path(self.opts["execute-params"]).read_text()) or {})
        for pair in self.opts["P"]:
            key, _, value = pair.partition(":")
            values[key] = yaml.safe_load(value)
        return values

    def executions(self) -> int:
        return self.fixture["stderr"].count("Executing '")

    def render_outputs(self, outputs: dict[str, Path]) -> str | None:
        """Make every output for real; each format is one more execution (README point 5).

        Returns the executor's message when a cell of a non-fixture document raises.
        """
        from evalkit.errors import RenderError

        runs = self.executions()
        kernel_dir = Path(self.opts["execute-dir"]) if self.opts.get("execute-dir") else None
        todo: list[str | None] = list(outputs) or ([None] if runs else [])
        for index, fmt in enumerate(todo):
            scratch = index >= runs  # read from the cache (55) or an .ipynb (70b/c)
            try:
                built = self.make(fmt or "html", scratch, kernel_dir)
            except RenderError as exc:
                if self.doc.stem in FIXTURE_DOCS:
                    raise
                return str(exc)
            if fmt is None:
                continue  # executed, then failed before writing (53)
            target = outputs[fmt]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(built, target)
            for extra in self.copied_resources(target):
                shutil.copyfile(self.doc_base() / extra.name, extra)
        return None

    def copied_resources(self, target: Path) -> list[Path]:
        """Files Quarto copies next to an --output-dir output (12, 25: variant-d.png)."""
        out = []
        for entry in self.fixture["files_after"]:
            path = self.path(entry["path"])
            if entry["type"] == "file" and path.parent == target.parent and \
                    path.suffix not in (".html", ".docx", ".ipynb") and \
                    path.parent != self.doc_base() and (self.doc_base() / path.name).is_file():
                out.append(path)
        return out

    def make(self, fmt: str, scratch: bool, kernel_dir: Path | None) -> Path:
        from evalkit.reporting import _fallback

        work = Path(tempfile.mkdtemp(prefix="fake-quarto-"))
        doc = (self.cwd / self.doc).resolve()
        if scratch:  # no execution in the project: run a copy where side effects are lost
            copy = work / "scratch" / doc.parent.name  # the kernel's cwd keeps its name (55)
            shutil.copytree(doc.parent, copy, symlinks=True)
            doc = copy / doc.name
        project = self.cwd / "_quarto.yml"
        deadline = time.monotonic() + 3600
        if doc.suffix == ".ipynb":
            return self.from_ipynb(doc, fmt, work, project if project.is_file() else None)
        with figure_divs(not project_echo_off(self.cwd)):
            meta = _fallback.execute_to_markdown(
                doc, "html" if fmt == "ipynb" else fmt, work, self.params(),
                project if project.is_file() else None, deadline, 3600,
                show_open_figures=False,
                kernel_dir=(self.cwd / kernel_dir) if kernel_dir else None,
            )
        markdown = (work / "document.md").read_text(encoding="utf-8")
        if fmt == "ipynb":
            return self.to_ipynb(markdown, meta, work)
        markdown = quarto_callouts(quarto_figures(markdown, fmt), fmt)
        (work / "document.md").write_text(markdown, encoding="utf-8")
        (work / ICON).write_bytes(PNG_1PX)
        reference = next((m.split(":", 1)[1] for m in self.opts["M"]
                          if m.startswith("reference-doc:")), None)
        built = _fallback._pandoc_convert(doc, work, meta, fmt, deadline, 3600,
                                          Path(reference) if reference else None)
        if fmt == "html":
            html_chrome(built, meta, self.formats(meta), self.doc.stem)
        else:
            docx_callout_titles(built)
        return built

    def formats(self, meta: dict[str, Any]) -> list[str]:
        """The document's formats: those the project and front matter name, even when
        ``--to`` picks one of them (11 links its docx), and those ``--to`` adds (16b)."""
        to = self.opts.get("to")
        declared = meta.get("format")
        named = list(declared) if isinstance(declared, dict) else ["html"]
        asked = str(to).split(",") if to and to != "all" else []
        return named + [f for f in asked if f not in named]

    def to_ipynb(self, markdown: str, meta: dict[str, Any], work: Path) -> Path:
        import nbformat

        nb = nbformat.v4.new_notebook()
        # cell figures live in the executor's private folder: an .ipynb rendered later
        # loses them, as 70b/70c record; figure numbers, callouts and table captions are
        # already flattened to plain text there
        nb.cells.append(nbformat.v4.new_markdown_cell(ipynb_markdown(markdown)))
        nb.metadata["title"] = str(meta.get("title", ""))
        out = work / "document.ipynb"
        nbformat.write(nb, out)
        return out

    def from_ipynb(self, doc: Path, fmt: str, work: Path, project: Path | None) -> Path:
        import nbformat

        from evalkit.reporting import _fallback

        nb = nbformat.read(doc, as_version=4)
        text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        text = re.sub(r"!\[[^\]]*\]\(figures/[^)]*\)(\{[^}]*\})?", "", text)
        if fmt == "docx":  # 70c: no drawings at all; the images are not found
            text = re.sub(r"!\[([^\]]*)\]\(([^)]*)\)", r"![\1](fake-quarto-not-found/\2)", text)
            text = re.sub(r"</?figure>", "", text)
        (work / "document.md").write_text(text, encoding="utf-8")
        meta = {"title": nb.metadata.get("title", doc.stem)}
        return _fallback._pandoc_convert(doc, work, meta, fmt, time.monotonic() + 600, 600)

    def side_files(self, outputs: dict[str, Path]) -> None:
        """Quarto's own files as recorded (placeholders of the recorded size)."""
        made = set(outputs.values())
        for entry in self.fixture["files_after"]:
            path = self.path(entry["path"])
            if entry["status"] == "deleted":
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
                continue
            if entry["type"] == "dir":
                path.mkdir(parents=True, exist_ok=True)
                continue
            if path in made or (path.exists() and entry["status"] != "changed"):
                continue
            if self.by_cells(entry["path"]):
                continue  # written by the document's own cells, if this document has them
            path.parent.mkdir(parents=True, exist_ok=True)
            marker = (f"fake quarto: placeholder for {entry['path']} ({self.fixture['file']}, "
                      f"{time.time_ns()})\n")
            data = marker.encode()
            size = int(entry.get("size", len(data)))
            path.write_bytes((data * (size // len(data) + 1))[:size])

    def by_cells(self, recorded: str) -> bool:
        parts = Path(recorded).parts
        quarto_owned = parts[0] == ".quarto" or any(
            p.endswith("_files") or p == ".jupyter_cache" for p in parts)
        if quarto_owned:
            return False
        rec_out = self.recorded.get("output-dir")
        return not (rec_out and parts[0] == Path(rec_out).parts[0])

    # stderr -----------------------------------------------------------------

    def cells(self) -> list[str]:
        """The labels of this document's cells, as Quarto numbers them."""
        from evalkit.reporting._fallback import _Cell, _parse

        _meta, blocks = _parse(self.doc)
        cells = [b for b in blocks if isinstance(b, _Cell)]
        labels = []
        for cell in cells:
            labels.append(str(cell.options.get("label", "")))
            tags = cell.options.get("tags") or []
            if "parameters" in tags and (self.opts.get("execute-params") or self.opts["P"]):
                labels.append("")  # papermill's injected cell (21: Cell 1/9 ... 9/9)
        return labels

    def progress(self, text: str, upto: int | None = None) -> str:
        if self.doc.stem in FIXTURE_DOCS or self.doc.suffix != ".qmd":
            return text
        labels = self.cells()
        shown = labels if upto is None else labels[: upto + 1]
        width = max((len(repr(x)) for x in labels), default=2) + 3
        lines = []
        for i, label in enumerate(shown, 1):
            quoted = f"'{label}'"
            done = "Done" if upto is None or i <= upto else ""
            lines.append(f"  Cell {i}/{len(labels)}: {quoted}{'.' * (width - len(quoted))}{done}")
        block = "\n".join(lines)
        return re.sub(r"(?:  Cell \d+/\d+: .*\n?)+", lambda _: block + "\n", text)

    def cell_failure(self, message: str) -> int:
        """A cell of this document raised: the failing-cell transcript (30) for its cell."""
        from evalkit.reporting._fallback import _Cell, _parse

        found = re.search(r"python cell (\d+).* raised (.+?)(?: \(at line \d+\))?$", message)
        if found is None:
            sys.stderr.write(f"fake quarto: could not read the failure: {message}\n")
            return 97
        number, error = int(found.group(1)), found.group(2)
        cells = [b for b in _parse(self.doc)[1] if isinstance(b, _Cell)]
        labels = self.cells()
        position = number + (1 if len(labels) > len(cells) and number > 1 else 0)
        head = self.progress(
            f"\nStarting python3 kernel...{TCP_WARNING}\nDone\n\n"
            f"Executing '{self.doc.stem}.quarto_ipynb'\n  Cell 1/1: ''...\n",
            upto=position - 1,
        )
        self.stderr = (
            head + "\n\nAn error occurred while executing the following cell:\n"
            "------------------\n" + cells[number - 1].code + "\n------------------\n\n\n"
            "\x1b[31m" + "-" * 75 + "\x1b[39m\n"
            f"\x1b[31m{error.split(':')[0]}\x1b[39m{' ' * 32}Traceback (most recent call last)\n"
            f"\n\x1b[31m{error.split(':')[0]}\x1b[39m:{error.partition(':')[2]}\n\n"
            "\x1b[33mWARN: Error encountered when rendering files\x1b[39m\n"
        )
        self.fixture = {**self.fixture, "files_after": FIXTURE_30["files_after"],
                        "exit_code": 1, "stdout": ""}
        self.recorded = parse(FIXTURE_30["command"][1:])
        self.rec_doc = Path(self.recorded["args"][0])
        self.side_files({})
        return self.finish()


FIXTURE_30: dict[str, Any] = {}


def quarto_figures(markdown: str, fmt: str) -> str:
    """Figures as Quarto writes them (README points 7 and 8).

    A figure with a ``fig-`` id gets ``Figure N: <caption>``; its DOCX alt text is empty and
    its DOCX caption a one-cell table. HTML alt text comes only from ``fig-alt`` (a cell's
    ``fig-alt`` is the executor's ``alt=`` on ``figures/`` images); DOCX alt text only from
    ``alt=``, else the caption.
    """
    number = 0

    def one(match: re.Match[str]) -> str:
        nonlocal number
        caption, src, attrs = match["cap"], match["src"], match["attrs"] or ""
        ident = re.search(r"#(fig-[\w-]+)", attrs)
        pairs = dict(re.findall(r'([\w-]+)="((?:[^"\\]|\\.)*)"', attrs))
        from_cell = src.startswith("figures/")
        html_alt = pairs.get("fig-alt", pairs.get("alt") if from_cell else None)
        docx_alt = None if from_cell else pairs.get("alt")
        if ident:
            number += 1
            caption = f"Figure\u00a0{number}: {caption}" if caption else f"Figure\u00a0{number}"
            if fmt == "docx":
                return (f'![]({src}){{alt=""}}\n\n<table><tr><td>{caption}</td></tr></table>')
        keep = [f"#{ident.group(1)}"] if ident else []
        alt = html_alt if fmt == "html" else docx_alt
        if alt is not None:
            keep.append(f'alt="{alt}"')
        text = match.string
        alone = (match.start() == 0 or text[match.start() - 1] == "\n") and \
            text[match.end():match.end() + 1] in ("", "\n")
        if fmt == "html" and alt is None and alone:
            keep.append(f'{NO_ALT}="1"')  # a figure's HTML alt is fig-alt or none (61: L, M)
        made = f"![{caption}]({src})" + ("{" + " ".join(keep) + "}" if keep else "")
        if fmt == "html" and from_cell and not caption and alone:
            return f"<figure>\n\n{made}\n\n</figure>"  # a cell's image is a figure (60: J)
        return made

    def div(match: re.Match[str]) -> str:
        # a figure-labelled cell as one figure: with echo its code sits in the figure (16b)
        nonlocal number
        inner = match["inner"].strip()
        captioned = re.search(r"!\[[^\]]+\]\([^)\s]+\)(?:\{[^}]*\})?", inner)
        if captioned and not match["asis"]:
            return re.sub(image, one, inner)  # code outside, the figure numbered as usual
        number += 1
        # an asis figure shows "Figure N" alone, or "Figure N: " with echo on (11 vs 16b)
        colon = ":" + (SPACE_MARK if fmt == "docx" else "")
        label = f"Figure\u00a0{number}" + (colon if "```" in inner and match["asis"] else "")
        if fmt == "docx":
            return f"<table><tr><td>\n\n{inner}\n\n{label}\n\n</td></tr></table>"
        if fmt == "ipynb":  # the hidden code cell's empty block stays (70c: FirstParagraph)
            return f"<figure>\n\n{inner}\n\n</figure>\n\n{label}\n\n```\n```"
        return f"<figure>\n\n{inner}\n\n<figcaption>{label}</figcaption></figure>"

    image = r"!\[(?P<cap>[^\]]*)\]\((?P<src>[^)\s]+)\)(?:\{(?P<attrs>[^}]*)\})?"
    marked = (r"^::: \{#fig-[\w-]+ \.fake-quarto-fig(?P<asis> \.fake-quarto-asis)?\}\n"
              r"(?P<inner>.*?)^:::$")
    pattern = re.compile(f"(?P<div>{marked})|(?P<img>{image})", flags=re.S | re.M)
    return pattern.sub(lambda m: div(m) if m["div"] else one(m), markdown)


# --------------------------------------------------------------------------- Quarto's page
# What a reader sees that Quarto adds to the document, as the transcripts' visible_text and
# figures record it. Only what a transcript shows is made; anything else is left alone.

CALLOUT_TITLES = {"note": "Note"}  # the only callout type the transcripts show
FORMAT_NAMES = {"docx": "MS Word"}  # "Other Formats" link text (11, 12, 16b, 60-62)
NOTE_MARK = "FAKEQUARTOCALLOUTNOTE"
NO_ALT = "data-fake-quarto-no-alt"
ICON = "fake-quarto-callout-icon.png"  # the callout's icon drawing (14: 5 drawings)
SPACE_MARK = "FAKEQUARTOTRAILINGSPACE"  # 16b's DOCX caption "Figure 4: " keeps its space


@contextlib.contextmanager
def figure_divs(echo_default: bool) -> Iterator[None]:
    """A ``fig-`` labelled cell whose output is Markdown (``output: asis``) becomes a
    cross-referenced figure of its own: Quarto numbers it ("Figure 3", variant D in 11-17)
    without its ``fig-cap``. The executor is told by wrapping the cell in a marked div."""
    from evalkit.reporting import _fallback

    original = _fallback._parse

    def parse_marked(qmd: Path) -> tuple[dict[str, Any], list[Any]]:
        meta, blocks = original(qmd)
        out: list[Any] = []
        for block in blocks:
            options = getattr(block, "options", {})
            label = str(options.get("label", ""))
            asis = options.get("output") == "asis"
            execute = meta.get("execute") if isinstance(meta.get("execute"), dict) else {}
            echo = options.get("echo", execute.get("echo", echo_default))
            if isinstance(block, _fallback._Cell) and label.startswith("fig-") and (
                    asis or echo):
                kind = " .fake-quarto-asis" if asis else ""
                out.append(_fallback._Markdown(f"\n::: {{#{label} .fake-quarto-fig{kind}}}\n",
                                               block.line, False))
                out.append(block)
                out.append(_fallback._Markdown("\n:::\n", block.line, False))
            else:
                out.append(block)
        return meta, out

    _fallback._parse = parse_marked
    try:
        yield
    finally:
        _fallback._parse = original


def project_echo_off(root: Path) -> bool:
    """Whether the project file turns code echo off (the fixture project does; 16b has none)."""
    from evalkit.reporting import _fallback

    if not (root / "_quarto.yml").is_file():
        return False
    execute = _fallback._read_project(root / "_quarto.yml").get("execute") or {}
    return isinstance(execute, dict) and execute.get("echo") is False


def quarto_callouts(markdown: str, fmt: str) -> str:
    """Callouts get their title: HTML a "Note" header (11), DOCX a two-row table whose first
    row is "  Note" (14: ``tables`` ``[["  Note"], [<text>]]``)."""
    def one(match: re.Match[str]) -> str:
        kind, body = match["kind"], match["body"].strip("\n")
        if kind not in CALLOUT_TITLES:
            sys.stderr.write(f"fake quarto: no transcript shows a callout-{kind}\n")
            raise SystemExit(97)
        if fmt == "html":
            return (f"::: {{.callout-{kind}}}\n::: {{.callout-header}}\n{CALLOUT_TITLES[kind]}"
                    f"\n:::\n\n{body}\n:::")
        return (f'<table class="callout"><tr><td><img src="{ICON}" alt="" />{NOTE_MARK}</td>'
                f"</tr><tr><td>\n\n{body}\n\n</td></tr></table>")

    return re.sub(r"^::: \{\.callout-(?P<kind>\w+)\}\n(?P<body>.*?)^:::$", one, markdown,
                  flags=re.S | re.M)


def docx_callout_titles(docx: Path) -> None:
    """The callout table's title cell keeps its two leading spaces, as recorded (14)."""
    import zipfile

    with zipfile.ZipFile(docx) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    body = parts["word/document.xml"].decode("utf-8")
    if NOTE_MARK not in body and SPACE_MARK not in body:
        return
    body = re.sub(f"<w:t(?: [^>]*)?>([^<]*){SPACE_MARK}</w:t>",
                  r'<w:t xml:space="preserve">\1 </w:t>', body)
    body = re.sub(f"<w:t(?: [^>]*)?>{NOTE_MARK}</w:t>",
                  f'<w:t xml:space="preserve">  {CALLOUT_TITLES["note"]}</w:t>', body)
    parts["word/document.xml"] = body.encode("utf-8")
    with zipfile.ZipFile(docx, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def html_chrome(html: Path, meta: dict[str, Any], formats: list[str], stem: str) -> None:
    """Quarto's page before the title block: the table of contents under "Table of contents"
    when ``toc`` is on and there are headings (11, 12; none in 60-62), then "Other Formats"
    with a link per other format (``doc.docx``, 11, 16b)."""
    text = html.read_text(encoding="utf-8")
    nav = re.search(r'<nav id="TOC" role="doc-toc">(.*?)</nav>\s*', text, flags=re.S)
    toc = ""
    if nav is not None:
        text = text[: nav.start()] + text[nav.end():]
        if "<li>" in nav.group(1):
            toc = '<h2 id="toc-title">Table of contents</h2>\n' + nav.group(1)
    others = [f for f in formats if f != "html"]
    unknown = [f for f in others if f not in FORMAT_NAMES]
    if unknown:
        sys.stderr.write(f"fake quarto: no transcript shows an Other Formats link to {unknown}\n")
        raise SystemExit(97)
    if others:
        links = "".join(f'<li><a href="{stem}.{f}">{FORMAT_NAMES[f]}</a></li>' for f in others)
        toc += f'<div class="quarto-alternate-formats"><h2>Other Formats</h2><ul>{links}</ul></div>'
    if toc:
        block = f'<nav id="TOC" role="doc-toc">\n{toc}\n</nav>\n'
        at = text.find('<header id="title-block-header">')
        at = at if at >= 0 else text.find(">", text.find("<body")) + 1
        text = text[:at] + block + text[at:]
    text = re.sub(r"<img\b[^>]*>",
                  lambda m: re.sub(r'\s+(?:alt="[^"]*"|' + NO_ALT + r'="1")', "", m.group(0))
                  if NO_ALT in m.group(0) else m.group(0), text)
    html.write_text(text, encoding="utf-8")


def ipynb_markdown(markdown: str) -> str:
    """The Markdown of Quarto's .ipynb as 70b/70c show it: figure divs keep their number as
    text, a callout is a quotation under "Note", a table caption a paragraph after it."""
    markdown = quarto_figures(markdown, "ipynb")
    markdown = re.sub(r"^::: \{\.callout-note\}\n(.*?)^:::$",
                      lambda m: "> Note\n>\n" + "\n".join(
                          "> " + line if line else ">" for line in m.group(1).strip().split("\n")),
                      markdown, flags=re.S | re.M)
    return re.sub(r"^: (.+)$", r"\1", markdown, flags=re.M)


PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082")


def main(argv: list[str]) -> int:
    fixtures = load_fixtures()
    FIXTURE_30.update(fixtures["30"])
    opts = parse(argv)
    caps = capabilities(python_of(dict(os.environ))) if opts["sub"] in ("check", "render") \
        else set()
    current = shape(argv, caps, Path("_quarto.yml").is_file(), Path(".quarto").is_dir())
    fixture = match(current, fixtures)
    if fixture is None:
        readable = {k: sorted(v) if isinstance(v, frozenset) else v for k, v in current.items()}
        sys.stderr.write(f"fake quarto: no recorded transcript for {json.dumps(readable)}\n")
        return 97
    if os.environ.get("FAKE_QUARTO_LOG"):
        with open(os.environ["FAKE_QUARTO_LOG"], "a", encoding="utf-8") as log:
            log.write(json.dumps({"argv": argv, "cwd": os.getcwd(), "fixture": fixture["file"],
                                  "QUARTO_PYTHON": os.environ.get("QUARTO_PYTHON")}) + "\n")
    return Replay(argv, fixture).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
