"""Numbers for the lessons report: how many sites per approach the next collaborative needs."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.design._parameters import PowerParameters, _as_parameters, _replace
from evalkit.design._power import PowerResult, Progress, power
from evalkit.errors import AnalysisError


@dataclass(frozen=True)
class DetectionSummary:
    """How often the next collaborative would detect a difference the size of this one's.

    The numbers behind "with ``N`` sites per approach, a difference the size of the one seen
    here would be detected ``X``% of the time (Monte Carlo SE ``Y``)".

    Attributes
    ----------
    a, b, start, end : str
        The two modalities and the change compared (``(end - start under a) - (end -
        start under b)``).
    difference : float
        The difference in change seen here (the simulations' true value).
    method : str
        The test whose power is reported (``permutation``, ``satterthwaite`` or
        ``kenward-roger``).
    alpha, target_power : float
    participants : int
        Participants per site simulated.
    current_sites : int or None
        Sites per modality in this collaborative (the smaller of the two modalities').
    curve : DataFrame
        ``sites_per_modality, power, mc_se, min_p, n_simulations``: every design simulated.
    smallest_sites : int or None
        Smallest number of sites per modality whose power reaches ``target_power`` (None if
        none up to ``max_sites`` does).
    smallest_power, smallest_mc_se : float or None
        Its power and Monte Carlo SE.
    n_simulations : int
    """

    a: str
    b: str
    start: str
    end: str
    difference: float
    method: str
    alpha: float
    target_power: float
    participants: int
    current_sites: int | None
    curve: pd.DataFrame
    smallest_sites: int | None
    smallest_power: float | None
    smallest_mc_se: float | None
    n_simulations: int

    def at(self, sites: int) -> tuple[float, float]:
        """``(power, mc_se)`` with ``sites`` sites per modality (it must have been simulated)."""
        row = self.curve[self.curve["sites_per_modality"] == sites]
        if row.empty:
            raise AnalysisError(
                f"sites_per_modality {sites} was not simulated; simulated: "
                f"{self.curve['sites_per_modality'].tolist()}")
        return float(row["power"].iloc[0]), float(row["mc_se"].iloc[0])

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "from": self.start, "to": self.end,
                "difference": self.difference, "method": self.method, "alpha": self.alpha,
                "target_power": self.target_power, "participants": self.participants,
                "current_sites": self.current_sites,
                "curve": _records(self.curve),
                "smallest_sites": self.smallest_sites, "smallest_power": self.smallest_power,
                "smallest_mc_se": self.smallest_mc_se, "n_simulations": self.n_simulations}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in frame.to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for k, v in rec.items():
            if isinstance(v, float) and not math.isfinite(v):
                clean[str(k)] = None if math.isnan(v) else ("inf" if v > 0 else "-inf")
            elif hasattr(v, "item"):
                clean[str(k)] = v.item()
            else:
                clean[str(k)] = v
        out.append(clean)
    return out


def detection_summary(
    source: PowerParameters | str | Path | Any,
    *,
    a: str | None = None,
    b: str | None = None,
    method: str = "permutation",
    sites_per_modality: Iterable[int] = (),
    participants: int | None = None,
    max_sites: int = 40,
    n_simulations: int = 400,
    alpha: float = 0.05,
    target_power: float = 0.8,
    seed: int = 0,
    workers: int = 2,
    progress: Progress | None = None,
) -> DetectionSummary:
    """Power to detect this collaborative's difference, and the sites per approach needed.

    The simulations keep only the two modalities compared (by default the pair whose change
    from the first to the last wave differs most) and are drawn from ``source``'s variance
    components and changes; the smallest number of sites per modality reaching
    ``target_power`` is found by doubling and then bisection, so only a handful of designs
    are simulated.

    Parameters
    ----------
    source : PowerParameters, ModalityModelResult or path
        As in :func:`evalkit.design.power` (a project's results folder for the report).
    a, b : str, optional
        The modalities compared; both or neither.
    method : {"permutation", "satterthwaite", "kenward-roger"}, default "permutation"
        The site-level randomization test (the decision rule's test), or the model's.
    sites_per_modality : iterable of int, optional
        Designs to simulate in any case (for the report's "with N sites per approach").
    participants : int, optional
        Participants per site (this collaborative's average by default; 20 if unknown).
    max_sites : int, default 40
    n_simulations, alpha, target_power, seed, workers, progress
        As in :func:`evalkit.design.power`.

    Returns
    -------
    DetectionSummary

    Examples
    --------
    >>> from evalkit.design import parameters_from_icc
    >>> p = parameters_from_icc(icc_site=0.05, icc_participant=0.5, effect=0.6)
    >>> s = detection_summary(p, participants=10, n_simulations=40, max_sites=8, workers=1)
    >>> s.a, s.b, s.smallest_sites is None or 2 <= s.smallest_sites <= 8
    ('A', 'B', True)
    """
    if method not in ("permutation", "satterthwaite", "kenward-roger"):
        raise AnalysisError(
            f"method must be 'permutation', 'satterthwaite' or 'kenward-roger'; received "
            f"{method!r}")
    if isinstance(max_sites, bool) or not isinstance(max_sites, int) or max_sites < 2:
        raise AnalysisError(f"max_sites must be a whole number >= 2; received {max_sites!r}")
    params = _as_parameters(source)
    mods = params.modalities
    first, last = params.waves[0], params.waves[-1]
    if (a is None) != (b is None):
        raise AnalysisError("give both modalities a and b, or neither")
    if a is None or b is None:
        pairs = [(x, y) for i, x in enumerate(mods) for y in mods[i + 1:]]
        a, b = max(pairs, key=lambda xy: abs(params.difference(xy[0], xy[1], first, last)))
    for m in (a, b):
        if m not in mods:
            raise AnalysisError(f"modality {m!r} is not in the parameters; modalities are "
                                f"{list(mods)}")
    i, j = mods.index(a), mods.index(b)
    sub = _replace(params, modalities=(a, b), change=(params.change[i], params.change[j]),
                   sites_per_modality=(None if params.sites_per_modality is None else
                                       (params.sites_per_modality[i],
                                        params.sites_per_modality[j])))
    n = participants if participants is not None else (
        max(2, round(params.participants)) if params.participants else 20)
    current = None if sub.sites_per_modality is None else min(sub.sites_per_modality)
    label = f"{a} vs {b}: {first} -> {last}"
    cache: dict[int, tuple[float, float, float, int]] = {}

    def run(values: list[int]) -> None:
        todo = [v for v in dict.fromkeys(values) if v not in cache and v >= 2]
        if method == "permutation":
            # a design whose exact randomization test cannot go below alpha has power 0
            # whatever the data: no need to simulate it
            from evalkit.design._simulate import permutation_floor

            for v in [v for v in todo if permutation_floor((v, v)) > alpha]:
                cache[v] = (0.0, 0.0, permutation_floor((v, v)), n_simulations)
                todo.remove(v)
        if not todo:
            return
        res: PowerResult = power(
            sub, sites_per_modality=todo, participants=[n], n_simulations=n_simulations,
            alpha=alpha, target_power=target_power, kenward_roger=(method == "kenward-roger"),
            permutation=(method == "permutation"), seed=seed, workers=workers,
            progress=progress)
        tab = res.power[(res.power["contrast"] == label) & (res.power["method"] == method)]
        for rec in tab.to_dict(orient="records"):
            cache[int(rec["sites_per_modality"])] = (float(rec["power"]), float(rec["mc_se"]),
                                                     float(rec["min_p"]),
                                                     int(rec["n_simulations"]))

    doubling = [2 ** k for k in range(1, max_sites.bit_length()) if 2 ** k <= max_sites]
    if max_sites not in doubling:
        doubling.append(max_sites)
    # The designs asked for and the first of the doubling grid in one batch, then doubling
    # until the target is reached, then bisection.
    run([*sites_per_modality, *([current] if current else []), doubling[0]])
    smallest = None
    lo, hi = 1, 0
    for v in doubling:
        run([v])
        if cache[v][0] >= target_power:
            hi = v
            break
        lo = v
    if hi:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            run([mid])
            if cache[mid][0] >= target_power:
                hi = mid
            else:
                lo = mid
        smallest = hi
    curve = pd.DataFrame(
        [{"sites_per_modality": s, "power": v[0], "mc_se": v[1], "min_p": v[2],
          "n_simulations": v[3]} for s, v in sorted(cache.items())],
        columns=["sites_per_modality", "power", "mc_se", "min_p", "n_simulations"])
    return DetectionSummary(
        a=a, b=b, start=first, end=last, difference=params.difference(a, b, first, last),
        method=method, alpha=alpha, target_power=target_power, participants=int(n),
        current_sites=current, curve=curve, smallest_sites=smallest,
        smallest_power=None if smallest is None else cache[smallest][0],
        smallest_mc_se=None if smallest is None else cache[smallest][1],
        n_simulations=n_simulations)


def to_json(result: PowerResult) -> dict[str, Any]:
    """A :class:`PowerResult` as plain JSON-ready values (the CLI's ``--json``).

    Keys: ``parameters``, ``settings``, ``power`` (records of the power table; infinite
    minimum detectable differences as ``"inf"``), ``notes``.
    """
    return {"parameters": result.parameters.to_dict(), "settings": dict(result.settings),
            "power": _records(result.power), "notes": list(result.notes)}
