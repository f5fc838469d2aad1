"""Showing a matplotlib figure from a report cell, the same way under Quarto and the
fallback renderer: as PNG display data (so ``fig-cap`` and ``fig-alt`` apply)."""

from __future__ import annotations

import base64
import io

from matplotlib.figure import Figure

__all__ = ["show_figure", "figure_markdown", "brand_markdown"]

_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                ".svg": "image/svg+xml"}


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
    quoted = _attribute(alt)
    # Without a fig- id and with both attributes: Quarto puts fig-alt in the HTML and alt in
    # the Word file's image description (recorded Quarto 1.10 behaviour), pandoc puts alt in
    # both; the caption is evalkit's own ("Figure 2. ..."), never renumbered.
    return (f'\n![{caption}](data:image/png;base64,{data})'
            f'{{fig-alt="{quoted}" alt="{quoted}"}}\n')


def _attribute(text: str) -> str:
    """Text for a double-quoted Pandoc attribute value."""
    return " ".join(str(text).split()).replace("\\", "\\\\").replace('"', '\\"')


def brand_markdown(*, organisation: str = "", funder: str = "", logo: str = "",
                   height_px: int = 56) -> str:
    """The branding under a report's title: the logo (embedded, with alt text), the
    organisation's name and the funder acknowledgement, as Markdown printed from the first
    ``output: asis`` cell, so that both engines put it in the HTML and the Word file alike.

    Text comes from the configuration (``reports.organisation``, ``reports.funder``) and is
    escaped; ``logo`` is the path of a PNG, JPEG or SVG file, embedded as a ``data:`` URI
    (nothing is fetched when the report is read). Nothing configured: an empty string.

    Examples
    --------
    >>> brand_markdown()
    ''
    >>> print(brand_markdown(organisation="Center <b>A</b>", funder="Funded by *B*."))
    <BLANKLINE>
    ::: {.evalkit-brand}
    **Center \\<b\\>A\\</b\\>**
    <BLANKLINE>
    Funded by \\*B\\*.
    :::
    <BLANKLINE>
    """
    from pathlib import Path

    from evalkit.findings import md

    parts = []
    if logo:
        path = Path(logo)
        kind = _IMAGE_TYPES.get(path.suffix.lower())
        if kind is None:
            raise ValueError(f"logo: expected a .png, .jpg, .jpeg or .svg file, got {path.name}")
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        alt = _attribute(f"Logo of {organisation}" if organisation else "Logo")
        # fig-alt and alt, as figure_markdown: Quarto takes the HTML alt from fig-alt
        parts.append(f'![](data:{kind};base64,{data})'
                     f'{{fig-alt="{alt}" alt="{alt}" height={height_px}px}}')
    if organisation:
        parts.append(f"**{md(' '.join(organisation.split()))}**")
    lines = [" ".join(parts)] if parts else []
    if funder:
        lines.append(md(" ".join(funder.split())))
    if not lines:
        return ""
    return "\n::: {.evalkit-brand}\n" + "\n\n".join(lines) + "\n:::\n"
