"""Suppression across every table of one release: no hidden count recoverable by arithmetic.

A release is everything readers see together: the cross-site report, the lessons report and
every site report, rendered from one results folder. Each count a report prints is a cell
with a *meaning* (a :data:`Key`) and a *form*: which true counts it adds up. The true counts
are the site-level cells of each family::

    N (outcome, wave, site)   scored respondents (wave_summary)
    P (outcome, site)         matched pairs (prepost, matched design)
    F (scale, wave, site)     community feedback respondents (feedback_scores)
    E (scale, variable, group, wave)   an equity group, whole collaborative
    C (wave, site), L (site), A (site)  linkage codes, linked and ambiguous pairs

so the collaborative's "Seen at endline" is the form ``sum of N(o, endline, s) over sites``
and a site's cross-sectional pre/post n is ``N(o, pre, s) + N(o, post, s)``. The equity groups
of one variable add up to the feedback total (a known identity).

:func:`plan_suppression` hides every cell below the threshold (shown ``<11``), then every
site-level cell whose form involves a hidden count (its means and change are that count's),
then, while a hidden small count is still in the row space of the published forms (it can be
recovered by adding and subtracting published cells), hides one more published cell, trying
first the smallest cells of sibling sites at the same wave and leaving totals for last.
Cells hidden only to protect another are shown as a dash with a footnote (:data:`PROTECTED`).
:func:`recoverable_cells` is the audit: the hidden small counts whose unit vector lies in
the row space of the published forms (numpy rank test), per connected group of counts.

Means follow the counts: a displayed mean is hidden whenever its count cell is hidden, so the
sums (n times mean) a reader can form span no more than the published count forms, and a
hidden site's sum is recoverable only where its count would be.

Examples
--------
>>> from evalkit.findings._toy import toy_results
>>> plan = plan_suppression(toy_results(), threshold=11)
>>> sorted(set(plan.cells["status"]))
['show']
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from evalkit.results import Results

__all__ = ["Key", "SuppressionPlan", "published_cells", "plan_suppression", "suppression_table",
           "recoverable_cells", "PROTECTED", "PROTECTED_NOTE"]

#: A cell hidden only so that a small cell elsewhere cannot be recovered by arithmetic.
PROTECTED = "—†"
#: The note under a table showing :data:`PROTECTED`.
PROTECTED_NOTE = ("† Hidden so that a count below the threshold elsewhere in these reports "
                  "cannot be worked out by adding or subtracting published numbers.")

#: What a cell means: ``(kind, *identifiers, level, unit)``; ``level`` is ``site``,
#: ``modality`` or ``collaborative`` and ``unit`` the site or modality id (``""`` for the
#: collaborative). Kinds: ``wave_n (outcome, wave)``, ``pairs (outcome)``, ``prepost_n
#: (outcome)``, ``feedback_n (scale, wave)``, ``equity (scale, variable, group, wave)``,
#: ``codes (wave)``, ``linked ()``, ``ambiguous ()``.
Key = tuple[Any, ...]
Var = tuple[Any, ...]

def _int(v: object) -> int | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    try:
        return int(v)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


@dataclass
class _Cells:
    forms: dict[Key, dict[Var, int]] = field(default_factory=dict)
    values: dict[Key, int | None] = field(default_factory=dict)
    var_values: dict[Var, int | None] = field(default_factory=dict)
    identities: list[dict[Var, int]] = field(default_factory=list)

    def add(self, key: Key, form: Mapping[Var, int], value: int | None) -> None:
        if form:
            self.forms[key] = dict(form)
            self.values[key] = value


def _units(sites: pd.DataFrame) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {("collaborative", ""): list(sites["site_id"])}
    for m, sub in sites.groupby("modality"):
        out[("modality", str(m))] = list(sub["site_id"])
    for s in sites["site_id"]:
        out[("site", str(s))] = [str(s)]
    return out


def _level(row: Any) -> tuple[str, str]:
    level = str(row.level)
    if level == "site":
        return level, str(row.site_id)
    if level == "modality":
        return level, str(row.modality)
    return "collaborative", ""


def _collect(results: Results) -> _Cells:
    tables = set(results.tables)
    man = results.manifest
    plan = man.get("plan", {})
    pre = plan.get("compare", {}).get("pre", "")
    post = plan.get("compare", {}).get("post", "")
    sites = results.table("sites")
    units = _units(sites)
    cells = _Cells()

    def t(name: str) -> pd.DataFrame:
        return results.table(name) if name in tables else pd.DataFrame()

    def over(unit: tuple[str, str], make: Any) -> dict[Var, int]:
        return {make(s): 1 for s in units.get(unit, [])}

    ws = t("wave_summary")
    for r in ws.itertuples(index=False):
        unit = _level(r)
        o, w = str(r.outcome), str(r.wave)
        if unit[0] == "site":
            cells.var_values[("N", o, w, unit[1])] = _int(r.n)
        cells.add(("wave_n", o, w, *unit), over(unit, lambda s, o=o, w=w: ("N", o, w, s)),
                  _int(r.n))
    pp = t("prepost")
    for r in pp.itertuples(index=False):
        unit = _level(r)
        o = str(r.outcome)
        if r.design == "matched":
            form = over(unit, lambda s, o=o: ("P", o, s))
            value = _int(r.n_pairs)
            if unit[0] == "site":
                cells.var_values[("P", o, unit[1])] = value
            cells.add(("pairs", o, *unit), form, value)
        else:
            form = {**over(unit, lambda s, o=o: ("N", o, pre, s)),
                    **over(unit, lambda s, o=o: ("N", o, post, s))}
            a, b = _int(r.n_pre), _int(r.n_post)
            value = None if a is None or b is None else a + b
        cells.add(("prepost_n", o, *unit), form, value)
    at = t("attrition")
    for r in at.itertuples(index=False):
        unit = _level(r)
        o = str(r.outcome)
        for which, wave in (("n_pre", pre), ("n_post", post)):
            key = ("wave_n", o, wave, *unit)
            if key not in cells.forms:
                cells.add(key, over(unit, lambda s, o=o, w=wave: ("N", o, w, s)),
                          _int(getattr(r, which)))
        if ("pairs", o, *unit) not in cells.forms:
            cells.add(("pairs", o, *unit), over(unit, lambda s, o=o: ("P", o, s)),
                      _int(r.n_matched))
    fs = t("feedback_scores")
    for r in fs.itertuples(index=False):
        unit = _level(r)
        sc, w = str(r.scale), str(r.wave)
        value = _int(r.n)
        if unit[0] == "site":
            # the analysis already withheld small site rows: their count is not in results
            cells.var_values[("F", sc, w, unit[1])] = (1 if value is None and bool(
                getattr(r, "suppressed", False)) else value)
        cells.add(("feedback_n", sc, w, *unit),
                  over(unit, lambda s, sc=sc, w=w: ("F", sc, w, s)), value)
    eq = t("feedback_equity")
    eq = eq[eq["level"] == "collaborative"] if len(eq) else eq
    for (sc, var, w), sub in (eq.groupby(["scale", "variable", "wave"]) if len(eq) else []):
        total: dict[Var, int] = {}
        for r in sub.itertuples(index=False):
            v = ("E", str(sc), str(var), str(r.group), str(w))
            cells.var_values[v] = _int(r.n)
            cells.add(("equity", str(sc), str(var), str(r.group), str(w), "collaborative", ""),
                      {v: 1}, _int(r.n))
            total[v] = 1
        for s in units[("collaborative", "")]:
            total[("F", str(sc), str(w), s)] = -1
        cells.identities.append(total)
    lk = t("linkage")
    for r in lk.itertuples(index=False):
        s = str(r.site_id)
        linked: list[tuple[Key, Var, object]] = [
            (("codes", pre, "site", s), ("C", pre, s), r.n_pre),
            (("codes", post, "site", s), ("C", post, s), r.n_post),
            (("linked", "site", s), ("L", s), r.linked),
            (("ambiguous", "site", s), ("A", s), r.ambiguous)]
        for key, var, count in linked:
            cells.var_values[var] = _int(count)
            cells.add(key, {var: 1}, _int(count))
        # A reader may take the codes given at a wave to be that wave's anonymous
        # responses (they are, when everyone writes a code): treat them as equal to each
        # feedback count of the site, which can only make more cells count as recoverable.
        for wave in (pre, post):
            for sc in (fs["scale"].unique() if len(fs) else []):
                if ("F", str(sc), wave, s) in cells.var_values:
                    cells.identities.append({("C", wave, s): 1, ("F", str(sc), wave, s): -1})
    return cells


def published_cells(results: Results) -> pd.DataFrame:
    """Every count cell the release's reports can show, with its meaning and form.

    Returns
    -------
    pandas.DataFrame
        ``key`` (a :data:`Key`), ``kind``, ``level``, ``unit``, ``value`` (the count, or
        missing when the results withhold it) and ``form`` (a dict from the site-level counts
        it adds up to their coefficients).
    """
    cells = _collect(results)
    rows = [{"key": k, "kind": k[0], "level": k[-2], "unit": k[-1], "value": cells.values[k],
             "form": f} for k, f in cells.forms.items()]
    return pd.DataFrame(rows, columns=["key", "kind", "level", "unit", "value", "form"])


def _small(value: int | None, threshold: int) -> bool:
    return value is not None and 0 < value < threshold


def _components(forms: Iterable[Mapping[Var, int]]) -> list[set[Var]]:
    parent: dict[Var, Var] = {}

    def find(x: Var) -> Var:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for form in forms:
        vs = list(form)
        for v in vs:
            find(v)
        for v in vs[1:]:
            parent[find(v)] = find(vs[0])
    groups: dict[Var, set[Var]] = {}
    for v in parent:
        groups.setdefault(find(v), set()).add(v)
    return list(groups.values())


def _in_row_space(rows: Sequence[Mapping[Var, int]], target: Mapping[Var, int],
                  variables: list[Var]) -> bool:
    index = {v: i for i, v in enumerate(variables)}
    t = np.zeros(len(variables))
    for v, c in target.items():
        t[index[v]] = c
    if not rows:
        return not t.any()
    a = np.zeros((len(rows), len(variables)))
    for i, form in enumerate(rows):
        for v, c in form.items():
            a[i, index[v]] = c
    rank = np.linalg.matrix_rank(a)
    return bool(np.linalg.matrix_rank(np.vstack([a, t])) == rank)


def recoverable_cells(results: Results, hidden: Iterable[Key], *, threshold: int
                      ) -> list[Key | Var]:
    """The small counts a reader can recover from the published cells of a release.

    ``hidden`` are the cells not shown; every other cell of :func:`published_cells` is
    published. A small count (a site-level count from 1 to ``threshold - 1``, or a hidden
    cell whose own value is that small) is recoverable when its form lies in the row space
    of the published forms and the known identities (the equity groups add up to the
    total): adding and subtracting published numbers gives it exactly.

    Returns
    -------
    list
        The recoverable small counts (keys of cells, or site-level counts), empty when the
        release is safe.
    """
    cells = _collect(results)
    return _recoverable(cells, set(hidden), threshold)


def _targets(cells: _Cells, hidden: set[Key], threshold: int) -> list[tuple[Key | Var,
                                                                             dict[Var, int]]]:
    out: list[tuple[Key | Var, dict[Var, int]]] = [
        (v, {v: 1}) for v, value in cells.var_values.items() if _small(value, threshold)]
    out += [(k, cells.forms[k]) for k in hidden
            if k in cells.forms and _small(cells.values[k], threshold)]
    return out


def _recoverable(cells: _Cells, hidden: set[Key], threshold: int) -> list[Key | Var]:
    published = [f for k, f in cells.forms.items() if k not in hidden]
    known = published + cells.identities
    out = []
    for comp in _components([*cells.forms.values(), *cells.identities]):
        variables = sorted(comp, key=repr)
        rows = [f for f in known if next(iter(f)) in comp]
        for name, form in _targets(cells, hidden, threshold):
            if next(iter(form)) in comp and _in_row_space(rows, form, variables):
                out.append(name)
    return out


@dataclass(frozen=True)
class SuppressionPlan:
    """Which cells of a release are shown, shown as ``<threshold``, or hidden to protect.

    Attributes
    ----------
    threshold
        The suppression threshold.
    cells
        :func:`published_cells` with ``status``: ``show``, ``small`` or ``protect``.
    """

    threshold: int
    cells: pd.DataFrame

    def status(self, *key: Any) -> str:
        """``show``, ``small`` or ``protect`` for a cell; a cell the plan does not know is
        judged on its own value by the caller (``show``)."""
        hit = self._status.get(tuple(str(k) for k in key))
        return hit if hit is not None else "show"

    def hidden(self, *key: Any) -> bool:
        """Whether the cell is not shown."""
        return self.status(*key) != "show"

    def label(self, value: object, *key: Any) -> object:
        """The cell as printed: the value, ``<threshold`` or :data:`PROTECTED`."""
        status = self.status(*key)
        if status == "small":
            return f"<{self.threshold}"
        if status == "protect":
            return PROTECTED
        return value

    @cached_property
    def _status(self) -> dict[tuple[str, ...], str]:
        return {tuple(str(k) for k in key): s
                for key, s in zip(self.cells["key"], self.cells["status"], strict=True)}


def _site_of(key: Key) -> str | None:
    return str(key[-1]) if key[-2] == "site" else None


def plan_suppression(results: Results, *, threshold: int | None = None,
                     stored: bool = True) -> SuppressionPlan:
    """The cells to hide in every report of the release so that no small count can be
    recovered (see the module docstring for the rule).

    Parameters
    ----------
    results
        The results folder the release renders.
    threshold
        Counts from 1 to ``threshold - 1`` are small; default the manifest's
        ``suppression_threshold``.
    stored
        Use the plan ``evalkit analyze`` stored in the results (table ``suppression``) when
        it was made for this threshold; ``False`` computes it afresh.
    """
    k = int(threshold if threshold is not None
            else results.manifest.get("suppression_threshold", 11))
    # The plan depends only on the results and the threshold: `evalkit analyze` stores it
    # (table `suppression`), and within one process it is computed once per results folder.
    memo_key = (str(results.directory.resolve()), results.manifest.get("created_at"),
                results.manifest.get("data_hash"), k)
    if memo_key in _MEMO:
        return _MEMO[memo_key]
    kept = _stored_plan(results, k) if stored else None
    plan = kept if kept is not None else _compute_plan(results, k)
    _MEMO.clear()
    _MEMO[memo_key] = plan
    return plan


_MEMO: dict[tuple[object, ...], SuppressionPlan] = {}


def suppression_table(plan: SuppressionPlan) -> pd.DataFrame:
    """The plan as a results table (``evalkit analyze`` writes it as ``suppression``):
    ``key`` and ``form`` as JSON, ``kind, level, unit, site_id, value, status, threshold``.
    """
    c = plan.cells
    return pd.DataFrame({
        "key": [json.dumps(list(k)) for k in c["key"]],
        "kind": c["kind"].astype(str), "level": c["level"].astype(str),
        "unit": c["unit"].astype(str),
        "site_id": [_site_of(k) for k in c["key"]],
        "value": pd.array([None if v is None or (isinstance(v, float) and math.isnan(v))
                           else int(v) for v in c["value"]], dtype="Int64"),
        "form": [json.dumps([[list(v), int(n)] for v, n in f.items()]) for f in c["form"]],
        "status": c["status"].astype(str),
        "threshold": plan.threshold,
    })


def _stored_plan(results: Results, k: int) -> SuppressionPlan | None:
    if "suppression" not in results.tables:
        return None
    t = results.table("suppression")
    if len(t) and int(t["threshold"].iloc[0]) != k:
        return None
    frame = pd.DataFrame({
        "key": [tuple(json.loads(x)) for x in t["key"]], "kind": t["kind"],
        "level": t["level"], "unit": t["unit"],
        "value": [None if pd.isna(v) else int(v) for v in t["value"]],
        "form": [{tuple(v): n for v, n in json.loads(x)} for x in t["form"]],
        "status": t["status"]})
    return SuppressionPlan(threshold=k, cells=frame)


def _compute_plan(results: Results, k: int) -> SuppressionPlan:
    cells = _collect(results)
    status: dict[Key, str] = {}
    for key, value in cells.values.items():
        form = cells.forms[key]
        if _small(value, k) or (value is None and any(
                _small(cells.var_values.get(v), k) for v in form)):
            status[key] = "small"
    small_vars = {v for v, value in cells.var_values.items() if _small(value, k)}

    def site_rule() -> None:
        # a site-level cell whose form involves a hidden count is that count's cell
        hidden_vars = set(small_vars)
        for key in status:
            if _site_of(key) is not None:
                hidden_vars |= set(cells.forms[key])
        for key, form in cells.forms.items():
            if key not in status and _site_of(key) is not None and set(form) & hidden_vars:
                status[key] = "protect"

    site_rule()
    modality = dict(zip(results.table("sites")["site_id"].astype(str),
                        results.table("sites")["modality"].astype(str), strict=True)
                    ) if "sites" in results.tables else {}

    def cost(key: Key, near: Key | Var) -> tuple[int, int, int]:
        level = key[-2]
        site = _site_of(key)
        near_site = str(near[-1])
        same_group = key[1:-2] == tuple(near[1:-1]) if near[0] in "NPFCLA" else False
        rank = (0 if site is not None and same_group
                and modality.get(site) == modality.get(near_site) else
                1 if site is not None and same_group else 2 if site is not None else
                3 if level == "modality" else 4)
        return rank, cells.values.get(key) or 0, len(cells.forms[key])

    for _ in range(10_000):
        bad = _recoverable(cells, set(status), k)
        if not bad:
            break
        target = bad[0]
        tform = cells.forms[target] if target in cells.forms else {target: 1}
        comp = next(c for c in _components([*cells.forms.values(), *cells.identities])
                    if next(iter(tform)) in c)
        candidates = sorted((key for key, f in cells.forms.items()
                             if key not in status and next(iter(f)) in comp),
                            key=lambda key: cost(key, target))
        if not candidates:
            break
        chosen = candidates[0]
        for key in candidates[:40]:
            trial = {**status, key: "protect"}
            if target not in _recoverable_in(cells, set(trial), k, comp):
                chosen = key
                break
        status[chosen] = "protect"
        site_rule()
    frame = published_cells(results)
    frame["status"] = [status.get(key, "show") for key in frame["key"]]
    return SuppressionPlan(threshold=k, cells=frame)


def _recoverable_in(cells: _Cells, hidden: set[Key], threshold: int, comp: set[Var]
                    ) -> list[Key | Var]:
    known = [f for key, f in cells.forms.items() if key not in hidden] + cells.identities
    variables = sorted(comp, key=repr)
    rows = [f for f in known if next(iter(f)) in comp]
    return [name for name, form in _targets(cells, hidden, threshold)
            if next(iter(form)) in comp and _in_row_space(rows, form, variables)]
