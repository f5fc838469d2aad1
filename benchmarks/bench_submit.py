"""Benchmark: ``evalkit submit`` of a large site file, through the CLI with its defaults.

For each size (20,000 and 200,000 rows by default) a fresh project is made with
``evalkit init`` in a temporary folder, a community-feedback CSV is generated (response id,
date, the eight Likert items, a comment, a self-generated code, age group, language and
the item shown only for "another language"; about a tenth of the codes repeat, so the
ambiguous-code path runs too), and ``evalkit submit FILE --site S01 --wave baseline -i
community`` runs in a new Python process. The wall-clock seconds of that process (start-up,
reading, validation, ingest and commit) are printed, with the CPU seconds of the child
(user + system: on a busy machine the wall clock also counts time spent waiting for a
core). The goal is under 30 s for 200,000 rows on 2 cores.

This is a benchmark, not a test: nothing is asserted.

Usage::

    .venv/bin/python benchmarks/bench_submit.py                 # 20k and 200k rows
    .venv/bin/python benchmarks/bench_submit.py --rows 50000 --keep
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def make_file(path: Path, rows: int, seed: int = 2026) -> None:
    """A valid community-feedback submission of ``rows`` responses."""
    rng = np.random.default_rng(seed)
    likert = {f"CF0{i}": rng.integers(1, 6, rows).astype(str) for i in range(1, 9)}
    language = rng.choice(["1", "2", "3"], rows, p=[0.6, 0.3, 0.1])
    letters = np.array(list("ABCDEFGHIJKLMNOPRSTVW"))
    def pick() -> np.ndarray:
        return letters[rng.integers(0, len(letters), rows)].astype(object)

    # Longer than the community survey's 5-character code, so that about a tenth repeat
    # at 200,000 rows (with 5 characters most would: there are only 111,132 such codes).
    codes = (pick() + pick() + pick()
             + np.char.zfill(rng.integers(1, 13, rows).astype(str), 2).astype(object)
             + pick())
    comments = np.array(["", "", "Very helpful staff.", "Waited too long.",
                         "They connected me with the food bank — gracias!"], dtype=object)
    frame = pd.DataFrame({
        "response_id": [f"F{i:06d}" for i in range(1, rows + 1)],
        "submitted_at": pd.Timestamp("2026-02-01") + pd.to_timedelta(
            rng.integers(0, 27, rows), unit="D"),
        **likert,
        "COMMENT": comments[rng.integers(0, len(comments), rows)],
        "SGIC": codes,
        "age_group": rng.choice(["", "1", "2", "3", "4"], rows),
        "language": language,
        "language_other": np.where(language == "3", "Tagalog", ""),
    })
    frame["submitted_at"] = frame["submitted_at"].dt.strftime("%Y-%m-%d")
    frame.to_csv(path, index=False)


def run(rows: int, *, keep: bool) -> tuple[float, float, str]:
    folder = Path(tempfile.mkdtemp(prefix=f"bench-submit-{rows}-"))
    env = {**os.environ, "EVALKIT_ID_KEY": os.environ.get("EVALKIT_ID_KEY",
                                                           "benchmark-key-0123456789")}
    cli = [sys.executable, "-c", "from evalkit.cli import app; app()"]
    try:
        subprocess.run([*cli, "init", str(folder / "project")], check=True, env=env,
                       capture_output=True, cwd=ROOT)
        data = folder / f"site_{rows}.csv"
        make_file(data, rows)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run([*cli, "submit", str(data), "--site", "S01", "--wave",
                               "baseline", "-i", "community", "-p", str(folder / "project")],
                              env=env, capture_output=True, text=True, cwd=ROOT)
        took = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        said = (done.stdout.strip() or done.stderr.strip()).splitlines()
        return took, cpu, f"exit {done.returncode}: {said[0] if said else ''}"
    finally:
        if keep:
            print(f"  kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[20_000, 200_000])
    parser.add_argument("--keep", action="store_true", help="Keep the temporary projects.")
    args = parser.parse_args()
    print(f"evalkit submit through the CLI, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}")
    for rows in args.rows:
        took, cpu, said = run(rows, keep=args.keep)
        print(f"{rows:>8,} rows: {took:6.1f} s wall, {cpu:6.1f} s CPU  ({said})")


if __name__ == "__main__":
    main()
