"""Partner-network measures: hand-checked small graphs, networkx as oracle, the demo store."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from evalkit.demo import demo_config, generate
from evalkit.errors import AnalysisError
from evalkit.network import (
    TABLE_NAMES,
    degree_centralization,
    network_measures,
    network_tables,
    sector_coverage,
)
from evalkit.project import create_project
from evalkit.store import ingest, read_table


def orgs(ids: str, site: str = "S1", sectors: list[str] | None = None) -> pd.DataFrame:
    ids_ = list(ids)
    return pd.DataFrame({"org_id": ids_, "site_id": site, "name": [f"Org {i}" for i in ids_],
                         "sector": sectors or ["payers"] * len(ids_)})


def ratings(arcs: list[tuple[str, str, int]], wave: str = "baseline", site: str = "S1",
            trust: list[float] | None = None) -> pd.DataFrame:
    out = pd.DataFrame(arcs, columns=["org_id", "partner_id", "collaboration"])
    out.insert(0, "wave", wave)
    out.insert(0, "site_id", site)
    out["trust"] = trust if trust is not None else np.nan
    out["value"] = np.nan
    return out


def responded(ids: str, wave: str = "baseline", site: str = "S1") -> pd.DataFrame:
    return pd.DataFrame({"site_id": site, "wave": wave, "org_id": list(ids)})


def by_org(result, column: str) -> dict:
    o = result.organizations
    return dict(zip(o["org_id"], o[column], strict=True))


# Hand-checked graphs -----------------------------------------------------------------------
def test_star():
    # A names B, C, D, E (level 4); the leaves answer but name nobody at level >= 3.
    r = ratings([("A", x, 4) for x in "BCDE"] + [("B", "A", 2)])
    res = network_measures(r, organizations=orgs("ABCDE"), respondents=responded("ABCDE"))
    s = res.sites.iloc[0]
    assert (s["n_orgs"], s["n_respondents"], s["ties"], s["ties_symmetric"]) == (5, 5, 4, 4)
    assert s["density"] == pytest.approx(4 / 20)            # directed: 4 / (5 * 4)
    assert s["density_symmetric"] == pytest.approx(4 / 10)  # undirected: 4 / C(5, 2)
    assert s["reciprocity"] == 0.0
    assert s["degree_centralization"] == pytest.approx(1.0)  # a star is maximally central
    assert (s["components"], s["isolates"]) == (1, 0)
    assert by_org(res, "degree") == {"A": 4, "B": 1, "C": 1, "D": 1, "E": 1}
    assert by_org(res, "out_degree") == {"A": 4, "B": 0, "C": 0, "D": 0, "E": 0}
    # every one of the C(4, 2) = 6 leaf pairs passes through A; normalized by C(4, 2)
    assert by_org(res, "betweenness") == {"A": 1.0, "B": 0.0, "C": 0.0, "D": 0.0, "E": 0.0}


def test_complete_graph_reciprocated():
    r = ratings([(a, b, 3) for a in "ABCD" for b in "ABCD" if a != b])
    res = network_measures(r, organizations=orgs("ABCD"), respondents="raters")
    s = res.sites.iloc[0]
    assert (s["ties"], s["ties_symmetric"]) == (12, 6)
    assert s["density"] == 1.0 and s["density_symmetric"] == 1.0
    assert s["reciprocity"] == 1.0
    assert s["degree_centralization"] == 0.0
    assert s["mean_degree"] == 3.0
    assert set(by_org(res, "betweenness").values()) == {0.0}
    assert res.ties["reciprocated"].all()


def test_path():
    # A - B - C - D, each tie reported by both ends.
    edges = [("A", "B"), ("B", "C"), ("C", "D")]
    r = ratings([(a, b, 5) for a, b in edges] + [(b, a, 3) for a, b in edges])
    res = network_measures(r, organizations=orgs("ABCD"), respondents="raters")
    s = res.sites.iloc[0]
    assert (s["ties"], s["ties_symmetric"]) == (6, 3)
    assert s["density"] == pytest.approx(0.5)
    # degrees 1, 2, 2, 1: ((2-1) + 0 + 0 + (2-1)) / ((4-1)(4-2)) = 1/3
    assert s["degree_centralization"] == pytest.approx(1 / 3)
    # B lies on the shortest paths A-C and A-D: 2 of C(3, 2) = 3 pairs
    assert by_org(res, "betweenness") == pytest.approx(
        {"A": 0.0, "B": 2 / 3, "C": 2 / 3, "D": 0.0})


def test_isolate_and_nonrespondent():
    # A, B, C and E answer; D does not. E answered but named nobody (an isolate).
    # C rated A below the tie level: not a tie, but its trust rating still counts.
    r = ratings([("A", "B", 4), ("B", "A", 3), ("A", "D", 5), ("C", "D", 3), ("C", "A", 2)],
                trust=[3, 4, 4, 2, 1])
    res = network_measures(r, organizations=orgs("ABCDE"), respondents=responded("ABCE"))
    s = res.sites.iloc[0]
    assert (s["n_orgs"], s["n_respondents"], s["n_nonrespondents"]) == (5, 4, 1)
    assert (s["ties"], s["ties_symmetric"]) == (4, 3)
    assert (s["components"], s["isolates"]) == (2, 1)
    # reciprocity is over ties between two respondents only: A->B and B->A
    assert s["reciprocity"] == 1.0
    d = res.organizations.set_index("org_id").loc["D"]
    assert not d["responded"]
    assert d["in_degree"] == 2 and pd.isna(d["out_degree"]) and d["degree"] == 2
    assert d["n_raters"] == 2 and d["trust_received"] == pytest.approx(3.0)  # (4 + 2) / 2
    a = res.organizations.set_index("org_id").loc["A"]
    assert a["n_raters"] == 2 and a["trust_received"] == pytest.approx((4 + 1) / 2)
    e = res.organizations.set_index("org_id").loc["E"]
    assert e["responded"] and e["degree"] == 0 and e["out_degree"] == 0
    ties = res.ties.set_index(["org_id", "partner_id"])
    assert not ties.loc[("A", "D"), "partner_responded"]
    # without the respondents table, E (who named nobody) looks like a non-respondent
    res2 = network_measures(r, organizations=orgs("ABCDE"), respondents="raters")
    assert res2.sites.iloc[0]["n_respondents"] == 3


def test_min_level_and_contact_item():
    r = ratings([("A", "B", 2), ("B", "C", 3), ("C", "A", 5)])
    r["contact"] = [5, 1, 1]
    assert network_measures(r, organizations=orgs("ABC"), min_level=4,
                            respondents="raters").sites["ties"][0] == 1
    assert network_measures(r, organizations=orgs("ABC"), min_level=1,
                            respondents="raters").sites["ties"][0] == 3
    res = network_measures(r, organizations=orgs("ABC"), item="contact", min_level=4,
                           respondents="raters")
    assert res.ties[["org_id", "partner_id"]].values.tolist() == [["A", "B"]]


def test_degree_centralization_small_graphs():
    assert np.isnan(degree_centralization(nx.path_graph(2)))
    assert degree_centralization(nx.star_graph(7)) == 1.0
    assert degree_centralization(nx.cycle_graph(6)) == 0.0


# networkx as the oracle --------------------------------------------------------------------
def test_against_networkx():
    rng = np.random.default_rng(3)
    ids = [f"O{i:02d}" for i in range(14)]
    arcs = [(a, b, int(rng.integers(1, 6))) for a in ids for b in ids
            if a != b and rng.random() < 0.3]
    r = ratings(arcs)
    org = pd.DataFrame({"org_id": ids, "site_id": "S1", "sector": "payers"})
    res = network_measures(r, organizations=org, min_level=3, respondents="raters")
    d = nx.DiGraph()
    d.add_nodes_from(ids)
    d.add_edges_from((a, b) for a, b, lvl in arcs if lvl >= 3)
    u = d.to_undirected()
    s = res.sites.iloc[0]
    # oracle: networkx 3.6 density, overall_reciprocity, number_connected_components
    assert s["density"] == pytest.approx(nx.density(d), abs=1e-12)
    assert s["density_symmetric"] == pytest.approx(nx.density(u), abs=1e-12)
    assert s["reciprocity"] == pytest.approx(nx.overall_reciprocity(d), abs=1e-12)
    assert s["components"] == nx.number_connected_components(u)
    # Freeman centralization from networkx's normalized degree centrality
    c = np.array(list(nx.degree_centrality(u).values()))
    assert s["degree_centralization"] == pytest.approx((c.max() - c).sum() / (len(c) - 2))
    o = res.organizations.set_index("org_id")
    assert o["in_degree"].to_dict() == dict(d.in_degree())
    assert o["out_degree"].to_dict() == dict(d.out_degree())
    assert o["degree"].to_dict() == dict(u.degree())
    between = nx.betweenness_centrality(u, normalized=True)
    assert o["betweenness"].to_dict() == pytest.approx(between, abs=1e-12)


# Change between waves ----------------------------------------------------------------------
def test_change_gained_lost_deepened():
    base = ratings([("A", "B", 3), ("A", "C", 4), ("A", "D", 2), ("B", "A", 4), ("B", "C", 5)])
    end = ratings([("A", "B", 4), ("A", "D", 3), ("B", "A", 4), ("B", "C", 3), ("D", "A", 5)],
                  wave="endline")
    res = network_measures(pd.concat([base, end]), organizations=orgs("ABCD"),
                           respondents="raters")
    c = res.change.iloc[0]
    assert c["n_raters_both"] == 2  # D answered only at endline: its tie is not "gained"
    assert (c["ties_pre"], c["ties_post"]) == (4, 4)
    assert (c["ties_gained"], c["ties_lost"], c["ties_deepened"], c["ties_weakened"],
            c["ties_kept"], c["net_change"]) == (1, 1, 1, 1, 1, 0)
    kinds = res.tie_changes.set_index(["org_id", "partner_id"])["change"].to_dict()
    assert kinds == {("A", "B"): "deepened", ("A", "C"): "lost", ("A", "D"): "gained",
                     ("B", "A"): "kept", ("B", "C"): "weakened"}
    assert c["density_change"] == pytest.approx(5 / 12 - 4 / 12)
    assert list(res.sites["wave"]) == ["baseline", "endline"]


def test_no_change_with_one_wave():
    res = network_measures(ratings([("A", "B", 3)]), organizations=orgs("AB"),
                           respondents="raters")
    assert res.change.empty and list(res.change.columns)[:3] == ["site_id", "pre", "post"]


# Errors ------------------------------------------------------------------------------------
def test_unknown_organization_is_named():
    with pytest.raises(AnalysisError) as exc:
        network_measures(ratings([("A", "Z", 3)]), organizations=orgs("AB"),
                         respondents="raters")
    assert str(exc.value) == ("ratings.partner_id: organization(s) ['Z'] are not in the "
                              "organizations table")


def test_missing_column_and_wrong_site():
    with pytest.raises(AnalysisError, match=r"ratings: missing column\(s\) \['collaboration'\]"):
        network_measures(ratings([("A", "B", 3)]).drop(columns="collaboration"),
                         organizations=orgs("AB"), respondents="raters")
    other = pd.concat([orgs("A"), orgs("B", site="S2")])
    with pytest.raises(AnalysisError, match="organization 'B' belongs to site 'S2', not to "
                                            "site 'S1'"):
        network_measures(ratings([("A", "B", 3)]), organizations=other, respondents="raters")
    with pytest.raises(AnalysisError, match="'A' rated 'B' twice"):
        network_measures(ratings([("A", "B", 3), ("A", "B", 4)]), organizations=orgs("AB"),
                         respondents="raters")


# Who responded (issue 16, 6) ---------------------------------------------------------------
REF_DIR = Path(__file__).parent / "reference" / "network"
REF = json.loads((REF_DIR / "reference.json").read_text())


def reference_network(respondents):
    return network_measures(pd.read_csv(REF_DIR / "ratings.csv"),
                            organizations=pd.read_csv(REF_DIR / "organizations.csv"),
                            respondents=respondents)


@pytest.mark.parametrize("variant", ["respondents_table", "raters_only"])
def test_respondent_measures_match_the_hand_calculation(variant):
    # R 4.2.2, base R adjacency matrices (tests/reference/network/make_reference.R). F
    # answered at baseline but rated nobody: with the respondents table reciprocity is 4 of
    # 13 ties among respondents (0.308); from the ratings alone F looks like a
    # non-respondent and the 4 ties to F drop out: 4 of 9 (0.444).
    respondents = (pd.read_csv(REF_DIR / "respondents.csv") if variant == "respondents_table"
                   else "raters")
    res = reference_network(respondents)
    ref = REF[variant]
    sites = res.sites.set_index("wave")
    for wave in ("baseline", "endline"):
        row, want = sites.loc[wave], ref[wave]
        for col in ("n_orgs", "n_respondents", "n_nonrespondents", "ties"):
            assert row[col] == want[col], (wave, col)
        for col in ("response_rate", "density", "reciprocity"):
            assert row[col] == pytest.approx(want[col], abs=1e-12), (wave, col)
    change = res.change.iloc[0]
    for col, value in ref["change"].items():
        assert change[col] == value, col
    expected = {"respondents_table": 0.3076923, "raters_only": 0.4444444}[variant]
    assert sites.loc["baseline", "reciprocity"] == pytest.approx(expected, abs=1e-7)
    f = res.organizations.set_index(["wave", "org_id"]).loc[("baseline", "F")]
    assert bool(f["responded"]) is (variant == "respondents_table")


def test_respondents_must_be_given_or_declared():
    r = pd.read_csv(REF_DIR / "ratings.csv")
    o = pd.read_csv(REF_DIR / "organizations.csv")
    with pytest.raises(AnalysisError) as exc:
        network_measures(r, organizations=o)
    assert str(exc.value) == (
        "network_measures: respondents is required: pass the organizations that answered "
        "(site_id, wave, org_id; network_respondents(store) reads them from the store), or "
        "respondents='raters' to treat only organizations that rated someone as respondents "
        "(one that answered but rated nobody then counts as a non-respondent)")
    with pytest.raises(AnalysisError, match="respondents must be a table .* or 'raters'; "
                                            "received 'all'"):
        network_measures(r, organizations=o, respondents="all")  # type: ignore[arg-type]
    with pytest.raises(AnalysisError, match="received list"):
        network_measures(r, organizations=o, respondents=["A"])  # type: ignore[arg-type]


# Sector coverage ---------------------------------------------------------------------------
def test_sector_coverage():
    o = orgs("ABCD", sectors=["payers", "payers", "educators", "faith_based"])
    r = ratings([("A", "B", 4), ("A", "C", 4), ("C", "A", 3), ("B", "C", 3)])
    res = network_measures(r, organizations=o, respondents=responded("ABC"))
    cov = sector_coverage(res, sectors=["payers", "educators", "first_responders"],
                          weak_below=1).set_index("sector")
    assert list(cov.index) == ["payers", "educators", "first_responders", "faith_based"]
    assert cov.loc["payers", ["n_orgs", "ties_within", "ties_across"]].tolist() == [2, 1, 2]
    assert cov.loc["educators", "status"] == "connected"
    assert cov.loc["first_responders", "status"] == "missing"
    assert cov.loc["first_responders", "n_orgs"] == 0
    assert cov.loc["faith_based", ["expected", "status", "share_tied"]].tolist() == [
        False, "weak", 0.0]
    assert cov.loc["payers", "mean_degree"] == pytest.approx(2.0)  # A: B, C; B: A, C


# The demo store ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("network-demo")
    demo = generate(seed=5, n_sites=3)
    cfg = create_project(folder, config=demo_config(demo))
    ingest(cfg.store_path, demo.batch, source="demo", kind="demo")
    return cfg


def test_network_tables_on_demo(demo_project):
    cfg = demo_project
    tables = network_tables(cfg.store_path, cfg)
    assert tuple(tables) == TABLE_NAMES
    sites = tables["network_sites"]
    assert len(sites) == 3 * 2 and set(sites["modality"]) == {"coaching", "peer", "convening"}
    counts = read_table(cfg.store_path, "SELECT site_id, wave, count(*) AS n FROM responses "
                        "WHERE instrument = 'network' GROUP BY ALL")
    merged = sites.merge(counts, on=["site_id", "wave"])
    assert (merged["n_respondents"] == merged["n"]).all()
    assert (sites["n_respondents"] + sites["n_nonrespondents"] == sites["n_orgs"]).all()
    ties = tables["network_ties"].groupby(["site_id", "wave"]).size()
    assert ties.to_dict() == sites.set_index(["site_id", "wave"])["ties"].to_dict()
    assert len(tables["network_change"]) == 3
    # the demo builds in more ties at endline (most under coaching; a convening site's small
    # true change can come out negative by chance)
    change = tables["network_change"].set_index("modality")["density_change"]
    assert change.mean() > 0 and change["coaching"] > 0
    sectors = tables["network_sectors"]
    assert len(sectors) == 3 * 2 * len(cfg.sectors)
    assert network_tables(cfg.store_path, cfg.model_copy(update={"instruments": {
        "community": cfg.instruments["community"]}})) == {}
