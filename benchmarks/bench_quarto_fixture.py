"""Benchmark: the fallback engine against a real Quarto 1.10.18 on the same document.

Quarto cannot be installed on this machine, but its transcripts record how long each call
took (``wall_seconds``, 2 shared cores, README of ``tests/quarto/fixtures``). This script
renders the fixture document ``tests/quarto/project/reports/doc.qmd`` with evalkit's fallback
engine in the shapes of those calls (HTML alone, Word alone, both formats with parameters)
and prints its time beside the recorded Quarto time and their ratio. Quarto's times are a
recording, not part of this run: read the ratio as indicative.

Usage::

    .venv/bin/python benchmarks/bench_quarto_fixture.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

FIXTURES = ROOT / "tests" / "quarto" / "fixtures"
PROJECT = ROOT / "tests" / "quarto" / "project"
# fixture -> (formats, parameters) of the same call shape
SHAPES = {
    "11_html_no_output.json": (("html",), None),
    "14_docx.json": (("docx",), None),
    "25_candidate_all_formats_params_output_dir.json": (
        ("html", "docx"), {"results_dir": "results-from-params-file", "site": "S42"}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import shutil

    from evalkit.reporting._render import render_document

    print(f"{'call (fixture)':<52} {'Quarto 1.10.18':>15} {'fallback':>10} {'ratio':>7}")
    for name, (formats, params) in SHAPES.items():
        recorded = json.loads((FIXTURES / name).read_text(encoding="utf-8"))["wall_seconds"]
        times = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                project = Path(tmp) / "project"
                shutil.copytree(PROJECT, project)
                start = time.perf_counter()
                render_document(project / "reports" / "doc.qmd", output_dir=Path(tmp) / "out",
                                formats=formats, params=params, engine="fallback",
                                project_dir=project)
                times.append(time.perf_counter() - start)
        ours = statistics.median(times)
        print(f"{name:<52} {recorded:>13.2f} s {ours:>8.2f} s {ours / recorded:>7.2f}")
    print("(Quarto: recorded wall time of the transcript; fallback: median of "
          f"{args.repeat} runs here)")


if __name__ == "__main__":
    main()
