"""Creating an evaluation project folder: configuration, instruments, plan and reports.

A project folder holds ``evalkit.yml``, ``surveys/`` (the instruments), ``analyses/plan.yml``,
``reports/`` (the Quarto documents) and ``_quarto.yml``; the store, results and rendered
reports are created beside them.

Examples
--------
>>> import tempfile, pathlib
>>> from evalkit.project import create_project
>>> folder = pathlib.Path(tempfile.mkdtemp()) / "my-eval"
>>> cfg = create_project(folder)
>>> sorted(p.name for p in folder.iterdir())
['.gitignore', '_quarto.yml', 'analyses', 'evalkit.yml', 'reports', 'surveys']
>>> cfg.collaborative.name
'My Complex Care Learning Collaborative'
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from evalkit._assets import asset_path
from evalkit.config import ProjectConfig, load_config
from evalkit.errors import ConfigError
from evalkit.plan import AnalysisPlan, build_plan, check_plan, load_plan, plan_yaml

__all__ = ["create_project", "refresh_assets", "write_project_plan"]

_ASSETS = ("surveys", "analyses", "reports", "_quarto.yml")


def refresh_assets(directory: str | Path) -> None:
    """Copy the shipped instruments, plan, report documents and ``_quarto.yml`` into a
    project folder, replacing earlier copies of the same files (other files are kept)."""
    directory = Path(directory)
    for name in _ASSETS:
        src = asset_path(name)
        dst = directory / name
        if src.is_dir():
            for file in sorted(src.rglob("*")):
                if file.is_file() and "__pycache__" not in file.parts:
                    target = dst / file.relative_to(src)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(file, target)
        else:
            shutil.copyfile(src, dst)


def create_project(directory: str | Path, *, config: Mapping[str, Any] | None = None,
                   force: bool = False) -> ProjectConfig:
    """Create a project folder ready to be filled with real sites.

    Parameters
    ----------
    directory
        The folder (created if missing).
    config
        The configuration to write as ``evalkit.yml``; the commented template by default.
    force
        Overwrite an existing ``evalkit.yml``. Without it an existing configuration is an
        error, so ``init`` never destroys a project.

    Returns
    -------
    ProjectConfig
        The validated configuration of the new project.
    """
    directory = Path(directory)
    target = directory / "evalkit.yml"
    if target.exists() and not force:
        raise ConfigError(
            f"{target}: a project already exists here; choose another folder or pass --force"
        )
    directory.mkdir(parents=True, exist_ok=True)
    refresh_assets(directory)
    ignore = directory / ".gitignore"
    if not ignore.exists():
        # Survey data is about people: keep the store, pulled data and outputs out of git.
        ignore.write_text("# evalkit: data about people stays out of version control\n"
                          "*.duckdb\n*.duckdb.wal\n.evalkit/\nresults/\n_output/\n"
                          "data/\nexports/\n")
    if config is None:
        shutil.copyfile(asset_path("templates") / "evalkit.yml", target)
    else:
        target.write_text(yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True))
    cfg = load_config(target)
    write_project_plan(cfg)
    return cfg


def write_project_plan(config: ProjectConfig) -> Path:
    """Write ``analyses/plan.yml`` for the project's own instruments, waves and modalities.

    The shipped plan (a curated choice of outcomes for the shipped instruments) is kept
    when it fits the project: it passes :func:`~evalkit.plan.check_plan` and asks for the
    same waves, instruments and sections as :func:`~evalkit.plan.build_plan` would.
    Otherwise the built plan is written, commented so a person can edit it.

    Returns
    -------
    pathlib.Path
        The plan file.
    """
    from evalkit.pipeline import project_instruments

    instruments = project_instruments(config)
    built = AnalysisPlan.model_validate(build_plan(config, instruments))
    path = config.path(config.plan)
    shipped = asset_path("analyses") / "plan.yml"
    if not (shipped.exists() and _fits(load_plan(shipped), built, config, instruments)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(plan_yaml(built.model_dump(mode="json", exclude_defaults=False)))
    elif path.resolve() != shipped.resolve():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shipped, path)
    return path


def _fits(shipped: AnalysisPlan, built: AnalysisPlan, config: ProjectConfig,
          instruments: Mapping[str, Any]) -> bool:
    """Whether the shipped plan asks for what the project can give, and for all of it."""
    try:
        check_plan(shipped, config, dict(instruments))
    except ConfigError:
        return False

    def shape(plan: AnalysisPlan) -> tuple:
        return (plan.compare, plan.model.time_order if plan.model else None,
                {o.instrument for o in plan.outcomes}, {o.instrument for o in plan.outcomes
                                                        if o.model},
                plan.network.instrument if plan.network else None,
                plan.feedback.instrument if plan.feedback else None,
                plan.linkage.instrument if plan.linkage else None)

    return shape(shipped) == shape(built)
