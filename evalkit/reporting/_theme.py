"""One look for every report figure: a colour-blind-safe palette and readable defaults.

Examples
--------
>>> from evalkit.reporting import OKABE_ITO, use_theme
>>> use_theme()
>>> len(OKABE_ITO)
8
"""

from __future__ import annotations

__all__ = ["OKABE_ITO", "use_theme"]

#: Okabe & Ito (2008) palette, distinguishable with the common colour-vision deficiencies.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
             "#000000")


def use_theme() -> None:
    """Set matplotlib defaults for report figures (palette, sizes, no top/right spines)."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update({
        "axes.prop_cycle": cycler(color=list(OKABE_ITO)),
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 12,
        "axes.labelsize": 11,
        "xtick.labelsize": 10,
        "ytick.labelsize": 10,
        "legend.frameon": False,
        "figure.dpi": 110,
        "savefig.bbox": "tight",
        "font.family": "DejaVu Sans",
    })
