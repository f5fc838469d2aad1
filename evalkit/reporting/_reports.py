"""Which report documents a project renders, and rendering them: in parallel, only what
changed, each checked before it is kept.

Each document is rendered into its own folder under the output folder, so the files one
writes can never overwrite another's::

    _output/cross-site/cross-site.html   (and .docx)
    _output/lessons/lessons.html
    _output/sites/S01/site-S01.html

:func:`render_reports` skips a document whose key (see :mod:`evalkit.reporting._cache`) is
unchanged since the last run and whose outputs are still there, renders the others
concurrently (one thread per worker, each driving its own kernel and pandoc processes) and
lays out the tables of every Word file it writes (:func:`evalkit.reporting._docx.tidy_docx`)
and then scans every file (:mod:`evalkit.reporting._scan`): a file with a small cell or
personal data is deleted and the render fails.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from evalkit.errors import RenderError
from evalkit.findings import md
from evalkit.reporting._cache import (
    RenderState,
    ResultsDigest,
    comparison_digest,
    document_key,
    file_sha256,
    results_digest,
)
from evalkit.reporting._scan import ScanRules, check_outputs

__all__ = ["Branding", "RenderSummary", "ReportJob", "default_workers", "render_reports",
           "report_jobs"]

_FORMAT_EXT = {"html": "html", "docx": "docx", "pdf": "pdf"}


@dataclass(frozen=True)
class Branding:
    """What a center puts on the title of every report (``reports:`` in ``evalkit.yml``).

    Attributes
    ----------
    organisation
        The organisation that publishes the reports.
    funder
        The funder acknowledgement, as it should read.
    logo
        A PNG, JPEG or SVG file, embedded in every HTML and Word file.

    Examples
    --------
    >>> Branding(organisation="Northwind Evaluation Center").params()
    {'organisation': 'Northwind Evaluation Center'}
    >>> Branding().params()
    {}
    """

    organisation: str | None = None
    funder: str | None = None
    logo: Path | None = None

    def params(self) -> dict[str, str]:
        """The document parameters that carry it (only those that are set)."""
        out = {"organisation": self.organisation, "funder": self.funder,
               "logo": str(Path(self.logo).resolve()) if self.logo is not None else None}
        return {k: v for k, v in out.items() if v}

    @classmethod
    def from_config(cls, config: object) -> Branding:
        """The branding of a :class:`evalkit.config.ProjectConfig`."""
        reports = config.reports  # type: ignore[attr-defined]
        return cls(organisation=reports.organisation, funder=reports.funder,
                   logo=config.logo_path)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ReportJob:
    """One document to render.

    Attributes
    ----------
    document
        The ``.qmd`` file.
    output_stem
        File name of the outputs without extension.
    params
        The document's parameters.
    title
        What the progress display calls it.
    folder
        Folder of the outputs, relative to the output folder (``""``: the output folder).
    site
        For a site report, the site whose rows it reads (which results its key hashes);
        ``None`` for a document that reads the whole results.
    document_title
        Replaces the document's own title (a site report is titled with the site's name).
    """

    document: Path
    output_stem: str
    params: dict = field(default_factory=dict)
    title: str = ""
    folder: str = ""
    site: str | None = None
    document_title: str | None = None

    @property
    def job_id(self) -> str:
        """The outputs' path without extension, relative to the output folder."""
        return f"{self.folder}/{self.output_stem}" if self.folder else self.output_stem


