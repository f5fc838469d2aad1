"""Benchmark: precision and recall of the personal-data detectors on labelled comments.

Reads ``tests/privacy/labelled_comments.jsonl`` (one comment a line: ``id, split, text,
spans`` with each span's ``start, end, kind``), runs :class:`evalkit.privacy.Scrubber`
(no names file: every name must come from the lexicon) and prints, per kind and overall:

* precision: detected spans that overlap a labelled span of the same kind;
* recall: labelled spans overlapped by a detected span of the same kind;
* and, overall only, "any kind": a labelled span counts as found when any detector covers
  it (what matters for disclosure: it is scrubbed whatever it is called).

The split is fixed in the file: ``tune`` (frames and values the detectors were tuned on)
and ``held_out`` (other frames, other values, not looked at while tuning). By default only
the held-apart half is scored.

Usage::

    .venv/bin/python benchmarks/privacy_quality.py
    .venv/bin/python benchmarks/privacy_quality.py --split tune --misses
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from evalkit.privacy import Scrubber, clean

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "tests" / "privacy" / "labelled_comments.jsonl"
KINDS = ("name", "email", "phone", "national_id", "date_of_birth", "address",
         "participant_id")


def load(path: Path = LABELLED) -> list[dict]:
    """The labelled comments."""
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score(rows: list[dict], scrubber: Scrubber | None = None) -> dict[str, dict[str, float]]:
    """``{kind: {tp_p, fp, tp_r, fn, precision, recall}}`` plus ``all`` and ``any kind``."""
    scrubber = scrubber or Scrubber()
    counts: dict[str, Counter[str]] = {k: Counter() for k in (*KINDS, "all", "any kind")}
    misses: list[str] = []
    for row in rows:
        if clean(row["text"]) != row["text"]:
            raise ValueError(f"comment {row['id']}: text must be NFC without invisible marks")
        found = [(s.start, s.end, s.kind) for s in scrubber.find(row["text"])]
        gold = [(g["start"], g["end"], g["kind"]) for g in row["spans"]]
        for s, e, k in found:
            ok = any(_overlap((s, e), (gs, ge)) and gk == k for gs, ge, gk in gold)
            for key in (k, "all"):
                if key in counts:
                    counts[key]["tp_p" if ok else "fp"] += 1
            if not ok:
                misses.append(f"  false {k:14} {row['text'][s:e]!r} in {row['text']!r}")
            anywhere = any(_overlap((s, e), (gs, ge)) for gs, ge, _ in gold)
            counts["any kind"]["tp_p" if anywhere else "fp"] += 1
        for gs, ge, gk in gold:
            ok = any(_overlap((s, e), (gs, ge)) and k == gk for s, e, k in found)
            counts[gk]["tp_r" if ok else "fn"] += 1
            counts["all"]["tp_r" if ok else "fn"] += 1
            anywhere = any(_overlap((s, e), (gs, ge)) for s, e, _ in found)
            counts["any kind"]["tp_r" if anywhere else "fn"] += 1
            if not ok:
                misses.append(f"  missed {gk:13} {row['text'][gs:ge]!r} in {row['text']!r}")
    out: dict[str, dict[str, float]] = {}
    for key, c in counts.items():
        p_den, r_den = c["tp_p"] + c["fp"], c["tp_r"] + c["fn"]
        out[key] = {"labelled": r_den, "detected": p_den,
                    "precision": c["tp_p"] / p_den if p_den else float("nan"),
                    "recall": c["tp_r"] / r_den if r_den else float("nan")}
    out["_misses"] = {m: 0.0 for m in misses}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="held_out", choices=["held_out", "tune", "both"])
    parser.add_argument("--misses", action="store_true", help="list every disagreement")
    args = parser.parse_args()
    rows = [r for r in load() if args.split in ("both", r["split"])]
    result = score(rows)
    print(f"{len(rows)} comments ({args.split}), "
          f"{sum(not r['spans'] for r in rows)} with no personal data")
    print(f"{'kind':16}{'labelled':>9}{'detected':>9}{'precision':>10}{'recall':>8}")
    for key, r in result.items():
        if key == "_misses":
            continue
        print(f"{key:16}{r['labelled']:>9.0f}{r['detected']:>9.0f}{r['precision']:>10.3f}"
              f"{r['recall']:>8.3f}")
    if args.misses:
        print("\n".join(result["_misses"]) or "  (none)")


if __name__ == "__main__":
    main()
