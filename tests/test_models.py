"""The modality mixed model against lme4/lmerTest, emmeans, pbkrtest and clubSandwich.

Reference values: tests/reference/models/<dataset>.json, written by
``Rscript tests/reference/models/make_reference.R`` (R 4.2.2, lme4 1.1-31, lmerTest 3.1-3,
pbkrtest 0.5.2, emmeans 1.8.4-1, clubSandwich 0.5.8); ``one_site`` (a modality with a single
site, where the CR2 adjustment is singular) by ``make_one_site.R`` with the same oracles and
versions. No R runs at test time.

The fast CR2 and permutation code are also checked against dense re-computations (the
previous site-block implementation of CR2, full GLS refits of relabeled data) to 1e-10.

Tolerances: fixed effects, standard errors and variance SDs 1e-4 relative; degrees of freedom
1e-2 relative (both are in fact within about 1e-4, the rest being lme4's optimizer tolerance;
our REML criterion is never worse than lme4's).
"""

from __future__ import annotations

import doctest
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import AnalysisError, EvalkitError
from evalkit.models import fit_modality_model, modality_model, to_json
from evalkit.models._api import _one_blas_thread

REF = Path(__file__).resolve().parent / "reference" / "models"
DATASETS = ["balanced", "unbalanced", "singular", "two_sites", "covariate", "one_site"]
EST_RTOL = 1e-4
DF_RTOL = 1e-2


def load(name: str) -> tuple[pd.DataFrame, dict, dict]:
    ref = json.loads((REF / f"{name}.json").read_text())
    data = pd.read_csv(REF / f"{name}.csv")
    c = ref["columns"]
    kwargs = dict(outcome=c["outcome"], time=c["time"], time_order=ref["time_order"],
                  group=c["group"], cluster=c["cluster"], subject=c["subject"],
                  covariates=c["covariates"] or ())
    return data, ref, kwargs


_CACHE: dict[tuple, object] = {}


def result(name: str, **options):
    key = (name, tuple(sorted(options.items())))
    if key not in _CACHE:
        data, _, kwargs = load(name)
        _CACHE[key] = modality_model(data, **kwargs, seed=20240501, **options)
    return _CACHE[key]


def close(actual, expected, rtol, atol=0.0) -> None:
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float),
                               rtol=rtol, atol=atol)


def by_term(rows: list[dict], terms) -> pd.DataFrame:
    return pd.DataFrame(rows).set_index("term").loc[list(terms)]


@pytest.mark.parametrize("name", DATASETS)
def test_fixed_effects_satterthwaite(name):
    # R: summary(lmerTest::lmer(score ~ wave * modality + (1|site) + (1|site:participant),
    #    REML = TRUE))$coefficients  (Satterthwaite df)
    _, ref, _ = load(name)
    fe = result(name).fixed_effects.set_index("term")
    r = by_term(ref["reml"]["fixed_effects"], fe.index)
    close(fe["estimate"], r["estimate"], EST_RTOL, atol=1e-8)
    close(fe["se"], r["se"], EST_RTOL)
    close(fe["t"], r["t"], EST_RTOL, atol=1e-6)
    close(fe["df"], r["df"], DF_RTOL)
    close(fe["p"], r["p"], 1e-3, atol=1e-10)


@pytest.mark.parametrize("name", DATASETS)
def test_variance_components_and_fit(name):
    # R: as.data.frame(VarCorr(m))$sdcor; REMLcrit(m); logLik(m); AIC(m); ngrps(m)
    _, ref, kwargs = load(name)
    res = result(name)
    vc = res.variance_components.set_index("group")["sd"]
    r = pd.DataFrame(ref["reml"]["variance_components"]).set_index("group")["sd"]
    assert list(vc.index) == [kwargs["cluster"], kwargs["subject"], "Residual"]
    close(vc.loc[r.index], r, EST_RTOL, atol=1e-6)
    # the optimum is at least as good as lme4's, and not by more than its tolerance
    assert res.fit.reml_criterion <= ref["reml"]["reml_criterion"] + 1e-7
    close(res.fit.reml_criterion, ref["reml"]["reml_criterion"], 1e-9)
    close(res.fit.loglik, ref["reml"]["loglik"], 1e-9)
    close(res.fit.aic, ref["reml"]["aic"], 1e-9)
    assert res.fit.n_obs == ref["reml"]["n_obs"]
    assert res.fit.n_groups == ref["reml"]["n_groups"]
    assert res.fit.singular == ref["reml"]["singular"]
    assert res.fit.converged


