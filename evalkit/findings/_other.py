"""Findings about partner networks, comment themes, what is still to come, and the project
itself (which instruments, waves and modalities it has)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from evalkit.findings._change import finding
from evalkit.findings._context import Context
from evalkit.findings._words import count_word, is_missing, join_words, lower_first, md

__all__ = ["network_findings", "theme_findings", "quote_findings", "pending_findings",
           "project_findings"]


def _points(x: float) -> str:
    """A change in a share, in percentage points, with a direction word from its sign."""
    pts = 100 * x
    if round(abs(pts)) == 0:
        return "did not change (less than 1 percentage point)"
    return f"{'rose' if pts > 0 else 'fell'} by {abs(pts):.0f} percentage points"


def network_findings(ctx: Context) -> list[dict[str, Any]]:
    """Density change of the partner networks: across sites, by modality, per site."""
    ch = ctx.table("network_change")
    rows: list[dict[str, Any]] = []
    if ch.empty or "density_change" not in ch:
        return rows
    ch = ch.dropna(subset=["density_change"])
    if ch.empty:
        return rows
    mean = float(ch["density_change"].mean())
    pre, post = ch["density_pre"].mean(), ch["density_post"].mean()
    shape = ("grew denser" if mean > 0 else "became sparser" if mean < 0 else
             "kept the same density")
    by = ch.groupby("modality")["density_change"].mean().sort_values(ascending=False)
    parts = [f"{_points(v)} under {md(lower_first(ctx.modality(str(m))))}"
             for m, v in by.items()]
    sentence = (f"Across the {count_word(len(ch), 'site')} whose partner networks were "
                f"surveyed at both waves, the share of partner pairs that work together "
                f"{_points(mean)} on average (from {100 * pre:.0f}% to {100 * post:.0f}%).")
    if len(by) > 1:
        sentence += f" By approach, it {join_words(parts)}."
    sentence += (" These are descriptions of the sites' networks, not a test: with few "
                 "sites a difference between approaches may be chance.")
    rows.append(finding(finding_id="network_change:collaborative", kind="network_change",
                        level="collaborative", estimate=mean, grade="descriptive",
                        n=len(ch), numbers={"density_pre": pre, "density_post": post,
                                            **{f"change_{m}": v for m, v in by.items()}},
                        headline=f"Partner networks {shape}.", sentence=sentence))
    for r in ch.itertuples(index=False):
        rows.append(finding(
            finding_id=f"network_change:site:{r.site_id}", kind="network_change",
            level="site", site_id=r.site_id, modality=r.modality,
            estimate=float(r.density_change), grade="descriptive",
            numbers={"gained": r.ties_gained, "lost": r.ties_lost,
                     "deepened": r.ties_deepened, "density_change": r.density_change},
            headline=f"The partner network {_points(float(r.density_change))}.",
            sentence=(f"Among the {r.n_raters_both} organizations that answered at both "
                      f"waves, {r.ties_gained} ties were gained, {r.ties_lost} lost and "
                      f"{r.ties_deepened} deepened; the share of partner pairs that work "
                      f"together {_points(float(r.density_change))}.")))
    return rows


def theme_findings(ctx: Context) -> list[dict[str, Any]]:
    """The most frequent comment themes at the last wave with comments (shares from at
    least ``threshold`` comments only)."""
    th = ctx.table("feedback_themes")
    rows: list[dict[str, Any]] = []
    if th.empty:
        return rows
    k = ctx.threshold
    th = th[(th["theme"] != "no_theme") & (th["n"] >= k)]
    for level, site in [("collaborative", None)] + [("site", s) for s in ctx.site_name]:
        sub = th[th["level"] == level]
        if site is not None:
            sub = sub[sub["site_id"] == site]
        waves = [w for w in ctx.wave_order if w in set(sub["wave"])]
        if not waves:
            continue
        last = sub[sub["wave"] == waves[-1]].sort_values("share", ascending=False).head(3)
        said = join_words([f"{md(lower_first(str(r.label)))} ({100 * r.share:.0f}% of comments)"
                           for r in last.itertuples()])
        rows.append(finding(
            finding_id=f"theme:{level}:{site or ''}", kind="theme", level=level,
            site_id=site, estimate=None, grade="descriptive", direction="none",
            numbers={str(r.theme): r.share for r in last.itertuples()},
            headline="What people talked about most.",
            sentence=(f"What community members wrote about most at {ctx.wave(waves[-1])}: "
                      f"{said}.")))
    return rows


def quote_findings(ctx: Context) -> list[dict[str, Any]]:
    """Community quotes a report may print, by theme, for the collaborative and each site.

    A quote is kept only when its theme was mentioned in at least ``threshold`` comments of
    the same group (collaborative or site) at the quote's wave: a theme fewer people raised
    is not quoted, so that a quote cannot point to one of a handful of people. The quotes
    were scrubbed of personal data by the analysis; they are scrubbed again here with the
    default detectors (scrubbing is idempotent), so a results folder from elsewhere cannot
    carry an email or a phone number into a report. No identifier is kept. Themes come in
    order of how often they were mentioned at the last wave with comments, then by rank.
    """
    quotes, th = ctx.table("feedback_quotes"), ctx.table("feedback_themes")
    if quotes.empty or th.empty:
        return []
    from evalkit.privacy import Scrubber

    k = ctx.threshold
    th = th[th["theme"] != "no_theme"]
    counts = {(str(r.level), "" if is_missing(r.site_id) else str(r.site_id), str(r.wave),
               str(r.theme)): int(r.n) for r in th.itertuples(index=False)}
    scrub = Scrubber()
    rows: list[dict[str, Any]] = []
    for (level, site), sub in quotes.assign(
            site_id=quotes["site_id"].map(lambda s: "" if is_missing(s) else str(s))
    ).groupby(["level", "site_id"], sort=False):
        mine = th[(th["level"] == level) & (th["site_id"].fillna("").astype(str) == site)]
        waves = [w for w in ctx.wave_order if w in set(mine["wave"])]
        last = mine[mine["wave"] == waves[-1]] if waves else mine
        often = dict(zip(last["theme"], last["n"], strict=True))
        sub = sub.assign(_often=sub["theme"].map(often).fillna(0))
        sub = sub.sort_values(["_often", "theme", "rank"], ascending=[False, True, True],
                              kind="mergesort")
        said: set[str] = set()
        for r in sub.itertuples(index=False):
            n = counts.get((str(level), site, str(r.wave), str(r.theme)), 0)
            text = scrub(str(r.quote))
            if n < k or text.casefold() in said:  # each quote once, under its first theme
                continue
            said.add(text.casefold())
            rows.append(finding(
                finding_id=f"quote:{level}:{site}:{r.theme}:{r.rank}", kind="quote",
                level=str(level), site_id=site or None, estimate=None, direction="none",
                grade="descriptive", n=n,
                numbers={"theme": str(r.theme), "wave": str(r.wave), "rank": int(r.rank),
                         "n_mentions": n},
                headline=md(str(r.label)), sentence=md(text)))
    return rows


def pending_findings(ctx: Context) -> list[dict[str, Any]]:
    """One row per analysis the plan asks for that the data cannot support yet."""
    pend = ctx.table("pending")
    rows: list[dict[str, Any]] = []
    for i, r in enumerate(pend.itertuples(index=False)):
        what = str(r.analysis).replace("_", " ")
        outcome = getattr(r, "outcome", None)
        about = ("" if is_missing(outcome) else
                 f" of the {md(lower_first(ctx.outcome_label(str(outcome))))}")
        site = getattr(r, "site_id", None)
        rows.append(finding(
            finding_id=f"pending:{r.analysis}:{i}", kind="pending",
            outcome=None if is_missing(outcome) else outcome,
            level=getattr(r, "level", None) or "collaborative",
            site_id=None if is_missing(site) else site, estimate=None, grade="pending",
            direction="none", headline=f"Still to come: {what}{about}.",
            sentence=(f"The {what}{about}: {md(str(r.reason))}"
                      + ("" if str(r.reason).endswith(".") else ".")
                      + (f" It needs {md(str(r.needs))}." if not is_missing(r.needs)
                         and str(r.needs) else ""))))
    return rows


def project_findings(ctx: Context) -> list[dict[str, Any]]:
    """What the project is: sites and modalities, and what was measured when.

    Read from the configuration recorded with the results (the ``sites``, ``instruments``
    and ``outcomes`` tables and the manifest), so a report describes only the
    instruments, waves and modalities the project has.
    """
    man = ctx.results.manifest
    per = pd.Series(ctx.site_modality).value_counts()
    mods = [m for m in ctx.modality_label if m in per.index]
    offered = join_words([f"{md(lower_first(ctx.modality(m)))} ({count_word(int(per[m]), 'site')})"
                          for m in mods])
    period = man.get("period") or {}
    when = (f" from {period['start']} to {period['end']}" if period.get("start") else "")
    n_sites = len(ctx.site_name)
    intro = (f"{md(man.get('collaborative', 'The collaborative'))} worked with "
             f"{count_word(n_sites, 'community site')}{when}. "
             + (f"Each site received one way of building its complex care ecosystem: "
                f"{offered}." if len(mods) > 1 else
                f"Every site received the same approach: {offered}."))
    rows = [finding(finding_id="project:intro", kind="project", level="collaborative",
                    estimate=None, direction="none", grade="descriptive",
                    headline="The collaborative", sentence=intro,
                    numbers={"n_sites": n_sites, "n_modalities": len(mods)})]
    inst = ctx.instruments
    if len(inst):
        who = {"participant": "Site-team members", "organization": "Partner organizations",
               "community": "People served by the sites"}
        for r in inst.itertuples(index=False):
            with_data = [w for w in str(r.waves_with_data or "").split(",") if w]
            if not with_data:
                continue
            waves = join_words([ctx.wave(w) for w in ctx.wave_order if w in with_data])
            notes = ([count_word(int(r.n_items), "question")]
                     if not is_missing(r.n_items) and int(r.n_items) > 0 else [])
            notes += ["anonymous"] if r.respondent == "community" else []
            items = f" ({', '.join(notes)})" if notes else ""
            rows.append(finding(
                finding_id=f"project:instrument:{r.instrument}", kind="project",
                level="collaborative", estimate=None, direction="none", grade="descriptive",
                headline=md(r.title), numbers={"n_items": r.n_items},
                sentence=(f"{who.get(str(r.respondent), 'Respondents')} answered the "
                          f"{md(r.title)}{items} at {waves}.")))
    return rows


def advice_findings(ctx: Context, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Advice that follows from what the evaluation has (not from a template): keep
    matching people over time, keep listening to the community, collect what is pending.

    ``changes`` are the rows of :func:`~evalkit.findings._change.change_findings`.
    """
    rows: list[dict[str, Any]] = []
    col = [r for r in changes if r["level"] == "collaborative" and r["grade"] == "measured"]
    matched = [r for r in col if r["kind"] == "change"]
    community = [r for r in col if r["kind"] == "community_experience"]
    if matched:
        first = matched[0]
        rows.append(finding(
            finding_id="advice:matched", kind="advice", level="collaborative",
            outcome=first["outcome"], estimate=None, direction="none", grade="advice",
            headline="Keep following the same people",
            sentence=(f"Keep following the same people over time: matched answers from "
                      f"{int(first['n'])} {ctx.respondents(str(first['outcome']))} are what "
                      f"let this evaluation measure change in the "
                      f"{md(lower_first(ctx.outcome_label(str(first['outcome']))))} person "
                      f"by person.")))
    if community:
        c = community[0]
        if c["clear"] and matched and matched[0]["clear"]:
            same = c["direction"] == matched[0]["direction"]
            how = ("moved in the same direction as" if same else
                   "moved in the opposite direction from")
            tail = (f"their ratings {how} the "
                    f"{md(lower_first(ctx.outcome_label(str(matched[0]['outcome']))))}")
        elif c["clear"]:
            tail = "their ratings changed clearly between the two surveys"
        else:
            tail = "their ratings did not clearly change between the two surveys"
        rows.append(finding(
            finding_id="advice:community", kind="advice", level="collaborative",
            outcome=c["outcome"], estimate=None, direction="none", grade="advice",
            headline="Keep listening to the community",
            sentence=(f"Keep listening to the community: {tail}, and their comments say "
                      f"what to fix next.")))
    if len(ctx.table("pending")):
        rows.append(finding(
            finding_id="advice:pending", kind="advice", level="collaborative",
            estimate=None, direction="none", grade="advice",
            headline="Collect what is still missing",
            sentence=("Collect the data listed under 'Still to come' before drawing final "
                      "conclusions: some planned analyses could not be run yet.")))
    return rows
