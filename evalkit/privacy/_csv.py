"""Cells of CSV files that people open in spreadsheet programs."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")

#: First characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_csv_cell(value: T) -> T | str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula.

    A string starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or their
    full-width forms) gets a single quote in front, as OWASP recommends; other values are
    returned unchanged. Leading spaces do not hide a formula.

    >>> [safe_csv_cell(v) for v in ["=HYPERLINK(\\"x\\")", "+cmd|' /C calc'!A0", "ok", 3]]
    ['\\'=HYPERLINK("x")', "'+cmd|' /C calc'!A0", 'ok', 3]
    """
    if isinstance(value, str) and value.lstrip(" ").startswith(FORMULA_START):
        return "'" + value
    return value
