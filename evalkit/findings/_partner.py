"""Trust and value between partner organizations, as the PARTNER tool defines them.

In PARTNER (Varda et al., Visible Network Labs) each organization rates each partner it knows;
an organization's *trust* score is how far its partners say they can trust it (PARTNER averages
reliability, shared mission and openness to discussion) and its *value* score how valuable its
partners say it is to the shared work (PARTNER averages power and influence, level of
involvement and resource contribution). The network's score is the mean over its
organizations. evalkit's partner-network survey asks one item for each (``trust``: "rely on
this organization to follow through", ``value``: "how valuable ... to the shared work");
:mod:`evalkit.network` stores each organization's mean rating received
(``network_organizations.trust_received``, ``value_received``). This module summarises those by
site and wave, with 95% confidence intervals, and the change between the network's first and
last wave, and turns them into findings.

Intervals treat the organizations of a site as the units (t interval of their scores; the
change is paired, over organizations rated at both waves). Across the collaborative the
sites are the units: the mean of the sites' scores or changes with a t interval over sites.

Examples
--------
>>> import pandas as pd
>>> orgs = pd.DataFrame({"site_id": "S1", "wave": ["t0"] * 3 + ["t1"] * 3,
...                      "org_id": ["A", "B", "C"] * 2,
...                      "trust_received": [2.0, 3.0, 2.5, 3.0, 3.5, 3.5],
...                      "value_received": [2.0, 2.0, 3.0, 2.0, 2.5, 3.5]})
>>> tv = trust_value_by_wave(orgs, waves=["t0", "t1"])
>>> tv[tv["measure"] == "trust"][["level", "wave", "n_orgs", "mean"]].round(2)
           level wave  n_orgs  mean
0           site   t0       3  2.50
1  collaborative   t0       1  2.50
2           site   t1       3  3.33
3  collaborative   t1       1  3.33
>>> ch = trust_value_change(orgs, pre="t0", post="t1")
>>> round(float(ch.loc[ch["measure"] == "trust", "change"].iloc[0]), 3)
0.833
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from evalkit.findings._change import finding
from evalkit.findings._context import Context, context
from evalkit.findings._words import change_verb, ci_phrase, clear, count_word, md, signed
from evalkit.results import Results

__all__ = ["MEASURES", "trust_value_by_wave", "trust_value_change", "trust_value_tables",
           "partner_findings"]

#: The PARTNER measures: id -> (label, column of ``network_organizations``).
MEASURES = {"trust": ("Trust", "trust_received"), "value": ("Value", "value_received")}
_HEADLINES = {"trust": "Trust among partner organizations.",
              "value": "The value partner organizations see in each other."}

BY_WAVE_COLUMNS = ["level", "site_id", "wave", "measure", "n_orgs", "mean", "sd", "ci_low",
                   "ci_high"]
CHANGE_COLUMNS = ["level", "site_id", "measure", "pre", "post", "n", "mean_pre", "mean_post",
                  "change", "ci_low", "ci_high", "p"]


def _t_interval(values: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, SD and the 95% t interval of ``values`` (NaN interval below 2 values)."""
    # scipy.special, not scipy.stats (whose t.ppf is this stdtrit): importing scipy.stats
    # took 0.9 s of every report's kernel.
    from scipy.special import stdtrit

    n = len(values)
    if n == 0:
        return (np.nan,) * 4
    mean = float(np.mean(values))
    if n < 2:
        return mean, np.nan, np.nan, np.nan
    sd = float(np.std(values, ddof=1))
    half = float(stdtrit(n - 1, 0.975)) * sd / np.sqrt(n)
    return mean, sd, mean - half, mean + half


def _t_test(values: np.ndarray) -> float:
    """Two-sided p of a one-sample t test of mean 0 (NaN below 2 values or no spread), as
    ``scipy.stats.ttest_1samp`` gives it (2 * stdtr(df, -|t|)), without importing
    scipy.stats."""
    from scipy.special import stdtr

    n = len(values)
    sd = float(np.std(values, ddof=1)) if n >= 2 else 0.0
    if n < 2 or sd == 0:
        return np.nan
    t = float(np.mean(values)) / (sd / np.sqrt(n))
    return float(2 * stdtr(n - 1, -abs(t)))


