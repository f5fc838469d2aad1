"""Network measures per site and wave, per organization, and change between two waves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import networkx as nx
import numpy as np
import pandas as pd

from evalkit.errors import AnalysisError

SITE_COLUMNS = ["site_id", "wave", "n_orgs", "n_respondents", "n_nonrespondents",
                "response_rate", "ties", "ties_symmetric", "density", "density_symmetric",
                "reciprocity", "mean_degree", "degree_centralization", "components",
                "isolates", "min_level"]
ORG_COLUMNS = ["site_id", "wave", "org_id", "name", "sector", "responded", "in_degree",
               "out_degree", "degree", "betweenness", "n_raters", "trust_received",
               "value_received"]
TIE_COLUMNS = ["site_id", "wave", "org_id", "partner_id", "level", "trust", "value",
               "reciprocated", "partner_responded"]
CHANGE_COLUMNS = ["site_id", "pre", "post", "n_raters_both", "ties_pre", "ties_post",
                  "ties_gained", "ties_lost", "ties_deepened", "ties_weakened", "ties_kept",
                  "net_change", "density_pre", "density_post", "density_change"]
TIE_CHANGE_COLUMNS = ["site_id", "org_id", "partner_id", "level_pre", "level_post", "change"]


@dataclass(frozen=True)
class NetworkResult:
    """Everything :func:`network_measures` computes, as tidy tables.

    Attributes
    ----------
    sites
        One row per site x wave: ``site_id, wave, n_orgs`` (organizations on the site's
        list), ``n_respondents, n_nonrespondents, response_rate``, ``ties`` (directed ties:
        a rater reported ``item >= min_level``), ``ties_symmetric`` (pairs tied in either
        direction), ``density`` (directed, ties / n(n-1)), ``density_symmetric``,
        ``reciprocity`` (share of ties between two responding organizations that are
        returned), ``mean_degree`` (symmetric), ``degree_centralization`` (Freeman, on the
        symmetric network; 1 for a star, 0 when all degrees are equal), ``components``
        (connected components of the symmetric network, isolates included), ``isolates``,
        ``min_level``.
    organizations
        One row per site x wave x organization: ``site_id, wave, org_id, name, sector,
        responded``, ``in_degree`` (ties reported by others about it), ``out_degree`` (ties it
        reported; missing when it did not respond), ``degree`` (distinct partners in the
        symmetric network), ``betweenness`` (normalized, symmetric network), ``n_raters``
        (organizations that rated it), ``trust_received, value_received`` (mean trust and
        value ratings it received from every organization that rated it, whatever the tie
        level).
    ties
        One row per directed tie: ``site_id, wave, org_id`` (rater), ``partner_id``,
        ``level`` (the tie item's rating), ``trust, value``, ``reciprocated``,
        ``partner_responded``.
    change
        One row per site observed at both ``pre`` and ``post``: ``site_id, pre, post``,
        ``n_raters_both`` (organizations that responded at both waves; change is counted
        only on the ties they report, since a non-response is not a lost tie),
        ``ties_pre, ties_post`` (their ties), ``ties_gained, ties_lost, ties_deepened``
        (tied at both waves at a higher level), ``ties_weakened, ties_kept``,
        ``net_change`` (gained - lost) and ``density_pre, density_post, density_change``
        (whole-network directed density from ``sites``).
    tie_changes
        One row per changed or kept tie of those raters: ``site_id, org_id, partner_id,
        level_pre, level_post`` (0 = not rated) and ``change`` (``gained``, ``lost``,
        ``deepened``, ``weakened`` or ``kept``).
    min_level, item
        The tie definition used.
    """

    sites: pd.DataFrame
    organizations: pd.DataFrame
    ties: pd.DataFrame
    change: pd.DataFrame
    tie_changes: pd.DataFrame
    min_level: int
    item: str


def degree_centralization(graph: nx.Graph) -> float:
    """Freeman degree centralization of an undirected graph (NaN below 3 nodes).

    ``sum(max_degree - degree_i) / ((n - 1) (n - 2))``: 1 for a star, 0 for a graph whose
    nodes all have the same degree.

    Examples
    --------
    >>> import networkx as nx
    >>> degree_centralization(nx.star_graph(4)), degree_centralization(nx.complete_graph(4))
    (1.0, 0.0)
    """
    n = graph.number_of_nodes()
    if n < 3:
        return float("nan")
    degrees = np.array([d for _, d in graph.degree()], dtype=float)
    return float((degrees.max() - degrees).sum() / ((n - 1) * (n - 2)))


def _check_columns(data: pd.DataFrame, needed: Sequence[str], what: str) -> None:
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise AnalysisError(f"{what}: missing column(s) {missing}; columns are "
                            f"{[str(c) for c in data.columns]}")


def _check_known(ids: pd.Series, known: pd.Series, what: str) -> None:
    unknown = sorted(set(ids.dropna()) - set(known))
    if unknown:
        raise AnalysisError(f"{what}: organization(s) {unknown[:5]} are not in the "
                            f"organizations table" + (" (and more)" if len(unknown) > 5 else ""))


_NO_RESPONDENTS = (
    "network_measures: respondents is required: pass the organizations that answered "
    "(site_id, wave, org_id; network_respondents(store) reads them from the store), or "
    "respondents='raters' to treat only organizations that rated someone as respondents "
    "(one that answered but rated nobody then counts as a non-respondent)")


def _prepare(ratings: pd.DataFrame, organizations: pd.DataFrame,
             respondents: pd.DataFrame | Literal["raters"] | None,
             item: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    if respondents is None:
        raise AnalysisError(_NO_RESPONDENTS)
    expected = "respondents must be a table (site_id, wave, org_id) or 'raters'; received"
    if isinstance(respondents, str):
        if respondents != "raters":
            raise AnalysisError(f"{expected} {respondents!r}")
    elif not isinstance(respondents, pd.DataFrame):
        raise AnalysisError(f"{expected} {type(respondents).__name__}")
    _check_columns(ratings, ["site_id", "wave", "org_id", "partner_id", item], "ratings")
    _check_columns(organizations, ["org_id", "site_id", "sector"], "organizations")
    r = ratings.copy()
    for col in ("trust", "value"):
        if col not in r.columns:
            r[col] = np.nan
    r = r[r["org_id"] != r["partner_id"]]
    _check_known(r["org_id"], organizations["org_id"], "ratings.org_id")
    _check_known(r["partner_id"], organizations["org_id"], "ratings.partner_id")
    org_site = organizations.set_index("org_id")["site_id"]
    for col in ("org_id", "partner_id"):
        wrong = r[col].map(org_site) != r["site_id"]
        if wrong.any():
            row = r[wrong].iloc[0]
            raise AnalysisError(
                f"ratings.{col}: organization {row[col]!r} belongs to site "
                f"{org_site[row[col]]!r}, not to site {row['site_id']!r} where it was rated")
    dup = r.duplicated(["site_id", "wave", "org_id", "partner_id"])
    if dup.any():
        row = r[dup].iloc[0]
        raise AnalysisError(f"ratings: {row['org_id']!r} rated {row['partner_id']!r} twice in "
                            f"site {row['site_id']!r} wave {row['wave']!r}")
    if isinstance(respondents, str):  # "raters"
        resp = r[["site_id", "wave", "org_id"]].drop_duplicates()
    else:
        _check_columns(respondents, ["site_id", "wave", "org_id"], "respondents")
        _check_known(respondents["org_id"], organizations["org_id"], "respondents.org_id")
        resp = pd.concat([respondents[["site_id", "wave", "org_id"]],
                          r[["site_id", "wave", "org_id"]]]).drop_duplicates()
    return r.reset_index(drop=True), resp.reset_index(drop=True)


def _wave_order(present: Sequence[str], waves: Sequence[str] | None, pre: str,
                post: str) -> list[str]:
    if waves is not None:
        return [w for w in waves if w in set(present)]
    return sorted(set(present), key=lambda w: (w != pre, w == post, w))


def _graphs(nodes: list[str], arcs: pd.DataFrame) -> tuple[nx.DiGraph, nx.Graph]:
    directed = nx.DiGraph()
    directed.add_nodes_from(nodes)
    directed.add_edges_from(zip(arcs["org_id"], arcs["partner_id"], strict=True))
    return directed, directed.to_undirected()


def _site_wave(site: str, wave: str, orgs: pd.DataFrame, rated: pd.DataFrame,
               responded: set[str], item: str, min_level: int
               ) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    nodes = orgs["org_id"].tolist()
    arcs = rated[rated[item] >= min_level]
    directed, sym = _graphs(nodes, arcs)
    among = directed.subgraph(responded)
    n = len(nodes)
    n_resp = len(responded & set(nodes))
    degree = dict(sym.degree())
    site_row = {
        "site_id": site, "wave": wave, "n_orgs": n, "n_respondents": n_resp,
        "n_nonrespondents": n - n_resp, "response_rate": n_resp / n if n else np.nan,
        "ties": directed.number_of_edges(), "ties_symmetric": sym.number_of_edges(),
        "density": nx.density(directed) if n > 1 else np.nan,
        "density_symmetric": nx.density(sym) if n > 1 else np.nan,
        "reciprocity": (nx.overall_reciprocity(among) if among.number_of_edges()
                        else np.nan),
        "mean_degree": float(np.mean(list(degree.values()))) if n else np.nan,
        "degree_centralization": degree_centralization(sym),
        "components": nx.number_connected_components(sym),
        "isolates": nx.number_of_isolates(sym), "min_level": min_level,
    }
    between = nx.betweenness_centrality(sym, normalized=True)
    received = rated.groupby("partner_id").agg(
        n_raters=("org_id", "nunique"), trust_received=("trust", "mean"),
        value_received=("value", "mean"))
    org = orgs.copy()
    org["site_id"], org["wave"] = site, wave
    org["responded"] = org["org_id"].isin(responded)
    org["in_degree"] = org["org_id"].map(dict(directed.in_degree())).astype("Int64")
    out_deg = org["org_id"].map(dict(directed.out_degree())).astype("Int64")
    org["out_degree"] = out_deg.where(org["responded"], pd.NA)
    org["degree"] = org["org_id"].map(degree).astype("Int64")
    org["betweenness"] = org["org_id"].map(between).astype(float)
    org["n_raters"] = (org["org_id"].map(received["n_raters"]).fillna(0)
                       .astype("int64").astype("Int64"))
    org["trust_received"] = org["org_id"].map(received["trust_received"]).astype(float)
    org["value_received"] = org["org_id"].map(received["value_received"]).astype(float)
    ties = arcs.rename(columns={item: "level"}).copy()
    ties["level"] = ties["level"].astype(float)
    pairs = set(zip(arcs["org_id"], arcs["partner_id"], strict=True))
    ties["reciprocated"] = [(b, a) in pairs for a, b in zip(ties["org_id"], ties["partner_id"],
                                                             strict=True)]
    ties["partner_responded"] = ties["partner_id"].isin(responded)
    return site_row, org[ORG_COLUMNS], ties[TIE_COLUMNS]


def _change(site: str, rated: pd.DataFrame, resp: pd.DataFrame, nodes: list[str], item: str,
            min_level: int, pre: str, post: str) -> tuple[dict, pd.DataFrame]:
    both = sorted(set(resp.loc[resp["wave"] == pre, "org_id"])
                  & set(resp.loc[resp["wave"] == post, "org_id"]))
    grid = pd.MultiIndex.from_tuples([(a, b) for a in both for b in nodes if a != b],
                                     names=["org_id", "partner_id"])
    levels = {}
    for wave in (pre, post):
        w = rated[rated["wave"] == wave].set_index(["org_id", "partner_id"])[item]
        levels[wave] = w.reindex(grid).fillna(0.0).to_numpy()
    lp, lq = levels[pre], levels[post]
    tp, tq = lp >= min_level, lq >= min_level
    change = np.select(
        [~tp & tq, tp & ~tq, tp & tq & (lq > lp), tp & tq & (lq < lp), tp & tq],
        ["gained", "lost", "deepened", "weakened", "kept"], default="")
    frame = pd.DataFrame({"site_id": site, "org_id": grid.get_level_values(0),
                          "partner_id": grid.get_level_values(1), "level_pre": lp,
                          "level_post": lq, "change": change})
    frame = frame[frame["change"] != ""].reset_index(drop=True)
    counts = frame["change"].value_counts()
    moved = {f"ties_{kind}": int(counts.get(kind, 0))
             for kind in ("gained", "lost", "deepened", "weakened", "kept")}
    row = {"site_id": site, "pre": pre, "post": post, "n_raters_both": len(both),
           "ties_pre": int(tp.sum()), "ties_post": int(tq.sum()), **moved,
           "net_change": moved["ties_gained"] - moved["ties_lost"]}
    return row, frame[TIE_CHANGE_COLUMNS]


def network_measures(ratings: pd.DataFrame, *, organizations: pd.DataFrame,
                     respondents: pd.DataFrame | Literal["raters"] | None = None,
                     min_level: int = 3,
                     item: str = "collaboration", waves: Sequence[str] | None = None,
                     pre: str = "baseline", post: str = "endline") -> NetworkResult:
    """Measure each site's organization network at each wave, and its change.

    The nodes of a site's network are all organizations on its list (``organizations``),
    whether or not they answered. A directed tie ``org_id -> partner_id`` exists when the
    rater reported ``item >= min_level``; the symmetric view joins two organizations when
    either reports the tie, so ties reported about a non-respondent still count.

    Parameters
    ----------
    ratings
        One row per rater x partner x wave: ``site_id, wave, org_id, partner_id`` and the
        tie ``item`` column, optionally ``trust`` and ``value`` (as from
        :func:`network_ratings`). Self-ratings are ignored.
    organizations
        ``org_id, site_id, sector`` and optionally ``name``: every organization of each site.
    respondents
        Who answered the survey, which the ratings alone cannot tell: an organization that
        answered but knew or rated nobody leaves no rating row. Required (leaving it out is
        an error): either the table ``site_id, wave, org_id`` of every organization that
        answered (as :func:`network_respondents` reads it from the store's responses; the
        raters in ``ratings`` are added to it), or ``"raters"`` to declare that only the
        organizations with a rating row answered. That choice is visible in every result
        that counts respondents: with ``"raters"`` an organization that answered but rated
        nobody is a non-respondent, so ``n_respondents`` and ``response_rate`` are too low,
        ``reciprocity`` leaves out the ties to it (which it did not return) and is too
        high, and change between waves ignores its lost ties. :func:`network_tables` (and
        ``evalkit network``) always pass the store's respondents.
    min_level
        Lowest rating of ``item`` that counts as a tie (collaboration: 3 = coordinate
        activities).
    item
        The rating that defines a tie (``collaboration`` or ``contact``).
    waves
        Order (and selection) of waves; by default ``pre`` first, ``post`` last.
    pre, post
        The two waves compared in ``change`` (no change rows unless both are present).

    Returns
    -------
    NetworkResult
        See its attributes for the columns of each table.

    Examples
    --------
    >>> import pandas as pd
    >>> orgs = pd.DataFrame({"org_id": ["A", "B", "C"], "site_id": "S1",
    ...                      "sector": ["payers", "faith_based", "payers"]})
    >>> ratings = pd.DataFrame({"site_id": "S1", "wave": "baseline", "org_id": ["A", "B"],
    ...                         "partner_id": ["B", "A"], "collaboration": [4, 3]})
    >>> answered = pd.DataFrame({"site_id": "S1", "wave": "baseline", "org_id": ["A", "B"]})
    >>> res = network_measures(ratings, organizations=orgs, respondents=answered)
    >>> res.sites[["n_orgs", "n_nonrespondents", "ties", "reciprocity", "isolates"]]
       n_orgs  n_nonrespondents  ties  reciprocity  isolates
    0       3                 1     2          1.0         1
    """
    if min_level < 1:
        raise AnalysisError(f"min_level must be at least 1; got {min_level}")
    rated, resp = _prepare(ratings, organizations, respondents, item)
    orgs = organizations.copy()
    if "name" not in orgs.columns:
        orgs["name"] = orgs["org_id"]
    orgs = orgs.sort_values(["site_id", "org_id"], kind="mergesort")
    order = _wave_order(pd.concat([resp["wave"], rated["wave"]]).unique().tolist(), waves,
                        pre, post)
    site_rows, org_frames, tie_frames, change_rows, change_frames = [], [], [], [], []
    sites = sorted(set(resp["site_id"]) | set(rated["site_id"]))
    for site in sites:
        site_orgs = orgs[orgs["site_id"] == site][["org_id", "name", "sector"]]
        for wave in order:
            in_wave = (resp["site_id"] == site) & (resp["wave"] == wave)
            if not in_wave.any():
                continue
            responded = set(resp.loc[in_wave, "org_id"])
            rw = rated[(rated["site_id"] == site) & (rated["wave"] == wave)]
            row, org, ties = _site_wave(site, wave, site_orgs, rw, responded, item, min_level)
            site_rows.append(row)
            org_frames.append(org)
            tie_frames.append(ties)
        site_resp = resp[resp["site_id"] == site]
        if {pre, post} <= set(site_resp["wave"]) and {pre, post} <= set(order):
            row, frame = _change(site, rated[rated["site_id"] == site], site_resp,
                                 site_orgs["org_id"].tolist(), item, min_level, pre, post)
            change_rows.append(row)
            change_frames.append(frame)
    site_table = pd.DataFrame(site_rows, columns=SITE_COLUMNS)
    change = pd.DataFrame(change_rows, columns=CHANGE_COLUMNS[:-3])
    dens = site_table.set_index(["site_id", "wave"])["density"]
    change["density_pre"] = [dens.get((s, pre), np.nan) for s in change["site_id"]]
    change["density_post"] = [dens.get((s, post), np.nan) for s in change["site_id"]]
    change["density_change"] = change["density_post"] - change["density_pre"]
    return NetworkResult(
        sites=site_table,
        organizations=_concat(org_frames, ORG_COLUMNS),
        ties=_concat(tie_frames, TIE_COLUMNS),
        change=change[CHANGE_COLUMNS],
        tie_changes=_concat(change_frames, TIE_CHANGE_COLUMNS),
        min_level=min_level, item=item,
    )


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]
