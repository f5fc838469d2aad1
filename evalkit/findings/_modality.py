"""Findings of the modality model: which modality changed most, how sure, what to do.

The grade and the recommendation follow :class:`~evalkit.findings.DecisionRule`; the
words come from the signs of the model's estimates.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from evalkit.findings._change import finding
from evalkit.findings._context import Context
from evalkit.findings._words import (
    by_points,
    change_noun,
    ci_phrase,
    clear,
    floor_phrase,
    is_missing,
    join_words,
    lower_first,
    md,
    p_phrase,
    score_name,
    signed,
)

__all__ = ["modality_findings", "GRADE_WORDS", "grade_rules"]

#: How each evidence grade is said in a report.
GRADE_WORDS = {
    "firm": "The evidence is firm: the model, the site-level test and the cluster-robust "
            "tests agree.",
    "promising": "This is a promising signal, not proof: the model and the site-level test "
                 "both support the difference, but not everything firm evidence needs.",
    "weak": "The model finds a difference, but the test that compares whole sites does not "
            "confirm it, so this is weak evidence.",
    "inconclusive": "The data cannot tell the approaches apart: the difference could be "
                    "chance.",
}


def grade_rules(max_permutation_p: float = 0.10, min_sites_firm: int = 5) -> dict[str, str]:
    """The rule behind each evidence grade, in words (for a report's methods section).

    >>> grade_rules()["weak"]
    "the model's 95% CIs exclude zero, but the site-level test gives p above 0.10"
    """
    return {
        "firm": (f"the model's 95% CIs exclude zero, the model's joint test gives p < 0.05, the "
                 f"site-level test p <= 0.05, the cluster-robust tests agree, and every "
                 f"approach has at least {min_sites_firm} sites"),
        "promising": (f"the model's 95% CIs exclude zero and the site-level test gives p <= "
                      f"{max_permutation_p:.2f}, but not everything firm evidence needs"),
        "weak": (f"the model's 95% CIs exclude zero, but the site-level test gives p above "
                 f"{max_permutation_p:.2f}"),
        "inconclusive": "the model's 95% CI of at least one difference includes zero",
    }


def _pair(con: pd.DataFrame, a: str, b: str) -> tuple[float, float, float, float] | None:
    """(estimate, lower, upper, adjusted p) of the change under ``a`` minus under ``b``."""
    hit = con[(con["a"] == a) & (con["b"] == b)]
    if len(hit):
        r = hit.iloc[0]
        return float(r["estimate"]), float(r["lower"]), float(r["upper"]), float(r["p_adjusted"])
    hit = con[(con["a"] == b) & (con["b"] == a)]
    if len(hit):
        r = hit.iloc[0]
        return (-float(r["estimate"]), -float(r["upper"]), -float(r["lower"]),
                float(r["p_adjusted"]))
    return None


def _robust_p(rob: pd.DataFrame, a: str, b: str, pre: str, post: str) -> float | None:
    """The cluster-robust (CR2) p of the change from ``pre`` to ``post``, a vs b."""
    if rob.empty:
        return None
    hit = rob[(rob["kind"] == "change_contrast") & (rob["from"] == pre) & (rob["to"] == post)
              & (((rob["a"] == a) & (rob["b"] == b)) | ((rob["a"] == b) & (rob["b"] == a)))]
    return float(hit["p"].iloc[0]) if len(hit) else None


def _outcome_tables(ctx: Context, outcome: str) -> dict[str, pd.DataFrame]:
    out = {}
    for name in ("model_emmeans", "model_contrasts", "model_interaction", "model_permutation",
                 "model_robust", "model_fit"):
        t = ctx.table(name)
        out[name] = t[t["outcome"] == outcome] if len(t) else t
    return out


def modality_findings(ctx: Context) -> list[dict[str, Any]]:
    """Per modelled outcome: each modality's change, the comparison, the recommendation."""
    emm_all = ctx.table("model_emmeans")
    rows: list[dict[str, Any]] = []
    if emm_all.empty:
        return rows
    for outcome in dict.fromkeys(emm_all["outcome"]):
        rows.extend(_one_outcome(ctx, str(outcome)))
    return rows


def _one_outcome(ctx: Context, outcome: str) -> list[dict[str, Any]]:
    t = _outcome_tables(ctx, outcome)
    emm = t["model_emmeans"].set_index(["modality", "wave"])["emmean"]
    pre, post = ctx.pre, ctx.post
    mods = [m for m in dict.fromkeys(t["model_emmeans"]["modality"])
            if (m, pre) in emm.index and (m, post) in emm.index]
    if len(mods) < 2:
        return []
    label = md(score_name(ctx.outcome_label(outcome)))
    change = {m: float(emm[(m, post)] - emm[(m, pre)]) for m in mods}
    order = sorted(mods, key=lambda m: -change[m])
    best, others = order[0], order[1:]
    name = {m: md(ctx.modality(m)) for m in mods}
    low = {m: md(lower_first(ctx.modality(m))) for m in mods}
    from evalkit.disclosure import plan_suppression

    plan = plan_suppression(ctx.results, threshold=ctx.threshold)
    rows = []
    for m in mods:
        if any(plan.hidden("wave_n", outcome, w, "modality", m) for w in (pre, post)):
            # a modality this small: its estimate is a small group's mean
            rows.append(finding(
                finding_id=f"modality_change:{outcome}:{m}", kind="modality_change",
                outcome=outcome, level="modality", modality=m, estimate=None,
                grade="suppressed", headline=f"{name[m]}: too few answers to report.",
                sentence=(f"Fewer than {ctx.threshold} people answered under {low[m]}, too "
                          f"few to report the model's estimate for them.")))
            continue
        rows.append(finding(
            finding_id=f"modality_change:{outcome}:{m}", kind="modality_change",
            outcome=outcome, level="modality", modality=m, estimate=change[m],
            grade="model_estimate", numbers={"change": change[m], "emm_pre": emm[(m, pre)],
                                             "emm_post": emm[(m, post)]},
            headline=f"{name[m]}: {by_points(change[m])}.",
            sentence=(f"Under {low[m]}, the model's estimate of the {label} "
                      f"{by_points(change[m])} from {ctx.wave(pre)} to {ctx.wave(post)} "
                      f"({emm[(m, pre)]:.2f} to {emm[(m, post)]:.2f}).")))

    con = t["model_contrasts"]
    con = con[(con["from"] == pre) & (con["to"] == post)] if len(con) else con
    pairs = {o: _pair(con, best, o) for o in others}
    inter_p = (float(t["model_interaction"]["p"].iloc[0]) if len(t["model_interaction"])
               else None)
    perm = t["model_permutation"].iloc[0] if len(t["model_permutation"]) else None
    perm_p = None if perm is None or is_missing(perm["p"]) else float(perm["p"])
    min_p = None if perm is None or is_missing(perm["min_p"]) else float(perm["min_p"])
    robust = {o: _robust_p(t["model_robust"], best, o, pre, post) for o in others}
    fit = t["model_fit"].iloc[0] if len(t["model_fit"]) else None
    df_method = str(fit["df_method"]) if fit is not None else ""
    per_mod = pd.Series(ctx.site_modality).value_counts()
    n_sites = {m: int(per_mod.get(m, 0)) for m in mods}
    rule = ctx.rule

    model_clear = all(p is not None and clear(p[1], p[2]) and p[0] > 0
                      for p in pairs.values())
    perm_ok = perm_p is not None and perm_p <= rule.max_permutation_p
    supported = model_clear and perm_ok  # the evidence for the difference itself
    decision = supported and change[best] > 0  # ... and it is an improvement
    firm = (supported and inter_p is not None and inter_p < 0.05 and perm_p is not None
            and perm_p <= 0.05 and all(p is not None and p < 0.05 for p in robust.values())
            and min(n_sites.values()) >= rule.min_sites_firm)
    grade = ("firm" if firm else "promising" if supported else
             "weak" if model_clear else "inconclusive")

    runner = others[0]
    diff = pairs[runner]
    if change[best] > 0:
        lead = f"{name[best]} showed the largest gain in the {label}"
    elif change[best] < 0:
        lead = (f"The {label} fell under every approach, least under {low[best]}")
    else:
        lead = f"The {label} did not change under {low[best]}, the best of the approaches"
    headline = f"{lead}."
    against = join_words([f"{change_noun(change[o])} under {low[o]}" for o in others])
    text = [f"For the {label}, scores under {low[best]} {by_points(change[best])} from "
            f"{ctx.wave(pre)} to {ctx.wave(post)}, against {against} (the model's "
            f"estimates)."]
    if diff is not None:
        text.append(f"Compared with {low[runner]}, that is {signed(diff[0])} points "
                    f"({ci_phrase(diff[1], diff[2])}; Holm-adjusted {p_phrase(diff[3])}).")
    if inter_p is not None:
        text.append(f"The model's joint test of any difference in change between the "
                    f"approaches gives {p_phrase(inter_p)}.")
    total = sum(n_sites.values())
    if perm_p is not None:
        text.append(f"The site-level randomization test, which compares whole sites, gives "
                    f"{p_phrase(perm_p)}; {floor_phrase(min_p, total)}.")
    text.append(GRADE_WORDS[grade])
    numbers: dict[str, float | str | None] = {"change_" + m: change[m] for m in mods}
    numbers.update({"interaction_p": inter_p, "permutation_p": perm_p,
                    "permutation_min_p": min_p, "n_sites": total})
    rows.append(finding(
        finding_id=f"modality_comparison:{outcome}", kind="modality_comparison",
        outcome=outcome, level="collaborative", modality=best,
        estimate=None if diff is None else diff[0],
        ci_low=None if diff is None else diff[1], ci_high=None if diff is None else diff[2],
        p=None if diff is None else diff[3], n=total, grade=grade, numbers={
            **numbers, "df_method": df_method, "best": best, "runner_up": runner},
        headline=headline, sentence=" ".join(text)))

    missing = []
    if change[best] <= 0:
        missing.append(f"the {label} did not improve under any approach")
    for o, p in pairs.items():
        if p is None:
            missing.append(f"the model gives no comparison of {low[best]} with {low[o]}")
        elif not (clear(p[1], p[2]) and p[0] > 0):
            missing.append(f"the model's 95% CI for {low[best]} against {low[o]} includes 0 "
                           f"({signed(p[1])} to {signed(p[2])})")
    if perm_p is None:
        missing.append("no site-level randomization test was run")
    elif not perm_ok:
        missing.append(f"the site-level randomization test gives {p_phrase(perm_p)}, above "
                       f"{rule.max_permutation_p:.2f}")
    if min_p is not None and min_p > rule.max_permutation_p:
        missing.append(f"{floor_phrase(min_p, total).replace('it cannot', 'that test cannot')}"
                       f", so more sites per approach are needed")
    if decision:
        rec = (f"Offer {low[best]} to more sites, and keep comparing it with the other "
               f"approaches: on the {label} it meets the decision rule (the model's 95% CI "
               f"excludes 0 against every other approach, and the site-level test gives "
               f"{p_phrase(perm_p)}, at most {rule.max_permutation_p:.2f}).")
    else:
        rec = (f"Do not choose an approach on the strength of the {label} yet: "
               + "; ".join(missing) + ". A firmer answer needs more sites per approach and, "
               "where possible, approaches assigned by lot rather than chosen.")
    rows.append(finding(
        finding_id=f"recommendation:{outcome}", kind="recommendation", outcome=outcome,
        level="collaborative", modality=best if decision else None, recommended=decision,
        grade=grade, estimate=None, numbers={"missing": missing},
        headline=("Recommend " + low[best]) if decision else "No approach recommended yet",
        sentence=rec))
    return rows
