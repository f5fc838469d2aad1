"""Showing a matplotlib figure from a report cell, the same way under Quarto and the
fallback renderer: as PNG display data (so ``fig-cap`` and ``fig-alt`` apply)."""

from __future__ import annotations

import io

from matplotlib.figure import Figure

__all__ = ["show_figure"]


def show_figure(fig: Figure, *, dpi: int = 110) -> None:
    """Display ``fig`` as a PNG in the running notebook kernel and release it.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> show_figure(Figure())  # outside a kernel this displays a text placeholder
    <IPython.core.display.Image object>
    """
    from IPython.display import Image, display

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    display(Image(data=buf.getvalue(), format="png"))
