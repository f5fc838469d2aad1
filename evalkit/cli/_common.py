"""What every ``evalkit`` command shares: the app, the consoles, error handling, options.

Command modules (``evalkit/cli/_<group>.py``) import from here and never from each other or
from :mod:`evalkit.cli`, so there are no import cycles. This module imports nothing heavy
(no pandas, numpy, scipy, duckdb, matplotlib): ``evalkit --help`` must stay light.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from evalkit.errors import EvalkitError

__all__ = ["app", "console", "err", "JsonOpt", "ProjectOpt", "_echo_json", "_fail", "_errors",
           "_json_safe", "_p", "_p_clause", "_progress"]


def _first_paragraph(text: str | None) -> str | None:
    """The first paragraph of a help text as one line (what ``evalkit --help`` lists)."""
    import inspect

    if not text:
        return None
    return " ".join(inspect.cleandoc(text).split("\n\n")[0].split())


def _words(param: Any) -> None:
    """Give a parameter a metavar in words when its command did not: an argument its name
    (``DATA``) without the type, an option a word for its type (``N``, ``NUMBER``, ``PATH``)
    or its name (``--engine ENGINE``), choices as ``a|b|c``; never ``<list[str]>``."""
    from typing import get_args

    from typer.core import TyperArgument, TyperOption

    if isinstance(param, TyperArgument):
        param.metavar = param.metavar or (param.name or "value").upper()
        # the metavar says it: no "<path>" after it
        param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
        return
    if not isinstance(param, TyperOption) or param.metavar is not None or (
            param.is_flag or param.count):
        return
    desc = param.type_descriptor
    kind = desc.annotation
    if desc.is_list and get_args(kind):
        kind = get_args(kind)[0]
    if desc.is_choice:
        param.metavar = "|".join(str(getattr(c, "value", c)) for c in desc.choices or ())
    elif desc.is_path:
        info = desc.parameter_info
        param.metavar = ("DIR" if not info.file_okay else "FILE" if not info.dir_okay
                         else "PATH")
    elif kind is int:
        param.metavar = "N"
    elif kind is float:
        param.metavar = "NUMBER"
    else:
        param.metavar = (param.name or "value").upper()


def _explain(command: Any) -> Any:
    """Full first paragraphs as short help and metavars in words, for a command and all
    the commands below it (done once per command object)."""
    if getattr(command, "_evalkit_explained", False):
        return command
    command._evalkit_explained = True
    if command.short_help is None:
        command.short_help = _first_paragraph(command.help)
    for param in command.params:
        _words(param)
    for sub in getattr(command, "commands", {}).values():
        _explain(sub)
    return command


class _EvalkitGroup(typer.core.TyperGroup):
    """The root group: every command it hands out lists its whole first paragraph in
    ``--help`` (click would cut it at about 45 characters with "...") and names its values
    in words. Sub-command groups and commands added by any module get the same."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        return _explain(command) if command is not None else None


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("evalkit")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree, not installed
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"evalkit {_version()}")
        raise typer.Exit()


app = typer.Typer(
    name="evalkit",
    cls=_EvalkitGroup,
    help="Evaluate a learning collaborative: surveys in, scored and compared results out, "
         "reports published.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True,
        help="Print evalkit's version and exit.")] = False,
) -> None:
    """The options of ``evalkit`` itself (its help text is the app's ``help``)."""


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


class _Progress(Progress):
    """A progress display that can call a function when a task of a given name starts
    (``evalkit demo`` fingerprints the report inputs as rendering starts); what each
    returned is kept in :attr:`seen`."""

    def __init__(self, *columns: Any, on_task: Mapping[str, Callable[[], Any]] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*columns, **kwargs)
        self.on_task = dict(on_task or {})
        self.seen: dict[str, Any] = {}

    def add_task(self, description: str, *args: Any, **kwargs: Any) -> TaskID:
        if description in self.on_task:
            self.seen[description] = self.on_task[description]()
        return super().add_task(description, *args, **kwargs)


def _progress(*, on_task: Mapping[str, Callable[[], Any]] | None = None) -> _Progress:
    return _Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                     TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                     console=console, transient=False, on_task=on_task)


ProjectOpt = Annotated[Path, typer.Option("--project", "-p", metavar="DIR", help="Project "
                                          "folder (or its evalkit.yml).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout "
                                       "(nothing else goes there) instead of tables.")]


def _json_safe(obj: Any) -> Any:
    """Plain JSON values: NaN, NA and infinities become null, numpy scalars numbers,
    DataFrames lists of records, paths and dates strings."""
    import math

    if hasattr(obj, "to_dict") and hasattr(obj, "columns"):  # a DataFrame
        return [_json_safe(r) for r in obj.to_dict("records")]
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if obj is None or isinstance(obj, bool | str):
        return obj
    if hasattr(obj, "item") and not isinstance(obj, int | float):  # numpy scalars
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, int):
        return obj
    if type(obj).__name__ in ("NAType", "NaTType"):
        return None
    return str(obj)


def _echo_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout (see :func:`_json_safe`)."""
    import json

    typer.echo(json.dumps(_json_safe(obj), indent=2, ensure_ascii=False))


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
