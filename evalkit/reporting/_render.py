"""Render a Quarto report document (``.qmd``) to self-contained HTML or Word.

Two engines produce the same kind of result:

- ``"quarto"`` runs the Quarto CLI on a private copy of the document, so the report's
  folder is left untouched.
- ``"fallback"`` needs no Quarto: it reads the document's front matter and its
  ```` ```{python} ```` cells (with ``#|`` cell options), runs every cell in one Jupyter
  kernel through nbclient, assembles the results as Pandoc markdown and converts that with the
  Pandoc binary shipped by ``pypandoc-binary``. The HTML embeds its images and styles and
  loads nothing from the network.

The fallback's kernel is always this interpreter (``sys.executable -m ipykernel_launcher``,
from a private kernelspec, whatever kernelspecs the user has installed), started in the
document's folder with the inline matplotlib backend; its own output goes to a log that is
quoted only if it dies.

Examples
--------
>>> import dataclasses
>>> from evalkit.reporting._render import RenderedDocument
>>> [f.name for f in dataclasses.fields(RenderedDocument)]
['source', 'outputs', 'engine']
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import numbers
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from evalkit.errors import RenderError

__all__ = ["RenderedDocument", "quarto_available", "render_document"]

_FORMATS = {"html": "html", "docx": "docx", "pdf": "pdf"}
_DEFAULT_EXECUTE = {
    "echo": True,
    "eval": True,
    "output": True,
    "include": True,
    "warning": True,
    "error": False,
}
_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>.*?)\s*$")
_CELL_INFO = re.compile(r"^\{\s*(?P<lang>[A-Za-z][\w+-]*)[^}]*\}$")
_INLINE = re.compile(r"`\{python\}\s+(?P<expr>[^`\n]+?)\s*`")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_DIAGRAMS = {"mermaid", "dot"}
_QUARTO_WRITES = (
    "_files",
    ".html",
    ".docx",
    ".pdf",
    ".tex",
    ".md",
    ".ipynb",
    ".quarto_ipynb",
    ".knit.md",
    ".embed.ipynb",
)
_MIME_ORDER = (
    "image/svg+xml",
    "image/png",
    "image/jpeg",
    "text/markdown",
    "text/html",
    "text/latex",
    "text/plain",
)
_IMAGE_EXT = {"image/svg+xml": "svg", "image/png": "png", "image/jpeg": "jpg"}
# Run first in the kernel. Like Quarto's own setup it loads pyplot (inline backend, from
# MPLBACKEND) and registers the PNG formatter, so a figure shows even after a document's
# matplotlib.use("Agg"); figures still open after a cell are displayed and closed.
_SETUP_CODE = """\
def __evalkit_inline__(value):
    to_markdown = getattr(value, "_repr_markdown_", None)
    text = to_markdown() if callable(to_markdown) else None
    print(str(value) if text is None else text, end="")


def __evalkit_setup__(rc):
    shell = get_ipython()
    try:
        import matplotlib.pyplot as plt
        from IPython.core.pylabtools import select_figure_formats
    except ImportError:
        return
    plt.rcParams.update(rc)
    select_figure_formats(shell, {"png"}, bbox_inches="tight")

    def show_open_figures(result):
        from IPython.display import display

        for number in plt.get_fignums():
            figure = plt.figure(number)
            if figure is not getattr(result, "result", None):
                display(figure)
        plt.close("all")

    shell.events.register("post_run_cell", show_open_figures)