@dataclass(frozen=True)
class RenderSummary:
    """What :func:`render_reports` did.

    Attributes
    ----------
    outputs
        Every job's output files, in job order, whether rendered now or up to date.
    rendered
        Jobs rendered in this run.
    up_to_date
        Jobs skipped because nothing they depend on changed.
    stale_comparisons
        Up-to-date site reports whose comparison rows (modality, collaborative) have
        changed since they were rendered; ``force=True`` refreshes them.
    seconds
        Wall-clock seconds of each rendered job (render, table layout and scan), by job id.
    engines
        Which engine rendered each rendered job (``"quarto"`` or ``"fallback"``), by job id.
    """

    outputs: tuple[Path, ...]
    rendered: tuple[ReportJob, ...]
    up_to_date: tuple[ReportJob, ...]
    stale_comparisons: tuple[ReportJob, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)
    engines: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for the user: counts, and which site reports show stale comparisons.

        >>> RenderSummary(outputs=(), rendered=(), up_to_date=()).describe()
        '0 rendered, 0 up to date.'
        """
        line = f"{len(self.rendered)} rendered, {len(self.up_to_date)} up to date."
        if self.stale_comparisons:
            ids = ", ".join(job.site or job.job_id for job in self.stale_comparisons)
            line += (f" The site reports of {ids} show modality and collaborative rows from "
                     "earlier results; render with --force to refresh them.")
        return line


def report_jobs(reports_dir: str | Path, results_dir: str | Path,
                sites: Sequence[tuple[str, str]], *, whole: bool = True,
                branding: Branding | None = None) -> list[ReportJob]:
    """The cross-site report, the lessons report and one site report per site.

    Parameters
    ----------
    reports_dir
        Folder holding ``cross_site.qmd``, ``lessons.qmd`` and ``site.qmd``. A missing
        ``lessons.qmd`` is left out.
    results_dir
        Results folder passed to every document as the ``results_dir`` parameter.
    sites
        ``(site_id, site_name)`` pairs.
    whole
        Include the whole-collaborative documents (cross-site and lessons).
    branding
        The organisation, funder and logo on every document's title, passed to each
        document as the parameters ``organisation``, ``funder`` and ``logo`` (only those
        set, so an unbranded project's documents are rendered as before).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("cross_site.qmd", "lessons.qmd", "site.qmd"):
    ...     _ = (folder / name).write_text("---\\ntitle: x\\n---\\n")
    >>> [j.job_id for j in report_jobs(folder, "results", [("S01", "North")])]
    ['cross-site/cross-site', 'lessons/lessons', 'sites/S01/site-S01']
    """
    reports_dir, results_dir = Path(reports_dir), Path(results_dir).resolve()
    common = {"results_dir": str(results_dir), **(branding or Branding()).params()}
    jobs = []
    if whole:
        jobs.append(ReportJob(reports_dir / "cross_site.qmd", "cross-site", dict(common),
                              "Cross-site report", folder="cross-site"))
        lessons = reports_dir / "lessons.qmd"
        if lessons.exists():
            jobs.append(ReportJob(lessons, "lessons", dict(common), "Lessons report",
                                  folder="lessons"))
    for site_id, name in sites:
        jobs.append(ReportJob(reports_dir / "site.qmd", f"site-{site_id}",
                              {**common, "site": site_id}, f"Site report: {name}",
                              folder=f"sites/{site_id}", site=site_id,
                              document_title=f"{md(name)}: site report"))
    return jobs


def _logo_digest(job: ReportJob) -> dict[str, str]:
    """The logo's content, for the render key (a new logo at the same path renders again)."""
    logo = job.params.get("logo")
    if not logo:
        return {}
    if not Path(logo).is_file():
        raise RenderError(f"logo: logo file not found: {logo}")
    return {"_logo": file_sha256(Path(logo))}


def default_workers() -> int:
    """One more than the CPUs: each render also waits (kernel start-up, pandoc), and a third
    document fills those waits. On 2 cores, 60 site reports took 0.84 s each amortized with 3
    workers, 0.98 s with 2 and 0.86 s with 4 (``benchmarks/bench_reports.py``).

    >>> default_workers() >= 2
    True
    """
    return (os.cpu_count() or 1) + 1


def _resolve_engine(engine: str) -> Literal["quarto", "fallback"]:
    from evalkit.reporting._render import quarto_available

    if engine not in ("auto", "quarto", "fallback"):
        raise RenderError(f"engine must be 'auto', 'quarto' or 'fallback', got {engine!r}")
    quarto = quarto_available()
    if engine == "quarto" and quarto is None:
        raise RenderError("engine='quarto' was asked for but the quarto CLI is not on PATH; "
                          "install Quarto or use engine='fallback'")
    return "quarto" if quarto is not None and engine != "fallback" else "fallback"


def _formats(formats: Sequence[str]) -> list[str]:
    out: list[str] = []
    for fmt in [formats] if isinstance(formats, str) else formats:
        if fmt not in _FORMAT_EXT:
            raise RenderError(f"formats: unsupported format {fmt!r}; supported are "
                              f"{sorted(_FORMAT_EXT)}")
        if fmt not in out:
            out.append(fmt)
    if not out:
        raise RenderError("formats: at least one output format is needed, got none")
    return out


def render_reports(jobs: Sequence[ReportJob], *, output_dir: str | Path,
                   engine: Literal["auto", "quarto", "fallback"] = "auto",
                   formats: Sequence[str] = ("html",), project_dir: str | Path | None = None,
                   scan: ScanRules | None = None, force: bool = False,
                   workers: int | None = None, timeout: float = 600,
                   docx_reference: str | Path | None = None,
                   on_done: Callable[[ReportJob], None] | None = None) -> RenderSummary:
    """Render the jobs that changed since the last run, in parallel, and check each output.

    Parameters
    ----------
    jobs
        The documents, e.g. from :func:`report_jobs`.
    output_dir
        Folder of the outputs: each job writes ``<folder>/<output_stem>.<format>`` in it.
        The keys of the last run are kept in ``.render-state.json`` there.
    engine
        ``"auto"`` (Quarto when on PATH, else the fallback), ``"quarto"`` or ``"fallback"``.
    formats
        Output formats, ``"html"`` and/or ``"docx"``.
    project_dir
        Folder holding the Quarto project's ``_quarto.yml``.
    scan
        What a published file must not contain (threshold, names). Every output written is
        scanned; so is an up-to-date output the current rules have not checked yet.
    force
        Render every job, changed or not.
    workers
        Documents rendered at once; default: :func:`default_workers`.
    timeout
        Seconds allowed per document.
    docx_reference
        A Word file whose styles the ``.docx`` outputs take (pandoc's ``--reference-doc``).
        Its content is part of every key, so changing the file renders everything again.
    on_done
        Called with each job once it is rendered or found up to date (the CLI advances a
        progress bar with it).

    Returns
    -------
    RenderSummary

    Raises
    ------
    RenderError
        After every job has run, if any failed (a missing document, an error in a cell, an
        output that is not safe to publish); the message lists each failure. Outputs that
        failed the scan are deleted; jobs that succeeded are kept and remembered.
    """
    from evalkit.reporting._render import _project_file

    rules = scan or ScanRules()
    fmts = _formats(formats)
    used = _resolve_engine(engine)
    root = Path(output_dir)
    project = Path(project_dir) if project_dir else None
    if workers is not None and workers < 1:
        raise RenderError(f"workers must be at least 1, got {workers}")
    state = RenderState.load(root)
    rules_digest = rules.digest_parts()
    reference = Path(docx_reference).resolve() if docx_reference is not None else None
    if reference is not None and not reference.is_file():
        raise RenderError(f"docx_reference: Word reference document not found: {reference}")
    digests: dict[str, ResultsDigest] = {}

    def results_for(job: ReportJob) -> ResultsDigest | None:
        folder = job.params.get("results_dir")
        if folder is None:
            return None
        folder = str(folder)
        if folder not in digests:
            digests[folder] = results_digest(folder)
        return digests[folder]

    errors: list[str] = []
    todo: list[tuple[ReportJob, str, str | None]] = []
    up_to_date: list[ReportJob] = []
    stale: list[ReportJob] = []
    for job in jobs:
        if not job.document.exists():
            errors.append(f"{job.document}: report document not found")
            continue
        results = results_for(job)
        project_file = _project_file(job.document.resolve(), project)
        key = document_key(document=job.document, project_file=project_file,
                           params={**job.params, "_title": job.document_title,
                                   **_logo_digest(job)}, formats=fmts,
                           engine=used, results=results, site=job.site,
                           docx_reference=reference)
        comparison = comparison_digest(results, job.site)
        if not force and state.up_to_date(job.job_id, key, root):
            entry = state.jobs[job.job_id]
            if entry.get("scan") != rules_digest:
                try:
                    check_outputs([root / p for p in entry["outputs"]], rules, label=job.job_id)
                except RenderError as exc:
                    errors.append(str(exc))
                    state.jobs.pop(job.job_id, None)
                    continue
                entry["scan"] = rules_digest
            if comparison is not None and entry.get("comparison") != comparison:
                stale.append(job)
            up_to_date.append(job)
            if on_done is not None:
                on_done(job)
        else:
            todo.append((job, key, comparison))
    state.save()

    lock = threading.Lock()
    seconds: dict[str, float] = {}
    engines: dict[str, str] = {}
    rendered: list[ReportJob] = []

    def run(job: ReportJob) -> list[Path]:
        started = time.perf_counter()
        outputs, engines[job.job_id] = _render_one(
            job, root=root, fmts=fmts, engine=used, project=project, rules=rules,
            timeout=timeout, reference=reference)
        seconds[job.job_id] = time.perf_counter() - started
        return outputs

    count = min(workers or default_workers(), max(1, len(todo)))
    pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="evalkit-render")
    try:
        futures = {pool.submit(run, job): (job, key, comparison)
                   for job, key, comparison in todo}
        for future in as_completed(futures):
            job, key, comparison = futures[future]
            try:
                written = future.result()
            except RenderError as exc:
                with lock:
                    errors.append(str(exc))
                    state.jobs.pop(job.job_id, None)
                    state.save()
            else:
                with lock:
                    state.jobs[job.job_id] = {
                        "key": key,
                        "outputs": {p.relative_to(root.resolve()).as_posix(): file_sha256(p)
                                    for p in written},
                        "scan": rules_digest,
                        "comparison": comparison,
                    }
                    state.save()
                    rendered.append(job)
            if on_done is not None:
                on_done(job)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if errors:
        if len(errors) == 1:
            raise RenderError(errors[0])
        raise RenderError(f"{len(errors)} of {len(jobs)} reports failed:\n- "
                          + "\n- ".join(errors))
    order = {job.job_id: i for i, job in enumerate(jobs)}
    outputs = tuple(root.resolve() / f"{job.job_id}.{_FORMAT_EXT[fmt]}"
                    for job in jobs for fmt in fmts)
    return RenderSummary(
        outputs=outputs,
        rendered=tuple(sorted(rendered, key=lambda j: order[j.job_id])),
        up_to_date=tuple(up_to_date),
        stale_comparisons=tuple(stale),
        seconds=seconds,
        engines={job_id: engines[job_id] for job_id in seconds if job_id in engines},
    )


