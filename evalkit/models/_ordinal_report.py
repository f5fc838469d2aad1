"""The ordinal model as JSON, and whether it agrees with the linear modality model."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from evalkit.models._api import ModalityModelResult
from evalkit.models._ordinal import OrdinalModelResult


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in frame.to_dict(orient="records"):
        row: dict[str, Any] = {}
        for k, v in rec.items():
            if hasattr(v, "item") and not isinstance(v, str):
                v = v.item()
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            row[str(k)] = v
        out.append(row)
    return out


def ordinal_to_json(result: OrdinalModelResult) -> dict[str, Any]:
    """The result as plain JSON-ready values (the CLI's ``evalkit ordinal --json``).

    Keys: ``model``, ``link``, ``categories``, ``loglik``, ``aic``, ``n_obs``, ``n_groups``,
    ``converged``, ``max_gradient``, ``condition_number``, ``message``, ``thresholds``,
    ``fixed_effects``, ``random_effects``, ``emmeans``, ``change_contrasts``,
    ``probabilities``, ``nominal_test``.

    Examples
    --------
    >>> from evalkit.models import ordinal_model
    >>> from evalkit.models._ordinal_toy import toy_likert
    >>> res = ordinal_model(toy_likert(), outcome="answer", time="wave",
    ...     time_order=["baseline", "endline"], group="modality", cluster=None, subject=None)
    >>> out = ordinal_to_json(res)
    >>> out["model"], [r["term"] for r in out["nominal_test"]]
    ('clm', ['wave', 'modality', 'wave:modality'])
    """
    f = result.fit
    return {
        "model": f.model, "link": f.link, "categories": list(f.categories),
        "loglik": f.loglik, "aic": f.aic, "n_obs": f.n_obs, "n_groups": dict(f.n_groups),
        "converged": f.converged, "max_gradient": f.max_gradient,
        "condition_number": f.condition_number, "message": f.message,
        "thresholds": _rows(result.thresholds),
        "fixed_effects": _rows(result.fixed_effects),
        "random_effects": _rows(result.random_effects),
        "emmeans": _rows(result.emmeans),
        "change_contrasts": _rows(result.change_contrasts),
        "probabilities": _rows(result.probabilities),
        "nominal_test": _rows(result.nominal_test),
    }


def _conclusion(estimate: float, lower: float, upper: float) -> str:
    if lower > 0:
        return "a gained more"
    if upper < 0:
        return "b gained more"
    return "no clear difference"


def ordinal_agrees(linear: ModalityModelResult, ordinal: OrdinalModelResult
                   ) -> dict[str, Any]:
    """Does the conclusion about modalities hold when the answers are treated as ordinal?

    For every difference-in-change contrast that both models report (same modalities
    ``a``, ``b`` and waves ``from``, ``to``) the conclusion is "a gained more" (interval
    above 0), "b gained more" (below 0) or "no clear difference" (interval covers 0), from
    the linear model's interval in outcome units and the ordinal model's on the latent
    scale (whose sign means the same: a higher latent value is a higher answer).

    Parameters
    ----------
    linear : ModalityModelResult
        From :func:`evalkit.models.modality_model` on the mean or item score.
    ordinal : OrdinalModelResult
        From :func:`evalkit.models.ordinal_model` on the item answers.

    Returns
    -------
    dict
        ``agrees`` (bool: every shared contrast reaches the same conclusion),
        ``n_contrasts``, ``n_disagree``, ``contrasts`` (one dict per contrast: ``a, b, from,
        to, linear_estimate, linear_lower, linear_upper, linear_conclusion,
        ordinal_estimate, ordinal_lower, ordinal_upper, ordinal_conclusion, agrees``) and
        ``sentence``, one plain sentence for the findings table.

    Examples
    --------
    >>> from evalkit.models import modality_model, ordinal_model
    >>> from evalkit.models._ordinal_toy import toy_likert
    >>> data = toy_likert()
    >>> kw = dict(outcome="answer", time="wave", time_order=["baseline", "endline"],
    ...           group="modality", cluster="site", subject="participant")
    >>> lin = modality_model(data, **kw, permutations=None, robust=False)
    >>> out = ordinal_agrees(lin, ordinal_model(data, **kw))
    >>> sorted(out)
    ['agrees', 'contrasts', 'n_contrasts', 'n_disagree', 'sentence']
    """
    key = ["a", "b", "from", "to"]
    lin = linear.change_contrasts[[*key, "estimate", "lower", "upper"]]
    orn = ordinal.change_contrasts[[*key, "estimate", "lower", "upper"]]
    both = lin.merge(orn, on=key, suffixes=("_linear", "_ordinal"))
    rows = []
    for rec in both.to_dict(orient="records"):
        lc = _conclusion(rec["estimate_linear"], rec["lower_linear"], rec["upper_linear"])
        oc = _conclusion(rec["estimate_ordinal"], rec["lower_ordinal"], rec["upper_ordinal"])
        rows.append({
            "a": rec["a"], "b": rec["b"], "from": rec["from"], "to": rec["to"],
            "linear_estimate": float(rec["estimate_linear"]),
            "linear_lower": float(rec["lower_linear"]),
            "linear_upper": float(rec["upper_linear"]), "linear_conclusion": lc,
            "ordinal_estimate": float(rec["estimate_ordinal"]),
            "ordinal_lower": float(rec["lower_ordinal"]),
            "ordinal_upper": float(rec["upper_ordinal"]), "ordinal_conclusion": oc,
            "agrees": lc == oc,
        })
    n_dis = sum(not r["agrees"] for r in rows)
    if not rows:
        sentence = ("The ordinal model reports no difference-in-change contrast that the "
                    "linear model also reports, so they cannot be compared.")
    elif n_dis == 0:
        sentence = ("Treating the answers as ordinal categories (a cumulative-link mixed "
                    "model) leads to the same conclusions about the modalities as the "
                    "linear model.")
    else:
        parts = []
        for r in rows:
            if not r["agrees"]:
                parts.append(f"{r['a']} vs {r['b']} from {r['from']} to {r['to']} "
                             f"({_say(r['linear_conclusion'], r)} under the linear model, "
                             f"{_say(r['ordinal_conclusion'], r)} under the ordinal model)")
        sentence = ("Treating the answers as ordinal categories changes the conclusion for "
                    f"{n_dis} of {len(rows)} comparison(s): " + "; ".join(parts)
                    + ". Report that comparison with caution.")
    return {"agrees": n_dis == 0 and bool(rows), "n_contrasts": len(rows),
            "n_disagree": n_dis, "contrasts": rows, "sentence": sentence}


def _say(conclusion: str, r: dict[str, Any]) -> str:
    if conclusion == "a gained more":
        return f"{r['a']} gained more"
    if conclusion == "b gained more":
        return f"{r['b']} gained more"
    return "no clear difference"
