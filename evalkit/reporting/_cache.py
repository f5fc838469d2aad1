"""What a report depends on, as a key, and the small state file that remembers the keys.

A document is rendered again only when its key changes or one of its outputs is missing or
was edited. The key is a hash of:

- the document's text and the project's ``_quarto.yml``;
- its parameters, the output formats and the engine that renders it (Quarto or fallback);
- the Word reference document whose styles the ``.docx`` takes (``reports.docx_reference``),
  by content;
- the evalkit code the documents call (every ``.py`` file of the installed package);
- the results it reads, from ``results/manifest.json`` and the Parquet tables:

  - a **whole-collaborative document** (cross-site, lessons; any job without a ``site``):
    every table's content hash and the manifest's settings (plan, suppression threshold,
    waves, modalities, data hash, software versions);
  - a **site report** (a job with a ``site``): the rows of every table that has a
    ``site_id`` column where ``site_id`` is that site, the tables without a ``site_id``
    column that describe the plan rather than the data (all except
    :data:`COLLABORATIVE_TABLES`, e.g. ``outcomes``), and the manifest's settings except the
    data hash.

The manifest's ``created_at`` is never part of a key, so analysing unchanged data again
renders nothing. Changing one site's data therefore re-renders that site's report and the
whole-collaborative documents only. A site report also shows comparison rows (its modality,
the whole collaborative) that change with every site's data; those are **not** in its key,
or one site's new data would re-render every site. Instead :func:`comparison_digest`
records what the comparison rows were when a site report was rendered, and a later run
reports the site reports whose comparison rows have changed since (``--force`` refreshes
them).

Examples
--------
>>> state = RenderState.empty()
>>> state.entry("sites/S01/site-S01") is None
True
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.errors import RenderError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CHECK_FILE", "COLLABORATIVE_TABLES", "STATE_FILE", "RenderState", "ResultsDigest",
           "comparison_digest", "document_key", "file_sha256", "inputs_fingerprint",
           "record_outcome", "recorded_outcome", "results_digest"]

#: Name of the state file kept in the output folder.
STATE_FILE = ".render-state.json"
#: Outcomes of complete renders by the fingerprint of their inputs (the CLI's quick check).
CHECK_FILE = ".render-check.json"
#: Result tables without a ``site_id`` column that hold statistics over every site's data
#: (fnmatch patterns). They are not part of a site report's key; see the module docstring.
COLLABORATIVE_TABLES = ("model_*", "reliability", "design_power")
_STATE_VERSION = 1
_VOLATILE = ("created_at",)


def _sha(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _evalkit_code() -> str:
    """A hash of the evalkit package's Python files (reports call evalkit.reporting)."""
    from importlib import metadata

    root = Path(__file__).resolve().parents[1]
    try:
        version = metadata.version("evalkit")
    except metadata.PackageNotFoundError:
        version = "unknown"
    h = hashlib.sha256(version.encode())
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@dataclass(frozen=True)
class ResultsDigest:
    """Content hashes of a results folder, as the documents that read it see it.

    Attributes
    ----------
    whole
        Everything: every table's hash and the manifest's settings (``created_at`` aside).
    shared
        What every site report reads besides its own rows: the manifest's settings without
        the data hash, and the tables without ``site_id`` that are not
        :data:`COLLABORATIVE_TABLES`.
    sites
        Per site id, a hash of that site's rows in every table with a ``site_id`` column.
    comparison
        A hash of everything a site report shows but is not keyed on: rows without a
        ``site_id`` (modality and collaborative levels) and :data:`COLLABORATIVE_TABLES`.
    """

    whole: str
    shared: str
    sites: Mapping[str, str] = field(default_factory=dict)
    comparison: str = ""

    def site(self, site_id: str) -> str:
        """The hash of one site's rows (a fixed value for a site with no rows)."""
        return self.sites.get(site_id, _sha(["no rows", site_id]))


def _frame_digest(df: pd.DataFrame) -> str:
    from evalkit.results import frame_hash

    return frame_hash(df.reset_index(drop=True))


def results_digest(results_dir: str | Path) -> ResultsDigest:
    """Hash a results folder written by ``evalkit analyze`` (see :class:`ResultsDigest`).

    Raises
    ------
    RenderError
        If the manifest is missing or unreadable, or a table file is missing.
    """
    directory = Path(results_dir)
    path = directory / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        tables: dict[str, Any] = manifest["tables"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RenderError(f"{path}: cannot read the results manifest ({exc}); run "
                          "`evalkit analyze` first") from None
    settings = {k: v for k, v in manifest.items() if k not in (*_VOLATILE, "tables")}
    site_settings = {k: v for k, v in settings.items() if k != "data_hash"}
    table_hashes = {name: entry.get("sha256") for name, entry in tables.items()}
    whole = _sha({"settings": settings, "tables": table_hashes})
    shared: dict[str, Any] = {}
    comparison: dict[str, Any] = {}
    per_site: dict[str, dict[str, str]] = {}
    for name, entry in sorted(tables.items()):
        columns = entry.get("columns") or []
        if "site_id" not in columns:
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in COLLABORATIVE_TABLES):
                comparison[name] = entry.get("sha256")
            else:
                shared[name] = entry.get("sha256")
            continue
        file = directory / entry["file"]
        import pandas as pd

        try:
            df = pd.read_parquet(file)
        except (OSError, ValueError) as exc:
            raise RenderError(f"{file}: cannot read result table {name!r}: {exc}") from None
        ids = df["site_id"]
        known = ids.notna()
        comparison[name] = _frame_digest(df[~known])
        for site_id, rows in df[known].groupby(ids[known].astype(str), sort=True):
            per_site.setdefault(str(site_id), {})[name] = _frame_digest(rows)
    return ResultsDigest(
        whole=whole,
        shared=_sha({"settings": site_settings, "tables": shared}),
        sites={site: _sha(hashes) for site, hashes in per_site.items()},
        comparison=_sha(comparison),
    )