def trust_value_by_wave(organizations: pd.DataFrame, *, waves: Sequence[str] | None = None
                        ) -> pd.DataFrame:
    """Trust and value scores of each site's network at each wave, and across sites.

    Parameters
    ----------
    organizations
        ``network_organizations`` from ``results/``: ``site_id, wave, org_id,
        trust_received, value_received`` (an organization no one rated has missing scores
        and is left out).
    waves
        Wave order of the output (default: as they appear).

    Returns
    -------
    pandas.DataFrame
        ``level`` (``site`` or ``collaborative``), ``site_id`` (missing for the
        collaborative), ``wave``, ``measure`` (``trust`` or ``value``), ``n_orgs``
        (organizations with a score; for the collaborative, the number of sites), ``mean``,
        ``sd``, ``ci_low, ci_high`` (95% t interval over organizations; for the
        collaborative, over the sites' means).
    """
    rows: list[dict[str, Any]] = []
    if organizations.empty:
        return pd.DataFrame(columns=BY_WAVE_COLUMNS)
    order = list(waves) if waves is not None else list(dict.fromkeys(organizations["wave"]))
    for measure, (_, column) in MEASURES.items():
        if column not in organizations:
            continue
        scored = organizations.dropna(subset=[column])
        for wave in [w for w in order if w in set(scored["wave"])]:
            at = scored[scored["wave"] == wave]
            means = []
            for site, sub in at.groupby("site_id", sort=True):
                mean, sd, low, high = _t_interval(sub[column].to_numpy(float))
                means.append(mean)
                rows.append({"level": "site", "site_id": site, "wave": wave,
                             "measure": measure, "n_orgs": len(sub), "mean": mean, "sd": sd,
                             "ci_low": low, "ci_high": high})
            mean, sd, low, high = _t_interval(np.array(means, dtype=float))
            rows.append({"level": "collaborative", "site_id": None, "wave": wave,
                         "measure": measure, "n_orgs": len(means), "mean": mean, "sd": sd,
                         "ci_low": low, "ci_high": high})
    out = pd.DataFrame(rows, columns=BY_WAVE_COLUMNS)
    out["n_orgs"] = out["n_orgs"].astype("int64")
    return out


def trust_value_change(organizations: pd.DataFrame, *, pre: str, post: str) -> pd.DataFrame:
    """Change in trust and value from ``pre`` to ``post``: per site (paired over the
    organizations rated at both waves) and across the sites.

    Returns
    -------
    pandas.DataFrame
        ``level, site_id, measure, pre, post``, ``n`` (organizations rated at both waves;
        for the collaborative, sites with a change), ``mean_pre, mean_post`` (of those
        organizations; for the collaborative, the mean of the sites'), ``change`` (mean
        paired difference; for the collaborative, the mean of the sites' changes),
        ``ci_low, ci_high`` (95% t interval) and ``p`` (paired / one-sample t test).
        Sites with fewer than 2 organizations rated at both waves have no interval.
    """
    rows: list[dict[str, Any]] = []
    if organizations.empty:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    for measure, (_, column) in MEASURES.items():
        if column not in organizations:
            continue
        scored = organizations.dropna(subset=[column])
        wide = scored[scored["wave"].isin([pre, post])].pivot_table(
            index=["site_id", "org_id"], columns="wave", values=column, aggfunc="first")
        if pre not in wide or post not in wide:
            continue
        wide = wide.dropna(subset=[pre, post])
        site_rows = []
        for site, sub in wide.groupby(level="site_id", sort=True):
            diff = (sub[post] - sub[pre]).to_numpy(float)
            mean, _, low, high = _t_interval(diff)
            site_rows.append({"level": "site", "site_id": site, "measure": measure,
                              "pre": pre, "post": post, "n": len(sub),
                              "mean_pre": float(sub[pre].mean()),
                              "mean_post": float(sub[post].mean()), "change": mean,
                              "ci_low": low, "ci_high": high, "p": _t_test(diff)})
        rows += site_rows
        if site_rows:
            changes = np.array([r["change"] for r in site_rows], dtype=float)
            mean, _, low, high = _t_interval(changes)
            rows.append({"level": "collaborative", "site_id": None, "measure": measure,
                         "pre": pre, "post": post, "n": len(site_rows),
                         "mean_pre": float(np.mean([r["mean_pre"] for r in site_rows])),
                         "mean_post": float(np.mean([r["mean_post"] for r in site_rows])),
                         "change": mean, "ci_low": low, "ci_high": high,
                         "p": _t_test(changes)})
    out = pd.DataFrame(rows, columns=CHANGE_COLUMNS)
    out["n"] = out["n"].astype("int64")
    return out