__evalkit_setup__(__EVALKIT_RC__)
del __evalkit_setup__
"""
_CSS = """\
<style>
body { max-width: 60em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em;
  font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #c8c8c8; padding: 0.25em 0.6em; vertical-align: top; }
thead th, table th { background: #f2f2f2; }
tbody tr:nth-child(even) { background: #fafafa; }
img { max-width: 100%; height: auto; }
figure { margin: 1.2em 0; }
figcaption { font-size: 0.9em; font-style: italic; }
pre.cell-output-stderr { color: #8a4b00; }
div[class^="callout"] { border-left: 4px solid #3a7bd5; background: #f4f8fd;
  padding: 0.4em 1em; margin: 1em 0; }
div.callout-warning, div.callout-caution { border-left-color: #e0a800; background: #fffaf0; }
div.callout-important { border-left-color: #c0392b; background: #fdf3f2; }
div.callout-tip { border-left-color: #2e8b57; background: #f2faf5; }
</style>
"""


@dataclass(frozen=True)
class RenderedDocument:
    """What :func:`render_document` produced.

    Attributes
    ----------
    source : Path
        The ``.qmd`` document that was rendered (absolute).
    outputs : tuple of Path
        The files written, one per requested format, in the order asked for.
    engine : {"quarto", "fallback"}
        Which engine rendered the document.

    Examples
    --------
    >>> from pathlib import Path
    >>> doc = RenderedDocument(Path("r.qmd"), (Path("out/r.html"),), "fallback")
    >>> doc.outputs[0].suffix
    '.html'
    """

    source: Path
    outputs: tuple[Path, ...]
    engine: Literal["quarto", "fallback"]


def quarto_available() -> str | None:
    """Return the path of the ``quarto`` CLI if it is on ``PATH``, else ``None``.

    Examples
    --------
    >>> path = quarto_available()
    >>> path is None or "quarto" in path
    True
    """
    return shutil.which("quarto")


def render_document(
    qmd: Path,
    *,
    output_dir: Path,
    params: dict | None = None,
    formats: Sequence[str] = ("html",),
    output_stem: str | None = None,
    engine: Literal["auto", "quarto", "fallback"] = "auto",
    project_dir: Path | None = None,
    timeout: float = 600,
    title: str | None = None,
    docx_reference: Path | None = None,
) -> RenderedDocument:
    """Execute a Quarto document and write it as self-contained HTML and/or Word files.

    All execution happens in a private temporary folder, so nothing is written beside the
    document; code cells run with the document's folder as working directory, as in Quarto.

    Parameters
    ----------
    qmd : Path
        The Quarto document.
    output_dir : Path
        Folder the outputs are written to (created if missing), as
        ``<output_stem>.<format>``; existing files of those names are replaced.
    params : dict, optional
        Values for the document's parameters (the cell tagged ``parameters``). Values must be
        strings, numbers, booleans, ``None``, paths, or lists and dicts of those.
    formats : sequence of {"html", "docx", "pdf"}
        Output formats. HTML embeds its images and styles and loads nothing from the network.
    output_stem : str, optional
        File name of the outputs without extension; defaults to the document's stem.
    engine : {"auto", "quarto", "fallback"}
        ``"auto"`` uses Quarto when :func:`quarto_available`, else the built-in fallback.
    project_dir : Path, optional
        Folder holding the Quarto project's ``_quarto.yml`` whose options apply to the
        document. By default the document's folder and its parents are searched, as Quarto
        does.
    title : str, optional
        Replaces the document's front-matter title (e.g. a site report titled with the
        site's name).
    docx_reference : Path, optional
        A Word file whose styles the DOCX output uses (pandoc's ``--reference-doc``; passed to
        Quarto as ``reference-doc``). It replaces a ``reference-doc`` the document sets.
    timeout : float
        Seconds allowed for the whole render.

    Returns
    -------
    RenderedDocument
        The document, the files written and the engine used.

    Raises
    ------
    RenderError
        If the document is missing or malformed, a cell raises (the message names the
        document, the cell's label or number, the line it starts on and the exception), a
        format is unsupported, Quarto or Pandoc fail, or the render times out.

    Notes
    -----
    The fallback engine understands the front matter keys ``title``, ``subtitle``,
    ``author``, ``date``, ``abstract``, ``lang``, ``toc``, ``toc-depth``, ``toc-title``,
    ``number-sections``, ``fig-width``, ``fig-height``, ``fig-dpi`` (top level or under
    ``format: html:``/``docx:``), ``execute`` (``echo``, ``eval``, ``output``, ``include``,
    ``warning``, ``error``) and ``params`` (defaults, overridden by ``params``); the same cell
    options per cell plus ``label``, ``tags``, ``fig-cap`` and ``fig-alt``; and inline
    ```` `{python} expr` ```` expressions. Parameters are injected in a cell right after the
    cell tagged ``parameters`` (at the top when there is none), as papermill and Quarto do.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> text = "---\\ntitle: Hello\\n---\\n\\n```{python}\\nprint(6 * 7)\\n```\\n"
    >>> _ = (folder / "hello.qmd").write_text(text)
    >>> doc = render_document(folder / "hello.qmd", output_dir=folder / "out", engine="fallback")
    >>> [path.name for path in doc.outputs], doc.engine
    (['hello.html'], 'fallback')
    >>> "42" in doc.outputs[0].read_text()
    True
    """
    qmd = Path(qmd)
    if not qmd.is_file():
        raise RenderError(f"report document not found: {qmd}")
    qmd = qmd.resolve()
    if engine not in ("auto", "quarto", "fallback"):
        raise RenderError(f"engine must be 'auto', 'quarto' or 'fallback', got {engine!r}")
    exts = _check_formats(formats)
    stem = qmd.stem if output_stem is None else output_stem
    if not stem or Path(stem).name != stem or stem in (".", ".."):
        raise RenderError(f"output_stem must be a plain file name, got {output_stem!r}")
    if not timeout > 0:
        raise RenderError(f"timeout must be a positive number of seconds, got {timeout!r}")
    values = {}
    for name, value in (params or {}).items():
        if not isinstance(name, str) or not name.isidentifier():
            raise RenderError(f"params: {name!r} is not a valid Python variable name")
        values[name] = _plain(value, f"params[{name!r}]")
    project_file = _project_file(qmd, project_dir)
    reference = None
    if docx_reference is not None:
        reference = Path(docx_reference).resolve()
        if not reference.is_file():
            raise RenderError(f"docx_reference: Word reference document not found: {reference}")
    quarto = quarto_available()
    if engine == "quarto" and quarto is None:
        raise RenderError(
            "engine='quarto' was asked for but the quarto CLI is not on PATH; "
            "install Quarto or use engine='fallback'"
        )
    used: Literal["quarto", "fallback"] = (
        "quarto" if quarto is not None and engine != "fallback" else "fallback"
    )
    deadline = time.monotonic() + timeout
    # PDF is printed from the self-contained HTML by headless Chromium, so the HTML is made
    # (and delivered, so the publish scan reads exactly what the PDF shows) whenever PDF is.
    base = [f for f in exts if f != "pdf"]
    if "pdf" in exts and "html" not in base:
        base.insert(0, "html")
    chromium = _chromium() if "pdf" in exts else None
    with tempfile.TemporaryDirectory(prefix="evalkit-render-", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        if quarto is not None and used == "quarto":
            built = _render_quarto(quarto, qmd, base, work, values, project_file, deadline, timeout,
                                   title, reference)
        else:
            built = _render_fallback(qmd, base, work, values, project_file, deadline, timeout,
                                     title, reference)
        made = dict(zip(base, built, strict=True))
        if chromium is not None:
            made["pdf"] = _print_pdf(chromium, made["html"], work, deadline)
        order = [*base, "pdf"] if "pdf" in exts else base
        outputs = tuple(
            _deliver(made[fmt], Path(output_dir), f"{stem}.{_FORMATS[fmt]}") for fmt in order
        )
    return RenderedDocument(source=qmd, outputs=outputs, engine=used)


# --------------------------------------------------------------------------- pdf


def _chromium() -> str:
    """Path of a headless-capable Chromium, or a RenderError saying how to get one."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    raise RenderError(
        "formats: 'pdf' is printed from the HTML with headless Chromium, which is not on "
        "PATH; install it (Debian: apt-get install chromium) or choose html,docx"
    )


def _print_pdf(chromium: str, html: Path, work: Path, deadline: float) -> Path:
    """Print a self-contained HTML file to PDF with headless Chromium."""
    out = work / "document.pdf"
    left = max(1.0, deadline - time.monotonic())
    cmd = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
           "--no-pdf-header-footer", f"--user-data-dir={work / 'chromium-profile'}",
           f"--print-to-pdf={out}", html.resolve().as_uri()]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=left, check=False)
    except subprocess.TimeoutExpired:
        raise RenderError(f"printing {html.name} to PDF timed out") from None
    if not out.is_file() or out.stat().st_size == 0:
        tail = (done.stderr or done.stdout or "").strip().splitlines()[-1:]
        raise RenderError(f"printing {html.name} to PDF with {chromium} failed "
                          f"(exit {done.returncode}){': ' + tail[0] if tail else ''}")
    return out


# --------------------------------------------------------------------------- checks


def _check_formats(formats: Sequence[str]) -> list[str]:
    if isinstance(formats, str):
        formats = [formats]
    out: list[str] = []
    for fmt in formats:
        if fmt not in _FORMATS:
            raise RenderError(
                f"formats: unsupported format {fmt!r}; supported are {sorted(_FORMATS)}"
            )
        if fmt not in out:
            out.append(fmt)
    if not out:
        raise RenderError("formats: at least one output format is needed, got none")
    return out


def _plain(value: Any, where: str) -> Any:
    """Convert a parameter value to plain YAML/JSON-like data, or raise naming it."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise RenderError(f"{where}: dict keys must be strings, got {key!r}")
            out[key] = _plain(item, f"{where}[{key!r}]")
        return out
    raise RenderError(
        f"{where}: expected a string, number, bool, None, path, list or dict, "
        f"got {type(value).__name__}"
    )


def _py_literal(value: Any) -> str:
    """Python source for a plain value (see :func:`_plain`)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, list):
        return "[" + ", ".join(_py_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_py_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _project_file(qmd: Path, project_dir: Path | None) -> Path | None:
    if project_dir is not None:
        found = Path(project_dir).resolve() / "_quarto.yml"
        if not found.is_file():
            raise RenderError(f"project_dir: no _quarto.yml in {project_dir}")
        if not qmd.is_relative_to(found.parent):
            raise RenderError(f"project_dir: {qmd} is not inside the project {project_dir}")
        return found
    for folder in qmd.parents:
        if (folder / "_quarto.yml").is_file():
            return folder / "_quarto.yml"
    return None


def _read_yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RenderError(f"{where}: invalid YAML: {exc}") from None


def _deliver(built: Path, output_dir: Path, name: str) -> Path:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        target = output_dir.resolve() / name
        partial = target.with_name(f".{name}.partial")
        shutil.copyfile(built, partial)
        os.replace(partial, target)
    except OSError as exc:
        raise RenderError(f"output_dir: cannot write {name} into {output_dir}: {exc}") from None
    return target


def _run(
    cmd: list[str],
    cwd: Path,
    env: dict[str, str] | None,
    deadline: float,
    timeout: float,
    qmd: Path,
    what: str,
) -> subprocess.CompletedProcess[str]:
    """Run a command quietly; on timeout kill it and everything it started (e.g. kernels)."""
    with subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=os.name == "posix",
    ) as proc:
        try:
            out, err = proc.communicate(timeout=_remaining(deadline, timeout, qmd))
        except subprocess.TimeoutExpired:
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.communicate()
            raise RenderError(f"{qmd}: {what} took longer than timeout={timeout:g} s") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _tail(text: str, lines: int = 15) -> str:
    kept = [line for line in _ANSI.sub("", text).strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def _remaining(deadline: float, timeout: float, qmd: Path) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise RenderError(f"{qmd}: rendering took longer than timeout={timeout:g} s")
    return left


# --------------------------------------------------------------------------- quarto


def _render_quarto(
    quarto: str,
    qmd: Path,
    formats: list[str],
    work: Path,
    params: dict[str, Any],
    project_file: Path | None,
    deadline: float,
    timeout: float,
    title: str | None = None,
    reference: Path | None = None,
) -> list[Path]:
    """Render a private copy of ``qmd`` (and its project file) with the Quarto CLI."""
    stage = work / "project"
    root = project_file.parent if project_file is not None else qmd.parent
    relative = qmd.parent.relative_to(root)
    folder = stage / relative
    folder.mkdir(parents=True)
    staged = folder / qmd.name
    shutil.copyfile(qmd, staged)
    if title is not None:
        staged.write_text(_retitle(qmd.read_text(encoding="utf-8"), title, qmd), "utf-8")
    skip = {qmd.name, "_quarto.yml", ".quarto", "_freeze", "_site", "_book"}
    if project_file is not None:
        config = _read_project(project_file)
        # Outputs land beside the staged copy, never in a (linked) project output folder.
        project = dict(config["project"]) if isinstance(config.get("project"), dict) else {}
        output_dir = project.pop("output-dir", None)
        if isinstance(output_dir, str) and Path(output_dir).parts:
            skip.add(Path(output_dir).parts[0])
        config["project"] = project
        (stage / "_quarto.yml").write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
    # Documents refer to images, data and includes beside them, and a project's options to
    # files at its root (css, bibliography, _extensions): link those into the stage.
    # Never link a name quarto writes: it would write through the link into the source folder.
    written = {f"{qmd.stem}{end}" for end in _QUARTO_WRITES}
    for entry in qmd.parent.iterdir():
        if entry.name not in skip and entry.name not in written:
            _link(entry, folder / entry.name)
    if root != qmd.parent:
        for entry in root.iterdir():
            if entry.name not in skip and (entry.is_file() or entry.name == "_extensions"):
                _link(entry, stage / entry.name)
    args_common = ["--execute-dir", str(qmd.parent)]
    if params:
        params_file = work / "params.yml"
        params_file.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
        args_common += ["--execute-params", str(params_file)]
    env = {**os.environ, "QUARTO_PYTHON": sys.executable, "PYTHONPATH": _kernel_pythonpath()}
    built = []
    for fmt in formats:
        name = f"{qmd.stem}.{_FORMATS[fmt]}"
        cmd = [quarto, "render", str(staged), "--to", fmt, "--output", name, *args_common]
        if fmt == "html":
            cmd += ["-M", "embed-resources:true"]
        if fmt == "docx" and reference is not None:
            cmd += ["-M", f"reference-doc:{reference}"]
        proc = _run(cmd, stage, env, deadline, timeout, qmd, "quarto render")
        if proc.returncode != 0:
            raise RenderError(
                f"{qmd}: quarto render --to {fmt} failed (exit {proc.returncode}):\n"
                + _tail(proc.stderr + "\n" + proc.stdout)
            )
        found = [
            Path(top) / name
            for top, _dirs, files in os.walk(stage)
            if name in files and not Path(top, name).is_symlink()
        ]
        if not found:
            raise RenderError(
                f"{qmd}: quarto render --to {fmt} reported success but wrote no {name}"
            )
        built.append(max(found, key=lambda p: p.stat().st_mtime))
    return built


def _link(source: Path, target: Path) -> None:
    if target.exists() or target.is_symlink():
        return
    try:
        target.symlink_to(source, target_is_directory=source.is_dir())
    except OSError:  # no symlinks (some Windows setups): the document renders without it
        return


# --------------------------------------------------------------------------- fallback: parse


@dataclass
class _Markdown:
    text: str
    line: int  # 1-based line in the qmd where the text starts
    scan: bool  # whether inline `{python}` expressions are evaluated in it
    inline: list[tuple[re.Match[str], int]] = field(default_factory=list)  # match, nb index


@dataclass
class _Cell:
    number: int  # 1-based among the document's python cells
    line: int  # 1-based line of the opening fence
    code: str  # without the #| option lines
    source: str  # the whole cell as written, for echo: fenced
    options: dict[str, Any]
    first_code_line: int  # 1-based qmd line of the first line of ``code``
    index: int | None = None  # notebook cell index once scheduled

    def describe(self) -> str:
        label = self.options.get("label")
        where = f"python cell {self.number}, starting on line {self.line}"
        return f"cell {label!r} ({where})" if label else where


def _parse(qmd: Path) -> tuple[dict[str, Any], list[_Markdown | _Cell]]:
    try:
        text = qmd.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RenderError(f"{qmd}: cannot read the document as UTF-8 text: {exc}") from None
    lines = text.splitlines()
    meta: dict[str, Any] = {}
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    if start < len(lines) - 1 and lines[start].rstrip() == "---" and lines[start + 1].strip():
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].rstrip() in ("---", "...")),
            None,
        )
        if end is None:
            raise RenderError(f"{qmd}: the front matter on line {start + 1} is never closed")
        loaded = _read_yaml("\n".join(lines[start + 1 : end]), f"{qmd}: front matter")
        if loaded is not None and not isinstance(loaded, dict):
            raise RenderError(f"{qmd}: front matter must be a mapping of keys, got {loaded!r}")
        meta = loaded or {}
        start = end + 1

    blocks: list[_Markdown | _Cell] = []
    pending: list[str] = []
    pending_line = start + 1

    def flush(next_line: int) -> None:
        nonlocal pending, pending_line
        if any(row.strip() for row in pending):
            blocks.append(_Markdown("\n".join(pending), pending_line, scan=True))
        pending, pending_line = [], next_line

    i = start
    number = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            pending.append(lines[i])
            i += 1
            continue
        fence, info = match["fence"], match["info"]
        end = i + 1
        while end < len(lines) and not _closes(lines[end], fence):
            end += 1
        body = lines[i + 1 : end]
        cell = _CELL_INFO.match(info)
        if cell is None:  # an ordinary fenced code or raw block: keep verbatim
            flush(i + 1)
            blocks.append(_Markdown("\n".join(lines[i : end + 1]), i + 1, scan=False))
            pending_line = end + 2
            i = end + 1
            continue
        lang = cell["lang"].lower()
        if end >= len(lines):
            raise RenderError(
                f"{qmd}: the {{{lang}}} cell starting on line {i + 1} is never closed"
            )
        flush(end + 2)
        if lang in _DIAGRAMS:
            blocks.append(
                _Markdown(f"{fence}{{.{lang}}}\n" + "\n".join(body) + f"\n{fence}", i + 1, False)
            )
        elif lang in ("python", "python3"):
            number += 1
            blocks.append(_make_cell(qmd, number, i + 1, body, lines[i : end + 1]))
        else:
            raise RenderError(
                f"{qmd}: line {i + 1}: the fallback engine runs only python cells, found a "
                f"{{{lang}}} cell; install Quarto to render it"
            )
        i = end + 1
    flush(len(lines) + 1)
    return meta, blocks


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return (
        len(line) - len(line.lstrip(" ")) <= 3
        and stripped.startswith(fence[0] * len(fence))
        and set(stripped) == {fence[0]}
    )


def _make_cell(qmd: Path, number: int, line: int, body: list[str], whole: list[str]) -> _Cell:
    count = 0
    while count < len(body) and body[count].startswith("#|"):
        count += 1
    option_text = "\n".join(row[2:].removeprefix(" ") for row in body[:count])
    options = _read_yaml(option_text, f"{qmd}: options of the cell on line {line}") or {}
    if not isinstance(options, dict):
        raise RenderError(
            f"{qmd}: the #| options of the cell on line {line} must be 'key: value' lines"
        )
    lead = count
    while lead < len(body) and not body[lead].strip():
        lead += 1
    code = "\n".join(body[lead:]).rstrip()
    return _Cell(number, line, code, "\n".join(whole), options, line + 1 + lead)


# --------------------------------------------------------------------------- fallback: run


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_project(project_file: Path) -> dict[str, Any]:
    """The project's ``_quarto.yml`` as a mapping, or a RenderError naming the file."""
    config = _read_yaml(project_file.read_text(encoding="utf-8"), str(project_file)) or {}
    if not isinstance(config, dict):
        raise RenderError(f"{project_file}: expected a mapping at the top level")
    return config


def _retitle(text: str, title: str, qmd: Path) -> str:
    """The document text with its front-matter title replaced (front matter added if none)."""
    match = re.match(r"\A---[ \t]*\n(.*?\n)---[ \t]*\n", text, re.S)
    meta = (_read_yaml(match.group(1), str(qmd)) or {}) if match else {}
    if not isinstance(meta, dict):
        raise RenderError(f"{qmd}: front matter must be a mapping")
    meta["title"] = title
    head = "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"
    return head + (text[match.end():] if match else text)


def _format_options(meta: dict[str, Any], fmt: str) -> dict[str, Any]:
    """Top-level options overlaid with those under ``format: <fmt>:``."""
    spec = meta.get("format")
    specific = spec.get(fmt) if isinstance(spec, dict) else None
    return {**meta, **specific} if isinstance(specific, dict) else dict(meta)


def _render_fallback(
    qmd: Path,
    formats: list[str],
    work: Path,
    params: dict[str, Any],
    project_file: Path | None,
    deadline: float,
    timeout: float,
    title: str | None = None,
    reference: Path | None = None,
) -> list[Path]:
    meta, blocks = _parse(qmd)
    if title is not None:
        meta = {**meta, "title": title}
    if project_file is not None:
        project = _read_project(project_file)
        project.pop("project", None)
        meta = _deep_merge(project, meta)
    defaults = meta.get("params") or {}
    if not isinstance(defaults, dict):
        raise RenderError(f"{qmd}: front matter 'params' must be a mapping, got {defaults!r}")
    values = {**{k: _plain(v, f"{qmd}: params.{k}") for k, v in defaults.items()}, **params}
    execute = meta.get("execute")
    if not isinstance(execute, dict):
        execute = {}
    run_defaults = {**_DEFAULT_EXECUTE, **execute}
    first = _format_options(meta, formats[0])

    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    roles: list[Any] = []

    def schedule(code: str, role: Any, allow_error: bool = False) -> int:
        cell = nbformat.v4.new_code_cell(code)
        if allow_error:
            cell.metadata["tags"] = ["raises-exception"]
        nb.cells.append(cell)
        roles.append(role)
        return len(nb.cells) - 1

    rc: dict[str, Any] = {}
    try:
        if "fig-width" in first or "fig-height" in first:
            size = float(first.get("fig-width", 6.4)), float(first.get("fig-height", 4.8))
            rc["figure.figsize"] = size
        if "fig-dpi" in first:
            rc["figure.dpi"] = float(first["fig-dpi"])
    except (TypeError, ValueError):
        raise RenderError(f"{qmd}: fig-width, fig-height and fig-dpi must be numbers") from None
    setup = _SETUP_CODE.replace("__EVALKIT_RC__", repr(rc))
    schedule(setup, "setup")
    cells = [b for b in blocks if isinstance(b, _Cell)]
    injected = "\n".join(f"{k} = {_py_literal(v)}" for k, v in values.items())
    if injected and not any(_is_parameters(c) for c in cells):
        schedule(injected, "parameters")
        injected = ""
    for block in blocks:
        if isinstance(block, _Markdown):
            if block.scan:
                for match in _INLINE.finditer(block.text):
                    index = schedule(f"__evalkit_inline__({match['expr']})", (block, match))
                    block.inline.append((match, index))
            continue
        opts = {**run_defaults, **block.options}
        if opts.get("eval") is not False:
            block.index = schedule(block.code, block, allow_error=opts.get("error") is True)
        if injected and _is_parameters(block):
            schedule(injected, "parameters")
            injected = ""  # once, after the first parameters cell

    _execute(nb, roles, qmd, work, deadline, timeout)

    figures = work / "figures"
    figures.mkdir()
    parts = []
    for block in blocks:
        if isinstance(block, _Markdown):
            parts.append(_fill_inline(block, nb))
        else:
            opts = {**run_defaults, **block.options}
            outputs = nb.cells[block.index].outputs if block.index is not None else []
            parts.append(_cell_markdown(block, opts, outputs, figures))
    (work / "document.md").write_text("\n\n".join(p for p in parts if p) + "\n", "utf-8")
    return [
        _pandoc_convert(qmd, work, meta, fmt, deadline, timeout, reference) for fmt in formats
    ]


def _is_parameters(cell: _Cell) -> bool:
    tags = cell.options.get("tags") or []
    return "parameters" in ([tags] if isinstance(tags, str) else tags)


def _execute(
    nb: Any, roles: list[Any], qmd: Path, work: Path, deadline: float, timeout: float
) -> None:
    """Run every notebook cell in one python3 kernel of this interpreter, cwd = qmd's folder."""
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    # A private kernelspec, so the kernel is this interpreter whatever specs the user has.
    spec = work / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [
        sys.executable,
        "-Xfrozen_modules=off",
        "-m",
        "ipykernel_launcher",
        "-f",
        "{connection_file}",
    ]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "Python 3 (evalkit)", "language": "python"}),
        encoding="utf-8",
    )
    manager = AsyncKernelManager(
        kernel_name="python3",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent)]),
        connection_file=str(work / "kernel-connection.json"),
    )
    client = NotebookClient(
        nb,
        km=manager,
        kernel_name="python3",
        timeout=int(timeout) + 1,
        allow_errors=False,
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(qmd.parent)}},
    )
    env = {
        **os.environ,
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "PYTHONPATH": _kernel_pythonpath(),
    }
    log_path = work / "kernel.log"
    current, started = 0, False
    with log_path.open("w", encoding="utf-8") as log:
        try:
            # cleanup_kc: we pass our own kernel manager, so nbclient would otherwise leave the
            # kernel running (and its channels open) after the document is done.
            with client.setup_kernel(env=env, stdout=log, stderr=log, cleanup_kc=True):
                started = True
                for current, cell in enumerate(nb.cells):
                    client.timeout = max(1, math.ceil(_remaining(deadline, timeout, qmd)))
                    client.execute_cell(cell, current)
        except CellTimeoutError:
            raise RenderError(
                f"{qmd}: {_describe(roles[current])} did not finish within timeout={timeout:g} s"
            ) from None
        except CellExecutionError as exc:
            raise RenderError(_error_message(qmd, roles[current], nb.cells[current], exc)) from None
        except (DeadKernelError, RuntimeError, TimeoutError, OSError) as exc:
            log.flush()
            logged = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
            detail = _tail("\n".join(x for x in logged if "without encryption" not in x), 8)
            what = f"stopped while running {_describe(roles[current])}" if started else "failed"
            raise RenderError(
                f"{qmd}: the python kernel ({sys.executable} -m ipykernel_launcher) {what}: "
                f"{exc}" + (f"\n{detail}" if detail else "")
            ) from None


