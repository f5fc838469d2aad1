"""Public entry points of the modality mixed model."""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, ParamSpec, TypeVar

import numpy as np
import pandas as pd
from scipy import linalg, special

from evalkit.errors import AnalysisError
from evalkit.models._design import Design, build_design
from evalkit.models._emmeans import cells, change_contrasts, holm
from evalkit.models._kenward_roger import (
    KenwardRogerState,
    kenward_roger_df,
    kenward_roger_state,
)
from evalkit.models._permutation import permutation_test
from evalkit.models._reml import (
    BlockStats,
    block_stats,
    evaluate,
    optimize_psi,
    profiled_deviance,
)
from evalkit.models._robust import RobustState, cr2_df, cr2_state
from evalkit.models._satterthwaite import (
    SatterthwaiteState,
    satterthwaite_df,
    satterthwaite_f,
    satterthwaite_state,
)

DfMethod = Literal["satterthwaite", "kenward-roger"]
Engine = Literal["fast", "statsmodels"]
Changes = Literal["baseline", "adjacent", "all"]
SINGULAR_TOL = 1e-4  # lme4::isSingular's tolerance on theta


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Run small dense linear algebra on one BLAS thread.

    The matrices here are tiny (p x p, one site at a time); a multi-threaded OpenBLAS spends
    far longer waking its threads than computing, by a factor of 100 on a busy 2-core machine.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _single_threaded(func: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _one_blas_thread():
            return func(*args, **kwargs)

    return wrapper


@dataclass(frozen=True, eq=False)
class ModalityModelFit:
    """A fitted modality mixed model (returned by :func:`fit_modality_model`).

    Attributes
    ----------
    design : Design
        The validated data and fixed-effect design (terms, levels, column names).
    reml : bool
        True for a REML fit, False for maximum likelihood.
    engine : str
        ``"fast"`` (nested-block REML) or ``"statsmodels"`` (MixedLM estimates the variance
        ratios; everything else is computed as for ``"fast"``).
    psi : tuple of float
        Variance of the site and of the participant random intercepts relative to the
        residual variance (lme4's ``theta`` squared).
    sigma : float
        Residual standard deviation.
    beta : ndarray
        Fixed-effect estimates, in the order of ``design.terms``.
    vcov_beta : ndarray
        Model-based covariance of ``beta``.
    criterion : float
        REML criterion (``REMLcrit``) of a REML fit, deviance (-2 log-likelihood) of an ML
        fit.
    converged, singular : bool
        Optimizer reached an optimum; a variance was estimated at (near) zero.
    """

    design: Design
    reml: bool
    engine: str
    psi: tuple[float, float]
    sigma: float
    beta: np.ndarray
    vcov_beta: np.ndarray
    criterion: float
    converged: bool
    singular: bool
    optimizer_message: str
    stats: BlockStats = field(repr=False)

    @property
    def terms(self) -> tuple[str, ...]:
        return self.design.terms

    @property
    def theta(self) -> tuple[float, float]:
        return (math.sqrt(self.psi[0]), math.sqrt(self.psi[1]))

    @property
    def loglik(self) -> float:
        """Log-likelihood (the REML log-likelihood for a REML fit, as ``logLik`` in R)."""
        return -0.5 * self.criterion

    @property
    def n_parameters(self) -> int:
        return len(self.terms) + 3

    @property
    def aic(self) -> float:
        return self.criterion + 2.0 * self.n_parameters

    @property
    def variance_sd(self) -> dict[str, float]:
        """Standard deviations: cluster, subject and ``Residual``."""
        t = self.theta
        return {self.design.cluster: t[0] * self.sigma, self.design.subject: t[1] * self.sigma,
                "Residual": self.sigma}

    @cached_property
    def satterthwaite(self) -> SatterthwaiteState:
        varpar = np.array([*self.theta, self.sigma])
        return satterthwaite_state(self.stats, varpar, self.vcov_beta, self.reml)

    @cached_property
    def kenward_roger(self) -> KenwardRogerState:
        if not self.reml:
            raise AnalysisError(
                "df_method='kenward-roger' needs a REML fit; received reml=False "
                "(use df_method='satterthwaite' with ML)"
            )
        d = self.design
        return kenward_roger_state(d.X, d.site, d.participant, self.psi, self.sigma,
                                   self.vcov_beta)


def _statsmodels_psi(design: Design, reml: bool) -> tuple[tuple[float, float], bool, str]:
    import warnings

    from statsmodels.regression.mixed_linear_model import MixedLM

    starts = np.flatnonzero(np.r_[True, design.site[1:] != design.site[:-1]])
    ends = np.r_[starts[1:], design.site.size]
    vc: dict[int, np.ndarray] = {}
    for j, (a, b) in enumerate(zip(starts, ends, strict=True)):
        pid = design.participant[a:b]
        vc[j] = (pid[:, None] == np.unique(pid)[None, :]).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the dict form of exog_vc is deprecated but simplest
        model = MixedLM(design.y, design.X, groups=design.site,
                        exog_re=np.ones((design.n_obs, 1)), exog_vc={"participant": vc})
        res = model.fit(reml=reml, method=["lbfgs"])
    scale = float(res.scale)
    psi = (max(float(np.asarray(res.cov_re)[0, 0]) / scale, 0.0),
           max(float(res.vcomp[0]) / scale, 0.0))
    return psi, bool(res.converged), "statsmodels MixedLM (lbfgs)"


@_single_threaded
def fit_modality_model(
    data: pd.DataFrame,
    *,
    outcome: str,
    time: str,
    time_order: Sequence[str],
    group: str,
    cluster: str,
    subject: str,
    covariates: Sequence[str] = (),
    reml: bool = True,
    engine: Engine = "fast",
) -> ModalityModelFit:
    """Fit ``outcome ~ time * group (+ covariates) + (1 | cluster) + (1 | cluster:subject)``.

    Parameters
    ----------
    data : DataFrame
        Long data, one row per participant and wave. Rows missing any model column are left
        out; participants missing a wave stay in with the waves they have.
    outcome, time, group, cluster, subject : str
        Columns of the outcome, the wave, the modality, the site and the participant.
        Participant identifiers only need to be unique within a site.
    time_order : sequence of str
        The waves in time order; the first is the reference level.
    covariates : sequence of str, optional
        Extra fixed effects: numeric columns enter linearly, other columns with treatment
        coding (first level in sorted order as reference).
    reml : bool, default True
        REML (as ``lmer``'s default) or maximum likelihood.
    engine : {"fast", "statsmodels"}, default "fast"
        ``"fast"`` optimizes the REML criterion over the two variance ratios using the nested
        block structure (linear in the number of rows); ``"statsmodels"`` asks
        ``statsmodels`` MixedLM for the variance ratios instead (a slower cross-check).

    Returns
    -------
    ModalityModelFit
        The fitted model; :func:`modality_model` turns it into tidy tables.

    Examples
    --------
    >>> from evalkit.models._toy import toy_collaborative
    >>> fit = fit_modality_model(toy_collaborative(), outcome="score", time="wave",
    ...     time_order=["baseline", "midline", "endline"], group="modality",
    ...     cluster="site", subject="participant")
    >>> fit.terms[:3]
    ('Intercept', 'wave[T.midline]', 'wave[T.endline]')
    >>> fit.converged
    True
    """
    if engine not in ("fast", "statsmodels"):
        raise AnalysisError(f"engine must be 'fast' or 'statsmodels'; received {engine!r}")
    design = build_design(data, outcome=outcome, time=time, time_order=time_order, group=group,
                          cluster=cluster, subject=subject, covariates=covariates)
    stats = block_stats(design.X, design.y, design.site, design.participant)
    if engine == "fast":
        opt = optimize_psi(stats, reml)
        psi, converged, message = opt.psi, opt.converged, opt.message
    else:
        psi, converged, message = _statsmodels_psi(design, reml)
    ev = evaluate(stats, *psi)
    nu = stats.n - stats.p if reml else stats.n
    sigma2 = ev.r2 / nu
    C = linalg.cho_solve((ev.chol, True), np.eye(stats.p))
    theta = np.sqrt(psi)
    return ModalityModelFit(
        design=design, reml=reml, engine=engine, psi=(float(psi[0]), float(psi[1])),
        sigma=math.sqrt(sigma2), beta=ev.beta, vcov_beta=sigma2 * C,
        criterion=profiled_deviance(stats, ev, reml), converged=converged,
        singular=bool(np.any(theta < SINGULAR_TOL)), optimizer_message=message, stats=stats,
    )


@dataclass(frozen=True)
class FitInfo:
    """Summary of a fit.

    Attributes
    ----------
    reml : bool
    reml_criterion : float or None
        REML criterion at the optimum (None for an ML fit).
    deviance : float
        -2 log-likelihood (of the REML likelihood for a REML fit).
    loglik, aic : float
    n_obs : int
    n_groups : dict
        ``{cluster column: number of sites, subject column: number of participants}``.
    converged, singular : bool
    n_dropped : int
        Rows left out for a missing model column.
    message : str
        The diagnostics in plain words.
    """

    reml: bool
    reml_criterion: float | None
    deviance: float
    loglik: float
    aic: float
    n_obs: int
    n_groups: dict[str, int]
    converged: bool
    singular: bool
    n_dropped: int
    message: str


@dataclass(frozen=True)
class ModalityModelResult:
    """Everything :func:`modality_model` reports; every table is a tidy DataFrame.

    Attributes
    ----------
    fixed_effects : DataFrame
        ``term, estimate, se, df, t, p``.
    variance_components : DataFrame
        ``group, sd, variance``: the cluster column, the subject column and ``Residual``.
    icc : DataFrame
        ``level, icc, meaning``: share of variance between sites; correlation of two waves
        of the same participant.
    fit : FitInfo
    emmeans : DataFrame
        ``<group column>, <time column>, emmean, se, df, lower, upper`` for every cell.
    change_contrasts : DataFrame
        ``a, b, from, to, estimate, se, df, t, p, lower, upper, p_adjusted``: estimate is
        ``(to - from under a) - (to - from under b)``; ``p_adjusted`` is Holm over the
        modality pairs of each ``(from, to)``.
    interaction_test : DataFrame
        ``f, df1, df2, p``: the model's joint test of all wave x modality terms
        (Satterthwaite F, as ``anova(<lmerModLmerTest>)``).
    permutation : DataFrame
        ``statistic, p, n_permutations, exact, min_p, n_relabelings, log10_n_relabelings``
        (one row, empty if not run). ``n_relabelings`` is the exact number of distinct
        relabelings of modalities to sites (nullable integer), missing when it exceeds a
        64-bit integer (from about 45 sites); ``log10_n_relabelings`` always gives its size.
        ``min_p`` is the smallest p-value the test can give, whatever the data: with every
        relabeling enumerated, the share of them whose statistic equals the largest (at least
        1 / ``n_relabelings``, and at least k! / ``n_relabelings`` when k modalities have the
        same number of sites, since swapping them leaves the statistic unchanged); with ``B``
        random relabelings, 1 / (B + 1).
    robust : DataFrame
        ``kind, term, a, b, from, to, estimate, se, df, t, p``: CR2 cluster-robust tests
        (site clusters, Satterthwaite df) of the fixed effects and of the change contrasts
        (empty if not run).
    notes : tuple of str
        Plain-language notes, e.g. where the permutation or robust tests disagree with the
        model.
    df_method : str
    """

    fixed_effects: pd.DataFrame
    variance_components: pd.DataFrame
    icc: pd.DataFrame
    fit: FitInfo
    emmeans: pd.DataFrame
    change_contrasts: pd.DataFrame
    interaction_test: pd.DataFrame
    permutation: pd.DataFrame
    robust: pd.DataFrame
    notes: tuple[str, ...]
    df_method: str


def _t_table(est: np.ndarray, se: np.ndarray, df: np.ndarray, level: float
             ) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / se
    # scipy.stats.t.sf and .ppf are these functions (scipy.special loads far faster)
    p = 2.0 * special.stdtr(df, -np.abs(t))
    q = special.stdtrit(df, 0.5 + level / 2.0)
    return {"estimate": est, "se": se, "df": df, "t": t, "p": p, "lower": est - q * se,
            "upper": est + q * se}


def _fmt_p(p: float) -> str:
    return "p < .001" if p < 0.001 else f"p = {p:.3f}"


def _diagnostics(fit: ModalityModelFit, sat: SatterthwaiteState | None) -> str:
    d = fit.design
    parts = []
    method = "REML" if fit.reml else "maximum likelihood"
    if fit.converged:
        parts.append(f"The model converged ({method}, {d.n_obs} observations of "
                     f"{d.n_participants} participants in {d.n_sites} sites).")
    else:
        parts.append(f"The optimizer did not reach a clear optimum ({fit.optimizer_message}); "
                     "treat the estimates with caution.")
    sds = fit.variance_sd
    if fit.theta[0] < SINGULAR_TOL:
        parts.append(
            f"The {d.cluster} variance was estimated at zero (a singular fit): participants in "
            f"the same {d.cluster} are no more alike than the waves and modalities explain. The "
            "estimates remain usable, but inference about modalities then rests on "
            "participants rather than sites; compare the permutation and cluster-robust "
            "results.")
    if fit.theta[1] < SINGULAR_TOL:
        parts.append(
            f"The {d.subject} variance was estimated at zero (a singular fit): repeated waves of "
            "the same participant are no more alike than any two observations in a site.")
    if not fit.singular:
        parts.append(f"Both the {d.cluster} SD ({sds[d.cluster]:.3g}) and the {d.subject} SD "
                     f"({sds[d.subject]:.3g}) are above zero.")
    if sat is not None:
        ev = sat.hessian_eigenvalues
        if np.any(ev < -1e-8):
            parts.append("The curvature of the likelihood has a negative direction, so the "
                         "fit may not be at a minimum.")
    if d.n_dropped:
        parts.append(f"{d.n_dropped} row(s) with a missing model column were left out.")
    return " ".join(parts)


def modality_model(
    data: pd.DataFrame,
    *,
    outcome: str,
    time: str,
    time_order: Sequence[str],
    group: str,
    cluster: str,
    subject: str,
    covariates: Sequence[str] = (),
    reml: bool = True,
    df_method: DfMethod = "satterthwaite",
    changes: Changes = "baseline",
    permutations: int | None = 9_999,
    max_exact: int = 10_000,
    seed: int | None = None,
    robust: bool = True,
    conf_level: float = 0.95,
    alpha: float = 0.05,
    engine: Engine = "fast",
) -> ModalityModelResult:
    """Fit the modality mixed model and report it in tidy tables.

    The model is ``outcome ~ time * group (+ covariates)`` with random intercepts for sites
    and for participants within sites, as ``lmerTest::lmer(outcome ~ time * group +
    (1 | cluster) + (1 | cluster:subject))``.

    Parameters
    ----------
    data : DataFrame
        Long data, one row per participant and wave.
    outcome, time, group, cluster, subject, time_order, covariates, reml, engine
        As in :func:`fit_modality_model`.
    df_method : {"satterthwaite", "kenward-roger"}, default "satterthwaite"
        Denominator degrees of freedom (lmerTest's Satterthwaite, or pbkrtest's
        Kenward-Roger with its adjusted covariance; the latter needs ``reml=True``).
        The joint interaction test always uses Satterthwaite.
    changes : {"baseline", "adjacent", "all"}, default "baseline"
        Which wave-to-wave changes the difference-in-change contrasts compare: first wave
        to each later wave, consecutive waves, or every pair.
    permutations : int or None, default 9999
        Random relabelings for the site-level randomization test when exact enumeration is
        not possible; None skips the test.
    max_exact : int, default 10000
        Enumerate every distinct relabeling of modalities to sites when there are at most this
        many.
    seed : int, optional
        Seed of the random relabelings.
    robust : bool, default True
        Also report CR2 cluster-robust tests (clubSandwich's ``coef_test(vcov = "CR2")``).
    conf_level : float, default 0.95
        Confidence level of the intervals.
    alpha : float, default 0.05
        Significance level at which the notes compare the model, permutation and robust
        results.

    Returns
    -------
    ModalityModelResult
        Frozen dataclass of tidy DataFrames (see its attributes for the columns).

    Examples
    --------
    >>> from evalkit.models._toy import toy_collaborative
    >>> res = modality_model(toy_collaborative(), outcome="score", time="wave",
    ...     time_order=["baseline", "midline", "endline"], group="modality",
    ...     cluster="site", subject="participant", seed=1)
    >>> list(res.change_contrasts.columns[:4])
    ['a', 'b', 'from', 'to']
    >>> perm = res.permutation.iloc[0]
    >>> int(perm["n_permutations"]), bool(perm["exact"])
    (90, True)
    >>> list(res.variance_components["group"])
    ['site', 'participant', 'Residual']
    """
    if df_method not in ("satterthwaite", "kenward-roger"):
        raise AnalysisError(
            f"df_method must be 'satterthwaite' or 'kenward-roger'; received {df_method!r}")
    if changes not in ("baseline", "adjacent", "all"):
        raise AnalysisError(
            f"changes must be 'baseline', 'adjacent' or 'all'; received {changes!r}")
    if not 0.0 < conf_level < 1.0:
        raise AnalysisError(f"conf_level must be between 0 and 1; received {conf_level!r}")
    if df_method == "kenward-roger" and not reml:
        raise AnalysisError(
            "df_method='kenward-roger' needs a REML fit; received reml=False "
            "(use df_method='satterthwaite' with ML)")
    fit = fit_modality_model(data, outcome=outcome, time=time, time_order=time_order,
                             group=group, cluster=cluster, subject=subject,
                             covariates=covariates, reml=reml, engine=engine)
    return summarize(fit, df_method=df_method, changes=changes, permutations=permutations,
                     max_exact=max_exact, seed=seed, robust=robust, conf_level=conf_level,
                     alpha=alpha)


@_single_threaded
def summarize(
    fit: ModalityModelFit,
    *,
    df_method: DfMethod = "satterthwaite",
    changes: Changes = "baseline",
    permutations: int | None = 9_999,
    max_exact: int = 10_000,
    seed: int | None = None,
    robust: bool = True,
    conf_level: float = 0.95,
    alpha: float = 0.05,
) -> ModalityModelResult:
    """Tidy tables of a fitted modality model.

    Parameters
    ----------
    fit : ModalityModelFit
        From :func:`fit_modality_model`.
    df_method, changes, permutations, max_exact, seed, robust, conf_level, alpha
        As in :func:`modality_model`.

    Returns
    -------
    ModalityModelResult
        Frozen dataclass of tidy DataFrames (see its attributes for the columns).

    Examples
    --------
    >>> from evalkit.models._toy import toy_collaborative
    >>> fit = fit_modality_model(toy_collaborative(), outcome="score", time="wave",
    ...     time_order=["baseline", "midline", "endline"], group="modality",
    ...     cluster="site", subject="participant")
    >>> res = summarize(fit, permutations=None, robust=False)
    >>> res.emmeans.shape
    (9, 7)
    """
    d = fit.design
    sat = fit.satterthwaite
    if df_method == "kenward-roger":
        kr = fit.kenward_roger
        V = kr.vcov_adjusted

        def dfs(L: np.ndarray) -> np.ndarray:
            return kenward_roger_df(kr, L)
    else:
        V = fit.vcov_beta

        def dfs(L: np.ndarray) -> np.ndarray:
            return satterthwaite_df(sat, L)

    def inference(L: np.ndarray) -> dict[str, np.ndarray]:
        est = L @ fit.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", L, V, L))
        return _t_table(est, se, dfs(L), conf_level)

    eye = np.eye(len(d.terms))
    fe = inference(eye)
    fixed = pd.DataFrame({"term": list(d.terms), **{k: fe[k] for k in
                                                      ("estimate", "se", "df", "t", "p")}})

    sds = fit.variance_sd
    vc = pd.DataFrame({"group": list(sds), "sd": list(sds.values())})
    vc["variance"] = vc["sd"] ** 2
    s2 = vc["variance"].to_numpy()
    total = float(s2.sum())
    icc = pd.DataFrame({
        "level": [d.cluster, d.subject],
        "icc": [s2[0] / total, (s2[0] + s2[1]) / total],
        "meaning": [f"share of the outcome variance between {d.cluster}s",
                    f"correlation of two waves of the same {d.subject}"],
    })

    cell_list = cells(d)
    Lc = np.array([c.row for c in cell_list])
    em = inference(Lc)
    emmeans = pd.DataFrame({
        d.group: [c.group for c in cell_list], d.time: [c.time for c in cell_list],
        "emmean": em["estimate"], "se": em["se"], "df": em["df"], "lower": em["lower"],
        "upper": em["upper"],
    })

    con_list = change_contrasts(d, changes=changes)
    Lk = np.array([c.row for c in con_list])
    ck = inference(Lk)
    contrasts = pd.DataFrame({
        "a": [c.a for c in con_list], "b": [c.b for c in con_list],
        "from": [c.start for c in con_list], "to": [c.end for c in con_list],
        **{k: ck[k] for k in ("estimate", "se", "df", "t", "p", "lower", "upper")},
    })
    contrasts["p_adjusted"] = contrasts.groupby(["from", "to"], sort=False)["p"].transform(
        lambda s: holm(s.to_numpy()))

    idx = d.interaction_columns()
    F, q, ddf = satterthwaite_f(sat, fit.beta, eye[idx])
    interaction = pd.DataFrame({"f": [F], "df1": [q], "df2": [ddf],
                                "p": [float(special.fdtrc(q, ddf, F))]})

    perm_cols = ["statistic", "p", "n_permutations", "exact", "min_p", "n_relabelings"]
    if permutations is None:
        perm = pd.DataFrame(columns=[*perm_cols, "log10_n_relabelings"])
    else:
        po = permutation_test(d, reml=fit.reml, max_exact=max_exact, n_permutations=permutations,
                              seed=seed)
        row: dict[str, Any] = {k: getattr(po, k) for k in perm_cols}
        row.update(_relabeling_count(po.n_relabelings))
        perm = pd.DataFrame([row])
        perm["n_relabelings"] = perm["n_relabelings"].astype("Int64")

    rob_cols = ["kind", "term", "a", "b", "from", "to", "estimate", "se", "df", "t", "p"]
    rs: RobustState | None = None
    if robust:
        rs = cr2_state(d, fit.psi, fit.beta)
        L_all = np.vstack([eye, Lk])
        est = L_all @ fit.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", L_all, rs.vcov, L_all))
        rt = _t_table(est, se, cr2_df(rs, L_all), conf_level)
        labels = [*d.terms, *(f"change {c.start} -> {c.end}: {c.a} vs {c.b}" for c in con_list)]
        rob = pd.DataFrame({
            "kind": ["fixed_effect"] * len(d.terms) + ["change_contrast"] * len(con_list),
            "term": labels,
            "a": [None] * len(d.terms) + [c.a for c in con_list],
            "b": [None] * len(d.terms) + [c.b for c in con_list],
            "from": [None] * len(d.terms) + [c.start for c in con_list],
            "to": [None] * len(d.terms) + [c.end for c in con_list],
            **{k: rt[k] for k in ("estimate", "se", "df", "t", "p")},
        })
    else:
        rob = pd.DataFrame(columns=rob_cols)

    notes = _notes(fit, contrasts, interaction, perm, rob, alpha)
    if rs is not None and rs.singular_sites:
        names = [d.site_names[j] for j in rs.singular_sites]
        shown = ", ".join(map(repr, names[:5])) + (f" and {len(names) - 5} more"
                                                   if len(names) > 5 else "")
        notes.append(
            f"The cluster-robust (CR2) adjustment is singular for {d.cluster} {shown}: the "
            f"model fits some of its terms from that {d.cluster} alone (for example a "
            f"{d.group} with a single {d.cluster}), so its residuals carry no information "
            f"about them. As clubSandwich does, the singular directions were left out; the "
            f"robust tests of those terms are not meaningful.")
    info = FitInfo(
        reml=fit.reml, reml_criterion=fit.criterion if fit.reml else None,
        deviance=fit.criterion, loglik=fit.loglik, aic=fit.aic, n_obs=d.n_obs,
        n_groups={d.cluster: d.n_sites, d.subject: d.n_participants},
        converged=fit.converged, singular=fit.singular, n_dropped=d.n_dropped,
        message=_diagnostics(fit, sat),
    )
    return ModalityModelResult(
        fixed_effects=fixed, variance_components=vc, icc=icc, fit=info, emmeans=emmeans,
        change_contrasts=contrasts, interaction_test=interaction, permutation=perm,
        robust=rob, notes=tuple(notes), df_method=df_method,
    )


def _relabeling_count(total: int) -> dict[str, Any]:
    """``n_relabelings`` (exact, or None beyond 64 bits) and ``log10_n_relabelings``.

    The count is a multinomial coefficient: it passes 2**63 at about 45 sites and the largest
    float at about 650, so it is kept exact while Parquet and JSON can store it as an integer,
    and its size is always given as a base-10 logarithm (``math.log10`` is exact enough for
    integers of any length).
    """
    total = int(total)
    return {"n_relabelings": total if total < 2**63 else None,
            "log10_n_relabelings": math.log10(total)}


def _notes(fit: ModalityModelFit, contrasts: pd.DataFrame, interaction: pd.DataFrame,
           perm: pd.DataFrame, rob: pd.DataFrame, alpha: float) -> list[str]:
    d = fit.design
    notes: list[str] = []
    model_p = float(interaction["p"].to_numpy()[0])
    per_group = np.bincount(d.site_group, minlength=len(d.group_levels))
    if len(perm):
        row = perm.iloc[0]
        perm_p, min_p = float(row["p"]), float(row["min_p"])
        kind = ("all " + f"{int(row['n_permutations'])} possible" if bool(row["exact"])
                else f"{int(row['n_permutations'])} random")
        if (model_p < alpha) != (perm_p < alpha):
            notes.append(
                f"The model's joint test of differences in change between modalities gives "
                f"{_fmt_p(model_p)}, but the site-level randomization test ({kind} "
                f"reassignments of modalities to the {d.n_sites} {d.cluster}s) gives "
                f"{_fmt_p(perm_p)}. They disagree at the {alpha:g} level: the model draws on "
                "the variation between participants as well as between sites, the "
                f"randomization test only on the differences between the {d.n_sites} "
                f"{d.cluster}s. Report the difference cautiously.")
        if min_p >= alpha:
            notes.append(
                f"With {d.n_sites} {d.cluster}s ({', '.join(map(str, per_group))} per modality) "
                f"the smallest p-value the randomization test can give is {min_p:.3g}, so it "
                f"cannot reach {alpha:g} whatever the data.")
    if len(rob):
        rc = rob[rob["kind"] == "change_contrast"]
        robust_p = rc["p"].to_numpy(dtype=float)
        robust_df = rc["df"].to_numpy(dtype=float)
        for i, rec in enumerate(contrasts.to_dict(orient="records")):
            rp = float(robust_p[i])
            mp = float(rec["p"])
            if (mp < alpha) != (rp < alpha):
                notes.append(
                    f"For the change from {rec['from']} to {rec['to']}, {rec['a']} vs "
                    f"{rec['b']}: the model gives {_fmt_p(mp)}, the cluster-robust (CR2) test "
                    f"gives {_fmt_p(rp)} with {robust_df[i]:.1f} df. They disagree "
                    f"at the {alpha:g} level; the robust test relies only on variation between "
                    f"{d.cluster}s.")
        if robust_df.size and float(robust_df.min()) < 4.0:
            notes.append(
                f"Some cluster-robust tests have fewer than 4 degrees of freedom (the fewest "
                f"is {float(robust_df.min()):.1f}), where CR2 p-values are unreliable; with few "
                f"{d.cluster}s per modality rely on the randomization test instead.")
    return notes


def to_json(result: ModalityModelResult) -> dict[str, Any]:
    """The result as plain JSON-ready values (the CLI's ``--json`` output).

    Keys: ``fixed_effects``, ``variance_components``, ``reml_criterion``, ``loglik``,
    ``n_obs``, ``n_groups``, ``emmeans``, ``change_contrasts``, ``permutation`` (``p``,
    ``n_permutations``, ``exact``, ``min_p`` -- the smallest p the test can give --,
    ``n_relabelings`` -- an exact integer, or null beyond 64 bits -- and
    ``log10_n_relabelings``; null when the test was not run).

    Examples
    --------
    >>> from evalkit.models._toy import toy_collaborative
    >>> res = modality_model(toy_collaborative(), outcome="score", time="wave",
    ...     time_order=["baseline", "endline"], group="modality", cluster="site",
    ...     subject="participant", seed=1, robust=False)
    Traceback (most recent call last):
    ...
    evalkit.errors.AnalysisError: time level(s) ['midline'] of column 'wave' are not in ...
    >>> res = modality_model(toy_collaborative(), outcome="score", time="wave",
    ...     time_order=["baseline", "midline", "endline"], group="modality", cluster="site",
    ...     subject="participant", seed=1, robust=False)
    >>> sorted(to_json(res))  # doctest: +NORMALIZE_WHITESPACE
    ['change_contrasts', 'emmeans', 'fixed_effects', 'loglik', 'n_groups', 'n_obs',
     'permutation', 'reml_criterion', 'variance_components']
    """

    def rows(frame: pd.DataFrame, cols: list[str]) -> list[dict[str, Any]]:
        out = []
        for rec in frame[cols].to_dict(orient="records"):
            out.append({str(k): (float(v) if isinstance(v, (float, np.floating)) else
                            int(v) if isinstance(v, (np.integer,)) else v)
                        for k, v in rec.items()})
        return out

    em_cols = [c for c in result.emmeans.columns[:2]]
    perm: dict[str, Any] | None = None
    if len(result.permutation):
        r = result.permutation.iloc[0]
        count = r["n_relabelings"]
        perm = {"p": float(r["p"]), "n_permutations": int(r["n_permutations"]),
                "exact": bool(r["exact"]), "min_p": float(r["min_p"]),
                "n_relabelings": None if pd.isna(count) else int(count),
                "log10_n_relabelings": float(r["log10_n_relabelings"])}
    return {
        "fixed_effects": rows(result.fixed_effects, ["term", "estimate", "se", "df", "t", "p"]),
        "variance_components": rows(result.variance_components, ["group", "sd"]),
        "reml_criterion": result.fit.reml_criterion,
        "loglik": result.fit.loglik,
        "n_obs": result.fit.n_obs,
        "n_groups": dict(result.fit.n_groups),
        "emmeans": rows(result.emmeans, [*em_cols, "emmean", "se", "df", "lower", "upper"]),
        "change_contrasts": rows(result.change_contrasts,
                                 ["a", "b", "from", "to", "estimate", "se", "df", "t", "p"]),
        "permutation": perm,
    }
