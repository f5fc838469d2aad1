"""Estimated marginal means of every wave x modality cell and difference-in-change contrasts.

As ``emmeans(m, ~ wave * modality)``: each cell's linear function sets the wave and modality
indicators of that cell, numeric covariates at their means over the rows used and categorical
covariates at equal weights over their levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalkit.models._design import Design


@dataclass(frozen=True)
class Cell:
    group: str
    time: str
    row: np.ndarray


@dataclass(frozen=True)
class ChangeContrast:
    a: str
    b: str
    start: str
    end: str
    row: np.ndarray


def cells(design: Design) -> list[Cell]:
    return [Cell(g, t, design.cell_row(t, g)) for g in design.group_levels
            for t in design.time_levels]


def change_contrasts(design: Design, *, changes: str = "baseline") -> list[ChangeContrast]:
    """``(end - start under a) - (end - start under b)`` for every pair ``a`` before ``b``.

    ``changes="baseline"`` compares the first wave with each later wave; ``"adjacent"`` each
    wave with the next; ``"all"`` every pair of waves.
    """
    tl = design.time_levels
    if changes == "baseline":
        spans = [(tl[0], t) for t in tl[1:]]
    elif changes == "adjacent":
        spans = list(zip(tl[:-1], tl[1:], strict=True))
    else:
        spans = [(tl[i], tl[j]) for i in range(len(tl)) for j in range(i + 1, len(tl))]
    out = []
    gl = design.group_levels
    for start, end in spans:
        for i in range(len(gl)):
            for j in range(i + 1, len(gl)):
                a, b = gl[i], gl[j]
                row = (design.cell_row(end, a) - design.cell_row(start, a)
                       - design.cell_row(end, b) + design.cell_row(start, b))
                out.append(ChangeContrast(a, b, start, end, row))
    return out


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (as R's ``p.adjust(method = "holm")``)."""
    p = np.asarray(p, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out
