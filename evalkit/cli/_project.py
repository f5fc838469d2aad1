"""``evalkit init|demo|status|analyze|report``: a project from creation to its reports.

A thin layer over :mod:`evalkit.project` and :mod:`evalkit.pipeline`; :func:`register`
adds the commands to the ``evalkit`` app.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from evalkit.cli._common import ProjectOpt, _errors, _fail, _progress, console

__all__ = ["register"]


def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new project.")],
    force: Annotated[bool, typer.Option(help="Overwrite an existing evalkit.yml.")] = False,
) -> None:
    """Create a new evaluation project: config, instruments, plan, reports.

    Example: evalkit init my-evaluation
    """
    from evalkit.project import create_project

    with _errors():
        cfg = create_project(directory, force=force)
    console.print(f"Created project '{cfg.collaborative.name}' in {directory}")
    console.print("Next: edit evalkit.yml (sites, modalities, waves), then run "
                  f"`evalkit status -p {directory}`.", markup=False)


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo project.")] = Path(
        "demo"),
    seed: Annotated[int, typer.Option(help="Seed of the demo generator.")] = 2026,
    engine: Annotated[str, typer.Option(help="Renderer: auto, quarto or fallback.")] = "auto",
) -> None:
    """Run the whole pipeline on a generated demo collaborative, reports in HTML and Word.

    Example: evalkit demo --out demo
    """
    from evalkit.pipeline import run_demo

    with _errors():
        started = time.perf_counter()
        with _progress() as progress:
            outcome = run_demo(out, seed=seed, engine=engine, progress=progress)
        took = time.perf_counter() - started
    for note in outcome.notes:
        console.print(note, markup=False)
    console.print(f"Ingested {outcome.ingest_line}", markup=False)
    console.print(f"Results: {outcome.results_dir}", markup=False)
    console.print("Reports:", markup=False)
    for path in outcome.reports:
        console.print(f"  {path}", markup=False, soft_wrap=True)
    console.print(f"Done in {took:.1f} s.", markup=False)


def status(project: ProjectOpt = Path(".")) -> None:
    """Check the configuration and the plan, show response rates by site, wave and
    instrument, and which planned analyses the data do not allow yet.

    Example: evalkit status -p my-evaluation
    """
    from evalkit.pipeline import store_status

    with _errors():
        st = store_status(project)
    cfg = st.config
    console.print(f"{cfg.collaborative.name}: {len(cfg.sites)} sites, "
                  f"{len(cfg.modalities)} modalities, waves {', '.join(cfg.wave_ids)}",
                  markup=False, soft_wrap=True)
    console.print(f"Plan {st.plan_path.name}: {st.n_outcomes} outcomes, consistent with "
                  "evalkit.yml and surveys/.", markup=False, soft_wrap=True)
    if st.counts.empty:
        console.print(f"Store {cfg.store_path} is empty.", markup=False)
        return
    import pandas as pd

    from evalkit.sources import response_rates

    rates = response_rates(cfg)
    table = Table("site", "wave", "instrument", "responded", "expected", "rate",
                  title=f"Response rates ({cfg.store_path.name})")
    for r in rates.itertuples(index=False):
        expected = "open survey" if pd.isna(r.expected) else str(int(r.expected))
        rate = "—" if pd.isna(r.rate) else f"{r.rate:.0%}"
        table.add_row(str(r.site), str(r.wave), str(r.instrument), str(int(r.responded)),
                      expected, rate)
    console.print(table)
    if st.pending.empty:
        console.print("Every planned analysis can be computed from the data so far.",
                      markup=False)
        return
    console.print(f"Not computable yet ({len(st.pending)}):", markup=False)
    for r in st.pending.itertuples(index=False):
        what = ", ".join(str(v) for v in (r.analysis, r.outcome, r.site_id)
                         if v is not None and not pd.isna(v))
        console.print(f"  {what}: {r.reason}. Needs: {r.needs}.", markup=False,
                      soft_wrap=True)


def analyze(project: ProjectOpt = Path(".")) -> None:
    """Run the analysis plan on the store and write results/.

    Example: evalkit analyze -p my-evaluation
    """
    from evalkit.pipeline import analyze_project

    with _errors(), _progress() as progress:
        manifest = analyze_project(project, progress=progress)
    console.print(f"Results written: {manifest.parent}", markup=False)


def _split_formats(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        for part in value.split(","):
            if part.strip() and part.strip() not in out:
                out.append(part.strip())
    unknown = [f for f in out if f not in ("html", "docx", "pdf")]
    if unknown:
        _fail(f"--format: unsupported format(s) {unknown}; choose from html, docx, pdf "
              "(e.g. --format html,docx)")
    return out or ["html", "docx"]


def report(
    project: ProjectOpt = Path("."),
    site: Annotated[list[str] | None, typer.Option(
        help="Render only this site's report (repeatable).")] = None,
    all_: Annotated[bool, typer.Option(
        "--all", help="Render the cross-site, lessons and every site report (the default "
        "without --site).")] = False,
    fmt: Annotated[list[str] | None, typer.Option(
        "--format", help="Output formats, comma-separated: html, docx, pdf (pdf is printed "
        "from the HTML with headless Chromium). Default: html,docx.")
    ] = None,
    engine: Annotated[str, typer.Option(help="Renderer: auto, quarto or fallback.")] = "auto",
    force: Annotated[bool, typer.Option(
        help="Render every report, even those whose inputs did not change.")] = False,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", min=1, help="Reports rendered at once (default: CPUs + 1).")
    ] = None,
) -> None:
    """Render the cross-site, lessons and site reports from results/, only what changed.

    Each report goes into its own folder of _output/ (cross-site/, lessons/, sites/S01/),
    and is checked for small cells and personal data before it is kept. Each file rendered
    is listed with its document's render time and engine (quarto or fallback).

    Example: evalkit report -p my-evaluation --site S01 --format html
    """
    from evalkit.pipeline import render_project

    if site and all_:
        _fail("--site and --all: choose one (--all renders every report)")
    formats = _split_formats(fmt)
    with _errors(), _progress() as progress:
        note, summary = render_project(project, engine=engine, sites=site, formats=formats,
                                       force=force, workers=jobs, progress=progress)
    console.print(note, markup=False)
    console.print(summary.describe(), markup=False)
    rendered = [job.job_id for job in summary.rendered]
    for path in summary.outputs:
        stem = path.with_suffix("").as_posix()
        job_id = next((j for j in rendered if stem == j or stem.endswith("/" + j)), None)
        if job_id is None:
            line = f"  up to date  {path}"
        else:  # the document's render time (all its formats) and the engine that made it
            line = (f"  rendered  {summary.seconds.get(job_id, 0.0):.1f} s  "
                    f"{summary.engines.get(job_id, '?')}  {path}")
        console.print(line, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``init``, ``demo``, ``status``, ``analyze`` and ``report`` to ``app``."""
    for command in (init, demo, status, analyze, report):
        app.command()(command)
