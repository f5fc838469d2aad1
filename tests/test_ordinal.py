"""The ordinal modality model against ordinal::clmm / clm and emmeans.

Reference values: tests/reference/ordinal/<dataset>.json, written by
``Rscript tests/reference/ordinal/make_reference.R`` (R 4.2.2, ordinal 2022.11.16, emmeans
1.8.4-1). No R runs at test time.

Oracles:
# R: ordinal::clmm(answer ~ wave * modality + (1|site) + (1|site:participant), nAGQ = 1)
# R: emmeans(fit, ~ wave | modality, mode = "latent"), contrast() of the changes
# R: ordinal::clm(answer ~ wave * modality); nominal_test(<clm>)

clmm's default optimiser stops a little short (its logLik is up to 5e-7 below ours), so the
estimates, SDs and logLik are compared with a tightly converged clmm (nlminb rel.tol 1e-14,
inner gradTol 1e-10) -- except on "singular", where the site SD is at the boundary 0 and the
tight refit wanders off it to SD 1e-5 and a lower logLik, so there the default fit is the
better converged one (the JSON's "clmm_best"). Standard errors (and the emmeans / contrasts
SEs) are compared with the default fit: there clmm's finite-difference Hessian is smooth,
while in the tight refit the inner Newton iterations stop at rounding level and make its
Hessian noisy at ~1e-3.

Tolerances: thresholds, fixed effects and SDs 1e-4 relative (and 1e-5 absolute, for values
near 0 such as a boundary SD); SEs 1e-3 relative; logLik 1e-6 absolute.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import AnalysisError, EvalkitError
from evalkit.models import (
    modality_model,
    ordinal_agrees,
    ordinal_model,
    ordinal_to_json,
)
from evalkit.models._ordinal_toy import toy_likert

REF = Path(__file__).resolve().parent / "reference" / "ordinal"
DATASETS = ["balanced", "attrition", "rare", "probit", "singular"]
EST_RTOL = 1e-4
EST_ATOL = 1e-5
SE_RTOL = 1e-3
LOGLIK_ATOL = 1e-6

_CACHE: dict[tuple[str, bool], object] = {}


def load(name: str) -> tuple[pd.DataFrame, dict]:
    return pd.read_csv(REF / f"{name}.csv"), json.loads((REF / f"{name}.json").read_text())


def fitted(name: str, mixed: bool = True):
    key = (name, mixed)
    if key not in _CACHE:
        data, ref = load(name)
        c = ref["columns"]
        _CACHE[key] = ordinal_model(
            data, outcome=c["outcome"], time=c["time"], time_order=ref["time_order"],
            group=c["group"], cluster=c["cluster"] if mixed else None,
            subject=c["subject"] if mixed else None, link=ref["link"])
    return _CACHE[key]


def close(actual, expected, rtol, atol=0.0) -> None:
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float),
                               rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", DATASETS)
def test_clmm_estimates(name: str) -> None:
    # R: clmm(..., nAGQ = 1, control = clmm.control(gradTol = 1e-10, rel.tol = 1e-14)), or
    # the default clmm where that is better converged (see the module docstring)
    res = fitted(name)
    _, ref = load(name)
    tight = ref[ref["clmm_best"]]
    assert list(res.thresholds["threshold"]) == [t["threshold"] for t in tight["thresholds"]]
    close(res.thresholds["estimate"], [t["estimate"] for t in tight["thresholds"]], EST_RTOL,
          EST_ATOL)
    fe = pd.DataFrame(tight["fixed_effects"])
    assert list(res.fixed_effects["term"]) == list(fe["term"])
    close(res.fixed_effects["estimate"], fe["estimate"], EST_RTOL, EST_ATOL)
    close(res.random_effects["sd"], [tight["sd"]["cluster"], tight["sd"]["subject"]],
          EST_RTOL, EST_ATOL)
    close(res.fit.loglik, tight["logLik"], 0.0, LOGLIK_ATOL)
    close(res.fit.aic, tight["AIC"], 0.0, 2 * LOGLIK_ATOL)
    # never less converged than clmm's default fit
    assert res.fit.loglik >= ref["clmm_default"]["logLik"] - 1e-9
    assert res.fit.converged and res.fit.max_gradient < 1e-4


@pytest.mark.parametrize("name", DATASETS)
def test_clmm_standard_errors_and_diagnostics(name: str) -> None:
    # R: summary(clmm(...)) with the default control: SEs from vcov(), cond.H
    res = fitted(name)
    _, ref = load(name)
    default = ref["clmm_default"]
    close(res.thresholds["se"], [t["se"] for t in default["thresholds"]], SE_RTOL)
    fe = pd.DataFrame(default["fixed_effects"])
    close(res.fixed_effects["se"], fe["se"], SE_RTOL)
    close(res.fixed_effects["z"], fe["z"], 1e-3)
    close(res.fixed_effects["p"], fe["p"], 1e-3, 1e-6)
    close(res.fit.condition_number, default["cond_H"], 1e-3)


def test_singular_site_sd_is_left_out_of_the_hessian() -> None:
    # R: clmm(...) estimates the site SD at 0; its Hessian and vcov drop that parameter
    # (paratBoundary2, SD < 1e-3), so the SEs come from the other parameters' Hessian.
    res = fitted("singular")
    _, ref = load("singular")
    assert ref["clmm_default"]["sd"]["cluster"] == 0.0
    assert res.random_effects["sd"].iloc[0] == 0.0
    assert len(ref["clmm_default"]["vcov_names"]) == len(res.thresholds) + len(
        res.fixed_effects) + 1
    assert "The site SD was estimated at zero (a singular fit)" in res.fit.message


@pytest.mark.parametrize("name", DATASETS)
def test_emmeans_and_change_contrasts(name: str) -> None:
    # R: emmeans(fit, ~ wave | modality, mode = "latent"); contrast(<grid>, method = <changes>)
    res = fitted(name)
    _, ref = load(name)
    em = pd.DataFrame(ref["emmeans"])
    ours = res.emmeans.merge(em, on=["modality", "wave"], suffixes=("", "_r"))
    assert len(ours) == len(em) == len(res.emmeans)
    # 1e-4 relative to the largest mean: a mean near 0 is a difference of terms of size ~1
    scale = float(np.abs(ours["emmean_r"]).max())
    close(ours["emmean"], ours["emmean_r"], EST_RTOL, EST_RTOL * scale)
    close(ours["se"], ours["se_r"], SE_RTOL)
    ct = pd.DataFrame(ref["change_contrasts"])
    mine = res.change_contrasts
    assert list(zip(mine["a"], mine["b"], mine["to"], strict=True)) == list(
        zip(ct["a"], ct["b"], ct["to"], strict=True))
    close(mine["estimate"], ct["estimate"], EST_RTOL, EST_ATOL)
    close(mine["se"], ct["se"], SE_RTOL)
    close(mine["p"], ct["p"], 2e-3, 1e-6)
    close(mine["lower"], ct["lower"], 1e-3, 1e-4)
    close(mine["upper"], ct["upper"], 1e-3, 1e-4)


@pytest.mark.parametrize("name", DATASETS)
def test_probabilities_at_random_effects_zero(name: str) -> None:
    # R: emmeans(fit, ~ wave * modality | answer, mode = "prob")
    res = fitted(name)
    _, ref = load(name)
    pr = pd.DataFrame(ref["probabilities"])
    m = res.probabilities.merge(pr, on=["modality", "wave", "category"])
    assert len(m) == len(pr) == len(res.probabilities)
    close(m["probability"], m["prob"], 0.0, 1e-5)
    sums = res.probabilities.groupby(["modality", "wave"])["probability"].sum()
    close(sums, np.ones(len(sums)), 0.0, 1e-12)


@pytest.mark.parametrize("name", DATASETS)
def test_clm_and_nominal_test(name: str) -> None:
    # R: clm(answer ~ wave * modality, link = <link>); nominal_test(<clm>)
    res = fitted(name, mixed=False)
    _, ref = load(name)
    clm = ref["clm"]
    assert res.fit.model == "clm" and res.random_effects.empty
    close(res.thresholds["estimate"], [t["estimate"] for t in clm["thresholds"]], 1e-6)
    fe = pd.DataFrame(clm["fixed_effects"])
    close(res.fixed_effects["estimate"], fe["estimate"], 1e-6)
    close(res.fixed_effects["se"], fe["se"], 1e-6)
    close(res.fit.loglik, clm["logLik"], 0.0, LOGLIK_ATOL)
    close(res.fit.aic, clm["AIC"], 0.0, 2 * LOGLIK_ATOL)
    nt = pd.DataFrame(clm["nominal_test"])
    assert list(res.nominal_test["term"]) == list(nt["term"])
    assert list(res.nominal_test["df"]) == list(nt["df"])
    close(res.nominal_test["loglik"], nt["logLik"], 0.0, 1e-5)
    close(res.nominal_test["lrt"], nt["lrt"], 0.0, 1e-5)
    close(res.nominal_test["p"], nt["p"], 1e-4, 1e-7)


def test_labelled_categories_give_the_same_fit() -> None:
    data, ref = load("balanced")
    words = {1: "never", 2: "rarely", 3: "sometimes", 4: "often", 5: "always"}
    labelled = data.assign(answer=data["answer"].map(words))
    res = ordinal_model(labelled, outcome="answer", time="wave", time_order=ref["time_order"],
                        group="modality", cluster="site", subject="participant",
                        categories=list(words.values()))
    assert res.thresholds["threshold"].iloc[0] == "never|rarely"
    close(res.fixed_effects["estimate"], fitted("balanced").fixed_effects["estimate"], 1e-8)


def test_unobserved_category_is_left_out_and_missing_rows_counted() -> None:
    data, ref = load("balanced")
    data = data.copy()
    data.loc[data.index[:3], "answer"] = np.nan
    res = ordinal_model(data, outcome="answer", time="wave", time_order=ref["time_order"],
                        group="modality", cluster=None, subject=None,
                        categories=[0, 1, 2, 3, 4, 5])
    assert res.fit.categories == ("1", "2", "3", "4", "5")
    assert res.fit.n_dropped == 3 and res.fit.n_obs == len(data) - 3
    assert "3 row(s) with a missing model column" in res.fit.message


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"link": "cloglog"}, "link must be 'logit' or 'probit'; received 'cloglog'"),
    ({"subject": None}, "cluster and subject must be given together (clmm) or both be None "
                        "(clm); received cluster='site', subject=None"),
    ({"categories": [1, 2, 3]}, "outcome column 'answer' has value(s) ['4', '5'] not in "
                                "categories ['1', '2', '3']"),
    ({"outcome": "score"}, "column(s) ['score'] not found in data"),
])
def test_user_errors(kwargs: dict, message: str) -> None:
    args = dict(outcome="answer", time="wave", time_order=["baseline", "endline"],
                group="modality", cluster="site", subject="participant")
    args.update(kwargs)
    with pytest.raises(AnalysisError) as err:
        ordinal_model(toy_likert(), **args)
    assert isinstance(err.value, EvalkitError)
    assert message in str(err.value)


def test_text_outcome_needs_categories() -> None:
    data = toy_likert().assign(answer=lambda d: d["answer"].map(str) + " stars")
    with pytest.raises(AnalysisError, match="must hold numeric answer codes, or pass "
                                            "categories= in order; received value '"):
        ordinal_model(data, outcome="answer", time="wave", time_order=["baseline", "endline"],
                      group="modality", cluster="site", subject="participant")


def test_json_is_plain() -> None:
    out = ordinal_to_json(fitted("rare"))
    text = json.dumps(out)
    assert json.loads(text)["n_groups"] == {"site": 10, "participant": 120}
    assert out["model"] == "clmm" and out["categories"] == ["1", "2", "3", "4", "5"]
    assert "Category 1 has fewer than 10 answers" in out["message"]


KW = dict(outcome="answer", time="wave", time_order=["baseline", "endline"], group="modality",
          cluster="site", subject="participant")


def test_ordinal_agrees_on_toy_data() -> None:
    data = toy_likert()
    lin = modality_model(data, **KW, permutations=None, robust=False)
    out = ordinal_agrees(lin, ordinal_model(data, **KW))
    assert out["agrees"] is True and out["n_contrasts"] == 1 and out["n_disagree"] == 0
    row = out["contrasts"][0]
    # peer sites gain more in the simulation: both intervals lie below 0 (coaching - peer)
    assert row["linear_conclusion"] == row["ordinal_conclusion"] == "b gained more"
    assert out["sentence"].startswith("Treating the answers as ordinal categories")


def test_ordinal_agrees_reports_a_changed_conclusion() -> None:
    data = toy_likert()
    lin = modality_model(data, **KW, permutations=None, robust=False)
    orn = ordinal_model(data, **KW)
    cc = orn.change_contrasts.copy()
    cc["lower"], cc["upper"] = -0.5, 0.7  # interval now covers 0
    out = ordinal_agrees(lin, dataclasses.replace(orn, change_contrasts=cc))
    assert out["agrees"] is False and out["n_disagree"] == 1
    assert out["contrasts"][0]["ordinal_conclusion"] == "no clear difference"
    assert ("changes the conclusion for 1 of 1 comparison(s): coaching vs peer from baseline "
            "to endline (peer gained more under the linear model, no clear difference under "
            "the ordinal model)") in out["sentence"]


# ---------------------------------------------------------------------------------------------
# CLI: evalkit ordinal
# ---------------------------------------------------------------------------------------------
CLI = ["ordinal", str(REF / "rare.csv"), "--outcome", "answer", "--time", "wave",
       "--time-order", "baseline,endline", "--group", "modality", "--cluster", "site",
       "--subject", "participant"]


def test_cli_json_matches_the_library_and_r() -> None:
    from typer.testing import CliRunner

    from evalkit.cli import app

    result = CliRunner().invoke(app, [*CLI, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out == json.loads(json.dumps(ordinal_to_json(fitted("rare"))))
    # R: clmm(..., nAGQ = 1) tightly converged, as in test_clmm_estimates
    tight = load("rare")[1]["clmm_tight"]
    close([r["estimate"] for r in out["fixed_effects"]],
          [r["estimate"] for r in tight["fixed_effects"]], EST_RTOL, EST_ATOL)


def test_cli_plain_clm_prints_the_proportional_odds_check() -> None:
    from typer.testing import CliRunner

    from evalkit.cli import app

    result = CliRunner().invoke(app, [*CLI, "--no-random-effects"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "Cumulative-link model (logit link, 240 answers in 5 categories); converged.")
    assert "Proportional-odds check" in result.output
    assert "Predicted probability of each answer" in result.output


def test_cli_bad_link_is_one_line() -> None:
    from typer.testing import CliRunner

    from evalkit.cli import app

    result = CliRunner().invoke(app, [*CLI, "--link", "cloglog"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: --link: expected logit or probit; got 'cloglog'"


def test_a_start_at_zero_sds_does_not_stick_at_the_boundary() -> None:
    # The Laplace likelihood is even in each SD, so SD = 0 is always a stationary point; the
    # fit must still reach clmm's interior optimum (R: tight clmm on "balanced").
    from evalkit.models._ordinal import _design
    from evalkit.models._ordinal_fit import NestedData, fit_clm, fit_clmm

    data, ref = load("balanced")
    d, _ = _design(data, outcome="answer", time="wave", time_order=ref["time_order"],
                   group="modality", cluster="site", subject="participant", categories=None)
    y, X = d.y.astype(np.int64), d.X[:, 1:]
    plain = fit_clm(y, X, 5, "logit")
    nested = NestedData(y=y, X=X, K=5, site=d.site, participant=d.participant, link="logit")
    fit = fit_clmm(nested, plain.beta, plain.theta[:, 0], start_sd=(0.0, 0.0))
    sd = ref["clmm_tight"]["sd"]
    close(fit.phi[-2:], [sd["cluster"], sd["subject"]], EST_RTOL)
    close(-fit.nla, ref["clmm_tight"]["logLik"], 0.0, LOGLIK_ATOL)
