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

from evalkit.cli._common import (
    JsonOpt,
    ProjectOpt,
    _echo_json,
    _errors,
    _fail,
    _progress,
    console,
)

__all__ = ["register"]


def init(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder for the new project.")],
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
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR",
                                      help="Folder for the demo project.")] = Path(
        "demo"),
    seed: Annotated[int, typer.Option(help="Seed of the demo generator.")] = 2026,
    engine: Annotated[str, typer.Option(help="Renderer: auto, quarto or fallback.")] = "auto",
) -> None:
    """Run the whole pipeline on a generated demo collaborative, reports in HTML and Word.

    Example: evalkit demo --out demo
    """
    from evalkit.cli import _report_check as check
    from evalkit.pipeline import run_demo

    def inputs() -> check.Fingerprint | None:
        return check.fingerprint(out, sites=None, only=None, formats=["html", "docx"],
                                 engine=engine)

    with _errors():
        started = time.perf_counter()
        with _progress(on_task={"Rendering reports": inputs}) as progress:
            outcome = run_demo(out, seed=seed, engine=engine, progress=progress)
        took = time.perf_counter() - started
    # As `evalkit report` does, so that a first `evalkit report` after the demo is quick.
    note, describe = (outcome.notes + ("", ""))[:2]
    check.remember_describe(progress.seen.get("Rendering reports"), inputs(), note=note,
                            describe=describe, outputs=outcome.reports)
    for note in outcome.notes:
        console.print(note, markup=False)
    console.print(f"Ingested {outcome.ingest_line}", markup=False)
    console.print(f"Results: {outcome.results_dir}", markup=False)
    console.print("Reports:", markup=False)
    for path in outcome.reports:
        console.print(f"  {path}", markup=False, soft_wrap=True)
    console.print(f"Done in {took:.1f} s.", markup=False)


