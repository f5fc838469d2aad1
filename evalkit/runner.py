"""Running an analysis plan: store -> scores -> analyses -> result tables.

:func:`run_plan` is where the plan's steps are wired together; every statistic comes from
the analysis modules (:mod:`evalkit.scoring`, :mod:`evalkit.prepost`,
:mod:`evalkit.reliability`, :mod:`evalkit.models`). The tables it returns are what
``results/`` holds and what reports read.

It computes everything the data allow. Each requested analysis the data do not allow yet
(only baseline answers so far, an instrument nobody has answered, one modality, items
never answered together...) is one row of the ``pending`` table, in words a report reader
understands, instead of an error; only a real problem (a corrupt store, a site the
configuration does not know) raises.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, Protocol

import pandas as pd

from evalkit.config import ProjectConfig
from evalkit.errors import AnalysisError
from evalkit.instruments import Instrument
from evalkit.plan import (
    AnalysisPlan,
    FeedbackSettings,
    LinkageSettings,
    ModelSettings,
    NetworkSettings,
    Outcome,
)
from evalkit.results import frame_hash
from evalkit.scoring import reverse_code, score
from evalkit.tables import wide_answers

__all__ = ["run_plan", "outcome_scores", "pending_analyses", "wave_summary",
           "PENDING_COLUMNS", "INSTRUMENT_COLUMNS", "ProgressLike"]


class ProgressLike(Protocol):
    """The part of a :class:`rich.progress.Progress` that :func:`run_plan` and
    :mod:`evalkit.pipeline` call. The task id is whatever ``add_task`` returns (rich's
    ``TaskID``), handed back unchanged to ``advance``."""

    def add_task(self, description: str, *, total: float | None = None) -> Any: ...

    def advance(self, task_id: Any, advance: float = 1, /) -> None: ...


_LEVEL_ORDER = {"collaborative": 0, "modality": 1, "site": 2}

#: Columns of the ``pending`` table: one row per requested analysis not computable yet.
PENDING_COLUMNS = ["analysis", "outcome", "level", "site_id", "reason", "needs"]
#: Columns of the ``instruments`` table.
INSTRUMENT_COLUMNS = ["instrument", "title", "respondent", "n_items", "waves",
                      "waves_with_data", "n_responses"]
_SCORE_COLUMNS = ["outcome", "response_id", "wave", "site_id", "modality", "respondent_id",
                  "score", "n_answered"]


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
        if wide.empty:
            continue  # nobody has answered this instrument yet: pending, not an error
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
    if not frames:
        return _empty_scores(), items
    scores = pd.concat(frames, ignore_index=True)
    return scores[_SCORE_COLUMNS], items


def _empty_scores() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c == "score" else
                                      "int64" if c == "n_answered" else "object")
                         for c in _SCORE_COLUMNS})


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
    cols = ["outcome", "level", "site_id", "modality", "wave", "n", "mean", "sd"]
    if not rows:
        return pd.DataFrame(columns=cols)
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
             progress: ProgressLike) -> tuple[dict[str, pd.DataFrame], str]:
    """Run every step of the plan the data allow; record the others in ``pending``.

    Returns
    -------
    (tables, data_hash)
        Result tables by name, and a hash of the data the analyses saw. Besides the
        analyses' tables: ``instruments`` (:data:`INSTRUMENT_COLUMNS`: ``n_items`` counts
        items that are neither personal nor free text, ``waves`` the configured wave ids,
        ``waves_with_data`` the wave ids with at least one complete stored response,
        comma-joined, ``n_responses`` complete responses), ``outcomes`` (the plan's
        outcomes plus ``instrument_title, scale_label, n_items`` (items of the scale),
        ``scale_min, scale_max`` (lowest and highest code of the scale items' response
        scale) and ``method``) and ``pending`` (:data:`PENDING_COLUMNS`: ``analysis`` one
        of prepost, attrition, reliability, model, ordinal, network, feedback, linkage;
        ``outcome`` or None; ``level`` and ``site_id`` None unless the row is about one
        site; ``reason`` and ``needs`` in plain words). ``pending`` is always written.
    """
    steps = ["score", "prepost", "reliability", "model", "network", "feedback", "linkage"]
    task = progress.add_task("Analysing", total=len(steps))
    scores, items = outcome_scores(config, plan, instruments)
    words = _Words(config, instruments)
    pending = _Pending()
    tables: dict[str, pd.DataFrame] = {
        "sites": _sites_table(config),
        "instruments": _instruments_table(config, instruments),
        "outcomes": _outcomes_table(plan, instruments),
        "scores": scores,
        "wave_summary": wave_summary(scores, config.wave_ids),
    }
    progress.advance(task)
    tables.update(_prepost_tables(scores, plan, words=words, pending=pending))
    progress.advance(task)
    if plan.reliability:
        tables["reliability"] = _reliability_table(items, plan, instruments, words=words,
                                                   pending=pending)
    progress.advance(task)
    if plan.model is not None:
        fitted: dict[str, list[str]] = {}
        tables.update(_model_tables(scores, plan.outcomes, plan.model, words=words,
                                    pending=pending, fitted=fitted))
        tables.update(_ordinal_tables(items, plan.outcomes, instruments, fitted, plan.model,
                                      words=words, pending=pending))
    progress.advance(task)
    if plan.network is not None and plan.network.instrument in config.instruments:
        tables.update(_network_tables(config, plan.network, words, pending))
    progress.advance(task)
    if plan.feedback is not None and plan.feedback.instrument in config.instruments:
        tables.update(_feedback_tables(config, plan.feedback, words, pending))
    progress.advance(task)
    if plan.linkage is not None and plan.linkage.instrument in instruments:
        table = _linkage_table(config, plan, plan.linkage,
                               instruments[plan.linkage.instrument], words=words,
                               pending=pending)
        if table is not None:
            tables["linkage"] = table
    progress.advance(task)
    tables["pending"] = pending.table()
    return tables, _data_hash(scores, items)


def pending_analyses(config: ProjectConfig, plan: AnalysisPlan,
                     instruments: dict[str, Instrument]) -> pd.DataFrame:
    """The planned analyses the stored data do not allow yet, and why.

    The same rows :func:`run_plan` writes to ``pending`` for missing waves, instruments,
    modalities and items, found without fitting anything (so a fit that fails on the
    data, e.g. items never answered together, only shows up when ``analyze`` runs).

    Returns
    -------
    pandas.DataFrame
        :data:`PENDING_COLUMNS`.
    """
    scores, items = outcome_scores(config, plan, instruments)
    words = _Words(config, instruments)
    pending = _Pending()
    have = _waves_with_scores(scores)
    for o in plan.outcomes:
        _prepost_gap(o, plan, have.get(o.id, set()), words, pending)
    if plan.reliability:
        _reliability_table(items, plan, instruments, words=words, pending=pending)
    if plan.model is not None:
        for o in plan.outcomes:
            if o.model:
                _model_data(scores, o, plan.model, words, pending)
    if plan.network is not None and plan.network.instrument in config.instruments:
        _network_gap(config, plan.network, words, pending)
    if plan.feedback is not None and plan.feedback.instrument in config.instruments:
        _feedback_gap(config, plan.feedback, words, pending)
    if plan.linkage is not None and plan.linkage.instrument in instruments:
        _linkage_codes(config, plan, instruments[plan.linkage.instrument], words, pending)
    return pending.table()


# Words for readers and the pending table --------------------------------------------------
class _Words:
    """Wave labels and instrument titles from the configuration, for sentences."""

    def __init__(self, config: ProjectConfig, instruments: dict[str, Instrument]):
        self.config = config
        self._labels = {w.id: w.label for w in config.waves}
        self._titles = {k: v.title for k, v in instruments.items()}
        self._instruments = instruments

    def wave(self, wave: str) -> str:
        return self._labels.get(wave, wave)

    def waves(self, waves: Iterable[str]) -> str:
        order = {w: i for i, w in enumerate(self.config.wave_ids)}
        labels = [self.wave(w) for w in sorted(set(waves), key=lambda w: order.get(w, 99))]
        if len(labels) <= 2:
            return " and ".join(labels)
        return ", ".join(labels[:-1]) + " and " + labels[-1]

    def title(self, instrument: str) -> str:
        return self._titles.get(instrument, instrument)

    def scale(self, outcome: Outcome) -> str:
        inst = self._instruments.get(outcome.instrument)
        if inst is None:
            return outcome.scale
        return next((s.label for s in inst.scales if s.id == outcome.scale), outcome.scale)

    def configured(self, instrument: str) -> tuple[str, ...]:
        use = self.config.instruments.get(instrument)
        return use.waves if use is not None else ()

    def not_asked(self, instrument: str, waves: Iterable[str]) -> str:
        """' (evalkit.yml does not ask it at ...)' for waves the instrument is not used at."""
        missing = [w for w in waves if w not in self.configured(instrument)]
        if not missing:
            return ""
        return (f" (evalkit.yml does not use the {self.title(instrument)} at "
                f"{self.waves(missing)}: add the wave to instruments.{instrument}.waves)")


class _Pending:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, analysis: str, reason: str, needs: str, *, outcome: str | None = None,
            level: str | None = None, site_id: str | None = None) -> None:
        row = {"analysis": analysis, "outcome": outcome, "level": level, "site_id": site_id,
               "reason": reason, "needs": needs}
        if row not in self.rows:
            self.rows.append(row)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=PENDING_COLUMNS, dtype="object")


def _waves_with_scores(scores: pd.DataFrame) -> dict[str, set[str]]:
    valid = scores.dropna(subset=["score"])
    return {o: set(sub["wave"]) for o, sub in valid.groupby("outcome", sort=False)}


def _only_so_far(have: Iterable[str], words: _Words, instrument: str) -> str:
    have = list(have)
    if not have:
        return f"no {words.title(instrument)} answers yet"
    return f"only {words.waves(have)} data so far"


# Description tables ------------------------------------------------------------------------
def _instruments_table(config: ProjectConfig,
                       instruments: dict[str, Instrument]) -> pd.DataFrame:
    from evalkit.store import read_table

    counts = read_table(config.store_path, "SELECT instrument, wave, count(*) AS n FROM "
                        "responses WHERE complete GROUP BY ALL")
    order = {w: i for i, w in enumerate(config.wave_ids)}
    rows = []
    for key, use in config.instruments.items():
        inst = instruments[key]
        mine = counts[counts["instrument"] == key]
        waves = sorted(set(mine.loc[mine["n"] > 0, "wave"]), key=lambda w: (order.get(w, 99), w))
        rows.append({
            "instrument": key, "title": inst.title, "respondent": inst.respondent,
            "n_items": sum(1 for i in inst.items if not i.personal and i.type != "text"),
            "waves": ",".join(use.waves), "waves_with_data": ",".join(waves),
            "n_responses": int(mine["n"].sum())})
    return pd.DataFrame(rows, columns=INSTRUMENT_COLUMNS)


def _outcomes_table(plan: AnalysisPlan, instruments: dict[str, Instrument]) -> pd.DataFrame:
    rows = []
    for o in plan.outcomes:
        inst = instruments[o.instrument]
        scale = inst.scale(o.scale)
        ranges = [r for r in (inst.item_range(c) for c in scale.items) if r is not None]
        rows.append({**o.model_dump(), "instrument_title": inst.title,
                     "scale_label": scale.label, "n_items": len(scale.items),
                     "scale_min": min(r[0] for r in ranges) if ranges else None,
                     "scale_max": max(r[1] for r in ranges) if ranges else None,
                     "method": scale.method})
    return pd.DataFrame(rows)


def _sites_table(config: ProjectConfig) -> pd.DataFrame:
    labels = {m.id: m.label for m in config.modalities}
    return pd.DataFrame([
        {"site_id": s.id, "name": s.name, "region": s.region, "modality": s.modalities[0],
         "modality_label": labels[s.modalities[0]], "modalities": ",".join(s.modalities)}
        for s in config.sites])


# Modality model ----------------------------------------------------------------------------
def _model_data(scores: pd.DataFrame, o: Outcome, settings: ModelSettings, words: _Words,
                pending: _Pending) -> tuple[pd.DataFrame, list[str], list[str]] | None:
    """The model's data, waves and notes for one outcome; None (and a pending row) when
    the data do not allow the model yet."""
    data = scores[(scores["outcome"] == o.id) & scores["score"].notna()
                  & scores["respondent_id"].notna()
                  & scores["wave"].isin(settings.time_order)]
    title = words.title(o.instrument)
    present = set(data["wave"])
    order = [w for w in settings.time_order if w in present]
    empty = [w for w in settings.time_order if w not in present]
    if len(order) < 2:
        pending.add("model", f"{_only_so_far(order, words, o.instrument)}: the modality model "
                    "needs answers at two or more waves" + words.not_asked(o.instrument, empty),
                    f"{title} responses at {words.waves(empty)}", outcome=o.id)
        return None
    modalities = sorted(set(data["modality"]))
    if len(modalities) < 2:
        labels = {m.id: m.label for m in words.config.modalities}
        one = labels.get(modalities[0], modalities[0]) if modalities else "none"
        if len(words.config.modalities) < 2:
            needs = "a second modality in evalkit.yml, with sites answering the " + title
        else:
            needs = f"{title} responses from sites of another modality"
        pending.add("model", f"only one modality has data ({one}): the modality model "
                    "compares two or more modalities", needs, outcome=o.id)
        return None
    notes = [f"{words.wave(w)} has no {title} data yet, so it is left out of the model's "
             f"waves ({words.waves(order)} only)." for w in empty]
    return data, order, notes


def _model_tables(scores: pd.DataFrame, outcomes: tuple[Outcome, ...],
                  settings: ModelSettings, *, words: _Words,
                  pending: _Pending, fitted: dict[str, list[str]] | None = None,
                  ) -> dict[str, pd.DataFrame]:
    """The modality mixed model for every outcome the plan marks ``model: true`` that the
    data allow; the others are recorded in ``pending``. ``fitted`` receives the waves
    each fitted outcome's model used, for the ordinal check."""
    from evalkit.models import modality_model

    out: dict[str, list[pd.DataFrame]] = {}
    for o in outcomes:
        if not o.model:
            continue
        found = _model_data(scores, o, settings, words, pending)
        if found is None:
            continue
        data, order, empty_notes = found
        # Plain names, because the model's notes use them in sentences readers see.
        data = data.rename(columns={"site_id": "site", "respondent_id": "participant"})
        try:
            res = modality_model(
                data, outcome="score", time="wave", time_order=order,
                group="modality", cluster="site", subject="participant", reml=settings.reml,
                df_method=settings.df_method, permutations=settings.permutations,
                seed=settings.permutation_seed)
        except AnalysisError as exc:
            pending.add("model", f"the modality model cannot be fitted on the data so far "
                        f"({exc})", f"more {words.title(o.instrument)} responses at each "
                        "site and wave",
                        outcome=o.id)
            continue
        if fitted is not None:
            fitted[o.id] = order
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
            "model_notes": pd.DataFrame({"note": [*empty_notes, *res.notes]}, dtype="object"),
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


