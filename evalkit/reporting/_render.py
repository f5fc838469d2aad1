"""Render a Quarto report document (``.qmd``) to self-contained HTML or Word.

Two engines produce the same kind of result:

- ``"quarto"`` (:mod:`evalkit.reporting._quarto`) runs the Quarto CLI once per document, on
  a private staged copy of its project, so the report's folder is left untouched.
- ``"fallback"`` (:mod:`evalkit.reporting._fallback`) needs no Quarto: it runs the document's
  Python cells in a Jupyter kernel of this interpreter and converts the result with the
  pandoc binary shipped by ``pypandoc-binary``.

This module holds the public entry point, :func:`render_document`, and the helpers both
engines share (options, parameters, the project file, running a command under a deadline,
delivering the outputs, printing PDF from the HTML).

Examples
--------
>>> import dataclasses
>>> from evalkit.reporting._render import RenderedDocument
>>> [f.name for f in dataclasses.fields(RenderedDocument)]
['source', 'outputs', 'engine']
"""

from __future__ import annotations

import datetime as dt
import numbers
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from evalkit.errors import RenderError

__all__ = ["RenderedDocument", "quarto_available", "render_document"]

_FORMATS = {"html": "html", "docx": "docx", "pdf": "pdf"}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


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
    document; code cells run in the document's folder (under Quarto, in a staged copy of it
    whose entries link to the originals), as in Quarto.

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
    What each engine understands of a document, and the Quarto call used, are described in
    :mod:`evalkit.reporting._fallback` and :mod:`evalkit.reporting._quarto`.

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
        raise RenderError("engine='quarto' was asked for but the quarto CLI is not on PATH; "
                          "install Quarto or use engine='fallback'")
    use_quarto = quarto is not None and engine != "fallback"
    used: Literal["quarto", "fallback"] = "quarto" if use_quarto else "fallback"
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
            from evalkit.reporting._quarto import render_quarto

            built = render_quarto(quarto, qmd, base, work, values, project_file, deadline,
                                  timeout, title=title, reference=reference)
        else:
            from evalkit.reporting._fallback import render_fallback

            built = render_fallback(qmd, base, work, values, project_file, deadline, timeout,
                                    title=title, reference=reference)
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


def _remaining(deadline: float, timeout: float, qmd: Path) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise RenderError(f"{qmd}: rendering took longer than timeout={timeout:g} s")
    return left


# --------------------------------------------------------------------------- shared

def _read_project(project_file: Path) -> dict[str, Any]:
    """The project's ``_quarto.yml`` as a mapping, or a RenderError naming the file."""
    config = _read_yaml(project_file.read_text(encoding="utf-8"), str(project_file)) or {}
    if not isinstance(config, dict):
        raise RenderError(f"{project_file}: expected a mapping at the top level")
    return config


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
