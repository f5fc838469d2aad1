"""The ordinal sensitivity check of the modality model, as findings.

Averaging Likert answers and treating the mean as a number can give false alarms, misses and
even reversed effects (Liddell & Kruschke 2018). For an outcome the plan marks
``ordinal: true``, ``evalkit analyze`` fits each Likert item of its scale by a
cumulative-link mixed model (``model_ordinal``, ``model_ordinal_contrasts``); a
difference-in-change conclusion between two modalities is "one gained more" when its 95%
interval lies above or below 0, else "no clear difference", under either model. This module
says, per outcome, whether those conclusions hold when the answers are treated as ordered
categories.
"""

from __future__ import annotations

from typing import Any

from evalkit.findings._change import finding
from evalkit.findings._context import Context
from evalkit.findings._words import count_word, join_words, lower_first, md

__all__ = ["ordinal_findings"]


def _conclusion(ctx: Context, row: Any, which: str) -> str:
    said = getattr(row, f"{which}_conclusion")
    a, b = (md(lower_first(ctx.modality(str(m)))) for m in (row.a, row.b))
    if said == "a gained more":
        return f"{a} gained more than {b}"
    if said == "b gained more":
        return f"{b} gained more than {a}"
    return f"no clear difference between {a} and {b}"


def ordinal_findings(ctx: Context) -> list[dict[str, Any]]:
    """One ``ordinal_check`` finding per outcome with an ordinal check.

    ``estimate`` is the share of item x contrast conclusions that agree, ``n`` the number of
    items fitted; ``numbers`` holds the counts. The sentence names every comparison whose
    conclusion changes, with the item.
    """
    checks = ctx.table("model_ordinal")
    contrasts = ctx.table("model_ordinal_contrasts")
    rows: list[dict[str, Any]] = []
    if checks.empty:
        return rows
    for outcome, items in checks.groupby("outcome", sort=False):
        label = md(ctx.outcome_label(str(outcome)))
        mine = contrasts[contrasts["outcome"] == outcome]
        if mine.empty:
            continue
        n_items = len(items)
        agree = mine.groupby("item", sort=False)["agrees"].apply(lambda x: bool(x.all()))
        differ = [str(i) for i, ok in agree.items() if not ok]
        what = (f"Each of the {count_word(n_items, 'item')} of the {label} was also "
                "modelled on its own twice, its answers as numbers and as ordered categories "
                "(a cumulative-link mixed model)")
        if not differ:
            sentence = (f"{what}: for every item both lead to the same conclusions about the "
                        "approaches.")
            headline = (f"Treating the {label} answers as ordered categories does not change "
                        "the conclusions about the approaches.")
        else:
            shown = [md(i) for i in differ[:8]]
            if len(differ) > 8:
                shown.append(f"{len(differ) - 8} more")
            first = mine[(mine["item"] == differ[0]) & ~mine["agrees"].astype(bool)].iloc[0]
            sentence = (f"{what}: for {len(differ)} of them at least one conclusion about the "
                        f"approaches differs ({join_words(shown)}); for item {md(differ[0])}, "
                        f"for example, {_conclusion(ctx, first, 'linear')} with the answers as "
                        f"numbers but {_conclusion(ctx, first, 'ordinal')} with them as ordered "
                        "categories. Conclusions that depend on treating answers as numbers "
                        "deserve caution.")
            headline = (f"Some conclusions about the approaches on items of the {label} "
                        "change when the answers are treated as ordered categories.")
        rows.append(finding(
            finding_id=f"ordinal_check:{outcome}", kind="ordinal_check", outcome=outcome,
            level="collaborative", estimate=(n_items - len(differ)) / n_items,
            direction="none", clear=False, n=n_items, grade="descriptive",
            numbers={"items": n_items, "items_differ": len(differ),
                     "conclusions": len(mine), "disagree": int((~mine["agrees"]
                                                                .astype(bool)).sum())},
            headline=headline, sentence=sentence))
    return rows
