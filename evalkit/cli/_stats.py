"""Statistics on a plain CSV, without a project: ``prepost``, ``reliability``, ``model``.

Thin commands over :mod:`evalkit.prepost`, :mod:`evalkit.reliability` and
:mod:`evalkit.models`; every number comes from those modules. Files are read by
:func:`evalkit.tabular.read_tabular` (the reader site submissions use): encoding and
delimiter detected, ``.xlsx`` with ``--sheet``, label exports with ``--labels``, rows
numbered as in the file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from evalkit.cli._common import _errors, _p, _p_clause, console
from evalkit.errors import AnalysisError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["register", "read_csv"]


def read_csv(path: Path, *, sheet: str | None = None, labels: str | None = None,
             numeric: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """Read what an evaluator exports, with a one-line error naming the file on failure.

    CSV in UTF-8 (with or without BOM), Windows-1252 or UTF-16, comma, semicolon or tab
    separated, or an XLSX sheet (``sheet``); label exports (REDCap "labels") mapped to codes
    by ``labels`` (``"Strongly disagree=1,Disagree=2"``). ``numeric`` columns must hold
    numbers. The index is the file's row number (header = 1), so errors cite the file's rows.
    """
    from evalkit.tabular import parse_labels, read_tabular, typed_frame

    mapping = parse_labels(labels)
    table = read_tabular(path, sheet=sheet)
    return typed_frame(table, numeric=[c for c in numeric if c in table.frame.columns],
                       labels=mapping)


SheetOpt = Annotated[str | None, typer.Option(
    metavar="SHEET", help="Sheet of an .xlsx file to read (needed when several sheets hold "
    "data).")]
LabelsOpt = Annotated[str | None, typer.Option(
    metavar="LABEL=CODE,...",
    help="Codes of a label export, e.g. 'Strongly disagree=1,Disagree=2,Neutral=3,Agree=4,"
         "Strongly agree=5' (case and spaces ignored).")]


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _echo_json(obj: Any) -> None:
    typer.echo(json.dumps(_clean(obj), indent=2))


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def prepost(
    data: Annotated[Path, typer.Argument(
        metavar="FILE", help="CSV or XLSX file, one row per subject and wave.")],
    id: Annotated[str, typer.Option("--id", metavar="COLUMN",
                                    help="Column identifying the subject.")],
    time: Annotated[str, typer.Option(metavar="COLUMN", help="Column holding the wave.")],
    pre: Annotated[str, typer.Option(metavar="LEVEL", help="Level of --time that is 'before'.")],
    post: Annotated[str, typer.Option(metavar="LEVEL", help="Level of --time that is 'after'.")],
    outcome: Annotated[str, typer.Option(metavar="COLUMN", help="Numeric column to compare.")],
    group: Annotated[str | None, typer.Option(metavar="COLUMN",
                                             help="Compare within each level of this "
                                             "column; ids are matched within it, so P01 at "
                                             "two sites is two people.")] = None,
    sheet: SheetOpt = None,
    labels: LabelsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Matched pre/post comparison of a CSV column (t-test, Wilcoxon, effect sizes).

    Example: evalkit prepost scores.csv --id participant --time wave --pre baseline
    --post endline --outcome score --json
    """
    from evalkit.prepost import compare, to_json

    with _errors(data):
        frame = read_csv(data, sheet=sheet, labels=labels, numeric=[outcome])
        res = compare(frame, outcome=outcome, subject=id, time=time, pre=pre, post=post,
                      group=group)
    if as_json:
        _echo_json(to_json(res))
        return
    for r in res.summary.to_dict("records"):
        title = f"{outcome}: {post} - {pre}, matched pairs"
        if group:
            title += f" ({group} = {r['group']})"
        table = Table("statistic", "value", title=title, title_justify="left")
        for label, value in (
                ("pairs", str(r["n_pairs"])),
                (f"mean at {pre}", _fmt(r["mean_pre"])),
                (f"mean at {post}", _fmt(r["mean_post"])),
                ("difference [95% CI]", f"{_fmt(r['mean_diff'])} [{_fmt(r['ci_low'])}, "
                                        f"{_fmt(r['ci_high'])}]"),
                ("paired t (df), p", f"{_fmt(r['t'])} ({_fmt(r['df'], 0)}), "
                                     f"{_p_clause(r['p'])}"),
                ("Wilcoxon V, p", f"{_fmt(r['V'], 1)}, {_p_clause(r['p_wilcoxon'])}"),
                ("Cohen's d_z [95% CI]", f"{_fmt(r['cohen_dz'])} "
                 f"[{_fmt(r['cohen_dz_ci_low'])}, {_fmt(r['cohen_dz_ci_high'])}]"),
                ("Hedges' g_z [95% CI]", f"{_fmt(r['hedges_gz'])} "
                 f"[{_fmt(r['hedges_gz_ci_low'])}, {_fmt(r['hedges_gz_ci_high'])}]"),
                ("rank-biserial [95% CI]", f"{_fmt(r['rank_biserial'])} "
                 f"[{_fmt(r['rank_biserial_ci_low'])}, "
                 f"{_fmt(r['rank_biserial_ci_high'])}]")):
            table.add_row(label, value)
        console.print(table)
    if len(res.excluded):
        reasons = res.excluded["reason"].value_counts()
        console.print("Excluded: " + "; ".join(f"{n} {why}" for why, n in reasons.items()),
                      markup=False)