def comparison_digest(digest: ResultsDigest | None, site: str | None) -> str | None:
    """What a site report shows but is not keyed on; ``None`` for other documents."""
    if digest is None or site is None:
        return None
    return digest.comparison


def document_key(*, document: Path, project_file: Path | None, params: Mapping[str, Any],
                 formats: list[str], engine: str, results: ResultsDigest | None,
                 site: str | None, docx_reference: Path | None = None) -> str:
    """The key of one render: a hash of everything its outputs depend on.

    ``results`` is ``None`` for a document that reads no results folder; ``site`` says
    which slice a site report reads (``None``: the whole results); ``docx_reference`` is the
    Word reference document, if any, hashed by content.
    """
    if results is None:
        reads: Any = None
    elif site is None:
        reads = {"whole": results.whole}
    else:
        reads = {"shared": results.shared, "site": site, "rows": results.site(site)}
    return _sha({
        "version": _STATE_VERSION,
        "document": file_sha256(document),
        "project": file_sha256(project_file) if project_file is not None else None,
        "params": params,
        "formats": list(formats),
        "engine": engine,
        "evalkit": _evalkit_code(),
        "results": reads,
        "docx_reference": (file_sha256(docx_reference) if docx_reference is not None
                           else None),
    })


@dataclass
class RenderState:
    """The keys of the last successful render of each document, kept as JSON.

    ``jobs`` maps a job id (its output path without extension, relative to the output
    folder) to ``{"key", "outputs": {relative path: sha256}, "scan", "comparison"}``.
    """

    path: Path | None
    jobs: dict[str, dict[str, Any]]

    @classmethod
    def empty(cls) -> RenderState:
        """A state that remembers nothing and is never written."""
        return cls(None, {})

    @classmethod
    def load(cls, output_dir: str | Path) -> RenderState:
        """Read the state file of an output folder; an unreadable or old one counts as empty."""
        path = Path(output_dir) / STATE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls(path, {})
        if not isinstance(data, dict) or data.get("version") != _STATE_VERSION or not (
                isinstance(data.get("jobs"), dict)):
            return cls(path, {})
        return cls(path, dict(data["jobs"]))

    def entry(self, job_id: str) -> dict[str, Any] | None:
        """The remembered render of a job, if any."""
        found = self.jobs.get(job_id)
        return found if isinstance(found, dict) else None

    def up_to_date(self, job_id: str, key: str, root: Path) -> bool:
        """Whether the job was rendered with this key and its outputs are there, unedited."""
        entry = self.entry(job_id)
        if entry is None or entry.get("key") != key or not entry.get("outputs"):
            return False
        for relative, digest in entry["outputs"].items():
            target = root / relative
            if not target.is_file() or file_sha256(target) != digest:
                return False
        return True

    def save(self) -> None:
        """Write the state file atomically (nothing for :meth:`empty`)."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": _STATE_VERSION, "jobs": self.jobs}, indent=1,
                          sort_keys=True)
        fd, tmp = tempfile.mkstemp(prefix=".render-state-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


# The quick check: answering "everything is up to date" without pandas -------------------
# results_digest reads Parquet (pandas), so deciding from keys costs the imports a render
# needs. A caller that knows every file its render decisions read (configuration, plan,
# documents, results...) records the outcome of a complete render under the fingerprint of
# those files; a later run with the same fingerprint, the same state file and unedited
# outputs would decide the same way, so it can reuse the outcome. Anything else: decide
# from keys as usual.
_CHECK_KEEP = 8


def inputs_fingerprint(files: Any, *, request: Mapping[str, Any]) -> str:
    """A hash of ``request``, the evalkit code and the bytes of each of ``files``.

    A missing file counts (as missing), so creating it changes the fingerprint.
    """
    contents = {}
    for path in sorted({str(Path(f).resolve()) for f in files}):
        contents[path] = file_sha256(path) if os.path.isfile(path) else None
    return _sha({"version": _STATE_VERSION, "evalkit": _evalkit_code(),
                 "request": dict(request), "files": contents})


def recorded_outcome(output_dir: str | Path, fingerprint: str) -> dict[str, Any] | None:
    """The outcome :func:`record_outcome` kept for ``fingerprint``, if it still holds.

    It holds when the state file is the one written by that render and every output of
    the jobs it names is there, unedited; otherwise ``None``.
    """
    root = Path(output_dir)
    try:
        entry = json.loads((root / CHECK_FILE).read_text(encoding="utf-8")).get(fingerprint)
        if not isinstance(entry, dict) or file_sha256(root / STATE_FILE) != entry["state"]:
            return None
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return None
    state = RenderState.load(root)
    for job_id in entry.get("jobs") or ():
        if not state.up_to_date(job_id, (state.entry(job_id) or {}).get("key", ""), root):
            return None
    return entry


def record_outcome(output_dir: str | Path, fingerprint: str, outcome: Mapping[str, Any],
                   *, jobs: list[str]) -> None:
    """Remember ``outcome`` of a complete render of ``jobs`` whose inputs hash to
    ``fingerprint`` (call it with the fingerprint taken before the render, and only if it
    is the same after); the last few fingerprints are kept."""
    root = Path(output_dir)
    path = root / CHECK_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        record = record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        record = {}
    record.pop(fingerprint, None)
    record[fingerprint] = {**outcome, "jobs": list(jobs),
                           "state": file_sha256(root / STATE_FILE)}
    record = dict(list(record.items())[-_CHECK_KEEP:])
    fd, tmp = tempfile.mkstemp(prefix=".render-check-", dir=root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(record, indent=1) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
