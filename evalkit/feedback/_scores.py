"""Community scale scores with confidence intervals, and equity breakdowns with suppression."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evalkit.errors import AnalysisError
from evalkit.instruments import Instrument
from evalkit.scoring import score

SCORE_COLUMNS = ["level", "site_id", "modality", "wave", "scale", "label", "n", "mean", "sd",
                 "se", "ci_low", "ci_high"]
EQUITY_COLUMNS = ["level", "site_id", "modality", "wave", "scale", "variable", "group", "n",
                  "mean", "ci_low", "ci_high", "suppressed"]
NOT_STATED = "Not stated"


def _describe(values: pd.Series, confidence: float) -> dict[str, float]:
    from scipy import stats  # here, not at import: `evalkit report` reads names from
    # evalkit.feedback and must not pay for scipy.stats

    v = values.dropna().to_numpy(dtype=float)
    n = len(v)
    mean = float(v.mean()) if n else np.nan
    sd = float(v.std(ddof=1)) if n > 1 else np.nan
    se = sd / np.sqrt(n) if n > 1 else np.nan
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * se) if n > 1 else np.nan
    return {"n": n, "mean": mean, "sd": sd, "se": se, "ci_low": mean - half,
            "ci_high": mean + half}


def _levels(frame: pd.DataFrame):
    yield "collaborative", None, None, frame
    if "modality" in frame.columns:
        for m, sub in frame.groupby("modality", sort=True):
            yield "modality", None, m, sub
    for s, sub in frame.groupby("site_id", sort=True):
        mod = sub["modality"].iloc[0] if "modality" in sub.columns else None
        yield "site", s, mod, sub


def _scored(data: pd.DataFrame, instrument: Instrument, scales: Sequence[str] | None,
            extra: Sequence[str] = ()) -> pd.DataFrame:
    needed = ["site_id", "wave", *extra]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise AnalysisError(f"data: missing column(s) {missing}; columns are "
                            f"{[str(c) for c in data.columns]}")
    ids = [c for c in ("site_id", "modality", "wave", *extra) if c in data.columns]
    return score(data, instrument=instrument, scales=scales, id_columns=ids)


def _wave_order(data: pd.DataFrame, waves: Sequence[str] | None) -> list[str]:
    return list(waves) if waves is not None else list(dict.fromkeys(data["wave"]))


def community_scores(data: pd.DataFrame, *, instrument: Instrument,
                     scales: Sequence[str] | None = None, confidence: float = 0.95,
                     waves: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean scale scores with t-based confidence intervals by wave, at every level.

    Parameters
    ----------
    data
        One row per response: ``site_id, wave``, optionally ``modality``, and the item
        columns (as from :func:`evalkit.tables.wide_answers`).
    instrument
        The community-feedback instrument (its scales define the scores).
    scales
        Scale ids (all of the instrument's by default).
    confidence
        Confidence level of the intervals.
    waves
        Order of the waves (order of appearance by default).

    Returns
    -------
    pandas.DataFrame
        ``level`` (``collaborative``, ``modality``, ``site``), ``site_id, modality, wave,
        scale, label, n`` (responses with a score), ``mean, sd, se, ci_low, ci_high``
        (``mean -/+ t(1 - alpha/2, n - 1) * se``).

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.instruments import load_instrument
    >>> from evalkit._assets import asset_path
    >>> inst = load_instrument(asset_path("surveys") / "community_feedback.yaml")
    >>> data = pd.DataFrame({"site_id": "S1", "wave": "baseline",
    ...                      "CF04": [2.0, 4.0, 3.0], "CF05": [2.0, 4.0, 5.0]})
    >>> out = community_scores(data, instrument=inst, scales=["needs_met"])
    >>> out.loc[out["level"] == "site", ["n", "mean", "ci_low", "ci_high"]].round(3)
       n   mean  ci_low  ci_high
    1  3  3.333   0.465    6.202
    """
    if not 0 < confidence < 1:
        raise AnalysisError(f"confidence must be between 0 and 1; got {confidence}")
    long = _scored(data, instrument, scales)
    labels = {s.id: s.label for s in instrument.scales}
    rows = []
    for scale, by_scale in long.groupby("scale", sort=False):
        for level, site, modality, sub in _levels(by_scale):
            for wave in _wave_order(data, waves):
                w = sub[sub["wave"] == wave]
                if w.empty:
                    continue
                rows.append({"level": level, "site_id": site, "modality": modality,
                             "wave": wave, "scale": scale, "label": labels[scale],
                             **_describe(w["score"], confidence)})
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def _suppress(cells: pd.DataFrame, threshold: int) -> pd.Series:
    """Primary (0 < n < threshold) and complementary suppression within one set of cells.

    When exactly one cell of a set is hidden, its count could be recovered from the total
    (which is published elsewhere), so the next smallest non-zero cell is hidden too.
    """
    n = cells["n"]
    hide = (n > 0) & (n < threshold)
    while hide.sum() == 1:
        others = n[~hide & (n > 0)]
        if others.empty:
            break
        hide[others.sort_values(kind="mergesort").index[0]] = True
    return hide