def reliability(
    data: Annotated[Path, typer.Argument(
        metavar="FILE", help="CSV or XLSX file, one row per respondent.")],
    items: Annotated[str, typer.Option(metavar="COLUMNS", help="Comma-separated item columns.")],
    reverse: Annotated[str | None, typer.Option(metavar="COLUMNS", help="Comma-separated items to "
                                                "reverse-code.")] = None,
    scale_min: Annotated[float | None, typer.Option(metavar="CODE",
                                                    help="Lowest response code.")] = None,
    scale_max: Annotated[float | None, typer.Option(metavar="CODE",
                                                    help="Highest response code.")] = None,
    missing: Annotated[str, typer.Option(metavar="METHOD",
                                         help="pairwise (default, as psych::alpha and "
                                         "the Python API) or listwise.")] = "pairwise",
    sheet: SheetOpt = None,
    labels: LabelsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Cronbach's alpha (raw, standardized, CI), omega and item-total statistics.

    Example: evalkit reliability answers.csv --items q1,q2,q3,q4 --reverse q3
    --scale-min 1 --scale-max 5
    """
    from evalkit.reliability import cronbach_alpha

    with _errors(data):
        if missing not in ("listwise", "pairwise"):
            raise AnalysisError(f"--missing: expected listwise or pairwise; got {missing!r}")
        frame = read_csv(data, sheet=sheet, labels=labels, numeric=_split(items))
        res = cronbach_alpha(frame, items=_split(items), reverse=_split(reverse),
                             scale_min=scale_min, scale_max=scale_max,
                             missing=missing)  # type: ignore[arg-type]
    out = {
        "n": res.n, "n_items": res.n_items, "missing": res.missing,
        "n_rows": res.n_rows, "n_empty": res.n_empty, "n_dropped": res.n_dropped,
        "reversed": list(res.reversed), "raw_alpha": res.raw_alpha,
        "std_alpha": res.std_alpha, "average_r": res.average_r,
        "alpha_ci": {"method": "Feldt", "ci_low": res.feldt_ci_low,
                     "ci_high": res.feldt_ci_high},
        "alpha_ci_duhachek": {"ci_low": res.duhachek_ci_low,
                              "ci_high": res.duhachek_ci_high},
        "omega_total": res.omega_total,
        "alpha_if_dropped": dict(res.alpha_if_dropped),
        "item_stats": res.item_stats.to_dict("records"),
        "warnings": list(res.warnings),
    }
    if as_json:
        _echo_json(out)
        return
    if res.missing == "listwise":
        how = (f"listwise: {res.n_dropped} of {res.n_rows} rows dropped for a missing "
               "answer")
    else:
        how = "pairwise" + (f"; {res.n_empty} respondent(s) who answered no item count in n, "
                            "as in psych" if res.n_empty else "")
    console.print(f"n = {res.n} ({how}), {res.n_items} items", markup=False, soft_wrap=True)
    console.print(f"Cronbach's alpha {_fmt(res.raw_alpha)} (95% CI Feldt "
                  f"{_fmt(res.feldt_ci_low)} to {_fmt(res.feldt_ci_high)}), standardized "
                  f"{_fmt(res.std_alpha)}, average inter-item r {_fmt(res.average_r)}, "
                  f"omega total {_fmt(res.omega_total)}", markup=False)
    table = Table("item", *[c for c in res.item_stats.columns if c != "item"],
                  title="Item-total statistics")
    for r in res.item_stats.to_dict("records"):
        table.add_row(str(r.get("item")), *[_fmt(v) for k, v in r.items() if k != "item"])
    console.print(table)
    for warning in res.warnings:
        console.print(f"Warning: {warning}", markup=False, soft_wrap=True)


def model(
    data: Annotated[Path, typer.Argument(
        metavar="FILE", help="CSV or XLSX file, one row per subject and wave.")],
    outcome: Annotated[str, typer.Option(metavar="COLUMN", help="Numeric outcome column.")],
    time: Annotated[str, typer.Option(metavar="COLUMN", help="Wave column.")],
    time_order: Annotated[str, typer.Option(metavar="LEVELS",
                                            help="Waves in time order, comma-separated; "
                                            "the first is the reference.")],
    group: Annotated[str, typer.Option(metavar="COLUMN", help="Modality column.")],
    cluster: Annotated[str, typer.Option(metavar="COLUMN", help="Site column.")],
    subject: Annotated[str, typer.Option(metavar="COLUMN", help="Participant column.")],
    covariate: Annotated[list[str] | None, typer.Option(metavar="COLUMN", help="Covariate column "
                                                       "(repeatable).")] = None,
    reml: Annotated[bool, typer.Option("--reml/--ml", help="REML (default) or ML.")] = True,
    df_method: Annotated[str, typer.Option(
        metavar="METHOD", help="Degrees of freedom: satterthwaite or kenward-roger.")
                         ] = "satterthwaite",
    permutations: Annotated[int, typer.Option(help="Monte Carlo relabelings when exact "
                                              "enumeration is too large.")] = 9999,
    exact_limit: Annotated[int, typer.Option(
        min=0, metavar="N", help="Enumerate every relabeling of modalities to sites when "
        "there are at most N; above that draw --permutations random ones.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed of the permutation test.")] = 2026,
    sheet: SheetOpt = None,
    labels: LabelsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Mixed model of change by modality: emmeans, difference-in-change, permutation.

    Example: evalkit model scores.csv --outcome score --time wave
    --time-order baseline,midpoint,endline --group modality --cluster site
    --subject participant --json
    """
    from evalkit.models import modality_model, to_json

    with _errors(data):
        if df_method not in ("satterthwaite", "kenward-roger"):
            raise AnalysisError(f"--df-method: expected satterthwaite or kenward-roger; "
                                f"got {df_method!r}")
        frame = read_csv(data, sheet=sheet, labels=labels,
                         numeric=[outcome, *(covariate or ())])
        res = modality_model(frame, outcome=outcome, time=time,
                             time_order=_split(time_order), group=group, cluster=cluster,
                             subject=subject, covariates=tuple(covariate or ()),
                             reml=reml, df_method=df_method,  # type: ignore[arg-type]
                             permutations=permutations, max_exact=exact_limit, seed=seed)
    if as_json:
        _echo_json(to_json(res))
        return
    console.print(res.fit.message, markup=False)
    for title, df in (("Fixed effects", res.fixed_effects),
                      ("Estimated marginal means", res.emmeans)):
        table = Table(*[str(c) for c in df.columns], title=title)
        is_p = [str(c) == "p" or str(c).startswith("p_") for c in df.columns]
        for column, p_col in zip(table.columns, is_p, strict=True):
            column.no_wrap = p_col  # "< 0.001" stays on one line
        for r in df.itertuples(index=False):
            table.add_row(*[_p(v) if p_col else _fmt(v, 4) for v, p_col in zip(r, is_p,
                                                                                 strict=True)])
        console.print(table)
    table = Table("modalities", "change", "difference [95% CI]", "df", "p", "p (Holm)",
                  title="Difference in change: (to - from under a) - (to - from under b)")
    table.columns[4].no_wrap = table.columns[5].no_wrap = True
    for r in res.change_contrasts.to_dict("records"):
        table.add_row(f"{r['a']} vs {r['b']}", f"{r['from']} to {r['to']}",
                      f"{_fmt(r['estimate'])} [{_fmt(r['lower'])}, {_fmt(r['upper'])}]",
                      _fmt(r["df"], 1), _p(r["p"]), _p(r["p_adjusted"]))
    console.print(table)
    perm = res.permutation.iloc[0]
    console.print(f"Site-level permutation test: {_p_clause(perm['p'])} "
                  f"({int(perm['n_permutations'])} relabelings, "
                  f"{'exact' if perm['exact'] else 'Monte Carlo'}; smallest possible p "
                  f"{float(perm['min_p']):.2g})", markup=False)
    for note in res.notes:
        console.print(f"Note: {note}", markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``prepost``, ``reliability`` and ``model`` commands to ``app``."""
    for command in (prepost, reliability, model):
        app.command()(command)
