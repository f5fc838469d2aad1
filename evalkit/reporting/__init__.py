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

from typing import TYPE_CHECKING, Any

# The names below load on first use (module __getattr__), so importing a light submodule
# such as evalkit.reporting._cache does not pull in matplotlib, pandas or the renderers.
# A new public name goes in three places: the import under TYPE_CHECKING (for mypy), _LAZY
# (where it lives) and __all__; tests/test_cli_light.py checks every name in __all__ loads.
if TYPE_CHECKING:
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
    from evalkit.reporting._kernels import KernelPool, warm_kernels
    from evalkit.reporting._reports import Branding, ReportJob, render_reports, report_jobs
    from evalkit.reporting._show import brand_markdown, figure_markdown, show_figure
    from evalkit.reporting._theme import OKABE_ITO, use_theme
    from evalkit.results import Results, read_results

    load_results = read_results

_LAZY = {
    **dict.fromkeys(("SuppressionPlan", "plan_suppression", "published_cells",
                     "recoverable_cells", "suppression_table"), "evalkit.disclosure"),
    **dict.fromkeys(("PROTECTED", "PROTECTED_NOTE", "finding_markdown", "format_ci",
                     "format_number", "format_p", "html_table", "markdown_table",
                     "sector_label", "suppress_small"), "evalkit.reporting._format"),
    **dict.fromkeys(("Branding", "ReportJob", "render_reports", "report_jobs"),
                    "evalkit.reporting._reports"),
    **dict.fromkeys(("KernelPool", "warm_kernels"), "evalkit.reporting._kernels"),
    **dict.fromkeys(("brand_markdown", "figure_markdown", "show_figure"),
                    "evalkit.reporting._show"),
    **dict.fromkeys(("OKABE_ITO", "use_theme"), "evalkit.reporting._theme"),
    **dict.fromkeys(("Results", "read_results"), "evalkit.results"),
}
_ALIASES = {"load_results": "read_results"}


def __getattr__(name: str) -> Any:
    from importlib import import_module

    target = _ALIASES.get(name, name)
    if target not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_LAZY[target]), target)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "Results",
    "Branding",
    "ReportJob",
    "load_results",
    "read_results",
    "report_jobs",
    "render_reports",
    "warm_kernels",
    "KernelPool",
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
    "brand_markdown",
    "finding_markdown",
    "sector_label",
    "OKABE_ITO",
    "use_theme",
]
