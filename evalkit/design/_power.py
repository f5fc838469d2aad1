"""Simulation power of the modality comparison, and the minimum detectable difference."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from evalkit.design._parameters import PowerParameters, _as_parameters
from evalkit.errors import AnalysisError

Assignment = Literal["lot", "chosen"]
Progress = Callable[[int, int], None]

#: Columns of :attr:`PowerResult.power`.
POWER_COLUMNS = ["sites_per_modality", "participants", "contrast", "a", "b", "from", "to",
                 "difference", "method", "power", "mc_se", "n_simulations", "n_failed",
                 "min_p", "mdd", "mdd_mc_se"]
METHODS = ("satterthwaite", "kenward-roger", "permutation")
#: Multiples of the model's minimum detectable difference at which the permutation test's
#: power is simulated (common random numbers) to find its own.
MDD_GRID = (0.8, 1.0, 1.25, 1.6, 2.0, 2.5, 3.2)
_CHUNK = 20


@dataclass(frozen=True)
class PowerResult:
    """What :func:`power` reports.

    Attributes
    ----------
    power : DataFrame
        One row per design (``sites_per_modality`` x ``participants``), contrast and method:
        ``sites_per_modality, participants, contrast, a, b, from, to, difference, method,
        power, mc_se, n_simulations, n_failed, min_p, mdd, mdd_mc_se``. ``contrast`` is
        ``"<a> vs <b>: <from> -> <to>"`` for a difference in change (``difference`` its
        simulated true value) or ``"joint"`` for the joint test of every wave x modality
        term (the model's Satterthwaite F and evalkit's site-level randomization test on
        all modalities and waves). ``method`` is ``satterthwaite`` or ``kenward-roger`` (the
        model's t test of the contrast) or ``permutation`` (the site-level randomization
        test on the two modalities' sites and the two waves of the change; by default only
        for the changes to the last wave, see ``permutation_changes``). ``power`` is the
        share of simulations that rejected at ``alpha`` and ``mc_se`` its Monte Carlo
        standard error; ``min_p`` the smallest p the randomization test can give;
        ``mdd`` the minimum detectable difference at ``target_power`` (infinite when the
        test cannot reach ``alpha``; missing when not computed) and ``mdd_mc_se`` its Monte
        Carlo standard error.
    parameters : PowerParameters
        The model the collaboratives were drawn from.
    settings : dict
        ``n_simulations, alpha, target_power, seed, permutations, max_exact, assignment``.
    notes : tuple of str
        Plain-language notes (e.g. designs where the randomization test cannot reach
        ``alpha``).
    """

    power: pd.DataFrame
    parameters: PowerParameters
    settings: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def smallest(self, *, method: str = "permutation", target: float | None = None
                 ) -> pd.DataFrame:
        """The smallest number of sites per modality whose power reaches ``target``.

        Returns one row per participants-per-site value and contrast: ``participants,
        contrast, a, b, from, to, method, sites_per_modality`` (missing when no simulated
        design reaches it), ``power, mc_se``.
        """
        target = self.settings.get("target_power", 0.8) if target is None else target
        sub = self.power[self.power["method"] == method]
        rows = []
        for (n, con), g in sub.groupby(["participants", "contrast"], sort=False):
            g = g.sort_values("sites_per_modality")
            hit = g[g["power"] >= target]
            first = hit.iloc[0] if len(hit) else None
            ref = g.iloc[0]
            rows.append({"participants": n, "contrast": con, "a": ref["a"], "b": ref["b"],
                         "from": ref["from"], "to": ref["to"], "method": method,
                         "sites_per_modality": (None if first is None
                                                else int(first["sites_per_modality"])),
                         "power": None if first is None else float(first["power"]),
                         "mc_se": None if first is None else float(first["mc_se"])})
        return pd.DataFrame(rows, columns=["participants", "contrast", "a", "b", "from", "to",
                                           "method", "sites_per_modality", "power", "mc_se"])


def _int_list(name: str, value: int | Iterable[int], minimum: int) -> list[int]:
    values = [value] if isinstance(value, (int, np.integer)) else list(value)
    if not values:
        raise AnalysisError(f"{name} must list at least one number; received []")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
            raise AnalysisError(f"{name} must be whole numbers >= {minimum}; received {v!r}")
        out.append(int(v))
    return sorted(dict.fromkeys(out))


def _seed_for(seed: int, sites: int, participants: int, sim: int) -> np.random.SeedSequence:
    # Each simulation's stream depends only on (seed, design, index): parallel == serial, and
    # a design gives the same figures whatever other designs are run with it.
    return np.random.SeedSequence([seed, sites, participants, sim])


@dataclass(frozen=True)
class _Task:
    params: PowerParameters
    sites: int
    participants: int
    sims: tuple[int, ...]
    seed: int
    assignment: str
    kenward_roger: bool
    permutation: bool
    permutations: int
    max_exact: int
    all_changes: bool
    # For the permutation MDD search: (contrast index, differences) or None.
    grid: tuple[tuple[int, tuple[float, ...]], ...] | None = None


def _contrasts(params: PowerParameters) -> list[Any]:
    """The reported contrasts (they depend only on the modalities and waves)."""
    from evalkit.design._simulate import build, contrasts, draw

    probe = draw(params, (2,) * len(params.modalities), 2, np.random.default_rng(0))
    return contrasts(params, build(probe, params.modalities, params.waves))


def _run_task(task: _Task) -> dict[str, np.ndarray]:
    from threadpoolctl import threadpool_limits

    from evalkit.design._simulate import analyse, draw, pair_permutation_p

    with threadpool_limits(limits=1, user_api="blas"):
        p = task.params
        K = len(p.modalities)
        sites = (task.sites,) * K
        out: dict[str, list[Any]] = {}
        cons = _contrasts(p)
        for sim in task.sims:
            ss = _seed_for(task.seed, task.sites, task.participants, sim)
            data_ss, test_ss = ss.spawn(2)
            if task.grid is None:
                rng = np.random.default_rng(data_ss)
                d = draw(p, sites, task.participants, rng, assignment=task.assignment)
                try:
                    o = analyse(d, p, cons, kenward_roger=task.kenward_roger,
                                permutation=task.permutation, permutations=task.permutations,
                                max_exact=task.max_exact,
                                seed=int(test_ss.generate_state(1)[0]),
                                all_changes=task.all_changes)
                except Exception:  # noqa: BLE001 - a failed fit is counted, not raised
                    out.setdefault("failed", []).append(True)
                    continue
                out.setdefault("failed", []).append(False)
                for name in ("error", "se", "df_satterthwaite", "se_kr", "df_kr",
                             "p_pair_permutation"):
                    out.setdefault(name, []).append(getattr(o, name))
                out.setdefault("p_joint_model", []).append(o.p_joint_model)
                out.setdefault("p_joint_permutation", []).append(o.p_joint_permutation)
                out.setdefault("singular", []).append(o.singular)
            else:
                row = []
                for k, diffs in task.grid:
                    for dv in diffs:
                        rng = np.random.default_rng(data_ss)
                        # contrast k's true value becomes dv: move modality a's change
                        c = cons[k]
                        shift = np.zeros((K, len(p.waves)))
                        shift[c.groups[0], c.times[1]] = dv - c.truth
                        d = draw(p, sites, task.participants, rng, assignment=task.assignment,
                                 shift=shift)
                        try:
                            pv = pair_permutation_p(
                                d, p, c, permutations=task.permutations,
                                max_exact=task.max_exact,
                                seed=int(test_ss.generate_state(1)[0]))
                        except Exception:  # noqa: BLE001
                            pv = math.nan
                        row.append(pv)
                out.setdefault("grid_p", []).append(row)
        return {k: np.asarray(v) for k, v in out.items()}


def _execute(tasks: list[_Task], workers: int, progress: Progress | None, done: int,
             total: int) -> list[dict[str, np.ndarray]]:
    results: list[dict[str, np.ndarray]] = []
    if workers <= 1 or len(tasks) <= 1:
        for t in tasks:
            results.append(_run_task(t))
            done += len(t.sims)
            if progress is not None:
                progress(done, total)
        return results
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for t, r in zip(tasks, pool.map(_run_task, tasks), strict=True):
            results.append(r)
            done += len(t.sims)
            if progress is not None:
                progress(done, total)
    return results


def _merge(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    keys = {k for p in parts for k in p}
    out = {}
    for k in keys:
        arrays = [p[k] for p in parts if k in p and p[k].size]
        out[k] = np.concatenate(arrays) if arrays else np.empty(0)
    return out


def _model_power_curve(err: np.ndarray, se: np.ndarray, df: np.ndarray, alpha: float
                       ) -> Callable[[float], float]:
    """Power of the model's t test at a true difference ``d``: under REML the variance
    estimates, SEs and dfs do not depend on the fixed effects, so the estimate at any ``d``
    is the simulated error plus ``d`` (exact for every simulated data set)."""
    from scipy import stats as sps

    ok = np.isfinite(err) & np.isfinite(se) & (se > 0) & np.isfinite(df) & (df > 0)
    e, s = err[ok], se[ok]
    q = sps.t.ppf(1.0 - alpha / 2.0, df[ok])
    n = err.size

    def curve(d: float) -> float:
        return float(np.sum(np.abs(e + d) / s > q) / n) if n else math.nan

    return curve


def _solve_mdd(curve: Callable[[float], float], target: float, scale: float, n: int
               ) -> tuple[float, float]:
    """Smallest ``d > 0`` with ``curve(d) >= target`` (bisection) and its Monte Carlo SE
    (the SE of a power near ``target`` divided by the slope of the curve there)."""
    if n == 0 or not math.isfinite(scale) or scale <= 0:
        return math.nan, math.nan
    hi = scale
    for _ in range(60):
        if curve(hi) >= target:
            break
        hi *= 2.0
    else:
        return math.inf, math.nan
    lo = 0.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if curve(mid) >= target:
            hi = mid
        else:
            lo = mid
        if hi - lo <= 1e-6 * hi:
            break
    mdd = hi
    h = 0.1 * mdd
    slope = (curve(mdd + h) - curve(max(mdd - h, 0.0))) / (2.0 * h)
    se_power = math.sqrt(target * (1.0 - target) / n)
    return mdd, (se_power / slope if slope > 0 else math.nan)


def _mc_se(p: float, n: int) -> float:
    return math.sqrt(p * (1.0 - p) / n) if n else math.nan


def power(
    source: Any,
    *,
    sites_per_modality: int | Iterable[int],
    participants: int | Iterable[int],
    n_simulations: int = 1000,
    alpha: float = 0.05,
    target_power: float = 0.8,
    assignment: Assignment = "lot",
    kenward_roger: bool = True,
    permutation: bool = True,
    permutations: int = 999,
    max_exact: int = 1_000,
    permutation_mdd: bool = False,
    permutation_changes: Literal["last", "all"] = "last",
    seed: int = 0,
    workers: int = 2,
    progress: Progress | None = None,
) -> PowerResult:
    """Power of the next collaborative's modality comparison, by simulation.

    For each design (``sites_per_modality`` x ``participants``) ``n_simulations``
    collaboratives are drawn from ``source``; each is fitted with the modality model as
    evalkit fits it (REML, Satterthwaite and Kenward-Roger degrees of freedom) and tested
    with evalkit's site-level randomization test. Every power figure comes with its Monte
    Carlo standard error. Each simulation has its own seed, derived from ``seed``, the
    design and its index, so any number of workers gives the same figures.

    Parameters
    ----------
    source : PowerParameters, ModalityModelResult or path
        The model to simulate from: stated parameters (:func:`parameters_from_icc`), a
        fitted modality model or a project's results folder (its variance components and
        the changes it estimated).
    sites_per_modality : int or iterable of int
        Sites per modality (the same for every modality), e.g. ``range(3, 13)``.
    participants : int or iterable of int
        Participants per site at the first wave, e.g. ``[20, 40]``.
    n_simulations : int, default 1000
    alpha : float, default 0.05
    target_power : float, default 0.8
        Power at which the minimum detectable difference is found.
    assignment : {"lot", "chosen"}, default "lot"
        How sites get their modality: by lot, or chosen (sites with higher levels take the
        modalities in order, so modalities differ at baseline). Only with ``"lot"`` is the
        site-level test a randomization test in the strict sense.
    kenward_roger : bool, default True
        Also compute Kenward-Roger tests (slower than Satterthwaite on large sites).
    permutation : bool, default True
        Also run the site-level randomization tests.
    permutations : int, default 999
        Random relabelings of each randomization test when it cannot be enumerated (evalkit
        analyze uses more; 999 decides ``p <= 0.05`` nearly as often, at a tenth of the
        cost).
    max_exact : int, default 1000
        Enumerate every relabeling when there are at most this many (``evalkit analyze``
        enumerates up to 10,000; above 1,000 relabelings ``permutations`` random ones decide
        nearly as the exact test does, at a fraction of the cost). The smallest attainable p
        is exact below it, ``1 / (permutations + 1)`` above.
    permutation_mdd : bool, default False
        Also find the randomization test's minimum detectable difference (more simulations:
        its power is simulated at several differences with common random numbers). The
        model tests' minimum detectable differences are always computed (they cost nothing
        extra: see Notes).
    permutation_changes : {"last", "all"}, default "last"
        Pairwise randomization tests of the changes from the first to the last wave only,
        or of every change from the first wave (the model tests always cover every change;
        the joint randomization test always runs).
    seed : int, default 0
    workers : int, default 2
        Processes (1 runs in this process).
    progress : callable, optional
        Called as ``progress(done, total)`` with counts of simulations.

    Returns
    -------
    PowerResult
        ``power`` table (see :class:`PowerResult`), parameters, settings and notes.

    Notes
    -----
    Under REML the variance estimates do not depend on the fixed effects, so for every
    simulated data set the model's estimate of a difference in change at any true value is
    its simulated error plus that value, with the same standard error and degrees of
    freedom. The model tests' power at any difference, and so their minimum detectable
    difference, follow exactly from one set of simulations. The randomization test's
    statistic uses the variance ratios of the model without modality terms, which do
    change with the difference, so its power is simulated at each difference.

    Examples
    --------
    >>> from evalkit.design import parameters_from_icc, power
    >>> p = parameters_from_icc(icc_site=0.05, icc_participant=0.5, effect=0.5)
    >>> res = power(p, sites_per_modality=[3], participants=[10], n_simulations=20,
    ...             kenward_roger=False, workers=1, seed=1)
    >>> res.power[["method", "min_p"]].drop_duplicates().to_dict("records")
    [{'method': 'satterthwaite', 'min_p': nan}, {'method': 'permutation', 'min_p': 0.1}]
    """
    from evalkit.design._simulate import permutation_floor

    params = _as_parameters(source)
    site_values = _int_list("sites_per_modality", sites_per_modality, 2)
    part_values = _int_list("participants", participants, 1)
    if isinstance(n_simulations, bool) or not isinstance(n_simulations, int) or \
            n_simulations < 2:
        raise AnalysisError(f"n_simulations must be a whole number >= 2; received "
                            f"{n_simulations!r}")
    if not 0.0 < alpha < 1.0:
        raise AnalysisError(f"alpha must be between 0 and 1; received {alpha!r}")
    if not 0.0 < target_power < 1.0:
        raise AnalysisError(f"target_power must be between 0 and 1; received {target_power!r}")
    if assignment not in ("lot", "chosen"):
        raise AnalysisError(f"assignment must be 'lot' or 'chosen'; received {assignment!r}")
    if permutations < 1:
        raise AnalysisError(f"permutations must be >= 1; received {permutations!r}")
    if permutation_changes not in ("last", "all"):
        raise AnalysisError(f"permutation_changes must be 'last' or 'all'; received "
                            f"{permutation_changes!r}")
    if workers < 1:
        raise AnalysisError(f"workers must be >= 1; received {workers!r}")

    designs = [(s, n) for s in site_values for n in part_values]
    total = len(designs) * n_simulations
    grid_total = 0
    tasks: list[_Task] = []
    for s, n in designs:
        for i in range(0, n_simulations, _CHUNK):
            tasks.append(_Task(params, s, n, tuple(range(i, min(i + _CHUNK, n_simulations))),
                               seed, assignment, kenward_roger, permutation, permutations,
                               max_exact, permutation_changes == "all"))
    if progress is not None:
        progress(0, total)
    parts = _execute(tasks, workers, progress, 0, total)

    rows: list[dict[str, Any]] = []
    cons = _contrasts(params)
    notes: list[str] = []
    mdd_jobs: list[tuple[int, int, float]] = []  # (row index, contrast index, model mdd)
    merged_by_design: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    pos = 0
    for s, n in designs:
        count = len(range(0, n_simulations, _CHUNK))
        merged = _merge(parts[pos:pos + count])
        pos += count
        merged_by_design[(s, n)] = merged
        failed = merged.get("failed", np.zeros(0, dtype=bool)).astype(bool)
        n_ok = int((~failed).sum())
        n_failed = int(failed.sum())
        floor_pair = permutation_floor((s, s))
        floor_joint = permutation_floor((s,) * len(params.modalities))
        pair_total = math.comb(2 * s, s)
        if pair_total > max_exact:
            floor_pair = 1.0 / (permutations + 1.0)
        joint_total = math.factorial(s * len(params.modalities)) // math.factorial(s) ** len(
            params.modalities)
        if joint_total > max_exact:
            floor_joint = 1.0 / (permutations + 1.0)
        base = {"sites_per_modality": s, "participants": n, "n_simulations": n_ok,
                "n_failed": n_failed}
        err = merged.get("error", np.empty((0, len(cons))))
        for k, c in enumerate(cons):
            label = f"{c.a} vs {c.b}: {c.start} -> {c.end}"
            con = {"contrast": label, "a": c.a, "b": c.b, "from": c.start, "to": c.end,
                   "difference": c.truth}
            methods = [("satterthwaite", "se", "df_satterthwaite")]
            if kenward_roger:
                methods.append(("kenward-roger", "se_kr", "df_kr"))
            model_mdd = math.nan
            for method, se_key, df_key in methods:
                if n_ok:
                    curve = _model_power_curve(err[:, k], merged[se_key][:, k],
                                               merged[df_key][:, k], alpha)
                    pw = curve(c.truth)
                    mdd, mdd_se = _solve_mdd(curve, target_power,
                                             float(np.nanmedian(merged[se_key][:, k])) * 2.8,
                                             n_ok)
                else:
                    pw, mdd, mdd_se = math.nan, math.nan, math.nan
                if method == "satterthwaite":
                    model_mdd = mdd
                rows.append({**base, **con, "method": method, "power": pw,
                             "mc_se": _mc_se(pw, n_ok), "min_p": math.nan, "mdd": mdd,
                             "mdd_mc_se": mdd_se})
            if permutation and (permutation_changes == "all"
                                or c.end == params.waves[-1]):
                pv = merged["p_pair_permutation"][:, k] if n_ok else np.empty(0)
                pw = float(np.mean(pv <= alpha)) if n_ok else math.nan
                mdd = math.inf if floor_pair > alpha else math.nan
                rows.append({**base, **con, "method": "permutation", "power": pw,
                             "mc_se": _mc_se(pw, n_ok), "min_p": floor_pair, "mdd": mdd,
                             "mdd_mc_se": math.nan})
                if permutation_mdd and floor_pair <= alpha and math.isfinite(model_mdd):
                    mdd_jobs.append((len(rows) - 1, k, model_mdd))
        joint = {"contrast": "joint", "a": None, "b": None, "from": params.waves[0],
                 "to": params.waves[-1], "difference": math.nan}
        pj = merged.get("p_joint_model", np.empty(0))
        pw = float(np.mean(pj < alpha)) if n_ok else math.nan
        rows.append({**base, **joint, "method": "satterthwaite", "power": pw,
                     "mc_se": _mc_se(pw, n_ok), "min_p": math.nan, "mdd": math.nan,
                     "mdd_mc_se": math.nan})
        if permutation:
            pj = merged.get("p_joint_permutation", np.empty(0))
            pw = float(np.mean(pj <= alpha)) if n_ok else math.nan
            rows.append({**base, **joint, "method": "permutation", "power": pw,
                         "mc_se": _mc_se(pw, n_ok), "min_p": floor_joint, "mdd": math.nan,
                         "mdd_mc_se": math.nan})
            if floor_pair > alpha:
                notes.append(
                    f"With {s} sites per modality the site-level randomization test of two "
                    f"modalities cannot give p below {floor_pair:.3g}, so it cannot reach "
                    f"{alpha:g} whatever the difference.")
        if n_failed:
            notes.append(f"{n_failed} of {n_simulations} simulated collaboratives with {s} "
                         f"sites per modality and {n} participants per site could not be "
                         "fitted; their power counts only the others.")
    frame = pd.DataFrame(rows, columns=POWER_COLUMNS)

    if mdd_jobs:
        frame = _permutation_mdd(frame, mdd_jobs, params, designs, cons, n_simulations,
                                 seed=seed, assignment=assignment, permutations=permutations,
                                 max_exact=max_exact, alpha=alpha, target=target_power,
                                 workers=workers, progress=progress, done=total)
        grid_total = len(MDD_GRID)
    if assignment == "chosen" and permutation:
        notes.append("With modalities chosen by the sites rather than assigned by lot, the "
                     "site-level test is a test of exchangeable sites, not a randomization "
                     "test; its power is simulated as if sites were exchangeable.")
    settings = {"n_simulations": n_simulations, "alpha": alpha, "target_power": target_power,
                "seed": seed, "permutations": permutations, "max_exact": max_exact,
                "assignment": assignment, "kenward_roger": kenward_roger,
                "permutation": permutation, "permutation_mdd": permutation_mdd,
                "permutation_changes": permutation_changes,
                "mdd_grid": list(MDD_GRID) if grid_total else None}
    return PowerResult(power=frame, parameters=params, settings=settings,
                       notes=tuple(dict.fromkeys(notes)))


def _permutation_mdd(frame: pd.DataFrame, jobs: list[tuple[int, int, float]],
                     params: PowerParameters, designs: Sequence[tuple[int, int]],
                     cons: list[Any], n_simulations: int, *, seed: int, assignment: str,
                     permutations: int, max_exact: int, alpha: float, target: float,
                     workers: int, progress: Progress | None, done: int) -> pd.DataFrame:
    """The randomization test's minimum detectable difference: its power simulated at
    multiples of the model's (same seeds, so the curve is smooth), interpolated linearly."""
    frame = frame.copy()
    by_design: dict[tuple[int, int], list[tuple[int, int, float]]] = {}
    for row, k, mdd in jobs:
        key = (int(frame.at[row, "sites_per_modality"]), int(frame.at[row, "participants"]))
        by_design.setdefault(key, []).append((row, k, mdd))
    tasks: list[_Task] = []
    keys: list[tuple[int, int]] = []
    for (s, n), items in by_design.items():
        grid = tuple((k, tuple(mdd * g for g in MDD_GRID)) for _, k, mdd in items)
        for i in range(0, n_simulations, _CHUNK):
            tasks.append(_Task(params, s, n, tuple(range(i, min(i + _CHUNK, n_simulations))),
                               seed, assignment, False, True, permutations, max_exact, True,
                               grid))
            keys.append((s, n))
    total = done + sum(len(t.sims) for t in tasks)
    parts = _execute(tasks, workers, progress, done, total)
    for (s, n), items in by_design.items():
        mine = [p for p, key in zip(parts, keys, strict=True) if key == (s, n)]
        gp = np.concatenate([m["grid_p"] for m in mine], axis=0)
        n_sim = gp.shape[0]
        G = len(MDD_GRID)
        for j, (row, _k, mdd) in enumerate(items):
            block = gp[:, j * G:(j + 1) * G]
            pw = np.mean(block <= alpha, axis=0)
            xs = np.array([mdd * g for g in MDD_GRID])
            above = np.flatnonzero(pw >= target)
            if not above.size:  # beyond the grid: more than 3.2 times the model's
                frame.at[row, "mdd"] = math.nan
                frame.at[row, "mdd_mc_se"] = math.nan
                continue
            i = int(above[0])
            if i == 0:
                value, slope = xs[0], (pw[1] - pw[0]) / (xs[1] - xs[0])
            else:
                x0, x1, y0, y1 = xs[i - 1], xs[i], pw[i - 1], pw[i]
                slope = (y1 - y0) / (x1 - x0)
                value = x0 + (target - y0) / slope if slope > 0 else x1
            frame.at[row, "mdd"] = float(value)
            frame.at[row, "mdd_mc_se"] = (math.sqrt(target * (1 - target) / n_sim) / slope
                                          if slope > 0 else math.nan)
    return frame
