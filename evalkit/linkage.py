"""Link anonymous respondents across two waves by their self-generated identification codes.

A self-generated identification code (SGIC) is built by the respondent from stable facts
(letters of a parent's name, birth month, ...), so the same person usually, but not always,
writes the same code at both waves. :func:`link_codes` pairs the codes of a pre and a post
wave exactly or, on request, allowing up to ``max_mismatches`` differing characters, and
never pairs a record when more than one partner is possible: such records are listed as
ambiguous for a person to resolve.

Examples
--------
>>> from evalkit.linkage import link_codes
>>> res = link_codes(["ab12", "CD34", "EF56"], ["AB12", "CD35", "XY99"], max_mismatches=1)
>>> res.pairs[["pre_code", "post_code", "distance"]].to_dict("records")
[{'pre_code': 'AB12', 'post_code': 'AB12', 'distance': 0}, \
{'pre_code': 'CD34', 'post_code': 'CD35', 'distance': 1}]
>>> round(res.match_rate, 3)
0.667
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evalkit.errors import AnalysisError

__all__ = ["LinkageResult", "link_codes", "normalize_code"]


@dataclass(frozen=True, eq=False)
class LinkageResult:
    """Codes linked across two waves (returned by :func:`link_codes`).

    Attributes
    ----------
    pairs : pandas.DataFrame
        One row per linked pair: ``pre_row``, ``post_row`` (index labels of the inputs, or
        positions for plain sequences), ``pre_code``, ``post_code`` (normalized) and
        ``distance`` (number of differing characters).
    ambiguous : pandas.DataFrame
        Every candidate pair that was *not* linked because a record had more than one
        candidate: ``pre_row``, ``post_row``, ``pre_code``, ``post_code``, ``distance``,
        ``reason``.
    unmatched : pandas.DataFrame
        Records with no candidate at all: ``wave`` ("pre" or "post"), ``row``, ``code``,
        ``reason``.
    n_pre, n_post : int
        Number of records given for each wave (including those with a missing code).
    match_rate : float
        ``len(pairs) / n_pre``: the share of pre-wave records that were linked.
    max_mismatches : int
        The largest Hamming distance accepted.
    prefer_exact : bool
        Whether unique exact matches were linked before the tolerant search.
    """

    pairs: pd.DataFrame
    ambiguous: pd.DataFrame
    unmatched: pd.DataFrame
    n_pre: int
    n_post: int
    match_rate: float
    max_mismatches: int
    prefer_exact: bool


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def normalize_code(code: Any) -> str | None:
    """A code as compared: text, surrounding whitespace removed, upper case; None if missing.

    Examples
    --------
    >>> normalize_code("  ab12 "), normalize_code(None), normalize_code("   ")
    ('AB12', None, None)
    """
    if code is None:
        return None
    try:
        if pd.isna(code):
            return None
    except (TypeError, ValueError):
        pass
    text = str(code).strip().upper()
    return text or None


def _records(codes: Any, name: str) -> tuple[list[Hashable], list[str | None]]:
    if isinstance(codes, str | bytes) or not isinstance(codes, Sequence | pd.Series | pd.Index
                                                         | np.ndarray):
        raise AnalysisError(
            f"{name} must be a sequence or pandas Series of codes; received "
            f"{type(codes).__name__}"
        )
    if isinstance(codes, pd.Series):
        rows = list(codes.index)
        values = list(codes)
    else:
        values = list(codes)
        rows = list(range(len(values)))
    if len(set(rows)) != len(rows):
        raise AnalysisError(f"{name} has a duplicated index; give each record its own label")
    return rows, [normalize_code(v) for v in values]


def _distances(pre: list[str], post: list[str], k: int) -> list[tuple[int, int, int]]:
    """(i, j, Hamming distance) for every pair within k; different lengths only if equal."""
    edges: list[tuple[int, int, int]] = []
    if k == 0:
        where: dict[str, list[int]] = {}
        for j, code in enumerate(post):
            where.setdefault(code, []).append(j)
        for i, code in enumerate(pre):
            edges += [(i, j, 0) for j in where.get(code, [])]
        return edges
    by_len_post: dict[int, list[int]] = {}
    for j, code in enumerate(post):
        by_len_post.setdefault(len(code), []).append(j)
    by_len_pre: dict[int, list[int]] = {}
    for i, code in enumerate(pre):
        by_len_pre.setdefault(len(code), []).append(i)
    for length, pre_idx in by_len_pre.items():
        post_idx = by_len_post.get(length, [])
        if not post_idx:
            continue
        a = np.array([[ord(ch) for ch in pre[i]] for i in pre_idx], dtype=np.int64)
        b = np.array([[ord(ch) for ch in post[j]] for j in post_idx], dtype=np.int64)
        for start in range(0, len(pre_idx), 512):
            block = a[start:start + 512]
            dist = (block[:, None, :] != b[None, :, :]).sum(axis=2)
            ii, jj = np.nonzero(dist <= k)
            edges += [(pre_idx[start + i], post_idx[j], int(dist[i, j]))
                      for i, j in zip(ii, jj, strict=True)]
    return sorted(edges)


def _resolve(edges: list[tuple[int, int, int]]) -> tuple[list[tuple[int, int, int]],
                                                           list[tuple[int, int, int, str]]]:
    """Unique pairs (each side has exactly one candidate) and the ambiguous edges."""
    deg_pre: dict[int, int] = {}
    deg_post: dict[int, int] = {}
    for i, j, _ in edges:
        deg_pre[i] = deg_pre.get(i, 0) + 1
        deg_post[j] = deg_post.get(j, 0) + 1
    pairs, ambiguous = [], []
    for i, j, d in edges:
        if deg_pre[i] == 1 and deg_post[j] == 1:
            pairs.append((i, j, d))
            continue
        why = []
        if deg_pre[i] > 1:
            why.append(f"pre record has {deg_pre[i]} candidates")
        if deg_post[j] > 1:
            why.append(f"post record is claimed by {deg_post[j]} pre records")
        ambiguous.append((i, j, d, "; ".join(why)))
    return pairs, ambiguous


def link_codes(
    pre: Sequence[Any] | pd.Series,
    post: Sequence[Any] | pd.Series,
    *,
    max_mismatches: int = 0,
    prefer_exact: bool = False,
) -> LinkageResult:
    """Link self-generated codes of a pre and a post wave, exactly or with a few typos.

    Codes are normalized (text, stripped, upper case) and compared by Hamming distance, so
    codes of different length link only when identical after normalization. A candidate pair
    is any pre/post pair within ``max_mismatches`` differing characters. A pair is linked
    only when both records have exactly one candidate; otherwise every candidate pair of the
    records involved goes to ``ambiguous`` with the reason, and nothing is linked for them
    (including a code that occurs twice in one wave). Ambiguity is never resolved by
    elimination.

    Parameters
    ----------
    pre, post : sequence or pandas.Series
        The codes of each wave; a Series' index labels identify its records in the result
        (plain sequences are identified by position). Missing or blank codes are reported as
        unmatched.
    max_mismatches : int, default 0
        Largest number of differing characters for a candidate (0: exact matching only).
    prefer_exact : bool, default False
        When True, pairs whose codes are identical and unique in both waves are linked
        first, and the tolerant search with its ambiguity rule runs on the remaining
        records. When False (the conservative default), an exact match with a second
        candidate within ``max_mismatches`` is ambiguous too.

    Returns
    -------
    LinkageResult
        ``pairs``, ``ambiguous``, ``unmatched`` and ``match_rate``.

    Raises
    ------
    AnalysisError
        The inputs are not sequences, an index label repeats, or ``max_mismatches`` is not a
        non-negative integer.

    Examples
    --------
    >>> res = link_codes(["AB12", "AB13"], ["AB12"], max_mismatches=1)
    >>> len(res.pairs), res.ambiguous["reason"].tolist()
    (0, ['post record is claimed by 2 pre records', 'post record is claimed by 2 pre records'])
    >>> res = link_codes(["AB12", "AB13"], ["AB12"], max_mismatches=1, prefer_exact=True)
    >>> res.pairs[["pre_code", "post_code"]].values.tolist(), res.unmatched["code"].tolist()
    ([['AB12', 'AB12']], ['AB13'])
    """
    if isinstance(max_mismatches, bool) or not isinstance(max_mismatches, int | np.integer) \
            or max_mismatches < 0:
        raise AnalysisError(
            f"max_mismatches must be a non-negative integer; received {_plain(max_mismatches)!r}"
        )
    k = int(max_mismatches)
    pre_rows, pre_codes = _records(pre, "pre")
    post_rows, post_codes = _records(post, "post")

    pre_known = {i: c for i, c in enumerate(pre_codes) if c is not None}
    post_known = {j: c for j, c in enumerate(post_codes) if c is not None}
    pre_ok, post_ok = list(pre_known), list(post_known)
    pairs: list[tuple[int, int, int]] = []
    ambiguous: list[tuple[int, int, int, str]] = []
    remaining_pre, remaining_post = pre_ok, post_ok

    if prefer_exact:
        exact = [(pre_ok[i], post_ok[j], d) for i, j, d in _distances(
            [pre_known[i] for i in pre_ok], [post_known[j] for j in post_ok], 0)]
        first, _ = _resolve(exact)
        pairs += first
        linked_pre = {i for i, _, _ in first}
        linked_post = {j for _, j, _ in first}
        remaining_pre = [i for i in pre_ok if i not in linked_pre]
        remaining_post = [j for j in post_ok if j not in linked_post]

    edges = [(remaining_pre[i], remaining_post[j], d) for i, j, d in _distances(
        [pre_known[i] for i in remaining_pre], [post_known[j] for j in remaining_post], k)]
    more, ambiguous = _resolve(edges)
    pairs = sorted(pairs + more)

    in_edges_pre = {i for i, _, _ in edges} | {i for i, _, _ in pairs}
    in_edges_post = {j for _, j, _ in edges} | {j for _, j, _ in pairs}
    none_within = ("no exact match" if k == 0
                   else f"no code within {k} mismatch{'es' if k > 1 else ''}")
    unmatched: list[tuple[str, Hashable, str | None, str]] = []
    for wave, rows, codes, used in (("pre", pre_rows, pre_codes, in_edges_pre),
                                    ("post", post_rows, post_codes, in_edges_post)):
        for idx, code in enumerate(codes):
            if code is None:
                unmatched.append((wave, rows[idx], None, "missing code"))
            elif idx not in used:
                unmatched.append((wave, rows[idx], code, none_within))

    pair_frame = pd.DataFrame(
        [(pre_rows[i], post_rows[j], pre_codes[i], post_codes[j], d) for i, j, d in pairs],
        columns=["pre_row", "post_row", "pre_code", "post_code", "distance"])
    amb_frame = pd.DataFrame(
        [(pre_rows[i], post_rows[j], pre_codes[i], post_codes[j], d, why)
         for i, j, d, why in ambiguous],
        columns=["pre_row", "post_row", "pre_code", "post_code", "distance", "reason"])
    unmatched_frame = pd.DataFrame(unmatched, columns=["wave", "row", "code", "reason"],
                                   dtype=object)
    n_pre = len(pre_codes)
    return LinkageResult(
        pairs=pair_frame, ambiguous=amb_frame, unmatched=unmatched_frame, n_pre=n_pre,
        n_post=len(post_codes), match_rate=len(pairs) / n_pre if n_pre else float("nan"),
        max_mismatches=k, prefer_exact=prefer_exact,
    )