#: ``model_ordinal``: one row per outcome x Likert item of its scale.
ORDINAL_COLUMNS = ["outcome", "item", "n_obs", "n_sites", "n_participants", "converged",
                   "agrees", "n_contrasts", "n_disagree", "message"]
#: ``model_ordinal_contrasts``: the difference-in-change contrasts of both models per item.
ORDINAL_CONTRAST_COLUMNS = ["outcome", "item", "a", "b", "from", "to", "linear_estimate",
                            "linear_lower", "linear_upper", "linear_conclusion",
                            "ordinal_estimate", "ordinal_lower", "ordinal_upper",
                            "ordinal_conclusion", "agrees"]


def _ordinal_tables(items: dict[str, pd.DataFrame], outcomes: tuple[Outcome, ...],
                    instruments: dict[str, Instrument], fitted: dict[str, list[str]],
                    settings: ModelSettings, *, words: _Words,
                    pending: _Pending) -> dict[str, pd.DataFrame]:
    """The ordinal sensitivity check of every outcome marked ``ordinal: true`` whose modality
    model was fitted: each Likert item of its scale (reverse-keyed items reversed), with the
    same waves, modalities, sites and participants, fitted twice, its answers as numbers
    (the linear modality model) and as ordered categories (a cumulative-link mixed model,
    ``ordinal::clmm``), and whether each difference-in-change conclusion is the same under
    both (:func:`evalkit.models.ordinal_agrees`). Comparing an item's ordinal fit with the
    model of the whole scale's mean would mix two questions: one item is noisier than a mean
    of many."""
    from evalkit.models import modality_model, ordinal_agrees, ordinal_model

    rows: list[dict[str, Any]] = []
    contrasts: list[dict[str, Any]] = []
    for o in outcomes:
        if not o.ordinal or o.id not in fitted:
            continue
        order = fitted[o.id]
        wide = items.get(o.instrument)
        if wide is None:
            continue
        for item in instruments[o.instrument].scale(o.scale).items:
            data = wide.loc[wide["respondent_id"].notna() & wide[item].notna()
                            & wide["wave"].isin(order),
                            ["wave", "site_id", "modality", "respondent_id", item]]
            data = data.rename(columns={"site_id": "site", "respondent_id": "participant"})
            roles: dict[str, Any] = dict(outcome=item, time="wave", time_order=order,
                                         group="modality", cluster="site",
                                         subject="participant")
            try:
                linear = modality_model(data.astype({item: float}), **roles, permutations=None,
                                        robust=False, reml=settings.reml,
                                        df_method=settings.df_method)
                res = ordinal_model(data, **roles)
            except AnalysisError as exc:
                pending.add("ordinal", f"item {item} of the {words.scale(o)} scale: the "
                            f"ordinal model cannot be fitted on the answers so far ({exc})",
                            f"more {words.title(o.instrument)} answers to {item} at each "
                            "site and wave", outcome=o.id)
                continue
            check = ordinal_agrees(linear, res)
            fit = res.fit
            rows.append({"outcome": o.id, "item": item, "n_obs": fit.n_obs,
                         "n_sites": fit.n_groups.get("site"),
                         "n_participants": fit.n_groups.get("participant"),
                         "converged": fit.converged, "agrees": check["agrees"],
                         "n_contrasts": check["n_contrasts"],
                         "n_disagree": check["n_disagree"], "message": fit.message})
            contrasts += [{"outcome": o.id, "item": item, **c} for c in check["contrasts"]]
    if not rows:
        return {}
    return {"model_ordinal": pd.DataFrame(rows, columns=ORDINAL_COLUMNS),
            "model_ordinal_contrasts": pd.DataFrame(contrasts,
                                                    columns=ORDINAL_CONTRAST_COLUMNS)}


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


