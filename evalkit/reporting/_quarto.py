"""The Quarto engine: one ``quarto render`` per document, on a staged copy of its project.

Built from transcripts of a real Quarto 1.10.18 (``tests/quarto/fixtures/``, numbers below):

- The one call that writes HTML and Word with parameters and embedded resources is, from the
  project root, ``quarto render reports/X.qmd --output-dir OUT -M embed-resources:true
  --execute-params <absolute params.yml>`` with no ``--to``: Quarto renders every format of
  the format block (25). The outputs are at ``OUT/<document's folder>/<stem>.<ext>``; its
  ``Output created:`` line names only the first, so they are looked up on disk (17, 25).
- Never ``--output`` with embedded resources (10, 13: the output goes to the project root,
  ``X_files/`` stays beside the document and the embed step fails), never a comma list of
  formats in a project (16), never ``--execute-dir`` (26: images written by cells are lost).
- Parameters need papermill in the kernel's Python (20, 22), which is ``QUARTO_PYTHON`` or the
  first ``python`` on ``PATH`` (42) and needs nbformat (41) and ipykernel (40); ``quarto check``
  does not tell (02, 04), so the modules are imported before rendering.
- Everything Quarto says is on stderr, and the line that explains a failure is not the last:
  the ``ERROR:`` line comes before a stack trace (10, 53), a failing cell's exception before
  ``WARN: Error encountered when rendering files`` (30, 31).

Examples
--------
>>> quarto_error("Cell 1/1: 'x'...\\nERROR: Unknown format html,docx\\n\\nStack trace:\\n  at a")
'ERROR: Unknown format html,docx'
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from evalkit.errors import RenderError
from evalkit.reporting._render import (
    _ANSI,
    _FORMATS,
    _kernel_pythonpath,
    _read_project,
    _read_yaml,
    _run,
)

# Quarto's outputs, relative to the staged project root (fixture 25 used "out").
_OUT = "_evalkit_quarto_out"
# Names Quarto writes beside a document; never linked into the stage, or Quarto would write
# through the link into the source folder.
_QUARTO_WRITES = (
    "_files", ".html", ".docx", ".pdf", ".tex", ".md", ".ipynb", ".quarto_ipynb", ".knit.md",
    ".embed.ipynb",
)
_CELL = re.compile(r"^\s*Cell (?P<i>\d+)/(?P<n>\d+): '(?P<label>[^']*)'")
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b: .+")
_NAMED = re.compile(r"^[A-Za-z_][\w.]*: .+")


def render_quarto(
    quarto: str,
    qmd: Path,
    formats: list[str],
    work: Path,
    params: dict[str, Any],
    project_file: Path | None,
    deadline: float,
    timeout: float,
    *,
    title: str | None = None,
    reference: Path | None = None,
) -> list[Path]:
    """Render a staged copy of ``qmd`` to every format in one Quarto call; the files written."""
    env = {**os.environ, "PYTHONPATH": _kernel_pythonpath()}
    chosen = "QUARTO_PYTHON" if env.get("QUARTO_PYTHON") else "the Python evalkit runs in"
    if not env.get("QUARTO_PYTHON"):
        env["QUARTO_PYTHON"] = sys.executable
    need = ["nbformat", "ipykernel", *(["papermill"] if params else [])]
    _check_python(env["QUARTO_PYTHON"], chosen, tuple(need), env, qmd)

    stage, document = _stage(qmd, formats, work, project_file, title)
    cmd = [quarto, "render", document.as_posix(), "--output-dir", _OUT,
           "-M", "embed-resources:true"]
    if reference is not None and "docx" in formats:
        cmd += ["-M", f"reference-doc:{reference}"]
    if params:
        params_file = work / "params.yml"
        params_file.write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True),
                               encoding="utf-8")
        cmd += ["--execute-params", str(params_file)]
    proc = _run(cmd, stage, env, deadline, timeout, qmd, "quarto render")
    if proc.returncode != 0:
        raise RenderError(f"{qmd}: quarto render failed (exit {proc.returncode}): "
                          f"{quarto_error(proc.stderr + chr(10) + proc.stdout)}")
    built = []
    for fmt in formats:
        path = stage / _OUT / document.parent / f"{document.stem}.{_FORMATS[fmt]}"
        if not path.is_file():
            raise RenderError(f"{qmd}: quarto render exited 0 but wrote no "
                              f"{(document.parent / path.name).as_posix()} in its --output-dir")
        built.append(path)
    return built


def quarto_error(text: str) -> str:
    """The one line of Quarto's output that says why a render failed.

    In order: a failing cell's exception (with the cell's label and number), the first
    ``ERROR:`` line, a ``The ... package is required`` line, the last ``...Error:`` line,
    else the last line that is not a ``WARN:`` line.
    """
    lines = [line.strip() for line in _ANSI.sub("", text).splitlines()]
    lines = [line for line in lines if line and "Kernel is running over TCP" not in line]
    if "An error occurred while executing the following cell:" in lines:
        start = lines.index("An error occurred while executing the following cell:")
        cells = [m for m in map(_CELL.match, lines[:start]) if m]
        tail = lines[start + 1:]
        found = [x for x in tail if _EXCEPTION.match(x)] or [x for x in tail if _NAMED.match(x)]
        what = found[-1] if found else "an error"
        if cells:
            cell = cells[-1]
            name = f"cell {cell['label']!r} ({cell['i']} of {cell['n']})" if cell["label"] \
                else f"cell {cell['i']} of {cell['n']}"
            return f"{name} raised {what}"
        return f"a cell raised {what}"
    for line in lines:
        if line.startswith("ERROR:"):
            return line
    for line in lines:
        if re.match(r"^The \S+ package is required", line):
            return line
    errors = [line for line in lines if _EXCEPTION.match(line)]
    if errors:
        return errors[-1]
    rest = [line for line in lines if not line.startswith("WARN:")]
    return rest[-1] if rest else "Quarto printed no message"


def _check_python(python: str, chosen: str, modules: tuple[str, ...], env: dict[str, str],
                  qmd: Path) -> None:
    """Raise naming the modules Quarto's Python cannot import (fixtures 20, 22, 40, 41)."""
    missing = _missing_modules(python, modules, env.get("PYTHONPATH", ""))
    if isinstance(missing, str):
        raise RenderError(f"{qmd}: Quarto runs the cells with {python} ({chosen}), "
                          f"which cannot be run: {missing}")
    if missing:
        why = {"papermill": "papermill (Quarto needs it for the report's parameters)",
               "ipykernel": "ipykernel (the python3 kernel)",
               "nbformat": "nbformat (Jupyter)"}
        raise RenderError(
            f"{qmd}: Quarto runs the cells with {python} ({chosen}), which cannot import "
            + ", ".join(why.get(m, m) for m in missing)
            + f"; install {' '.join(missing)} there or set QUARTO_PYTHON to a Python that has "
            + ", ".join(modules)
        )


