"""Running an analysis plan: store -> scores -> analyses -> result tables.

:func:`run_plan` is where the plan's steps are wired together; every statistic comes from
the analysis modules (:mod:`evalkit.scoring`, :mod:`evalkit.prepost`,
:mod:`evalkit.reliability`, :mod:`evalkit.models`). The tables it returns are what
``results/`` holds and what reports read.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from evalkit.config import ProjectConfig
from evalkit.errors import AnalysisError
from evalkit.instruments import Instrument
from evalkit.plan import AnalysisPlan, LinkageSettings, ModelSettings, Outcome
from evalkit.results import frame_hash
from evalkit.scoring import reverse_code, score
from evalkit.tables import wide_answers

__all__ = ["run_plan", "outcome_scores"]

_LEVEL_ORDER = {"collaborative": 0, "modality": 1, "site": 2}


def outcome_scores(config: ProjectConfig, plan: AnalysisPlan,
                   instruments: dict[str, Instrument]) -> tuple[pd.DataFrame, dict]:
    """Score every outcome of the plan for every stored response.

    Returns
    -------
    (scores, item_tables)
        ``scores``: one row per response x outcome with ``outcome, response_id, wave,
        site_id, modality, respondent_id, score, n_answered``; ``item_tables``: the
        reverse-coded wide item table of each instrument used (for reliability).
    """
    site_modality = config.site_modality()
    frames, items = [], {}
    for inst_id in dict.fromkeys(o.instrument for o in plan.outcomes):
        inst = instruments[inst_id]
        wide = wide_answers(config.store_path, inst_id)
        wide["modality"] = wide["site_id"].map(site_modality)
        unknown = sorted(set(wide.loc[wide["modality"].isna(), "site_id"]))
        if unknown:
            raise AnalysisError(f"store has {inst_id!r} responses from site(s) {unknown} that "
                                f"are not in evalkit.yml")
        items[inst_id] = reverse_code(wide, instrument=inst)
        scales = [o.scale for o in plan.outcomes if o.instrument == inst_id]
        long = score(wide, instrument=inst, scales=list(dict.fromkeys(scales)),
                     id_columns=["response_id", "wave", "site_id", "modality",
                                 "respondent_id"])
        for o in plan.outcomes:
            if o.instrument == inst_id:
                part = long[long["scale"] == o.scale].drop(columns=["scale"])
                frames.append(part.assign(outcome=o.id))
    scores = pd.concat(frames, ignore_index=True)
    cols = ["outcome", "response_id", "wave", "site_id", "modality", "respondent_id", "score",
            "n_answered"]
    return scores[cols], items


def _levels(scores: pd.DataFrame):
    """Yield (level, site_id, modality, subset) for the collaborative, modalities, sites."""
    yield "collaborative", None, None, scores
    for m, sub in scores.groupby("modality", sort=True):
        yield "modality", None, m, sub
    for s, sub in scores.groupby("site_id", sort=True):
        yield "site", s, sub["modality"].iloc[0], sub


def wave_summary(scores: pd.DataFrame, wave_order: list[str]) -> pd.DataFrame:
    """n, mean and SD of each outcome by wave for the collaborative, modality and site.

    Columns: ``outcome, level, site_id, modality, wave, n, mean, sd``.
    """
    rows = []
    valid = scores.dropna(subset=["score"])
    for outcome, by_outcome in valid.groupby("outcome", sort=False):
        for level, site, modality, sub in _levels(by_outcome):
            for wave, w in sub.groupby("wave"):
                rows.append({"outcome": outcome, "level": level, "site_id": site,
                             "modality": modality, "wave": wave, "n": len(w),
                             "mean": w["score"].mean(), "sd": w["score"].std(ddof=1)})
    out = pd.DataFrame(rows)
    out["_w"] = out["wave"].map({w: i for i, w in enumerate(wave_order)})
    out["_l"] = out["level"].map(_LEVEL_ORDER)
    out = out.sort_values(["outcome", "_l", "modality", "site_id", "_w"], na_position="first")
    return out.drop(columns=["_w", "_l"]).reset_index(drop=True)


def _data_hash(scores: pd.DataFrame, items: dict[str, pd.DataFrame]) -> str:
    h = hashlib.sha256(frame_hash(scores).encode())
    for name in sorted(items):
        h.update(frame_hash(items[name].drop(columns=["submitted_at"], errors="ignore")).encode())
    return h.hexdigest()


def run_plan(config: ProjectConfig, plan: AnalysisPlan, instruments: dict[str, Instrument], *,
             progress: object) -> tuple[dict[str, pd.DataFrame], str]:
    """Run every step of the plan.

    Returns
    -------
    (tables, data_hash)
        Result tables by name, and a hash of the data the analyses saw.
    """
    steps = ["score", "prepost", "reliability", "model", "network", "feedback", "linkage"]
    task = progress.add_task("Analysing", total=len(steps))  # type: ignore[attr-defined]
    scores, items = outcome_scores(config, plan, instruments)
    tables: dict[str, pd.DataFrame] = {
        "sites": _sites_table(config),
        "outcomes": pd.DataFrame([o.model_dump() for o in plan.outcomes]),
        "scores": scores,
        "wave_summary": wave_summary(scores, config.wave_ids),
    }
    progress.advance(task)  # type: ignore[attr-defined]
    tables.update(_prepost_tables(scores, plan))
    progress.advance(task)  # type: ignore[attr-defined]
    if plan.reliability:
        tables["reliability"] = _reliability_table(items, plan, instruments)
    progress.advance(task)  # type: ignore[attr-defined]
    if plan.model is not None:
        tables.update(_model_tables(scores, plan.outcomes, plan.model))
    progress.advance(task)  # type: ignore[attr-defined]
    if plan.network is not None and plan.network.instrument in config.instruments:
        from evalkit.network import network_tables

        tables.update(network_tables(config.store_path, config,
                                     min_level=plan.network.min_level, item=plan.network.item,
                                     instrument=plan.network.instrument))
    progress.advance(task)  # type: ignore[attr-defined]
    if plan.feedback is not None and plan.feedback.instrument in config.instruments:
        from evalkit.feedback import feedback_tables, read_names

        fb = plan.feedback
        names = read_names(config.path(fb.names_file)) if fb.names_file else ()
        tables.update(feedback_tables(config.store_path, config, config.path(fb.codebook),
                                      names=names, instrument=fb.instrument,
                                      item=fb.comment_item, per_theme=fb.quotes_per_theme))
    progress.advance(task)  # type: ignore[attr-defined]
    if plan.linkage is not None and plan.linkage.instrument in instruments:
        table = _linkage_table(config, plan, plan.linkage,
                               instruments[plan.linkage.instrument])
        if table is not None:
            tables["linkage"] = table
    progress.advance(task)  # type: ignore[attr-defined]
    return tables, _data_hash(scores, items)


def _sites_table(config: ProjectConfig) -> pd.DataFrame:
    labels = {m.id: m.label for m in config.modalities}
    return pd.DataFrame([
        {"site_id": s.id, "name": s.name, "region": s.region, "modality": s.modalities[0],
         "modality_label": labels[s.modalities[0]], "modalities": ",".join(s.modalities)}
        for s in config.sites])


def _model_tables(scores: pd.DataFrame, outcomes: tuple[Outcome, ...],
                  settings: ModelSettings) -> dict[str, pd.DataFrame]:
    """The modality mixed model for every outcome the plan marks ``model: true``."""
    from evalkit.models import modality_model

    out: dict[str, list[pd.DataFrame]] = {}
    for o in outcomes:
        if not o.model:
            continue
        data = scores[(scores["outcome"] == o.id) & scores["score"].notna()
                      & scores["respondent_id"].notna()
                      & scores["wave"].isin(settings.time_order)]
        # Plain names, because the model's notes use them in sentences readers see.
        data = data.rename(columns={"site_id": "site", "respondent_id": "participant"})
        res = modality_model(
            data, outcome="score", time="wave", time_order=list(settings.time_order),
            group="modality", cluster="site", subject="participant", reml=settings.reml,
            df_method=settings.df_method, permutations=settings.permutations,
            seed=settings.permutation_seed)
        fit = res.fit
        parts = {
            "model_fixed_effects": res.fixed_effects,
            "model_variance": res.variance_components,
            "model_icc": res.icc,
            "model_emmeans": res.emmeans,
            "model_contrasts": res.change_contrasts,
            "model_interaction": res.interaction_test,
            "model_permutation": res.permutation,
            "model_robust": res.robust,
            "model_notes": pd.DataFrame({"note": list(res.notes)}, dtype="object"),
            "model_fit": pd.DataFrame([{
                "df_method": res.df_method, "reml": fit.reml,
                "reml_criterion": fit.reml_criterion, "loglik": fit.loglik, "aic": fit.aic,
                "n_obs": fit.n_obs, "n_sites": fit.n_groups["site"],
                "n_participants": fit.n_groups["participant"], "converged": fit.converged,
                "singular": fit.singular, "message": fit.message}]),
        }
        for name, df in parts.items():
            df = df.copy()
            df.insert(0, "outcome", o.id)
            out.setdefault(name, []).append(df)
    return {k: pd.concat(v, ignore_index=True) for k, v in out.items()}


#: Columns both kinds of comparison report under the same name.
_SHARED = ["mean_pre", "mean_post", "mean_diff", "ci_low", "ci_high", "t", "df", "p",
           "rank_biserial"]


def _prepost_row(summary: pd.Series, *, matched: bool) -> dict:
    """One result row from a matched (d_z, Wilcoxon V) or two-sample (g, Mann-Whitney W)
    summary, in the columns the reports read."""
    s = summary
    effect, hedges = ("cohen_dz", "hedges_gz") if matched else ("hedges_g", "hedges_g")
    stat, p_rank, test = (("V", "p_wilcoxon", "Wilcoxon signed-rank V") if matched
                          else ("W", "p_mann_whitney", "Mann-Whitney W"))
    return {
        "n_pairs": s["n_pairs"] if matched else None,
        "n_pre": None if matched else s["n_pre"],
        "n_post": None if matched else s["n_post"],
        **{c: s[c] for c in _SHARED},
        "rank_test": test, "rank_statistic": s[stat], "p_rank": s[p_rank],
        "effect_name": "d_z" if matched else "g", "effect": s[effect],
        "effect_low": s[f"{effect}_ci_low"], "effect_high": s[f"{effect}_ci_high"],
        "hedges": s[hedges], "hedges_low": s[f"{hedges}_ci_low"],
        "hedges_high": s[f"{hedges}_ci_high"],
        "rank_biserial_low": s["rank_biserial_ci_low"],
        "rank_biserial_high": s["rank_biserial_ci_high"],
    }


def _prepost_tables(scores: pd.DataFrame, plan: AnalysisPlan) -> dict[str, pd.DataFrame]:
    """Pre/post comparisons per outcome for the collaborative, each modality and each site,
    the people left out and why, the attrition table, and adjusted p-values."""
    from evalkit.prepost import adjust_p, attrition, compare, compare_unmatched

    pre, post = plan.compare.pre, plan.compare.post
    rows, excluded, attr = [], [], []
    for o in plan.outcomes:
        data = scores[(scores["outcome"] == o.id) & scores["wave"].isin([pre, post])]
        data = data.rename(columns={"respondent_id": "subject"})
        for level, site, modality, sub in _levels(data):
            base = {"outcome": o.id, "design": o.design, "level": level, "site_id": site,
                    "modality": modality, "pre": pre, "post": post}
            try:
                if o.design == "matched":
                    res = compare(sub, outcome="score", subject="subject", time="wave",
                                  pre=pre, post=post)
                    row = _prepost_row(res.summary.iloc[0], matched=True)
                    ex = res.excluded.assign(**{k: base[k] for k in ("outcome", "level",
                                                                      "site_id")})
                    excluded.append(ex[["outcome", "level", "site_id", "subject", "reason"]])
                    att = attrition(sub, outcome="score", subject="subject", time="wave",
                                    pre=pre, post=post)
                    w = att.waves.set_index("wave")
                    b = att.baseline.iloc[0]
                    attr.append({**{k: base[k] for k in ("outcome", "level", "site_id",
                                                         "modality")},
                                 "n_pre": w.loc[pre, "n_outcome"],
                                 "n_post": w.loc[post, "n_outcome"],
                                 "n_matched": w.loc[pre, "n_matched"],
                                 "n_completers": b["n_completers"],
                                 "mean_completers": b["mean_completers"],
                                 "n_dropouts": b["n_dropouts"],
                                 "mean_dropouts": b["mean_dropouts"],
                                 "difference": b["difference"], "p": b["p"]})
                else:
                    res = compare_unmatched(sub, outcome="score", time="wave", pre=pre,
                                            post=post)
                    row = _prepost_row(res.summary.iloc[0], matched=False)
            except AnalysisError as exc:
                # Too few people at this level (e.g. a small site): say so, don't guess.
                row = {"note": str(exc)}
            rows.append({**base, **row})
    prepost = pd.DataFrame(rows)
    if "note" not in prepost:
        prepost["note"] = None
    # Multiplicity across the plan's family of outcomes, at each level separately.
    prepost["p_adjusted"] = float("nan")
    prepost["adjust_method"] = plan.multiplicity.method
    family = prepost["outcome"].isin(plan.family) & prepost["p"].notna()
    for _, idx in prepost[family].groupby(["level", "site_id", "modality"], dropna=False
                                          ).groups.items():
        prepost.loc[idx, "p_adjusted"] = adjust_p(prepost.loc[idx, "p"].to_numpy(),
                                                  method=plan.multiplicity.method)
    out = {"prepost": prepost}
    if excluded:
        out["prepost_excluded"] = pd.concat(excluded, ignore_index=True)
    if attr:
        out["attrition"] = pd.DataFrame(attr)
    return out


def _reliability_table(items: dict[str, pd.DataFrame], plan: AnalysisPlan,
                       instruments: dict[str, Instrument]) -> pd.DataFrame:
    """Cronbach's alpha (with Feldt CI) and omega total of each outcome's scale at the pre
    wave, on reverse-coded items; missing items handled pairwise as psych::alpha does."""
    from evalkit.reliability import cronbach_alpha

    rows = []
    for o in plan.outcomes:
        scale = instruments[o.instrument].scale(o.scale)
        wide = items[o.instrument]
        data = wide[wide["wave"] == plan.compare.pre]
        cols = [c for c in scale.items if c in data.columns]
        if len(cols) < 2:
            continue
        res = cronbach_alpha(data, items=cols, missing="pairwise")
        rows.append({"outcome": o.id, "wave": plan.compare.pre, "n": res.n,
                     "n_items": res.n_items, "raw_alpha": res.raw_alpha,
                     "std_alpha": res.std_alpha, "average_r": res.average_r,
                     "alpha_low": res.feldt_ci_low, "alpha_high": res.feldt_ci_high,
                     "omega_total": res.omega_total, "missing": "pairwise"})
    return pd.DataFrame(rows)


def _linkage_table(config: ProjectConfig, plan: AnalysisPlan, settings: LinkageSettings,
                   instrument: Instrument) -> pd.DataFrame | None:
    """Match rate of self-generated codes between the pre and post waves, per site.

    Columns: ``site_id, n_pre, n_post, linked, ambiguous, match_rate, max_mismatches``.
    Codes themselves never leave this function.
    """
    from evalkit.linkage import link_codes
    from evalkit.tables import text_answers

    if instrument.linkage_code is None:
        return None
    codes = text_answers(config.store_path, instrument.id, instrument.linkage_code)
    if codes.empty:
        return None
    pre, post = plan.compare.pre, plan.compare.post
    rows = []
    for site, sub in codes.groupby("site_id", sort=True):
        a = sub[sub["wave"] == pre].set_index("response_id")["text"]
        b = sub[sub["wave"] == post].set_index("response_id")["text"]
        res = link_codes(a, b, max_mismatches=settings.max_mismatches,
                         prefer_exact=settings.prefer_exact)
        n_amb = (len(set(res.ambiguous["pre_row"])) if len(res.ambiguous) else 0)
        rows.append({"site_id": site, "n_pre": len(a), "n_post": len(b),
                     "linked": len(res.pairs), "ambiguous": n_amb,
                     "match_rate": res.match_rate,
                     "max_mismatches": settings.max_mismatches})
    return pd.DataFrame(rows)
