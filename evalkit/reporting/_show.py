"""Showing a matplotlib figure from a report cell, the same way under Quarto and the
fallback renderer: as PNG display data (so ``fig-cap`` and ``fig-alt`` apply)."""

from __future__ import annotations

import base64
import io

from matplotlib.figure import Figure

__all__ = ["show_figure", "figure_markdown"]


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


def figure_markdown(fig: Figure, *, caption: str, alt: str, dpi: int = 110) -> str:
    """A figure as a Markdown image (embedded PNG) with its caption and alt text, printed
    from an unlabelled ``output: asis`` cell: the one way every report shows a figure, the
    same under Quarto and the fallback (``plt.show()`` after ``Agg`` shows nothing under
    Quarto, and a ``fig-`` label loses the alt text in Word).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> figure_markdown(Figure(), caption="Figure 1. Toy.", alt="An empty chart.")[1:32]
    '![Figure 1. Toy.](data:image/pn'
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    quoted = alt.replace("\\", "\\\\").replace('"', '\\"')
    # Without a fig- id and with both attributes: Quarto puts fig-alt in the HTML and alt in
    # the Word file's image description (recorded Quarto 1.10 behaviour), pandoc puts alt in
    # both; the caption is evalkit's own ("Figure 2. ..."), never renumbered.
    return (f'\n![{caption}](data:image/png;base64,{data})'
            f'{{fig-alt="{quoted}" alt="{quoted}"}}\n')
