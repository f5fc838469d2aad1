"""Figures for reports, drawn from result tables (reports read results, never recompute).

Every function returns a :class:`matplotlib.figure.Figure` built without ``pyplot``, so no
global state or interactive backend is involved; save it with ``fig.savefig(...)`` or let
Jupyter display it.

* :func:`network_figure` — a site's partner network, one panel per wave, from the
  ``network_ties`` and ``network_organizations`` tables;
* :func:`sector_heatmap` — site x sector coverage from ``network_sectors``;
* :func:`theme_bars` — theme shares by site from ``feedback_themes``.

Examples
--------
>>> import pandas as pd
>>> from evalkit.figures import sector_heatmap
>>> cov = pd.DataFrame({"site_id": ["S1", "S1"], "wave": "baseline",
...                     "sector": ["payers", "educators"], "ties_across": [3, 0],
...                     "status": ["connected", "missing"]})
>>> fig = sector_heatmap(cov, wave="baseline")
>>> fig.axes[0].get_title()
'Ties to other sectors by site (baseline)'
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from evalkit.errors import AnalysisError

__all__ = ["sector_colors", "network_layout", "network_figure", "sector_heatmap",
           "theme_bars"]


def _need(data: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise AnalysisError(f"{what}: missing column(s) {missing}; columns are "
                            f"{[str(c) for c in data.columns]}")


def sector_colors(sectors: Sequence[str]) -> dict[str, str]:
    """A fixed colour per sector (in the given order), the same in every figure.

    >>> sector_colors(["payers", "educators"])
    {'payers': '#1f77b4', 'educators': '#aec7e8'}
    """
    cmap = colormaps["tab20"]
    return {s: to_hex(cmap(i % 20)) for i, s in enumerate(dict.fromkeys(sectors))}


def network_layout(ties: pd.DataFrame, organizations: pd.DataFrame, *, site_id: str,
                   seed: int = 2026) -> dict[str, np.ndarray]:
    """Node positions for a site, shared by all waves so change is visible.

    The layout is computed once on the union of every wave's ties (a spring layout with a
    fixed seed), so an organization stays in the same place at baseline and endline.
    """
    nodes = sorted(set(organizations.loc[organizations["site_id"] == site_id, "org_id"]))
    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    site_ties = ties[ties["site_id"] == site_id]
    graph.add_edges_from(zip(site_ties["org_id"], site_ties["partner_id"], strict=True))
    if not nodes:
        return {}
    k = 1.6 / np.sqrt(max(len(nodes), 1))
    return nx.spring_layout(graph, seed=seed, k=k, iterations=200)


def network_figure(ties: pd.DataFrame, organizations: pd.DataFrame, *, site_id: str,
                   waves: Sequence[str] | None = None, sectors: Sequence[str] | None = None,
                   seed: int = 2026, labels: bool = False,
                   width: float = 5.0) -> Figure:
    """Draw a site's partner network, one panel per wave, on one layout.

    Nodes are coloured by sector and sized by degree at that wave; organizations that did
    not answer the survey are drawn as hollow squares (their ties come from others' reports).
    An edge joins two organizations when either reported a tie.

    Parameters
    ----------
    ties
        The ``network_ties`` result table (``site_id, wave, org_id, partner_id``).
    organizations
        The ``network_organizations`` result table (``site_id, wave, org_id, sector,
        responded, degree``).
    site_id
        The site to draw.
    waves
        Waves to draw, in order (every wave of the site by default).
    sectors
        Sector order for colours and the legend (``ProjectConfig.sectors``; the sectors
        present by default).
    seed
        Seed of the layout.
    labels
        Write organization ids beside the nodes.
    width
        Width of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _need(ties, ["site_id", "wave", "org_id", "partner_id"], "ties")
    _need(organizations, ["site_id", "wave", "org_id", "sector", "responded", "degree"],
          "organizations")
    orgs = organizations[organizations["site_id"] == site_id]
    if orgs.empty:
        raise AnalysisError(f"site_id {site_id!r} has no organizations in the table; sites "
                            f"are {sorted(set(organizations['site_id']))}")
    present = list(dict.fromkeys(orgs["wave"]))
    waves = [w for w in (waves or present) if w in present]
    if not waves:
        raise AnalysisError(f"site {site_id!r}: none of the waves asked for are in the table; "
                            f"waves are {present}")
    sector_order = list(sectors) if sectors is not None else sorted(set(orgs["sector"]))
    sector_order += sorted(set(orgs["sector"]) - set(sector_order))
    colors = sector_colors(sector_order)
    pos = network_layout(ties, orgs, site_id=site_id, seed=seed)
    fig = Figure(figsize=(width * len(waves), width + 1.2), layout="constrained")
    axes = fig.subplots(1, len(waves), squeeze=False)[0]
    for ax, wave in zip(axes, waves, strict=True):
        nodes = orgs[orgs["wave"] == wave]
        t = ties[(ties["site_id"] == site_id) & (ties["wave"] == wave)]
        pairs = {tuple(sorted(p)) for p in zip(t["org_id"], t["partner_id"], strict=True)}
        for a, b in sorted(pairs):
            (xa, ya), (xb, yb) = pos[a], pos[b]
            ax.plot([xa, xb], [ya, yb], color="#9a9a9a", linewidth=0.6, alpha=0.55, zorder=1)
        degree = pd.to_numeric(nodes["degree"], errors="coerce").fillna(0).to_numpy(float)
        size = 30 + 18 * degree
        xy = np.array([pos[o] for o in nodes["org_id"]]) if len(nodes) else np.empty((0, 2))
        color = [colors[s] for s in nodes["sector"]]
        answered = nodes["responded"].astype(bool).to_numpy()
        ax.scatter(xy[answered, 0], xy[answered, 1], s=size[answered],
                   c=[c for c, a in zip(color, answered, strict=True) if a], marker="o",
                   edgecolors="white", linewidths=0.8, zorder=2)
        ax.scatter(xy[~answered, 0], xy[~answered, 1], s=size[~answered], marker="s",
                   facecolors="white", linewidths=1.6, zorder=2,
                   edgecolors=[c for c, a in zip(color, answered, strict=True) if not a])
        if labels:
            for org, (x, y) in zip(nodes["org_id"], xy, strict=True):
                ax.annotate(str(org), (x, y), fontsize=6, xytext=(3, 3),
                            textcoords="offset points")
        ax.set_title(f"{wave}: {len(pairs)} ties, {int((~answered).sum())} of {len(nodes)} "
                     "did not answer", fontsize=10)
        ax.set_axis_off()
        ax.set_aspect("equal")
    used = [s for s in sector_order if s in set(orgs["sector"])]
    handles = [Line2D([], [], marker="o", linestyle="", color=colors[s], label=s) for s in used]
    handles.append(Line2D([], [], marker="s", linestyle="", markerfacecolor="white",
                          markeredgecolor="#555555", label="did not answer"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6),
               fontsize=8, frameon=False)
    fig.suptitle(f"Partner network of site {site_id}", fontsize=12)
    return fig


def sector_heatmap(coverage: pd.DataFrame, *, wave: str, value: str = "ties_across",
                   sectors: Sequence[str] | None = None) -> Figure:
    """Site x sector heat map of how tied in each sector is; missing sectors are marked.

    Parameters
    ----------
    coverage
        The ``network_sectors`` result table (``site_id, wave, sector, status`` and
        ``value``).
    wave
        The wave to show.
    value
        The column coloured and written in the cells (``ties_across``, ``n_orgs``,
        ``mean_degree``, ``share_tied``).
    sectors
        Column order (order of the table by default).

    Returns
    -------
    matplotlib.figure.Figure
    """
    _need(coverage, ["site_id", "wave", "sector", "status", value], "coverage")
    data = coverage[coverage["wave"] == wave]
    if data.empty:
        raise AnalysisError(f"coverage: no rows for wave {wave!r}; waves are "
                            f"{list(dict.fromkeys(coverage['wave']))}")
    cols = list(sectors) if sectors is not None else list(dict.fromkeys(data["sector"]))
    rows = sorted(set(data["site_id"]))
    grid = (data.pivot_table(index="site_id", columns="sector", values=value, aggfunc="first")
            .reindex(index=rows, columns=cols))
    status = (data.pivot_table(index="site_id", columns="sector", values="status",
                               aggfunc="first").reindex(index=rows, columns=cols))
    values = grid.to_numpy(dtype=float)
    shown = np.ma.masked_where((status.to_numpy() == "missing") | np.isnan(values), values)
    fig = Figure(figsize=(1.0 + 0.75 * len(cols), 1.6 + 0.45 * len(rows)),
                 layout="constrained")
    ax = fig.subplots()
    cmap = colormaps["Blues"].with_extremes(bad="#eeeeee")
    image = ax.imshow(shown, cmap=cmap, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            st = status.iat[i, j]
            if st == "missing" or pd.isna(st):
                ax.text(j, i, "missing", ha="center", va="center", fontsize=7, color="#b00020")
                continue
            v = values[i, j]
            text = f"{v:.0f}" if float(v).is_integer() else f"{v:.2f}"
            dark = shown.count() and v > np.nanmax(shown.filled(np.nan)) * 0.6
            ax.text(j, i, text + ("*" if st == "weak" else ""), ha="center", va="center",
                    fontsize=8, color="white" if dark else "black")
    ax.set_xticks(range(len(cols)), [c.replace("_", " ") for c in cols], rotation=45,
                  ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    label = {"ties_across": "Ties to other sectors"}.get(value, value.replace("_", " "))
    ax.set_title(f"{label} by site ({wave})", fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.8, label=label)
    fig.text(0.01, 0.005, "* weakly tied   missing: no organization of this sector",
             fontsize=7, color="#555555")
    return fig


def theme_bars(themes: pd.DataFrame, *, level: str = "site",
               sites: Sequence[str] | None = None, waves: Sequence[str] | None = None,
               include_no_theme: bool = False) -> Figure:
    """Share of comments mentioning each theme, one panel per site, bars by wave.

    Parameters
    ----------
    themes
        The ``feedback_themes`` result table (``level, site_id, wave, theme, label,
        share``).
    level
        ``site`` (one panel per site) or ``collaborative`` (one panel).
    sites
        Sites to show (all by default).
    waves
        Waves to show, in order (all by default).
    include_no_theme
        Also show the share of comments with no theme.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _need(themes, ["level", "site_id", "wave", "theme", "label", "share"], "themes")
    data = themes[themes["level"] == level]
    if not include_no_theme:
        data = data[data["theme"] != "no_theme"]
    if data.empty:
        raise AnalysisError(f"themes: no rows at level {level!r}")
    panels = ([None] if level != "site" else
              [s for s in (sites or sorted(set(data["site_id"])))])
    wave_order = [w for w in (waves or list(dict.fromkeys(data["wave"])))
                  if w in set(data["wave"])]
    order = list(dict.fromkeys(data["theme"]))
    labels = dict(zip(data["theme"], data["label"], strict=False))
    ncol = min(3, len(panels))
    nrow = int(np.ceil(len(panels) / ncol))
    fig = Figure(figsize=(4.2 * ncol, 0.32 * len(order) * nrow + 1.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol, sharex=True, squeeze=False)).ravel()
    cmap = colormaps["tab10"]
    height = 0.8 / max(len(wave_order), 1)
    y = np.arange(len(order))
    for ax, site in zip(axes, panels, strict=False):
        sub = data if site is None else data[data["site_id"] == site]
        for k, wave in enumerate(wave_order):
            share = (sub[sub["wave"] == wave].set_index("theme")["share"]
                     .reindex(order).fillna(0.0).to_numpy(float))
            ax.barh(y + (k - (len(wave_order) - 1) / 2) * height, share * 100, height=height,
                    color=cmap(k), label=wave)
        ax.set_yticks(y, [labels[t] for t in order], fontsize=7)
        ax.invert_yaxis()
        ax.set_title("All sites" if site is None else f"Site {site}", fontsize=9)
        ax.set_xlabel("% of comments", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=len(wave_order), fontsize=8,
               frameon=False)
    fig.suptitle("What community members wrote about (themes of open comments)", fontsize=11)
    return fig
