"""The fallback engine: run a ``.qmd``'s Python cells in a Jupyter kernel, convert with pandoc.

It needs no Quarto: it reads the document's front matter and its ```` ```{python} ```` cells
(with ``#|`` cell options), runs every cell in one Jupyter kernel through nbclient, assembles
the results as Pandoc markdown and converts that with the Pandoc binary shipped by
``pypandoc-binary``. The HTML embeds its images and a stylesheet close to Quarto's default
theme, and loads nothing from the network.

The kernel is always this interpreter (``sys.executable -m ipykernel_launcher``, from a
private kernelspec, whatever kernelspecs the user has installed), started in the document's
folder with the inline matplotlib backend; its own output goes to a log that is quoted only
if it dies. Each document gets a kernel of its own, never shared; it may have been started
ahead of need (:mod:`evalkit.reporting._kernels`, as ``evalkit demo`` does while it
analyses), which changes when the kernel started, not what it runs.
Pictures a cell prints as ``data:`` URIs in Markdown (``figure_markdown``) are handed to
pandoc as files: the outputs are the same, and pandoc's Markdown reader is spared hundreds
of kilobytes of base64 text.

It understands the front matter keys ``title``, ``subtitle``,
``author``, ``date``, ``abstract``, ``lang``, ``toc``, ``toc-depth``, ``toc-title``,
``number-sections``, ``fig-width``, ``fig-height``, ``fig-dpi`` (top level or under
``format: html:``/``docx:``), ``execute`` (``echo``, ``eval``, ``output``, ``include``,
``warning``, ``error``) and ``params`` (defaults, overridden by ``params``); the same cell
options per cell plus ``label``, ``tags``, ``fig-cap`` and ``fig-alt``; and inline
```` `{python} expr` ```` expressions. Parameters are injected in a cell right after the
cell tagged ``parameters`` (at the top when there is none), as papermill and Quarto do.

Examples
--------
>>> from evalkit.reporting._fallback import _fence
>>> print(_fence("x = 1", "{.python}"))
```{.python}
x = 1
```
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evalkit.errors import RenderError
from evalkit.reporting._render import (
    _ANSI,
    _FORMATS,
    _plain,
    _read_project,
    _read_yaml,
    _remaining,
    _run,
)

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
_DIAGRAMS = {"mermaid", "dot"}
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


def __evalkit_setup__(rc, show):
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

    if show:
        shell.events.register("post_run_cell", show_open_figures)


__evalkit_setup__(__EVALKIT_RC__, __EVALKIT_SHOW__)
del __evalkit_setup__
"""
# Close to Quarto's default HTML theme (Bootstrap 5 base): the system sans-serif stack, a
# centred column of readable width, light table rules, muted captions, callouts with a
# coloured left rule. Self-contained: no web fonts, nothing fetched.
_CSS = """\
<style>
html { font-size: 17px; -webkit-text-size-adjust: 100%; }
body { margin: 0 auto; max-width: 50rem; padding: 2rem 1.5rem 4rem; color: #212529;
  background: #fff; line-height: 1.5;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans",
    "Liberation Sans", Arial, sans-serif; }
h1, h2, h3, h4, h5, h6 { font-weight: 500; line-height: 1.2; margin: 1.6rem 0 0.6rem; }
h1.title { font-size: 2.1rem; margin-top: 0.5rem; }
h2 { font-size: 1.6rem; padding-bottom: 0.3rem; border-bottom: 1px solid #dee2e6; }
h3 { font-size: 1.3rem; }
p.subtitle { font-size: 1.25rem; color: #6c757d; margin-top: 0; }
p.author, p.date { color: #6c757d; margin: 0.2rem 0; }
a { color: #0d6efd; }
header#title-block-header { margin-bottom: 1.5rem; }
nav#TOC { font-size: 0.9rem; border-left: 1px solid #dee2e6; padding-left: 0.8rem;
  margin: 1rem 0 2rem; }
nav#TOC ul { list-style: none; padding-left: 0.8rem; margin: 0.2rem 0; }
nav#TOC > ul { padding-left: 0; }
nav#TOC a { color: #595959; text-decoration: none; }
table { border-collapse: collapse; margin: 1rem 0 1.5rem; font-size: 0.9rem;
  font-variant-numeric: tabular-nums; }
th, td { padding: 0.3rem 0.6rem; border: 0; border-bottom: 1px solid #dee2e6;
  vertical-align: top; text-align: left; }
thead th, thead td { border-bottom: 2px solid #6c757d; font-weight: 600; }
tbody tr:last-child td { border-bottom: 1px solid #6c757d; }
caption, figcaption { color: #6c757d; font-size: 0.9rem; text-align: left;
  caption-side: top; padding: 0.3rem 0; }
img { max-width: 100%; height: auto; }
figure { margin: 1.5rem 0; }
figcaption { margin-top: 0.4rem; }
code, pre { font-family: SFMono-Regular, Menlo, Monaco, Consolas, "Liberation Mono",
  "Courier New", monospace; font-size: 0.875em; }
pre { background: #f8f9fa; padding: 0.6rem 0.8rem; border-radius: 0.25rem; overflow-x: auto; }
pre.cell-output-stderr { color: #8a4b00; }
blockquote { color: #6c757d; border-left: 3px solid #dee2e6; margin: 1rem 0;
  padding: 0 1rem; }
div[class^="callout"], div.evalkit-note { border: 1px solid #dee2e6; border-left: 5px solid #0d6efd;
  border-radius: 0.25rem; background: #fff; padding: 0.5rem 1rem; margin: 1.25rem 0; }
div.callout-warning { border-left-color: #ffc107; }
div.callout-caution { border-left-color: #fd7e14; }
div.callout-important { border-left-color: #dc3545; }
div.callout-tip { border-left-color: #198754; }
@media print { body { max-width: none; padding: 0; } }
</style>
"""



