"""The modality mixed model against lme4/lmerTest, emmeans, pbkrtest and clubSandwich.

Reference values: tests/reference/models/<dataset>.json, written by
``Rscript tests/reference/models/make_reference.R`` (R 4.2.2, lme4 1.1-31, lmerTest 3.1-3,
pbkrtest 0.5.2, emmeans 1.8.4-1, clubSandwich 0.5.8). No R runs at test time.

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

REF = Path(__file__).resolve().parent / "reference" / "models"
DATASETS = ["balanced", "unbalanced", "singular", "two_sites", "covariate"]
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


@pytest.mark.parametrize("name", ["balanced", "singular", "two_sites", "covariate"])
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
    assert set(out["permutation"]) == {"p", "n_permutations", "exact"}
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
