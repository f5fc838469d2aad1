"""What every ``evalkit`` command shares: the app, the consoles, error handling, options.

Command modules (``evalkit/cli/_<group>.py``) import from here and never from each other or
from :mod:`evalkit.cli`, so there are no import cycles. This module imports nothing heavy
(no pandas, numpy, scipy, duckdb, matplotlib): ``evalkit --help`` must stay light.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from evalkit.errors import EvalkitError

__all__ = ["app", "console", "err", "ProjectOpt", "_fail", "_errors", "_progress", "_p",
           "_p_clause"]

app = typer.Typer(
    name="evalkit",
    help="Evaluate a learning collaborative: surveys in, scored and compared results out, "
         "reports published.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

def _fail(message: str) -> None:
    """Print ``error: MESSAGE`` on stderr and exit with status 1. The first line says what
    failed; a message that lists several problems (a plan, a coders' file, several
    reports) keeps its indented list below it, never a traceback."""
    lines = [ln for ln in str(message).splitlines() if ln.strip()] or ["failed"]
    err.print("error: " + "\n".join(lines), markup=False, soft_wrap=True)
    raise typer.Exit(code=1)


def _foreseeable(exc: BaseException, file: Path | None) -> str | None:
    """One line for an exception a user can cause outside evalkit's own errors, or None."""
    import zipfile

    import duckdb

    named = f"{file}: " if file is not None else ""
    if isinstance(exc, duckdb.IOException):
        text = str(exc)
        store = text.split('"')[1] if text.count('"') >= 2 else "the store"
        if "lock" in text.lower():
            return f"another evalkit process is writing to {store}; wait or retry"
        return f"{store}: cannot be opened ({text.splitlines()[0]})"
    if isinstance(exc, duckdb.Error):
        return f"the store cannot be read ({str(exc).splitlines()[0] if str(exc) else exc!r})"
    if isinstance(exc, zipfile.BadZipFile):
        return f"{named}not an Excel workbook (.xlsx), cannot be read: {exc}"
    try:
        from openpyxl.utils.exceptions import InvalidFileException
    except ImportError:  # pragma: no cover - openpyxl is a dependency
        InvalidFileException = ()  # type: ignore[assignment,misc]  # noqa: N806
    if isinstance(exc, InvalidFileException):
        return f"{named}not a workbook openpyxl can read (.xlsx, .xlsm): {exc}"
    if isinstance(exc, UnicodeDecodeError):
        return (f"{named}not text in a known encoding ({exc.encoding}: {exc.reason} at byte "
                f"{exc.start}); save it as 'CSV UTF-8' or XLSX")
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else file
        what = exc.strerror or str(exc) or type(exc).__name__
        return f"{where}: {what}" if where is not None else what
    return None


@contextmanager
def _errors(file: Path | None = None) -> Iterator[None]:
    """Turn evalkit's errors and every foreseeable exception into one ``error:`` line.

    ``file`` is the file the command reads, named in messages about exceptions that do not
    name it themselves (a damaged workbook, an undecodable text file).
    """
    try:
        yield
    except EvalkitError as exc:
        _fail(str(exc))
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.Exit | click.ClickException | click.Abort):
            raise
        line = _foreseeable(exc, file)
        if line is None:
            raise
        _fail(line)


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=console, transient=False)


ProjectOpt = Annotated[Path, typer.Option("--project", "-p", help="Project folder or its "
                                          "evalkit.yml.")]


def _p(value: object) -> str:
    """A p-value for people: ``< 0.001`` below 0.001, else three decimals; ``—`` if missing.

    Never ``0.0000``: a p-value that small is reported as a bound, as APA style asks.
    """
    import math

    if value is None:
        return "—"
    try:
        p = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "—"
    if math.isnan(p):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _p_clause(value: object) -> str:
    """``p < 0.001`` or ``p = 0.012`` (``p = —`` when missing), for sentences."""
    text = _p(value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"
