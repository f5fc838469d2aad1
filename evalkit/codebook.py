"""The codebook of the instruments: every item with its codes, as Markdown and CSV.

Examples
--------
>>> from evalkit._assets import asset_path
>>> from evalkit.instruments import load_instruments
>>> book = codebook(load_instruments(asset_path("surveys")))
>>> book.loc[book["item"] == "PSA03", ["instrument", "reverse", "scales"]].to_dict("records")
[{'instrument': 'partnership', 'reverse': True, 'scales': 'total; shared_aim'}]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from evalkit.instruments import Instrument

__all__ = ["CODEBOOK_COLUMNS", "codebook", "codebook_markdown", "write_codebook"]

#: Columns of :func:`codebook`.
CODEBOOK_COLUMNS = ["instrument", "version", "respondent", "position", "item", "type", "text",
                    "domain", "codes", "reverse", "min", "max", "required", "shown_if",
                    "personal", "linkage", "scales"]


def _instruments(instruments: Mapping[str, Instrument] | Iterable[Instrument]
                 ) -> list[Instrument]:
    values = instruments.values() if isinstance(instruments, Mapping) else instruments
    return sorted(values, key=lambda i: i.id)


def _codes(inst: Instrument, code: str) -> str:
    codes = inst.answer_codes(code)
    return "; ".join(f"{k} = {v}" for k, v in sorted(codes.items())) if codes else ""


def codebook(instruments: Mapping[str, Instrument] | Iterable[Instrument]) -> pd.DataFrame:
    """One row per item of every instrument.

    Returns
    -------
    pandas.DataFrame
        :data:`CODEBOOK_COLUMNS`: ``position`` (1-based order in the instrument), ``codes``
        (``1 = Strongly disagree; ...``), ``scales`` (ids of the scales scoring the item,
        ``; ``-separated), ``personal`` (dropped at ingest), ``linkage`` (the self-generated
        identification code).
    """
    rows = []
    for inst in _instruments(instruments):
        for pos, item in enumerate(inst.items, start=1):
            rows.append({
                "instrument": inst.id, "version": inst.version, "respondent": inst.respondent,
                "position": pos, "item": item.code, "type": item.type, "text": item.text,
                "domain": item.domain or "", "codes": _codes(inst, item.code),
                "reverse": item.reverse, "min": item.min, "max": item.max,
                "required": item.required, "shown_if": item.shown_if or "",
                "personal": item.personal, "linkage": item.code == inst.linkage_code,
                "scales": "; ".join(s.id for s in inst.scales if item.code in s.items)})
    return pd.DataFrame(rows, columns=CODEBOOK_COLUMNS)


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def codebook_markdown(instruments: Mapping[str, Instrument] | Iterable[Instrument]) -> str:
    """The codebook as a Markdown document: per instrument, its items, scales and codes."""
    out = ["# Codebook", ""]
    for inst in _instruments(instruments):
        out += [f"## {inst.title} (`{inst.id}`, version {inst.version})", "",
                f"Respondents: {inst.respondent}."]
        if inst.description.strip():
            out += ["", inst.description.strip()]
        if inst.linkage_code:
            out += ["", f"Self-generated identification code: `{inst.linkage_code}` (turned "
                    "into a pseudonymous id; never stored)."]
        out += ["", "| # | Item | Type | Text | Codes | Notes |", "|---|---|---|---|---|---|"]
        for pos, item in enumerate(inst.items, start=1):
            notes = []
            if item.reverse:
                notes.append("reverse-coded")
            if item.required:
                notes.append("required")
            if item.shown_if:
                notes.append(f"asked if `{item.shown_if}`")
            if item.personal:
                notes.append("personal data, dropped at ingest")
            if item.type == "numeric" and (item.min is not None or item.max is not None):
                notes.append(f"range {item.min:g} to {item.max:g}" if item.min is not None
                             and item.max is not None else "bounded")
            if item.type == "rating_grid":
                notes.append("one answer per organization: `" + item.code + "[ORG_ID]`")
            codes = (f"scale `{item.response_scale}`" if item.response_scale
                     else _codes(inst, item.code))
            out.append(f"| {pos} | `{item.code}` | {item.type} | {_md(item.text)} | "
                       f"{_md(codes)} | {_md('; '.join(notes))} |")
        if inst.response_scales:
            out += ["", "Response scales:", ""]
            for name, scale in inst.response_scales.items():
                out.append(f"- `{name}`: " + "; ".join(
                    f"{k} = {v}" for k, v in sorted(scale.codes.items())))
        if inst.scales:
            out += ["", "| Scale | Label | Items | Score | Minimum answered |",
                    "|---|---|---|---|---|"]
            for s in inst.scales:
                out.append(f"| `{s.id}` | {_md(s.label)} | {', '.join(s.items)} | "
                           f"{s.method} | {s.min_items} |")
        out.append("")
    return "\n".join(out)


def write_codebook(instruments: Mapping[str, Instrument] | Iterable[Instrument],
                   out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``codebook.md`` and ``codebook.csv`` into ``out_dir``; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md, csv = out_dir / "codebook.md", out_dir / "codebook.csv"
    md.write_text(codebook_markdown(instruments), encoding="utf-8")
    codebook(instruments).to_csv(csv, index=False, encoding="utf-8")
    return md, csv
