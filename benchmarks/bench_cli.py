"""Benchmark of what users run: the ``evalkit`` commands, process start included, against R.

In one run, each as a separate process (wall time from ``time.perf_counter`` around the
process, peak memory from the child's ``ru_maxrss`` by ``os.wait4``):

(a) ``evalkit model DATA.csv ...`` with its default options (REML, Satterthwaite df,
    estimated marginal means, difference-in-change contrasts, CR2 robust tests and the
    site-level permutation test), on the sizes of ``bench_models.py`` (6 x 25, 60 x 40 and
    600 x 80 sites x participants, 3 waves, ~20% of participant-waves missing) plus 6,000 x 80
    (about 1.15 M rows); against ``Rscript benchmarks/bench_cli.R DATA.csv cr2`` on the same
    CSV: ``lmerTest::lmer`` + ``summary`` + ``emmeans`` + contrasts (``r_model_s``, timed
    inside R) and clubSandwich's CR2 tests (``r_cr2_s``), with the whole ``Rscript`` wall
    time (``r_wall_s``: start-up, reading the CSV, model and CR2). R is stopped after
    ``--r-timeout`` seconds; a stage it did not finish is reported as missing.
(b) ``evalkit --help``, a no-op ``evalkit report`` (on the demo project of (c), already
    rendered) and ``python -c "import pandas"`` as the yardstick (best of ``--repeats``).
(c) ``evalkit demo --out DIR`` end to end.
(d) peak memory (MB) of every process above, and its CPU time (user + system), which a busy
    shared machine disturbs less than the wall time.

Usage::

    .venv/bin/python benchmarks/bench_cli.py                     # everything (~15-25 min)
    .venv/bin/python benchmarks/bench_cli.py --sizes small       # 6 sites only, quick
    .venv/bin/python benchmarks/bench_cli.py --sizes small,medium --no-r --skip-demo
    .venv/bin/python benchmarks/bench_cli.py --json results.json # also write the figures
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
# This driver imports nothing heavy: a child's ru_maxrss starts from the parent's resident size
# at fork, so a driver holding pandas would add its own ~150 MB to every figure. The data are
# made by bench_models.make_data in a child process.
NAMED_SIZES = {"small": (6, 25), "medium": (60, 40), "large": (600, 80),  # bench_models.SIZES
               "huge": (6000, 80)}
WAVES = ["baseline", "midline", "endline"]
MODEL_ARGS = ["--outcome", "score", "--time", "wave", "--time-order", ",".join(WAVES),
              "--group", "modality", "--cluster", "site", "--subject", "participant"]
MAKE_CSV = f"""
import sys
sys.path.insert(0, sys.argv[1])
from bench_models import SIZES, WAVES, make_data
n_sites, n_part = int(sys.argv[2]), int(sys.argv[3])
assert WAVES == {WAVES!r} and ((n_sites, n_part) in SIZES or n_sites == 6000)
data = make_data(n_sites, n_part)
data.to_csv(sys.argv[4], index=False)
print(len(data))
"""


@dataclass
class Run:
    wall_s: float
    cpu_s: float  # user + system time of the process and the children it waited for
    peak_mb: float
    returncode: int | None  # None: stopped at the timeout
    stdout: str
    stderr: str


def run(cmd: list[str], *, timeout: float | None = None, cwd: Path | None = None,
        memory_gb: float | None = None) -> Run:
    """Run ``cmd``; wall time and the child's peak resident memory (``ru_maxrss``).
    ``memory_gb`` caps the child's address space (an allocation beyond it fails)."""
    def limit() -> None:
        if memory_gb is not None:
            import resource

            cap = int(memory_gb * 1024**3)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd, start_new_session=True,
                                preexec_fn=limit if memory_gb is not None else None)
        deadline = None if timeout is None else t0 + timeout
        code: int | None = None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                code = os.waitstatus_to_exitcode(status)
                break
            if deadline is not None and time.perf_counter() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                _, status, usage = os.wait4(proc.pid, 0)
                code = None
                break
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        proc.returncode = -1  # reaped above; keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, code,
                   out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def best_of(cmd: list[str], repeats: int, **kwargs) -> dict:
    runs = [run(cmd, **kwargs) for _ in range(repeats)]
    for r in runs:
        if r.returncode != 0:
            raise RuntimeError(f"{cmd} failed ({r.returncode}): {r.stderr[-2000:]}")
    walls = sorted(r.wall_s for r in runs)
    return {"best_s": walls[0], "median_s": walls[len(walls) // 2],
            "best_cpu_s": min(r.cpu_s for r in runs),
            "peak_mb": max(r.peak_mb for r in runs), "first_line": runs[0].stdout.strip()
            .splitlines()[0] if runs[0].stdout.strip() else ""}


def r_stages(stdout: str) -> dict:
    stages = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            info = json.loads(line)
            stages[info["stage"]] = info
    return stages


def bench_model(name: str, tmp: Path, evalkit: str, *, with_r: bool, r_timeout: float,
                model_timeout: float, r_memory_gb: float | None = None) -> dict:
    n_sites, n_part = NAMED_SIZES[name]
    csv = tmp / f"bench_{n_sites}x{n_part}.csv"
    made = subprocess.run([sys.executable, "-c", MAKE_CSV, str(HERE), str(n_sites),
                           str(n_part), str(csv)], check=True, capture_output=True, text=True)
    row: dict = {"size": name, "sites": n_sites, "participants_per_site": n_part,
                 "rows": int(made.stdout.split()[-1])}
    ev = run([evalkit, "model", str(csv), *MODEL_ARGS], timeout=model_timeout)
    if ev.returncode != 0:
        raise RuntimeError(f"evalkit model failed on {name} ({ev.returncode}): "
                           f"{ev.stderr[-3000:]}")
    row.update(evalkit_s=ev.wall_s, evalkit_cpu_s=ev.cpu_s, evalkit_peak_mb=ev.peak_mb)
    print(f"{name}: evalkit model {ev.wall_s:.2f} s", file=sys.stderr, flush=True)
    if with_r:
        r = run(["Rscript", str(HERE / "bench_cli.R"), str(csv), "cr2"], timeout=r_timeout,
                memory_gb=r_memory_gb)
        stages = r_stages(r.stdout)
        model = stages.get("model", {})
        cr2 = stages.get("cr2", {})
        finished = r.returncode == 0
        if r.returncode not in (0, None):
            # e.g. clubSandwich's CR2 at 6,000 sites: it once took all 24 GB of this
            # machine and was killed by the kernel; under the cap it fails to allocate.
            lines = [x for x in r.stderr.splitlines() if x.strip()]
            row["r_failed"] = (lines[-1].strip()[:200] if lines else
                               f"killed by signal {-r.returncode}" if r.returncode < 0
                               else f"exit {r.returncode}")
        row.update(
            r_model_s=model.get("model_s"), r_cr2_s=cr2.get("cr2_s"),
            r_read_s=model.get("read_s"),
            r_wall_s=r.wall_s if finished else None, r_cpu_s=r.cpu_s if finished else None,
            r_peak_mb=r.peak_mb,
            r_timed_out=r.returncode is None,
            r_stopped_after_s=None if finished else r.wall_s)
        if model:
            row["ratio_evalkit_over_r_model"] = ev.wall_s / model["model_s"]
        if cr2:
            row["ratio_evalkit_over_r_model_cr2"] = ev.wall_s / (model["model_s"]
                                                               + cr2["cr2_s"])
        if finished:
            row["ratio_evalkit_over_r_wall"] = ev.wall_s / r.wall_s
        state = ("done" if finished else f"failed: {row['r_failed']}" if "r_failed" in row
                 else "stopped at the timeout")
        print(f"{name}: R {state} ({r.wall_s:.1f} s)", file=sys.stderr, flush=True)
    csv.unlink()
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,medium,large,huge",
                        help="comma-separated: small (6 sites), medium (60), large (600), "
                        "huge (6000)")
    parser.add_argument("--no-r", action="store_true", help="time evalkit only")
    parser.add_argument("--r-timeout", type=float, default=900.0,
                        help="seconds before a Rscript run is stopped (default 900: the "
                        "model plus 10 minutes of CR2 at the largest size)")
    parser.add_argument("--model-timeout", type=float, default=600.0)
    parser.add_argument("--r-memory-gb", type=float, default=8.0,
                        help="address-space cap of each Rscript run (default 8 GB)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="runs of --help, import pandas and the no-op report (best of)")
    parser.add_argument("--skip-demo", action="store_true",
                        help="skip (b)'s no-op report and (c)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in NAMED_SIZES]
    if unknown:
        parser.error(f"--sizes: unknown {unknown}; choose from {list(NAMED_SIZES)}")
    bindir = Path(sys.executable).parent
    evalkit = str(bindir / "evalkit") if (bindir / "evalkit").exists() else "evalkit"
    if not args.no_r and shutil.which("Rscript") is None:
        parser.error("Rscript not found (use --no-r)")

    out: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                             "platform": sys.platform}, "model": [], "startup": {}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        out["startup"]["import_pandas"] = best_of(
            [sys.executable, "-c", "import pandas"], args.repeats)
        out["startup"]["evalkit_help"] = best_of([evalkit, "--help"], args.repeats)
        if not args.skip_demo:
            demo = tmp / "demo"
            d = run([evalkit, "demo", "--out", str(demo)], timeout=1800)
            if d.returncode != 0:
                raise RuntimeError(f"evalkit demo failed: {d.stderr[-3000:]}")
            out["demo"] = {"wall_s": d.wall_s, "cpu_s": d.cpu_s, "peak_mb": d.peak_mb}
            print(f"demo {d.wall_s:.1f} s", file=sys.stderr, flush=True)
            out["startup"]["evalkit_report_noop"] = best_of(
                [evalkit, "report", "-p", str(demo)], args.repeats)
        for name in sizes:
            out["model"].append(bench_model(name, tmp, evalkit, with_r=not args.no_r,
                                            r_timeout=args.r_timeout,
                                            model_timeout=args.model_timeout,
                                            r_memory_gb=args.r_memory_gb))

    yard = out["startup"]["import_pandas"]["best_s"]
    print("(b) start-up, best of", args.repeats, "runs")
    for key, v in out["startup"].items():
        print(f"  {key:22s} {v['best_s']:7.3f} s (median {v['median_s']:.3f}, "
              f"CPU {v['best_cpu_s']:.3f}), "
              f"{v['best_s'] / yard:5.2f} x import pandas, peak {v['peak_mb']:.0f} MB")
    if "demo" in out:
        print(f"(c) evalkit demo end to end: {out['demo']['wall_s']:.1f} s "
              f"(CPU {out['demo']['cpu_s']:.1f} s), "
              f"peak {out['demo']['peak_mb']:.0f} MB")
    print("(a) evalkit model (defaults, CLI) vs R, same CSV")
    for row in out["model"]:
        def f(key: str, fmt: str = "{:.2f}", row: dict = row) -> str:
            v = row.get(key)
            return "-" if v is None else fmt.format(v)
        print(f"  {row['sites']:5d} sites {row['rows']:8d} rows: evalkit {f('evalkit_s')} s "
              f"(CPU {f('evalkit_cpu_s')}, {f('evalkit_peak_mb', '{:.0f}')} MB) | "
              f"R model {f('r_model_s')} s, "
              f"+CR2 {f('r_cr2_s')} s, whole Rscript {f('r_wall_s')} s "
              f"(CPU {f('r_cpu_s')}, {f('r_peak_mb', '{:.0f}')} MB)"
              + (f", stopped after {row['r_stopped_after_s']:.0f} s"
                 if row.get("r_timed_out") else "")
              + (f", failed after {row['r_stopped_after_s']:.0f} s: {row['r_failed']}"
                 if row.get("r_failed") else "")
              + f" | evalkit/R model {f('ratio_evalkit_over_r_model')}, "
              f"/(model+CR2) {f('ratio_evalkit_over_r_model_cr2')}, "
              f"/whole Rscript {f('ratio_evalkit_over_r_wall')}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=lambda o: asdict(o)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
