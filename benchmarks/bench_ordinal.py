"""Benchmark: evalkit's ordinal_model against ordinal::clmm + emmeans in R.

For each size (sites x participants x waves; 3 modalities; about 20% of later waves
missing; one 5-point answer per row) the script writes one CSV, then times, on that CSV:

* evalkit: ``ordinal_model(...)`` -- the Laplace fit with participants nested in sites, the
  Hessian for standard errors, latent emmeans, difference-in-change contrasts and category
  probabilities -- with the data already in memory;
* R: ``clmm(answer ~ wave * modality + (1|site) + (1|site:participant), nAGQ = 1)`` +
  ``summary`` + ``emmeans(mode = "latent")`` + the interaction contrasts, timed inside R
  around the model code (``r_s``, and its CPU time ``r_cpu_s``), and the whole ``Rscript``
  process (``r_wall_s``). An R run longer than ``--r-timeout`` seconds is stopped and
  reported as such.

The ratio is ``r_s / evalkit_s`` (above 1: evalkit is faster); on a shared, loaded machine
the CPU-time ratio ``r_cpu_s / evalkit_cpu_s`` is the steadier figure.

Measured (one run, 2-core machine at load ~3, R 4.2.2, ordinal 2022.11.16):
40x30x2 (2,174 rows): evalkit 0.14 s, clmm 6.1 s (43x; CPU 34x); 600x80x3 (124,684 rows):
evalkit 11.0 s (8.1 s CPU), clmm 708 s (543 s CPU): 64x (CPU 67x). clmm's default fit stops
short of ours (our logLik higher by 9e-7 and 1.3e-5), hence coefficient differences of ~2e-3.

Usage::

    .venv/bin/python benchmarks/bench_ordinal.py                  # both sizes
    .venv/bin/python benchmarks/bench_ordinal.py --quick          # the smaller size only
    .venv/bin/python benchmarks/bench_ordinal.py --r-timeout 3600
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a source checkout without installing

from evalkit.models import ordinal_model  # noqa: E402

SIZES = [(40, 30, 2), (600, 80, 3)]
MODALITIES = ["coaching", "convening", "peer"]
CUTS = np.array([-1.5, -0.3, 0.8, 2.0])


def waves_for(n_waves: int) -> list[str]:
    return ["baseline", "endline"] if n_waves == 2 else ["baseline", "midline", "endline"]


def make_data(n_sites: int, n_participants: int, n_waves: int, *, seed: int = 1,
              attrition: float = 0.2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    waves = waves_for(n_waves)
    site = np.repeat(np.arange(n_sites), n_participants * n_waves)
    part = np.repeat(np.arange(n_sites * n_participants), n_waves)
    wave = np.tile(np.arange(n_waves), n_sites * n_participants)
    modality = site % 3
    gain = np.array([0.3, 0.6, 0.9])[modality]
    latent = (rng.normal(0, 0.5, n_sites)[site] + rng.normal(0, 1.0, part.max() + 1)[part]
              + wave * gain + rng.logistic(size=site.size))
    answer = 1 + (latent[:, None] > CUTS[None, :]).sum(axis=1)
    keep = (wave == 0) | (rng.random(site.size) >= attrition)
    return pd.DataFrame({
        "site": [f"S{s:04d}" for s in site[keep]],
        "participant": [f"P{p % n_participants:03d}" for p in part[keep]],
        "wave": np.array(waves)[wave[keep]],
        "modality": np.array(MODALITIES)[modality[keep]],
        "answer": answer[keep],
    })


def time_evalkit(data: pd.DataFrame, waves: list[str], repeats: int):
    best = best_cpu = float("inf")
    res = None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        res = ordinal_model(data, outcome="answer", time="wave", time_order=waves,
                            group="modality", cluster="site", subject="participant")
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    assert res is not None
    return best, best_cpu, res


def time_r(csv: Path, waves: list[str], timeout: float):
    t0 = time.perf_counter()
    try:
        out = subprocess.run(["Rscript", str(HERE / "bench_ordinal.R"), str(csv),
                              ",".join(waves)], check=True, capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - t0
    wall = time.perf_counter() - t0
    line = [s for s in out.stdout.splitlines() if s.startswith("{")][-1]
    return json.loads(line), wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smaller size only")
    parser.add_argument("--repeats", type=int, default=3, help="evalkit repeats (best of)")
    parser.add_argument("--no-r", action="store_true", help="time evalkit only")
    parser.add_argument("--r-timeout", type=float, default=3600.0,
                        help="seconds before an R run is stopped (default 3600)")
    args = parser.parse_args(argv)
    sizes = SIZES[:1] if args.quick else SIZES
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n_sites, n_part, n_waves in sizes:
            waves = waves_for(n_waves)
            data = make_data(n_sites, n_part, n_waves)
            csv = Path(tmp) / f"bench_{n_sites}x{n_part}x{n_waves}.csv"
            data.to_csv(csv, index=False)
            data = pd.read_csv(csv)
            repeats = args.repeats if len(data) < 20_000 else 1
            ev_s, ev_cpu, res = time_evalkit(data, waves, repeats)
            row = {"size": f"{n_sites}x{n_part}x{n_waves}", "rows": len(data),
                   "evalkit_s": ev_s, "evalkit_cpu_s": ev_cpu, "r_s": np.nan,
                   "r_cpu_s": np.nan, "r_wall_s": np.nan, "ratio_r_over_evalkit": np.nan,
                   "cpu_ratio": np.nan, "coef_max_rel_diff": np.nan, "loglik_diff": np.nan,
                   "note": ""}
            if not args.no_r:
                info, wall = time_r(csv, waves, args.r_timeout)
                if info is None:
                    row["note"] = f"clmm stopped after {wall:.0f} s (timeout)"
                    row["r_wall_s"] = wall
                    row["ratio_r_over_evalkit"] = f">{wall / ev_s:.0f}"
                else:
                    ours = np.r_[res.thresholds["estimate"], res.fixed_effects["estimate"]]
                    theirs = np.r_[info["alpha"], info["beta"]]
                    row.update(r_s=float(info["seconds"]), r_wall_s=wall,
                               r_cpu_s=float(info["cpu_seconds"]),
                               ratio_r_over_evalkit=float(info["seconds"]) / ev_s,
                               cpu_ratio=float(info["cpu_seconds"]) / ev_cpu,
                               coef_max_rel_diff=float(np.max(np.abs(ours - theirs)
                                                              / np.abs(theirs))),
                               loglik_diff=res.fit.loglik - float(info["logLik"]))
            rows.append(row)
            print(f"{row['size']}: done", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.float_format", "{:.4g}".format):
        print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
