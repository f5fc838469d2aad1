"""Benchmark: evalkit's modality model against lme4/lmerTest + emmeans in R.

For each size (sites x participants x 3 waves, about 20% of participant-waves missing) the
script writes one CSV, then times, on that same CSV:

* evalkit: ``modality_model(..., permutations=None, robust=False)`` -- the REML fit,
  Satterthwaite df of the fixed effects, estimated marginal means of every cell and the
  difference-in-change contrasts (Holm) -- with the data already in memory (``evalkit_s``),
  and with the defaults, which add the CR2 robust tests and the permutation test
  (``evalkit_defaults_s``; ``benchmarks/bench_cli.py`` times the command line instead);
* R: ``lmerTest::lmer`` + ``summary`` (Satterthwaite) + ``emmeans(lmer.df = "satterthwaite")``
  + the same contrasts, timed inside R around the model code (``r_s``), and the whole
  ``Rscript`` process including start-up and reading the CSV (``r_wall_s``).

Usage::

    .venv/bin/python benchmarks/bench_models.py            # all three sizes
    .venv/bin/python benchmarks/bench_models.py --quick    # the two smaller sizes
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

from evalkit.models import modality_model  # noqa: E402

SIZES = [(6, 25), (60, 40), (600, 80)]
WAVES = ["baseline", "midline", "endline"]
MODALITIES = ["coaching", "convening", "peer"]


def make_data(n_sites: int, n_participants: int, *, seed: int = 1, attrition: float = 0.2
              ) -> pd.DataFrame:
    """Simulated collaborative: 3 modalities over the sites, 3 waves, ~20% rows missing."""
    rng = np.random.default_rng(seed)
    site = np.repeat(np.arange(n_sites), n_participants * 3)
    part = np.repeat(np.arange(n_sites * n_participants), 3)
    wave = np.tile(np.arange(3), n_sites * n_participants)
    modality = site % 3
    gain = np.array([1.0, 2.0, 3.0])[modality]
    score = (50.0 + rng.normal(0, 2.0, n_sites)[site] + rng.normal(0, 4.0, part.max() + 1)[part]
             + wave * gain + rng.normal(0, 3.0, site.size))
    keep = rng.random(site.size) >= attrition
    return pd.DataFrame({
        "site": [f"S{s:04d}" for s in site[keep]],
        "participant": [f"P{p % n_participants:03d}" for p in part[keep]],
        "wave": np.array(WAVES)[wave[keep]],
        "modality": np.array(MODALITIES)[modality[keep]],
        "score": np.round(score[keep], 3),
    })


def time_evalkit(data: pd.DataFrame, repeats: int, **options) -> tuple[float, pd.DataFrame]:
    options = options or {"permutations": None, "robust": False}
    best = float("inf")
    res = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = modality_model(data, outcome="score", time="wave", time_order=WAVES,
                             group="modality", cluster="site", subject="participant",
                             **options)
        best = min(best, time.perf_counter() - t0)
    assert res is not None
    return best, res.fixed_effects


def time_r(csv: Path) -> tuple[float, float, dict]:
    t0 = time.perf_counter()
    out = subprocess.run(["Rscript", str(HERE / "bench_models.R"), str(csv)], check=True,
                         capture_output=True, text=True)
    wall = time.perf_counter() - t0
    line = [s for s in out.stdout.splitlines() if s.startswith("{")][-1]
    info = json.loads(line)
    return float(info["seconds"]), wall, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the largest size")
    parser.add_argument("--repeats", type=int, default=3, help="evalkit repeats (best of)")
    parser.add_argument("--no-r", action="store_true", help="time evalkit only")
    args = parser.parse_args(argv)
    sizes = SIZES[:2] if args.quick else SIZES
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n_sites, n_part in sizes:
            data = make_data(n_sites, n_part)
            csv = Path(tmp) / f"bench_{n_sites}x{n_part}.csv"
            data.to_csv(csv, index=False)
            data = pd.read_csv(csv)
            ev_s, fe = time_evalkit(data, args.repeats)
            full_s, _ = time_evalkit(data, args.repeats, seed=1)
            r_s = r_wall = float("nan")
            max_rel = df_rel = float("nan")
            if not args.no_r:
                r_s, r_wall, info = time_r(csv)
                ours = fe["estimate"].to_numpy()
                theirs = np.asarray(info["fixef"], dtype=float)
                max_rel = float(np.max(np.abs(ours - theirs) / np.abs(theirs)))
                r_df = np.asarray(info["df"], dtype=float)
                df_rel = float(np.max(np.abs(fe["df"].to_numpy() - r_df) / r_df))
            rows.append({"sites": n_sites, "participants_per_site": n_part, "waves": 3,
                         "rows": len(data), "evalkit_s": ev_s, "evalkit_defaults_s": full_s,
                         "r_s": r_s, "r_wall_s": r_wall,
                         "ratio_r_over_evalkit": r_s / ev_s, "fixef_max_rel_diff": max_rel,
                         "df_max_rel_diff": df_rel})
            print(f"{n_sites} x {n_part}: done", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 160, "display.float_format", "{:.4g}".format):
        print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