def equity_breakdown(data: pd.DataFrame, *, instrument: Instrument, threshold: int,
                     by: Sequence[str] = ("age_group", "language"),
                     scales: Sequence[str] | None = ("experience",),
                     confidence: float = 0.95,
                     waves: Sequence[str] | None = None) -> pd.DataFrame:
    """Scale scores by demographic group, with small cells suppressed.

    Groups come from the options of each ``by`` item (labels, e.g. ``"25-44"``), plus
    ``"Not stated"`` for respondents who skipped it. A cell with fewer than ``threshold``
    (but more than zero) responses is suppressed: its ``n``, mean and interval are missing
    and ``suppressed`` is True. When only one cell of a breakdown would be suppressed, the
    next smallest is suppressed too, so the hidden count cannot be worked out from the
    published total.

    Parameters
    ----------
    data
        One row per response: ``site_id, wave``, the ``by`` columns (option codes), the item
        columns and optionally ``modality``.
    instrument
        The community-feedback instrument (scales and the options of the ``by`` items).
    threshold
        The suppression threshold (``reports.suppression_threshold``).
    by
        Demographic items to break down by.
    scales
        Scale ids (``None`` = all).
    confidence
        Confidence level of the intervals.
    waves
        Order of the waves.

    Returns
    -------
    pandas.DataFrame
        ``level, site_id, modality, wave, scale, variable`` (the ``by`` item), ``group``
        (option label), ``n`` (nullable integer, missing when suppressed), ``mean, ci_low,
        ci_high`` (missing when suppressed), ``suppressed``.
    """
    if threshold < 1:
        raise AnalysisError(f"threshold must be at least 1; got {threshold}")
    by = list(by)
    long = _scored(data, instrument, scales, extra=by)
    labels: dict[str, dict[float, str]] = {}
    for var in by:
        options = instrument.item(var).options or {}
        labels[var] = {float(k): v for k, v in options.items()}
        unknown = sorted(set(pd.to_numeric(long[var], errors="coerce").dropna())
                         - set(labels[var]))
        if unknown:
            raise AnalysisError(f"data.{var}: code(s) {unknown} are not options of item "
                                f"{var!r}; options are {options}")
    rows = []
    for scale, by_scale in long.groupby("scale", sort=False):
        for level, site, modality, sub in _levels(by_scale):
            for wave in _wave_order(data, waves):
                w = sub[sub["wave"] == wave]
                if w.empty:
                    continue
                for var in by:
                    group = w[var].map(lambda v, var=var: NOT_STATED if pd.isna(v)
                                       else labels[var][float(v)])
                    cells = []
                    for g in [*labels[var].values(), NOT_STATED]:
                        part = w.loc[group == g, "score"]
                        d = _describe(part, confidence)
                        cells.append({"level": level, "site_id": site, "modality": modality,
                                      "wave": wave, "scale": scale, "variable": var,
                                      "group": g, "n": d["n"], "mean": d["mean"],
                                      "ci_low": d["ci_low"], "ci_high": d["ci_high"]})
                    frame = pd.DataFrame(cells)
                    frame["suppressed"] = _suppress(frame, threshold)
                    rows.append(frame)
    if not rows:
        return pd.DataFrame(columns=EQUITY_COLUMNS)
    out = pd.concat(rows, ignore_index=True)
    out["n"] = out["n"].astype("Int64").mask(out["suppressed"])
    for col in ("mean", "ci_low", "ci_high"):
        out[col] = out[col].mask(out["suppressed"])
    return out[EQUITY_COLUMNS]
