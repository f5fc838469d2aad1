"""Unit tests of :mod:`evalkit.findings` on small synthetic results folders.

Every test writes only the result tables it needs (with the columns ``evalkit analyze``
writes) into ``tmp_path`` with :func:`evalkit.results.write_results` and reads the findings
back. The expected words and numbers are worked out by hand from the tables in each test
(stated in the comments next to them); they are the oracles, never computed with evalkit.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from evalkit.findings import DecisionRule, build_findings
from evalkit.results import read_results, write_results

WAVES = [{"id": "t0", "label": "Baseline"}, {"id": "t1", "label": "Endline"}]
PLAN = {"compare": {"pre": "t0", "post": "t1"}}
# Direction words of our own (not evalkit's lists) to check that no direction is claimed.
DIRECTION_WORDS = re.compile(r"\b(rose|grew|higher|gains?|improved|stronger|fell|declined|"
                             r"lower|weaker|dropped|same direction|opposite direction)\b")


def _results(tmp_path, tables, *, plan=None, modalities=None, waves=None, **extra):
    """Write a results folder with the manifest entries ``evalkit analyze`` records."""
    manifest = {"suppression_threshold": 11, "collaborative": "Test collaborative",
                "waves": waves or WAVES,
                "modalities": modalities or [{"id": "x", "label": "X"}], **extra}
    write_results(tables, tmp_path / "results", plan=plan or PLAN, data_hash="test",
                  extra=manifest)
    return read_results(tmp_path / "results")


def _outcomes(*rows):
    """The outcomes table: (id, label, instrument, design)."""
    return pd.DataFrame({
        "id": [r[0] for r in rows], "label": [r[1] for r in rows],
        "instrument": [r[2] for r in rows], "scale": ["total"] * len(rows),
        "design": [r[3] for r in rows], "model": [False] * len(rows),
        "scale_min": [1] * len(rows), "scale_max": [5] * len(rows),
        "method": ["mean"] * len(rows)})


def _instruments(*rows):
    """The instruments table: (instrument, title, respondent, n_items, waves_with_data)."""
    return pd.DataFrame({
        "instrument": [r[0] for r in rows], "title": [r[1] for r in rows],
        "respondent": [r[2] for r in rows], "n_items": [r[3] for r in rows],
        "waves": ["t0,t1"] * len(rows), "waves_with_data": [r[4] for r in rows],
        "n_responses": [0 if not r[4] else 50 for r in rows]})


def _prepost(*rows):
    """Pre/post rows: dicts with outcome, level, ... (missing keys None)."""
    cols = ["outcome", "design", "level", "site_id", "modality", "n_pairs", "n_pre", "n_post",
            "mean_pre", "mean_post", "mean_diff", "ci_low", "ci_high", "p"]
    frame = pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)
    for c in cols[5:]:
        frame[c] = frame[c].astype("float64")
    return frame


def _sites(per_modality):
    """``{modality: n}`` -> sites table with ids ``<modality>1..n``, names ``Site <id>``."""
    ids = [(f"{m}{i}", m) for m, n in per_modality.items() for i in range(1, n + 1)]
    return pd.DataFrame({"site_id": [s for s, _ in ids], "name": [f"Site {s}" for s, _ in ids],
                         "modality": [m for _, m in ids]})


def _one(f, **where):
    sub = f
    for k, v in where.items():
        sub = sub[sub[k] == v]
    assert len(sub) == 1, f"expected one finding with {where}, got {len(sub)}"
    return sub.iloc[0]


def _text(row):
    return f"{row['headline']} {row['sentence']}"


# 1. Direction words and cited numbers ----------------------------------------------------

def _three_changes(tmp_path):
    tables = {
        "sites": _sites({"x": 2}),
        "outcomes": _outcomes(("up", "Trust", "team", "matched"),
                              ("down", "Shared goals", "team", "matched"),
                              ("flat", "Data use", "team", "matched")),
        "instruments": _instruments(("team", "Team survey", "participant", 12, "t0,t1")),
        "prepost": _prepost(
            dict(outcome="up", design="matched", level="collaborative", n_pairs=40,
                 mean_pre=3.10, mean_post=3.50, mean_diff=0.40, ci_low=0.20, ci_high=0.60,
                 p=0.00002),
            dict(outcome="down", design="matched", level="collaborative", n_pairs=38,
                 mean_pre=3.60, mean_post=3.35, mean_diff=-0.25, ci_low=-0.41, ci_high=-0.09,
                 p=0.0432),
            dict(outcome="flat", design="matched", level="collaborative", n_pairs=39,
                 mean_pre=3.00, mean_post=3.05, mean_diff=0.05, ci_low=-0.10, ci_high=0.20,
                 p=0.52)),
    }
    return build_findings(_results(tmp_path, tables))


def test_rising_change_says_rose_and_cites_the_table(tmp_path):
    row = _one(_three_changes(tmp_path), kind="change", outcome="up")
    # +0.40 with 95% CI +0.20 to +0.60 (excludes 0): "rose"; p 0.00002 < 0.001.
    assert row["headline"] == "Trust rose across the collaborative."
    assert row["sentence"] == (
        "Among the 40 site-team members who answered at both baseline and endline, their "
        "mean trust score went from 3.10 to 3.50 on a 1-to-5 scale, a change of +0.40 "
        "(95% CI +0.20 to +0.60; p < 0.001).")
    assert (row["direction"], bool(row["clear"]), row["grade"]) == ("up", True, "measured")
    assert (row["estimate"], row["ci_low"], row["ci_high"], row["n"]) == (0.40, 0.20, 0.60, 40)
    assert json.loads(row["numbers"])["mean_post"] == 3.50


def test_falling_change_says_fell_and_cites_the_table(tmp_path):
    row = _one(_three_changes(tmp_path), kind="change", outcome="down")
    # -0.25, CI -0.41 to -0.09 (excludes 0): "fell"; p 0.0432 -> "p = 0.043".
    assert row["headline"] == "Shared goals fell across the collaborative."
    assert row["sentence"] == (
        "Among the 38 site-team members who answered at both baseline and endline, their "
        "mean shared goals score went from 3.60 to 3.35 on a 1-to-5 scale, a change of -0.25 "
        "(95% CI -0.41 to -0.09; p = 0.043).")
    assert row["direction"] == "down"


def test_null_change_does_not_claim_a_direction(tmp_path):
    row = _one(_three_changes(tmp_path), kind="change", outcome="flat")
    # +0.05, CI -0.10 to +0.20 includes 0: "did not clearly change", p 0.52 -> "p = 0.520".
    assert row["headline"] == "Data use did not clearly change across the collaborative."
    assert row["sentence"] == (
        "Among the 39 site-team members who answered at both baseline and endline, their "
        "mean data use score went from 3.00 to 3.05 on a 1-to-5 scale, a change of +0.05 "
        "(95% CI -0.10 to +0.20; p = 0.520). The interval includes zero, so the data cannot "
        "tell a change apart from none.")
    assert not bool(row["clear"])
    assert not DIRECTION_WORDS.search(_text(row))


def test_p_values_are_never_written_as_p_equals_less_than_or_four_zeros(tmp_path):
    f = _three_changes(tmp_path)
    for text in f["headline"].fillna("") + " " + f["sentence"].fillna(""):
        assert "p = <" not in text
        assert "0.0000" not in text


# 2. Small site rows cite no number ----------------------------------------------------------

@pytest.mark.parametrize("small", [
    # matched: 6 pairs < 11
    dict(design="matched", n_pairs=6),
    # anonymous samples: 20 before, 6 after (< 11)
    dict(design="independent", n_pre=20, n_post=6),
])
def test_site_row_below_threshold_cites_no_number(tmp_path, small):
    design = small["design"]
    counts = {k: v for k, v in small.items() if k != "design"}
    big = dict(n_pairs=40) if design == "matched" else dict(n_pre=45, n_post=44)
    tables = {
        "sites": pd.DataFrame({"site_id": ["A", "B"], "name": ["Site North", "Site South"],
                               "modality": ["x", "x"]}),
        "outcomes": _outcomes(("trust", "Trust", "team", design)),
        "prepost": _prepost(
            dict(outcome="trust", design=design, level="collaborative", **big,
                 mean_pre=3.10, mean_post=3.50, mean_diff=0.40, ci_low=0.20, ci_high=0.60,
                 p=0.001),
            dict(outcome="trust", design=design, level="site", site_id="B", modality="x",
                 **counts, mean_pre=3.47, mean_post=3.81, mean_diff=0.34, ci_low=0.12,
                 ci_high=0.56, p=0.008)),
    }
    f = build_findings(_results(tmp_path, tables))
    row = _one(f, kind="change", level="site", site_id="B")
    assert row["grade"] == "suppressed"
    assert row["headline"] == "Trust: too few answers to report at Site South."
    # The only number left is the threshold (11): no 3.47, 3.81, 0.34, 6, 20 or p.
    assert re.findall(r"\d+(?:\.\d+)?", _text(row)) == ["11"]
    assert all(row[c] is None or math.isnan(row[c])
               for c in ("estimate", "ci_low", "ci_high", "p", "n"))
    assert json.loads(row["numbers"]) == {}
    # ... nor does any other finding cite the small site's numbers.
    others = " ".join(_text(r) for _, r in f.iterrows())
    for cited in ("3.47", "3.81", "0.34", "0.008"):
        assert cited not in others


# 3. Modality comparison: grade and recommendation ---------------------------------------

MODALITIES = [{"id": "coaching", "label": "TA and coaching"},
              {"id": "peer", "label": "Peer learning"},
              {"id": "visits", "label": "Site visits"}]


def _emmeans(changes, waves=("t0", "t1")):
    """Every modality starts at 3.00 at the first wave and ends at 3.00 + change."""
    rows = []
    for m, ch in changes.items():
        for i, w in enumerate(waves):
            rows.append({"outcome": "trust", "modality": m, "wave": w,
                         "emmean": 3.0 if i == 0 else 3.0 + ch, "se": 0.05, "df": 20.0,
                         "lower": 2.9, "upper": 3.1})
    return pd.DataFrame(rows)


def _contrasts(rows, span=("t0", "t1")):
    """Rows (a, b, estimate, lower, upper, p_adjusted): change under a minus under b."""
    return pd.DataFrame([{"outcome": "trust", "a": a, "b": b, "from": span[0], "to": span[1],
                          "estimate": e, "se": 0.07, "df": 20.0, "t": e / 0.07, "p": p,
                          "lower": lo, "upper": hi, "p_adjusted": p}
                         for a, b, e, lo, hi, p in rows])


def _robust(rows, span=("t0", "t1")):
    """Rows (a, b, p) of CR2 change contrasts."""
    return pd.DataFrame([{"outcome": "trust", "kind": "change_contrast",
                          "term": f"change {span[0]} -> {span[1]}: {a} vs {b}", "a": a, "b": b,
                          "from": span[0], "to": span[1], "estimate": 0.1, "se": 0.05,
                          "df": 10.0, "t": 2.0, "p": p} for a, b, p in rows])


# +0.40 under peer (best), +0.20 under coaching (runner-up), +0.10 under visits.
CHANGES = {"coaching": 0.20, "peer": 0.40, "visits": 0.10}
# As the model writes them, a before b: (coaching, peer) is coaching minus peer, so peer
# minus coaching is +0.20, 95% CI +0.05 to +0.35; peer minus visits +0.30 (+0.15 to +0.45).
CLEAR_CONTRASTS = [("coaching", "peer", -0.20, -0.35, -0.05, 0.012),
                   ("coaching", "visits", 0.10, -0.05, 0.25, 0.19),
                   ("peer", "visits", 0.30, 0.15, 0.45, 0.003)]


def _modality_results(tmp_path, *, changes=CHANGES, contrasts=CLEAR_CONTRASTS, perm_p=0.067,
                      min_p=0.002, inter_p=0.021, robust=None, sites_per=4, plan=None,
                      modalities=MODALITIES, rule=None):
    tables = {
        "sites": _sites(dict.fromkeys(changes, sites_per)),
        "outcomes": _outcomes(("trust", "Trust", "team", "matched")),
        "model_emmeans": _emmeans(changes),
        "model_contrasts": _contrasts(contrasts),
        "model_interaction": pd.DataFrame({"outcome": ["trust"], "f": [4.2], "df1": [2.0],
                                           "df2": [30.0], "p": [inter_p]}),
        "model_permutation": pd.DataFrame({"outcome": ["trust"], "statistic": [4.0],
                                           "p": [perm_p], "n_permutations": [5000],
                                           "exact": [False], "min_p": [min_p],
                                           "n_relabelings": [34650.0]}),
        "model_fit": pd.DataFrame({"outcome": ["trust"], "df_method": ["satterthwaite"]}),
    }
    if robust is not None:
        tables["model_robust"] = robust
    f = build_findings(_results(tmp_path, tables, plan=plan, modalities=modalities), rule=rule)
    return (_one(f, kind="modality_comparison", outcome="trust"),
            _one(f, kind="recommendation", outcome="trust"), f)


def test_modality_changes_are_said_from_the_model(tmp_path):
    _, _, f = _modality_results(tmp_path)
    peer = _one(f, kind="modality_change", modality="peer")
    # peer: 3.00 -> 3.40, +0.40.
    assert peer["headline"] == "Peer learning: rose by 0.40 points."
    assert peer["sentence"] == ("Under peer learning, the model's estimate of the trust score "
                                "rose by 0.40 points from baseline to endline (3.00 to 3.40).")


def test_modality_comparison_promising_recommends_the_best(tmp_path):
    comp, rec, _ = _modality_results(tmp_path)
    # Both contrasts of peer exclude 0 and are positive, permutation p 0.067 <= 0.10, but
    # 0.067 > 0.05 so not firm: "promising", recommended.
    assert comp["grade"] == "promising"
    assert comp["modality"] == "peer"
    assert comp["headline"] == "Peer learning showed the largest gain in the trust score."
    # Runner-up is coaching (+0.20); the contrast (coaching, peer) flipped: +0.20 (+0.05..+0.35).
    assert (comp["estimate"], comp["ci_low"], comp["ci_high"], comp["p"]) == \
        pytest.approx((0.20, 0.05, 0.35, 0.012))
    assert comp["sentence"].startswith(
        "For the trust score, scores under peer learning rose by 0.40 points from baseline to "
        "endline, against a rise of 0.20 under TA and coaching and a rise of 0.10 under site "
        "visits (the model's estimates). Compared with TA and coaching, that is +0.20 points "
        "(95% CI +0.05 to +0.35; Holm-adjusted p = 0.012). The model's joint test of any "
        "difference in change between the approaches gives p = 0.021. The site-level "
        "randomization test, which compares whole sites, gives p = 0.067; with 12 sites it "
        "cannot go below 0.002.")
    assert bool(rec["recommended"]) is True
    assert rec["grade"] == "promising"
    assert rec["headline"] == "Recommend peer learning"
    assert rec["sentence"].startswith("Offer peer learning")
    assert "p = 0.067, at most 0.10" in rec["sentence"]


def test_modality_comparison_weak_when_site_level_test_does_not_support(tmp_path):
    comp, rec, _ = _modality_results(tmp_path, perm_p=0.30)
    # Model CIs exclude 0, permutation p 0.30 > 0.10: "weak", not recommended, and why.
    assert comp["grade"] == "weak"
    assert bool(rec["recommended"]) is False
    assert rec["headline"] == "No approach recommended yet"
    assert not rec["sentence"].startswith("Offer")
    assert ("the site-level randomization test gives p = 0.300, above 0.10"
            in rec["sentence"])


def test_modality_comparison_inconclusive_when_a_contrast_ci_includes_zero(tmp_path):
    # (coaching, peer) -0.20 with CI -0.45 to +0.05: peer minus coaching +0.20, -0.05..+0.45.
    contrasts = [("coaching", "peer", -0.20, -0.45, 0.05, 0.09), *CLEAR_CONTRASTS[1:]]
    comp, rec, _ = _modality_results(tmp_path, contrasts=contrasts)
    assert comp["grade"] == "inconclusive"
    assert bool(rec["recommended"]) is False
    assert rec["grade"] == "inconclusive"
    assert ("the model's 95% CI for peer learning against TA and coaching includes 0 "
            "(-0.05 to +0.45)") in rec["sentence"]


NEGATIVE = {"coaching": -0.30, "peer": -0.10}
# peer minus coaching: -0.10 - (-0.30) = +0.20, stored as (coaching, peer) -0.20.
NEGATIVE_CONTRASTS = [("coaching", "peer", -0.20, -0.35, -0.05, 0.01)]


def test_modality_comparison_all_falling_is_not_recommended(tmp_path):
    comp, rec, f = _modality_results(tmp_path, changes=NEGATIVE, contrasts=NEGATIVE_CONTRASTS,
                                     perm_p=0.05, modalities=MODALITIES[:2])
    assert comp["headline"] == "The trust score fell under every approach, least under peer " \
                               "learning."
    assert bool(rec["recommended"]) is False
    assert pd.isna(rec["modality"])
    assert "the trust score did not improve under any approach" in rec["sentence"]
    # -0.10 under peer: "fell by 0.10 points".
    assert _one(f, kind="modality_change", modality="peer")["headline"] == \
        "Peer learning: fell by 0.10 points."


def test_all_falling_does_not_say_the_site_level_test_fails_to_confirm(tmp_path):
    comp, _, _ = _modality_results(tmp_path, changes=NEGATIVE, contrasts=NEGATIVE_CONTRASTS,
                                   perm_p=0.05, modalities=MODALITIES[:2])
    assert "p = 0.050" in comp["sentence"]
    assert "does not confirm" not in comp["sentence"]


# Robust (CR2) p < 0.05 for peer against each other modality.
ROBUST_OK = [("coaching", "peer", 0.01), ("coaching", "visits", 0.40), ("peer", "visits", 0.002)]


def test_modality_comparison_firm_needs_everything_and_five_sites(tmp_path):
    # Decision holds, interaction 0.004 < 0.05, permutation 0.03 <= 0.05, robust p 0.01 and
    # 0.002 < 0.05, 5 sites per modality >= 5: "firm".
    comp, rec, _ = _modality_results(tmp_path, perm_p=0.03, inter_p=0.004,
                                     robust=_robust(ROBUST_OK), sites_per=5)
    assert comp["grade"] == "firm"
    assert rec["grade"] == "firm" and bool(rec["recommended"])
    assert "The evidence is firm" in comp["sentence"]


def test_modality_comparison_with_four_sites_is_never_firm(tmp_path):
    # Same numbers, 4 sites per modality < 5: the decision still holds, so "promising".
    comp, rec, _ = _modality_results(tmp_path, perm_p=0.03, inter_p=0.004,
                                     robust=_robust(ROBUST_OK), sites_per=4)
    assert comp["grade"] == "promising"
    assert bool(rec["recommended"]) is True


def test_firm_needs_every_robust_pair(tmp_path):
    # Robust p 0.20 for peer vs visits (not < 0.05): not firm, still promising.
    robust = _robust([("coaching", "peer", 0.01), ("peer", "visits", 0.20)])
    comp, _, _ = _modality_results(tmp_path, perm_p=0.03, inter_p=0.004, robust=robust,
                                   sites_per=5)
    assert comp["grade"] == "promising"


def test_firm_uses_the_robust_test_of_the_plan_waves(tmp_path):
    waves = [{"id": "t0", "label": "Baseline"}, {"id": "t1", "label": "Midpoint"},
             {"id": "t2", "label": "Endline"}]
    emm = _emmeans(CHANGES, waves=("t0", "t1", "t2"))
    contrasts = pd.concat([_contrasts(CLEAR_CONTRASTS, span=("t0", "t1")),
                           _contrasts(CLEAR_CONTRASTS, span=("t0", "t2"))])
    # As the model orders them: baseline->midpoint first, then baseline->endline.
    robust = pd.concat([_robust(ROBUST_OK, span=("t0", "t1")),
                        _robust([("coaching", "peer", 0.30), ("coaching", "visits", 0.40),
                                 ("peer", "visits", 0.30)], span=("t0", "t2"))])
    tables = {
        "sites": _sites(dict.fromkeys(CHANGES, 5)),
        "outcomes": _outcomes(("trust", "Trust", "team", "matched")),
        "model_emmeans": emm, "model_contrasts": contrasts, "model_robust": robust,
        "model_interaction": pd.DataFrame({"outcome": ["trust"], "p": [0.004]}),
        "model_permutation": pd.DataFrame({"outcome": ["trust"], "p": [0.03],
                                           "min_p": [0.002]}),
    }
    f = build_findings(_results(tmp_path, tables, waves=waves, modalities=MODALITIES,
                                plan={"compare": {"pre": "t0", "post": "t2"}}))
    # t0 -> t2 CR2 tests give p 0.30: the cluster-robust tests do not agree, so not firm.
    assert _one(f, kind="modality_comparison")["grade"] == "promising"


def test_plan_decision_section_changes_the_outcome(tmp_path):
    # Permutation p 0.15: above the default 0.10 -> weak, not recommended ...
    comp, rec, _ = _modality_results(tmp_path / "default", perm_p=0.15)
    assert (comp["grade"], bool(rec["recommended"])) == ("weak", False)
    assert "p = 0.150, above 0.10" in rec["sentence"]
    # ... at most the plan's 0.20 -> promising, recommended.
    plan = {**PLAN, "decision": {"max_permutation_p": 0.2}}
    comp, rec, _ = _modality_results(tmp_path / "plan", perm_p=0.15, plan=plan)
    assert (comp["grade"], bool(rec["recommended"])) == ("promising", True)
    assert "p = 0.150, at most 0.20" in rec["sentence"]


def test_explicit_rule_overrides_the_default(tmp_path):
    # DecisionRule(min_sites_firm=4): 4 sites per modality are now enough for "firm".
    comp, _, _ = _modality_results(tmp_path, perm_p=0.03, inter_p=0.004,
                                   robust=_robust(ROBUST_OK), sites_per=4,
                                   rule=DecisionRule(min_sites_firm=4))
    assert comp["grade"] == "firm"


# 4. A design whose smallest p is above the rule's ------------------------------------------

def test_smallest_attainable_p_above_rule_asks_for_more_sites(tmp_path):
    # Two modalities with 2 sites each: 4 sites, min_p = 1/3 -> "0.333" > 0.10.
    comp, rec, _ = _modality_results(
        tmp_path, changes={"coaching": 0.20, "peer": 0.40},
        contrasts=[("coaching", "peer", -0.20, -0.35, -0.05, 0.012)], perm_p=1 / 3,
        min_p=1 / 3, sites_per=2, modalities=MODALITIES[:2])
    assert bool(rec["recommended"]) is False
    assert ("with 4 sites that test cannot go below 0.333, so more sites per approach are "
            "needed") in rec["sentence"]
    assert "with 4 sites it cannot go below 0.333." in comp["sentence"]


def test_tiny_smallest_p_is_not_written_as_zero(tmp_path):
    comp, _, _ = _modality_results(tmp_path, min_p=0.0002)
    assert not re.search(r"cannot go below 0\.000(?!\d)", comp["sentence"])


# 5. Configuration text is escaped -------------------------------------------------------

def test_labels_and_site_names_are_escaped(tmp_path):
    mods = [{"id": "coaching", "label": "TA and coaching"},
            {"id": "peer", "label": "<script>x</script>"}]
    sites = pd.DataFrame({"site_id": ["c1", "p1"], "name": ["Site *North*", "Site_South"],
                          "modality": ["coaching", "peer"]})
    tables = {
        "sites": sites,
        "outcomes": _outcomes(("trust", "Trust", "team", "matched")),
        "prepost": _prepost(dict(outcome="trust", design="matched", level="site",
                                 site_id="c1", modality="coaching", n_pairs=20, mean_pre=3.0,
                                 mean_post=3.4, mean_diff=0.4, ci_low=0.2, ci_high=0.6,
                                 p=0.01)),
        "model_emmeans": _emmeans({"coaching": 0.20, "peer": 0.40}),
        "model_contrasts": _contrasts([("coaching", "peer", -0.20, -0.35, -0.05, 0.012)]),
        "model_permutation": pd.DataFrame({"outcome": ["trust"], "p": [0.067],
                                           "min_p": [0.002]}),
    }
    f = build_findings(_results(tmp_path, tables, modalities=mods))
    # '*' -> '\*'; '<' '>' -> '\<' '\>'.
    site = _one(f, kind="change", site_id="c1")
    assert site["headline"] == r"Trust rose at Site \*North\*."
    peer = _one(f, kind="modality_change", modality="peer")
    assert peer["headline"] == r"\<script\>x\</script\>: rose by 0.40 points."
    assert peer["sentence"].startswith(r"Under \<script\>x\</script\>, the model's")
    rec = _one(f, kind="recommendation")
    assert rec["sentence"].startswith(r"Offer \<script\>x\</script\> to more sites")
    for _, row in f.iterrows():
        text = _text(row)
        assert not re.search(r"(?<!\\)[<>]", text), text
        assert "*North*" not in text.replace(r"\*", "")


# 6. Pending and advice ------------------------------------------------------------------

def test_pending_rows_become_pending_findings(tmp_path):
    tables = {
        "sites": _sites({"x": 2}),
        "outcomes": _outcomes(("trust", "Trust score", "team", "matched")),
        "pending": pd.DataFrame({
            "analysis": ["model", "network"], "outcome": ["trust", None],
            "level": ["collaborative", "collaborative"], "site_id": [None, None],
            "reason": ["only baseline answers so far", "nobody has answered yet."],
            "needs": ["Team survey responses at endline", None]}),
    }
    f = build_findings(_results(tmp_path, tables))
    pend = f[f["kind"] == "pending"]
    assert len(pend) == 2
    model = pend.iloc[0]
    # "model" of outcome "Trust score": reason, a full stop added, then the needs.
    assert model["headline"] == "Still to come: model of the trust score."
    assert model["sentence"] == ("The model of the trust score: only baseline answers so far. "
                                 "It needs Team survey responses at endline.")
    assert (model["grade"], model["direction"], model["outcome"]) == \
        ("pending", "none", "trust")
    # No needs: no "It needs"; the reason's own full stop is not doubled.
    assert pend.iloc[1]["sentence"] == "The network: nobody has answered yet."
    assert "Collect what is still missing" in set(f.loc[f["kind"] == "advice", "headline"])


def _advice(tmp_path, matched, community):
    """Collaborative rows: matched trust (team, participants) and anonymous experience."""
    tables = {
        "sites": _sites({"x": 2}),
        "outcomes": _outcomes(("trust", "Trust", "team", "matched"),
                              ("experience", "Experience", "voice", "independent")),
        "instruments": _instruments(("team", "Team survey", "participant", 12, "t0,t1"),
                                    ("voice", "Community survey", "community", 6, "t0,t1")),
        "prepost": _prepost(
            dict(outcome="trust", design="matched", level="collaborative", n_pairs=40,
                 mean_pre=3.0, mean_post=3.0 + matched[0], mean_diff=matched[0],
                 ci_low=matched[1], ci_high=matched[2], p=0.01),
            dict(outcome="experience", design="independent", level="collaborative",
                 n_pre=60, n_post=55, mean_pre=3.0, mean_post=3.0 + community[0],
                 mean_diff=community[0], ci_low=community[1], ci_high=community[2], p=0.02)),
    }
    f = build_findings(_results(tmp_path, tables))
    assert _one(f, kind="community_experience", outcome="experience")["grade"] == "measured"
    return _one(f, kind="advice", headline="Keep listening to the community")["sentence"]


RISE = (0.40, 0.20, 0.60)


@pytest.mark.parametrize(("community", "says"), [
    # community +0.30 (0.10..0.50) and matched +0.40 (0.20..0.60): both clear, both up
    ((0.30, 0.10, 0.50), "their ratings moved in the same direction as the trust"),
    # community -0.30 (-0.50..-0.10), matched up: opposite signs
    ((-0.30, -0.50, -0.10), "their ratings moved in the opposite direction from the trust"),
])
def test_community_advice_direction_when_both_are_clear(tmp_path, community, says):
    sentence = _advice(tmp_path, RISE, community)
    assert sentence.startswith(f"Keep listening to the community: {says}, ")


@pytest.mark.parametrize(("matched", "community"), [
    # community +0.10, CI -0.10..+0.30 includes 0
    (RISE, (0.10, -0.10, 0.30)),
    # community -0.10, CI -0.30..+0.10 includes 0, matched clear up
    (RISE, (-0.10, -0.30, 0.10)),
    # community clear, matched +0.05 with CI -0.10..+0.20 not clear
    ((0.05, -0.10, 0.20), (0.30, 0.10, 0.50)),
])
def test_community_advice_claims_no_direction_unless_both_clear(tmp_path, matched, community):
    sentence = _advice(tmp_path, matched, community)
    assert "same direction" not in sentence and "opposite direction" not in sentence
    assert not DIRECTION_WORDS.search(sentence), sentence
    if community[1] < 0 < community[2]:
        assert "did not clearly change" in sentence


# 7. Project findings --------------------------------------------------------------------

def test_project_describes_only_instruments_with_data(tmp_path):
    tables = {
        "sites": _sites({"x": 2, "y": 1}),
        "instruments": _instruments(("team", "Team survey", "participant", 12, "t0,t1"),
                                    ("orgs", "Partner survey", "organization", 8, ""),
                                    ("voice", "Community survey", "community", 5, "t1")),
    }
    res = _results(tmp_path, tables, modalities=[{"id": "x", "label": "Peer learning"},
                                                 {"id": "y", "label": "Site visits"}])
    f = build_findings(res)
    proj = f[f["kind"] == "project"]
    assert set(proj["finding_id"]) == {"project:intro", "project:instrument:team",
                                       "project:instrument:voice"}
    assert not any("Partner survey" in _text(r) for _, r in f.iterrows())
    assert _one(f, finding_id="project:instrument:team")["sentence"] == (
        "Site-team members answered the Team survey (12 questions) at baseline and endline.")
    assert _one(f, finding_id="project:instrument:voice")["sentence"] == (
        "People served by the sites answered the Community survey (5 questions, anonymous) "
        "at endline.")
    # 2 sites of x, 1 of y.
    assert _one(f, finding_id="project:intro")["sentence"] == (
        "Test collaborative worked with 3 community sites. Each site received one way of "
        "building its complex care ecosystem: peer learning (2 sites) and site visits "
        "(1 site).")


def test_one_modality_project_says_every_site_received_the_same(tmp_path):
    tables = {"sites": _sites({"x": 3})}
    res = _results(tmp_path, tables, modalities=[{"id": "x", "label": "Peer learning"}],
                   period={"start": "2025-01-01", "end": "2025-12-31"})
    intro = _one(build_findings(res), finding_id="project:intro")
    assert intro["sentence"] == (
        "Test collaborative worked with 3 community sites from 2025-01-01 to 2025-12-31. "
        "Every site received the same approach: peer learning (3 sites).")
    assert "Each site received one way" not in intro["sentence"]


# 7. Trust and value between partner organizations (PARTNER) -----------------------------

REFERENCE = Path(__file__).parent / "reference" / "network_trust"


def _partner_orgs():
    return pd.read_csv(REFERENCE / "organizations.csv")


def test_trust_and_value_by_site_and_wave_match_r():
    # Oracle: R 4.2 t.test() in tests/reference/network_trust/network_trust.R (one-sample t
    # interval over a site's organizations; over the sites' means for the collaborative).
    from evalkit.findings import trust_value_by_wave

    ref = json.loads((REFERENCE / "network_trust.json").read_text())["by_wave"]
    got = trust_value_by_wave(_partner_orgs(), waves=["t0", "t1"])
    assert len(got) == len(ref) == 16
    for r in ref:
        row = got[(got["level"] == r["level"]) & (got["wave"] == r["wave"])
                  & (got["measure"] == r["measure"])
                  & (got["site_id"].fillna("") == (r["site_id"] or ""))]
        assert len(row) == 1
        assert int(row["n_orgs"].iloc[0]) == r["n_orgs"]
        for col in ("mean", "sd", "ci_low", "ci_high"):
            assert row[col].iloc[0] == pytest.approx(r[col], abs=1e-9)  # tolerance 1e-9


def test_trust_and_value_change_matches_r_paired_t():
    # Oracle: R 4.2 t.test(post, pre, paired = TRUE) per site over the organizations scored
    # at both waves, and t.test() of the sites' changes (network_trust.R).
    from evalkit.findings import trust_value_change

    ref = json.loads((REFERENCE / "network_trust.json").read_text())["change"]
    got = trust_value_change(_partner_orgs(), pre="t0", post="t1")
    assert len(got) == len(ref) == 8
    for r in ref:
        row = got[(got["level"] == r["level"]) & (got["measure"] == r["measure"])
                  & (got["site_id"].fillna("") == (r["site_id"] or ""))].iloc[0]
        assert int(row["n"]) == r["n"]
        for col in ("change", "ci_low", "ci_high", "p"):
            assert row[col] == pytest.approx(r[col], abs=1e-9)  # tolerance 1e-9
        if r["level"] == "site":
            assert row["mean_pre"] == pytest.approx(r["mean_pre"], abs=1e-9)
            assert row["mean_post"] == pytest.approx(r["mean_post"], abs=1e-9)


def _partner_results(tmp_path, orgs):
    tables = {"sites": pd.DataFrame({"site_id": ["S1", "S2", "S3"],
                                     "name": ["North *Hub*", "Bay", "Hill"],
                                     "modality": ["x", "x", "x"]}),
              "network_organizations": orgs}
    return build_findings(_results(tmp_path, tables))


def test_trust_findings_use_direction_words_only_when_the_ci_excludes_zero(tmp_path):
    f = _partner_results(tmp_path, _partner_orgs())
    ref = {(r["level"], r["site_id"] or "", r["measure"]): r for r in json.loads(
        (REFERENCE / "network_trust.json").read_text())["change"]}
    rows = f[f["kind"].isin(["network_trust", "network_value"])]
    assert len(rows) == 8
    for _, row in rows.iterrows():
        site = row["site_id"] if isinstance(row["site_id"], str) else ""
        r = ref[(row["level"], site, row["kind"].removeprefix("network_"))]
        clear = r["ci_low"] > 0 or r["ci_high"] < 0
        words = set(DIRECTION_WORDS.findall(_text(row)))
        if clear:
            assert words == {"rose" if r["change"] > 0 else "fell"}
            assert f"by {abs(r['change']):.2f} points" in row["sentence"]
        else:
            assert words == set() and "did not clearly change" in row["sentence"]
    # S1 trust: pre 2.25 (A-D), post 3.0: +0.75, R's CI 0.29 to 1.21 excludes 0.
    s1 = _one(f, kind="network_trust", site_id="S1")
    assert s1["sentence"] == (
        "At North \\*Hub\\*, the mean trust rating partner organizations received rose by "
        "0.75 points from baseline to endline (95% CI +0.29 to +1.21; 4 organizations "
        "rated at both waves).")
    assert s1["headline"] == "Trust among partner organizations."


def test_no_partner_network_no_trust_findings(tmp_path):
    f = build_findings(_results(tmp_path, {"sites": _sites({"x": 2})}))
    assert not f["kind"].str.startswith("network_").any()


# 8. Community quotes ---------------------------------------------------------------------

def _quote_results(tmp_path, *, n_food, third="The pantry had food for my kids."):
    themes = pd.DataFrame({
        "level": ["collaborative"] * 3, "site_id": [None] * 3, "modality": [None] * 3,
        "wave": ["t1"] * 3, "theme": ["hours", "food", "no_theme"],
        "label": ["Opening hours", "Food", "No theme"], "n_comments": [60] * 3,
        "n": [30, n_food, 10], "share": [0.5, n_food / 60, 1 / 6]})
    quotes = pd.DataFrame({
        "level": ["collaborative"] * 4, "site_id": [None] * 4,
        "theme": ["food", "hours", "hours", "hours"],
        "label": ["Food", "Opening hours", "Opening hours", "Opening hours"],
        "rank": [1, 1, 2, 3], "wave": ["t1"] * 4,
        "quote": ["The pantry had food for my kids.", "Please keep the *evening* hours.",
                  "Write to me at ana.lopez@example.org about hours.", third]})
    tables = {"sites": _sites({"x": 2}), "feedback_themes": themes, "feedback_quotes": quotes}
    return build_findings(_results(tmp_path, tables))


def test_quotes_come_by_theme_scrubbed_escaped_and_only_for_themes_enough_people_raised(
        tmp_path):
    # threshold 11: food mentioned by 4 comments is not quoted; hours (30) is.
    f = _quote_results(tmp_path, n_food=4, third="The evening hours suit my job well.")
    q = f[f["kind"] == "quote"]
    assert list(q["headline"]) == ["Opening hours"] * 3
    assert q["sentence"].iloc[0] == "Please keep the \\*evening\\* hours."
    assert "@" not in q["sentence"].iloc[1] and "ana.lopez" not in q["sentence"].iloc[1]
    assert "pantry" not in " ".join(q["sentence"])
    assert q["numbers"].map(lambda s: json.loads(s)["n_mentions"]).tolist() == [30] * 3
    assert q["site_id"].isna().all()
    # enough mentions of food: its own quote is shown, after the more frequent theme
    q = _quote_results(tmp_path, n_food=11, third="The evening hours suit my job well.")
    assert q[q["kind"] == "quote"]["headline"].tolist() == ["Opening hours"] * 3 + ["Food"]


def test_a_quote_is_shown_once_under_the_most_mentioned_theme(tmp_path):
    # food raised by 12 (>= 11) but less often than hours (30): the repeated pantry quote
    # stays under hours, food keeps none of its own.
    q = _quote_results(tmp_path, n_food=12)
    q = q[q["kind"] == "quote"]
    assert q["sentence"].tolist().count("The pantry had food for my kids.") == 1
    assert list(q["headline"]) == ["Opening hours"] * 3


def _ordinal_results(tmp_path, agrees):
    """Two items of a scale, each fitted as numbers and as ordered categories."""
    rows = []
    for item, ok in zip(["Q1", "Q2"], agrees, strict=True):
        rows.append({"outcome": "trust", "item": item, "a": "x", "b": "y", "from": "pre",
                     "to": "post", "linear_estimate": 0.4, "linear_lower": 0.1,
                     "linear_upper": 0.7, "linear_conclusion": "a gained more",
                     "ordinal_estimate": 0.5 if ok else 0.3,
                     "ordinal_lower": 0.2 if ok else -0.1, "ordinal_upper": 0.9,
                     "ordinal_conclusion": "a gained more" if ok else "no clear difference",
                     "agrees": ok})
    contrasts = pd.DataFrame(rows)
    checks = pd.DataFrame({"outcome": "trust", "item": ["Q1", "Q2"], "n_obs": 80,
                           "n_sites": 4, "n_participants": 40, "converged": True,
                           "agrees": agrees, "n_contrasts": 1,
                           "n_disagree": [int(not a) for a in agrees], "message": "ok"})
    tables = {"sites": _sites({"x": 2, "y": 2}),
              "outcomes": _outcomes(("trust", "Trust score", "team", "matched")),
              "model_ordinal": checks, "model_ordinal_contrasts": contrasts}
    f = build_findings(_results(tmp_path, tables))
    return f[f["kind"] == "ordinal_check"]


def test_ordinal_check_says_the_conclusions_hold_only_when_every_item_agrees(tmp_path):
    same = _ordinal_results(tmp_path / "a", [True, True]).iloc[0]
    assert same["sentence"].endswith("for every item both lead to the same conclusions about "
                                     "the approaches.")
    assert "does not change" in same["headline"]
    assert (same["estimate"], same["n"], same["direction"]) == (1.0, 2, "none")
    differ = _ordinal_results(tmp_path / "b", [True, False]).iloc[0]
    assert "for 1 of them at least one conclusion about the approaches differs (Q2)" in \
        differ["sentence"]
    # the example names which way each treatment went, in the modalities' own words
    assert "gained more than" in differ["sentence"]
    assert "no clear difference between" in differ["sentence"]
    assert differ["estimate"] == 0.5 and "change" in differ["headline"]


def test_ordinal_true_needs_model_true_and_likert_items():
    from pydantic import ValidationError

    from evalkit.plan import Outcome

    with pytest.raises(ValidationError, match="ordinal: true checks the modality model"):
        Outcome(id="t", label="T", instrument="team", scale="s", ordinal=True)
    assert Outcome(id="t", label="T", instrument="team", scale="s", model=True,
                   ordinal=True).ordinal


def _design_results(tmp_path, power, smallest):
    curve = pd.DataFrame({
        "outcome": "trust", "a": "x", "b": "y", "from": "pre", "to": "post",
        "difference": -0.3, "method": "permutation", "alpha": 0.10, "participants": 20,
        "current_sites": 2, "sites_per_modality": [2, 3, 4], "power": power,
        "mc_se": [0.0, 0.02, 0.01], "min_p": [1 / 3, 0.1, 1 / 35], "n_simulations": 200,
        "smallest_sites": smallest})
    tables = {"sites": _sites({"x": 2, "y": 2}),
              "outcomes": _outcomes(("trust", "Trust score", "team", "matched")),
              "design_power": curve}
    return build_findings(_results(tmp_path, tables))


def test_design_finding_names_the_fewest_sites_and_the_floor_of_this_design(tmp_path):
    f = _design_results(tmp_path / "a", [0.0, 0.45, 0.86], 4)
    row = f[f["kind"] == "design"].iloc[0]
    assert row["headline"] == ("The next collaborative needs at least 4 sites per approach "
                               "to detect a difference of this size.")
    s = row["sentence"]
    # the size is stated without a direction word; 86% and its MC SE of 0.01 -> 1.0 points
    assert "(0.30 points on the trust score from pre to post, between x and y)" in s
    assert ("in 86% of 200 simulated collaboratives (simulation standard error 1.0 "
            "percentage points)") in s
    assert s.endswith("With 2 per approach, as here, it would be found in 0%: with 2 sites "
                      "per approach that test cannot go below p = 0.333.")
    none = _design_results(tmp_path / "b", [0.0, 0.1, 0.3], None)
    row = none[none["kind"] == "design"].iloc[0]
    assert row["sentence"].startswith("Even with 4 sites per approach")
    assert "in only 30% of 200" in row["sentence"]