def test_singular_fit_is_reported_in_plain_words():
    # R: isSingular(m) is TRUE and VarCorr gives the site SD as exactly 0
    res = result("singular")
    assert res.variance_components.set_index("group").loc["site", "sd"] == 0.0
    assert "site variance was estimated at zero" in res.fit.message
    assert res.icc.set_index("level").loc["site", "icc"] == 0.0


@pytest.mark.parametrize("name", DATASETS)
def test_ml_fit(name):
    # R: lmerTest::lmer(..., REML = FALSE): coefficients (Satterthwaite), VarCorr, logLik, AIC
    data, ref, kwargs = load(name)
    res = modality_model(data, **kwargs, reml=False, permutations=None, robust=False)
    fe = res.fixed_effects.set_index("term")
    r = by_term(ref["ml"]["fixed_effects"], fe.index)
    close(fe["estimate"], r["estimate"], EST_RTOL, atol=1e-8)
    close(fe["se"], r["se"], EST_RTOL)
    close(fe["df"], r["df"], DF_RTOL)
    vc = res.variance_components.set_index("group")["sd"]
    rv = pd.DataFrame(ref["ml"]["variance_components"]).set_index("group")["sd"]
    close(vc.loc[rv.index], rv, EST_RTOL, atol=1e-6)
    close(res.fit.loglik, ref["ml"]["loglik"], 1e-9)
    close(res.fit.aic, ref["ml"]["aic"], 1e-9)
    assert res.fit.reml_criterion is None


@pytest.mark.parametrize("name", DATASETS)
def test_emmeans(name):
    # R: summary(emmeans(m, ~ wave * modality, lmer.df = "satterthwaite"))
    _, ref, kwargs = load(name)
    keys = [kwargs["group"], kwargs["time"]]
    em = result(name).emmeans.merge(pd.DataFrame(ref["emmeans"]), on=keys, suffixes=("", "_r"))
    assert len(em) == len(ref["emmeans"]) == len(result(name).emmeans)
    close(em["emmean"], em["emmean_r"], EST_RTOL)
    close(em["se"], em["se_r"], EST_RTOL)
    close(em["df"], em["df_r"], DF_RTOL)
    close(em["lower"], em["lower_r"], EST_RTOL)
    close(em["upper"], em["upper_r"], EST_RTOL)


@pytest.mark.parametrize("name", DATASETS)
def test_change_contrasts(name):
    # R: contrast(emm, method = list(<(to - from | a) - (to - from | b)>), adjust = "none")
    #    and adjust = "holm" for p_adjusted, one call per (from, to)
    _, ref, _ = load(name)
    keys = ["a", "b", "from", "to"]
    ours = result(name).change_contrasts
    cc = ours.merge(pd.DataFrame(ref["change_contrasts"]), on=keys, suffixes=("", "_r"))
    assert len(cc) == len(ref["change_contrasts"]) == len(ours)
    close(cc["estimate"], cc["estimate_r"], EST_RTOL, atol=1e-8)
    close(cc["se"], cc["se_r"], EST_RTOL)
    close(cc["df"], cc["df_r"], DF_RTOL)
    close(cc["t"], cc["t_r"], EST_RTOL, atol=1e-6)
    close(cc["p"], cc["p_r"], 1e-3)
    close(cc["p_adjusted"], cc["p_adjusted_r"], 1e-3)
    # bounds near zero: absolute tolerance of 1e-4 standard errors
    close(cc["lower"], cc["lower_r"], EST_RTOL, atol=1e-4 * cc["se"].min())
    close(cc["upper"], cc["upper_r"], EST_RTOL, atol=1e-4 * cc["se"].min())


