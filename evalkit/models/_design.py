"""Checking the data and building the fixed-effect design of the modality model.

Rows are sorted by site and then by participant within site, so that every site and every
participant is a contiguous block; the fast REML engine relies on that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evalkit.errors import AnalysisError


@dataclass(frozen=True, eq=False)
class Design:
    """The validated data of one modality model, in site/participant order.

    Attributes
    ----------
    outcome, time, group, cluster, subject : str
        The user's column names for the outcome, the wave, the modality, the site and the
        participant.
    covariates : tuple of str
        Covariate columns (numeric, or categorical with treatment coding).
    time_levels, group_levels : tuple of str
        Levels in model order; the first of each is the reference.
    terms : tuple of str
        Fixed-effect term names, patsy style (``Intercept``, ``wave[T.endline]``, ...).
    X : ndarray, shape (n, p)
        Fixed-effect design matrix.
    y : ndarray, shape (n,)
        Outcome.
    site : ndarray of int, shape (n,)
        Site code of each row (0 .. n_sites - 1), non-decreasing.
    participant : ndarray of int, shape (n,)
        Participant code of each row (0 .. n_participants - 1), non-decreasing.
    site_names : tuple of str
        Site label of each site code.
    site_group : ndarray of int, shape (n_sites,)
        Group (modality) code of each site.
    covariate_reference : dict
        Value of every covariate design column at which estimated marginal means are taken
        (the mean of a numeric covariate; equal weights over the levels of a categorical one).
    n_dropped : int
        Rows dropped because a model column was missing.
    """

    outcome: str
    time: str
    group: str
    cluster: str
    subject: str
    covariates: tuple[str, ...]
    time_levels: tuple[str, ...]
    group_levels: tuple[str, ...]
    terms: tuple[str, ...]
    X: np.ndarray
    y: np.ndarray
    site: np.ndarray
    participant: np.ndarray
    time_code: np.ndarray
    site_names: tuple[str, ...]
    site_group: np.ndarray
    term_kinds: tuple[str, ...] = ()
    covariate_reference: dict[str, float] = field(default_factory=dict)
    n_dropped: int = 0

    @property
    def n_obs(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_sites(self) -> int:
        return len(self.site_names)

    @property
    def n_participants(self) -> int:
        return int(self.participant[-1]) + 1 if self.y.size else 0

    def column(self, name: str) -> int:
        return self.terms.index(name)

    def interaction_columns(self) -> list[int]:
        return [i for i, k in enumerate(self.term_kinds) if k == "interaction"]

    def cell_row(self, time_level: str, group_level: str) -> np.ndarray:
        """Design row of one wave x modality cell, covariates at their reference values."""
        row = np.zeros(len(self.terms))
        row[0] = 1.0
        t_name = f"{self.time}[T.{time_level}]"
        g_name = f"{self.group}[T.{group_level}]"
        for i, term in enumerate(self.terms):
            if term == t_name or term == g_name or term == f"{t_name}:{g_name}":
                row[i] = 1.0
            elif term in self.covariate_reference:
                row[i] = self.covariate_reference[term]
        return row


def _codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes of a label column and its distinct labels as strings."""
    codes, uniques = pd.factorize(series)
    return codes, [str(u) for u in uniques]


