"""Writing an export: CSV, Parquet, Stata ``.dta`` and SPSS ``.sav``, and the codebook."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import pandas as pd

from evalkit.export._tables import AnalysisTable, codebook_frame

Format = Literal["csv", "parquet", "stata", "spss"]
FORMATS: dict[str, str] = {"csv": ".csv", "parquet": ".parquet", "stata": ".dta",
                           "spss": ".sav"}
#: Longest labels each format keeps (readstat refuses longer Stata labels, SPSS truncates).
LABEL_LIMITS: dict[str, dict[str, int]] = {
    "stata": {"variable": 80, "value": 32_000, "file": 80},
    "spss": {"variable": 256, "value": 120, "file": 64},
}
NOTICE = ("Record-level data for analysts: one row per complete response (a participant at "
          "a wave). The suppression rule of published reports (counts under the threshold "
          "hidden) is NOT applied here, so do not publish these files or share them beyond "
          "the people allowed to see record-level data. Personal items and free text are "
          "never exported; respondent ids are pseudonyms.")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def labelled_frame(table: AnalysisTable, fmt: Literal["stata", "spss"]
                   ) -> tuple[pd.DataFrame, dict[str, str | None], dict[str, dict[float, str]],
                              dict[str, str]]:
    """The frame as written to ``.dta`` / ``.sav`` (design columns coded 1, 2, ...), with the
    variable labels, value labels and SPSS measures it carries (labels cut to the format's
    limits, :data:`LABEL_LIMITS`)."""
    limits = LABEL_LIMITS[fmt]
    data = table.data.copy()
    labels: dict[str, str | None] = {}
    values: dict[str, dict[float, str]] = {}
    measures: dict[str, str] = {}
    for v in table.variables:
        labels[v.name] = _cut(v.label, limits["variable"])
        measures[v.name] = v.measure
        if v.values:
            values[v.name] = {float(k): _cut(label, limits["value"]) for k, label in v.values}
            if v.role == "design":  # strings coded by the labels' order
                code = {label: k for k, label in v.values}
                data[v.name] = data[v.name].map(code).astype("float64")
            else:
                data[v.name] = data[v.name].astype("float64")
        elif v.type == "string":
            data[v.name] = data[v.name].astype(object).where(data[v.name].notna(), "")
    return data, labels, values, measures


def write_table(table: AnalysisTable, out_dir: Path, fmt: Format) -> Path:
    """Write one table in ``fmt``; returns the file."""
    path = out_dir / f"{table.name}{FORMATS[fmt]}"
    if fmt == "csv":
        table.data.to_csv(path, index=False, encoding="utf-8", date_format="%Y-%m-%d")
    elif fmt == "parquet":
        data = table.data.copy()
        for v in table.variables:
            if v.role == "design" and v.values:
                data[v.name] = pd.Categorical(data[v.name], categories=[lab for _, lab in
                                                                        v.values],
                                              ordered=v.name == "wave")
        data.to_parquet(path, index=False)
    else:
        import pyreadstat

        data, labels, values, measures = labelled_frame(table, fmt)
        title = _cut(table.title, LABEL_LIMITS[fmt]["file"])
        if fmt == "stata":
            pyreadstat.write_dta(data, str(path), file_label=title, column_labels=labels,
                                 variable_value_labels=values)
        else:
            pyreadstat.write_sav(data, str(path), file_label=title, column_labels=labels,
                                 variable_value_labels=values, variable_measure=measures)
    return path


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def codebook_markdown(tables: Mapping[str, AnalysisTable], *, fmt: str) -> str:
    """The export's codebook as Markdown: the notice, then a table of columns per file."""
    out = ["# Codebook of the export", "", NOTICE, "",
           f"Files: one per instrument ({FORMATS[fmt]}). Item columns hold the answers as "
           "given (reverse-keyed items are not reversed there; scale scores reverse them). "
           "Missing: not answered, not asked, or too few items for a score."]
    for t in tables.values():
        out += ["", f"## `{t.name}{FORMATS[fmt]}`: {_md(t.title)} ({len(t.data)} rows)", "",
                "| Variable | Label | Type | Values | Notes |", "|---|---|---|---|---|"]
        for v in t.variables:
            values = "; ".join(f"{k} = {label}" for k, label in v.values)
            out.append(f"| `{v.name}` | {_md(v.label)} | {v.type} | {_md(values)} | "
                       f"{_md(v.notes)} |")
    return "\n".join(out) + "\n"


def write_codebook(tables: Mapping[str, AnalysisTable], out_dir: Path, *, fmt: str
                   ) -> tuple[Path, Path]:
    """``codebook.csv`` and ``codebook.md`` of the export."""
    csv, md = out_dir / "codebook.csv", out_dir / "codebook.md"
    codebook_frame(tables).to_csv(csv, index=False, encoding="utf-8")
    md.write_text(codebook_markdown(tables, fmt=fmt), encoding="utf-8")
    return csv, md