def trust_value_tables(results: Results) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`trust_value_by_wave` and :func:`trust_value_change` of a results folder, the
    change between the waves the network analysis compared: what the reports tabulate,
    from the same numbers as the findings. Two empty tables without a partner network.
    """
    ctx = context(results)
    orgs = ctx.table("network_organizations")
    if orgs.empty:
        return pd.DataFrame(columns=BY_WAVE_COLUMNS), pd.DataFrame(columns=CHANGE_COLUMNS)
    waves = _waves(ctx)
    change = (trust_value_change(orgs, pre=waves[0], post=waves[1]) if waves is not None
              else pd.DataFrame(columns=CHANGE_COLUMNS))
    return trust_value_by_wave(orgs, waves=ctx.wave_order), change


def _waves(ctx: Context) -> tuple[str, str] | None:
    """The network's first and last wave (as the analysis compared them)."""
    ch = ctx.table("network_change")
    if len(ch) and {"pre", "post"} <= set(ch.columns):
        return str(ch["pre"].iloc[0]), str(ch["post"].iloc[0])
    orgs = ctx.table("network_organizations")
    present = [w for w in ctx.wave_order if len(orgs) and w in set(orgs["wave"])]
    return (present[0], present[-1]) if len(present) >= 2 else None


def partner_findings(ctx: Context) -> list[dict[str, Any]]:
    """Findings ``network_trust`` and ``network_value``: change in the trust and value
    partner organizations give each other, across the sites and per site.

    The verb is "rose" or "fell" only when the change's 95% CI excludes zero
    (:func:`~evalkit.findings._words.change_verb`); otherwise the sentence says it did not
    clearly change and gives the numbers.
    """
    orgs = ctx.table("network_organizations")
    waves = _waves(ctx)
    if orgs.empty or waves is None:
        return []
    pre, post = waves
    ch = trust_value_change(orgs, pre=pre, post=post)
    rows: list[dict[str, Any]] = []
    span = f"from {ctx.wave(pre)} to {ctx.wave(post)}"
    for r in ch.itertuples(index=False):
        label = MEASURES[str(r.measure)][0]
        what = f"the mean {label.lower()} rating partner organizations received"
        if r.level == "collaborative":
            if r.n < 2:
                continue
            lead = f"Across the {count_word(int(r.n), 'site')}, {what}"
            unit = " over the sites' changes"
            avg = " on average"
        else:
            lead = f"At {md(ctx.site_name.get(str(r.site_id), r.site_id))}, {what}"
            unit = f"; {count_word(int(r.n), 'organization')} rated at both waves"
            avg = ""
        verb = change_verb(r.change, r.ci_low, r.ci_high)
        change = round(float(r.change), 2) + 0.0  # never "-0.00"
        if np.isnan(r.ci_low):
            sentence = (f"{lead} did not clearly change {span} ({signed(change)} points; "
                        f"too few organizations rated at both waves for an interval).")
        elif not clear(r.ci_low, r.ci_high):
            sentence = (f"{lead} did not clearly change {span} ({signed(change)} points, "
                        f"{ci_phrase(r.ci_low, r.ci_high)}{unit}).")
        else:
            sentence = (f"{lead} {verb} by {abs(change):.2f} points{avg} {span} "
                        f"({ci_phrase(r.ci_low, r.ci_high)}{unit}).")
        site = None if r.level == "collaborative" else str(r.site_id)
        rows.append(finding(
            finding_id=f"network_{r.measure}:{r.level}:{site or ''}",
            kind=f"network_{r.measure}", level=str(r.level), site_id=site,
            modality=ctx.site_modality.get(site) if site else None,
            estimate=float(r.change), ci_low=r.ci_low, ci_high=r.ci_high, p=r.p, n=int(r.n),
            grade="measured" if clear(r.ci_low, r.ci_high) else "descriptive",
            numbers={"mean_pre": r.mean_pre, "mean_post": r.mean_post, "change": r.change,
                     "ci_low": r.ci_low, "ci_high": r.ci_high, "p": r.p},
            headline=_HEADLINES[str(r.measure)], sentence=sentence))
    return rows