@pytest.mark.parametrize("name", DATASETS)
def test_kenward_roger(name):
    # R: summary(m, ddf = "Kenward-Roger")$coefficients (pbkrtest::vcovAdj + Lb_ddf);
    #    emmeans(m, ~ wave * modality, lmer.df = "kenward-roger") and its contrasts
    _, ref, kwargs = load(name)
    res = result(name, df_method="kenward-roger", permutations=None, robust=False)
    fe = res.fixed_effects.set_index("term")
    r = by_term(ref["reml"]["kenward_roger"], fe.index)
    close(fe["se"], r["se"], EST_RTOL)
    close(fe["df"], r["df"], DF_RTOL)
    close(fe["p"], r["p"], 1e-3, atol=1e-10)
    keys = [kwargs["group"], kwargs["time"]]
    em = res.emmeans.merge(pd.DataFrame(ref["emmeans_kr"]), on=keys, suffixes=("", "_r"))
    close(em["se"], em["se_r"], EST_RTOL)
    close(em["df"], em["df_r"], DF_RTOL)
    cc = res.change_contrasts.merge(pd.DataFrame(ref["change_contrasts_kr"]),
                                    on=["a", "b", "from", "to"], suffixes=("", "_r"))
    close(cc["se"], cc["se_r"], EST_RTOL)
    close(cc["df"], cc["df_r"], DF_RTOL)


@pytest.mark.parametrize("name", DATASETS)
def test_interaction_f_test(name):
    # R: anova(m, type = 3, ddf = "Satterthwaite")["wave:modality", ]
    _, ref, _ = load(name)
    it = result(name).interaction_test.iloc[0]
    r = ref["reml"]["interaction_test"]
    close(it["f"], r["f"], EST_RTOL)
    assert it["df1"] == r["df1"]
    close(it["df2"], r["df2"], DF_RTOL)
    close(it["p"], r["p"], 1e-3)


@pytest.mark.parametrize("name", DATASETS)
def test_cr2_robust(name):
    # R: clubSandwich::coef_test(m, vcov = vcovCR(m, type = "CR2"), test = "Satterthwaite")
    #    and linear_contrast(m, vcov = "CR2", contrasts = <change contrasts>) on the lmer fit
    _, ref, _ = load(name)
    rob = result(name).robust
    fe = rob[rob["kind"] == "fixed_effect"].set_index("term")
    r = by_term(ref["robust"], fe.index)
    close(fe["se"], r["se"], EST_RTOL)
    close(fe["df"], r["df"], DF_RTOL)
    close(fe["p"], r["p"], 1e-3, atol=1e-10)
    cc = rob[rob["kind"] == "change_contrast"].merge(
        pd.DataFrame(ref["robust_contrasts"]), on=["a", "b", "from", "to"], suffixes=("", "_r"))
    assert len(cc) == len(ref["robust_contrasts"])
    close(cc["se"], cc["se_r"], EST_RTOL)
    close(cc["df"], cc["df_r"], DF_RTOL)
    close(cc["p"], cc["p_r"], 1e-3)


@pytest.mark.parametrize("name", ["balanced", "singular", "two_sites", "covariate", "one_site"])
def test_exact_permutation(name):
    # R: the dense re-implementation in make_reference.R (permutation_oracle): GLS Wald
    #    statistic of the interaction at the no-modality model's lmer variance ratios, for every
    #    distinct relabeling of modalities to sites
    _, ref, _ = load(name)
    perm = result(name).permutation.iloc[0]
    r = ref["permutation"]
    assert bool(perm["exact"]) and perm["n_permutations"] == r["n_permutations"]
    close(perm["statistic"], r["statistic"], 1e-4)
    close(perm["p"], r["p"], 1e-12)
    close(perm["min_p"], r["min_p"], 1e-12)


def test_monte_carlo_permutation_is_seeded_and_near_exact():
    data, _, kwargs = load("balanced")
    runs = [modality_model(data, **kwargs, max_exact=10, permutations=1999, seed=s,
                           robust=False).permutation.iloc[0] for s in (1, 1, 2)]
    assert not bool(runs[0]["exact"]) and runs[0]["n_permutations"] == 1999
    assert runs[0]["p"] == runs[1]["p"]
    assert runs[0]["min_p"] == pytest.approx(1 / 2000)
    exact = result("balanced").permutation.iloc[0]["p"]
    assert abs(runs[2]["p"] - exact) < 0.03
    # unbalanced: 12 sites, 34650 relabelings > 10000, so Monte Carlo
    perm = result("unbalanced").permutation.iloc[0]
    assert not bool(perm["exact"]) and perm["n_relabelings"] == 34650