_PREPOST_BASE = ["outcome", "design", "level", "site_id", "modality", "pre", "post"]
_PREPOST_ROW = ["n_pairs", "n_pre", "n_post", *_SHARED, "rank_test", "rank_statistic",
                "p_rank", "effect_name", "effect", "effect_low", "effect_high", "hedges",
                "hedges_low", "hedges_high", "rank_biserial_low", "rank_biserial_high"]
_EXCLUDED_COLUMNS = ["outcome", "level", "site_id", "subject", "reason"]
_ATTRITION_COLUMNS = ["outcome", "level", "site_id", "modality", "n_pre", "n_post",
                      "n_matched", "n_completers", "mean_completers", "n_dropouts",
                      "mean_dropouts", "difference", "p"]


def _prepost_gap(o: Outcome, plan: AnalysisPlan, have: set[str], words: _Words,
                 pending: _Pending) -> bool:
    """Whether the outcome has answers at both compared waves; if not, say so."""
    pre, post = plan.compare.pre, plan.compare.post
    missing = [w for w in (pre, post) if w not in have]
    if not missing:
        return True
    title = words.title(o.instrument)
    so_far = _only_so_far(have, words, o.instrument)
    tail = (f"answers at {words.waves(missing)} too" if len(missing) < 2 or have
            else f"answers at {words.waves(missing)}")
    needs = f"{title} responses at {words.waves(missing)}"
    note = words.not_asked(o.instrument, missing)
    pending.add("prepost", f"{so_far}: a pre/post comparison needs {tail}{note}", needs,
                outcome=o.id)
    if o.design == "matched":
        pending.add("attrition", f"{so_far}: the attrition check compares who answered at "
                    f"{words.wave(pre)} and {words.wave(post)}, so it needs {tail}{note}",
                    needs, outcome=o.id)
    return False


