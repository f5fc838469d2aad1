"""Findings about change between the plan's pre and post waves (the pre/post table)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from evalkit.findings._context import Context
from evalkit.findings._words import (
    change_verb,
    ci_phrase,
    clear,
    direction,
    is_missing,
    lower_first,
    md,
    p_phrase,
    score_name,
    signed,
)

__all__ = ["COLUMNS", "finding", "change_findings"]

#: The columns of the findings table, in order.
COLUMNS = ["finding_id", "kind", "outcome", "level", "site_id", "modality", "direction",
           "clear", "estimate", "ci_low", "ci_high", "p", "n", "grade", "recommended",
           "headline", "sentence", "numbers"]


def finding(**values: Any) -> dict[str, Any]:
    """One row of the findings table; ``numbers`` (a dict) is stored as JSON."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(values)
    row["numbers"] = json.dumps(values.get("numbers") or {}, sort_keys=True, default=float)
    if row["direction"] is None:
        row["direction"] = direction(row["estimate"])
    if row["clear"] is None:
        row["clear"] = clear(row["ci_low"], row["ci_high"])
    row["recommended"] = bool(row["recommended"])
    return row


def _where(ctx: Context, level: str, site: object, modality: object) -> str:
    if level == "site":
        return f" at {md(ctx.site_name.get(str(site), site))}"
    if level == "modality":
        return f" at the sites receiving {md(lower_first(ctx.modality(str(modality))))}"
    return " across the collaborative"


def _scale_words(ctx: Context, outcome: str) -> str:
    rng = ctx.outcome_range(outcome)
    return f" on a {rng[0]:g}-to-{rng[1]:g} scale" if rng else ""


def change_findings(ctx: Context) -> list[dict[str, Any]]:
    """One finding per pre/post row: the collaborative, each modality and each site.

    The verb comes from :func:`~evalkit.findings._words.change_verb` (the sign of the
    mean change, and its 95% CI excluding 0). Counts below the suppression threshold are
    never cited: such a row says only that too few people answered. Nor are the numbers of
    a row whose count the release-wide suppression plan hides to protect another cell
    (:func:`evalkit.reporting.plan_suppression`).
    """
    from evalkit.disclosure import plan_suppression

    pp = ctx.table("prepost")
    rows: list[dict[str, Any]] = []
    if pp.empty:
        return rows
    k = ctx.threshold
    plan = plan_suppression(ctx.results, threshold=k)
    pre, post = ctx.wave(ctx.pre), ctx.wave(ctx.post)
    for r in pp.itertuples(index=False):
        outcome = str(r.outcome)
        label = ctx.outcome_label(outcome)
        matched = r.design == "matched"
        inst = ctx.outcomes.loc[outcome, "instrument"] if outcome in ctx.outcomes.index else ""
        community = (len(ctx.instruments) and "respondent" in ctx.instruments
                     and (ctx.instruments.loc[ctx.instruments["instrument"] == inst,
                                              "respondent"] == "community").any())
        kind = "community_experience" if community else "change"
        base = {"finding_id": f"{kind}:{outcome}:{r.level}:{r.site_id or r.modality or ''}",
                "kind": kind, "outcome": outcome, "level": r.level,
                "site_id": None if is_missing(r.site_id) else r.site_id,
                "modality": None if is_missing(r.modality) else r.modality}
        where = _where(ctx, str(r.level), r.site_id, r.modality)
        n_values = ([r.n_pairs] if matched else [r.n_pre, r.n_post])
        if is_missing(r.mean_diff) or any(is_missing(v) for v in n_values):
            rows.append(finding(**base, grade="not_computed", estimate=None,
                                headline=f"{md(label)}: no comparison yet{where}.",
                                sentence=(f"Too few people answered at both {pre} and {post}"
                                          f"{where} to compare {md(lower_first(label))}.")))
            continue
        n_all = [int(v) for v in n_values]
        unit = ("" if r.level == "collaborative" else
                r.site_id if r.level == "site" else r.modality)
        status = plan.status("prepost_n", outcome, r.level, unit)
        if status == "protect" and not any(0 < v < k for v in n_all):
            rows.append(finding(**base, grade="suppressed", estimate=None, n=None,
                                headline=f"{md(label)}: not reported{where}.",
                                sentence=(f"The change in {md(lower_first(label))}{where} is "
                                          f"not reported, so that a group of fewer than {k} "
                                          f"people elsewhere in these reports cannot be "
                                          f"worked out from it.")))
            continue
        if status == "small" or any(0 < v < k for v in n_all):
            rows.append(finding(**base, grade="suppressed", estimate=None, n=None,
                                headline=f"{md(label)}: too few answers to report{where}.",
                                sentence=(f"Fewer than {k} people answered{where}, too few "
                                          f"to report the change in "
                                          f"{md(lower_first(label))} without risking "
                                          f"that someone is recognised.")))
            continue
        verb = change_verb(r.mean_diff, r.ci_low, r.ci_high)
        numbers = {"mean_pre": r.mean_pre, "mean_post": r.mean_post,
                   "mean_diff": r.mean_diff, "ci_low": r.ci_low, "ci_high": r.ci_high,
                   "p": r.p, "n": n_all[0] if matched else sum(n_all)}
        ci = ci_phrase(r.ci_low, r.ci_high)
        if matched:
            who = ctx.respondents(outcome)
            among = "" if r.level == "collaborative" else where
            sentence = (f"Among the {n_all[0]} {who}{among} who answered at both {pre} and "
                        f"{post}, their mean {md(score_name(label))} went from {r.mean_pre:.2f} "
                        f"to {r.mean_post:.2f}{_scale_words(ctx, outcome)}, a change of "
                        f"{signed(r.mean_diff)} ({ci}; {p_phrase(r.p)}).")
        else:
            sentence = (f"The mean {md(score_name(label))}{where} was {r.mean_pre:.2f} "
                        f"among the {n_all[0]} anonymous responses at {pre} and "
                        f"{r.mean_post:.2f} among the {n_all[1]} at {post}"
                        f"{_scale_words(ctx, outcome)}, a difference of "
                        f"{signed(r.mean_diff)} ({ci}; {p_phrase(r.p)}). These are two "
                        f"samples, not the same people followed over time.")
        if not clear(r.ci_low, r.ci_high):
            sentence += " The interval includes zero, so the data cannot tell a change apart "
            sentence += "from none."
        rows.append(finding(**base, estimate=r.mean_diff, ci_low=r.ci_low, ci_high=r.ci_high,
                            p=r.p, n=numbers["n"], grade="measured", numbers=numbers,
                            headline=f"{md(label)} {verb}{where}.", sentence=sentence))
    return rows


def as_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The findings rows as a table with :data:`COLUMNS`."""
    return pd.DataFrame(rows, columns=COLUMNS)
