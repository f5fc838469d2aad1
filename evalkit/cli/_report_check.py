"""The quick no-op check of ``evalkit report`` (a helper of :mod:`evalkit.cli._project`,
not a command group).

Deciding from the render keys reads the results with pandas and imports the renderers'
modules, about a second of imports to print "0 rendered, 8 up to date". So after each
complete render the CLI records its outcome under a fingerprint of every file the render's
decisions read (:func:`evalkit.reporting._cache.record_outcome`); the next ``evalkit
report`` with the same request hashes the same files (no pandas, no renderer) and, when
nothing changed, the state file is the same and every output is there unedited, prints the
recorded outcome. Anything else goes the usual way, through the keys.

The files: ``evalkit.yml``, the plan and its names file (the scan's names), every file
under ``reports/`` and the results folder (the manifest without its ``created_at``, so
analysing unchanged data again keeps the fingerprint), ``_quarto.yml``, the Word
reference document and the logo; plus the request (sites, documents, formats, engine,
whether Quarto is on PATH), the evalkit code and its version.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.errors import EvalkitError

if TYPE_CHECKING:
    from evalkit.reporting._reports import RenderSummary

__all__ = ["Fingerprint", "fingerprint", "quick_outcome", "remember", "remember_describe"]


@dataclass(frozen=True)
class Fingerprint:
    """The inputs' fingerprint of one request and the output folder it renders into."""

    output_dir: Path
    value: str


def _files_under(folder: Path, skip: Path) -> list[Path]:
    if not folder.is_dir():
        return [folder]  # counted as missing
    return [p for p in folder.rglob("*") if p.is_file() and not p.is_relative_to(skip)]


def _manifest(path: Path) -> Any:
    """The results manifest without its creation time: analysing unchanged data again
    rewrites the same tables (Parquet bytes are deterministic) and a new ``created_at``,
    which is part of no render key."""
    import json

    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:  # unreadable: its bytes, so any edit counts
        return {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    from evalkit.reporting._cache import _VOLATILE

    return {k: v for k, v in content.items() if k not in _VOLATILE} if isinstance(
        content, dict) else content


def fingerprint(project: Path, *, sites: Sequence[str] | None, only: Sequence[str] | None,
                formats: Sequence[str], engine: str) -> Fingerprint | None:
    """The fingerprint of a report request, or ``None`` if the project cannot be read
    (the usual path then reports the error)."""
    from evalkit.config import load_config
    from evalkit.plan import load_plan
    from evalkit.reporting._cache import inputs_fingerprint

    try:
        cfg = load_config(project)
        config_file = project if project.is_file() else project / "evalkit.yml"
        plan_path = cfg.path(cfg.plan)
        files = [config_file, plan_path, cfg.root / "_quarto.yml"]
        if plan_path.is_file():
            plan = load_plan(plan_path)
            if plan.feedback is not None and plan.feedback.names_file:
                files.append(cfg.path(plan.feedback.names_file))
        for optional in (cfg.docx_reference_path, getattr(cfg, "logo_path", None)):
            if optional is not None:
                files.append(optional)
        output = cfg.output_path.resolve()
        files += _files_under(cfg.root / "reports", output)
        manifest = cfg.results_path / "manifest.json"
        files += [f for f in _files_under(cfg.results_path, output) if f != manifest]
        request: dict[str, Any] = {
            "root": str(cfg.root), "output": str(output),
            "sites": sorted(set(sites)) if sites else None,
            "only": sorted(set(only)) if only else None,
            "formats": list(formats), "engine": engine, "quarto": shutil.which("quarto"),
            "manifest": _manifest(manifest),
        }
        return Fingerprint(output, inputs_fingerprint(files, request=request))
    except (EvalkitError, OSError, ValueError):
        return None


def quick_outcome(before: Fingerprint | None) -> dict[str, Any] | None:
    """The recorded outcome of a render with these inputs, if it still holds."""
    from evalkit.reporting._cache import recorded_outcome

    if before is None:
        return None
    return recorded_outcome(before.output_dir, before.value)


def remember(before: Fingerprint | None, after: Fingerprint | None, *, note: str,
             summary: RenderSummary) -> None:
    """Record a complete render's outcome, if its inputs did not change while it ran."""
    import dataclasses

    if before is None or before != after:
        return
    jobs = [*summary.rendered, *summary.up_to_date]
    again = dataclasses.replace(summary, rendered=(), up_to_date=tuple(jobs), seconds={},
                                engines={})
    _record(before, note=note, describe=again.describe(), outputs=summary.outputs,
            jobs=[job.job_id for job in jobs])


def remember_describe(before: Fingerprint | None, after: Fingerprint | None, *, note: str,
                      describe: str, outputs: Sequence[Path]) -> None:
    """:func:`remember` from what ``evalkit demo`` returns: the summary's line and outputs."""
    found = re.fullmatch(r"(\d+) rendered, (\d+) up to date\.(.*)", describe, flags=re.S)
    if before is None or before != after or found is None:
        return
    n = int(found.group(1)) + int(found.group(2))
    root = before.output_dir
    jobs = list(dict.fromkeys(Path(p).resolve().relative_to(root).with_suffix("").as_posix()
                              for p in outputs))
    if len(jobs) != n:
        return
    _record(before, note=note, describe=f"0 rendered, {n} up to date.{found.group(3)}",
            outputs=outputs, jobs=jobs)


def _record(before: Fingerprint, *, note: str, describe: str, outputs: Sequence[Path],
            jobs: list[str]) -> None:
    from evalkit.reporting._cache import record_outcome

    try:
        record_outcome(before.output_dir, before.value,
                       {"note": note, "describe": describe,
                        "outputs": [str(p) for p in outputs]}, jobs=jobs)
    except OSError:
        pass  # only a cache: the next run decides from the keys