def _kernel_pythonpath() -> str:
    """PYTHONPATH for the kernel: the caller's, plus the folder this evalkit was imported from.

    Reports ``import evalkit``; from a source checkout that is not installed, the kernel
    (whose working directory is the report's folder) would not find it otherwise. A
    site-packages folder is never added, so it cannot shadow the standard library.
    """
    import site

    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    root = Path(__file__).resolve().parents[2]
    installed = {Path(p).resolve() for p in [*site.getsitepackages(), site.getusersitepackages()]}
    if root not in installed and str(root) not in parts:
        parts.append(str(root))
    return os.pathsep.join(parts)


def _describe(role: Any) -> str:
    if isinstance(role, _Cell):
        return role.describe()
    if isinstance(role, tuple):
        block, match = role
        line = block.line + block.text[: match.start()].count("\n")
        return f"the inline expression `{{python}} {match['expr']}` on line {line}"
    if role == "parameters":
        return "the injected parameters cell"
    return "the renderer's setup cell"


def _error_message(qmd: Path, role: Any, cell: Any, exc: Any) -> str:
    ename, evalue = getattr(exc, "ename", "Error"), getattr(exc, "evalue", "")
    where = ""
    if isinstance(role, _Cell):
        count = cell.get("execution_count")
        for output in cell.get("outputs", []):
            for frame in output.get("traceback", []):
                found = re.search(rf"Cell In\[{count}\], line (\d+)", _ANSI.sub("", frame))
                if found:
                    where = f" (at line {role.first_code_line + int(found.group(1)) - 1})"
                    break
            if where:
                break
    return f"{qmd}: {_describe(role)} raised {ename}: {evalue}{where}"