def test_notes_flag_disagreement_and_minimum_p():
    notes = " ".join(result("balanced").notes)
    assert "smallest p-value the randomization test can give is 0.0667" in notes
    assert "disagree" in notes
    assert "fewer than 4 degrees of freedom" in notes


def test_statsmodels_engine_agrees():
    # cross-check: statsmodels MixedLM (site groups, participant variance component)
    data, _, kwargs = load("unbalanced")
    fast = fit_modality_model(data, **kwargs)
    sm = fit_modality_model(data, **kwargs, engine="statsmodels")
    close(sm.beta, fast.beta, 1e-3, atol=1e-4)
    close(list(sm.variance_sd.values()), list(fast.variance_sd.values()), 1e-3)
    assert sm.criterion >= fast.criterion - 1e-8


def test_to_json_keys_and_serializable():
    res = result("covariate")
    out = to_json(res)
    assert set(out) == {"fixed_effects", "variance_components", "reml_criterion", "loglik",
                        "n_obs", "n_groups", "emmeans", "change_contrasts", "permutation"}
    assert set(out["fixed_effects"][0]) == {"term", "estimate", "se", "df", "t", "p"}
    assert set(out["emmeans"][0]) == {"arm", "time", "emmean", "se", "df", "lower", "upper"}
    assert set(out["change_contrasts"][0]) == {"a", "b", "from", "to", "estimate", "se", "df",
                                               "t", "p"}
    assert set(out["permutation"]) == {"p", "n_permutations", "exact", "min_p",
                                       "n_relabelings", "log10_n_relabelings"}
    assert out["permutation"]["n_relabelings"] == 1680  # 9! / (3! 3! 3!)
    assert out["n_groups"] == {"site_id": 9, "pid": res.fit.n_groups["pid"]}
    assert "age" in [r["term"] for r in out["fixed_effects"]]
    json.dumps(out)


def test_term_names_and_reference_levels():
    res = result("two_sites")
    # "pre" is first in time_order although "post" sorts first
    assert list(res.fixed_effects["term"]) == [
        "Intercept", "wave[T.post]", "modality[T.peer]", "wave[T.post]:modality[T.peer]"]
    cc = res.change_contrasts.iloc[0]
    assert (cc["a"], cc["b"], cc["from"], cc["to"]) == ("coaching", "peer", "pre", "post")


def test_icc_definitions():
    res = result("balanced")
    sd = res.variance_components.set_index("group")["sd"]
    total = float((sd**2).sum())
    icc = res.icc.set_index("level")["icc"]
    assert icc["site"] == pytest.approx(sd["site"] ** 2 / total)
    assert icc["participant"] == pytest.approx((sd["site"] ** 2 + sd["participant"] ** 2) / total)


def _kwargs():
    return dict(outcome="score", time="wave", time_order=["baseline", "midline", "endline"],
                group="modality", cluster="site", subject="participant")


def test_errors_name_what_is_wrong():
    data, _, _ = load("balanced")
    with pytest.raises(AnalysisError, match=r"column\(s\) \['score2'\] not found"):
        modality_model(data, **{**_kwargs(), "outcome": "score2"})
    with pytest.raises(AnalysisError, match=r"time level\(s\) \['endline'\] of column 'wave'"):
        modality_model(data, **{**_kwargs(), "time_order": ["baseline", "midline"]})
    with pytest.raises(AnalysisError, match=r"\['later'\] from time_order not found"):
        modality_model(data, **{**_kwargs(),
                                "time_order": ["baseline", "midline", "endline", "later"]})
    mixed = data.copy()
    mixed.loc[0, "modality"] = "peer"
    with pytest.raises(AnalysisError, match="each site must receive one modality; site 'S01'"):
        modality_model(mixed, **_kwargs())
    empty = data[~((data["wave"] == "endline") & (data["modality"] == "peer"))]
    with pytest.raises(AnalysisError, match="no observations for wave 'endline' x modality"):
        modality_model(empty, **_kwargs())
    with pytest.raises(AnalysisError, match="needs a REML fit; received reml=False"):
        modality_model(data, **_kwargs(), reml=False, df_method="kenward-roger")
    with pytest.raises(AnalysisError, match="df_method must be"):
        modality_model(data, **_kwargs(), df_method="wald")  # type: ignore[arg-type]
    text = data.copy()
    text["score"] = text["score"].astype(str)
    text.loc[3, "score"] = "n/a"
    with pytest.raises(AnalysisError, match="outcome column 'score' must be numeric"):
        modality_model(text, **_kwargs())
    assert issubclass(AnalysisError, EvalkitError)


