"""Where the shipped instruments, plans, report documents and templates are.

In a wheel they sit in ``evalkit/_assets/``; in a source checkout (editable install) they
are the top-level folders of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_TOP_LEVEL = {"surveys", "analyses", "reports", "_quarto.yml"}


def asset_path(name: str) -> Path:
    """Path of a shipped asset: ``surveys``, ``analyses``, ``reports``, ``_quarto.yml``,
    or ``templates`` (inside the package)."""
    if name not in _TOP_LEVEL:
        return _PACKAGE / name
    bundled = _PACKAGE / "_assets" / name
    if bundled.exists():
        return bundled
    return _PACKAGE.parent / name