def status(project: ProjectOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Check the configuration and the plan, show response rates by site, wave and
    instrument, and which planned analyses the data do not allow yet.

    With --json: one object with the collaborative, sites, modalities, waves, plan,
    store, response_rates (site, wave, instrument, expected, responded, rate; null where
    there is no denominator) and pending (analysis, outcome, site_id, reason, needs).

    Example: evalkit status -p my-evaluation --json
    """
    from evalkit.pipeline import store_status

    with _errors():
        st = store_status(project)
        cfg = st.config
        rates = None
        if not st.counts.empty:
            from evalkit.sources import response_rates

            rates = response_rates(cfg)
    if as_json:
        _echo_json({
            "collaborative": cfg.collaborative.name,
            "sites": [{"id": s.id, "name": s.name, "modalities": list(s.modalities)}
                      for s in cfg.sites],
            "modalities": [m.id for m in cfg.modalities],
            "waves": list(cfg.wave_ids),
            "plan": {"file": str(st.plan_path), "outcomes": st.n_outcomes},
            "store": {"file": str(cfg.store_path), "empty": bool(st.counts.empty),
                      "responses": st.counts},
            "response_rates": rates if rates is not None else [],
            "pending": st.pending,
        })
        return
    console.print(f"{cfg.collaborative.name}: {len(cfg.sites)} sites, "
                  f"{len(cfg.modalities)} modalities, waves {', '.join(cfg.wave_ids)}",
                  markup=False, soft_wrap=True)
    console.print(f"Plan {st.plan_path.name}: {st.n_outcomes} outcomes, consistent with "
                  "evalkit.yml and surveys/.", markup=False, soft_wrap=True)
    if rates is None:
        console.print(f"Store {cfg.store_path} is empty.", markup=False)
        return
    import pandas as pd

    table = Table("site", "wave", "instrument", "responded", "expected", "rate",
                  title=f"Response rates ({cfg.store_path.name})")
    from evalkit.instruments import load_instrument

    open_surveys = {name for name, use in cfg.instruments.items()
                    if cfg.path(use.file).exists()
                    and load_instrument(cfg.path(use.file)).respondent == "community"}
    for r in rates.itertuples(index=False):
        # a community survey has no denominator; a staff survey has one once it is expected
        missing = "open survey" if r.instrument in open_surveys else "no roster"
        expected = missing if pd.isna(r.expected) else str(int(r.expected))
        rate = "—" if pd.isna(r.rate) else f"{r.rate:.0%}"
        table.add_row(str(r.site), str(r.wave), str(r.instrument), str(int(r.responded)),
                      expected, rate)
    console.print(table)
    if rates["expected"].isna().any() and any(
            r.instrument not in open_surveys for r in rates.itertuples(index=False)
            if pd.isna(r.expected)):
        console.print("no roster: say how many people are expected to answer with "
                      "`evalkit participants expect N --site S --wave W -i INSTRUMENT` (or "
                      "rosters: in evalkit.yml) to see a response rate.", markup=False,
                      soft_wrap=True)
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


def analyze(project: ProjectOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Run the analysis plan on the store and write results/.

    With --json: one object with the results folder, its manifest, the data hash and
    every table written (file, rows); no progress display.

    Example: evalkit analyze -p my-evaluation
    """
    import json

    from evalkit.pipeline import analyze_project

    with _errors():
        if as_json:
            manifest = analyze_project(project)
        else:
            with _progress() as progress:
                manifest = analyze_project(project, progress=progress)
        content = json.loads(manifest.read_text(encoding="utf-8")) if as_json else {}
    if as_json:
        _echo_json({
            "results_dir": str(manifest.parent), "manifest": str(manifest),
            "created_at": content.get("created_at"), "data_hash": content.get("data_hash"),
            "tables": {name: {"file": str(manifest.parent / entry["file"]),
                              "rows": entry.get("rows")}
                       for name, entry in content.get("tables", {}).items()},
        })
        return
    console.print(f"Results written: {manifest.parent}", markup=False)


def _split(values: list[str] | None) -> list[str]:
    """Repeated and comma-separated values, in order, once each."""
    out: list[str] = []
    for value in values or []:
        for part in value.split(","):
            if part.strip() and part.strip() not in out:
                out.append(part.strip())
    return out


def _split_formats(values: list[str] | None) -> list[str]:
    out = _split(values)
    unknown = [f for f in out if f not in ("html", "docx", "pdf")]
    if unknown:
        _fail(f"--format: unsupported format(s) {unknown}; choose from html, docx, pdf "
              "(e.g. --format html,docx)")
    return out or ["html", "docx"]


#: The kinds of document ``evalkit report --only`` selects (their folders in _output/).
DOCUMENTS = ("cross-site", "lessons", "sites")


def _split_only(values: list[str] | None, sites: list[str] | None) -> list[str] | None:
    out = _split(values)
    unknown = [d for d in out if d not in DOCUMENTS]
    if unknown:
        _fail(f"--only: unknown document(s) {unknown}; choose from {', '.join(DOCUMENTS)} "
              "(e.g. --only cross-site,lessons)")
    if sites and any(d != "sites" for d in out):
        _fail(f"--site and --only {','.join(out)}: --site renders site reports only; drop "
              "--site to render the cross-site or lessons report")
    return out or None


def report(
    project: ProjectOpt = Path("."),
    site: Annotated[list[str] | None, typer.Option(
        metavar="SITE", help="Render only this site's report (repeatable).")] = None,
    all_: Annotated[bool, typer.Option(
        "--all", help="Render the cross-site, lessons and every site report (the default "
        "without --site).")] = False,
    only: Annotated[list[str] | None, typer.Option(
        metavar="DOCUMENTS", help="Render only these documents: cross-site, lessons, sites "
        "(every site report); repeatable or comma-separated.")] = None,
    fmt: Annotated[list[str] | None, typer.Option(
        "--format", metavar="FORMATS", help="Output formats, comma-separated: html, docx, "
        "pdf (pdf is printed from the HTML with headless Chromium). Default: html,docx.")
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

    --only cross-site,lessons renders the whole-collaborative documents only; --only sites
    every site report; --site S01 one site's.

    Example: evalkit report -p my-evaluation --site S01 --format html
    """
    from evalkit.cli import _report_check as check

    if site and all_:
        _fail("--site and --all: choose one (--all renders every report)")
    if only and all_:
        _fail("--only and --all: choose one (--all renders every report)")
    formats = _split_formats(fmt)
    documents = _split_only(only, site)
    before = check.fingerprint(project, sites=site, only=documents, formats=formats,
                               engine=engine)
    quick = None if force else check.quick_outcome(before)
    if quick is not None:  # nothing changed since the last complete render: no imports
        console.print(quick["note"], markup=False)
        console.print(quick["describe"], markup=False)
        for path in quick["outputs"]:
            console.print(f"  up to date  {path}", markup=False, soft_wrap=True)
        return
    from evalkit.pipeline import render_project

    with _errors(), _progress() as progress:
        note, summary = render_project(project, engine=engine, sites=site, formats=formats,
                                       force=force, workers=jobs, progress=progress,
                                       only=documents)
    if documents and not summary.outputs:
        _fail(f"--only {','.join(documents)}: the project has no such report (no "
              f"{'reports/lessons.qmd' if documents == ['lessons'] else 'document'})")
    check.remember(before, check.fingerprint(project, sites=site, only=documents,
                                             formats=formats, engine=engine),
                   note=note, summary=summary)
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
