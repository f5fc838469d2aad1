"""Formatting helpers the report documents use: suppression, numbers, tables.

Examples
--------
>>> import pandas as pd
>>> from evalkit.reporting import suppress_small
>>> df = pd.DataFrame({"site": ["A", "B"], "n": [25, 4], "mean": [3.2, 4.1]})
>>> suppress_small(df, count_columns=["n"], threshold=11)
  site    n mean
0    A   25  3.2
1    B  <11    —
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Mapping, Sequence

import pandas as pd

from evalkit.disclosure import PROTECTED, PROTECTED_NOTE

__all__ = ["suppress_small", "format_p", "format_number", "format_ci", "html_table",
           "markdown_table", "sector_label", "finding_markdown", "PROTECTED", "PROTECTED_NOTE"]

_SECTOR_LABELS = {
    "consumers_families": "Consumers and families", "health_systems": "Health systems",
    "community_based_orgs": "Community-based organizations", "public_health": "Public health",
    "social_services": "Social services", "behavioral_health": "Behavioral health",
    "payers": "Payers", "educators": "Educators", "first_responders": "First responders",
    "faith_based": "Faith-based organizations", "other": "Other",
}


def sector_label(sector: str) -> str:
    """A sector id as readers see it.

    >>> sector_label("behavioral_health"), sector_label("housing_authority")
    ('Behavioral health', 'Housing authority')
    """
    if sector in _SECTOR_LABELS:
        return _SECTOR_LABELS[sector]
    text = str(sector).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def finding_markdown(row: object, *, bold: bool = True) -> str:
    """A finding (a row of :func:`evalkit.findings.build_findings`) as Markdown:
    the headline in bold, then the sentence.

    >>> import pandas as pd
    >>> finding_markdown(pd.Series({"headline": "Scores fell.", "sentence": "From 3 to 2."}))
    '**Scores fell.** From 3 to 2.'
    """
    head, text = row["headline"], row["sentence"]  # type: ignore[index]
    if not bold:
        return str(text)
    return f"**{head}** {text}"

SUPPRESSED = "—"
_TABLE_IDS = itertools.count(1)


def suppress_small(data: pd.DataFrame, *, count_columns: Sequence[str], threshold: int,
                   value_columns: Sequence[str] | None = None,
                   complementary: Sequence[str] | None = None,
                   labels: Sequence[str] | None = None,
                   status: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Hide counts below ``threshold`` (shown as ``<threshold``) and the values they carry.

    A row with any count column below the threshold keeps its labels but shows ``<11`` in
    the count and a dash in every value column (default: every other numeric column).
    Counts of zero are not sensitive and stay visible.

    ``complementary`` names the columns that define groups of rows adding up to a total
    published elsewhere (e.g. the groups of one demographic breakdown). Within such a group,
    if exactly one row is suppressed, the next smallest non-zero row is suppressed too, so
    the hidden count cannot be recovered by subtraction.

    >>> df = pd.DataFrame({"var": ["age"] * 3, "n": [5, 40, 60], "mean": [3.1, 3.4, 3.6]})
    >>> suppress_small(df, count_columns=["n"], threshold=11, complementary=["var"])["n"].tolist()
    ['<11', '—†', 60]

    ``labels`` names the columns that say what a row is about (kept as they are); when given,
    every other column is a value derived from the row's counts and is hidden with them
    (means, changes, intervals, effect sizes, p-values, percentages, even as text).

    ``status`` gives, per count column, the release-wide decision of
    :func:`evalkit.reporting.plan_suppression` for each row: ``"small"`` shows
    ``<threshold``, ``"protect"`` shows :data:`PROTECTED` (hidden only so that another
    cell cannot be recovered), ``"show"`` leaves the count to the threshold test.

    >>> df = pd.DataFrame({"site": ["A", "B"], "n": [25, 30], "Change": ["0.2 [0.1, 0.3]"] * 2})
    >>> suppress_small(df, count_columns=["n"], threshold=11, labels=["site"],
    ...                status={"n": ["show", "protect"]}).values.tolist()
    [['A', 25, '0.2 [0.1, 0.3]'], ['B', '—†', '—']]

    Returns
    -------
    pandas.DataFrame
        A copy with object columns, ready to display (not to compute with).
    """
    out = data.copy().astype("object")
    if value_columns is None:
        if labels is not None:
            value_columns = [c for c in data.columns
                             if c not in count_columns and c not in labels]
        else:
            value_columns = [c for c in data.columns if c not in count_columns
                             and pd.api.types.is_numeric_dtype(data[c])]
    small = pd.Series(False, index=data.index)
    for c in count_columns:
        n = pd.to_numeric(data[c], errors="coerce")
        hit = (n > 0) & (n < threshold)
        given = list((status or {}).get(c, ())) or ["show"] * len(data)
        if len(given) != len(data):
            raise ValueError(f"status[{c!r}]: expected {len(data)} rows, got {len(given)}")
        said = pd.Series(given, index=data.index)
        hit |= said == "small"
        protect = (said == "protect") & ~hit
        small |= hit | protect
        out.loc[hit, c] = f"<{threshold}"
        out.loc[protect, c] = PROTECTED
    if complementary and count_columns:
        n = pd.to_numeric(data[count_columns[0]], errors="coerce")
        for _, idx in data.groupby(list(complementary), dropna=False).groups.items():
            hidden = small.loc[idx]
            if int(hidden.sum()) == 1:
                candidates = n.loc[idx][~hidden & (n.loc[idx] > 0)]
                if len(candidates):
                    extra = candidates.idxmin()
                    small.loc[extra] = True
                    for c in count_columns:
                        out.loc[extra, c] = PROTECTED  # hidden, but not small: no "<"
    for c in value_columns:
        out.loc[small, c] = SUPPRESSED
    return out


