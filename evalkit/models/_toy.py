"""A small seeded collaborative for the doctests: 6 sites, 3 modalities, 3 waves."""

from __future__ import annotations

import numpy as np
import pandas as pd

WAVES = ("baseline", "midline", "endline")


def toy_collaborative(seed: int = 1, *, participants: int = 12) -> pd.DataFrame:
    """Long data: one row per participant and wave, about 10% of later waves missing.

    Examples
    --------
    >>> data = toy_collaborative()
    >>> sorted(data["modality"].unique())
    ['coaching', 'convening', 'peer']
    >>> list(data.columns)
    ['site', 'participant', 'wave', 'modality', 'score']
    """
    rng = np.random.default_rng(seed)
    gain = {"coaching": 1.0, "convening": 2.0, "peer": 3.0}
    rows = []
    for s, modality in enumerate(["coaching", "coaching", "convening", "convening", "peer",
                                  "peer"]):
        u_site = rng.normal(0.0, 1.5)
        for k in range(participants):
            u_part = rng.normal(0.0, 3.0)
            for w, wave in enumerate(WAVES):
                if w > 0 and rng.random() < 0.1:
                    continue
                score = 50.0 + u_site + u_part + w * gain[modality] + rng.normal(0.0, 2.5)
                rows.append((f"S{s + 1}", f"P{k + 1:02d}", wave, modality, round(score, 2)))
    return pd.DataFrame(rows, columns=["site", "participant", "wave", "modality", "score"])
