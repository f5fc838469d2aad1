"""Benchmark: simulation power of a 30-site, 3-wave collaborative.

``evalkit.design.power`` on 1,000 simulated collaboratives of 3 modalities x 10 sites x 20
participants, 3 waves, 15% attrition per wave: each is fitted with the modality model (REML,
Satterthwaite and Kenward-Roger df of the six difference-in-change contrasts and the joint
F test) and tested with the site-level randomization test (999 relabelings: the joint test
and one per pair of modalities for the change from the first to the last wave), on 2 worker
processes. Target: under 60 s on a 2-core machine.

Measured 2026-12-01 on the shared 2-core machine (other jobs running): 95.9 s wall at load
6.6, of which 36.8 s CPU in the two workers (about 18 s wall on an idle machine); without
the randomization tests 20.5 s wall, 12.6 s CPU. The figures are the same on every run and
for any number of workers.

Usage::

    .venv/bin/python benchmarks/bench_power.py             # 1,000 simulations
    .venv/bin/python benchmarks/bench_power.py --n 200     # fewer
    .venv/bin/python benchmarks/bench_power.py --workers 1 # serial (same figures)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a source checkout without installing

from evalkit.design import parameters_from_icc, power  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="simulations (default 1000)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-permutation", action="store_true")
    args = ap.parse_args()
    params = parameters_from_icc(icc_site=0.1, icc_participant=0.6, effect=0.3, waves=3,
                                 modalities=3, attrition=0.15)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    res = power(params, sites_per_modality=10, participants=20, n_simulations=args.n,
                workers=args.workers, permutation=not args.no_permutation, seed=1)
    wall = time.perf_counter() - t0
    load = os.getloadavg()[0]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers_cpu = children.ru_utime + children.ru_stime
    tab = res.power[res.power["to"] == "wave3"]
    out = {
        "design": "3 modalities x 10 sites x 20 participants, 3 waves, 15% attrition",
        "n_simulations": args.n, "workers": args.workers,
        "permutation": not args.no_permutation, "wall_s": round(wall, 2),
        "main_process_cpu_s": round(time.process_time() - cpu0, 2),
        # CPU of the worker processes: wall time on an idle machine is about this / workers.
        "workers_cpu_s": round(workers_cpu, 2),
        "per_simulation_ms": round(1000 * wall / args.n, 1),
        "load_average_1min": round(load, 2), "cpus": os.cpu_count(),
        "power": [{"contrast": r["contrast"], "method": r["method"],
                   "power": round(r["power"], 3), "mc_se": round(r["mc_se"], 3)}
                  for r in tab.to_dict(orient="records")],
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