def _render_one(job: ReportJob, *, root: Path, fmts: list[str], engine: str,
                project: Path | None, rules: ScanRules, timeout: float,
                reference: Path | None = None) -> tuple[list[Path], str]:
    """Render one job into its folder, lay out its Word tables and scan the final files
    (deleted if unsafe); returns the files and the engine that rendered them."""
    from evalkit.reporting._docx import tidy_docx
    from evalkit.reporting._render import render_document

    folder = root / job.folder if job.folder else root
    # Fail closed: whatever goes wrong (a cell, pandoc, the scan itself), none of this
    # document's files may stay behind unscanned.
    possible = [folder / f"{job.output_stem}.{_FORMAT_EXT[f]}" for f in _FORMAT_EXT]
    try:
        done = render_document(job.document, output_dir=folder, params=job.params,
                               formats=fmts, output_stem=job.output_stem,
                               engine=engine,  # type: ignore[arg-type]
                               project_dir=project, timeout=timeout, title=job.document_title,
                               docx_reference=reference)
        for path in done.outputs:
            if path.suffix == ".docx":
                # A center's reference document styles tables as it likes; pandoc's own
                # sets no table font size, so its tables get 10 pt.
                tidy_docx(path, table_text_pt=None if reference is not None else 10)
        check_outputs(list(done.outputs), rules, label=job.job_id)
    except BaseException:
        for path in possible:
            path.unlink(missing_ok=True)
        raise
    return list(done.outputs), done.engine
