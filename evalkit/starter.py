"""A commented starter instrument file, for ``evalkit surveys new``.

The starter shows every kind of item once (Likert with a reverse-keyed statement, single
choice, number, free text, personal data) and one scale, with comments that say what each
key does; it validates as it is, so a person edits it into their own instrument step by
step and checks it with ``evalkit surveys validate``. Its first line names the JSON Schema
(:data:`evalkit.instruments.SCHEMA_FILE`) so editors with the YAML language server
complete and check keys while typing.

Examples
--------
>>> from evalkit.starter import starter_instrument
>>> text = starter_instrument("wellbeing", title="Staff wellbeing", scale="agree5")
>>> text.splitlines()[0]
'# yaml-language-server: $schema=instrument.schema.json'
>>> import yaml
>>> from evalkit.instruments import Instrument
>>> inst = Instrument.model_validate(yaml.safe_load(text))
>>> inst.id, [i.code for i in inst.items][:3], inst.scale("total").items
('wellbeing', ['WEL01', 'WEL02', 'WEL03'], ('WEL01', 'WEL02', 'WEL03'))
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from evalkit.errors import ConfigError
from evalkit.instruments import SCHEMA_FILE, Instrument

__all__ = ["RESPONSE_SCALES", "starter_instrument", "write_starter"]

#: Response scales a starter can begin with (``--scale``): name -> codes and labels.
RESPONSE_SCALES: dict[str, dict[int, str]] = {
    "agree5": {1: "Strongly disagree", 2: "Disagree", 3: "Neither agree nor disagree",
               4: "Agree", 5: "Strongly agree"},
    "agree4": {1: "Strongly disagree", 2: "Disagree", 3: "Agree", 4: "Strongly agree"},
    "frequency5": {1: "Never", 2: "Rarely", 3: "Sometimes", 4: "Often", 5: "Always"},
    "satisfaction5": {1: "Very dissatisfied", 2: "Dissatisfied",
                      3: "Neither satisfied nor dissatisfied", 4: "Satisfied",
                      5: "Very satisfied"},
    "quality5": {1: "Poor", 2: "Fair", 3: "Good", 4: "Very good", 5: "Excellent"},
    "level4": {1: "Not at all", 2: "A little", 3: "Fairly", 4: "Very"},
}

_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RESPONDENTS = ("participant", "organization", "community")


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def _prefix(instrument_id: str) -> str:
    words = [w for w in instrument_id.split("_") if w]
    if len(words) > 1:
        return "".join(w[0] for w in words).upper()[:4]
    return instrument_id[:3].upper()


def starter_instrument(instrument_id: str, *, title: str, scale: str = "agree5",
                       respondent: str = "participant",
                       schema: str = SCHEMA_FILE) -> str:
    """The text of a commented, valid starter instrument.

    Parameters
    ----------
    instrument_id
        The instrument id (letters, digits and ``_``, starting with a letter).
    title
        Its title.
    scale
        One of :data:`RESPONSE_SCALES`, the response scale of the Likert items.
    respondent
        ``participant``, ``organization`` or ``community``.
    schema
        Path of the JSON Schema relative to the file, for the ``$schema`` first line.

    Raises
    ------
    ConfigError
        An invalid id, an unknown scale or respondent, or an empty title.
    """
    if not _ID.match(instrument_id):
        raise ConfigError(f"INSTRUMENT_ID: {instrument_id!r} is not an instrument id; use letters, "
                          "digits and _, starting with a letter (e.g. staff_wellbeing)")
    if scale not in RESPONSE_SCALES:
        raise ConfigError(f"--scale: expected one of {sorted(RESPONSE_SCALES)}, got {scale!r}")
    if respondent not in _RESPONDENTS:
        raise ConfigError(f"--respondent: expected one of {list(_RESPONDENTS)}, got "
                          f"{respondent!r}")
    if not title.strip():
        raise ConfigError("--title: expected the instrument's title, got an empty text")
    p = _prefix(instrument_id)
    one_line = " ".join(title.split())
    codes = ", ".join(f"{c}: {_q(label)}" for c, label in RESPONSE_SCALES[scale].items())
    lines = [
        f"# yaml-language-server: $schema={schema}",
        f"# {one_line}: an evalkit instrument. Replace the example items with your own;",
        "# docs/instruments.md explains every key. Check the file with",
        f"#   evalkit surveys validate surveys/{instrument_id}.yaml",
        "# and list it in evalkit.yml under instruments: with the waves it is asked at.",
        f"id: {instrument_id}",
        'version: "1.0"  # in quotes; change it when the wording changes',
        f"title: {_q(title)}",
        f"respondent: {respondent}  # participant | organization | community",
        "description: >",
        "  One or two sentences shown to respondents before the first question.",
        "",
        "response_scales:",
        f"  {scale}:  # the name Likert items give in response_scale:",
        f"    codes: {{{codes}}}",
        "",
        "items:",
        "  # Likert statements on the scale above, one column each in site files. A",
        "  # negatively worded statement is reverse: true (scored as min + max - answer).",
        f"  - {{code: {p}01, type: likert, response_scale: {scale}, domain: example, "
        f"text: {_q('Replace with your first statement.')}}}",
        f"  - {{code: {p}02, type: likert, response_scale: {scale}, domain: example, "
        f"text: {_q('Replace with your second statement.')}}}",
        f"  - {{code: {p}03, type: likert, response_scale: {scale}, domain: example, "
        f"reverse: true, text: {_q('Replace with a negatively worded statement.')}}}",
        "  # Single choice: options are code: label. A later item can be asked only for",
        "  # some answers with shown_if (e.g. shown_if: \"role == 2\").",
        "  - {code: role, type: single, options: {1: \"Leadership\", 2: \"Front-line staff\", "
        "3: \"Other\"}, text: \"Which best describes your role?\"}",
        "  # A number, with the range accepted.",
        "  - {code: hours, type: numeric, min: 0, max: 60, text: \"About how many hours a "
        "month do you spend on the shared work?\"}",
        "  # Free text: never exported; reports quote it only after scrubbing personal data.",
        "  - {code: COMMENT, type: text, text: \"Anything else you would like to tell us?\"}",
        "  # Personal data for follow-up only: dropped at ingest, never stored, scored or",
        "  # exported.",
        "  - {code: contact_email, type: text, personal: true, text: \"Your email, if you "
        "would like us to follow up (optional).\"}",
        "",
        "scales:",
        "  # A score: the mean (or sum) of the answered items after reverse keying; missing",
        "  # when fewer than min_items were answered. Plans and exports name it by id.",
        f"  - {{id: total, label: {_q(title + ' (all statements)')}, method: mean, "
        f"min_items: 2, items: [{p}01, {p}02, {p}03]}}",
        "",
    ]
    return "\n".join(lines)


def write_starter(path: str | Path, instrument_id: str, *, title: str, scale: str = "agree5",
                  respondent: str = "participant", schema: str = SCHEMA_FILE,
                  force: bool = False) -> Instrument:
    """Write :func:`starter_instrument` to ``path`` (refusing to overwrite unless ``force``)
    and return it validated."""
    import yaml

    path = Path(path)
    if path.exists() and not force:
        raise ConfigError(f"{path}: already exists; choose another ID or --out, or pass "
                          "--force to overwrite it")
    text = starter_instrument(instrument_id, title=title, scale=scale, respondent=respondent,
                              schema=schema)
    instrument = Instrument.model_validate(yaml.safe_load(text))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return instrument
