"""``evalkit ordinal``: the cumulative-link (mixed) model of one Likert item on a plain CSV.

A thin command over :func:`evalkit.models.ordinal_model`; files are read as by
``evalkit model`` (:func:`evalkit.cli._stats.read_csv`). Nothing heavy is imported at module
level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from evalkit.cli._common import _echo_json, _errors, _p, console
from evalkit.cli._stats import LabelsOpt, SheetOpt, _fmt, _split, read_csv
from evalkit.errors import AnalysisError

__all__ = ["register", "ordinal"]


def ordinal(
    data: Annotated[Path, typer.Argument(
        metavar="FILE", help="CSV or XLSX file, one row per participant and wave.")],
    outcome: Annotated[str, typer.Option(metavar="COLUMN",
                                         help="Answer column (ordered codes, e.g. 1-5).")],
    time: Annotated[str, typer.Option(metavar="COLUMN", help="Wave column.")],
    time_order: Annotated[str, typer.Option(metavar="LEVELS",
                                            help="Waves in time order, comma-separated; "
                                            "the first is the reference.")],
    group: Annotated[str, typer.Option(metavar="COLUMN", help="Modality column.")],
    cluster: Annotated[str, typer.Option(metavar="COLUMN", help="Site column.")],
    subject: Annotated[str, typer.Option(metavar="COLUMN", help="Participant column.")],
    link: Annotated[str, typer.Option(metavar="LINK", help="logit or probit.")] = "logit",
    categories: Annotated[str | None, typer.Option(
        metavar="CODES", help="Answer categories in order, comma-separated (default: the "
        "sorted numeric codes found).")] = None,
    random_effects: Annotated[bool, typer.Option(
        "--random-effects/--no-random-effects",
        help="Random intercepts for sites and participants (clmm, default) or none (clm, "
        "with the proportional-odds check).")] = True,
    sheet: SheetOpt = None,
    labels: LabelsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Ordinal (cumulative-link mixed) model of change by modality, as R's ordinal::clmm.

    Example: evalkit ordinal answers.csv --outcome q3 --time wave
    --time-order baseline,endline --group modality --cluster site --subject participant
    --json
    """
    from evalkit.models import ordinal_model, ordinal_to_json

    with _errors(data):
        if link not in ("logit", "probit"):
            raise AnalysisError(f"--link: expected logit or probit; got {link!r}")
        frame = read_csv(data, sheet=sheet, labels=labels)
        res = ordinal_model(
            frame, outcome=outcome, time=time, time_order=_split(time_order), group=group,
            cluster=cluster if random_effects else None,
            subject=subject if random_effects else None,
            link=link,  # type: ignore[arg-type]
            categories=_split(categories) if categories else None)
    if as_json:
        _echo_json(ordinal_to_json(res))
        return
    console.print(res.fit.message, markup=False)
    console.print(f"log-likelihood {res.fit.loglik:.4f}, AIC {res.fit.aic:.2f}, "
                  f"max |gradient| {res.fit.max_gradient:.1e}, condition number of the "
                  f"Hessian {res.fit.condition_number:.1e}", markup=False)
    for title, df in (("Thresholds", res.thresholds), ("Fixed effects", res.fixed_effects),
                      ("Random effects", res.random_effects),
                      ("Estimated marginal means (latent scale)", res.emmeans)):
        if df.empty:
            continue
        table = Table(*[str(c) for c in df.columns], title=title)
        for r in df.itertuples(index=False):
            table.add_row(*[_p(v) if c == "p" else _fmt(v, 4)
                            for v, c in zip(r, df.columns, strict=True)])
        console.print(table)
    table = Table("modalities", "change", "difference [95% CI]", "z", "p", "p (Holm)",
                  title="Difference in change on the latent scale: (to - from under a) - "
                        "(to - from under b)")
    for r in res.change_contrasts.to_dict("records"):
        table.add_row(f"{r['a']} vs {r['b']}", f"{r['from']} to {r['to']}",
                      f"{_fmt(r['estimate'])} [{_fmt(r['lower'])}, {_fmt(r['upper'])}]",
                      _fmt(r["z"], 2), _p(r["p"]), _p(r["p_adjusted"]))
    console.print(table)
    probs = res.probabilities.pivot_table(index=[group, time], columns="category",
                                          values="probability", sort=False)
    table = Table(group, time, *[str(c) for c in probs.columns],
                  title="Predicted probability of each answer (random effects at 0)")
    for (g, t), row in probs.iterrows():
        table.add_row(str(g), str(t), *[f"{v:.3f}" for v in row])
    console.print(table)
    if not res.nominal_test.empty:
        table = Table("term", "df", "LRT", "p", title="Proportional-odds check "
                      "(nominal_test: may the term's effect differ between thresholds?)")
        for r in res.nominal_test.to_dict("records"):
            table.add_row(str(r["term"]), str(int(r["df"])), _fmt(r["lrt"]), _p(r["p"]))
        console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``ordinal`` to ``app``."""
    app.command("ordinal")(ordinal)
