"""Project-level steps the CLI runs: status, analyze, report and the end-to-end demo.

Each function takes a project folder (or its ``evalkit.yml``), wires the library steps in
the one direction data flows (sources -> store -> scoring -> analyses -> results ->
reports) and returns what it made. Progress goes to an optional ``rich`` progress object.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from evalkit.config import ProjectConfig, load_config
from evalkit.errors import ConfigError
from evalkit.instruments import Instrument, load_instrument

if TYPE_CHECKING:
    from evalkit.reporting import KernelPool
    from evalkit.reporting._reports import RenderSummary
    from evalkit.runner import ProgressLike

__all__ = ["DemoOutcome", "ProjectStatus", "store_status", "analyze_project", "render_project",
           "run_demo", "project_instruments"]


class _NoProgress:
    def add_task(self, description: str, total: float | None = None) -> int:
        return 0

    def advance(self, task: int, advance: float = 1) -> None:
        return None

    def update(self, task: int, **kwargs: object) -> None:
        return None


def project_instruments(config: ProjectConfig) -> dict[str, Instrument]:
    """The instruments the configuration names, loaded and checked against their ids."""
    out = {}
    for key, use in config.instruments.items():
        path = config.path(use.file)
        if not path.exists():
            raise ConfigError(f"{config.root / 'evalkit.yml'}: instruments.{key}.file: "
                              f"{use.file!r} does not exist")
        inst = load_instrument(path)
        if inst.id != key:
            raise ConfigError(f"{config.root / 'evalkit.yml'}: instruments.{key}: the file "
                              f"{use.file!r} defines instrument {inst.id!r}, not {key!r}")
        out[key] = inst
    return out


@dataclass(frozen=True)
class ProjectStatus:
    """What ``evalkit status`` reports.

    Attributes
    ----------
    config
        The validated configuration.
    plan_path
        The analysis plan file (checked against the configuration and instruments).
    n_outcomes
        Outcomes the plan names.
    counts
        Stored responses: ``instrument, wave, responses``.
    pending
        The planned analyses the stored data do not allow yet
        (:data:`evalkit.runner.PENDING_COLUMNS`); empty when the store does not exist.
    """

    config: ProjectConfig
    plan_path: Path
    n_outcomes: int
    counts: pd.DataFrame
    pending: pd.DataFrame


def store_status(project: str | Path) -> ProjectStatus:
    """Validate the configuration and the plan against it, count the stored responses per
    instrument and wave, and list the planned analyses the data do not allow yet.

    Raises
    ------
    ConfigError
        One line per problem: the configuration, an instrument file, or a wave, instrument,
        scale or item the plan names that the project lacks (naming the plan file and key).
    """
    from evalkit.plan import check_plan, load_plan
    from evalkit.runner import PENDING_COLUMNS, pending_analyses
    from evalkit.store import read_table

    cfg = load_config(project)
    instruments = project_instruments(cfg)
    plan_path = cfg.path(cfg.plan)
    plan = load_plan(plan_path)
    check_plan(plan, cfg, instruments, source=plan_path)
    if not cfg.store_path.exists():
        return ProjectStatus(cfg, plan_path, len(plan.outcomes),
                             pd.DataFrame(columns=["instrument", "wave", "responses"]),
                             pd.DataFrame(columns=PENDING_COLUMNS))
    counts = read_table(cfg.store_path, "SELECT instrument, wave, count(*) AS responses "
                        "FROM responses GROUP BY ALL ORDER BY instrument, wave")
    return ProjectStatus(cfg, plan_path, len(plan.outcomes), counts,
                         pending_analyses(cfg, plan, instruments))


def analyze_project(project: str | Path, *, progress: ProgressLike | None = None) -> Path:
    """Run the project's analysis plan on its store and write the results folder.

    Returns
    -------
    pathlib.Path
        The results manifest.
    """
    from evalkit.plan import check_plan, load_plan
    from evalkit.results import write_results
    from evalkit.runner import run_plan

    progress = progress or _NoProgress()
    cfg = load_config(project)
    instruments = project_instruments(cfg)
    plan_path = cfg.path(cfg.plan)
    plan = load_plan(plan_path)
    check_plan(plan, cfg, instruments, source=plan_path)
    if not cfg.store_path.exists():
        raise ConfigError(f"{cfg.store_path}: the store does not exist yet; ingest data first")
    tables, data_hash = run_plan(cfg, plan, instruments, progress=progress)
    extra = {
        "collaborative": cfg.collaborative.name,
        "period": cfg.collaborative.period.model_dump(mode="json"),
        "suppression_threshold": cfg.reports.suppression_threshold,
        "waves": [w.model_dump(mode="json") for w in cfg.waves],
        "modalities": [m.model_dump(mode="json") for m in cfg.modalities],
    }
    write_results(tables, cfg.results_path, plan=plan.model_dump(mode="json"),
                  data_hash=data_hash, extra=extra)
    # The release-wide suppression plan depends on every table: computed once here (and
    # stored as `suppression`) rather than in every report's kernel.
    from evalkit.disclosure import plan_suppression, suppression_table
    from evalkit.results import read_results

    written = read_results(cfg.results_path)
    tables["suppression"] = suppression_table(plan_suppression(
        written, threshold=cfg.reports.suppression_threshold, stored=False))
    if plan.design is not None and "model_emmeans" in tables:
        first = str(tables["model_fit"]["outcome"].iloc[0])
        found = _design_power(cfg.results_path, first, plan, progress)
        if found is not None:
            tables["design_power"] = found
    return write_results(tables, cfg.results_path, plan=plan.model_dump(mode="json"),
                         data_hash=data_hash, extra=extra)


#: ``design_power``: one row per number of sites per modality simulated.
DESIGN_POWER_COLUMNS = ["outcome", "a", "b", "from", "to", "difference", "method", "alpha",
                        "participants", "current_sites", "sites_per_modality", "power",
                        "mc_se", "min_p", "n_simulations", "smallest_sites"]


def _design_power(results: Path, outcome: str, plan: Any, progress: ProgressLike) -> Any:
    """The plan's ``design:`` step for the first modelled outcome, from the results just
    written (their variance components, changes, participants per site and attrition);
    None when they cannot give one (e.g. a single modality)."""
    from evalkit.design import detection_summary, parameters_from_results
    from evalkit.errors import AnalysisError

    task = progress.add_task("Power for the next collaborative", total=1)
    try:
        s = detection_summary(parameters_from_results(results, outcome=outcome),
                              method="permutation",
                              alpha=plan.decision.max_permutation_p,
                              n_simulations=plan.design.n_simulations,
                              max_sites=plan.design.max_sites, seed=plan.design.seed,
                              workers=1)
    except AnalysisError:
        return None
    finally:
        progress.advance(task)
    curve = s.curve.assign(outcome=outcome, a=s.a, b=s.b, **{"from": s.start, "to": s.end},
                           difference=s.difference, method=s.method, alpha=s.alpha,
                           participants=s.participants, current_sites=s.current_sites,
                           smallest_sites=s.smallest_sites)
    return pd.DataFrame(curve, columns=DESIGN_POWER_COLUMNS)


def render_project(project: str | Path, *, engine: str = "auto",
                   sites: Sequence[str] | None = None,
                   formats: Sequence[str] = ("html", "docx"), force: bool = False,
                   workers: int | None = None, progress: ProgressLike | None = None,
                   only: Sequence[str] | None = None,
                   ) -> tuple[str, RenderSummary]:
    """Render the project's reports from its results folder, only those that changed.

    Without ``sites``, the cross-site report, the lessons report (when
    ``reports/lessons.qmd`` exists) and every site report; with ``sites``, those sites'
    reports only. ``only`` keeps the documents of the kinds named (``"cross-site"``,
    ``"lessons"``, ``"sites"``). Each goes into its own folder of the output folder
    (``cross-site/``, ``lessons/``, ``sites/<SITE>/``), several at once, and a document
    is rendered again only when its text, parameters, formats, engine, the evalkit code or
    the results it reads changed since the last run, or ``force`` is set (see
    :mod:`evalkit.reporting._cache`). Every file written is scanned for small cells (below
    ``reports.suppression_threshold``), emails, phone numbers, pseudonymous participant ids
    and the names in the plan's ``feedback.names_file``; an unsafe file is deleted and the
    render fails. Word files take the styles of ``reports.docx_reference`` when set, and
    their tables are laid out from their contents before the scan.

    Returns
    -------
    (note, summary)
        A one-line note saying which renderer ran, and what was rendered or up to date.
    """
    from evalkit.feedback import read_names
    from evalkit.plan import load_plan
    from evalkit.reporting import Branding, read_results, render_reports, report_jobs
    from evalkit.reporting._render import quarto_available
    from evalkit.reporting._scan import ScanRules

    progress = progress or _NoProgress()
    if engine not in ("auto", "quarto", "fallback"):
        raise ConfigError(f"--engine: expected auto, quarto or fallback; got {engine!r}")
    cfg = load_config(project)
    read_results(cfg.results_path)  # fail early and clearly when analyze has not run
    unknown = sorted(set(sites or ()) - {s.id for s in cfg.sites})
    if unknown:
        raise ConfigError(f"--site: unknown site id(s) {unknown}; sites are "
                          f"{[s.id for s in cfg.sites]}")
    chosen = [(s.id, s.name) for s in cfg.sites if not sites or s.id in sites]
    jobs = report_jobs(cfg.root / "reports", cfg.results_path, chosen, whole=not sites,
                       branding=Branding.from_config(cfg))
    if only:  # documents by kind: "cross-site", "lessons", "sites" (the top output folder)
        jobs = [job for job in jobs if job.folder.split("/")[0] in only]
    plan_path = cfg.path(cfg.plan)
    names: list[str] = []
    names_source = "the names file"
    if plan_path.exists():
        plan = load_plan(plan_path)
        if plan.feedback is not None and plan.feedback.names_file:
            names = read_names(cfg.path(plan.feedback.names_file))
            names_source = plan.feedback.names_file
    rules = ScanRules(threshold=cfg.reports.suppression_threshold, names=tuple(names),
                      names_source=names_source, region=cfg.privacy.default_region)
    quarto = quarto_available()
    use_quarto = engine == "quarto" or (engine == "auto" and quarto is not None)
    note = (f"Rendering with Quarto ({quarto})." if use_quarto else
            "Quarto CLI not found on PATH: rendering the same .qmd files with a Jupyter "
            "kernel and pandoc.")
    task = progress.add_task("Rendering reports", total=len(jobs))
    summary = render_reports(jobs, output_dir=cfg.output_path, engine=engine,  # type: ignore[arg-type]
                             formats=formats, project_dir=cfg.root, scan=rules, force=force,
                             workers=workers, docx_reference=cfg.docx_reference_path,
                             on_done=lambda job: progress.advance(task))
    return note, summary


@dataclass(frozen=True)
class DemoOutcome:
    """What ``evalkit demo`` made."""

    project: Path
    ingest_line: str
    results_dir: Path
    reports: tuple[Path, ...]
    notes: tuple[str, ...]


#: Kernels the demo keeps started ahead of its documents (each holds pandas and pyplot,
#: about 190 MB resident): one per document of its 8. Started one at a time, about 7 are up
#: when analyze ends; rendering took 7.7 s with 6 warmed ahead and 7.3 s with 8.
_WARM_KERNELS = 8


def run_demo(out: str | Path, *, seed: int = 2026, engine: str = "auto",
             formats: Sequence[str] = ("html", "docx"),
             progress: ProgressLike | None = None) -> DemoOutcome:
    """Create the demo project in ``out`` and run generate -> ingest -> analyze -> report.

    Safe to re-run on the same folder: the configuration and shipped files are rewritten,
    the same generated data is recognised by its hash and not ingested twice, and results
    and reports are replaced.
    """
    from evalkit.demo import demo_config, generate
    from evalkit.project import create_project
    from evalkit.reporting import warm_kernels
    from evalkit.reporting._render import quarto_available
    from evalkit.store import ingest

    progress = progress or _NoProgress()
    out = Path(out)
    # The fallback's kernels start from the beginning, one at a time on the core that
    # generating, ingesting and analysing (one core) leave free: see warm_kernels.
    warm: contextlib.AbstractContextManager[KernelPool | None] = contextlib.nullcontext()
    if engine == "fallback" or (engine == "auto" and quarto_available() is None):
        (out / "reports").mkdir(parents=True, exist_ok=True)
        warm = warm_kernels(out / "reports", ready=_WARM_KERNELS, total=_WARM_KERNELS)
    with warm as pool:
        task = progress.add_task("Generating the demo collaborative", total=1)
        demo = generate(seed=seed)
        cfg = create_project(out, config=demo_config(demo), force=True)
        if pool is not None:  # a cross-site, a lessons and a site report per site
            pool.expect(len(cfg.sites) + len(list((out / "reports").glob("*.qmd"))) - 1)
        data_dir = out / "data"
        data_dir.mkdir(exist_ok=True)
        (data_dir / "demo_truth.json").write_text(json.dumps(demo.truth, indent=2) + "\n")
        # Names to scrub from quotes live beside the data, outside the store and results.
        (data_dir / "names.txt").write_text("\n".join(demo.names) + "\n")
        plan_file = out / "analyses" / "plan.yml"
        plan_file.write_text(plan_file.read_text().replace("names_file: null",
                                                           "names_file: data/names.txt"))
        progress.advance(task)
        task = progress.add_task("Ingesting into DuckDB", total=1)
        instruments = project_instruments(cfg)
        summary = ingest(cfg.store_path, demo.batch, source=f"demo:seed={seed}", kind="demo",
                         personal_items={k: v.personal_items for k, v in instruments.items()},
                         detail={"generator": "evalkit.demo.generate", "seed": seed})
        progress.advance(task)
        if summary.skipped:
            line = (f"nothing new into {cfg.store_path}: this demo data was ingested before "
                    f"({summary.unchanged} responses unchanged)")
        else:
            line = (f"{summary.inserted} new and {summary.updated} updated responses "
                    f"({summary.answers_written} answers) into {cfg.store_path}; "
                    f"{summary.personal_items_dropped} personal answers dropped")
        manifest = analyze_project(out, progress=progress)
        note, rendered = render_project(out, engine=engine, formats=formats, progress=progress)
    return DemoOutcome(project=out, ingest_line=line, results_dir=manifest.parent,
                       reports=rendered.outputs, notes=(note, rendered.describe()))

