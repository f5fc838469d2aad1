"""Findings: the sentences a report may say about the results, as a table.

:func:`build_findings` turns a results folder into one row per finding: what it is about
(``kind``, ``outcome``, ``level``, ``site_id``, ``modality``), which way it went
(``direction`` from the sign of ``estimate``; ``clear`` when its 95% CI excludes 0), the
numbers it cites, an evidence ``grade`` from stated rules (:class:`DecisionRule`), whether
it is a recommendation that the decision rule allows (``recommended``), and its words
(``headline``, ``sentence``, Markdown with text from the configuration escaped). Reports
print these sentences and hold no verdicts of their own.

Kinds: ``project`` (what the collaborative and its instruments are), ``change`` and
``community_experience`` (pre/post, per collaborative, modality and site),
``modality_change``, ``modality_comparison`` and ``recommendation`` (the modality model),
``ordinal_check`` (whether its conclusions hold with the answers as ordered categories),
``network_change``, ``network_trust`` and ``network_value`` (trust and value between
partner organizations, as PARTNER defines them), ``theme``, ``quote`` (scrubbed community
quotes a report may print), ``advice``, ``design`` (the sites per approach the next
collaborative needs, from simulations), ``pending`` (analyses the data cannot support yet).

Examples
--------
>>> from evalkit.findings import build_findings
>>> from evalkit.findings._toy import toy_results
>>> f = build_findings(toy_results())
>>> row = f[(f["kind"] == "change") & (f["level"] == "collaborative")].iloc[0]
>>> row["direction"], row["headline"]
('down', 'Toy score fell across the collaborative.')
"""

from __future__ import annotations

import pandas as pd

from evalkit.findings._change import COLUMNS, as_frame, change_findings
from evalkit.findings._context import Context, DecisionRule, context
from evalkit.findings._design import design_findings
from evalkit.findings._modality import GRADE_WORDS, grade_rules, modality_findings
from evalkit.findings._ordinal import ordinal_findings
from evalkit.findings._other import (
    advice_findings,
    network_findings,
    pending_findings,
    project_findings,
    quote_findings,
    theme_findings,
)
from evalkit.findings._partner import (
    MEASURES,
    partner_findings,
    trust_value_by_wave,
    trust_value_change,
    trust_value_tables,
)
from evalkit.findings._words import DOWN_WORDS, UP_WORDS, floor_phrase, md, p_phrase
from evalkit.results import Results

__all__ = ["build_findings", "DecisionRule", "Context", "context", "COLUMNS", "GRADE_WORDS",
           "grade_rules", "UP_WORDS", "DOWN_WORDS", "md", "p_phrase", "floor_phrase",
           "MEASURES", "trust_value_by_wave", "trust_value_change", "trust_value_tables"]


def build_findings(results: Results, *, rule: DecisionRule | None = None) -> pd.DataFrame:
    """Every finding the results support, in report order.

    Parameters
    ----------
    results
        A results folder read with :func:`evalkit.results.read_results`.
    rule
        The decision rule; by default the plan's ``decision:`` section, else
        :class:`DecisionRule`'s defaults.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`.
    """
    ctx = context(results, rule=rule)
    changes = change_findings(ctx)
    rows = (project_findings(ctx) + changes + modality_findings(ctx) + ordinal_findings(ctx)
            + network_findings(ctx)
            + partner_findings(ctx) + theme_findings(ctx) + quote_findings(ctx)
            + advice_findings(ctx, changes) + design_findings(ctx) + pending_findings(ctx))
    return as_frame(rows)
