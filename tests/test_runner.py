"""The runner's own arithmetic, by hand: wave summaries and the multiplicity family.

The statistics themselves come from evalkit.prepost (validated against R in
tests/test_prepost.py); here we check what the runner adds on top.
"""

from __future__ import annotations

import pandas as pd
import pytest

from evalkit.plan import AnalysisPlan
from evalkit.runner import _prepost_tables, wave_summary

# Two sites of one modality; participant A1..A3 at S1, B1..B3 at S2.
PRE = {"A1": 3.0, "A2": 4.0, "A3": 2.0, "B1": 3.5, "B2": 2.5, "B3": 4.5}
POST = {"A1": 4.0, "A2": 4.0, "A3": 3.5, "B1": 4.0, "B2": 3.0, "B3": 4.0}


def _scores(outcome: str, shift: float = 0.0) -> pd.DataFrame:
    rows = []
    for wave, values in (("baseline", PRE), ("endline", POST)):
        for pid, v in values.items():
            rows.append({"outcome": outcome, "response_id": f"{outcome}:{wave}:{pid}",
                         "wave": wave, "site_id": "S1" if pid[0] == "A" else "S2",
                         "modality": "peer", "respondent_id": pid,
                         "score": v + (shift if wave == "endline" else 0.0), "n_answered": 3})
    return pd.DataFrame(rows)


def test_wave_summary_by_hand():
    out = wave_summary(_scores("x"), ["baseline", "endline"])
    site = out[(out["level"] == "site") & (out["site_id"] == "S1")].set_index("wave")
    # S1 baseline: 3, 4, 2 -> mean 3, sd 1; endline: 4, 4, 3.5 -> mean 11.5/3
    assert site.loc["baseline", ["n", "mean", "sd"]].tolist() == [3, 3.0, 1.0]
    assert site.loc["endline", "mean"] == pytest.approx(11.5 / 3)
    coll = out[out["level"] == "collaborative"].set_index("wave")
    assert coll.loc["baseline", "mean"] == pytest.approx(19.5 / 6)
    assert list(out["level"].drop_duplicates()) == ["collaborative", "modality", "site"]


def test_holm_over_the_plan_family_at_each_level():
    plan = AnalysisPlan.model_validate({
        "name": "t", "compare": {"pre": "baseline", "post": "endline"},
        "outcomes": [{"id": "x", "label": "X", "instrument": "i", "scale": "s"},
                     {"id": "y", "label": "Y", "instrument": "i", "scale": "s"}],
        "multiplicity": {"method": "holm", "family": ["x", "y"]}})
    scores = pd.concat([_scores("x"), _scores("y", shift=0.4)], ignore_index=True)
    pp = _prepost_tables(scores, plan)["prepost"]
    coll = pp[pp["level"] == "collaborative"].set_index("outcome")
    # Diffs for x: 1, 0, 1.5, 0.5, 0.5, -0.5 (mean 0.5); y adds 0.4 to each.
    assert coll.loc["x", "mean_diff"] == pytest.approx(0.5)
    assert coll.loc["y", "mean_diff"] == pytest.approx(0.9)
    assert coll.loc["x", "effect_name"] == "d_z" and coll.loc["x", "n_pairs"] == 6
    # Holm by hand: smaller p times 2, larger p times 1, then made monotone.
    p_small, p_large = sorted(coll["p"])
    expected = {min(p_small * 2, 1.0), max(min(p_small * 2, 1.0), p_large)}
    assert set(coll["p_adjusted"].round(12)) == {round(v, 12) for v in expected}
    # Site-level p-values are adjusted within their own site, not with the collaborative's.
    s1 = pp[(pp["level"] == "site") & (pp["site_id"] == "S1")]
    assert s1["p_adjusted"].notna().all() and len(s1) == 2
