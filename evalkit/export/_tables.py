"""Analysis-ready tables from the store: one row per response, design columns, scores, items."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evalkit.config import ProjectConfig
from evalkit.instruments import Instrument
from evalkit.scoring import score
from evalkit.store import read_table

#: The design columns every table starts with, in order.
DESIGN_COLUMNS = ["response_id", "respondent_id", "site", "modality", "wave", "submitted_at"]
#: Columns of the codebook.
CODEBOOK_COLUMNS = ["table", "variable", "label", "role", "type", "item", "values", "notes"]

_NAME = re.compile(r"[^A-Za-z0-9_]")
_MAX_NAME = 32  # Stata's limit; SPSS allows 64
# Words Stata or SPSS keep for themselves (compared case-insensitively).
_RESERVED = {"_all", "_b", "byte", "_coef", "_cons", "double", "float", "if", "in", "int",
             "long", "_n", "_pi", "_pred", "_rc", "_skip", "strl", "using", "with", "all",
             "and", "by", "eq", "ge", "gt", "le", "lt", "ne", "not", "or", "to"}
_DESIGN_LABELS = {
    "response_id": "Response id (evalkit store)",
    "respondent_id": "Pseudonymous respondent id (keyed hash; blank if unlinked)",
    "site": "Site",
    "modality": "Site's modality (first listed in evalkit.yml)",
    "wave": "Wave",
    "submitted_at": "Date the response was submitted",
}
_MULTIPLE = {0: "Not ticked", 1: "Ticked"}


@dataclass(frozen=True)
class Variable:
    """One exported column: its name, label, role and, for coded columns, value labels."""

    table: str
    name: str
    label: str
    role: str  # design, scale, item
    type: str  # string, integer, number, date
    item: str = ""
    values: tuple[tuple[int, str], ...] = ()
    measure: str = "scale"  # SPSS measure: nominal, ordinal, scale
    notes: str = ""


@dataclass(frozen=True)
class AnalysisTable:
    """One instrument's export: the rows and the description of every column."""

    name: str
    title: str
    data: pd.DataFrame
    variables: tuple[Variable, ...]

    def variable(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(name)


class _Names:
    """Variable names valid in Stata and SPSS, unique within a table."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def add(self, wanted: str, *, suffix: str = "") -> str:
        base = _NAME.sub("_", wanted).strip("_") or "v"
        if not base[0].isalpha():
            base = "v" + base
        if base.lower() in _RESERVED:
            base += "_"
        name = base[:_MAX_NAME]
        if name.lower() in self.taken and suffix:
            name = (base[:_MAX_NAME - len(suffix)] + suffix)
        n = 1
        while name.lower() in self.taken:
            n += 1
            tail = f"_{n}"
            name = base[:_MAX_NAME - len(tail)] + tail
        self.taken.add(name.lower())
        return name


def _columns(instrument: Instrument, stored: list[str]) -> list[tuple[str, str, str | None]]:
    """(stored column, item code, row/option) in the instrument's order; no text items."""
    by_base: dict[str, list[str]] = {}
    for col in stored:
        by_base.setdefault(col.partition("[")[0], []).append(col)
    out: list[tuple[str, str, str | None]] = []
    for item in instrument.items:
        if item.personal or item.type == "text" or item.code == instrument.linkage_code:
            continue
        if item.type == "multiple":
            out += [(f"{item.code}[{o}]", item.code, str(o)) for o in sorted(item.options or {})]
        elif item.type == "rating_grid":
            rows = sorted(c[len(item.code) + 1:-1] for c in by_base.get(item.code, [])
                          if c.endswith("]"))
            out += [(f"{item.code}[{r}]", item.code, r) for r in rows]
        else:
            out.append((item.code, item.code, None))
    return out


def _store_frames(config: ProjectConfig, instrument: Instrument
                  ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    store = config.store_path
    meta = read_table(store, (
        "SELECT response_id, respondent_id, site_id AS site, wave, submitted_at FROM responses "
        "WHERE instrument = ? AND complete ORDER BY site_id, wave, respondent_id, response_id"),
        [instrument.id])
    long = read_table(store, (
        "SELECT a.response_id, a.item, a.value, a.text FROM answers a JOIN responses r "
        "USING (response_id) WHERE r.instrument = ? AND r.complete"), [instrument.id])
    orgs = read_table(store, "SELECT org_id, coalesce(name, org_id) AS name FROM organizations")
    return meta, long, dict(zip(orgs["org_id"], orgs["name"], strict=True))


def analysis_table(config: ProjectConfig, instrument: Instrument) -> AnalysisTable:
    """The export of one instrument: a row per complete response (a participant at a wave).

    Columns: :data:`DESIGN_COLUMNS`, one per scale score (named by its id), one per item as
    answered (codes, not reverse-keyed; grids and multiple choice one column per row or
    option, ``contact_S01_O02``, labelled ``ORGANIZATION: text``). Free-text, personal and
    self-generated-code items are not exported. Names are valid Stata and SPSS names (at
    most 32 characters); a name already taken gets ``_score`` (scales) or ``_item`` (items),
    e.g. an item ``modality`` becomes ``modality_item``.
    """
    meta, long, org_names = _store_frames(config, instrument)
    waves = [w.id for w in config.waves]
    modality = config.site_modality()
    values = long[long["value"].notna()]
    wide = values.pivot(index="response_id", columns="item", values="value")
    dates = long[long["value"].isna() & long["item"].isin(
        [i.code for i in instrument.items if i.type == "date"])]
    wide_dates = dates.pivot(index="response_id", columns="item", values="text")
    stored = [str(c) for c in wide.columns] + [str(c) for c in wide_dates.columns]
    cols = _columns(instrument, stored)
    names = _Names()
    meta = meta.reset_index(drop=True)
    n = len(meta)
    data: dict[str, pd.Series] = {}
    variables: list[Variable] = []
    site_codes = {s.id: k for k, s in enumerate(config.sites, start=1)}
    modality_codes = {m.id: k for k, m in enumerate(config.modalities, start=1)}
    wave_codes = {w: k for k, w in enumerate(waves, start=1)}
    for col in DESIGN_COLUMNS:
        name = names.add(col)
        if col == "modality":
            series = meta["site"].map(modality)
        elif col == "submitted_at":
            series = pd.to_datetime(meta["submitted_at"]).dt.normalize()
        else:
            series = meta[col]
        data[name] = pd.Series(series.to_numpy(), dtype=series.dtype)
        coded = {"site": site_codes, "modality": modality_codes, "wave": wave_codes}.get(col)
        variables.append(Variable(
            instrument.id, name, _DESIGN_LABELS[col], "design",
            "date" if col == "submitted_at" else "string", item="",
            values=tuple((k, v) for v, k in coded.items()) if coded else (),
            measure="ordinal" if col == "wave" else "nominal",
            notes="coded 1, 2, ... with these labels in .dta and .sav" if coded else ""))
    item_codes = {i.code for i in instrument.items}
    if instrument.scales:
        answers = wide.reindex(index=meta["response_id"]).reset_index(drop=True)
        answers = answers[[c for c in answers.columns if c in item_codes]]
        answers.insert(0, "_row", np.arange(len(answers)))
        scores = score(answers, instrument=instrument, id_columns=["_row"])
        for sc in instrument.scales:
            name = names.add(sc.id, suffix="_score")
            got = scores[scores["scale"] == sc.id].set_index("_row")["score"]
            data[name] = pd.Series(got.reindex(np.arange(n)).to_numpy(dtype=float))
            reversed_ = [c for c in sc.items if instrument.item(c).reverse]
            variables.append(Variable(
                instrument.id, name, sc.label, "scale", "number",
                notes=(f"{sc.method} of {', '.join(sc.items)} after reverse keying"
                       + (f" ({', '.join(reversed_)} reversed)" if reversed_ else "")
                       + f"; missing if fewer than {sc.min_items} answered")))
    for stored_col, code, inner in cols:
        item = instrument.item(code)
        name = names.add(stored_col, suffix="_item")
        if item.type == "date":
            raw = wide_dates.reindex(index=meta["response_id"]).get(stored_col)
            data[name] = (pd.Series(pd.to_datetime(raw, format="%Y-%m-%d").to_numpy())
                          if raw is not None else pd.Series(pd.NaT, index=range(n)))
            variables.append(Variable(instrument.id, name, item.text, "item", "date",
                                      item=stored_col))
            continue
        raw = wide.reindex(index=meta["response_id"]).get(stored_col)
        series = (pd.Series(raw.to_numpy(dtype=float)) if raw is not None
                  else pd.Series(np.nan, index=range(n), dtype=float))
        label, notes = item.text, ""
        if item.type == "multiple":
            label = f"{(item.options or {}).get(int(inner or 0), inner)}: {item.text}"
            codes: Mapping[int, str] = _MULTIPLE
        elif item.type == "rating_grid":
            label = f"{org_names.get(inner or '', inner)}: {item.text}"
            codes = instrument.answer_codes(code) or {}
        else:
            codes = instrument.answer_codes(code) or {}
        if item.reverse:
            notes = "reverse-keyed: as answered here, reversed in scores"
        if item.shown_if:
            notes = "; ".join(n for n in (notes, f"asked only if {item.shown_if}") if n)
        if codes:
            data[name] = series.round().astype("Int64")
            measure = "ordinal" if item.type in ("likert", "rating_grid") else "nominal"
            variables.append(Variable(instrument.id, name, label, "item", "integer",
                                      item=stored_col, values=tuple(sorted(codes.items())),
                                      measure=measure, notes=notes))
        else:
            data[name] = series
            variables.append(Variable(instrument.id, name, label, "item", "number",
                                      item=stored_col, notes=notes))
    frame = pd.DataFrame(data, index=range(n)) if data else pd.DataFrame(index=range(n))
    return AnalysisTable(instrument.id, instrument.title, frame, tuple(variables))


def codebook_frame(tables: Mapping[str, AnalysisTable]) -> pd.DataFrame:
    """The codebook of an export: one row per column of every table (:data:`CODEBOOK_COLUMNS`)."""
    rows = [{"table": v.table, "variable": v.name, "label": v.label, "role": v.role,
             "type": v.type, "item": v.item,
             "values": "; ".join(f"{k} = {label}" for k, label in v.values),
             "notes": v.notes}
            for t in tables.values() for v in t.variables]
    return pd.DataFrame(rows, columns=CODEBOOK_COLUMNS)