def _prepost_tables(scores: pd.DataFrame, plan: AnalysisPlan, *, words: _Words | None = None,
                    pending: _Pending | None = None) -> dict[str, pd.DataFrame]:
    """Pre/post comparisons per outcome for the collaborative, each modality and each site,
    the people left out and why, the attrition table, and adjusted p-values.

    With ``words`` and ``pending``, an outcome without answers at both compared waves is
    left out and recorded in ``pending``; the multiplicity family is then the outcomes
    computed."""
    from evalkit.prepost import adjust_p, attrition, compare, compare_unmatched

    pre, post = plan.compare.pre, plan.compare.post
    have = _waves_with_scores(scores)
    rows, excluded, attr = [], [], []
    for o in plan.outcomes:
        if words is not None and pending is not None and not _prepost_gap(
                o, plan, have.get(o.id, set()), words, pending):
            continue
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
                    excluded.append(ex[_EXCLUDED_COLUMNS])
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
                    unmatched = compare_unmatched(sub, outcome="score", time="wave", pre=pre,
                                                  post=post)
                    row = _prepost_row(unmatched.summary.iloc[0], matched=False)
            except AnalysisError as exc:
                # Too few people at this level (e.g. a small site): say so, don't guess.
                row = {"note": str(exc)}
                if level == "collaborative" and words is not None and pending is not None:
                    title = words.title(o.instrument)
                    pending.add("prepost", f"the {words.wave(pre)} and {words.wave(post)} "
                                f"answers so far do not allow a comparison ({exc})",
                                f"more {title} responses at {words.waves([pre, post])}"
                                + (" from the same participants" if o.design == "matched"
                                   else ""), outcome=o.id)
            rows.append({**base, **row})
    prepost = pd.DataFrame(rows)
    for col in [*_PREPOST_BASE, *_PREPOST_ROW, "note"]:
        if col not in prepost:
            prepost[col] = pd.Series(None, index=prepost.index, dtype="object")
    # Multiplicity across the plan's family of outcomes, at each level separately; an
    # outcome not computed (pending, or too few people at a level) is left out.
    prepost["p_adjusted"] = float("nan")
    prepost["adjust_method"] = plan.multiplicity.method
    family = prepost["outcome"].isin(plan.family) & prepost["p"].notna()
    for _, idx in prepost[family].groupby(["level", "site_id", "modality"], dropna=False
                                          ).groups.items():
        prepost.loc[idx, "p_adjusted"] = adjust_p(
            prepost.loc[idx, "p"].to_numpy(dtype="float64"), method=plan.multiplicity.method)
    return {
        "prepost": prepost,
        "prepost_excluded": (pd.concat(excluded, ignore_index=True) if excluded
                             else pd.DataFrame(columns=_EXCLUDED_COLUMNS, dtype="object")),
        "attrition": (pd.DataFrame(attr) if attr
                      else pd.DataFrame(columns=_ATTRITION_COLUMNS, dtype="object")),
    }


