"""What the findings need to know about the project: labels, waves, threshold, rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from evalkit.findings._words import lower_first, md
from evalkit.results import Results

__all__ = ["DecisionRule", "Context", "context"]


@dataclass(frozen=True)
class DecisionRule:
    """When a modality may be recommended, and when the evidence can be called firm.

    A modality is *recommended* only when, for the change from the plan's pre to its post
    wave in a modelled outcome, it changed most, its change is an improvement, the model's
    95% CI of its difference in change excludes 0 against every other modality, AND the
    site-level randomization test gives ``p <= max_permutation_p`` (which needs a design
    whose smallest attainable p is at most that). The plan may override both under
    ``decision:`` (``max_permutation_p``, ``min_sites_firm``).

    Evidence grades of a modality comparison (stated in every report's methods):

    * ``firm``: the decision rule holds, the model's joint test gives p < 0.05, the
      randomization test gives p <= 0.05, the cluster-robust (CR2) tests agree (p < 0.05
      for every pair), and every modality has at least ``min_sites_firm`` sites;
    * ``promising``: the decision rule holds, but not everything ``firm`` needs;
    * ``weak``: the model's CIs exclude 0, but the site-level test does not support it;
    * ``inconclusive``: the model cannot tell the modalities apart.
    """

    max_permutation_p: float = 0.10
    min_sites_firm: int = 5

    @classmethod
    def from_plan(cls, plan: dict[str, Any]) -> DecisionRule:
        given = plan.get("decision") or {}
        return cls(**{k: given[k] for k in ("max_permutation_p", "min_sites_firm")
                      if k in given})


@dataclass(frozen=True)
class Context:
    """Labels and settings of the project the results belong to."""

    results: Results
    threshold: int
    pre: str
    post: str
    wave_label: dict[str, str]
    wave_order: list[str]
    modality_label: dict[str, str]
    site_name: dict[str, str]
    site_modality: dict[str, str]
    outcomes: pd.DataFrame
    instruments: pd.DataFrame
    rule: DecisionRule
    tables: frozenset[str] = field(default_factory=frozenset)

    def table(self, name: str) -> pd.DataFrame:
        """A result table, or an empty one when the analysis did not produce it."""
        return self.results.table(name) if name in self.tables else pd.DataFrame()

    def wave(self, wave_id: str) -> str:
        """A wave's label as it reads inside a sentence (escaped)."""
        return md(lower_first(self.wave_label.get(wave_id, wave_id)))

    def modality(self, modality_id: str) -> str:
        return self.modality_label.get(modality_id, modality_id)

    def outcome_label(self, outcome: str) -> str:
        if outcome in self.outcomes.index:
            return str(self.outcomes.loc[outcome, "label"])
        return outcome

    def outcome_range(self, outcome: str) -> tuple[float, float] | None:
        o = self.outcomes
        if outcome in o.index and {"scale_min", "scale_max"} <= set(o.columns):
            lo, hi = o.loc[outcome, "scale_min"], o.loc[outcome, "scale_max"]
            if pd.notna(lo) and pd.notna(hi) and str(o.loc[outcome].get("method")) != "sum":
                return float(lo), float(hi)
        return None

    def respondents(self, outcome: str) -> str:
        """Who answered the outcome's instrument, in words."""
        inst = self.outcomes.loc[outcome, "instrument"] if outcome in self.outcomes.index else None
        kind = None
        if inst is not None and len(self.instruments) and "respondent" in self.instruments:
            row = self.instruments[self.instruments["instrument"] == inst]
            kind = row["respondent"].iloc[0] if len(row) else None
        return {"participant": "site-team members", "organization": "partner organizations",
                "community": "community respondents"}.get(str(kind), "respondents")


def context(results: Results, *, rule: DecisionRule | None = None) -> Context:
    """Build the :class:`Context` of a results folder."""
    man = results.manifest
    tables = frozenset(results.tables)
    plan = man.get("plan", {})
    waves = man.get("waves", [])
    sites = results.table("sites") if "sites" in tables else pd.DataFrame(
        columns=["site_id", "name", "modality"])
    outcomes = (results.table("outcomes").set_index("id") if "outcomes" in tables
                else pd.DataFrame(columns=["label", "instrument"]))
    instruments = results.table("instruments") if "instruments" in tables else pd.DataFrame()
    return Context(
        results=results,
        threshold=int(man.get("suppression_threshold", 11)),
        pre=plan.get("compare", {}).get("pre", ""),
        post=plan.get("compare", {}).get("post", ""),
        wave_label={w["id"]: w.get("label", w["id"]) for w in waves},
        wave_order=[w["id"] for w in waves],
        modality_label={m["id"]: m.get("label", m["id"]) for m in man.get("modalities", [])},
        site_name=dict(zip(sites["site_id"], sites["name"], strict=True)),
        site_modality=dict(zip(sites["site_id"], sites["modality"], strict=True)),
        outcomes=outcomes,
        instruments=instruments,
        rule=rule or DecisionRule.from_plan(plan),
        tables=tables,
    )