def test_missing_values_dropped_and_counted():
    data, ref, _ = load("balanced")
    gappy = data.copy()
    gappy.loc[[5, 17, 40], "score"] = np.nan
    res = modality_model(gappy, **_kwargs(), permutations=None, robust=False)
    assert res.fit.n_obs == ref["reml"]["n_obs"] - 3
    assert res.fit.n_dropped == 3
    assert "3 row(s) with a missing model column were left out" in res.fit.message


def test_participant_ids_are_nested_in_sites():
    # participant ids repeat across sites ("P01" in every site): (1 | site:participant)
    res = result("balanced")
    assert res.fit.n_groups == {"site": 6, "participant": 150}


def test_criterion_is_invariant_to_row_order():
    data, _, _ = load("unbalanced")
    shuffled = data.sample(frac=1.0, random_state=3)
    a = fit_modality_model(data, **_kwargs())
    b = fit_modality_model(shuffled, **_kwargs())
    assert math.isclose(a.criterion, b.criterion, rel_tol=1e-12)
    close(a.beta, b.beta, 1e-8)


def test_doctests():
    import evalkit.models as pkg
    from evalkit.models import _api, _toy

    for module in (pkg, _api, _toy):
        failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert failures == 0, module.__name__


# -- the fast CR2 and permutation code against dense re-computations ------------------------


def _dense_cr2(X, y, site, participant, psi, beta):
    """The previous implementation of evalkit.models._robust (clubSandwich's formulas with
    site-sized matrices, validated against clubSandwich): vcov and Satterthwaite df."""
    from scipy import linalg

    from evalkit.models._kenward_roger import _site_inverse

    p = X.shape[1]
    starts = np.flatnonzero(np.r_[True, site[1:] != site[:-1]])
    ends = np.r_[starts[1:], site.size]
    blocks = []
    XtWX = np.zeros((p, p))
    for a, b in zip(starts, ends, strict=True):
        W = _site_inverse(psi[0], psi[1], participant[a:b])
        XW = X[a:b].T @ W
        XtWX += XW @ X[a:b]
        blocks.append((a, b, XW))
    M = linalg.inv(XtWX)
    M = 0.5 * (M + M.T)
    LM = linalg.cholesky(M, lower=True)
    resid = y - X @ beta
    comps = np.empty((p, len(blocks)))
    Gs, H = [], np.empty((p, p, len(blocks)))
    for j, (a, b, XW) in enumerate(blocks):
        Xj = X[a:b]
        Theta = linalg.inv(_site_inverse(psi[0], psi[1], participant[a:b]))
        Theta = 0.5 * (Theta + Theta.T)
        Rj = linalg.cholesky(Theta, lower=False)
        G = Rj @ (Theta - Xj @ M @ Xj.T) @ Rj.T
        vals, vecs = np.linalg.eigh(0.5 * (G + G.T))
        vp = np.where(vals > 1e-12, np.abs(np.where(vals > 1e-12, vals, 1.0)) ** -0.5, 0.0)
        E = XW @ (Rj.T @ ((vecs * vp) @ vecs.T) @ Rj)
        comps[:, j] = E @ resid[a:b]
        Gs.append(M @ E @ Rj.T)
        H[:, :, j] = M @ E @ Xj @ LM
    vcov = M @ (comps @ comps.T) @ M

    def df(L):
        out = []
        for c in np.atleast_2d(L):
            Hc = np.einsum("i,iuj->uj", c, H)
            P = -(Hc.T @ Hc)
            P[np.diag_indices_from(P)] += [float(np.sum((c @ g) ** 2)) for g in Gs]
            out.append(np.trace(P) ** 2 / np.sum(P * P))
        return np.array(out)

    return 0.5 * (vcov + vcov.T), df


