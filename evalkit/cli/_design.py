"""``evalkit design power``: how many sites per approach the next collaborative needs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from evalkit.cli._common import _errors, _progress, console
from evalkit.errors import AnalysisError

design_app = typer.Typer(help="Design the next collaborative: power by simulation.",
                         no_args_is_help=True)


def _int_values(option: str, text: str) -> list[int]:
    """``3..12`` (a range, both ends included) or ``20,40`` (a list)."""
    text = text.strip()
    try:
        if ".." in text:
            lo, hi = (int(x) for x in text.split("..", 1))
            if hi < lo:
                raise ValueError
            return list(range(lo, hi + 1))
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise AnalysisError(f"{option}: expected a range such as 3..12 or a list such as "
                            f"20,40; received {text!r}") from None


def _floats(option: str, text: str) -> float | list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise AnalysisError(f"{option}: expected a number or comma-separated numbers; "
                            f"received {text!r}") from None
    if not values:
        raise AnalysisError(f"{option}: expected a number; received {text!r}")
    return values[0] if len(values) == 1 else values


def power_command(
    project: Annotated[Path | None, typer.Option(
        "--project", "-p", metavar="DIR", help="Project folder (or its results/): simulate "
        "from its modality model's variance components and changes.")] = None,
    outcome: Annotated[str | None, typer.Option(
        metavar="OUTCOME", help="The modelled outcome (default: the first).")] = None,
    sites_per_modality: Annotated[str, typer.Option(
        metavar="RANGE", help="Sites per modality: a range 3..12 or a list 4,6,8.")] = "2..12",
    participants: Annotated[str | None, typer.Option(
        metavar="LIST", help="Participants per site, e.g. 20,40 (default: the project's "
        "average, or 20).")] = None,
    icc_site: Annotated[float | None, typer.Option(
        metavar="ICC", help="Without a project: share of the variance between sites.")] = None,
    icc_participant: Annotated[float | None, typer.Option(
        metavar="ICC", help="Without a project: correlation of two waves of a participant "
        "(site + participant variance share).")] = None,
    effect: Annotated[float | None, typer.Option(
        metavar="SD", help="Without a project: difference in change between the first "
        "modality and the others, first to last wave, in standard deviations.")] = None,
    waves: Annotated[int, typer.Option(metavar="N", help="Without a project: waves.")] = 2,
    modalities: Annotated[int, typer.Option(
        metavar="N", help="Without a project: modalities.")] = 2,
    attrition: Annotated[str | None, typer.Option(
        metavar="SHARE", help="Share of the previous wave's participants missing at each "
        "later wave: one number or one per wave (default: the project's, or 0).")] = None,
    site_change_sd: Annotated[float, typer.Option(
        metavar="SD", help="SD of site x wave deviations (sites differing in change), not "
        "estimated by the model; 0 by default.")] = 0.0,
    simulations: Annotated[int, typer.Option(metavar="N", help="Simulated collaboratives "
                                             "per design.")] = 500,
    alpha: Annotated[float, typer.Option(metavar="P", help="Significance level.")] = 0.05,
    assignment: Annotated[str, typer.Option(metavar="HOW", help="lot or chosen.")] = "lot",
    kenward_roger: Annotated[bool, typer.Option(
        "--kenward-roger/--no-kenward-roger", help="Also the Kenward-Roger tests.")] = True,
    permutation_mdd: Annotated[bool, typer.Option(
        "--permutation-mdd", help="Also the randomization test's minimum detectable "
        "difference (slower).")] = False,
    all_changes: Annotated[bool, typer.Option(
        "--all-changes", help="Pairwise randomization tests of every change from the first "
        "wave, not only of the change to the last.")] = False,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed.")] = 2026,
    workers: Annotated[int, typer.Option(metavar="N", help="Processes.")] = 2,
    figure: Annotated[Path | None, typer.Option(
        metavar="FILE", help="Save the power curves (PNG, SVG or PDF).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Power of the modality comparison by number of sites, and the smallest detectable
    difference, simulated from a project's estimates or from stated ICCs.

    Example: evalkit design power -p my-evaluation --sites-per-modality 3..12
    --participants 20,40 --figure power.png
    """
    import json

    from rich.table import Table

    from evalkit.design import (
        default_contrast,
        parameters_from_icc,
        parameters_from_results,
        power,
        power_figure,
        to_json,
    )

    with _errors():
        if project is not None:
            if any(v is not None for v in (icc_site, icc_participant, effect)):
                raise AnalysisError("--icc-site, --icc-participant and --effect state the "
                                    "parameters without a project; do not combine them with "
                                    "--project")
            params = parameters_from_results(project, outcome=outcome,
                                             site_change_sd=site_change_sd)
            if attrition is not None:
                import dataclasses

                value = _floats("--attrition", attrition)
                shares = ([value] * (len(params.waves) - 1) if isinstance(value, float)
                          else value)
                params = dataclasses.replace(params, attrition=tuple(shares))
        else:
            missing = [name for name, v in (("--icc-site", icc_site),
                                            ("--icc-participant", icc_participant),
                                            ("--effect", effect)) if v is None]
            if missing:
                raise AnalysisError(
                    f"give --project, or state the parameters: missing {', '.join(missing)}")
            params = parameters_from_icc(
                icc_site=float(icc_site or 0.0), icc_participant=float(icc_participant or 0.0),
                effect=float(effect or 0.0),
                waves=waves, modalities=modalities,
                attrition=_floats("--attrition", attrition) if attrition else 0.0,
                site_change_sd=site_change_sd)
        sites = _int_values("--sites-per-modality", sites_per_modality)
        if participants is not None:
            parts = _int_values("--participants", participants)
        else:
            parts = [max(2, round(params.participants)) if params.participants else 20]
        if assignment not in ("lot", "chosen"):
            raise AnalysisError(f"--assignment: expected lot or chosen; received "
                                f"{assignment!r}")
        if as_json:
            res = power(params, sites_per_modality=sites, participants=parts,
                        n_simulations=simulations, alpha=alpha,
                        assignment=assignment,  # type: ignore[arg-type]
                        kenward_roger=kenward_roger, permutation_mdd=permutation_mdd,
                        permutation_changes="all" if all_changes else "last",
                        seed=seed, workers=workers)
        else:
            with _progress() as bar:
                task = bar.add_task("Simulating collaboratives", total=None)

                def tick(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                res = power(params, sites_per_modality=sites, participants=parts,
                            n_simulations=simulations, alpha=alpha,
                            assignment=assignment,  # type: ignore[arg-type]
                            kenward_roger=kenward_roger, permutation_mdd=permutation_mdd,
                            permutation_changes="all" if all_changes else "last",
                            seed=seed, workers=workers, progress=tick)
        if figure is not None:
            power_figure(res).savefig(figure, dpi=150)
    if as_json:
        typer.echo(json.dumps(to_json(res), indent=2, default=_json_default))
        return
    console.print(f"Simulated from {params.source}; {simulations} collaboratives per design, "
                  f"alpha {alpha:g}.", markup=False, soft_wrap=True)
    shown = default_contrast(res)
    t = res.power[res.power["contrast"] == shown]
    table = Table("sites", "per site", "method", "power (MC SE)", "smallest p",
                  "min. detectable (MC SE)",
                  title=f"{shown} (difference simulated: {t['difference'].iloc[0]:.3g})")
    for r in t.to_dict("records"):
        table.add_row(str(r["sites_per_modality"]), str(r["participants"]), r["method"],
                      f"{r['power']:.2f} ({r['mc_se']:.3f})", _num(r["min_p"], 3),
                      _mdd(r["mdd"], r["mdd_mc_se"]))
    console.print(table)
    for method in ("permutation", "satterthwaite"):
        sm = res.smallest(method=method)
        sm = sm[sm["contrast"] == shown]
        for r in sm.to_dict("records"):
            if r["sites_per_modality"] is None:
                line = (f"{method}: no simulated design reaches "
                        f"{res.settings['target_power']:.0%} power with {r['participants']} "
                        "per site")
            else:
                line = (f"{method}: {int(r['sites_per_modality'])} sites per modality with "
                        f"{r['participants']} per site reach {r['power']:.0%} power "
                        f"(MC SE {r['mc_se']:.3f})")
            console.print(line, markup=False, soft_wrap=True)
    for note in res.notes:
        console.print(note, markup=False, soft_wrap=True)
    if figure is not None:
        console.print(f"figure: {figure}", markup=False, soft_wrap=True)


def _num(value: Any, digits: int) -> str:
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}g}"


def _mdd(value: Any, se: Any) -> str:
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "not reachable"
    return f"{value:.3g}" + ("" if se is None or math.isnan(se) else f" ({se:.2g})")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def register(app: typer.Typer) -> None:
    """Add ``design power`` to ``app``."""
    design_app.command("power")(power_command)
    app.add_typer(design_app, name="design")
