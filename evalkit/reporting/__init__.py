"""Reporting: read results, format them, and render the Quarto report documents.

Reports read the machine-readable results written by ``evalkit analyze`` and never
recompute a statistic. Rendering uses the Quarto CLI when it is on PATH and otherwise
executes the same ``.qmd`` files' Python cells in a Jupyter kernel and converts them with
pandoc.

Examples
--------
>>> from evalkit.reporting import format_p
>>> format_p(0.0004)
'<0.001'
"""

from __future__ import annotations

from evalkit.disclosure import (
    SuppressionPlan,
    plan_suppression,
    published_cells,
    recoverable_cells,
    suppression_table,
)
from evalkit.reporting._format import (
    PROTECTED,
    PROTECTED_NOTE,
    finding_markdown,
    format_ci,
    format_number,
    format_p,
    html_table,
    markdown_table,
    sector_label,
    suppress_small,
)
from evalkit.reporting._reports import ReportJob, render_reports, report_jobs
from evalkit.reporting._show import figure_markdown, show_figure
from evalkit.reporting._theme import OKABE_ITO, use_theme
from evalkit.results import Results, read_results

load_results = read_results

__all__ = [
    "Results",
    "ReportJob",
    "load_results",
    "read_results",
    "report_jobs",
    "render_reports",
    "suppress_small",
    "SuppressionPlan",
    "plan_suppression",
    "suppression_table",
    "published_cells",
    "recoverable_cells",
    "PROTECTED",
    "PROTECTED_NOTE",
    "format_p",
    "format_number",
    "format_ci",
    "html_table",
    "markdown_table",
    "show_figure",
    "figure_markdown",
    "finding_markdown",
    "sector_label",
    "OKABE_ITO",
    "use_theme",
]
