"""What a simulated collaborative is drawn from: variance components, changes, attrition.

:class:`PowerParameters` holds the data-generating model of
``outcome = change[modality, wave] + u_site + v_site,wave + b_participant + e``; it is built
from a fitted modality model (:func:`parameters_from_model`), from a project's ``results/``
folder (:func:`parameters_from_results`) or from stated ICCs and an effect size
(:func:`parameters_from_icc`) for a collaborative that has no data yet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from evalkit.errors import AnalysisError

if TYPE_CHECKING:
    import pandas as pd

    from evalkit.models import ModalityModelResult
    from evalkit.results import Results


@dataclass(frozen=True)
class PowerParameters:
    """The model simulated collaboratives are drawn from.

    Attributes
    ----------
    modalities : tuple of str
        Modality names in model order (the first is the reference of the model's terms).
    waves : tuple of str
        Waves in time order.
    change : tuple of tuple of float
        For each modality, the mean change from the first wave to each wave (the first entry
        of each row is 0).
    site_sd, participant_sd, residual_sd : float
        Standard deviations of the site and participant random intercepts and of the
        residual, as the modality model estimates them.
    site_change_sd : float
        Standard deviation of a site x wave deviation (sites differing in how much they
        change, beyond their participants). The modality model does not estimate it; 0 unless
        stated. With it above 0 the change is a site-level quantity and the number of sites
        limits power for the model tests too.
    attrition : tuple of float
        For each wave after the first, the share of the participants present at the previous
        wave who are missing from it (monotone dropout).
    participants : float or None
        Participants per site in the source collaborative (None for stated parameters).
    sites_per_modality : tuple of int or None
        Sites per modality in the source collaborative.
    source : str
        Where the parameters came from, in words.
    """

    modalities: tuple[str, ...]
    waves: tuple[str, ...]
    change: tuple[tuple[float, ...], ...]
    site_sd: float
    participant_sd: float
    residual_sd: float
    site_change_sd: float = 0.0
    attrition: tuple[float, ...] = ()
    participants: float | None = None
    sites_per_modality: tuple[int, ...] | None = None
    source: str = "stated parameters"

    def __post_init__(self) -> None:
        if len(self.modalities) < 2:
            raise AnalysisError(
                f"power needs at least two modalities; received {list(self.modalities)}")
        if len(set(self.modalities)) != len(self.modalities):
            raise AnalysisError(f"modalities repeat: {list(self.modalities)}")
        if len(self.waves) < 2:
            raise AnalysisError(f"power needs at least two waves; received {list(self.waves)}")
        if len(self.change) != len(self.modalities) or any(
                len(row) != len(self.waves) for row in self.change):
            raise AnalysisError(
                f"change must have one row per modality ({len(self.modalities)}) and one "
                f"value per wave ({len(self.waves)}); received "
                f"{[len(r) for r in self.change]}")
        for name in ("site_sd", "participant_sd", "residual_sd", "site_change_sd"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0.0):
                raise AnalysisError(f"{name} must be a finite number >= 0; received {v!r}")
        if self.residual_sd <= 0.0:
            raise AnalysisError(f"residual_sd must be above 0; received {self.residual_sd!r}")
        if len(self.attrition) != len(self.waves) - 1:
            raise AnalysisError(
                f"attrition must give one share per wave after the first "
                f"({len(self.waves) - 1}); received {list(self.attrition)}")
        for a in self.attrition:
            if not 0.0 <= a < 1.0:
                raise AnalysisError(f"attrition shares must be in [0, 1); received {a!r}")

    @property
    def change_matrix(self) -> np.ndarray:
        """``change`` as a (modalities x waves) array."""
        return np.asarray(self.change, dtype=float)

    def difference(self, a: str, b: str, start: str, end: str) -> float:
        """True difference in change ``(end - start under a) - (end - start under b)``."""
        c = self.change_matrix
        i, j = self.modalities.index(a), self.modalities.index(b)
        s, e = self.waves.index(start), self.waves.index(end)
        return float((c[i, e] - c[i, s]) - (c[j, e] - c[j, s]))

    def with_change(self, change: np.ndarray) -> PowerParameters:
        """The same parameters with another (modalities x waves) change array."""
        rows = tuple(tuple(float(x) for x in r) for r in np.asarray(change, dtype=float))
        return _replace(self, change=rows)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {
            "modalities": list(self.modalities), "waves": list(self.waves),
            "change": {m: list(r) for m, r in zip(self.modalities, self.change, strict=True)},
            "site_sd": self.site_sd, "participant_sd": self.participant_sd,
            "residual_sd": self.residual_sd, "site_change_sd": self.site_change_sd,
            "attrition": list(self.attrition), "participants": self.participants,
            "sites_per_modality": (None if self.sites_per_modality is None
                                   else list(self.sites_per_modality)),
            "source": self.source,
        }


def _replace(p: PowerParameters, **changes: Any) -> PowerParameters:
    import dataclasses

    return dataclasses.replace(p, **changes)


def _attrition(value: float | Sequence[float], n_waves: int) -> tuple[float, ...]:
    if isinstance(value, (int, float)):
        return (float(value),) * (n_waves - 1)
    out = tuple(float(v) for v in value)
    if len(out) != n_waves - 1:
        raise AnalysisError(
            f"attrition must be one share or one per wave after the first ({n_waves - 1}); "
            f"received {list(out)}")
    return out


def parameters_from_icc(
    *,
    icc_site: float,
    icc_participant: float,
    effect: float,
    waves: int | Sequence[str] = 2,
    modalities: int | Sequence[str] = 2,
    attrition: float | Sequence[float] = 0.0,
    total_sd: float = 1.0,
    site_change_sd: float = 0.0,
) -> PowerParameters:
    """Parameters stated as ICCs and an effect size, for a collaborative without data yet.

    The ICCs are those of the modality model's ``icc`` table: ``icc_site`` is the share of
    the outcome variance between sites, ``icc_participant`` the correlation of two waves of
    the same participant (site and participant variance over the total).

    Parameters
    ----------
    icc_site, icc_participant : float
        ``0 <= icc_site <= icc_participant < 1``.
    effect : float
        Difference in change from the first to the last wave between the first modality and
        each other modality, in outcome units (standard deviations when ``total_sd=1``);
        the change grows linearly over the waves. The other modalities do not change.
    waves : int or sequence of str, default 2
        Number of waves (named ``wave1``, ``wave2``...) or their names.
    modalities : int or sequence of str, default 2
        Number of modalities (named ``A``, ``B``...) or their names.
    attrition : float or sequence of float, default 0
        Share of the previous wave's participants missing at each later wave.
    total_sd : float, default 1
        Standard deviation of the outcome (site + participant + residual).
    site_change_sd : float, default 0
        See :class:`PowerParameters`.

    Returns
    -------
    PowerParameters

    Examples
    --------
    >>> p = parameters_from_icc(icc_site=0.1, icc_participant=0.6, effect=0.3, waves=3)
    >>> p.modalities, p.waves
    (('A', 'B'), ('wave1', 'wave2', 'wave3'))
    >>> round(p.difference("A", "B", "wave1", "wave3"), 3), round(p.residual_sd**2, 3)
    (0.3, 0.4)
    """
    if not (0.0 <= icc_site <= icc_participant < 1.0):
        raise AnalysisError(
            "ICCs must satisfy 0 <= icc_site <= icc_participant < 1; received "
            f"icc_site={icc_site!r}, icc_participant={icc_participant!r}")
    if not (math.isfinite(total_sd) and total_sd > 0):
        raise AnalysisError(f"total_sd must be above 0; received {total_sd!r}")
    if not math.isfinite(effect):
        raise AnalysisError(f"effect must be a finite number; received {effect!r}")
    wave_names = (tuple(f"wave{i + 1}" for i in range(waves)) if isinstance(waves, int)
                  else tuple(str(w) for w in waves))
    mod_names = (tuple(chr(ord("A") + i) for i in range(modalities))
                 if isinstance(modalities, int) else tuple(str(m) for m in modalities))
    if isinstance(modalities, int) and not 2 <= modalities <= 26:
        raise AnalysisError(f"modalities must be between 2 and 26; received {modalities}")
    T = len(wave_names)
    if T < 2:
        raise AnalysisError(f"waves must be at least 2; received {waves!r}")
    total = total_sd**2
    ramp = np.arange(T) / (T - 1)
    change = np.zeros((len(mod_names), T))
    change[0] = effect * ramp
    return PowerParameters(
        modalities=mod_names, waves=wave_names,
        change=tuple(tuple(float(x) for x in r) for r in change),
        site_sd=math.sqrt(icc_site * total),
        participant_sd=math.sqrt((icc_participant - icc_site) * total),
        residual_sd=math.sqrt((1.0 - icc_participant) * total),
        site_change_sd=float(site_change_sd), attrition=_attrition(attrition, T),
        source=(f"stated: ICC site {icc_site:g}, ICC participant {icc_participant:g}, "
                f"effect {effect:g}"),
    )


def _change_from_emmeans(emmeans: Any, group: str, time: str, modalities: Sequence[str],
                         waves: Sequence[str]) -> np.ndarray:
    em = {(str(r[group]), str(r[time])): float(r["emmean"])
          for r in emmeans.to_dict(orient="records")}
    out = np.zeros((len(modalities), len(waves)))
    for i, m in enumerate(modalities):
        for t, w in enumerate(waves):
            if (m, w) not in em or (m, waves[0]) not in em:
                raise AnalysisError(f"emmeans: no estimate for {group} {m!r} at {time} {w!r}")
            out[i, t] = em[(m, w)] - em[(m, waves[0])]
    return out


def parameters_from_model(
    result: ModalityModelResult,
    *,
    attrition: float | Sequence[float] = 0.0,
    site_change_sd: float = 0.0,
) -> PowerParameters:
    """Parameters from a fitted modality model: its variance components and the changes its
    estimated marginal means show.

    Parameters
    ----------
    result : ModalityModelResult
        From :func:`evalkit.models.modality_model`.
    attrition : float or sequence of float, default 0
        Share of the previous wave's participants missing at each later wave (the model
        result does not record it; :func:`parameters_from_results` reads it from the data).
    site_change_sd : float, default 0
        See :class:`PowerParameters`.

    Returns
    -------
    PowerParameters

    Examples
    --------
    >>> from evalkit.models import modality_model
    >>> from evalkit.models._toy import toy_collaborative
    >>> res = modality_model(toy_collaborative(), outcome="score", time="wave",
    ...     time_order=["baseline", "midline", "endline"], group="modality", cluster="site",
    ...     subject="participant", permutations=None, robust=False)
    >>> p = parameters_from_model(res, attrition=0.1)
    >>> p.modalities, p.sites_per_modality
    (('coaching', 'convening', 'peer'), (2, 2, 2))
    """
    em = result.emmeans
    group, time = str(em.columns[0]), str(em.columns[1])
    modalities = tuple(dict.fromkeys(str(m) for m in em[group]))
    waves = tuple(dict.fromkeys(str(w) for w in em[time]))
    change = _change_from_emmeans(em, group, time, modalities, waves)
    sd = dict(zip(result.variance_components["group"].astype(str),
                  result.variance_components["sd"].astype(float), strict=True))
    keys = list(sd)
    n_sites = result.fit.n_groups.get(keys[0])
    n_part = result.fit.n_groups.get(keys[1])
    per_mod = None
    participants = None
    if n_sites:
        per_mod = (round(n_sites / len(modalities)),) * len(modalities)
        if n_part:
            participants = n_part / n_sites
    return PowerParameters(
        modalities=modalities, waves=waves,
        change=tuple(tuple(float(x) for x in r) for r in change),
        site_sd=sd[keys[0]], participant_sd=sd[keys[1]], residual_sd=sd["Residual"],
        site_change_sd=float(site_change_sd), attrition=_attrition(attrition, len(waves)),
        participants=participants, sites_per_modality=per_mod,
        source="fitted modality model",
    )


def estimate_site_change_sd(scores: pd.DataFrame, *, start: str, end: str) -> float | None:
    """Method-of-moments SD of the site x wave deviation from participants' changes.

    Each participant seen at ``start`` and ``end`` has a change ``c``; a site's mean change
    varies between sites of one modality by ``2 tau^2 + var(c within site) / n_site``, so
    ``tau^2 = (B - mean(s_w^2 / n)) / 2`` (0 if negative) with ``B`` the pooled variance of
    site mean changes around their modality's mean and ``s_w^2`` the within-site variance
    of the changes. None when no modality has two sites with two such participants.
    ``scores`` has columns ``site_id, modality, respondent_id, wave, score``.
    """
    two = scores[scores["wave"].isin([start, end])]
    wide = two.pivot_table(index=["site_id", "modality", "respondent_id"], columns="wave",
                           values="score", aggfunc="mean")
    if start not in wide or end not in wide:
        return None
    change = (wide[end] - wide[start]).dropna().rename("c").reset_index()
    per_site = change.groupby(["modality", "site_id"])["c"].agg(["mean", "var", "count"])
    per_site = per_site[per_site["count"] >= 2].reset_index()
    sizes = per_site.groupby("modality")["site_id"].transform("size")
    per_site = per_site[sizes >= 2]
    if per_site.empty:
        return None
    dev = per_site["mean"] - per_site.groupby("modality")["mean"].transform("mean")
    dfree = int((per_site.groupby("modality").size() - 1).sum())
    between = float((dev**2).sum()) / dfree
    noise = float((per_site["var"] / per_site["count"]).mean())
    return math.sqrt(max(0.0, (between - noise) / 2.0))


def parameters_from_results(
    results: str | Path | Results,
    *,
    outcome: str | None = None,
    site_change_sd: float | Literal["estimate"] = "estimate",
) -> PowerParameters:
    """Parameters from the result tables ``evalkit analyze`` wrote.

    Reads ``model_variance`` (variance components), ``model_emmeans`` (the change of each
    modality), ``model_fit`` and the ``scores`` of the model's outcome (participants per
    site, sites per modality and the attrition between consecutive waves).

    Parameters
    ----------
    results : path or Results
        A project's ``results/`` folder (or the project folder holding it).
    outcome : str, optional
        The modelled outcome; the first one in ``model_fit`` by default.
    site_change_sd : float or "estimate", default "estimate"
        See :class:`PowerParameters`; ``"estimate"`` estimates it from the scores by
        moments (:func:`estimate_site_change_sd`, first to last wave; 0 when it cannot).

    Returns
    -------
    PowerParameters
    """
    from evalkit.results import Results, read_results

    if not isinstance(results, Results):
        folder = Path(results)
        if not (folder / "manifest.json").exists() and (folder / "results").is_dir():
            folder = folder / "results"
        results = read_results(folder)
    for name in ("model_variance", "model_emmeans", "model_fit"):
        if name not in results.manifest["tables"]:
            raise AnalysisError(
                f"{results.directory}: no result table {name!r}; the modality model has not "
                "been fitted yet (see the 'pending' table), so there are no variance "
                "components to plan from")
    fit = results.table("model_fit")
    outcomes = [str(o) for o in fit["outcome"]]
    if not outcomes:
        raise AnalysisError(f"{results.directory}: table 'model_fit' is empty")
    outcome = outcomes[0] if outcome is None else outcome
    if outcome not in outcomes:
        raise AnalysisError(
            f"outcome {outcome!r} has no modality model in {results.directory}; modelled "
            f"outcomes are {outcomes}")
    var = results.table("model_variance")
    var = var[var["outcome"] == outcome]
    em = results.table("model_emmeans")
    em = em[em["outcome"] == outcome].drop(columns="outcome")
    group, time = str(em.columns[0]), str(em.columns[1])
    modalities = tuple(dict.fromkeys(str(m) for m in em[group]))
    plan = results.manifest.get("plan") or {}
    plan_waves = list((plan.get("model") or {}).get("time_order") or [])
    present = set(em[time].astype(str))
    waves = (tuple(w for w in plan_waves if w in present) if plan_waves
             else tuple(dict.fromkeys(str(w) for w in em[time])))
    change = _change_from_emmeans(em, group, time, modalities, waves)
    sd = dict(zip(var["group"].astype(str), var["sd"].astype(float), strict=True))
    keys = [k for k in sd if k != "Residual"]
    attrition: tuple[float, ...] = (0.0,) * (len(waves) - 1)
    tau_note = ""
    participants = None
    per_mod = None
    if "scores" in results.manifest["tables"]:
        sc = results.table("scores")
        sc = sc[(sc["outcome"] == outcome) & sc["score"].notna()
                & sc["respondent_id"].notna() & sc["wave"].isin(waves)]
        if not sc.empty:
            who = {w: set(zip(g["site_id"], g["respondent_id"], strict=True))
                   for w, g in sc.groupby("wave")}
            shares = []
            present_ids = who.get(waves[0], set())
            for w in waves[1:]:
                now = who.get(w, set())
                stayed = present_ids & now
                shares.append(1.0 - len(stayed) / len(present_ids) if present_ids else 0.0)
                present_ids = stayed
            attrition = tuple(min(max(s, 0.0), 0.95) for s in shares)
            base = sc[sc["wave"] == waves[0]]
            per_site = base.groupby("site_id")["respondent_id"].nunique()
            participants = float(per_site.mean()) if len(per_site) else None
            site_mod = sc.drop_duplicates("site_id").set_index("site_id")["modality"]
            counts = site_mod.astype(str).value_counts()
            per_mod = tuple(int(counts.get(m, 0)) for m in modalities)
            if site_change_sd == "estimate":
                est = estimate_site_change_sd(sc, start=waves[0], end=waves[-1])
                site_change_sd = 0.0 if est is None else est
                tau_note = ("; site x wave SD estimated by moments" if est is not None
                            else "; site x wave SD not estimable, 0")
    if site_change_sd == "estimate":
        site_change_sd = 0.0
        tau_note = "; no scores, site x wave SD 0"
    return PowerParameters(
        modalities=modalities, waves=waves,
        change=tuple(tuple(float(x) for x in r) for r in change),
        site_sd=sd[keys[0]], participant_sd=sd[keys[1]], residual_sd=sd["Residual"],
        site_change_sd=float(site_change_sd), attrition=attrition,
        participants=participants, sites_per_modality=per_mod,
        source=f"results of {results.directory} (outcome {outcome!r}{tau_note})",
    )


def _as_parameters(source: object) -> PowerParameters:
    from evalkit.models import ModalityModelResult

    if isinstance(source, PowerParameters):
        return source
    if isinstance(source, ModalityModelResult):
        return parameters_from_model(source)
    if isinstance(source, (str, Path)):
        return parameters_from_results(source)
    raise AnalysisError(
        "power needs PowerParameters, a ModalityModelResult or a results folder; received "
        f"{type(source).__name__}")
