"""Which report documents a project renders, and rendering them all."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from evalkit.errors import RenderError

__all__ = ["ReportJob", "report_jobs", "render_reports"]


@dataclass(frozen=True)
class ReportJob:
    """One document to render: the ``.qmd``, its parameters and the output name."""

    document: Path
    output_stem: str
    params: dict = field(default_factory=dict)
    title: str = ""


def report_jobs(reports_dir: str | Path, results_dir: str | Path,
                sites: Sequence[tuple[str, str]]) -> list[ReportJob]:
    """The cross-site report plus one site report per site.

    Parameters
    ----------
    reports_dir
        Folder holding ``cross_site.qmd`` and ``site.qmd``.
    results_dir
        Results folder passed to every document as the ``results_dir`` parameter.
    sites
        ``(site_id, site_name)`` pairs.

    Examples
    --------
    >>> [j.output_stem for j in report_jobs("reports", "results", [("S01", "North")])]
    ['cross-site', 'site-S01']
    """
    reports_dir, results_dir = Path(reports_dir), Path(results_dir).resolve()
    jobs = [ReportJob(reports_dir / "cross_site.qmd", "cross-site",
                      {"results_dir": str(results_dir)}, "Cross-site report")]
    for site_id, name in sites:
        jobs.append(ReportJob(reports_dir / "site.qmd", f"site-{site_id}",
                              {"results_dir": str(results_dir), "site": site_id},
                              f"Site report: {name}"))
    return jobs


def render_reports(jobs: Sequence[ReportJob], *, output_dir: str | Path,
                   engine: Literal["auto", "quarto", "fallback"] = "auto",
                   formats: Sequence[str] = ("html",), project_dir: str | Path | None = None,
                   on_done: Callable[[ReportJob], None] | None = None) -> list[Path]:
    """Render every job into ``output_dir`` and return the output files.

    ``on_done`` is called after each document (the CLI uses it to advance a progress bar).
    """
    from evalkit.reporting._render import render_document

    outputs: list[Path] = []
    for job in jobs:
        if not job.document.exists():
            raise RenderError(f"{job.document}: report document not found")
        done = render_document(job.document, output_dir=Path(output_dir), params=job.params,
                               formats=formats, output_stem=job.output_stem, engine=engine,
                               project_dir=Path(project_dir) if project_dir else None)
        outputs.extend(done.outputs)
        if on_done is not None:
            on_done(job)
    return outputs