def _random_collaborative(seed: int) -> pd.DataFrame:
    """Unbalanced data: 3 modalities over 10 sites of 4-25 participants, waves missing at
    random, a time-varying, a participant-level, a site-level and a categorical covariate."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(10):
        u = rng.normal(0, 2)
        for i in range(int(rng.integers(4, 26))):
            v = rng.normal(0, 3)
            age = float(rng.integers(20, 65))
            for w, wave in enumerate(["baseline", "midline", "endline"]):
                if rng.random() < 0.25:
                    continue
                rows.append({"site": f"S{s}", "participant": f"P{i}", "wave": wave,
                             "modality": ["coaching", "convening", "peer"][s % 3],
                             "score": 50 + u + v + w * (1 + s % 3) + rng.normal(0, 3),
                             "dose": rng.normal(), "age": age, "size": 10.0 + s,
                             "role": ["lead", "staff", "other"][int(rng.integers(3))]})
    return pd.DataFrame(rows)


def _cr2_cases():
    for name in DATASETS:
        data, _, kwargs = load(name)
        yield name, data, kwargs
    for seed in (1, 2):
        yield f"random{seed}", _random_collaborative(seed), {
            **_kwargs(), "covariates": ("dose", "age", "size", "role")}


@pytest.mark.parametrize("case", list(_cr2_cases()), ids=lambda c: c[0])
def test_cr2_equals_the_dense_site_block_computation(case):
    # oracle: _dense_cr2, the site-block implementation validated against clubSandwich above;
    # the low-rank algebra of evalkit.models._robust must give the same numbers to 1e-10
    from evalkit.models._emmeans import change_contrasts
    from evalkit.models._robust import cr2_df, cr2_state

    name, data, kwargs = case
    fit = fit_modality_model(data, **kwargs)
    d = fit.design
    L = np.vstack([np.eye(len(d.terms)),
                   [c.row for c in change_contrasts(d, changes="all")]])
    with _one_blas_thread():  # small dense matrices: threads only add waiting
        state = cr2_state(d, fit.psi, fit.beta)
        vcov, dense_df = _dense_cr2(d.X, d.y, d.site, d.participant, fit.psi, fit.beta)
        expected_df = dense_df(L)
    se = np.sqrt(np.einsum("ij,jk,ik->i", L, state.vcov, L))
    close(se, np.sqrt(np.einsum("ij,jk,ik->i", L, vcov, L)), 1e-10)
    close(state.vcov, vcov, 1e-10, atol=1e-10 * np.abs(vcov).max())
    close(cr2_df(state, L), expected_df, 1e-10)
    # the singular adjustment is detected exactly where a modality has a single site
    assert state.singular_sites == ((4,) if name == "one_site" else ())


def test_singular_cr2_adjustment_is_noted():
    # R (make_one_site.R): clubSandwich gives the peer terms df = 1 from site S05 alone
    res = result("one_site")
    notes = [n for n in res.notes if "adjustment is singular" in n]
    assert notes == [
        "The cluster-robust (CR2) adjustment is singular for site 'S05': the model fits some "
        "of its terms from that site alone (for example a modality with a single site), so its "
        "residuals carry no information about them. As clubSandwich does, the singular "
        "directions were left out; the robust tests of those terms are not meaningful."]
    assert not any("adjustment is singular" in n for n in result("balanced").notes)


def test_permutation_statistic_equals_full_gls_refits():
    # oracle: for each relabeling, rebuild the design from the relabeled data, fit the
    # no-modality model again and compute the GLS Wald statistic with dense site blocks of H
    data, _, kwargs = load("covariate")
    with _one_blas_thread():
        _check_refits(data, kwargs)


def _check_refits(data, kwargs):
    from evalkit.models._design import build_design, null_design
    from evalkit.models._permutation import _selection, _site_gls_blocks, _wald
    from evalkit.models._reml import block_stats, optimize_psi

    base = build_design(data, **kwargs)
    C, keep = _site_gls_blocks(base, True)
    E = _selection(base, keep)
    idx = base.interaction_columns()
    rng = np.random.default_rng(7)
    relabelings = [base.site_group] + [rng.permutation(base.site_group) for _ in range(4)]
    fast = _wald(C, E, np.array(relabelings), idx)
    site_of_row = pd.Series(dict(enumerate(base.site_names)))
    for labels, stat in zip(relabelings, fast, strict=True):
        new = dict(zip(base.site_names, np.array(base.group_levels)[labels], strict=True))
        relabeled = data.assign(**{kwargs["group"]: data[kwargs["cluster"]].map(new)})
        des = build_design(relabeled, **kwargs)
        assert list(site_of_row) == list(des.site_names)
        D, _ = null_design(des)
        psi_s, psi_p = optimize_psi(block_stats(D, des.y, des.site, des.participant), True).psi
        XtHX = np.zeros((len(des.terms),) * 2)
        XtHy = np.zeros(len(des.terms))
        for j in range(des.n_sites):
            rows = des.site == j
            pid = des.participant[rows]
            H = (np.eye(rows.sum()) + psi_p * (pid[:, None] == pid[None, :]) + psi_s)
            Xj = des.X[rows]
            XtHX += Xj.T @ np.linalg.solve(H, Xj)
            XtHy += Xj.T @ np.linalg.solve(H, des.y[rows])
        V = np.linalg.inv(XtHX)
        b = V @ XtHy
        refit = b[idx] @ np.linalg.solve(V[np.ix_(idx, idx)], b[idx])
        assert stat == pytest.approx(refit, rel=1e-10)


def test_relabeling_counts_never_overflow():
    # oracle: log10 of the multinomial coefficient by lgamma; exact integers below 2**63
    from evalkit.models._api import _relabeling_count
    from evalkit.models._permutation import n_relabelings

    labels = np.arange(6000) % 3  # 6,000 sites, 2,000 per modality: about 10**2859
    total = n_relabelings(labels)
    out = _relabeling_count(total)
    expected = (math.lgamma(6001) - 3 * math.lgamma(2001)) / math.log(10)
    assert out["n_relabelings"] is None
    assert out["log10_n_relabelings"] == pytest.approx(expected, rel=1e-12)
    assert _relabeling_count(34650) == {"n_relabelings": 34650,
                                        "log10_n_relabelings": math.log10(34650)}
    big = n_relabelings(np.arange(42) % 3)  # 42! / (14!)^3, just below 2**63
    assert big < 2**63 and _relabeling_count(big)["n_relabelings"] == big


def test_many_sites_model_reports_the_size_of_the_relabeling_count():
    # 60 sites: about 10**27 relabelings, beyond 64-bit integers (and Parquet)
    rng = np.random.default_rng(3)
    rows = [{"site": f"S{s:02d}", "participant": f"P{i}", "wave": w,
             "modality": ["a", "b", "c"][s % 3], "score": rng.normal() + s % 3 * (w == "t2")}
            for s in range(60) for i in range(3) for w in ("t1", "t2")]
    res = modality_model(pd.DataFrame(rows), outcome="score", time="wave",
                         time_order=["t1", "t2"], group="modality", cluster="site",
                         subject="participant", permutations=99, seed=1, robust=False)
    perm = res.permutation
    expected = (math.lgamma(61) - 3 * math.lgamma(21)) / math.log(10)
    assert perm["n_relabelings"].isna().all() and str(perm["n_relabelings"].dtype) == "Int64"
    assert perm["log10_n_relabelings"].iloc[0] == pytest.approx(expected, rel=1e-12)
    out = to_json(res)["permutation"]
    assert out["n_relabelings"] is None
    assert out["log10_n_relabelings"] == pytest.approx(expected, rel=1e-12)
    json.dumps(out)
    import io

    perm.to_parquet(io.BytesIO(), index=False)
