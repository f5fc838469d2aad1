"""The ``evalkit`` command line: a thin layer over the library.

Every command catches :class:`~evalkit.errors.EvalkitError`, prints its one-line message
(no traceback) and exits with status 1.

Each command group lives in its own module ``evalkit/cli/_<name>.py`` with a
``register(app)`` function that adds its commands (or sub-apps) to the app; shared pieces
(the app, the consoles, ``_errors``, ``_fail``, ``ProjectOpt``, progress bars) are in
:mod:`evalkit.cli._common`. To add a group, create the module and add its name to
``COMMAND_GROUPS`` below. The groups register in this order, which is the order of
``evalkit --help`` (commands first, then sub-command groups).
"""

from __future__ import annotations

from importlib import import_module

from evalkit.cli._common import ProjectOpt, _errors, _fail, app, console, err

__all__ = ["app", "main", "COMMAND_GROUPS", "ProjectOpt", "console", "err", "_errors",
           "_fail"]

#: Modules of evalkit.cli whose ``register(app)`` adds a command group, in help order.
COMMAND_GROUPS: tuple[str, ...] = (
    "_project",  # init, demo, status, analyze, report
    "_network",  # network, feedback themes|export|import
    "_stats",  # prepost, reliability, model
    "_ordinal",  # ordinal
    "_surveys",  # surveys ..., participants ..., pull, submit
    "_authoring",  # surveys new|form, participants expect, export
    "_design",  # design power
)



def _register_groups() -> None:
    for name in COMMAND_GROUPS:
        import_module(f"{__name__}.{name}").register(app)


_register_groups()


def main() -> None:
    """Run the ``evalkit`` command line (the console script's entry point)."""
    app()
