"""A small seeded Likert item for the doctests: 8 sites, 2 modalities, 2 waves."""

from __future__ import annotations

import numpy as np
import pandas as pd

CUTS = (-1.5, -0.3, 0.8, 2.0)


def toy_likert(seed: int = 3, *, sites: int = 8, participants: int = 12) -> pd.DataFrame:
    """Long data: one answer (1-5) per participant and wave; peer sites gain more.

    Examples
    --------
    >>> data = toy_likert()
    >>> list(data.columns)
    ['site', 'participant', 'wave', 'modality', 'answer']
    >>> sorted(int(v) for v in data["answer"].unique())
    [1, 2, 3, 4, 5]
    """
    rng = np.random.default_rng(seed)
    gain = {"coaching": 0.4, "peer": 1.2}
    rows = []
    for s in range(sites):
        modality = "coaching" if s % 2 == 0 else "peer"
        u_site = rng.normal(0.0, 0.5)
        for k in range(participants):
            u_part = rng.normal(0.0, 1.0)
            for w, wave in enumerate(("baseline", "endline")):
                latent = w * gain[modality] + u_site + u_part + rng.logistic()
                answer = 1 + int(np.sum(latent > np.array(CUTS)))
                rows.append((f"S{s + 1}", f"P{k + 1:02d}", wave, modality, answer))
    return pd.DataFrame(rows, columns=["site", "participant", "wave", "modality", "answer"])