# --------------------------------------------------------------------------- fallback: assemble


def _fence(text: str, info: str) -> str:
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text}\n{ticks}"


def _attr(value: Any) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fill_inline(block: _Markdown, nb: Any) -> str:
    text, shift = block.text, 0
    for match, index in block.inline:
        value = "".join(
            o.get("text", "") for o in nb.cells[index].outputs if o.get("name") == "stdout"
        )
        text = text[: match.start() + shift] + value + text[match.end() + shift :]
        shift += len(value) - (match.end() - match.start())
    return text


def _cell_markdown(cell: _Cell, opts: dict[str, Any], outputs: list[Any], figures: Path) -> str:
    if opts.get("include") is False:
        return ""
    parts = []
    echo = opts.get("echo")
    if echo == "fenced":
        parts.append(_fence(cell.source, "{.markdown .cell-code}"))
    elif echo is not False and cell.code.strip():
        parts.append(_fence(cell.code, "{.python .cell-code}"))
    show = opts.get("output", True)
    if show is False:
        return "\n\n".join(parts)
    asis = show == "asis"
    merged: list[dict[str, Any]] = []
    for output in outputs:
        if (
            output.get("output_type") == "stream"
            and merged
            and merged[-1].get("name") == output.get("name")
        ):
            merged[-1] = {**merged[-1], "text": merged[-1]["text"] + output["text"]}
        else:
            merged.append(dict(output))
    images = 0
    for output in merged:
        kind = output.get("output_type")
        if kind == "stream":
            text = output.get("text", "")
            if output.get("name") == "stderr":
                if opts.get("warning") is not False and text.strip():
                    parts.append(_fence(text.rstrip("\n"), "{.cell-output .cell-output-stderr}"))
            elif asis:
                parts.append(text.strip("\n"))
            elif text.strip():
                parts.append(_fence(text.rstrip("\n"), "{.cell-output .cell-output-stdout}"))
        elif kind == "error":
            trace = _ANSI.sub("", "\n".join(output.get("traceback", [])))
            parts.append(_fence(trace.strip("\n"), "{.cell-output .cell-output-error}"))
        elif kind in ("display_data", "execute_result"):
            data = output.get("data", {})
            mime = next((m for m in _MIME_ORDER if m in data), None)
            if mime is None:
                continue
            content = data[mime]
            if isinstance(content, list):
                content = "".join(content)
            if mime in _IMAGE_EXT:
                images += 1
                parts.append(_image(cell, opts, mime, content, images, figures))
            elif mime in ("text/markdown", "text/latex"):
                parts.append(content.strip("\n"))
            elif mime == "text/html":
                parts.append(_fence(content.strip("\n"), "{=html}"))
            elif content.strip():
                parts.append(_fence(content.rstrip("\n"), "{.cell-output .cell-output-display}"))
    return "\n\n".join(parts)