@functools.lru_cache(maxsize=16)
def _missing_modules(python: str, modules: tuple[str, ...], pythonpath: str) -> list[str] | str:
    """The modules ``python`` cannot import, or why it could not be run."""
    code = ("import importlib, json, sys\nmissing = []\nfor name in sys.argv[1:]:\n"
            "    try:\n        importlib.import_module(name)\n"
            "    except Exception:\n        missing.append(name)\nprint(json.dumps(missing))\n")
    env = {**os.environ, "PYTHONPATH": pythonpath}
    try:
        done = subprocess.run([python, "-c", code, *modules], capture_output=True, text=True,
                              timeout=120, check=False, env=env, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    try:
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return f"exit {done.returncode}: {(done.stderr.strip().splitlines() or [''])[-1]}"
    return [str(name) for name in found]


def _stage(qmd: Path, formats: list[str], work: Path, project_file: Path | None,
           title: str | None) -> tuple[Path, Path]:
    """A private copy of the project: the document, its project file and links to the rest.

    Returns the stage's root and the document's path relative to it. The format blocks list
    exactly ``formats`` (Quarto renders all of them when no ``--to`` is given, 25); the
    project's ``output-dir`` is dropped so outputs stay in the stage.
    """
    stage = work / "project"
    root = project_file.parent if project_file is not None else qmd.parent
    relative = qmd.relative_to(root)
    folder = stage / relative.parent
    folder.mkdir(parents=True)
    text = qmd.read_text(encoding="utf-8")
    (folder / qmd.name).write_text(_front_matter(text, qmd, formats, title), encoding="utf-8")
    skip = {qmd.name, "_quarto.yml", ".quarto", "_freeze", "_site", "_book", _OUT}
    config = _read_project(project_file) if project_file is not None else {}
    project = dict(config["project"]) if isinstance(config.get("project"), dict) else {}
    output_dir = project.pop("output-dir", None)
    if isinstance(output_dir, str) and Path(output_dir).parts:
        skip.add(Path(output_dir).parts[0])
    project.setdefault("type", "default")
    config["project"] = project
    config["format"] = _formats_block(config.get("format"), formats)
    (stage / "_quarto.yml").write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
    # Documents refer to images, data and includes beside them, and a project's options to
    # files at its root (css, bibliography, _extensions): link those into the stage.
    written = {f"{qmd.stem}{end}" for end in _QUARTO_WRITES}
    for entry in qmd.parent.iterdir():
        if entry.name not in skip and entry.name not in written:
            _link(entry, folder / entry.name)
    if root != qmd.parent:
        for entry in root.iterdir():
            if entry.name not in skip and (entry.is_file() or entry.name == "_extensions"):
                _link(entry, stage / entry.name)
    return stage, relative


def _front_matter(text: str, qmd: Path, formats: list[str], title: str | None) -> str:
    """The document with its title replaced and its own format block (if any) set to formats.

    A document's ``format:`` keys replace the project's list of formats, so it must list
    every format asked for.
    """
    match = re.match(r"\A---[ \t]*\n(.*?\n)---[ \t]*\n", text, re.S)
    meta = (_read_yaml(match.group(1), str(qmd)) or {}) if match else {}
    if not isinstance(meta, dict):
        raise RenderError(f"{qmd}: front matter must be a mapping")
    if title is None and "format" not in meta:
        return text
    if title is not None:
        meta["title"] = title
    if "format" in meta:
        meta["format"] = _formats_block(meta["format"], formats)
    head = "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"
    return head + (text[match.end():] if match else text)


def _formats_block(block: Any, formats: list[str]) -> dict[str, Any]:
    """A ``format:`` mapping with exactly ``formats``, keeping the options set for them.

    HTML gets ``format-links: false``: the outputs are renamed when delivered, so Quarto's
    "Other Formats" link to ``<stem>.docx`` would point nowhere (README point 11).
    """
    if isinstance(block, str):
        block = {block: "default"}
    elif isinstance(block, list):
        block = {str(name): "default" for name in block}
    elif not isinstance(block, dict):
        block = {}
    out: dict[str, Any] = {}
    for fmt in formats:
        options = block.get(fmt)
        options = dict(options) if isinstance(options, dict) else {}
        if fmt == "html":
            options.setdefault("format-links", False)
        out[fmt] = options or "default"
    return out


def _link(source: Path, target: Path) -> None:
    if target.exists() or target.is_symlink():
        return
    try:
        target.symlink_to(source, target_is_directory=source.is_dir())
    except OSError:  # no symlinks (some Windows setups): the document renders without it
        if source.is_file():
            shutil.copy2(source, target)