# Reliability -------------------------------------------------------------------------------
_RELIABILITY_COLUMNS = ["outcome", "wave", "n", "n_items", "raw_alpha", "std_alpha",
                        "average_r", "alpha_low", "alpha_high", "omega_total", "missing"]


def _reliability_gap(o: Outcome, plan: AnalysisPlan, items: dict[str, pd.DataFrame],
                     instruments: dict[str, Instrument], words: _Words, pending: _Pending,
                     ) -> tuple[pd.DataFrame, list[str]] | None:
    """The pre-wave items of the outcome's scale, or None (and, when the data are what is
    missing, a pending row). A one-item scale has no reliability to report."""
    scale = instruments[o.instrument].scale(o.scale)
    if len(scale.items) < 2:
        return None
    pre = plan.compare.pre
    title, label = words.title(o.instrument), words.scale(o)
    wide = items.get(o.instrument)
    data = wide[wide["wave"] == pre] if wide is not None else pd.DataFrame()
    if data.empty:
        pending.add("reliability", f"no {title} answers at {words.wave(pre)} yet: the "
                    f"reliability of the {label} scale is estimated at {words.wave(pre)}"
                    + words.not_asked(o.instrument, [pre]),
                    f"{title} responses at {words.wave(pre)}", outcome=o.id)
        return None
    cols = [c for c in scale.items if c in data.columns and data[c].notna().any()]
    if len(cols) < 2:
        pending.add("reliability", f"{title}, {label} scale: fewer than two of its items "
                    f"have been answered at {words.wave(pre)}, so its reliability cannot be "
                    "estimated", f"{title} responses at {words.wave(pre)} answering the "
                    f"{label} items", outcome=o.id)
        return None
    return data, cols


