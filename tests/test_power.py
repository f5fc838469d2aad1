"""evalkit.design: simulation power of the modality comparison.

Oracles: the closed-form power of an individually randomised and of a two-level cluster-
randomised two-arm comparison (Hedges 2007; Dong & Maynard 2013, PowerUpR ``power.ira`` /
``power.cra2``) for designs the simulation reproduces exactly, and an R simulation of the
same small design with lmerTest (tests/reference/power/power_lmertest.R; simr is not in
Debian). Tolerances are stated from Monte Carlo error.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from scipy import stats as sps

from evalkit.design import (
    PowerParameters,
    cluster_trial_power,
    detection_summary,
    individual_trial_power,
    parameters_from_icc,
    parameters_from_model,
    parameters_from_results,
    power,
    to_json,
)
from evalkit.design._simulate import analyse, build, contrasts, draw, permutation_floor
from evalkit.errors import AnalysisError
from evalkit.models import modality_model
from evalkit.models._design import build_design

REF = Path(__file__).parent / "reference" / "power"


def _frame(d, params) -> pd.DataFrame:
    return pd.DataFrame({
        "site": [f"S{s + 1:02d}" for s in d.site],
        "participant": [f"P{p:04d}" for p in d.participant],
        "wave": np.array(params.waves)[d.time_code],
        "modality": np.array(params.modalities)[d.site_group[d.site]],
        "score": d.y,
    })


def _row(res, contrast: str, method: str, sites: int | None = None) -> pd.Series:
    t = res.power
    t = t[(t["contrast"] == contrast) & (t["method"] == method)]
    if sites is not None:
        t = t[t["sites_per_modality"] == sites]
    assert len(t) == 1
    return t.iloc[0]


# -- closed-form power ----------------------------------------------------------------------


def test_closed_form_by_hand():
    # Hedges (2007) / PowerUpR cra2 by hand: J = 20, n = 20, rho = 0.1, delta = 0.5, P = 0.5:
    # SSE = sqrt(0.1 / (0.25 * 20) + 0.9 / (0.25 * 400)) = sqrt(0.029); lambda = 0.5 / SSE;
    # power = P(T'_{18, lambda} > t_.975,18) + P(T'_{18, lambda} < -t_.975,18).
    lam = 0.5 / math.sqrt(0.029)
    q = sps.t.ppf(0.975, 18)
    expected = sps.nct.sf(q, 18, lam) + sps.nct.cdf(-q, 18, lam)
    got = cluster_trial_power(effect=0.5, icc=0.1, clusters=20, cluster_size=20)
    assert got == pytest.approx(expected, abs=1e-12)
    assert 0.78 < got < 0.80  # normal approximation: Phi(2.94 - 2.10) = 0.80
    # Cohen's two-sample power tables: d = 0.5, 64 per group -> 0.80 (two-sided .05).
    assert individual_trial_power(effect=0.5, n=128) == pytest.approx(0.80, abs=0.005)


def test_model_power_matches_closed_form_individual_comparison():
    # Two waves, no attrition, no site x wave variance: each participant's change is
    # delta_g + e2 - e1, the site and participant intercepts cancel, so the model's contrast
    # is the difference of mean changes with SE sqrt(2 sigma^2 (1/N_a + 1/N_b)) and N - 2
    # df: PowerUpR ira power with effect delta / sqrt(2 sigma^2) and N = 60 participants.
    p = parameters_from_icc(icc_site=0.1, icc_participant=0.5, effect=0.5, waves=2)
    n_sim = 400
    res = power(p, sites_per_modality=3, participants=10, n_simulations=n_sim,
                permutation=False, workers=2, seed=11)
    es = 0.5 / math.sqrt(2 * p.residual_sd**2)
    expected = individual_trial_power(effect=es, n=60)
    for method in ("satterthwaite", "kenward-roger"):
        row = _row(res, "A vs B: wave1 -> wave2", method)
        se = math.sqrt(expected * (1 - expected) / n_sim)
        assert abs(row["power"] - expected) < 3.5 * se, (method, row["power"], expected)
        # Minimum detectable difference: the effect at which the closed form gives 80%.
        mdd = optimize.brentq(lambda d: individual_trial_power(
            effect=d / math.sqrt(2 * p.residual_sd**2), n=60) - 0.8, 0.01, 2.0)
        assert abs(row["mdd"] - mdd) < 3.5 * row["mdd_mc_se"] + 0.01, (row["mdd"], mdd)


def test_permutation_power_matches_closed_form_cluster_trial():
    # Two waves, no attrition, a site x wave deviation (SD tau): a site's mean change is
    # delta_g + (v2 - v1) + mean(e2 - e1), a two-level cluster-randomised comparison of
    # change scores with ICC tau^2 / (tau^2 + sigma^2), total SD sqrt(2 (tau^2 + sigma^2)),
    # J = 12 sites of n = 10 (Hedges 2007, PowerUpR cra2). The site-level randomization test
    # of balanced sites is the permutation test of the difference in site mean changes,
    # whose power is the cluster-level t test's up to a small discreteness (924
    # relabelings): tolerance 3.5 MC SE + 0.03.
    sigma2, tau2 = 0.5, 0.125
    base = parameters_from_icc(icc_site=0.1, icc_participant=0.5, effect=0.85, waves=2,
                               site_change_sd=math.sqrt(tau2))
    n_sim = 300
    res = power(base, sites_per_modality=6, participants=10, n_simulations=n_sim,
                kenward_roger=False, workers=2, seed=5)
    es = 0.85 / math.sqrt(2 * (tau2 + sigma2))
    expected = cluster_trial_power(effect=es, icc=tau2 / (tau2 + sigma2), clusters=12,
                                   cluster_size=10)
    row = _row(res, "A vs B: wave1 -> wave2", "permutation")
    se = math.sqrt(expected * (1 - expected) / n_sim)
    assert abs(row["power"] - expected) < 3.5 * se + 0.03, (row["power"], expected)
    assert row["min_p"] == pytest.approx(2 / 924)
    # The model ignores the site x wave variance, so its test rejects more often than a
    # cluster-level test can: it is anti-conservative here, as it should be shown to be.
    assert _row(res, "A vs B: wave1 -> wave2", "satterthwaite")["power"] > expected


def test_agrees_with_r_lmertest_simulation():
    # R 4.2.2, lme4 1.1.31, lmerTest 3.1.3, pbkrtest 0.5.2: 1000 simulated data sets of the
    # design below fitted with lmer(score ~ wave * modality + (1|site) + (1|site:participant))
    # and contest(ddf = "Satterthwaite" / "Kenward-Roger") (power_lmertest.R). Two
    # independent Monte Carlo estimates: |difference| < 3.5 combined MC SE.
    ref = json.loads((REF / "power_lmertest.json").read_text())
    d = ref["design"]
    p = PowerParameters(
        modalities=("A", "B"), waves=tuple(d["waves"]),
        change=(tuple(d["change"]["A"]), tuple(d["change"]["B"])),
        site_sd=math.sqrt(d["site_variance"]), participant_sd=math.sqrt(
            d["participant_variance"]), residual_sd=math.sqrt(d["residual_variance"]),
        attrition=(d["attrition"],) * (len(d["waves"]) - 1))
    n_sim = 300
    res = power(p, sites_per_modality=d["sites_per_modality"], participants=d["participants"],
                n_simulations=n_sim, permutation=False, workers=2, seed=2)
    for c in ref["contrasts"]:
        for method, key in (("satterthwaite", "satterthwaite"), ("kenward-roger",
                                                                  "kenward_roger")):
            row = _row(res, c["contrast"], method)
            assert row["difference"] == pytest.approx(c["truth"])
            se = math.hypot(row["mc_se"], c[f"mc_se_{key}"])
            assert abs(row["power"] - c[f"power_{key}"]) < 3.5 * se, (
                c["contrast"], method, row["power"], c[f"power_{key}"])


# -- the simulation is evalkit's own analysis -------------------------------------------------


def test_design_and_tests_equal_modality_model():
    # The array-built design and the fast path give what modality_model gives on the same
    # data (estimates, SE, Satterthwaite and Kenward-Roger df, exact permutation p).
    p = parameters_from_icc(icc_site=0.1, icc_participant=0.5, effect=0.4, waves=3,
                            modalities=2, attrition=0.2)
    d = draw(p, (3, 3), 6, np.random.default_rng(4))
    frame = _frame(d, p)
    kw = dict(outcome="score", time="wave", time_order=list(p.waves), group="modality",
              cluster="site", subject="participant")
    ref_design = build_design(frame, **kw)
    mine = build(d, p.modalities, p.waves)
    assert mine.terms == ref_design.terms and mine.term_kinds == ref_design.term_kinds
    np.testing.assert_array_equal(mine.X, ref_design.X)
    np.testing.assert_array_equal(mine.y, ref_design.y)
    cons = contrasts(p, mine)
    out = analyse(d, p, cons, kenward_roger=True, permutation=True, permutations=99,
                  max_exact=10_000, seed=1)
    for df_method, se, dfs in (("satterthwaite", out.se, out.df_satterthwaite),
                               ("kenward-roger", out.se_kr, out.df_kr)):
        res = modality_model(frame, **kw, df_method=df_method, robust=False, seed=1)
        cc = res.change_contrasts
        truth = np.array([c.truth for c in cons])
        np.testing.assert_allclose(out.error + truth, cc["estimate"], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(se, cc["se"], rtol=1e-6)
        np.testing.assert_allclose(dfs, cc["df"], rtol=1e-5)
    assert out.p_joint_model == pytest.approx(float(res.interaction_test["p"].iloc[0]),
                                              rel=1e-6)
    assert out.p_joint_permutation == pytest.approx(float(res.permutation["p"].iloc[0]))


def test_fixed_effects_do_not_move_the_reml_error():
    # The minimum detectable difference rests on this: under REML the estimate's error, SE
    # and df are the same whatever the true changes (same noise, different effect).
    p = parameters_from_icc(icc_site=0.1, icc_participant=0.5, effect=0.3, waves=3)
    shift = np.array([[0.0, 0.4, 1.1], [0.0, -0.2, 0.3]])
    q = p.with_change(p.change_matrix + shift)
    d0 = draw(p, (4, 4), 5, np.random.default_rng(9))
    d1 = draw(q, (4, 4), 5, np.random.default_rng(9))
    o0 = analyse(d0, p, contrasts(p, build(d0, p.modalities, p.waves)), kenward_roger=True,
                 permutation=False, permutations=9, max_exact=10, seed=0)
    o1 = analyse(d1, q, contrasts(q, build(d1, q.modalities, q.waves)), kenward_roger=True,
                 permutation=False, permutations=9, max_exact=10, seed=0)
    np.testing.assert_allclose(o0.error, o1.error, atol=1e-9)
    np.testing.assert_allclose(o0.se, o1.se, rtol=1e-7)
    np.testing.assert_allclose(o0.df_satterthwaite, o1.df_satterthwaite, rtol=1e-4)


def test_permutation_floor_and_reproducibility():
    # Smallest attainable p of the exact test: 3/3 sites 2/C(6,3) = 0.10, 2/2 2/C(4,2) = 1/3,
    # three modalities of 2: 3!/90.
    assert permutation_floor((3, 3)) == pytest.approx(0.10)
    assert permutation_floor((2, 2)) == pytest.approx(1 / 3)
    assert permutation_floor((2, 2, 2)) == pytest.approx(6 / 90)
    p = parameters_from_icc(icc_site=0.1, icc_participant=0.5, effect=0.6, waves=2,
                            attrition=0.1)
    kw = dict(sites_per_modality=[2, 3], participants=[6], n_simulations=12, seed=7,
              kenward_roger=False)
    serial = power(p, workers=1, **kw)
    parallel = power(p, workers=2, **kw)
    pd.testing.assert_frame_equal(serial.power, parallel.power)
    perm = serial.power[serial.power["method"] == "permutation"]
    pair = perm[perm["contrast"] != "joint"].set_index("sites_per_modality")
    assert pair.loc[2, "min_p"] == pytest.approx(1 / 3)
    assert pair.loc[3, "min_p"] == pytest.approx(0.1)
    # Below alpha is out of reach: no power, an infinite minimum detectable difference.
    assert pair.loc[2, "power"] == 0 and math.isinf(pair.loc[2, "mdd"])
    assert any("cannot give p below 0.333" in n for n in serial.notes)
    # A different seed gives different draws.
    other = power(p, workers=1, **{**kw, "seed": 8, "sites_per_modality": [3],
                                   "permutation": False})
    assert not np.array_equal(other.power["mdd"], serial.power.query(
        "sites_per_modality == 3 and method == 'satterthwaite'")["mdd"])
    assert to_json(serial)["power"][0]["method"] == "satterthwaite"


def test_permutation_mdd_with_common_random_numbers():
    p = parameters_from_icc(icc_site=0.1, icc_participant=0.5, effect=0.5, waves=2)
    res = power(p, sites_per_modality=5, participants=8, n_simulations=40,
                kenward_roger=False, permutation_mdd=True, permutations=99, workers=1, seed=3)
    model = _row(res, "A vs B: wave1 -> wave2", "satterthwaite")
    perm = _row(res, "A vs B: wave1 -> wave2", "permutation")
    # The randomization test uses only site-level variation: it needs a larger difference.
    assert math.isfinite(perm["mdd"]) and perm["mdd"] > 0.9 * model["mdd"]


# -- parameters ---------------------------------------------------------------------------


def test_parameters_from_model_and_results(tmp_path):
    from evalkit.models._toy import toy_collaborative
    from evalkit.results import write_results

    data = toy_collaborative()
    res = modality_model(data, outcome="score", time="wave",
                         time_order=["baseline", "midline", "endline"], group="modality",
                         cluster="site", subject="participant", permutations=None,
                         robust=False)
    p = parameters_from_model(res)
    vc = res.variance_components.set_index("group")["sd"]
    assert p.site_sd == pytest.approx(vc["site"]) and p.residual_sd == pytest.approx(
        vc["Residual"])
    em = res.emmeans.set_index(["modality", "wave"])["emmean"]
    assert p.difference("coaching", "peer", "baseline", "endline") == pytest.approx(
        (em["coaching", "endline"] - em["coaching", "baseline"])
        - (em["peer", "endline"] - em["peer", "baseline"]))
    # A results folder as evalkit analyze writes it (tables with an outcome column).
    scores = data.rename(columns={"site": "site_id", "participant": "respondent_id"})
    scores.insert(0, "outcome", "total")

    def tagged(frame):
        frame = frame.copy()
        frame.insert(0, "outcome", "total")
        return frame

    fit = pd.DataFrame([{"outcome": "total", "n_sites": 6}])
    write_results({"model_variance": tagged(res.variance_components),
                   "model_emmeans": tagged(res.emmeans), "model_fit": fit,
                   "scores": scores}, tmp_path / "results",
                  plan={"model": {"time_order": ["baseline", "midline", "endline"]}},
                  data_hash="x")
    q = parameters_from_results(tmp_path)
    assert q.change == p.change and q.sites_per_modality == (2, 2, 2)
    assert q.participants == pytest.approx(12.0)
    # Attrition: the share of the previous wave's participants missing (toy: about 10%).
    base = set(data.loc[data["wave"] == "baseline", ["site", "participant"]].itertuples(
        index=False, name=None))
    mid = set(data.loc[data["wave"] == "midline", ["site", "participant"]].itertuples(
        index=False, name=None))
    assert q.attrition[0] == pytest.approx(1 - len(base & mid) / len(base))
    with pytest.raises(AnalysisError, match="outcome 'other' has no modality model"):
        parameters_from_results(tmp_path, outcome="other")
    with pytest.raises(AnalysisError, match="no results manifest"):
        parameters_from_results(tmp_path / "nowhere")


def test_user_errors_name_the_parameter():
    p = parameters_from_icc(icc_site=0.1, icc_participant=0.5, effect=0.5)
    with pytest.raises(AnalysisError, match="icc_site <= icc_participant"):
        parameters_from_icc(icc_site=0.6, icc_participant=0.5, effect=0.5)
    with pytest.raises(AnalysisError, match="sites_per_modality must be whole numbers >= 2"):
        power(p, sites_per_modality=[1], participants=10, n_simulations=5, workers=1)
    with pytest.raises(AnalysisError, match="n_simulations"):
        power(p, sites_per_modality=3, participants=10, n_simulations=1, workers=1)
    with pytest.raises(AnalysisError, match="assignment must be 'lot' or 'chosen'"):
        power(p, sites_per_modality=3, participants=10, n_simulations=5,
              assignment="random", workers=1)  # type: ignore[arg-type]
    with pytest.raises(AnalysisError, match="attrition shares must be in"):
        parameters_from_icc(icc_site=0.1, icc_participant=0.5, effect=0.5, attrition=1.0)


def test_detection_summary_finds_the_smallest_design():
    p = parameters_from_icc(icc_site=0.05, icc_participant=0.5, effect=1.0, waves=2,
                            modalities=3)
    s = detection_summary(p, participants=4, n_simulations=40, max_sites=8,
                          sites_per_modality=[4], workers=1, seed=1)
    assert (s.a, s.b) == ("A", "B")  # the largest difference (A vs C ties; first wins)
    assert s.difference == pytest.approx(1.0)
    curve = s.curve.set_index("sites_per_modality")
    assert s.smallest_sites is not None
    assert curve.loc[s.smallest_sites, "power"] >= 0.8
    smaller = curve[curve.index < s.smallest_sites]
    assert (smaller["power"] < 0.8).all()
    assert s.at(4)[1] == pytest.approx(math.sqrt(s.at(4)[0] * (1 - s.at(4)[0]) / 40))
    assert s.to_dict()["smallest_sites"] == s.smallest_sites


# -- command line -------------------------------------------------------------------------

STATED = ["design", "power", "--icc-site", "0.1", "--icc-participant", "0.5", "--effect",
          "0.6", "--sites-per-modality", "2..3", "--participants", "8", "--simulations", "20",
          "--no-kenward-roger", "--workers", "1", "--seed", "4"]


def test_cli_design_power_json_and_figure(tmp_path):
    from typer.testing import CliRunner

    from evalkit.cli import app

    fig = tmp_path / "power.png"
    result = CliRunner().invoke(app, [*STATED, "--json", "--figure", str(fig)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) == {"parameters", "settings", "power", "notes"}
    assert out["parameters"]["modalities"] == ["A", "B"]
    pair = [r for r in out["power"] if r["method"] == "permutation" and r["contrast"] != "joint"]
    assert [(r["sites_per_modality"], round(r["min_p"], 3)) for r in pair] == [(2, 0.333),
                                                                             (3, 0.1)]
    assert pair[0]["mdd"] == "inf" and pair[0]["power"] == 0
    assert fig.stat().st_size > 10_000 and fig.read_bytes()[:4] == b"\x89PNG"
    # The same seed gives the same figures as the library.
    lib = power(parameters_from_icc(icc_site=0.1, icc_participant=0.5, effect=0.6),
                sites_per_modality=[2, 3], participants=[8], n_simulations=20,
                kenward_roger=False, workers=1, seed=4)
    assert [r["power"] for r in out["power"]] == pytest.approx(lib.power["power"].tolist())


def test_cli_design_power_table_notes_and_errors(tmp_path):
    from typer.testing import CliRunner

    from evalkit.cli import app

    runner = CliRunner()
    result = runner.invoke(app, STATED)
    assert result.exit_code == 0, result.output
    assert "A vs B: wave1 -> wave2" in result.output
    assert "cannot give p below 0.333" in result.output
    assert "Simulated from stated: ICC site 0.1, ICC participant 0.5, effect 0.6" in \
        result.output
    bad = runner.invoke(app, ["design", "power", "--icc-site", "0.1", "--sites-per-modality",
                              "3..4"])
    assert bad.exit_code == 1
    assert bad.output.strip() == ("error: give --project, or state the parameters: missing "
                                  "--icc-participant, --effect")
    bad = runner.invoke(app, [*STATED, "--sites-per-modality", "5..x"])
    assert bad.exit_code == 1
    assert "error: --sites-per-modality: expected a range such as 3..12" in bad.output
    bad = runner.invoke(app, ["design", "power", "-p", str(tmp_path)])
    assert bad.exit_code == 1 and "no results manifest" in bad.output