def format_p(p: float | None) -> str:
    """A p-value as readers expect it: ``<0.001``, else three decimals.

    >>> format_p(0.00004), format_p(0.0432), format_p(float("nan"))
    ('<0.001', '0.043', '—')
    """
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return SUPPRESSED
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def format_number(x: float | None, digits: int = 2) -> str:
    """A number with fixed decimals; missing as a dash.

    >>> format_number(0.456), format_number(None)
    ('0.46', '—')
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return SUPPRESSED
    if isinstance(x, str):
        return x
    return f"{x:.{digits}f}"


def format_ci(low: float | None, high: float | None, digits: int = 2) -> str:
    """A confidence interval as ``[low, high]``.

    >>> format_ci(0.1234, 0.5)
    '[0.12, 0.50]'
    """
    if low is None or high is None or any(
            isinstance(v, float) and math.isnan(v) for v in (low, high)):
        return SUPPRESSED
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def html_table(data: pd.DataFrame, *, caption: str | None = None) -> str:
    """A plain, accessible HTML table (header cells with scope, optional caption).

    >>> print(html_table(pd.DataFrame({"a": [1]}), caption="Toy"))  # doctest: +ELLIPSIS
    <table class="evalkit-table">
    <caption>Toy</caption>
    ...
    """
    head = "".join(f'<th scope="col">{html.escape(str(c))}</th>' for c in data.columns)
    rows = []
    for rec in data.itertuples(index=False):
        cells = "".join(f"<td>{html.escape(_cell(v))}</td>" for v in rec)
        rows.append(f"<tr>{cells}</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>\n" if caption else ""
    return (f'<table class="evalkit-table">\n{cap}<thead><tr>{head}</tr></thead>\n'
            f"<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>")


def _cell(v: object) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return SUPPRESSED
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def markdown_table(data: pd.DataFrame, *, caption: str | None = None,
                   counts: Sequence[str] | None = None) -> str:
    """A pipe table (for ``output: asis`` cells), with an optional Pandoc caption.

    ``counts`` declares the columns that count people, whatever their header. The table is
    then wrapped in a fenced div whose identifier and attribute carry the columns' positions
    (``evk<table>_c<i>_<j>``): the HTML keeps it as ``<div class="evalkit-counts"
    data-counts="i,j">`` around the table and Word as a bookmark of that name before it, and
    the publish scan (:mod:`evalkit.reporting._scan`) checks those columns for small
    counts. ``counts=[]`` declares that the table counts no one. A table showing
    :data:`PROTECTED` gets :data:`PROTECTED_NOTE` under it.

    >>> print(markdown_table(pd.DataFrame({"site": ["A"], "n": [25]})), end="")
    | site | n  |
    |:-----|---:|
    | A    | 25 |
    """
    cols = [str(c) for c in data.columns]
    right = [pd.api.types.is_numeric_dtype(data[c]) for c in data.columns]
    body = [[_cell(v).replace("|", "\\|") for v in rec] for rec in data.itertuples(index=False)]
    widths = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(cols)]
    head = "| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)) + " |"
    rule = "|" + "|".join((("-" * (w + 1) + ":") if r else (":" + "-" * (w + 1)))
                          for w, r in zip(widths, right, strict=True)) + "|"
    rows = ["| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |"
            for r in body]
    out = "\n".join([head, rule, *rows])
    if caption:
        out += f"\n\n: {caption}"
    out += "\n"
    if any(PROTECTED in r for r in body):
        out += f"\n{PROTECTED_NOTE}\n"
    if counts is None:
        return out
    missing = [c for c in counts if c not in list(data.columns)]
    if missing:
        raise ValueError(f"counts: {missing} are not columns of the table; columns are "
                         f"{cols}")
    where = [list(data.columns).index(c) for c in counts]
    name = f"evk{next(_TABLE_IDS)}_c" + "_".join(str(i) for i in where)
    attr = ",".join(str(i) for i in where)
    return f'\n::: {{#{name} .evalkit-counts data-counts="{attr}"}}\n{out}:::\n'
