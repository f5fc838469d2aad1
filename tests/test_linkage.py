"""evalkit.linkage: self-generated code matching, checked on hand-worked examples.

Oracle: the examples are worked by hand in the comments (Hamming distances counted
character by character on the normalized codes).
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from evalkit.errors import AnalysisError
from evalkit.linkage import link_codes, normalize_code


def records(frame: pd.DataFrame, *cols: str) -> list[tuple]:
    return [tuple(r) for r in frame[list(cols)].itertuples(index=False)]


def test_exact_matching_after_normalization() -> None:
    # Normalized pre: AB12, CD34, <missing>, EF56, GH78; post: AB12, CD34, XY00, <blank>, GH78
    res = link_codes(["ab12 ", "CD34", None, "EF56", "gh78"],
                     ["AB12", "cd34", "XY00", "  ", "GH78"])
    assert records(res.pairs, "pre_row", "post_row", "pre_code", "distance") == [
        (0, 0, "AB12", 0), (1, 1, "CD34", 0), (4, 4, "GH78", 0)]
    assert res.ambiguous.empty
    assert records(res.unmatched, "wave", "row", "code", "reason") == [
        ("pre", 2, None, "missing code"),
        ("pre", 3, "EF56", "no exact match"),
        ("post", 2, "XY00", "no exact match"),
        ("post", 3, None, "missing code"),
    ]
    assert res.n_pre == 5 and res.n_post == 5 and res.match_rate == pytest.approx(3 / 5)


def test_one_mismatch_and_an_ambiguous_code() -> None:
    # MA0312-MA0312: 0.  JO1105-JO1165: 1 (5th character 0/6).
    # LI0722-LI0822: 1 (4th character 7/8) and LI0722-LI0723: 1 (6th character 2/3):
    # two candidates, so LI0722 is not linked and both candidate pairs are listed.
    res = link_codes(["MA0312", "JO1105", "LI0722"],
                     ["MA0312", "JO1165", "LI0822", "LI0723"], max_mismatches=1)
    assert records(res.pairs, "pre_code", "post_code", "distance") == [
        ("MA0312", "MA0312", 0), ("JO1105", "JO1165", 1)]
    assert records(res.ambiguous, "pre_code", "post_code", "distance", "reason") == [
        ("LI0722", "LI0822", 1, "pre record has 2 candidates"),
        ("LI0722", "LI0723", 1, "pre record has 2 candidates"),
    ]
    assert res.unmatched.empty
    assert res.match_rate == pytest.approx(2 / 3)


def test_code_claimed_by_two_records() -> None:
    # AB12-AB14 and AB13-AB14 both differ in one character: AB14 is claimed twice.
    res = link_codes(["AB12", "AB13"], ["AB14"], max_mismatches=1)
    assert res.pairs.empty
    assert records(res.ambiguous, "pre_row", "post_row", "reason") == [
        (0, 0, "post record is claimed by 2 pre records"),
        (1, 0, "post record is claimed by 2 pre records"),
    ]
    assert res.match_rate == 0


def test_both_sides_ambiguous_reason() -> None:
    # AB12/AB13 vs AB12/AB13 with k = 1: every pre has 2 candidates, every post 2 claims.
    res = link_codes(["AB12", "AB13"], ["AB12", "AB13"], max_mismatches=1)
    assert res.pairs.empty and len(res.ambiguous) == 4
    assert set(res.ambiguous["reason"]) == {
        "pre record has 2 candidates; post record is claimed by 2 pre records"}
    # prefer_exact links the unique exact matches first
    res = link_codes(["AB12", "AB13"], ["AB12", "AB13"], max_mismatches=1, prefer_exact=True)
    assert records(res.pairs, "pre_code", "post_code", "distance") == [
        ("AB12", "AB12", 0), ("AB13", "AB13", 0)]
    assert res.ambiguous.empty


def test_exact_match_with_a_near_rival_is_ambiguous_by_default() -> None:
    # ABCD matches ABCD exactly and ABCE at distance 1.
    res = link_codes(["ABCD"], ["ABCD", "ABCE"], max_mismatches=1)
    assert res.pairs.empty
    assert records(res.ambiguous, "post_code", "distance") == [("ABCD", 0), ("ABCE", 1)]
    res = link_codes(["ABCD"], ["ABCD", "ABCE"], max_mismatches=1, prefer_exact=True)
    assert records(res.pairs, "post_code") == [("ABCD",)]
    assert records(res.unmatched, "wave", "code", "reason") == [
        ("post", "ABCE", "no code within 1 mismatch")]


def test_duplicate_code_within_a_wave_is_never_linked() -> None:
    res = link_codes(["AB12", "ab12"], ["AB12"])
    assert res.pairs.empty
    assert records(res.ambiguous, "pre_row", "post_row", "distance") == [(0, 0, 0), (1, 0, 0)]
    res = link_codes(["AB12", "ab12"], ["AB12"], prefer_exact=True, max_mismatches=2)
    assert res.pairs.empty and len(res.ambiguous) == 2


def test_different_lengths_only_match_exactly() -> None:
    # AB12 vs AB123: lengths differ, so no candidate however large the tolerance
    res = link_codes(["AB12"], ["AB123"], max_mismatches=3)
    assert res.pairs.empty and res.ambiguous.empty
    assert res.unmatched["reason"].tolist() == ["no code within 3 mismatches"] * 2
    res = link_codes(["AB12"], [" ab12"], max_mismatches=3)
    assert records(res.pairs, "pre_code", "post_code", "distance") == [("AB12", "AB12", 0)]


def test_distance_beyond_tolerance() -> None:
    # ABCD vs ABXY: 2 mismatches
    assert link_codes(["ABCD"], ["ABXY"], max_mismatches=1).pairs.empty
    res = link_codes(["ABCD"], ["ABXY"], max_mismatches=2)
    assert records(res.pairs, "distance") == [(2,)]


def test_series_index_identifies_records() -> None:
    pre = pd.Series(["K1", "K2"], index=["resp-7", "resp-9"])
    post = pd.Series(["k2"], index=[101])
    res = link_codes(pre, post)
    assert records(res.pairs, "pre_row", "post_row") == [("resp-9", 101)]
    assert records(res.unmatched, "wave", "row") == [("pre", "resp-7")]


def test_normalize_code() -> None:
    assert normalize_code("  mA03 ") == "MA03"
    assert normalize_code(float("nan")) is None
    assert normalize_code(1203) == "1203"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_mismatches": -1}, "max_mismatches must be a non-negative integer; received -1"),
        ({"max_mismatches": True},
         "max_mismatches must be a non-negative integer; received True"),
        ({"max_mismatches": 1.5},
         "max_mismatches must be a non-negative integer; received 1.5"),
    ],
)
def test_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(AnalysisError) as err:
        link_codes(["A"], ["A"], **kwargs)
    assert str(err.value) == message


def test_inputs_must_be_sequences() -> None:
    with pytest.raises(AnalysisError, match="pre must be a sequence or pandas Series of codes; "
                       "received str"):
        link_codes("AB12", ["AB12"])  # type: ignore[arg-type]
    with pytest.raises(AnalysisError, match="post has a duplicated index"):
        link_codes(["A"], pd.Series(["A", "B"], index=[1, 1]))


codes = hs.lists(hs.text(alphabet="AB12", min_size=2, max_size=4) | hs.none(), max_size=12)


@settings(max_examples=200, deadline=None)
@given(pre=codes, post=codes, k=hs.integers(min_value=0, max_value=2),
       prefer=hs.booleans())
def test_every_record_is_accounted_for_once(pre, post, k, prefer) -> None:
    res = link_codes(pre, post, max_mismatches=k, prefer_exact=prefer)
    linked_pre = set(res.pairs["pre_row"])
    linked_post = set(res.pairs["post_row"])
    # a linked record appears in exactly one pair and in no ambiguous candidate pair
    assert len(linked_pre) == len(res.pairs) == len(linked_post)
    assert not linked_pre & set(res.ambiguous["pre_row"])
    assert not linked_post & set(res.ambiguous["post_row"])
    # every pair is within tolerance, same length, and exact pairs are identical codes
    for p, q, d in zip(res.pairs["pre_code"], res.pairs["post_code"], res.pairs["distance"],
                       strict=True):
        assert len(p) == len(q) and d == sum(a != b for a, b in zip(p, q, strict=True)) <= k
    # each record is linked, ambiguous or unmatched -- exactly one of them
    for wave, n, col in (("pre", len(pre), "pre_row"), ("post", len(post), "post_row")):
        unmatched = set(res.unmatched.loc[res.unmatched["wave"] == wave, "row"])
        linked = set(res.pairs[col])
        amb = set(res.ambiguous[col])
        assert linked | amb | unmatched == set(range(n))
        assert not (linked & unmatched) and not (amb & unmatched)
