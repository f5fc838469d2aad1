"""``evalkit network`` and ``evalkit feedback themes|export|import``.

A thin layer over :mod:`evalkit.network` and :mod:`evalkit.feedback`: each command loads
the project, calls the library, and prints a readable summary (or JSON with ``--json``).
:func:`register` adds the commands to the main ``evalkit`` app.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table

from evalkit.cli._common import ProjectOpt, _errors, console

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["register"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
CodebookOpt = Annotated[Path | None, typer.Option(
    "--codebook", metavar="FILE",
    help="Theme codebook (default: the project's analyses/themes.yml, else the "
    "one shipped with evalkit).")]
NamesOpt = Annotated[Path | None, typer.Option(
    "--names", metavar="FILE",
    help="Text file of people's names to scrub from comments, one per line.")]

feedback_app = typer.Typer(
    name="feedback",
    help="Community feedback comments: suggest themes, export them for coders, import "
         "corrected codes.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe records (NaN and NA become null)."""
    return json.loads(df.to_json(orient="records", force_ascii=False))


def _emit(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def _say(text: str) -> None:
    """Print a plain line (no markup, never wrapped, so it stays greppable)."""
    console.print(text, markup=False, soft_wrap=True, highlight=False)


def _num(x: Any, digits: int = 2) -> str:
    import pandas as pd

    return "—" if x is None or pd.isna(x) else f"{x:.{digits}f}"


def _config(project: Path):
    from evalkit.config import load_config

    return load_config(project)


def network(
    project: ProjectOpt = Path("."),
    min_level: Annotated[int, typer.Option(
        "--min-level", min=1, max=5,
        help="Lowest collaboration rating that counts as a tie (1-5).")] = 3,
    site: Annotated[list[str] | None, typer.Option(
        "--site", help="Only these site ids (repeatable).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Partner-network measures per site and wave, change, and missing sectors.

    Example: evalkit network -p my-evaluation --min-level 3
    """
    from evalkit.network import network_tables

    with _errors():
        cfg = _config(project)
        tables = network_tables(cfg.store_path, cfg, min_level=min_level)
    if not tables:
        _say("This project does not use the partner-network survey.")
        return
    sites, change, sectors = (tables["network_sites"], tables["network_change"],
                              tables["network_sectors"])
    if site:
        sites, change, sectors = (t[t["site_id"].isin(site)] for t in (sites, change, sectors))
    gaps = sectors[sectors["status"] != "connected"]
    if as_json:
        _emit({"min_level": min_level, "sites": _records(sites), "change": _records(change),
               "sector_gaps": _records(gaps)})
        return
    table = Table("site", "wave", "answered", "ties", "density", "recipr.", "central.",
                  "comp.", title=f"Partner networks (tie = collaboration >= {min_level})",
                  box=box.SIMPLE_HEAD)
    for r in sites.itertuples(index=False):
        table.add_row(r.site_id, r.wave, f"{r.n_respondents}/{r.n_orgs}",
                      str(r.ties), _num(r.density), _num(r.reciprocity),
                      _num(r.degree_centralization), str(r.components))
    console.print(table)
    if len(change):
        first = change.iloc[0]
        ct = Table("site", "modality", "both", "gained", "lost", "deepened", "net",
                   "density", title=f"Change {first['pre']} -> {first['post']} (ties of "
                   "organizations that answered both times)", box=box.SIMPLE_HEAD)
        for r in change.itertuples(index=False):
            ct.add_row(r.site_id, str(r.modality), str(r.n_raters_both), str(r.ties_gained),
                       str(r.ties_lost), str(r.ties_deepened), f"{r.net_change:+d}",
                       f"{r.density_change:+.2f}")
        console.print(ct)
    last = sites.groupby("site_id")["wave"].last()
    lines = []
    for s, wave in last.items():
        g = gaps[(gaps["site_id"] == s) & (gaps["wave"] == wave)]
        missing = ", ".join(g.loc[g["status"] == "missing", "sector"]) or "none"
        weak = ", ".join(g.loc[g["status"] == "weak", "sector"]) or "none"
        lines.append(f"  {s} ({wave}): missing {missing}; weakly tied {weak}")
    _say("Sectors missing or weakly tied:")
    for line in lines:
        _say(line)
    n_non = int(sites["n_nonrespondents"].sum())
    _say(f"{n_non} organization-waves did not answer; ties others reported about "
                  "them are counted.")


def _codebook_path(cfg, codebook: Path | None) -> Path:
    from evalkit._assets import asset_path

    if codebook is not None:
        return codebook
    own = cfg.path("analyses/themes.yml")
    return own if own.exists() else asset_path("analyses") / "themes.yml"


@feedback_app.command("themes")
def themes(
    project: ProjectOpt = Path("."),
    codebook: CodebookOpt = None,
    site: Annotated[str | None, typer.Option("--site", help="Show one site.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Code the comments with the theme codebook and count themes by wave.

    Corrected codes imported with `evalkit feedback import` replace the suggested ones.

    Example: evalkit feedback themes -p my-evaluation --site S01
    """
    from evalkit.feedback import (
        code_themes,
        corrected_codes,
        current_corrections,
        final_codes,
        load_codebook,
        read_comments,
        theme_summary,
    )

    with _errors():
        cfg = _config(project)
        book = load_codebook(_codebook_path(cfg, codebook))
        comments = read_comments(cfg.store_path)
        comments["modality"] = comments["site_id"].map(cfg.site_modality())
        corrected = corrected_codes(cfg.store_path)
        codes = final_codes(comments, code_themes(comments, codebook=book), corrected)
        summary = theme_summary(comments, codes, codebook=book, waves=cfg.wave_ids)
        n_fixed = len(current_corrections(comments, corrected))
    view = (summary[(summary["level"] == "site") & (summary["site_id"] == site)] if site
            else summary[summary["level"] == "collaborative"])
    if as_json:
        _emit({"comments": len(comments), "corrected": n_fixed, "themes": _records(view)})
        return
    waves = list(dict.fromkeys(view["wave"]))
    table = Table("theme", *waves, title=f"Themes of {len(comments)} comments"
                  + (f" at site {site}" if site else ""), box=box.SIMPLE_HEAD)
    for _, rows in view.groupby("theme", sort=False):
        cells = [f"{int(r.n)} ({r.share:.0%})" for r in rows.itertuples(index=False)]
        table.add_row(str(rows["label"].iloc[0]), *cells)
    console.print(table)
    _say(f"{n_fixed} comment(s) use corrected codes; the rest use the codebook's "
                  "suggestions.")


@feedback_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE",
                                      help="CSV file to write.")],
    project: ProjectOpt = Path("."),
    codebook: CodebookOpt = None,
    names: NamesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write comments with suggested themes to a CSV for coders to correct.

    Comments are scrubbed of personal data first. Edit the `themes` column (theme ids
    separated by ';', empty for none) or set `reviewed` to yes, then import the file.

    Example: evalkit feedback export -p my-evaluation --out coding.csv
    """
    from evalkit.feedback import export_codes, load_codebook, project_scrubber, read_names

    with _errors():
        cfg = _config(project)
        book = load_codebook(_codebook_path(cfg, codebook))
        scrubber = project_scrubber(cfg.store_path, read_names(names) if names else ())
        result = export_codes(cfg.store_path, out, codebook=book, scrubber=scrubber)
    if as_json:
        _emit({"path": str(result.path), "rows": result.rows, "corrected": result.corrected})
        return
    _say(f"Wrote {result.rows} comments to {result.path} ({result.corrected} with "
                  "corrected codes).")
    _say(f"Themes: {', '.join(book.ids)}")


@feedback_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="The corrected CSV.")],
    project: ProjectOpt = Path("."),
    codebook: CodebookOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import corrected theme codes from a coders' CSV; corrected codes win.

    Importing the same file again changes nothing.

    Example: evalkit feedback import coding.csv -p my-evaluation
    """
    from evalkit.feedback import import_codes, load_codebook

    with _errors():
        cfg = _config(project)
        book = load_codebook(_codebook_path(cfg, codebook))
        result = import_codes(cfg.store_path, file, codebook=book)
    if as_json:
        _emit({"path": str(result.path), "rows": result.rows, "stored": result.stored,
               "inserted": result.inserted, "updated": result.updated,
               "unchanged": result.unchanged})
        return
    _say(f"{result.path}: {result.rows} rows, {result.stored} corrected or "
                  f"reviewed: {result.inserted} new, {result.updated} updated, "
                  f"{result.unchanged} unchanged.")


def register(app: typer.Typer) -> None:
    """Add ``network`` and the ``feedback`` group to the ``evalkit`` app."""
    app.command("network")(network)
    app.add_typer(feedback_app, name="feedback")