def _reliability_table(items: dict[str, pd.DataFrame], plan: AnalysisPlan,
                       instruments: dict[str, Instrument], *, words: _Words,
                       pending: _Pending) -> pd.DataFrame:
    """Cronbach's alpha (with Feldt CI) and omega total of each outcome's scale at the pre
    wave, on reverse-coded items; missing items handled pairwise as psych::alpha does. A
    respondent who answered none of the scale's items (skipped it, or was not asked) is not
    counted in ``n``: a report's n is the people whose answers the alpha rests on (psych's
    ``alpha`` would count them; ``empty_rows="count"`` in the library does)."""
    from evalkit.reliability import cronbach_alpha

    rows = []
    for o in plan.outcomes:
        found = _reliability_gap(o, plan, items, instruments, words, pending)
        if found is None:
            continue
        data, cols = found
        try:
            res = cronbach_alpha(data, items=cols, missing="pairwise", empty_rows="drop")
        except AnalysisError as exc:
            title, label, pre = words.title(o.instrument), words.scale(o), plan.compare.pre
            pending.add("reliability", f"{title}, {label} scale: its reliability cannot be "
                        f"estimated from the {words.wave(pre)} answers so far ({exc})",
                        f"{title} responses at {words.wave(pre)} in which the {label} items "
                        "are answered together", outcome=o.id)
            continue
        rows.append({"outcome": o.id, "wave": plan.compare.pre, "n": res.n,
                     "n_items": res.n_items, "raw_alpha": res.raw_alpha,
                     "std_alpha": res.std_alpha, "average_r": res.average_r,
                     "alpha_low": res.feldt_ci_low, "alpha_high": res.feldt_ci_high,
                     "omega_total": res.omega_total, "missing": "pairwise"})
    return pd.DataFrame(rows, columns=_RELIABILITY_COLUMNS)


