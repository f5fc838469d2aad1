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
from evalkit.instruments import Instrument
from evalkit.plan import AnalysisPlan, Outcome
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
            from evalkit.errors import AnalysisError

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
    steps = ["score", "model"]
    task = progress.add_task("Analysing", total=len(steps))  # type: ignore[attr-defined]
    scores, items = outcome_scores(config, plan, instruments)
    tables: dict[str, pd.DataFrame] = {
        "sites": _sites_table(config),
        "outcomes": pd.DataFrame([o.model_dump() for o in plan.outcomes]),
        "scores": scores,
        "wave_summary": wave_summary(scores, config.wave_ids),
    }
    progress.advance(task)  # type: ignore[attr-defined]
    if plan.model is not None:
        tables.update(_model_tables(scores, plan))
    progress.advance(task)  # type: ignore[attr-defined]
    return tables, _data_hash(scores, items)


def _sites_table(config: ProjectConfig) -> pd.DataFrame:
    labels = {m.id: m.label for m in config.modalities}
    return pd.DataFrame([
        {"site_id": s.id, "name": s.name, "region": s.region, "modality": s.modalities[0],
         "modality_label": labels[s.modalities[0]], "modalities": ",".join(s.modalities)}
        for s in config.sites])


def _outcome(plan: AnalysisPlan, outcome_id: str) -> Outcome:
    return next(o for o in plan.outcomes if o.id == outcome_id)


def _model_tables(scores: pd.DataFrame, plan: AnalysisPlan) -> dict[str, pd.DataFrame]:
    """The modality mixed model for every outcome the plan marks ``model: true``."""
    from evalkit.models import modality_model

    assert plan.model is not None  # noqa: S101 - checked by the caller
    settings = plan.model
    out: dict[str, list[pd.DataFrame]] = {}
    for o in plan.outcomes:
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
