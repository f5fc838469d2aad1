"""Benchmark: how well the theme codebook's suggestions match hand-labelled comments.

Reads ``tests/reference/feedback/themes_labelled.csv`` (``split, text, themes``) and the
codebook ``analyses/themes.yml``, codes every comment with :func:`code_themes` and prints
precision, recall and F1 per theme and micro-averaged, for each split:

* ``dev`` — the 20 comment texts of the demo generator, which the codebook was written for;
* ``holdout`` — 40 comments written and labelled before the codebook was run on them, in
  other words (``pantry``, ``evicted``, ``interpreter``, ``breakfast``); it shows how the
  keywords do on text they were not tuned to.

Usage::

    .venv/bin/python benchmarks/themes_quality.py
    .venv/bin/python benchmarks/themes_quality.py --misses     # also list every disagreement
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from evalkit.feedback import code_themes, load_codebook, theme_agreement

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "tests" / "reference" / "feedback" / "themes_labelled.csv"
CODEBOOK = ROOT / "analyses" / "themes.yml"


def labelled_set(path: Path = LABELLED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The labelled comments (``response_id, split, text``) and their reference codes."""
    data = pd.read_csv(path, dtype=str, keep_default_na=False)
    data["response_id"] = [f"{s}-{i:03d}" for i, s in enumerate(data["split"])]
    ref = [{"response_id": r, "theme": t.strip()}
           for r, themes in zip(data["response_id"], data["themes"], strict=True)
           for t in themes.split(";") if t.strip()]
    return data[["response_id", "split", "text"]], pd.DataFrame(ref,
                                                                columns=["response_id", "theme"])


def evaluate(codebook_path: Path = CODEBOOK, labelled: Path = LABELLED
             ) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Per split: the agreement table and the disagreements (``text, theme, kind``)."""
    book = load_codebook(codebook_path)
    comments, reference = labelled_set(labelled)
    suggested = code_themes(comments, codebook=book)
    out = {}
    for split in ["all", *dict.fromkeys(comments["split"])]:
        part = comments if split == "all" else comments[comments["split"] == split]
        table = theme_agreement(suggested, reference, codebook=book,
                                comments=part["response_id"].tolist())
        s = set(zip(suggested["response_id"], suggested["theme"], strict=True))
        r = set(zip(reference["response_id"], reference["theme"], strict=True))
        ids = set(part["response_id"])
        text = dict(zip(comments["response_id"], comments["text"], strict=True))
        misses = pd.DataFrame(
            [{"text": text[i], "theme": t, "kind": "false positive"} for i, t in s - r
             if i in ids]
            + [{"text": text[i], "theme": t, "kind": "false negative"} for i, t in r - s
               if i in ids], columns=["text", "theme", "kind"]).sort_values(["kind", "theme"])
        out[split] = (table, misses)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="List every disagreement.")
    args = parser.parse_args()
    pd.set_option("display.width", 120)
    for split, (table, misses) in evaluate().items():
        micro = table.iloc[-1]
        print(f"\n== {split}: precision {micro['precision']:.2f}, recall "
              f"{micro['recall']:.2f}, F1 {micro['f1']:.2f} (micro, "
              f"{int(micro['n_reference'])} reference codes)")
        print(table[["theme", "n_reference", "n_suggested", "precision", "recall", "f1"]]
              .round(2).to_string(index=False))
        if args.misses and len(misses):
            print(misses.to_string(index=False))


if __name__ == "__main__":
    main()