# Networks and feedback ----------------------------------------------------------------------
def _wave_counts(config: ProjectConfig, instrument: str) -> dict[str, int]:
    from evalkit.store import read_table

    counts = read_table(config.store_path, "SELECT wave, count(*) AS n FROM responses "
                        "WHERE instrument = ? AND complete GROUP BY wave", [instrument])
    return dict(zip(counts["wave"], counts["n"].astype(int), strict=True))


def _network_gap(config: ProjectConfig, settings: NetworkSettings, words: _Words,
                 pending: _Pending) -> bool:
    """Whether the partner networks can be drawn; when network change cannot be
    counted yet (one wave so far) a pending row says so, but the networks are drawn."""
    from evalkit.store import read_table

    inst, item = settings.instrument, settings.item
    title = words.title(inst)
    waves = [w for w in config.wave_ids if w in config.instruments[inst].waves]
    pre, post = waves[0], waves[-1]
    have = _wave_counts(config, inst)
    if not have:
        pending.add("network", f"no {title} responses yet: the partner networks are drawn "
                    "from them", f"{title} responses at {words.waves([pre, post])}")
        return False
    n = read_table(config.store_path, "SELECT count(*) AS n FROM answers a JOIN responses r "
                   "USING (response_id) WHERE r.instrument = ? AND r.complete AND "
                   "a.value IS NOT NULL AND starts_with(a.item, ?)", [inst, f"{item}["])
    if int(n["n"].iloc[0]) == 0:
        pending.add("network", f"the {title} answers hold no '{item}' ratings (network.item "
                    "in the plan), so ties between organizations cannot be counted",
                    f"{title} responses with '{item}' ratings")
        return False
    missing = [w for w in dict.fromkeys([pre, post]) if w not in have]
    if pre == post or missing:
        so_far = _only_so_far(have, words, inst)
        if pre == post:
            pending.add("network", f"evalkit.yml uses the {title} at {words.wave(pre)} only: "
                        "network change needs two waves",
                        f"a second wave in instruments.{inst}.waves and {title} responses "
                        "at it")
        else:
            pending.add("network", f"{so_far}: network change needs {title} answers at "
                        f"{words.waves(missing)} too",
                        f"{title} responses at {words.waves(missing)}")
    return True


