"""The analysis plan (``analyses/plan.yml``): which outcomes, which waves, which model.

Examples
--------
>>> from evalkit.plan import load_plan
>>> from evalkit._assets import asset_path
>>> plan = load_plan(asset_path("analyses") / "plan.yml")
>>> plan.compare.pre, plan.compare.post, plan.outcomes[0].id
('baseline', 'endline', 'partnership_total')
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evalkit._yaml import load_model
from evalkit.config import ProjectConfig
from evalkit.errors import ConfigError
from evalkit.instruments import Instrument

__all__ = ["AnalysisPlan", "Outcome", "load_plan", "check_plan"]

_ID = r"^[A-Za-z][A-Za-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Compare(_Strict):
    pre: str
    post: str


class Outcome(_Strict):
    id: str = Field(pattern=_ID)
    label: str
    instrument: str
    scale: str
    design: Literal["matched", "cross_sectional"] = "matched"
    model: bool = False


class ModelSettings(_Strict):
    time_order: tuple[str, ...] = Field(min_length=2)
    df_method: Literal["satterthwaite", "kenward-roger"] = "satterthwaite"
    reml: bool = True
    permutation_seed: int = 2026
    permutations: int = Field(default=10_000, ge=100)


class NetworkSettings(_Strict):
    instrument: str = "network"
    item: str = "collaboration"
    min_level: int = Field(default=3, ge=1)


class FeedbackSettings(_Strict):
    instrument: str = "community"
    comment_item: str = "COMMENT"
    codebook: str = "analyses/themes.yml"
    names_file: str | None = None  # names to scrub from quotes; kept outside the store
    quotes_per_theme: int = Field(default=3, ge=0)


class LinkageSettings(_Strict):
    instrument: str = "community"
    max_mismatches: int = Field(default=0, ge=0)
    prefer_exact: bool = False


class Multiplicity(_Strict):
    method: Literal["holm", "BH"] = "holm"
    family: tuple[str, ...] = ()


class AnalysisPlan(_Strict):
    """A validated analysis plan."""

    name: str
    description: str = ""
    compare: Compare
    outcomes: tuple[Outcome, ...] = Field(min_length=1)
    model: ModelSettings | None = None
    multiplicity: Multiplicity = Multiplicity()
    reliability: bool = True
    network: NetworkSettings | None = None
    feedback: FeedbackSettings | None = None
    linkage: LinkageSettings | None = None

    @model_validator(mode="after")
    def _references(self) -> AnalysisPlan:
        ids = [o.id for o in self.outcomes]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"outcomes: duplicate outcome id(s) {dup}")
        for name in self.multiplicity.family:
            if name not in ids:
                raise ValueError(
                    f"multiplicity.family: {name!r} is not an outcome id; outcomes are {ids}")
        if self.compare.pre == self.compare.post:
            raise ValueError("compare: pre and post must be different waves")
        return self

    @property
    def family(self) -> tuple[str, ...]:
        """The outcomes adjusted together (all outcomes when the plan names none)."""
        return self.multiplicity.family or tuple(o.id for o in self.outcomes)


def load_plan(path: str | Path) -> AnalysisPlan:
    """Read and validate an analysis plan; errors name the file and key."""
    return load_model(Path(path), AnalysisPlan)


def check_plan(plan: AnalysisPlan, config: ProjectConfig,
               instruments: dict[str, Instrument], *, source: str | Path = "plan") -> None:
    """Check that the plan's waves, instruments and scales exist in the project.

    Raises
    ------
    ConfigError
        Naming the plan file, the outcome and what is missing.
    """
    waves = config.wave_ids
    problems = []
    for key, wave in (("compare.pre", plan.compare.pre), ("compare.post", plan.compare.post)):
        if wave not in waves:
            problems.append(f"{key}: wave {wave!r} is not one of the project's waves {waves}")
    for i, o in enumerate(plan.outcomes):
        where = f"outcomes[{i}] ({o.id})"
        if o.instrument not in instruments:
            problems.append(f"{where}.instrument: {o.instrument!r} is not one of the project's "
                            f"instruments {sorted(instruments)}")
            continue
        scales = [s.id for s in instruments[o.instrument].scales]
        if o.scale not in scales:
            problems.append(f"{where}.scale: {o.scale!r} is not a scale of instrument "
                            f"{o.instrument!r}; scales are {scales}")
    if plan.model is not None:
        for w in plan.model.time_order:
            if w not in waves:
                problems.append(f"model.time_order: wave {w!r} is not one of the project's "
                                f"waves {waves}")
    if problems:
        raise ConfigError("\n".join(f"{source}: {p}" for p in problems))
