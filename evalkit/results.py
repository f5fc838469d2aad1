"""Machine-readable results: Parquet tables plus a JSON manifest, written atomically.

``evalkit analyze`` writes them; reports read them and never recompute. The manifest holds
the analysis plan, a hash of the data the analyses saw, the versions of the software that
produced them and, for every table, its row count and a hash of its content.

Examples
--------
>>> import tempfile, pathlib
>>> import pandas as pd
>>> from evalkit.results import read_results, write_results
>>> folder = pathlib.Path(tempfile.mkdtemp()) / "results"
>>> _ = write_results({"toy": pd.DataFrame({"x": [1, 2]})}, folder, plan={"name": "toy"},
...                   data_hash="abc")
>>> res = read_results(folder)
>>> res.table("toy")["x"].tolist(), res.manifest["plan"]["name"]
([1, 2], 'toy')
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.errors import AnalysisError

__all__ = ["Results", "write_results", "read_results", "frame_hash", "software_versions"]

_PACKAGES = ("evalkit", "pandas", "numpy", "scipy", "statsmodels", "pingouin", "duckdb",
             "pyarrow", "pydantic")


def frame_hash(df: pd.DataFrame) -> str:
    """A content hash of a table (values, column names and order), stable across runs."""
    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in df.columns]).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def software_versions() -> dict[str, str]:
    """Versions of Python and of the packages that compute results."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@dataclass(frozen=True)
class Results:
    """Results read from a results folder.

    Attributes
    ----------
    directory
        The folder.
    manifest
        The parsed ``manifest.json``.
    """

    directory: Path
    manifest: dict[str, Any]

    @property
    def tables(self) -> list[str]:
        """Names of the result tables."""
        return sorted(self.manifest["tables"])

    def table(self, name: str) -> pd.DataFrame:
        """Read one result table by name."""
        if name not in self.manifest["tables"]:
            raise AnalysisError(
                f"{self.directory / 'manifest.json'}: no result table {name!r}; "
                f"tables are {self.tables}"
            )
        return pd.read_parquet(self.directory / self.manifest["tables"][name]["file"])


def write_results(tables: Mapping[str, pd.DataFrame], directory: str | Path, *,
                  plan: Mapping[str, Any], data_hash: str,
                  extra: Mapping[str, Any] | None = None) -> Path:
    """Write result tables and their manifest, replacing the folder's previous content.

    The new results are written to a temporary folder beside ``directory`` and swapped in
    at the end, so a failure never leaves a half-written results folder.

    Returns
    -------
    pathlib.Path
        The manifest path.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".results-", dir=directory.parent))
    try:
        entries = {}
        for name, df in sorted(tables.items()):
            file = f"{name}.parquet"
            df = df.reset_index(drop=True)
            df.to_parquet(tmp / file, index=False)
            entries[name] = {"file": file, "rows": len(df), "columns": [str(c) for c in df],
                             "sha256": frame_hash(df)}
        manifest = {
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "plan": dict(plan),
            "data_hash": data_hash,
            "versions": software_versions(),
            "tables": entries,
            **dict(extra or {}),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        old = directory.with_name(f".{directory.name}-old")
        if old.exists():
            shutil.rmtree(old)
        if directory.exists():
            directory.rename(old)
        tmp.rename(directory)
        if old.exists():
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory / "manifest.json"


def read_results(directory: str | Path) -> Results:
    """Open a results folder written by :func:`write_results`."""
    directory = Path(directory)
    path = directory / "manifest.json"
    if not path.exists():
        raise AnalysisError(f"{path}: no results manifest; run `evalkit analyze` first")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise AnalysisError(f"{path}: not valid JSON ({exc})") from exc
    return Results(directory=directory, manifest=manifest)