def build_design(
    data: pd.DataFrame,
    *,
    outcome: str,
    time: str,
    time_order: Sequence[str],
    group: str,
    cluster: str,
    subject: str,
    covariates: Sequence[str] = (),
) -> Design:
    """Validate ``data`` and build the design of ``outcome ~ time * group (+ covariates)``."""
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError(f"data must be a pandas DataFrame; received {type(data).__name__}")
    covariates = tuple(covariates)
    roles = {"outcome": outcome, "time": time, "group": group, "cluster": cluster,
             "subject": subject}
    for role, given in roles.items():
        if not isinstance(given, str):
            raise AnalysisError(f"{role} must be a column name (str); received {given!r}")
    names = [outcome, time, group, cluster, subject, *covariates]
    if len(set(names)) != len(names):
        raise AnalysisError(
            "outcome, time, group, cluster, subject and covariates must be distinct columns; "
            f"received {names}"
        )
    missing = [c for c in names if c not in data.columns]
    if missing:
        raise AnalysisError(
            f"column(s) {missing} not found in data; columns are {list(map(str, data.columns))}"
        )
    time_order = tuple(str(t) for t in time_order)
    if len(time_order) < 2:
        raise AnalysisError(
            f"time_order must list at least two levels of column '{time}'; received "
            f"{list(time_order)}"
        )
    if len(set(time_order)) != len(time_order):
        raise AnalysisError(f"time_order has repeated levels: {list(time_order)}")

    frame = data[names].copy()
    n_before = len(frame)
    frame = frame.dropna()
    n_dropped = n_before - len(frame)
    if frame.empty:
        raise AnalysisError(
            f"no complete rows: every row misses at least one of the columns {names}"
        )
    y = pd.to_numeric(frame[outcome], errors="coerce")
    if y.isna().any():
        bad = frame.loc[y.isna(), outcome].iloc[0]
        raise AnalysisError(
            f"outcome column '{outcome}' must be numeric; received value {bad!r}"
        )
    t_raw, t_uni = _codes(frame[time])
    unknown = sorted(set(t_uni) - set(time_order))
    if unknown:
        raise AnalysisError(
            f"time level(s) {unknown} of column '{time}' are not in time_order "
            f"{list(time_order)}"
        )
    absent = [t for t in time_order if t not in set(t_uni)]
    if absent:
        raise AnalysisError(
            f"time level(s) {absent} from time_order not found in column '{time}'; levels "
            f"are {sorted(set(t_uni))}"
        )
    g_raw, g_uni = _codes(frame[group])
    group_levels = tuple(sorted(set(g_uni)))
    if len(group_levels) < 2:
        raise AnalysisError(
            f"column '{group}' must have at least two modalities; received {list(group_levels)}"
        )
    t_code = np.array([time_order.index(u) for u in t_uni], dtype=np.int64)[t_raw]
    g_code = np.array([group_levels.index(u) for u in g_uni], dtype=np.int64)[g_raw]
    site_codes, site_uniques = pd.factorize(frame[cluster], sort=True)
    site_names = [str(x) for x in site_uniques]
    n_groups = len(group_levels)
    pairs = np.unique(site_codes.astype(np.int64) * n_groups + g_code)
    per_site = np.bincount(pairs // n_groups, minlength=len(site_names))
    if np.any(per_site > 1):
        bad = int(np.argmax(per_site > 1))
        raise AnalysisError(
            f"each {cluster} must receive one {group}; {cluster} {site_names[bad]!r} has "
            f"{int(per_site[bad])} different levels of '{group}'"
        )
    if len(site_names) < 2:
        raise AnalysisError(f"column '{cluster}' must have at least two sites; received 1")

    p_codes, p_names = pd.factorize(frame[subject])
    key = site_codes.astype(np.int64) * max(len(p_names), 1) + p_codes
    order = np.argsort(key, kind="stable")
    key = key[order]
    site_codes = site_codes[order]
    participant = np.cumsum(np.r_[True, key[1:] != key[:-1]]) - 1
    if participant[-1] + 1 >= len(participant):
        raise AnalysisError(
            f"column '{subject}' identifies {participant[-1] + 1} participants in "
            f"{len(participant)} rows; the participant random effect needs repeated "
            "observations of at least some participants"
        )
    t_code = t_code[order]
    g_code = g_code[order]
    n = len(order)

    columns: list[np.ndarray] = [np.ones(n)]
    terms: list[str] = ["Intercept"]
    for i, t in enumerate(time_order[1:], start=1):
        columns.append((t_code == i).astype(float))
        terms.append(f"{time}[T.{t}]")
    for j, g in enumerate(group_levels[1:], start=1):
        columns.append((g_code == j).astype(float))
        terms.append(f"{group}[T.{g}]")
    n_main = len(terms)
    reference: dict[str, float] = {}
    for cov in covariates:
        values = frame[cov]
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            raw, uni = _codes(values)
            labels = np.array(uni, dtype=object)[raw][order]
            levels = sorted(set(uni))
            if len(levels) < 2:
                raise AnalysisError(
                    f"covariate '{cov}' has a single level {levels}; it cannot be estimated"
                )
            for lv in levels[1:]:
                name = f"{cov}[T.{lv}]"
                columns.append((labels == lv).astype(float))
                terms.append(name)
                reference[name] = 1.0 / len(levels)
        else:
            col = values.to_numpy(dtype=float)[order]
            columns.append(col)
            terms.append(cov)
            reference[cov] = float(col.mean())
    for j, g in enumerate(group_levels[1:], start=1):
        for i, t in enumerate(time_order[1:], start=1):
            columns.append(((t_code == i) & (g_code == j)).astype(float))
            terms.append(f"{time}[T.{t}]:{group}[T.{g}]")
    X = np.column_stack(columns)
    kinds = (["intercept"] + ["time"] * (len(time_order) - 1) + ["group"] * (len(group_levels) - 1)
             + ["covariate"] * (len(terms) - n_main - (len(time_order) - 1)
                                * (len(group_levels) - 1))
             + ["interaction"] * ((len(time_order) - 1) * (len(group_levels) - 1)))

    n_cells = len(time_order) * n_groups
    counts = np.bincount(t_code * n_groups + g_code, minlength=n_cells)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        t, g = time_order[empty[0] // n_groups], group_levels[empty[0] % n_groups]
        raise AnalysisError(
            f"no observations for {time} '{t}' x {group} '{g}'; every wave x modality cell "
            "needs data"
        )
    if np.linalg.matrix_rank(X.T @ X) < X.shape[1]:
        raise AnalysisError(
            f"the fixed-effect design {terms} is rank deficient; check covariates {covariates} "
            "for constant or collinear columns"
        )

    first_row = np.r_[0, np.flatnonzero(np.diff(site_codes)) + 1]
    # Order terms as R and patsy do: main effects (time, group, covariates) then interactions.
    return Design(
        outcome=outcome,
        time=time,
        group=group,
        cluster=cluster,
        subject=subject,
        covariates=covariates,
        time_levels=time_order,
        group_levels=group_levels,
        terms=tuple(terms),
        term_kinds=tuple(kinds),
        X=X,
        y=y.to_numpy(dtype=float)[order],
        site=site_codes.astype(np.int64),
        participant=participant.astype(np.int64),
        time_code=t_code,
        site_names=tuple(site_names),
        site_group=g_code[first_row],
        covariate_reference=reference,
        n_dropped=int(n_dropped),
    )


def null_design(design: Design) -> tuple[np.ndarray, list[int]]:
    """Columns of the design that do not involve the group (the null model of no modality).

    Returns the null design matrix and the indices of its columns in ``design.terms``.
    """
    keep = [i for i, k in enumerate(design.term_kinds) if k not in ("group", "interaction")]
    return design.X[:, keep], keep