def _py_literal(value: Any) -> str:
    """Python source for a plain value (see :func:`_plain`)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, list):
        return "[" + ", ".join(_py_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_py_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


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



def _format_options(meta: dict[str, Any], fmt: str) -> dict[str, Any]:
    """Top-level options overlaid with those under ``format: <fmt>:``."""
    spec = meta.get("format")
    specific = spec.get(fmt) if isinstance(spec, dict) else None
    return {**meta, **specific} if isinstance(specific, dict) else dict(meta)



def render_fallback(
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
    """Execute ``qmd`` once in ``work`` and convert it to each format; the files written."""
    meta = execute_to_markdown(qmd, formats[0], work, params, project_file, deadline, timeout,
                               title=title)
    return [
        _pandoc_convert(qmd, work, meta, fmt, deadline, timeout, reference) for fmt in formats
    ]


def execute_to_markdown(
    qmd: Path,
    first_format: str,
    work: Path,
    params: dict[str, Any],
    project_file: Path | None,
    deadline: float,
    timeout: float,
    *,
    title: str | None = None,
    show_open_figures: bool = True,
    kernel_dir: Path | None = None,
) -> dict[str, Any]:
    """Run the document's cells and write ``work/document.md``; return the merged metadata.

    ``show_open_figures`` displays the pyplot figures still open after each cell (so a figure
    shows even after ``matplotlib.use("Agg")``); without it figures show as under Quarto,
    only when displayed or drawn by the inline backend. ``kernel_dir`` is the kernel's
    working directory (default: the document's folder).
    """
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
    first = _format_options(meta, first_format)

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
    setup = _SETUP_CODE.replace("__EVALKIT_RC__", repr(rc)).replace(
        "__EVALKIT_SHOW__", repr(show_open_figures)
    )
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

    _execute(nb, roles, qmd, work, deadline, timeout, kernel_dir or qmd.parent)

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
    return meta


def _is_parameters(cell: _Cell) -> bool:
    tags = cell.options.get("tags") or []
    return "parameters" in ([tags] if isinstance(tags, str) else tags)


def _execute(
    nb: Any, roles: list[Any], qmd: Path, work: Path, deadline: float, timeout: float,
    cwd: Path,
) -> None:
    """Run every notebook cell in one python3 kernel of this interpreter, in ``cwd``: a kernel
    warmed ahead for ``cwd`` (:func:`evalkit.reporting._kernels.warm_kernels`) when one is
    ready, else one started now, the same way."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    from evalkit.reporting._kernels import start_kernel, take_warm_kernel

    current, started = 0, False
    kernel = None
    log_path = work / "kernel.log"
    try:
        kernel = take_warm_kernel(cwd) or start_kernel(work, cwd)
        log_path = kernel.log_path
        client = NotebookClient(
            nb,
            km=kernel.manager,
            kernel_name="python3",
            timeout=int(timeout) + 1,
            allow_errors=False,
            shutdown_kernel="immediate",
            resources={"metadata": {"path": str(cwd)}},
        )
        # cleanup_kc: we pass our own kernel manager, so nbclient would otherwise leave the
        # kernel running (and its channels open) after the document is done.
        with client.setup_kernel(cleanup_kc=True):
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
        if kernel is not None:
            kernel.close_log()
        logged = (log_path.read_text(encoding="utf-8", errors="replace").splitlines()
                  if log_path.exists() else [])
        detail = _tail("\n".join(x for x in logged if "without encryption" not in x), 8)
        what = f"stopped while running {_describe(roles[current])}" if started else "failed"
        raise RenderError(
            f"{qmd}: the python kernel ({sys.executable} -m ipykernel_launcher) {what}: "
            f"{exc}" + (f"\n{detail}" if detail else "")
        ) from None
    finally:
        if kernel is not None:
            kernel.finish()


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
                parts.append(_extract_images(text.strip("\n"), cell, figures))
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
            elif mime == "text/markdown":
                parts.append(_extract_images(content.strip("\n"), cell, figures))
            elif mime == "text/latex":
                parts.append(content.strip("\n"))
            elif mime == "text/html":
                parts.append(_fence(content.strip("\n"), "{=html}"))
            elif content.strip():
                parts.append(_fence(content.rstrip("\n"), "{.cell-output .cell-output-display}"))
    return "\n\n".join(parts)


# A Markdown image whose target is an embedded PNG or JPEG (what ``figure_markdown`` and
# ``brand_markdown`` print): ``](data:image/png;base64,...)``.
_DATA_IMAGE = re.compile(r"\]\(data:image/(png|jpeg);base64,([A-Za-z0-9+/=]+)\)")


def _extract_images(text: str, cell: _Cell, figures: Path) -> str:
    """``text`` with each embedded PNG or JPEG image target written to a file beside
    ``figures`` (in ``embedded/``, apart from the cells' own display images) and pointed to
    instead.

    The same pictures reach both outputs (``--embed-resources`` puts the same bytes back
    into the HTML as a ``data:`` URI; Word embeds the file), but pandoc's Markdown reader
    no longer scans hundreds of kilobytes of base64 inline text, twice per document: on
    the demo's cross-site report that took 2.5 s per conversion, and 0.17 s from files.
    SVG stays inline, since pandoc embeds an SVG file differently from an SVG ``data:`` URI.
    """
    count = 0

    def write(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        ext = "png" if match[1] == "png" else "jpg"
        folder = figures.parent / "embedded"
        folder.mkdir(exist_ok=True)
        path = folder / f"cell-{cell.number}-{count}.{ext}"
        path.write_bytes(base64.b64decode(match[2]))
        return f"]({path.relative_to(figures.parent).as_posix()})"

    return _DATA_IMAGE.sub(write, text)


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


def _tail(text: str, lines: int = 15) -> str:
    kept = [line for line in _ANSI.sub("", text).strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])