def _network_tables(config: ProjectConfig, settings: NetworkSettings, words: _Words,
                    pending: _Pending) -> dict[str, pd.DataFrame]:
    from evalkit.network import network_tables

    if not _network_gap(config, settings, words, pending):
        return {}
    try:
        return network_tables(config.store_path, config, min_level=settings.min_level,
                              item=settings.item, instrument=settings.instrument)
    except AnalysisError as exc:
        title = words.title(settings.instrument)
        pending.add("network", f"the partner networks cannot be drawn from the {title} "
                    f"answers so far ({exc})", f"complete {title} responses")
        return {}


def _feedback_gap(config: ProjectConfig, settings: FeedbackSettings, words: _Words,
                  pending: _Pending) -> bool:
    inst = settings.instrument
    if _wave_counts(config, inst):
        return True
    title = words.title(inst)
    pending.add("feedback", f"no {title} responses yet: community feedback scores, themes "
                "and quotes come from them",
                f"{title} responses at {words.waves(words.configured(inst))}")
    return False


def _feedback_tables(config: ProjectConfig, fb: FeedbackSettings, words: _Words,
                     pending: _Pending) -> dict[str, pd.DataFrame]:
    from evalkit.feedback import feedback_tables, read_names

    if not _feedback_gap(config, fb, words, pending):
        return {}
    names = read_names(config.path(fb.names_file)) if fb.names_file else ()
    try:
        return feedback_tables(config.store_path, config, config.path(fb.codebook),
                               names=names, instrument=fb.instrument, item=fb.comment_item,
                               per_theme=fb.quotes_per_theme)
    except AnalysisError as exc:
        title = words.title(fb.instrument)
        pending.add("feedback", f"community feedback cannot be summarized from the {title} "
                    f"answers so far ({exc})", f"complete {title} responses")
        return {}


# Linkage -------------------------------------------------------------------------------------
def _linkage_codes(config: ProjectConfig, plan: AnalysisPlan, instrument: Instrument,
                   words: _Words, pending: _Pending) -> pd.DataFrame | None:
    """The self-generated codes, or None (and a pending row) without codes at both waves."""
    from evalkit.tables import text_answers

    if instrument.linkage_code is None:
        return None
    codes = text_answers(config.store_path, instrument.id, instrument.linkage_code)
    pre, post = plan.compare.pre, plan.compare.post
    have = set(codes["wave"])
    missing = [w for w in (pre, post) if w not in have]
    if missing:
        title = words.title(instrument.id)
        pending.add("linkage", f"{_only_so_far(have, words, instrument.id)}: linking "
                    f"self-generated codes needs {title} answers at {words.wave(pre)} and "
                    f"{words.wave(post)}" + words.not_asked(instrument.id, missing),
                    f"{title} responses with the self-generated code at "
                    f"{words.waves(missing)}")
        return None
    return codes


def _linkage_table(config: ProjectConfig, plan: AnalysisPlan, settings: LinkageSettings,
                   instrument: Instrument, *, words: _Words,
                   pending: _Pending) -> pd.DataFrame | None:
    """Match rate of self-generated codes between the pre and post waves, per site.

    Columns: ``site_id, n_pre, n_post, linked, ambiguous, match_rate, max_mismatches``.
    Codes themselves never leave this function.
    """
    from evalkit.linkage import link_codes

    codes = _linkage_codes(config, plan, instrument, words, pending)
    if codes is None:
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
