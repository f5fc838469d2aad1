"""How many sites per approach the next collaborative needs, as a finding.

``evalkit analyze`` writes ``design_power`` when the plan has a ``design:`` section: for the
pair of modalities whose change differed most, the share of simulated collaboratives (drawn
from this one's variance components, changes, participants per site and attrition) in which
the site-level randomization test gives ``p <= max_permutation_p``, by number of sites per
modality, with its Monte Carlo SE, and the smallest number reaching 80%
(:func:`evalkit.design.detection_summary`).
"""

from __future__ import annotations

from typing import Any

from evalkit.findings._change import finding
from evalkit.findings._context import Context
from evalkit.findings._words import count_word, is_missing, lower_first, md

__all__ = ["design_findings"]


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def design_findings(ctx: Context) -> list[dict[str, Any]]:
    """One ``design`` finding: the sites per approach a firm answer needs."""
    curve = ctx.table("design_power")
    if curve.empty:
        return []
    curve = curve.sort_values("sites_per_modality")
    top = curve.iloc[0]
    a, b = (md(lower_first(ctx.modality(str(m)))) for m in (top["a"], top["b"]))
    label = md(lower_first(ctx.outcome_label(str(top["outcome"]))))
    sims = int(top["n_simulations"])
    alpha = float(top["alpha"])
    size = (f"a difference in change the size of the largest one seen here "
            f"({abs(float(top['difference'])):.2f} points on the {label} from "
            f"{md(ctx.wave(str(top['from'])))} to {md(ctx.wave(str(top['to'])))}, between "
            f"{a} and {b})")
    test = f"by the site-level randomization test of those two approaches at p ≤ {alpha:.2f}"
    smallest = None if is_missing(top["smallest_sites"]) else int(top["smallest_sites"])
    current = None if is_missing(top["current_sites"]) else int(top["current_sites"])

    def at(sites: int) -> Any:
        row = curve[curve["sites_per_modality"] == sites]
        return None if row.empty else row.iloc[0]

    if smallest is not None:
        row = at(smallest)
        sentence = (f"With {count_word(smallest, 'site')} per approach, {size} would be found "
                    f"{test} in {_pct(row['power'])} of {sims} simulated collaboratives "
                    f"(simulation standard error {100 * float(row['mc_se']):.1f} percentage "
                    "points); "
                    f"that is the fewest sites per approach that reach 80%.")
        headline = (f"The next collaborative needs at least {smallest} sites per approach to "
                    "detect a difference of this size.")
        estimate = float(row["power"])
    else:
        last = curve.iloc[-1]
        most = int(last["sites_per_modality"])
        sentence = (f"Even with {count_word(most, 'site')} per approach, {size} would be found "
                    f"{test} in only {_pct(last['power'])} of {sims} simulated collaboratives "
                    f"(simulation standard error {100 * float(last['mc_se']):.1f} percentage "
                    "points): a "
                    "difference this small needs more sites or more participants per site "
                    "than were simulated.")
        headline = (f"A difference of this size would need more than {most} sites per "
                    "approach.")
        estimate = float(last["power"])
    here = at(current) if current is not None else None
    if here is not None and current != smallest:
        sentence += (f" With {current} per approach, as here, it would be found in "
                     f"{_pct(here['power'])}")
        floor = float(here["min_p"])
        sentence += (f": with {current} sites per approach that test cannot go below "
                     f"p = {floor:.3f}." if floor > alpha else ".")
    return [finding(
        finding_id="design:next", kind="design", outcome=str(top["outcome"]),
        level="collaborative", estimate=estimate, direction="none", clear=False,
        n=smallest, grade="descriptive",
        numbers={"smallest_sites": smallest, "current_sites": current, "alpha": alpha,
                 "n_simulations": sims,
                 **{f"power_{int(r.sites_per_modality)}": float(r.power)
                    for r in curve.itertuples(index=False)}},
        headline=headline, sentence=sentence)]
