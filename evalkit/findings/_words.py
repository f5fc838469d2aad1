"""Wording shared by every finding: direction words from signs, p-values, escaping.

Every word that says which way a result went is chosen here from the sign of an estimate
and whether its confidence interval excludes zero, never typed into a template.
"""

from __future__ import annotations

import re
from typing import Literal

import pandas as pd

Direction = Literal["up", "down", "none"]

#: Words a report may use to say which way something went, by direction. The report
#: checker in the tests reads rendered reports back with these lists.
UP_WORDS = ("rose", "grew", "higher", "gain", "gains", "improved", "stronger", "denser")
DOWN_WORDS = ("fell", "declined", "decline", "lower", "weaker", "sparser", "dropped")


def is_missing(x: object) -> bool:
    """True for None and NaN (and pandas' NA)."""
    try:
        return bool(pd.isna(x))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def direction(estimate: float | None) -> Direction:
    """``"up"``, ``"down"`` or ``"none"`` from the sign of an estimate.

    >>> direction(0.2), direction(-0.01), direction(0.0), direction(float("nan"))
    ('up', 'down', 'none', 'none')
    """
    if is_missing(estimate) or float(estimate) == 0:  # type: ignore[arg-type]
        return "none"
    return "up" if float(estimate) > 0 else "down"  # type: ignore[arg-type]


def clear(low: float | None, high: float | None) -> bool:
    """Whether a confidence interval excludes zero.

    >>> clear(0.1, 0.3), clear(-0.1, 0.3), clear(None, 0.3)
    (True, False, False)
    """
    if is_missing(low) or is_missing(high):
        return False
    return float(low) > 0 or float(high) < 0  # type: ignore[arg-type]


def change_verb(estimate: float, low: float | None, high: float | None) -> str:
    """"rose", "fell" or "did not clearly change": the sign decides, the CI must agree.

    >>> change_verb(0.3, 0.1, 0.5), change_verb(-0.3, -0.5, -0.1), change_verb(0.1, -0.1, 0.3)
    ('rose', 'fell', 'did not clearly change')
    """
    if not clear(low, high):
        return "did not clearly change"
    return "rose" if direction(estimate) == "up" else "fell"


def by_points(estimate: float, digits: int = 2) -> str:
    """"rose by 0.30 points" / "fell by 0.13 points" / "did not change", from the sign.

    >>> by_points(0.3), by_points(-0.134), by_points(0.0)
    ('rose by 0.30 points', 'fell by 0.13 points', 'did not change')
    """
    d = direction(estimate)
    if d == "none" or round(abs(float(estimate)), digits) == 0:
        return "did not change"
    word = "rose" if d == "up" else "fell"
    return f"{word} by {abs(float(estimate)):.{digits}f} points"


def change_noun(estimate: float, digits: int = 2) -> str:
    """"a rise of 0.30" / "a fall of 0.13" / "no change", from the sign.

    >>> change_noun(0.3), change_noun(-0.134), change_noun(0.001)
    ('a rise of 0.30', 'a fall of 0.13', 'no change')
    """
    d = direction(estimate)
    if d == "none" or round(abs(float(estimate)), digits) == 0:
        return "no change"
    return f"a {'rise' if d == 'up' else 'fall'} of {abs(float(estimate)):.{digits}f}"


def score_name(label: str) -> str:
    """How a scale's label reads after "the mean": ``partnership score``, ``trust score``.

    >>> score_name("Partnership score (all domains)"), score_name("Trust")
    ('partnership score (all domains)', 'trust score')
    """
    low = lower_first(label)
    return low if "score" in low.lower() else f"{low} score"


def p_phrase(p: float | None) -> str:
    """A p-value in a sentence: ``p < 0.001`` or ``p = 0.043`` (never ``p = <0.001``).

    >>> p_phrase(0.00002), p_phrase(0.0432), p_phrase(0.5)
    ('p < 0.001', 'p = 0.043', 'p = 0.500')
    """
    if is_missing(p):
        return "p not available"
    p = float(p)  # type: ignore[arg-type]
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def floor_phrase(min_p: float | None, n_sites: int) -> str:
    """What the smallest attainable p of the site-level test is, in words.

    >>> floor_phrase(0.0667, 6), floor_phrase(0.0002, 40)
    ('with 6 sites it cannot go below 0.067', 'with 40 sites it can go below 0.001')
    """
    if min_p is None or is_missing(min_p):
        return f"with {n_sites} sites its smallest possible p is not known"
    if float(min_p) < 0.001:
        return f"with {n_sites} sites it can go below 0.001"
    return f"with {n_sites} sites it cannot go below {float(min_p):.3f}"


def signed(x: float, digits: int = 2) -> str:
    """A number with its sign: ``+0.27``, ``-0.13``.

    >>> signed(0.267), signed(-0.1)
    ('+0.27', '-0.10')
    """
    return f"{float(x):+.{digits}f}"


def ci_phrase(low: float, high: float, digits: int = 2) -> str:
    """``95% CI -0.10 to +0.04``.

    >>> ci_phrase(-0.1, 0.04)
    '95% CI -0.10 to +0.04'
    """
    return f"95% CI {signed(low, digits)} to {signed(high, digits)}"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}#|<>!$~^])")


def md(text: object) -> str:
    """Text from the configuration or the data, escaped for Markdown (no live markup).

    >>> md("<script>alert(1)</script> *bold*")
    '\\\\<script\\\\>alert(1)\\\\</script\\\\> \\\\*bold\\\\*'
    """
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("&", "&amp;")


def lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word looks like an acronym.

    >>> lower_first("Peer learning"), lower_first("TA and coaching")
    ('peer learning', 'TA and coaching')
    """
    if not text:
        return text
    first = text.split(" ", 1)[0]
    if len(first) > 1 and first[1:2].isupper():
        return text
    return text[0].lower() + text[1:]


def join_words(parts: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``.

    >>> join_words(["a"]), join_words(["a", "b"]), join_words(["a", "b", "c"])
    ('a', 'a and b', 'a, b and c')
    """
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def count_word(n: int, one: str, many: str | None = None) -> str:
    """``1 site``, ``5 sites``.

    >>> count_word(1, "site"), count_word(5, "site"), count_word(2, "person", "people")
    ('1 site', '5 sites', '2 people')
    """
    return f"{n} {one if n == 1 else (many or one + 's')}"
