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

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from evalkit._yaml import load_model
from evalkit.config import ProjectConfig
from evalkit.errors import ConfigError
from evalkit.instruments import Instrument

__all__ = ["AnalysisPlan", "Outcome", "load_plan", "check_plan", "build_plan", "plan_yaml"]

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
    #: Also fit a cumulative-link mixed model to each Likert item of the scale (the answers
    #: as ordered categories), as a sensitivity check of the modality model's conclusions.
    ordinal: bool = False

    @model_validator(mode="after")
    def _ordinal_needs_model(self) -> Outcome:
        if self.ordinal and not self.model:
            raise ValueError("ordinal: true checks the modality model's conclusions, so it "
                             "needs model: true as well")
        return self


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


class Decision(_Strict):
    """When the reports may recommend a modality (see :class:`evalkit.findings.DecisionRule`):
    the model's 95% CI of its advantage excludes 0 against every other modality, it is an
    improvement, and the site-level randomization test gives ``p <= max_permutation_p``.
    Evidence is called firm only with at least ``min_sites_firm`` sites per modality."""

    max_permutation_p: float = Field(default=0.10, gt=0, le=1)
    min_sites_firm: int = Field(default=5, ge=2)


class DesignSettings(_Strict):
    """Power for the next collaborative (:func:`evalkit.design.detection_summary`): how often
    the site-level randomization test would find, at the decision rule's
    ``max_permutation_p``, a difference in change the size of the largest one seen here,
    with more sites per approach; simulated from this collaborative's own estimates."""

    n_simulations: int = Field(default=200, ge=20)
    max_sites: int = Field(default=24, ge=2)
    seed: int = 2026


class AnalysisPlan(_Strict):
    """A validated analysis plan."""

    name: str
    description: str = ""
    compare: Compare
    outcomes: tuple[Outcome, ...] = Field(min_length=1)
    model: ModelSettings | None = None
    multiplicity: Multiplicity = Multiplicity()
    decision: Decision = Decision()
    reliability: bool = True
    network: NetworkSettings | None = None
    feedback: FeedbackSettings | None = None
    linkage: LinkageSettings | None = None
    design: DesignSettings | None = None

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
        elif o.ordinal:
            inst = instruments[o.instrument]
            kinds = {i.code: i.type for i in inst.items}
            other = [c for c in inst.scale(o.scale).items if kinds.get(c) != "likert"]
            if other:
                problems.append(f"{where}.ordinal: the ordinal check fits each Likert item of "
                                f"the scale, but {other} of scale {o.scale!r} are not Likert "
                                "items")
    if plan.model is not None:
        for w in plan.model.time_order:
            if w not in waves:
                problems.append(f"model.time_order: wave {w!r} is not one of the project's "
                                f"waves {waves}")
    sections: list[tuple[str, str, str | None]] = []
    if plan.network is not None:
        sections.append(("network", plan.network.instrument, plan.network.item))
    if plan.feedback is not None:
        sections.append(("feedback", plan.feedback.instrument, plan.feedback.comment_item))
    if plan.linkage is not None:
        sections.append(("linkage", plan.linkage.instrument, None))
    for key, inst_id, item in sections:
        if inst_id not in instruments:
            problems.append(f"{key}.instrument: {inst_id!r} is not one of the project's "
                            f"instruments {sorted(instruments)}")
            continue
        inst = instruments[inst_id]
        codes = [i.code for i in inst.items]
        if item is not None and item not in codes:
            field = "item" if key == "network" else "comment_item"
            problems.append(f"{key}.{field}: {item!r} is not an item of instrument "
                            f"{inst_id!r}; items are {codes}")
        if key == "linkage" and inst.linkage_code is None:
            problems.append(f"linkage.instrument: instrument {inst_id!r} has no linkage_code "
                            "(the item holding a self-generated code)")
    if problems:
        raise ConfigError("\n".join(f"{source}: {p}" for p in problems))


