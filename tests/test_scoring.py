"""Scoring by hand calculation: reverse items, minimum answered items, sums."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import AnalysisError
from evalkit.instruments import Instrument
from evalkit.scoring import reverse_code, score, score_wide


def _instrument(method="mean", min_items=2):
    return Instrument.model_validate({
        "id": "toy", "version": "1", "title": "Toy", "respondent": "participant",
        "response_scales": {"a5": {"codes": {i: str(i) for i in range(1, 6)}}},
        "items": [{"code": c, "text": c, "type": "likert", "response_scale": "a5",
                   "reverse": c == "Q3"} for c in ("Q1", "Q2", "Q3")],
        "scales": [{"id": "total", "label": "Total", "items": ["Q1", "Q2", "Q3"],
                    "method": method, "min_items": min_items}]})


def test_reverse_is_min_plus_max_minus_value():
    out = reverse_code(pd.DataFrame({"Q3": [1, 2, 5, None]}), instrument=_instrument())
    assert out["Q3"].tolist()[:3] == [5, 4, 1] and np.isnan(out["Q3"].iloc[3])


def test_mean_with_minimum_items():
    data = pd.DataFrame({"id": ["a", "b", "c"], "Q1": [5, 4, None], "Q2": [3, None, None],
                         "Q3": [2, 1, 1]})
    res = score(data, instrument=_instrument())
    # a: (5 + 3 + (6-2)) / 3 = 4; b: (4 + 5) / 2 = 4.5; c: one item < min_items 2
    assert res["score"].tolist()[:2] == [4.0, 4.5] and np.isnan(res["score"].iloc[2])
    assert res["n_answered"].tolist() == [3, 2, 1]


def test_sum_is_prorated_when_items_missing():
    data = pd.DataFrame({"Q1": [5, 4], "Q2": [3, None], "Q3": [2, 1]})
    res = score(data, instrument=_instrument("sum"))
    # full: 5 + 3 + 4 = 12; prorated: (4 + 5) / 2 * 3 = 13.5
    assert res["score"].tolist() == [12.0, 13.5]
    assert res["prorated"].tolist() == [False, True]


def test_out_of_range_value_is_named():
    with pytest.raises(AnalysisError, match=r"item 'Q2' row 1: value 7 is outside its "
                                            r"response scale 1\.\.5"):
        score(pd.DataFrame({"Q1": [1, 2], "Q2": [3, 7], "Q3": [1, 1]}),
              instrument=_instrument())


def test_wide_form_keeps_id_columns():
    data = pd.DataFrame({"rid": ["x"], "Q1": [1], "Q2": [1], "Q3": [5]})
    assert score_wide(data, instrument=_instrument()).to_dict("records") == [
        {"rid": "x", "total": 1.0}]
