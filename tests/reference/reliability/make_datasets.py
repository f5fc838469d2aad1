"""Generate the reliability reference datasets once (seeded); the CSVs are committed.

Run from the repository root: ``.venv/bin/python tests/reference/reliability/make_datasets.py``.
The R oracle (``make_reference.R``) reads only the committed CSVs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
rng = np.random.default_rng(7031)


def likert(n: int, loadings: list[float], reversed_items: tuple[int, ...]) -> pd.DataFrame:
    """Five-point items driven by one factor; reversed items are negatively keyed."""
    f = rng.normal(size=n)
    cols = {}
    for j, lam in enumerate(loadings, start=1):
        latent = lam * f + np.sqrt(1 - lam**2) * rng.normal(size=n)
        raw = np.clip(np.round(3 + 1.1 * latent), 1, 5)
        cols[f"q{j}"] = 6 - raw if j in reversed_items else raw
    return pd.DataFrame(cols).astype(int)


# complete data, five items, q4 negatively keyed
complete = likert(120, [0.8, 0.7, 0.6, 0.65, 0.5], reversed_items=(4,))
complete.insert(0, "respondent", [f"A{i:03d}" for i in range(1, 121)])
complete.to_csv(HERE / "alpha_complete.csv", index=False)

# six items with about 8% of answers missing at random, q6 negatively keyed, and one
# respondent who skipped every item
miss = likert(150, [0.75, 0.7, 0.65, 0.6, 0.55, 0.7], reversed_items=(6,)).astype(float)
mask = rng.random(miss.shape) < 0.08
miss = miss.mask(mask)
miss.iloc[17, :] = np.nan
miss.insert(0, "respondent", [f"M{i:03d}" for i in range(1, 151)])
miss.to_csv(HERE / "alpha_missing.csv", index=False, na_rep="NA", float_format="%.0f")
