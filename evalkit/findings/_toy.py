"""A tiny results folder for the examples: one falling outcome, two sites, two waves."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from evalkit.results import Results, read_results, write_results


def toy_results(folder: str | Path | None = None) -> Results:
    """Write and open a two-site results folder whose only outcome fell (-0.20)."""
    folder = Path(folder or tempfile.mkdtemp()) / "results"
    sites = pd.DataFrame({"site_id": ["A", "B"], "name": ["Site A", "Site B"],
                          "modality": ["x", "y"]})
    outcomes = pd.DataFrame({"id": ["toy"], "label": ["Toy score"], "instrument": ["toy"],
                             "scale": ["total"], "design": ["matched"], "model": [False],
                             "scale_min": [1], "scale_max": [5], "method": ["mean"]})
    prepost = pd.DataFrame({
        "outcome": ["toy"], "design": ["matched"], "level": ["collaborative"],
        "site_id": [None], "modality": [None], "n_pairs": [40.0], "n_pre": [None],
        "n_post": [None], "mean_pre": [3.1], "mean_post": [2.9], "mean_diff": [-0.2],
        "ci_low": [-0.35], "ci_high": [-0.05], "p": [0.01]})
    write_results({"sites": sites, "outcomes": outcomes, "prepost": prepost}, folder,
                  plan={"compare": {"pre": "t0", "post": "t1"}}, data_hash="toy",
                  extra={"suppression_threshold": 11, "collaborative": "Toy collaborative",
                         "waves": [{"id": "t0", "label": "Start"}, {"id": "t1", "label": "End"}],
                         "modalities": [{"id": "x", "label": "X"}, {"id": "y", "label": "Y"}]})
    return read_results(folder)
