"""evalkit.reliability against psych (tests/reference/reliability: make_reference.R).

Oracle: R 4.2.2, psych 2.2.9 -- psych::alpha(x, keys = reverse) with its default
use = "pairwise", and psych::omega(x, nfactors = 1) (fm = "minres"). No R runs at test time.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import AnalysisError
from evalkit.reliability import cronbach_alpha, item_statistics, mcdonald_omega

REF_DIR = Path(__file__).parent / "reference" / "reliability"
REF = json.loads((REF_DIR / "reference.json").read_text())

EXACT = 1e-10  # closed-form quantities (R writes 15 significant digits)
# psych's minres stops its L-BFGS-B search early; evalkit iterates to the exact minimum:
OMEGA_PSYCH = 1e-6  # omega.tot  (observed differences <= 2.1e-7)
OMEGA_H_PSYCH = 1e-5  # omega_h  (observed <= 2.7e-6)
LOADING_PSYCH = 1e-4  # loadings (observed <= 1.6e-5)

COMPLETE = pd.read_csv(REF_DIR / "alpha_complete.csv")
MISSING = pd.read_csv(REF_DIR / "alpha_missing.csv")
ITEMS6 = [f"q{i}" for i in range(1, 7)]

CASES = {
    "complete_reversed": (COMPLETE, ["q1", "q2", "q3", "q4", "q5"], ["q4"], "pairwise"),
    "complete_plain": (COMPLETE, ["q1", "q2", "q3", "q5"], [], "pairwise"),
    # R got the data without the empty row M018 here, so evalkit is asked to drop it too
    "missing_pairwise": (MISSING, ITEMS6, ["q6"], "pairwise"),
    "missing_listwise": (MISSING, ITEMS6, ["q6"], "listwise"),
    # R got every row (psych counts the empty one in n): evalkit's default
    "missing_pairwise_all_rows": (MISSING, ITEMS6, ["q6"], "pairwise"),
}
EMPTY_ROWS = {"missing_pairwise": "drop"}


def alpha_of(name: str):
    data, items, reverse, missing = CASES[name]
    return cronbach_alpha(data, items=items, reverse=reverse, missing=missing,
                          empty_rows=EMPTY_ROWS.get(name, "count"))  # type: ignore[arg-type]


def close(actual: float, expected: float, tol: float) -> bool:
    return abs(actual - expected) <= tol * max(1.0, abs(expected))


@pytest.mark.parametrize("name", list(CASES))
def test_alpha_matches_psych(name: str) -> None:
    # R: psych::alpha(x, keys = reverse); listwise case: psych::alpha(na.omit(x), ...)
    ref = REF[name]
    res = alpha_of(name)
    assert res.n == ref["n"] and res.n_items == ref["nvar"]
    for ours, theirs in [("raw_alpha", "raw_alpha"), ("std_alpha", "std_alpha"), ("g6", "g6"),
                         ("average_r", "average_r"), ("ase", "ase"),
                         ("total_mean", "total_mean"), ("total_sd", "total_sd")]:
        assert close(getattr(res, ours), ref[theirs], EXACT), ours
    # R: psych::alpha(...)$feldt  (alpha.ci, F distribution)
    assert close(res.feldt_ci_low, ref["feldt"]["low"], EXACT)
    assert close(res.feldt_ci_high, ref["feldt"]["high"], EXACT)
    # R: raw_alpha -/+ 1.96 * ase as print.psych shows; evalkit uses qnorm(0.975) = 1.95996
    assert close(res.duhachek_ci_low, ref["duhachek"]["low"], 5e-5 * ref["ase"])
    assert close(res.duhachek_ci_high, ref["duhachek"]["high"], 5e-5 * ref["ase"])
    z = 1.959963984540054
    assert close(res.duhachek_ci_low, ref["raw_alpha"] - z * ref["ase"], EXACT)


@pytest.mark.parametrize("name", list(CASES))
def test_item_statistics_match_psych(name: str) -> None:
    # R: psych::alpha(...)$item.stats and $alpha.drop
    ref = REF[name]
    res = alpha_of(name)
    stats = res.item_stats
    assert stats["item"].tolist() == ref["items"]
    assert stats["n"].tolist() == ref["item_stats"]["n"]
    for col in ("raw_r", "std_r", "r_cor", "r_drop", "mean", "sd"):
        np.testing.assert_allclose(stats[col], ref["item_stats"][col], rtol=0, atol=EXACT,
                                   err_msg=col)
    np.testing.assert_allclose(stats["alpha_if_dropped"], ref["alpha_drop"]["raw_alpha"],
                               rtol=0, atol=EXACT)
    assert res.alpha_if_dropped == dict(zip(stats["item"], stats["alpha_if_dropped"],
                                            strict=True))


@pytest.mark.parametrize("name", list(CASES))
def test_omega_matches_psych(name: str) -> None:
    # R: psych::omega(x_reversed, nfactors = 1)$omega.tot / $omega_h / $schmid$sl[, 1]
    # and the same one-factor minres solved to convergence in R (iterated principal axes)
    data, items, reverse, missing = CASES[name]
    ref = REF[name]
    res = mcdonald_omega(data, items=items, reverse=reverse, missing=missing)
    assert close(res.omega_total, ref["omega"]["omega_tot"], OMEGA_PSYCH)
    assert close(res.omega_h, ref["omega"]["omega_h"], OMEGA_H_PSYCH)
    np.testing.assert_allclose(res.loadings["loading"], ref["omega"]["loadings"], rtol=0,
                               atol=LOADING_PSYCH)
    np.testing.assert_allclose(res.loadings["uniqueness"], ref["omega"]["u2"], rtol=0,
                               atol=2 * LOADING_PSYCH)
    conv = ref["omega_converged"]
    assert close(res.omega_total, conv["omega_tot"], EXACT)
    assert close(res.omega_h, conv["omega_h"], EXACT)
    np.testing.assert_allclose(res.loadings["loading"], conv["loadings"], rtol=0, atol=1e-9)
    alpha = alpha_of(name)
    assert alpha.omega_total == res.omega_total and alpha.omega_h == res.omega_h


def test_omega_does_not_depend_on_reversal() -> None:
    # psych::omega flips items that load negatively, so reversing q4 first changes nothing
    items = ["q1", "q2", "q3", "q4", "q5"]
    a = mcdonald_omega(COMPLETE, items=items, reverse=["q4"])
    b = mcdonald_omega(COMPLETE, items=items)
    assert close(a.omega_total, b.omega_total, 1e-12)
    assert b.loadings.set_index("item").loc["q4", "loading"] < 0


def test_respondents_without_answers_count_in_n_as_in_psych() -> None:
    # Issue 16 (2). R: psych 2.2.9 alpha(x, keys = 'q6') on alpha_missing.csv with its empty
    # row M018: n = nrow(x) = 150 in the ase (sqrt(Q / n)) and in alpha.ci (Feldt); alpha
    # itself does not change. empty_rows="drop" reproduces alpha() on the 149 other rows.
    assert MISSING[ITEMS6].isna().all(axis=1).sum() == 1
    every = REF["missing_pairwise_all_rows"]
    without = REF["missing_pairwise"]
    assert (every["n"], every["n_empty"], without["n"]) == (150, 1, 149)
    res = cronbach_alpha(MISSING, items=ITEMS6, reverse=["q6"])
    assert (res.n, res.n_rows, res.n_empty, res.n_dropped) == (150, 150, 1, 0)
    assert close(res.ase, every["ase"], EXACT)
    assert close(res.feldt_ci_low, every["feldt"]["low"], EXACT)
    assert close(res.feldt_ci_high, every["feldt"]["high"], EXACT)
    dropped = cronbach_alpha(MISSING, items=ITEMS6, reverse=["q6"], empty_rows="drop")
    assert (dropped.n, dropped.n_empty, dropped.n_dropped) == (149, 1, 1)
    assert close(dropped.ase, without["ase"], EXACT)
    assert abs(res.ase - dropped.ase) > 5e-5  # sqrt(150 / 149): a 0.3% wider ase
    assert dropped.raw_alpha == res.raw_alpha


def test_listwise_reports_the_rows_it_dropped() -> None:
    # Issue 16 (3). R: alpha(na.omit(x), keys = 'q6'): 101 complete rows of 150, 49 dropped
    ref = REF["missing_listwise"]
    listwise = cronbach_alpha(MISSING, items=ITEMS6, reverse=["q6"], missing="listwise")
    assert (listwise.n, listwise.n_rows, listwise.n_dropped) == (
        ref["n"], ref["n_rows"], ref["n_dropped"]) == (101, 150, 49)
    pairwise = cronbach_alpha(MISSING, items=ITEMS6, reverse=["q6"])
    assert listwise.raw_alpha != pairwise.raw_alpha


def test_forgotten_reverse_item_is_warned_about_as_psych_does() -> None:
    # Issue 16 (3). R: psych 2.2.9 alpha(x) on alpha_complete.csv without keys: "Some items
    # ( q4 ) were negatively correlated with the total scale and probably should be
    # reversed"; its rule is a negative loading on principal(x)'s first component.
    ref = REF["forgotten_reverse"]
    assert ref["flagged"] == ["q4"]
    assert "negatively correlated with the total scale" in ref["warning"]
    items = ref["items"]
    res = cronbach_alpha(COMPLETE, items=items)
    assert close(res.raw_alpha, ref["raw_alpha"], EXACT)
    r_drop = dict(zip(items, ref["r_drop"], strict=True))["q4"]
    drop = dict(zip(items, ref["alpha_drop"], strict=True))["q4"]
    assert res.warnings == (
        f"item 'q4' correlates negatively with the total of the other items "
        f"(r = {r_drop:.3f}) and probably should be reversed: alpha is "
        f"{ref['raw_alpha']:.3f} with it as it is, {drop:.3f} without it",)
    assert res.warnings[0].startswith("item 'q4' correlates negatively") and "0.680" in \
        res.warnings[0]
    # psych's principal() loadings, same orientation (exact up to the eigen solver)
    from evalkit.reliability._psych import cov2cor, first_component_loadings
    r = cov2cor(COMPLETE[items].cov().to_numpy())
    np.testing.assert_allclose(first_component_loadings(r), ref["loadings"], atol=1e-10)
    # no warning: psych gives none without q4, and none once q4 is reversed
    assert REF["no_negative_item"]["warning"] is None
    assert cronbach_alpha(COMPLETE, items=["q1", "q2", "q3", "q5"]).warnings == ()
    assert cronbach_alpha(COMPLETE, items=items, reverse=["q4"]).warnings == ()


def test_empty_rows_option_is_checked() -> None:
    with pytest.raises(AnalysisError, match="empty_rows must be 'count' or 'drop'; received "
                                            "'keep'"):
        cronbach_alpha(COMPLETE, items=["q1", "q2"], empty_rows="keep")  # type: ignore


def test_reverse_with_scale_range() -> None:
    # The observed range is the full 1-5 scale here, so psych's rule and the scale agree
    items = ["q1", "q2", "q3", "q4", "q5"]
    a = cronbach_alpha(COMPLETE, items=items, reverse=["q4"], scale_min=1, scale_max=5)
    assert close(a.raw_alpha, REF["complete_reversed"]["raw_alpha"], EXACT)
    assert close(a.item_stats.loc[3, "mean"], 6 - COMPLETE["q4"].mean(), EXACT)
    # A wider declared scale (0-6) moves reversed means, not alpha
    b = cronbach_alpha(COMPLETE, items=items, reverse=["q4"], scale_min=0, scale_max=6)
    assert close(b.raw_alpha, a.raw_alpha, EXACT)
    assert close(b.item_stats.loc[3, "mean"], 6 - COMPLETE["q4"].mean(), EXACT)
    c = cronbach_alpha(COMPLETE, items=items, reverse=["q4"], scale_min=1, scale_max=7)
    assert close(c.item_stats.loc[3, "mean"], 8 - COMPLETE["q4"].mean(), EXACT)


def test_two_items() -> None:
    # Hand calculation: alpha = k / (k - 1) * (1 - trace(C) / sum(C)) with k = 2
    data = pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [2, 1, 4, 3, 5]})
    res = cronbach_alpha(data, items=["a", "b"])
    c = np.cov(data["a"], data["b"])
    assert close(res.raw_alpha, 2 * (1 - np.trace(c) / c.sum()), 1e-12)
    assert res.omega_total is None and res.omega_h is None
    assert all(math.isnan(v) for v in res.alpha_if_dropped.values())


def test_item_statistics_by_hand() -> None:
    data = pd.DataFrame({
        "q1": [1, 1, 2, 5, np.nan, 3],
        "q2": [5, 5, 5, 4, 3, 5],
        "q3": [np.nan] * 6,
    })
    stats = item_statistics(data, items=["q1", "q2", "q3"], scale_min=1, scale_max=5)
    assert list(stats.columns) == ["item", "n", "n_missing", "mean", "sd", "floor_share",
                                   "ceiling_share"]
    q1, q2, q3 = (stats.iloc[i] for i in range(3))
    # q1 answers 1, 1, 2, 5, 3: mean 12/5, var ((1.4^2)*2 + 0.4^2 + 2.6^2 + 0.6^2)/4 = 2.8
    assert (q1["n"], q1["n_missing"]) == (5, 1)
    assert close(q1["mean"], 2.4, 1e-12) and close(q1["sd"], math.sqrt(2.8), 1e-12)
    assert close(q1["floor_share"], 2 / 5, 1e-12) and close(q1["ceiling_share"], 1 / 5, 1e-12)
    # q2 answers 5, 5, 5, 4, 3, 5: four of six at the ceiling, none at the floor
    assert close(q2["ceiling_share"], 4 / 6, 1e-12) and q2["floor_share"] == 0
    assert close(q2["mean"], 27 / 6, 1e-12)
    assert q3["n"] == 0 and q3["n_missing"] == 6 and math.isnan(q3["floor_share"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"items": ["q1", "qq"]},
         "item column 'qq' not found in data; columns are ['respondent', 'q1', 'q2', 'q3', "
         "'q4', 'q5']"),
        ({"items": ["q1"]}, "items must name at least 2 columns; received ['q1']"),
        ({"items": "q1"}, "items must be a list of column names; received str"),
        ({"reverse": ["q9"]},
         "reverse item 'q9' is not among items ['q1', 'q2', 'q3', 'q4', 'q5']"),
        ({"scale_min": 1}, "scale_min and scale_max must be given together; received "
                           "scale_min=1, scale_max=None"),
        ({"scale_min": 2, "scale_max": 5},
         "item 'q1' has values outside the scale 2 to 5: [1.0] (first in row 2)"),
        ({"missing": "available"},
         "missing must be 'pairwise' or 'listwise'; received 'available'"),
        ({"items": ["q1", "respondent"]},
         "item column 'respondent' must be numeric; found 'A001' in row 0"),
    ],
)
def test_validation_messages(kwargs: dict, message: str) -> None:
    args = {"items": ["q1", "q2", "q3", "q4", "q5"]} | kwargs
    with pytest.raises(AnalysisError) as err:
        cronbach_alpha(COMPLETE, **args)
    assert str(err.value) == message


def test_constant_item_is_an_error() -> None:
    data = COMPLETE.assign(q5=3)
    with pytest.raises(AnalysisError, match=r"^item 'q5' has no variance \(120 answers, "
                       r"values \[3.0\]\); drop it from items$"):
        cronbach_alpha(data, items=["q1", "q2", "q5"])


def test_omega_needs_three_items() -> None:
    with pytest.raises(AnalysisError, match="items must name at least 3 columns"):
        mcdonald_omega(COMPLETE, items=["q1", "q2"])


# --------------------------------------------------------------------------------------------
# evalkit reliability (CLI): pairwise by default, rows dropped, negative-item warning
# --------------------------------------------------------------------------------------------


def _cli(args: list[str]):
    from typer.testing import CliRunner

    from evalkit.cli import app

    return CliRunner().invoke(app, ["reliability", *args])


def test_cli_defaults_to_pairwise_like_the_api_and_psych() -> None:
    # R: psych::alpha(x, keys = 'q6') on every row of alpha_missing.csv (n = 150)
    ref = REF["missing_pairwise_all_rows"]
    result = _cli([str(REF_DIR / "alpha_missing.csv"), "--items", ",".join(ITEMS6),
                   "--reverse", "q6", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["missing"], out["n"], out["n_rows"], out["n_empty"], out["n_dropped"]) == (
        "pairwise", 150, 150, 1, 0)
    assert close(out["raw_alpha"], ref["raw_alpha"], EXACT)
    assert close(out["alpha_ci"]["ci_low"], ref["feldt"]["low"], EXACT)
    assert out["warnings"] == []
    text = _cli([str(REF_DIR / "alpha_missing.csv"), "--items", ",".join(ITEMS6),
                 "--reverse", "q6"]).output
    assert text.splitlines()[0] == (
        "n = 150 (pairwise; 1 respondent(s) who answered no item count in n, as in psych), "
        "6 items")


def test_cli_listwise_says_how_many_rows_it_dropped() -> None:
    # R: alpha(na.omit(x), keys = 'q6'): 101 of 150 rows
    ref = REF["missing_listwise"]
    args = [str(REF_DIR / "alpha_missing.csv"), "--items", ",".join(ITEMS6), "--reverse", "q6",
            "--missing", "listwise"]
    out = json.loads(_cli([*args, "--json"]).output)
    assert (out["n"], out["n_dropped"]) == (ref["n"], ref["n_dropped"])
    assert close(out["raw_alpha"], ref["raw_alpha"], EXACT)
    assert _cli(args).output.splitlines()[0] == (
        "n = 101 (listwise: 49 of 150 rows dropped for a missing answer), 6 items")


def test_cli_prints_the_negative_item_warning() -> None:
    # R: psych::alpha(x) without keys warns about q4 (see the library test above)
    ref = REF["forgotten_reverse"]
    args = [str(REF_DIR / "alpha_complete.csv"), "--items", ",".join(ref["items"])]
    out = json.loads(_cli([*args, "--json"]).output)
    assert len(out["warnings"]) == 1 and out["warnings"][0].startswith("item 'q4'")
    result = _cli(args)
    assert result.exit_code == 0
    warned = [line for line in result.output.splitlines() if line.startswith("Warning:")]
    assert warned == [f"Warning: {out['warnings'][0]}"]
