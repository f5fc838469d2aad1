"""Public entry points of the ordinal (cumulative-link) modality model."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from evalkit.errors import AnalysisError
from evalkit.models._api import _single_threaded
from evalkit.models._design import Design, build_design
from evalkit.models._emmeans import cells, change_contrasts, holm
from evalkit.models._ordinal_fit import BOUNDARY_TOL, NestedData, fit_clm, fit_clmm
from evalkit.models._ordinal_links import LINKS, Link, cdf
from evalkit.models._ordinal_nominal import nominal_table

_SITE = "__ordinal_site__"
_ROW = "__ordinal_participant__"


@dataclass(frozen=True)
class OrdinalFitInfo:
    """Summary of an ordinal fit.

    Attributes
    ----------
    model : str
        ``"clmm"`` (random intercepts for sites and participants) or ``"clm"`` (none).
    link : str
    loglik, aic : float
        Laplace-approximate log-likelihood (clmm) or log-likelihood (clm); AIC counts the
        thresholds, coefficients and random-effect SDs, as ``AIC(clmm)``.
    n_obs : int
    n_groups : dict
        ``{cluster column: sites, subject column: participants}`` (empty for clm).
    categories : tuple of str
        The outcome's categories in order (only those observed).
    converged : bool
    max_gradient : float
        Largest absolute gradient of -logLik at the estimates (clmm's ``max.grad``).
    condition_number : float
        Condition number of the Hessian (clmm's ``cond.H``).
    n_dropped : int
        Rows left out for a missing model column.
    message : str
        The diagnostics in plain words.
    """

    model: str
    link: str
    loglik: float
    aic: float
    n_obs: int
    n_groups: dict[str, int]
    categories: tuple[str, ...]
    converged: bool
    max_gradient: float
    condition_number: float
    n_dropped: int
    message: str


@dataclass(frozen=True)
class OrdinalModelResult:
    """Everything :func:`ordinal_model` reports; every table is a tidy DataFrame.

    Attributes
    ----------
    thresholds : DataFrame
        ``threshold, estimate, se``: the cut points ``theta_j`` (``"1|2"``, ...).
    fixed_effects : DataFrame
        ``term, estimate, se, z, p`` (no intercept: the thresholds take its place).
    random_effects : DataFrame
        ``group, sd, variance`` for the cluster and subject columns (empty for clm).
    fit : OrdinalFitInfo
    emmeans : DataFrame
        ``<group>, <time>, emmean, se, lower, upper``: latent-scale means, as
        ``emmeans(fit, ~ time | group, mode = "latent")`` (``x'beta - mean(theta)``).
    change_contrasts : DataFrame
        ``a, b, from, to, estimate, se, z, p, lower, upper, p_adjusted``: ``(to - from under
        a) - (to - from under b)`` on the latent scale; Holm over the pairs of each change.
    probabilities : DataFrame
        ``<group>, <time>, category, probability`` at random effects 0.
    nominal_test : DataFrame
        ``term, df, loglik, aic, lrt, p``: the proportional-odds check of ``nominal_test``
        (clm only; empty for clmm).
    """

    thresholds: pd.DataFrame
    fixed_effects: pd.DataFrame
    random_effects: pd.DataFrame
    fit: OrdinalFitInfo
    emmeans: pd.DataFrame
    change_contrasts: pd.DataFrame
    probabilities: pd.DataFrame
    nominal_test: pd.DataFrame


def _label(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _codes(data: pd.DataFrame, outcome: str, categories: Sequence[Any] | None
           ) -> tuple[pd.Series, tuple[str, ...]]:
    col = data[outcome]
    present = col.dropna()
    if categories is None:
        values = pd.to_numeric(present, errors="coerce")
        if values.isna().any():
            bad = present[values.isna()].iloc[0]
            raise AnalysisError(
                f"outcome column '{outcome}' must hold numeric answer codes, or pass "
                f"categories= in order; received value {bad!r}")
        order = [_label(v) for v in sorted(values.unique())]
    else:
        order = [_label(c) for c in categories]
        if len(set(order)) != len(order):
            raise AnalysisError(f"categories has repeated values: {order}")
    index = {c: k for k, c in enumerate(order)}
    labels = col.map(lambda v: None if pd.isna(v) else _label(v))
    unknown = sorted({lab for lab in labels.dropna() if lab not in index})
    if unknown:
        raise AnalysisError(f"outcome column '{outcome}' has value(s) {unknown} not in "
                            f"categories {order}")
    used = [c for c in order if c in set(labels.dropna())]
    if len(used) < 2:
        raise AnalysisError(f"outcome column '{outcome}' needs at least two observed "
                            f"categories; received {used}")
    code = {c: float(k) for k, c in enumerate(used)}
    return labels.map(lambda lab: np.nan if pd.isna(lab) else code[lab]), tuple(used)


def _design(data: pd.DataFrame, *, outcome: str, time: str, time_order: Sequence[str],
            group: str, cluster: str | None, subject: str | None,
            categories: Sequence[Any] | None) -> tuple[Design, tuple[str, ...]]:
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError(f"data must be a pandas DataFrame; received {type(data).__name__}")
    if (cluster is None) != (subject is None):
        raise AnalysisError("cluster and subject must be given together (clmm) or both be "
                            f"None (clm); received cluster={cluster!r}, subject={subject!r}")
    wanted = [c for c in (outcome, time, group, cluster, subject) if c is not None]
    missing = [c for c in wanted if not isinstance(c, str) or c not in data.columns]
    if missing:
        raise AnalysisError(
            f"column(s) {missing} not found in data; columns are {list(map(str, data.columns))}")
    frame = data[wanted].copy()
    frame[outcome], used = _codes(frame, outcome, categories)
    if cluster is None:
        frame[_SITE] = frame[group]
        frame[_ROW] = "all"
        cluster, subject = _SITE, _ROW
    assert subject is not None
    design = build_design(frame, outcome=outcome, time=time, time_order=time_order,
                          group=group, cluster=cluster, subject=subject)
    return design, used


def _z_table(est: np.ndarray, se: np.ndarray, level: float) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    q = float(sps.norm.ppf(0.5 + level / 2.0))
    return {"estimate": est, "se": se, "z": z, "p": 2.0 * sps.norm.sf(np.abs(z)),
            "lower": est - q * se, "upper": est + q * se}


@_single_threaded
def ordinal_model(
    data: pd.DataFrame,
    *,
    outcome: str,
    time: str,
    time_order: Sequence[str],
    group: str,
    cluster: str | None,
    subject: str | None,
    link: Link = "logit",
    categories: Sequence[Any] | None = None,
    changes: str = "baseline",
    conf_level: float = 0.95,
) -> OrdinalModelResult:
    """Cumulative-link (mixed) model of an ordinal answer by wave and modality.

    Fits ``P(Y <= j) = F(theta_j - x'beta - u_site - u_participant)`` with ``x = time *
    group`` and random intercepts for sites and for participants within sites, by the
    Laplace approximation (as ``ordinal::clmm(y ~ time * group + (1 | cluster) +
    (1 | cluster:subject), nAGQ = 1)``); with ``cluster=None, subject=None`` the plain
    ``ordinal::clm(y ~ time * group)`` with its proportional-odds check (``nominal_test``).

    The Laplace approximation uses the nesting: the Hessian of the random effects is a
    block-arrow matrix per site, so each evaluation costs time linear in the rows (about 0.1 s
    of CPU for 125,000 rows). Standard errors come, as in clmm, from the inverse Hessian of
    the Laplace log-likelihood in (thresholds, coefficients, random-effect SDs), here the
    central difference of its analytic gradient; an SD estimated below 1e-3 is left out of
    that Hessian, as clmm does. Latent-scale means follow ``emmeans(mode = "latent")``:
    ``x'beta - mean(theta)`` with z intervals (a higher value means higher answers).

    Parameters
    ----------
    data : DataFrame
        Long data, one row per participant and wave (one Likert item's answer per row).
    outcome, time, group, cluster, subject : str
        Columns of the answer, the wave, the modality, the site and the participant
        (participant ids need only be unique within a site). ``cluster`` and ``subject``
        may both be None for the model without random effects.
    time_order : sequence of str
        The waves in time order; the first is the reference level.
    link : {"logit", "probit"}, default "logit"
    categories : sequence, optional
        The answer categories in order; default: the sorted numeric codes observed.
        Categories nobody chose are left out (they have no threshold).
    changes : {"baseline", "adjacent", "all"}, default "baseline"
        Which wave-to-wave changes the difference-in-change contrasts compare.
    conf_level : float, default 0.95
        Level of the (Wald, z) intervals.

    Returns
    -------
    OrdinalModelResult
        Frozen dataclass of tidy DataFrames (see its attributes for the columns).

    Examples
    --------
    >>> from evalkit.models._ordinal_toy import toy_likert
    >>> res = ordinal_model(toy_likert(), outcome="answer", time="wave",
    ...     time_order=["baseline", "endline"], group="modality", cluster="site",
    ...     subject="participant")
    >>> list(res.thresholds["threshold"])
    ['1|2', '2|3', '3|4', '4|5']
    >>> list(res.change_contrasts.columns[:4])
    ['a', 'b', 'from', 'to']
    >>> res.fit.model, res.fit.converged
    ('clmm', True)
    """
    if link not in LINKS:
        raise AnalysisError(f"link must be 'logit' or 'probit'; received {link!r}")
    if changes not in ("baseline", "adjacent", "all"):
        raise AnalysisError(
            f"changes must be 'baseline', 'adjacent' or 'all'; received {changes!r}")
    if not 0.0 < conf_level < 1.0:
        raise AnalysisError(f"conf_level must be between 0 and 1; received {conf_level!r}")
    mixed = cluster is not None
    d, used = _design(data, outcome=outcome, time=time, time_order=time_order, group=group,
                      cluster=cluster, subject=subject, categories=categories)
    K = len(used)
    y = d.y.astype(np.int64)
    X = d.X[:, 1:]
    terms = list(d.terms[1:])
    nt, nb = K - 1, X.shape[1]
    try:
        plain = fit_clm(y, X, K, link)
    except FloatingPointError as exc:  # pragma: no cover - starting values are always valid
        raise AnalysisError(f"the ordinal model could not be started: {exc}") from exc
    notes: list[str] = []
    if mixed:
        nd = NestedData(y=y, X=X, K=K, site=d.site, participant=d.participant, link=link)
        fit = fit_clmm(nd, plain.beta, plain.theta[:, 0])
        par, H, free = fit.phi, fit.hessian, fit.free
        loglik = -fit.nla
        max_grad = float(np.max(np.abs(fit.gradient[free])))
        converged = fit.converged
        if not converged:
            notes.append(f"The optimizer did not reach a clear optimum ({fit.message}); "
                         "treat the estimates with caution.")
        edf = nt + nb + 2
    else:
        par, H = np.concatenate([plain.theta[:, 0], plain.beta]), plain.hessian
        free = np.ones(len(par), dtype=bool)
        loglik, max_grad, converged = plain.loglik, plain.max_gradient, plain.converged
        edf = nt + nb
    try:
        V_free = np.linalg.inv(H)
    except np.linalg.LinAlgError as exc:
        raise AnalysisError("the ordinal model's Hessian is singular: the data cannot "
                            "identify every threshold and coefficient") from exc
    V = V_free[: nt + nb, : nt + nb]
    ev = np.linalg.eigvalsh(H)
    cond = float(abs(ev.max() / ev.min())) if ev.min() != 0 else math.inf
    se = np.sqrt(np.diag(V))
    thr_names = [f"{used[j]}|{used[j + 1]}" for j in range(nt)]
    thresholds = pd.DataFrame({"threshold": thr_names, "estimate": par[:nt], "se": se[:nt]})
    fe = _z_table(par[nt:nt + nb], se[nt:], conf_level)
    fixed = pd.DataFrame({"term": terms, **{k: fe[k] for k in ("estimate", "se", "z", "p")}})
    if mixed:
        sd = par[-2:]
        random = pd.DataFrame({"group": [d.cluster, d.subject], "sd": sd, "variance": sd ** 2})
        for name, s in zip((d.cluster, d.subject), sd, strict=True):
            if s <= BOUNDARY_TOL:
                notes.append(f"The {name} SD was estimated at zero (a singular fit); it is left "
                             "out of the Hessian, as clmm does.")
    else:
        random = pd.DataFrame(columns=["group", "sd", "variance"])

    beta = par[nt:nt + nb]
    cell_list = cells(d)
    Lc = np.array([np.concatenate([np.full(nt, -1.0 / nt), c.row[1:]]) for c in cell_list])
    ce = _z_table(Lc @ par[: nt + nb], np.sqrt(np.einsum("ij,jk,ik->i", Lc, V, Lc)),
                  conf_level)
    emmeans = pd.DataFrame({d.group: [c.group for c in cell_list],
                            d.time: [c.time for c in cell_list],
                            **{k: ce[k] for k in ("estimate", "se", "lower", "upper")}})
    emmeans = emmeans.rename(columns={"estimate": "emmean"})
    con_list = change_contrasts(d, changes=changes)
    Lk = np.array([np.concatenate([np.zeros(nt), c.row[1:]]) for c in con_list])
    ck = _z_table(Lk @ par[: nt + nb], np.sqrt(np.einsum("ij,jk,ik->i", Lk, V, Lk)),
                  conf_level)
    contrasts = pd.DataFrame({
        "a": [c.a for c in con_list], "b": [c.b for c in con_list],
        "from": [c.start for c in con_list], "to": [c.end for c in con_list],
        **{k: ck[k] for k in ("estimate", "se", "z", "p", "lower", "upper")}})
    contrasts["p_adjusted"] = contrasts.groupby(["from", "to"], sort=False)["p"].transform(
        lambda s: holm(s.to_numpy()))

    cut = np.concatenate([[-np.inf], par[:nt], [np.inf]])
    prob_rows = []
    for c in cell_list:
        cum = cdf(cut - float(c.row[1:] @ beta), link)
        for j, cat in enumerate(used):
            prob_rows.append((c.group, c.time, cat, float(cum[j + 1] - cum[j])))
    probabilities = pd.DataFrame(prob_rows, columns=[d.group, d.time, "category",
                                                     "probability"])

    if mixed:
        nominal = pd.DataFrame(columns=["term", "df", "loglik", "aic", "lrt", "p"])
    else:
        nominal = nominal_table(d, y, X, K, link, plain)
    counts = np.bincount(y, minlength=K)
    sparse_cats = [used[k] for k in range(K) if counts[k] < 10]
    if sparse_cats:
        notes.append(f"Category {', '.join(sparse_cats)} has fewer than 10 answers; the "
                     "thresholds next to it are imprecise.")
    if d.n_dropped:
        notes.append(f"{d.n_dropped} row(s) with a missing model column were left out.")
    head = (f"Cumulative-link {'mixed ' if mixed else ''}model ({link} link, {d.n_obs} "
            f"answers in {K} categories" + (f" from {d.n_participants} participants in "
                                           f"{d.n_sites} sites" if mixed else "") + ")")
    head += "; converged." if converged else "."
    groups = {d.cluster: d.n_sites, d.subject: d.n_participants} if mixed else {}
    info = OrdinalFitInfo(
        model="clmm" if mixed else "clm", link=link, loglik=float(loglik),
        aic=float(-2.0 * loglik + 2.0 * edf), n_obs=d.n_obs, n_groups=groups,
        categories=used, converged=bool(converged), max_gradient=max_grad,
        condition_number=cond, n_dropped=d.n_dropped, message=" ".join([head, *notes]))
    return OrdinalModelResult(thresholds=thresholds, fixed_effects=fixed,
                              random_effects=random, fit=info, emmeans=emmeans,
                              change_contrasts=contrasts, probabilities=probabilities,
                              nominal_test=nominal)
