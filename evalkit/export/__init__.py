"""Analysis-ready exports for colleagues who work in R, Stata, SPSS or Python.

One file per instrument with complete responses: a row per response (a participant at a
wave), the design columns ``response_id, respondent_id, site, modality, wave,
submitted_at``, one column per scale score and one per item as answered, plus a codebook
(``codebook.csv``, ``codebook.md``). Stata ``.dta`` and SPSS ``.sav`` files carry variable
labels (item text, scale label) and value labels (answer codes; site, modality and wave,
which are coded 1, 2, ... in the order of ``evalkit.yml``); Parquet keeps them as
categories.

These are record-level data for analysts: the suppression rule of published reports does
not apply (:data:`NOTICE`). Personal items never reach the store, and free-text answers are
not exported.

Examples
--------
>>> import pathlib, tempfile
>>> from evalkit.export import NOTICE, export_project
>>> out = pathlib.Path(tempfile.mkdtemp()) / "exports"
>>> # export_project("my-evaluation", out, format="stata") writes partnership.dta, ...
>>> "suppression rule" in NOTICE
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from evalkit.config import ProjectConfig, load_config
from evalkit.errors import ConfigError
from evalkit.export._formats import (
    FORMATS,
    LABEL_LIMITS,
    NOTICE,
    Format,
    codebook_markdown,
    labelled_frame,
    write_codebook,
    write_table,
)
from evalkit.export._tables import (
    CODEBOOK_COLUMNS,
    DESIGN_COLUMNS,
    AnalysisTable,
    Variable,
    analysis_table,
    codebook_frame,
)
from evalkit.instruments import Instrument

__all__ = ["FORMATS", "LABEL_LIMITS", "NOTICE", "DESIGN_COLUMNS", "CODEBOOK_COLUMNS",
           "AnalysisTable", "Variable", "Exported", "analysis_table", "analysis_tables",
           "codebook_frame", "codebook_markdown", "labelled_frame", "write_export",
           "export_project"]


@dataclass(frozen=True)
class Exported:
    """What :func:`write_export` wrote: the data files, the codebook, and the instruments
    left out because nobody has answered them yet."""

    files: tuple[Path, ...]
    codebook: tuple[Path, ...]
    empty: tuple[str, ...]
    rows: Mapping[str, int]


def analysis_tables(config: ProjectConfig, *, instruments: Mapping[str, Instrument]
                    ) -> dict[str, AnalysisTable]:
    """:func:`analysis_table` of every instrument, keyed by instrument id (all of them,
    including those without responses, whose tables have no rows)."""
    if not config.store_path.exists():
        raise ConfigError(f"{config.store_path}: the store does not exist yet; ingest data "
                          "first (evalkit pull or evalkit submit)")
    return {name: analysis_table(config, inst) for name, inst in instruments.items()}


def write_export(tables: Mapping[str, AnalysisTable], out_dir: str | Path, *,
                 format: Format = "csv") -> Exported:
    """Write each table with rows, and the codebook, into ``out_dir``.

    Parameters
    ----------
    tables
        From :func:`analysis_tables`.
    out_dir
        The folder (created if missing); files of the same names are replaced.
    format
        ``csv``, ``parquet``, ``stata`` (``.dta``) or ``spss`` (``.sav``).
    """
    if format not in FORMATS:
        raise ConfigError(f"--format: expected one of {list(FORMATS)}, got {format!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kept = {k: t for k, t in tables.items() if len(t.data)}
    files = tuple(write_table(t, out, format) for t in kept.values())
    book = write_codebook(kept, out, fmt=format)
    return Exported(files, book, tuple(k for k in tables if k not in kept),
                    {k: len(t.data) for k, t in kept.items()})


def export_project(project: str | Path, out_dir: str | Path, *, format: Format = "csv"
                   ) -> Exported:
    """Export a project's store: :func:`analysis_tables` then :func:`write_export`."""
    from evalkit.pipeline import project_instruments

    config = load_config(project)
    tables = analysis_tables(config, instruments=project_instruments(config))
    return write_export(tables, out_dir, format=format)