def _outcome_id(instrument: str, scale: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", f"{instrument}_{scale}")
    if not re.match(r"^[A-Za-z]", base):
        base = f"o_{base}"
    oid, k = base, 2
    while oid in taken:
        oid, k = f"{base}_{k}", k + 1
    taken.add(oid)
    return oid


def _rating_item(inst: Instrument) -> tuple[str, int] | None:
    """The network instrument's tie item (``collaboration`` when it has one) and a tie
    threshold in the middle of its response scale."""
    grid = [i for i in inst.items if i.type == "rating_grid" and not i.personal]
    if not grid:
        return None
    item = next((i for i in grid if i.code == "collaboration"), grid[0])
    low, high = inst.item_range(item.code) or (1, 5)
    return item.code, (low + high + 1) // 2


def _comment_item(inst: Instrument) -> str | None:
    """The first open-ended item of an instrument that is asked of everyone."""
    for item in inst.items:
        if (item.type == "text" and not item.personal and item.shown_if is None
                and item.code != inst.linkage_code):
            return item.code
    return None


def build_plan(config: ProjectConfig, instruments: Mapping[str, Instrument]) -> dict[str, Any]:
    """An analysis plan built from the project's own instruments, waves and modalities.

    The rules: pre/post compare the first and the last wave; every scale of each
    ``participant`` (matched design) and ``community`` (cross-sectional) instrument is an
    outcome, ``<instrument>_<scale>``; the first scale of each participant instrument goes
    into the modality model when the project has two or more modalities (``model.time_order``
    is the project's waves); a network section when an ``organization`` instrument has a
    rating grid; feedback and linkage when a community instrument has an open-ended item or
    a self-generated code.

    Parameters
    ----------
    config
        The project configuration.
    instruments
        The project's instruments by id (those ``config.instruments`` names).

    Returns
    -------
    dict
        The plan as data: valid input of :class:`AnalysisPlan` (see :func:`plan_yaml`).

    Raises
    ------
    ConfigError
        When no participant or community instrument has a scale (a plan needs an outcome).

    Examples
    --------
    >>> from evalkit.config import load_config
    >>> from evalkit.instruments import load_instruments
    >>> from evalkit._assets import asset_path
    >>> cfg = load_config(asset_path("templates") / "evalkit.yml")
    >>> plan = build_plan(cfg, load_instruments(asset_path("surveys")))
    >>> plan["compare"], plan["model"]["time_order"]
    ({'pre': 'baseline', 'post': 'endline'}, ['baseline', 'midpoint', 'endline'])
    >>> [o["id"] for o in plan["outcomes"] if o["model"]]
    ['partnership_total']
    """
    waves = config.wave_ids
    used = [instruments[k] for k in config.instruments if k in instruments]
    modelled = len(waves) >= 2 and len(config.modalities) >= 2
    outcomes: list[dict[str, Any]] = []
    taken: set[str] = set()
    for inst in used:
        if inst.respondent not in ("participant", "community"):
            continue
        for k, scale in enumerate(inst.scales):
            matched = inst.respondent == "participant"
            outcomes.append({
                "id": _outcome_id(inst.id, scale.id, taken), "label": scale.label,
                "instrument": inst.id, "scale": scale.id,
                "design": "matched" if matched else "cross_sectional",
                "model": bool(matched and k == 0 and modelled)})
    if not outcomes:
        raise ConfigError(f"{config.root / 'evalkit.yml'}: instruments: no participant or "
                          "community instrument with a scale; an analysis plan needs at "
                          "least one outcome")
    plan: dict[str, Any] = {
        "name": f"{config.collaborative.name}: outcome analysis",
        "description": (f"Change between {config.waves[0].label} and {config.waves[-1].label}"
                        " in the project's outcome scales, overall, by modality and by site."),
        "compare": {"pre": waves[0], "post": waves[-1]},
        "outcomes": outcomes,
    }
    if any(o["model"] for o in outcomes):
        plan["model"] = {"time_order": list(waves), "df_method": "satterthwaite",
                         "reml": True, "permutation_seed": 2026}
        plan["decision"] = {"max_permutation_p": 0.10, "min_sites_firm": 5}
    plan["multiplicity"] = {"method": "holm", "family": [o["id"] for o in outcomes]}
    plan["reliability"] = True
    network = next((i for i in used if i.respondent == "organization"
                    and _rating_item(i) is not None), None)
    if network is not None:
        item, level = _rating_item(network) or ("collaboration", 3)
        plan["network"] = {"instrument": network.id, "item": item, "min_level": level}
    community = [i for i in used if i.respondent == "community"]
    commented = next((i for i in community if _comment_item(i) is not None), None)
    if commented is not None:
        plan["feedback"] = {"instrument": commented.id,
                            "comment_item": _comment_item(commented),
                            "codebook": "analyses/themes.yml", "names_file": None,
                            "quotes_per_theme": 3}
    coded = next((i for i in community if i.linkage_code is not None), None)
    if coded is not None:
        plan["linkage"] = {"instrument": coded.id, "max_mismatches": 1, "prefer_exact": True}
    return plan


_SECTION_COMMENTS = {
    "compare": "# The two waves every pre/post comparison uses (the first and last wave).",
    "outcomes": ("# One outcome per scale. design: matched (same pseudonymous participant at "
                 "both waves)\n# or cross_sectional (anonymous respondents: the two waves' "
                 "samples are compared).\n# model: true also puts the outcome in the modality "
                 "mixed model; ordinal: true then checks its\n# conclusions item by item "
                 "with the answers as ordered categories (a cumulative-link\n# mixed model). "
                 "Delete outcomes you do not need; ids name the result rows."),
    "model": ("# The modality comparison: outcome ~ wave * modality + (1 | site) + "
              "(1 | site:participant).\n# df_method: satterthwaite or kenward-roger."),
    "multiplicity": ("# Multiplicity: p-values of the pre/post comparisons across these "
                     "outcomes are adjusted\n# together (holm or BH); outcomes not computed "
                     "yet are left out of the family."),
    "decision": ("# The decision rule: a modality is recommended only when the model's 95% "
                 "CI of its\n# advantage excludes 0 against every other modality, it is an "
                 "improvement, and the\n# site-level randomization test gives p <= "
                 "max_permutation_p. Evidence is 'firm' only\n# with at least min_sites_firm "
                 "sites per modality (and the other tests agreeing)."),
    "reliability": ("# Scale reliability (Cronbach's alpha, omega) is reported for each "
                    "outcome at the pre wave."),
    "network": ("# Partner networks: a tie is a reported rating of `item` at or above "
                "`min_level`."),
    "feedback": ("# Community feedback: scale scores with CIs, equity breakdowns, comment "
                 "themes and quotes.\n# Quotes are scrubbed of emails, phone numbers, "
                 "addresses, organization names and the names\n# in `names_file` (one per "
                 "line; keep it outside version control) before they are stored."),
    "linkage": ("# Anonymous linkage: self-generated codes matched between the pre and post "
                "waves within each\n# site, exactly or allowing `max_mismatches` differing "
                "characters."),
}


def plan_yaml(plan: Mapping[str, Any]) -> str:
    """The plan as a commented YAML document a person can edit (``analyses/plan.yml``).

    Examples
    --------
    >>> text = plan_yaml({"name": "t", "compare": {"pre": "a", "post": "b"},
    ...                   "outcomes": [{"id": "x", "label": "X", "instrument": "i",
    ...                                 "scale": "s"}]})
    >>> AnalysisPlan.model_validate(yaml.safe_load(text)).compare.post
    'b'
    """
    AnalysisPlan.model_validate(dict(plan))
    lines = ["# Analysis plan: what `evalkit analyze` computes. Reports read the results; they "
             "never", "# recompute. Built by `evalkit init` from evalkit.yml and surveys/; "
             "edit it freely.", "# Outcome ids name the result rows; `instrument` and `scale` "
             "refer to surveys/.", ""]
    for key, value in plan.items():
        if key in _SECTION_COMMENTS:
            lines.append(_SECTION_COMMENTS[key])
        if key == "compare":
            lines.append(f"compare: {_flow(dict(value))}")
        elif key == "outcomes":
            lines.append("outcomes:")
            for o in value:
                pairs = list(dict(o).items())
                lines.append(f"  - {pairs[0][0]}: {_flow(pairs[0][1])}")
                lines.extend(f"    {k}: {_flow(v)}" for k, v in pairs[1:])
        elif isinstance(value, Mapping):
            lines.append(f"{key}:")
            for k, v in value.items():
                if isinstance(v, list | tuple) and len(_flow(list(v))) > 80:
                    lines.append(f"  {k}:")
                    lines.extend(f"    - {_flow(x)}" for x in v)
                else:
                    lines.append(f"  {k}: {_flow(v)}")
        else:
            lines.append(f"{key}: {_flow(value)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _flow(value: Any) -> str:
    """One YAML value on one line (flow style), as a person would type it."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True,
                          sort_keys=False, width=float("inf"))
    return text.removesuffix("\n").removesuffix("\n...").strip()
