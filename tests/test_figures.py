"""Report figures build from the result tables without error (Agg, no pyplot state)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from evalkit.demo import demo_config, generate  # noqa: E402
from evalkit.errors import AnalysisError  # noqa: E402
from evalkit.feedback import feedback_tables  # noqa: E402
from evalkit.figures import (  # noqa: E402
    network_figure,
    network_layout,
    sector_colors,
    sector_heatmap,
    theme_bars,
)
from evalkit.network import network_tables  # noqa: E402
from evalkit.project import create_project  # noqa: E402
from evalkit.store import ingest  # noqa: E402
from tests.conftest import ROOT  # noqa: E402


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("figures-demo")
    demo = generate(seed=5, n_sites=3)
    cfg = create_project(folder, config=demo_config(demo))
    ingest(cfg.store_path, demo.batch, source="demo", kind="demo")
    tables = network_tables(cfg.store_path, cfg)
    tables.update(feedback_tables(cfg.store_path, cfg, ROOT / "analyses" / "themes.yml"))
    return cfg, tables


def _png(fig: Figure, tmp_path) -> int:
    out = tmp_path / "fig.png"
    fig.savefig(out, dpi=40)
    return out.stat().st_size


def test_network_figure(results, tmp_path):
    cfg, t = results
    fig = network_figure(t["network_ties"], t["network_organizations"], site_id="S01",
                         sectors=cfg.sectors, labels=True)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == ["baseline", "endline"]
    assert _png(fig, tmp_path) > 1000
    one = network_figure(t["network_ties"], t["network_organizations"], site_id="S02",
                         waves=["endline"])
    assert len(one.axes) == 1


def test_layout_is_shared_between_waves(results):
    _, t = results
    ties, orgs = t["network_ties"], t["network_organizations"]
    a = network_layout(ties, orgs, site_id="S01")
    b = network_layout(ties, orgs, site_id="S01")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    assert set(a) == set(orgs.loc[orgs["site_id"] == "S01", "org_id"])


def test_sector_heatmap_marks_missing_sectors(results, tmp_path):
    cfg, t = results
    cov = t["network_sectors"].copy()
    cov.loc[(cov["site_id"] == "S01") & (cov["sector"] == "payers"), "status"] = "missing"
    fig = sector_heatmap(cov, wave="endline", sectors=cfg.sectors)
    texts = [x.get_text() for x in fig.axes[0].texts]
    assert "missing" in texts
    assert _png(fig, tmp_path) > 1000


def test_theme_bars(results, tmp_path):
    _, t = results
    fig = theme_bars(t["feedback_themes"])
    assert sum(ax.get_visible() for ax in fig.axes) == 3
    assert _png(fig, tmp_path) > 1000
    whole = theme_bars(t["feedback_themes"], level="collaborative", include_no_theme=True)
    labels = [x.get_text() for x in whole.axes[0].get_yticklabels()]
    assert "No theme" in labels


def test_sector_colors_are_stable():
    assert sector_colors(["a", "b"]) == {k: v for k, v in sector_colors(["a", "b", "c"]).items()
                                         if k in "ab"}


def test_figure_errors_name_the_problem(results):
    _, t = results
    with pytest.raises(AnalysisError, match="site_id 'S99' has no organizations"):
        network_figure(t["network_ties"], t["network_organizations"], site_id="S99")
    with pytest.raises(AnalysisError, match="no rows for wave 'midpoint'"):
        sector_heatmap(t["network_sectors"], wave="midpoint")
    with pytest.raises(AnalysisError, match=r"missing column\(s\) \['share'\]"):
        theme_bars(pd.DataFrame(columns=["level", "site_id", "wave", "theme", "label"]))
