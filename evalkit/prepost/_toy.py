"""A small fixed pre/post survey for the doctests: 12 participants at 2 sites, 2 waves."""

from __future__ import annotations

import numpy as np
import pandas as pd


def toy_prepost() -> pd.DataFrame:
    """Long data, one row per participant and wave.

    P11 answered only at baseline, P12 skipped the outcome at endline; ``practice`` is a yes/no
    item (1 = yes).

    Examples
    --------
    >>> data = toy_prepost()
    >>> list(data.columns)
    ['participant', 'site', 'wave', 'score', 'practice']
    >>> data.shape
    (23, 5)
    """
    pre = [3.0, 2.5, 3.25, 2.75, 4.0, 3.5, 2.0, 3.0, 2.25, 3.75, 2.5, 3.0]
    post = [3.5, 3.0, 3.25, 3.5, 4.25, 3.25, 2.75, 3.75, 3.0, 4.0, None, np.nan]
    practice_pre = [0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0, 1]
    practice_post = [1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1]
    rows = []
    for k in range(12):
        pid, site = f"P{k + 1:02d}", "north" if k < 6 else "south"
        rows.append((pid, site, "baseline", pre[k], practice_pre[k]))
        score_post = post[k]
        if score_post is not None:
            rows.append((pid, site, "endline", score_post, practice_post[k]))
    return pd.DataFrame(rows, columns=["participant", "site", "wave", "score", "practice"])
