"""``evalkit surveys new|form``, ``participants expect`` and ``export``.

Writing an instrument of one's own (a commented starter that validates), the Excel form a
site team fills in, the number of people expected to answer (for response rates of
file-submitted surveys) and analysis-ready exports. A thin layer over
:mod:`evalkit.starter`, :mod:`evalkit.forms`, :mod:`evalkit.rosters` and
:mod:`evalkit.export`; nothing heavy is imported until a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evalkit.cli._common import ProjectOpt, _errors, console

__all__ = ["register"]


def _root(project: Path) -> Path:
    return project.parent if project.suffix in (".yml", ".yaml") else project


def surveys_new(
    instrument_id: Annotated[str, typer.Argument(
        help="The new instrument's id: letters, digits and _, starting with a "
        "letter (e.g. staff_wellbeing).")],
    title: Annotated[str, typer.Option(metavar="TEXT", help="The instrument's title.")],
    scale: Annotated[str, typer.Option(
        metavar="SCALE", help="Response scale of the Likert items: agree5, agree4, "
        "frequency5, satisfaction5, quality5 or level4.")] = "agree5",
    respondent: Annotated[str, typer.Option(
        metavar="WHO", help="Who answers: participant, organization or community.")
    ] = "participant",
    out: Annotated[Path | None, typer.Option(
        metavar="FILE", help="Where to write it (default: surveys/INSTRUMENT_ID.yaml in the "
        "project).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")
                     ] = False,
    project: ProjectOpt = Path("."),
) -> None:
    """Write a commented starter instrument that validates, to edit into your own.

    It holds one item of each kind (Likert statements, one reverse-keyed; single choice;
    a number; free text; a personal item) and one scale, each with a comment saying what
    its keys do (docs/instruments.md is the full guide). Its first line names the JSON
    Schema, surveys/instrument.schema.json (written too if the project lacks it), so
    editors with the YAML language server complete and check keys as you type.

    Example: evalkit surveys new staff_wellbeing --title "Staff wellbeing" --scale agree5
    """
    import os

    from evalkit.instruments import SCHEMA_FILE, instrument_schema_text
    from evalkit.starter import write_starter

    root = _root(project)
    target = out if out is not None else root / "surveys" / f"{instrument_id}.yaml"
    schema = root / "surveys" / SCHEMA_FILE
    with _errors():
        relative = Path(os.path.relpath(schema, target.parent)).as_posix()
        inst = write_starter(target, instrument_id, title=title, scale=scale,
                             respondent=respondent, schema=relative, force=force)
        wrote_schema = not schema.exists()
        if wrote_schema:
            schema.parent.mkdir(parents=True, exist_ok=True)
            schema.write_text(instrument_schema_text(), encoding="utf-8")
    try:
        shown = target.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        shown = str(target)
    console.print(f"Wrote {target}: {len(inst.items)} example items and scale "
                  f"{inst.scales[0].id!r}{' (and ' + str(schema) + ')' if wrote_schema else ''}.",
                  markup=False, soft_wrap=True)
    console.print(f"Next: edit it, check it with `evalkit surveys validate {shown}`, and list "
                  "it in evalkit.yml:", markup=False, soft_wrap=True)
    waves = ["baseline", "endline"]
    from evalkit.config import load_config
    from evalkit.errors import EvalkitError

    try:
        ids = load_config(project).wave_ids
        waves = [ids[0], ids[-1]]
    except EvalkitError:  # no project yet, or one that does not load: the usual waves
        pass
    console.print(f"  instruments:\n    {inst.id}: {{file: {shown}, waves: [{', '.join(waves)}]}}",
                  markup=False, soft_wrap=True)


def surveys_form(
    instrument: Annotated[str, typer.Argument(help="Instrument id, as in evalkit.yml.")],
    site: Annotated[str, typer.Option("--site", "-s", metavar="SITE",
                                      help="Site id, as in evalkit.yml.")],
    wave: Annotated[str, typer.Option("--wave", "-w", metavar="WAVE",
                                      help="Wave id, as in evalkit.yml.")],
    out: Annotated[Path | None, typer.Option(
        metavar="FILE", help="The .xlsx to write (default: INSTRUMENT_SITE_WAVE.xlsx).")
    ] = None,
    organizations: Annotated[Path | None, typer.Option(
        metavar="FILE", help="CSV of org_id,name: the columns of rating grids (default: the "
        "site's organizations in the store).")] = None,
    project: ProjectOpt = Path("."),
) -> None:
    """Write the Excel form a site team fills in and sends back for evalkit submit.

    One column per item with the header submit expects, beside response_id,
    participant_code, submitted_at and complete; drop-downs of each closed item's codes
    (labels on the Codes sheet and in the cell's input message), number ranges, date
    cells, and an Instructions sheet with the submit command. Personal items are left out
    (they are never stored). A filled form submits without edits.

    Example: evalkit surveys form partnership --site S01 --wave baseline --out s01.xlsx
    """
    from evalkit.cli._surveys import _check_site, _config, _instrument_for, _organizations
    from evalkit.forms import write_form

    target = out if out is not None else Path(f"{instrument}_{site}_{wave}.xlsx")
    with _errors():
        cfg = _config(project)
        inst = _instrument_for(cfg, instrument, wave)
        _check_site(cfg, site)
        orgs = (_organizations(cfg, site, organizations)
                if any(i.type == "rating_grid" for i in inst.items) else None)
        path = write_form(inst, target, site=site, wave=wave, organizations=orgs)
    console.print(f"Wrote {path}: the {inst.id} form for site {site}, wave {wave}. When it "
                  f"comes back filled in: evalkit submit {path.name} --site {site} --wave "
                  f"{wave} --instrument {inst.id}", markup=False, soft_wrap=True)


def participants_expect(
    n: Annotated[int, typer.Argument(help="How many people are expected to answer.")],
    site: Annotated[str, typer.Option("--site", "-s", metavar="SITE",
                                      help="Site id, as in evalkit.yml.")],
    wave: Annotated[str, typer.Option("--wave", "-w", metavar="WAVE",
                                      help="Wave id, as in evalkit.yml.")],
    instrument: Annotated[str, typer.Option("--instrument", "-i", metavar="INSTRUMENT",
                                            help="Instrument id, as in evalkit.yml.")],
    project: ProjectOpt = Path("."),
) -> None:
    """Record how many people are expected to answer, for response rates in evalkit status.

    For surveys that come back as site files (no LimeSurvey participant table to count).
    Kept in rosters.yml beside evalkit.yml, which overrides rosters: in evalkit.yml for the
    same site, wave and instrument (see docs/instruments.md); a roster's number is used in
    place of LimeSurvey's or the store's count.

    Example: evalkit participants expect 12 --site S01 --wave baseline -i partnership
    """
    from evalkit.config import load_config
    from evalkit.rosters import set_expected

    with _errors():
        cfg = load_config(project)
        done = set_expected(cfg, site=site, wave=wave, instrument=instrument, n=n)
    was = f" (was {done.previous})" if done.previous is not None and done.previous != n else ""
    over = (f"; overrides {done.in_config} in evalkit.yml" if done.in_config is not None
            and done.in_config != n else "")
    console.print(f"Expected {n} respondents to {instrument} at {site}, {wave}{was}: recorded "
                  f"in {done.path}{over}. evalkit status shows the response rate.",
                  markup=False, soft_wrap=True)


def export(
    out: Annotated[Path, typer.Option(metavar="DIR", help="Folder to write the files into "
                                      "(created if missing).")],
    fmt: Annotated[str, typer.Option(
        "--format", metavar="FORMAT", help="csv, parquet, stata (.dta) or spss (.sav).")
    ] = "csv",
    project: ProjectOpt = Path("."),
) -> None:
    """Export scored, analysis-ready tables with a codebook, for R, Stata, SPSS or Python.

    One file per instrument: a row per complete response (a participant at a wave) with
    response_id, respondent_id (a pseudonym), site, modality, wave, submitted_at, every
    scale score and every item as answered; codebook.csv and codebook.md describe each
    column. Stata and SPSS files carry variable and value labels. Personal items and free
    text are never exported. These are record-level data for analysts: the suppression
    rule of published reports does NOT apply, so do not publish them.

    Example: evalkit export --format stata --out exports/ -p my-evaluation
    """
    from evalkit.export import FORMATS, NOTICE, export_project

    with _errors():
        done = export_project(project, out, format=fmt)  # type: ignore[arg-type]
    kind = {"csv": "CSV", "parquet": "Parquet", "stata": "Stata", "spss": "SPSS"}.get(fmt, fmt)
    console.print(f"Exported {len(done.files)} table(s) to {out} ({kind} {FORMATS[fmt]}):",
                  markup=False, soft_wrap=True)
    for path in done.files:
        console.print(f"  {path.name}  {done.rows[path.stem]} rows", markup=False)
    console.print(f"  codebook: {', '.join(p.name for p in done.codebook)}", markup=False)
    if done.empty:
        console.print(f"Not exported (no complete responses yet): {', '.join(done.empty)}.",
                      markup=False, soft_wrap=True)
    console.print(f"Note: {NOTICE}", markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``surveys new|form``, ``participants expect`` and ``export`` to ``app``."""
    from evalkit.cli._surveys import participants_app, surveys_app

    surveys_app.command("new")(surveys_new)
    surveys_app.command("form")(surveys_form)
    participants_app.command("expect")(participants_expect)
    app.command("export")(export)
