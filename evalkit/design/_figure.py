"""Power curves by sites per modality (matplotlib, without pyplot)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evalkit.design._power import PowerResult
from evalkit.errors import AnalysisError

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def default_contrast(result: PowerResult) -> str:
    """The contrast a figure or summary shows by default: the pair of modalities whose change
    from the first to the last wave differs most."""
    t = result.power
    last = t[(t["contrast"] != "joint") & (t["to"] == result.parameters.waves[-1])]
    if last.empty:
        raise AnalysisError("the power table has no difference-in-change contrast")
    best = last.loc[last["difference"].abs().idxmax()]
    return str(best["contrast"])


def power_figure(result: PowerResult, *, contrast: str | None = None,
                 methods: tuple[str, ...] = ("permutation", "satterthwaite")) -> Figure:
    """Power by sites per modality, one line per participants-per-site value.

    One panel per method; each point has a 95% Monte Carlo interval; the target power is a
    dotted line and the designs where the randomization test cannot reach ``alpha`` (its
    smallest attainable p is above it) are shaded.

    Parameters
    ----------
    result : PowerResult
    contrast : str, optional
        A ``contrast`` of the power table (default: :func:`default_contrast`).
    methods : tuple of str
        Methods to draw, one panel each.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from evalkit.design import parameters_from_icc, power
    >>> res = power(parameters_from_icc(icc_site=0.1, icc_participant=0.5, effect=0.5),
    ...             sites_per_modality=[2, 3, 4], participants=[10], n_simulations=10,
    ...             kenward_roger=False, workers=1)
    >>> fig = power_figure(res)
    >>> [ax.get_title() for ax in fig.axes]
    ['Site-level randomization test', 'Model (Satterthwaite)']
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    contrast = default_contrast(result) if contrast is None else contrast
    t = result.power[result.power["contrast"] == contrast]
    if t.empty:
        raise AnalysisError(
            f"contrast {contrast!r} is not in the power table; contrasts are "
            f"{sorted(result.power['contrast'].unique())}")
    methods = tuple(m for m in methods if m in set(t["method"]))
    alpha = float(result.settings.get("alpha", 0.05))
    target = float(result.settings.get("target_power", 0.8))
    titles = {"permutation": "Site-level randomization test",
              "satterthwaite": "Model (Satterthwaite)", "kenward-roger": "Model (Kenward-Roger)"}
    fig = Figure(figsize=(4.2 * max(len(methods), 1), 3.6), layout="constrained")
    axes = fig.subplots(1, max(len(methods), 1), sharey=True, squeeze=False)[0]
    for ax, method in zip(axes, methods, strict=False):
        sub = t[t["method"] == method]
        for n, g in sub.groupby("participants"):
            g = g.sort_values("sites_per_modality")
            ax.errorbar(g["sites_per_modality"], g["power"], yerr=1.96 * g["mc_se"],
                        marker="o", ms=3, capsize=2, label=f"{n} per site")
        if method == "permutation":
            floor = sub.drop_duplicates("sites_per_modality")
            out = floor[floor["min_p"] > alpha]["sites_per_modality"]
            if len(out):
                ax.axvspan(float(floor["sites_per_modality"].min()) - 0.5,
                           float(out.max()) + 0.5, color="0.9", zorder=0,
                           label=f"cannot reach p \u2264 {alpha:g}")
        ax.axhline(target, ls=":", color="0.3", lw=1)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("sites per modality")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(titles.get(method, method), fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("power")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(contrast, fontsize=10)
    return fig
