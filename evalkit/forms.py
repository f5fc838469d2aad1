"""Site forms: an Excel workbook a site team fills in and submits with ``evalkit submit``.

The workbook has three sheets:

``Responses``
    Row 1 holds the headers :func:`evalkit.sources.submit_file` expects: ``response_id``,
    ``participant_code`` (not for community instruments, whose respondents are anonymous),
    ``submitted_at``, ``complete``, then one column per item in the instrument's order
    (rating grids as ``ITEM[ORG_ID]``, one per organization; multiple choice as
    ``ITEM[OPTION]``). Each header carries the item's text as a cell note. Closed items
    have a drop-down of their codes (Excel list validation over the ``Codes`` sheet) whose
    input message lists code and label; numbers are checked against the item's range,
    dates are Excel dates, ids are text cells (so ``007`` keeps its zeros). Personal items
    are left out: they are dropped at ingest, so a form never collects them.
``Instructions``
    What the form is for (instrument, site, wave), how to fill in each kind of column, and
    the command that submits it.
``Codes``
    Every answer code with its label, one pair of columns per response scale or option list.

The workbook's defined name :data:`evalkit.tabular.RESPONSES_NAME` marks ``Responses`` as
the sheet of data, so ``evalkit submit form.xlsx`` reads it without ``--sheet``.

Examples
--------
>>> import pathlib, tempfile
>>> from evalkit._assets import asset_path
>>> from evalkit.instruments import load_instrument
>>> from evalkit.forms import form_columns, write_form
>>> psa = load_instrument(asset_path("surveys") / "partnership_self_assessment.yaml")
>>> form_columns(psa)[:6]
['response_id', 'participant_code', 'submitted_at', 'complete', 'PSA01', 'PSA02']
>>> out = write_form(psa, pathlib.Path(tempfile.mkdtemp()) / "form.xlsx", site="S01",
...                  wave="baseline")
>>> import openpyxl
>>> openpyxl.load_workbook(out).sheetnames
['Responses', 'Instructions', 'Codes']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError
from evalkit.instruments import Instrument, Item
from evalkit.tabular import RESPONSES_NAME

__all__ = ["FORM_SHEETS", "form_columns", "write_form"]

#: Sheet names of a form, in order.
FORM_SHEETS = ("Responses", "Instructions", "Codes")
_ROWS = 200  # rows prepared with validation and formats
_PROMPT = 255  # Excel's limit for a data-validation input message
_TITLE = 32  # ... and for its title


def _organizations(item: Item, organizations: Mapping[str, str] | Sequence[str] | None,
                   instrument: Instrument) -> list[str]:
    if not organizations:
        raise ConfigError(f"instrument {instrument.id!r}: item {item.code!r} is a rating grid "
                          "whose columns are the site's organizations; give them "
                          "(--organizations FILE, or ingest the site's organizations first)")
    return [str(o) for o in organizations]


def form_columns(instrument: Instrument, *,
                 organizations: Mapping[str, str] | Sequence[str] | None = None) -> list[str]:
    """The header row of a form: the columns ``submit`` reads, then one per item.

    Personal items are left out (never stored); ``participant_code`` is left out of
    community instruments (anonymous respondents).
    """
    meta = ["response_id", "submitted_at", "complete"] if instrument.respondent == "community" \
        else ["response_id", "participant_code", "submitted_at", "complete"]
    out = list(meta)
    for item in instrument.items:
        if item.personal:
            continue
        if item.type == "rating_grid":
            out += [f"{item.code}[{o}]" for o in _organizations(item, organizations,
                                                                 instrument)]
        elif item.type == "multiple":
            out += [f"{item.code}[{o}]" for o in sorted(item.options or {})]
        else:
            out.append(item.code)
    return out


def _codes_text(codes: Mapping[int, str]) -> str:
    return "; ".join(f"{c} = {label}" for c, label in sorted(codes.items()))


def _prompt(text: str) -> str:
    return text if len(text) <= _PROMPT else text[:_PROMPT - 3] + "..."


def write_form(instrument: Instrument, path: str | Path, *, site: str, wave: str,
               organizations: Mapping[str, str] | Sequence[str] | None = None,
               rows: int = _ROWS) -> Path:
    """Write the Excel form of ``instrument`` for one site and wave.

    Parameters
    ----------
    instrument
        The instrument the form answers.
    path
        The ``.xlsx`` file to write (its folder is created).
    site, wave
        Named on the instructions sheet and in the submit command it shows.
    organizations
        The site's organizations (id -> name, or ids): the columns of rating grids.
        Required when the instrument has a rating grid.
    rows
        Rows prepared with drop-downs and cell formats.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter, quote_sheetname
    from openpyxl.workbook.defined_name import DefinedName
    from openpyxl.worksheet.datavalidation import DataValidation

    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise ConfigError(f"--out: {path}: expected a file ending in .xlsx")
    columns = form_columns(instrument, organizations=organizations)
    names = dict(organizations) if isinstance(organizations, Mapping) else {}
    book = Workbook()
    ws = book.active
    ws.title = FORM_SHEETS[0]
    guide = book.create_sheet(FORM_SHEETS[1])
    codes_ws = book.create_sheet(FORM_SHEETS[2])
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DDEBF7")
    last = rows + 1

    # Codes sheet: one (code, label) column pair per distinct list.
    lists: dict[tuple, str] = {}  # (name, codes) -> absolute range of its codes
    col = 1

    def code_list(name: str, codes: Mapping[int, str]) -> str:
        nonlocal col
        key = (name, tuple(sorted(codes.items())))
        if key not in lists:
            letter = get_column_letter(col)
            codes_ws.cell(1, col, f"{name}: code").font = bold
            codes_ws.cell(1, col + 1, f"{name}: label").font = bold
            for r, (c, label) in enumerate(sorted(codes.items()), start=2):
                codes_ws.cell(r, col, c)
                codes_ws.cell(r, col + 1, label)
            codes_ws.column_dimensions[get_column_letter(col + 1)].width = 34
            end = len(codes) + 1
            lists[key] = f"{quote_sheetname(FORM_SHEETS[2])}!${letter}$2:${letter}${end}"
            col += 3
        return lists[key]

    def validate(dv: Any, letter: str) -> None:
        dv.add(f"{letter}2:{letter}{last}")
        ws.add_data_validation(dv)

    for j, name in enumerate(columns, start=1):
        letter = get_column_letter(j)
        cell = ws.cell(1, j, name)
        cell.font, cell.fill = bold, head_fill
        cell.alignment = Alignment(wrap_text=False)
        ws.column_dimensions[letter].width = max(12, min(len(name) + 4, 30))
        base, _, inner = name.partition("[")
        inner = inner.rstrip("]")
        text_format = False
        if name == "response_id":
            note = "The form's number (e.g. the paper form's number). Needed unless " \
                   "participant_code identifies the row; unique in this wave."
            text_format = True
        elif name == "participant_code":
            note = "The site's code for the person (not a name); turned into a pseudonymous " \
                   "id, never stored. One row per person in this wave."
            text_format = True
        elif name == "submitted_at":
            note = "Date the form was filled in (YYYY-MM-DD); optional."
            dv = DataValidation(type="date", operator="greaterThan", formula1="1",
                                allow_blank=True, showErrorMessage=True,
                                errorTitle="A date", error="Type a date such as 2026-03-15.")
            validate(dv, letter)
            for r in range(2, last + 1):
                ws.cell(r, j).number_format = "yyyy-mm-dd"
        elif name == "complete":
            note = "yes if the respondent finished the form, no if not; blank means yes."
            dv = DataValidation(type="list", formula1='"yes,no"', allow_blank=True,
                                showErrorMessage=True, errorTitle="yes or no",
                                error="Choose yes or no (or leave blank for yes).")
            validate(dv, letter)
        else:
            item = instrument.item(base)
            note = item.text
            codes = instrument.answer_codes(base)
            if item.type == "multiple":
                label = (item.options or {}).get(int(inner), inner)
                note = f"{item.text}\n{label}: 1 if ticked, 0 if not."
                dv = DataValidation(type="list", formula1='"1,0"', allow_blank=True,
                                    showErrorMessage=True, showInputMessage=True,
                                    promptTitle=_prompt(base)[:_TITLE],
                                    prompt=_prompt(f"{label}: 1 = ticked, 0 = not ticked"),
                                    errorTitle="1 or 0", error="Type 1 (ticked) or 0 (not).")
                validate(dv, letter)
            elif codes is not None:
                list_name = item.response_scale or base
                shown = _codes_text(codes)
                if item.type == "rating_grid":
                    note = f"{item.text}\nOrganization: {names.get(inner, inner)} ({inner})."
                dv = DataValidation(type="list", formula1=code_list(list_name, codes),
                                    allow_blank=True, showErrorMessage=True,
                                    showInputMessage=True, promptTitle=base[:_TITLE],
                                    prompt=_prompt(shown), errorTitle="Not a code",
                                    error=_prompt(f"Choose one of: {shown}"))
                validate(dv, letter)
                note = f"{note}\n{shown}"
            elif item.type == "numeric":
                lo = item.min if item.min is not None else -1e15
                hi = item.max if item.max is not None else 1e15
                dv = DataValidation(type="decimal", operator="between", formula1=f"{lo:g}",
                                    formula2=f"{hi:g}", allow_blank=True,
                                    showErrorMessage=True, errorTitle="Out of range",
                                    error=_prompt(f"Type a number from {lo:g} to {hi:g}."))
                validate(dv, letter)
                if item.min is not None and item.max is not None:
                    note = f"{note}\nA number from {item.min:g} to {item.max:g}."
            elif item.type == "date":
                for r in range(2, last + 1):
                    ws.cell(r, j).number_format = "yyyy-mm-dd"
                note = f"{note}\nA date (YYYY-MM-DD)."
            else:
                text_format = True
                if base == instrument.linkage_code:
                    note = f"{note}\nThe respondent's own code; turned into a " \
                           "pseudonymous id, never stored."
            if item.shown_if:
                note = f"{note}\nAsked only if {item.shown_if}; otherwise leave blank."
            if item.required:
                note = f"{note}\nRequired."
        if text_format:
            for r in range(2, last + 1):
                ws.cell(r, j).number_format = "@"
        cell.comment = Comment(note, "evalkit", width=320, height=140)
    ws.freeze_panes = "A2"

    # Instructions sheet.
    personal = [i.code for i in instrument.items if i.personal]
    ident = ("response_id (the form's number)" if instrument.respondent == "community" else
             "participant_code (the site's code for the person, never a name) or "
             "response_id (the form's number)")
    lines: list[tuple[str, str]] = [
        (f"{instrument.title}", ""),
        ("Instrument", f"{instrument.id} (version {instrument.version})"),
        ("Site", site),
        ("Wave", wave),
        ("", ""),
        ("How to fill in", "One row per response on the Responses sheet; do not rename, "
                           "reorder or delete the header row (row 1)."),
        ("Identify each row", ident + "; each at most once in this wave."),
        ("Answers", "Closed questions: pick a code from the drop-down (codes and labels "
                    "are on the Codes sheet and show when the cell is selected). Leave a "
                    "cell blank if the question was not answered."),
        ("Numbers and dates", "Numbers within the range shown in the header's note; dates "
                              "as YYYY-MM-DD."),
        ("Skipped questions", "A question asked only for some answers (its note says when) "
                              "must be blank otherwise."),
        ("complete", "yes if the respondent finished, no if not (blank means yes)."),
        ("submitted_at", "The date the form was filled in (optional)."),
    ]
    if personal:
        lines.append(("Personal data", f"Not on this form: {', '.join(personal)} (collected "
                      "only for follow-up and never stored by evalkit)."))
    grids = [i.code for i in instrument.items if i.type == "rating_grid"]
    if grids:
        lines.append(("Organizations", "Columns ITEM[ORG_ID] rate one organization each; "
                      "leave an organization blank if the respondent does not know it."))
    lines += [
        ("", ""),
        ("Submit", f"evalkit submit {path.name} --site {site} --wave {wave} "
                   f"--instrument {instrument.id}"),
        ("", "The whole file is checked; any problem rejects it and a validation report "
             "lists each one by row and column."),
    ]
    for r, (key, value) in enumerate(lines, start=1):
        guide.cell(r, 1, key).font = bold
        guide.cell(r, 2, value).alignment = Alignment(wrap_text=True, vertical="top")
    guide.cell(1, 1).font = Font(bold=True, size=14)
    guide.column_dimensions["A"].width = 22
    guide.column_dimensions["B"].width = 100
    start = len(lines) + 2
    guide.cell(start, 1, "Column").font = bold
    guide.cell(start, 2, "Question").font = bold
    for r, (j, name) in enumerate(enumerate(columns, start=1), start=start + 1):
        guide.cell(r, 1, name)
        text = ws.cell(1, j).comment.text
        guide.cell(r, 2, text.replace("\n", "  ")).alignment = Alignment(wrap_text=True)
    if not lists:
        codes_ws.cell(1, 1, "This instrument has no closed questions.")

    # Mark the data sheet, so `submit` reads it although the other sheets hold text.
    ref = f"{quote_sheetname(FORM_SHEETS[0])}!$A$1:${get_column_letter(len(columns))}${last}"
    book.defined_names[RESPONSES_NAME] = DefinedName(RESPONSES_NAME, attr_text=ref)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path