def _pick(value: Any, position: int) -> Any:
    if isinstance(value, list):
        return value[position - 1] if position <= len(value) else None
    return value if position == 1 else None


def _image(
    cell: _Cell, opts: dict[str, Any], mime: str, content: str, position: int, figures: Path
) -> str:
    path = figures / f"cell-{cell.number}-{position}.{_IMAGE_EXT[mime]}"
    if mime == "image/svg+xml":
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(base64.b64decode(content))
    caption = _pick(opts.get("fig-cap"), position)
    alt = _pick(opts.get("fig-alt"), position)
    attrs = []
    label = opts.get("label")
    if position == 1 and isinstance(label, str) and label.startswith("fig-"):
        attrs.append(f"#{label}")
    if alt is not None:
        attrs.append(f"alt={_attr(alt)}")
    suffix = "{" + " ".join(attrs) + "}" if attrs else ""
    caption_text = "" if caption is None else str(caption).replace("\n", " ")
    return f"![{caption_text}]({path.relative_to(figures.parent).as_posix()}){suffix}"


# --------------------------------------------------------------------------- fallback: pandoc


def _metadata(meta: dict[str, Any], opts: dict[str, Any], qmd: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("title", "subtitle", "abstract", "lang", "toc-title"):
        if opts.get(key) is not None:
            out[key] = str(opts[key])
    authors = meta.get("author")
    if authors is not None:
        names = []
        for author in authors if isinstance(authors, list) else [authors]:
            name = author.get("name") if isinstance(author, dict) else author
            if isinstance(name, dict):
                name = " ".join(str(name[k]) for k in ("given", "family") if name.get(k))
            if name:
                names.append(str(name))
        out["author"] = names
    date = meta.get("date")
    if date == "today":
        date = dt.date.today().isoformat()
    elif date == "now":
        date = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    elif date == "last-modified":
        date = dt.date.fromtimestamp(qmd.stat().st_mtime).isoformat()
    if date is not None:
        out["date"] = date.isoformat() if isinstance(date, dt.date) else str(date)
    if "title" not in out:
        out["pagetitle"] = qmd.stem
    return out


def _pandoc_convert(
    qmd: Path,
    work: Path,
    meta: dict[str, Any],
    fmt: str,
    deadline: float,
    timeout: float,
    docx_reference: Path | None = None,
) -> Path:
    opts = _format_options(meta, fmt)
    meta_file = work / f"metadata-{fmt}.yml"
    meta_file.write_text(
        yaml.safe_dump(_metadata(meta, opts, qmd), sort_keys=False, allow_unicode=True), "utf-8"
    )
    common = [
        "--metadata-file",
        str(meta_file),
        "--resource-path",
        os.pathsep.join([".", str(qmd.parent)]),
    ]
    if opts.get("toc") or opts.get("table-of-contents"):
        common += ["--toc", f"--toc-depth={int(opts.get('toc-depth', 3))}"]
    if opts.get("number-sections"):
        common.append("--number-sections")
    out = work / f"document.{_FORMATS[fmt]}"
    if fmt == "html":
        (work / "style.html").write_text(_CSS, encoding="utf-8")
        args = ["document.md", "-f", "markdown", "-t", "html5", "--standalone", "--embed-resources"]
        args.append("--wrap=none")
        args += ["--mathml", "--include-in-header", "style.html", *common]
        css = opts.get("css")
        for sheet in [css] if isinstance(css, str) else css or []:
            args += ["--css", str((qmd.parent / sheet).resolve())]
        _pandoc([*args, "-o", out.name], work, qmd, deadline, timeout)
    else:
        # Via HTML, so raw HTML tables from cells (pandas, great_tables) become Word tables.
        _pandoc(
            ["document.md", "-f", "markdown", "-t", "html5", "-o", "body.html"],
            work,
            qmd,
            deadline,
            timeout,
        )
        args = ["body.html", "-f", "html", "-t", "docx", *common]
        reference = opts.get("reference-doc")
        if docx_reference is not None:
            args += ["--reference-doc", str(docx_reference)]
        elif reference:
            args += ["--reference-doc", str((qmd.parent / str(reference)).resolve())]
        _pandoc([*args, "-o", out.name], work, qmd, deadline, timeout)
    return out


def _pandoc(args: list[str], cwd: Path, qmd: Path, deadline: float, timeout: float) -> None:
    try:
        import pypandoc

        exe = pypandoc.get_pandoc_path()
    except (ImportError, OSError) as exc:
        raise RenderError(
            f"{qmd}: pandoc is not available (install pypandoc-binary): {exc}"
        ) from None
    proc = _run([exe, *args], cwd, None, deadline, timeout, qmd, "pandoc")
    if proc.returncode != 0:
        raise RenderError(f"{qmd}: pandoc failed (exit {proc.returncode}):\n{_tail(proc.stderr)}")
