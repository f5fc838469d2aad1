"""Survey instruments as data: items, response scales and scoring rules from ``surveys/*.yaml``.

Examples
--------
>>> from evalkit.instruments import load_instrument
>>> from evalkit._assets import asset_path
>>> psa = load_instrument(asset_path("surveys") / "partnership_self_assessment.yaml")
>>> psa.id, len(psa.items), psa.scale("total").method
('partnership', 24, 'mean')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evalkit._yaml import load_model
from evalkit.errors import ConfigError

__all__ = [
    "ItemType",
    "ResponseScale",
    "Item",
    "Scale",
    "Instrument",
    "Condition",
    "parse_condition",
    "load_instrument",
    "load_instruments",
    "SCHEMA_FILE",
    "instrument_json_schema",
    "instrument_schema_text",
]

ItemType = Literal["likert", "single", "multiple", "numeric", "text", "date", "rating_grid"]
Respondent = Literal["participant", "organization", "community"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Skip conditions ------------------------------------------------------------------------
_COMPARISON = re.compile(
    r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*(==|!=|<=|>=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$"
)
_OPS = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True)
class Condition:
    """One comparison of a skip condition: ``item op value`` (e.g. ``language == 3``)."""

    item: str
    op: str
    value: float

    def holds(self, answer: float | None) -> bool:
        """Whether the comparison is true; an unanswered item makes it false."""
        if answer is None or answer != answer:  # None or NaN
            return False
        return bool(_OPS[self.op](float(answer), self.value))


def parse_condition(text: str) -> tuple[tuple[Condition, ...], ...]:
    """Parse a skip condition into alternatives (``or``) of comparisons (``and``).

    The grammar is deliberately small so that every condition can be checked here and
    translated to LimeSurvey's relevance equations: ``ITEM OP NUMBER`` joined by ``and`` /
    ``or`` (``and`` binds tighter), with ``OP`` one of ``== != < <= > >=``.

    Examples
    --------
    >>> parse_condition("language == 3")
    ((Condition(item='language', op='==', value=3.0),),)
    >>> len(parse_condition("Q1 >= 4 and Q2 == 1 or Q3 < 2"))
    2
    """
    alternatives = []
    for alt in re.split(r"\s+or\s+", text.strip()):
        parts = []
        for part in re.split(r"\s+and\s+", alt):
            m = _COMPARISON.match(part)
            if not m:
                raise ValueError(
                    f"cannot read {part.strip()!r} in skip condition {text!r}; expected "
                    "ITEM OP NUMBER (OP one of == != < <= > >=) joined by 'and' / 'or'"
                )
            parts.append(Condition(m.group(1), m.group(2), float(m.group(3))))
        alternatives.append(tuple(parts))
    return tuple(alternatives)


class ResponseScale(_Strict):
    """Codes and labels of a closed response scale (e.g. 1 = Strongly disagree ... 5)."""

    codes: dict[int, str] = Field(min_length=2)

    @property
    def min(self) -> int:
        return min(self.codes)

    @property
    def max(self) -> int:
        return max(self.codes)


class Item(_Strict):
    code: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    text: str
    type: ItemType
    response_scale: str | None = None
    reverse: bool = False
    domain: str | None = None
    personal: bool = False
    required: bool = False
    shown_if: str | None = None  # skip condition, e.g. "Q3 == 1"
    options: dict[int, str] | None = None  # for single / multiple choice
    min: float | None = None
    max: float | None = None


class Scale(_Strict):
    id: str
    label: str
    items: tuple[str, ...] = Field(min_length=1)
    method: Literal["mean", "sum"] = "mean"
    min_items: int = Field(ge=1)


class Instrument(_Strict):
    """A validated survey instrument."""

    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    version: str
    title: str
    respondent: Respondent
    description: str = ""
    response_scales: dict[str, ResponseScale] = {}
    items: tuple[Item, ...] = Field(min_length=1)
    scales: tuple[Scale, ...] = ()
    linkage_code: str | None = None  # item holding a self-generated identification code

    @model_validator(mode="after")
    def _references(self) -> Instrument:
        codes = [i.code for i in self.items]
        seen: set[str] = set()
        for idx, c in enumerate(codes):
            if c in seen:
                raise ValueError(f"items[{idx}].code: duplicate item code {c!r}")
            seen.add(c)
        for idx, item in enumerate(self.items):
            if item.type in ("likert", "rating_grid"):
                if item.response_scale not in self.response_scales:
                    raise ValueError(
                        f"items[{idx}] ({item.code}).response_scale: expected one of "
                        f"{sorted(self.response_scales)}, got {item.response_scale!r}"
                    )
            if item.type in ("single", "multiple") and not item.options:
                raise ValueError(f"items[{idx}] ({item.code}).options: required for {item.type}")
        by_code = {i.code: i for i in self.items}
        for idx, item in enumerate(self.items):
            if item.shown_if is not None:
                self._check_condition(idx, item, by_code, codes[:idx])
        for sidx, scale in enumerate(self.scales):
            for code in scale.items:
                if code not in by_code:
                    raise ValueError(
                        f"scales[{sidx}] ({scale.id}).items: {code!r} is not an item code"
                    )
                if by_code[code].personal:
                    raise ValueError(
                        f"scales[{sidx}] ({scale.id}).items: {code!r} is personal data "
                        "and cannot be scored"
                    )
            if scale.min_items > len(scale.items):
                raise ValueError(
                    f"scales[{sidx}] ({scale.id}).min_items: {scale.min_items} is more than "
                    f"its {len(scale.items)} items"
                )
        return self

    def _check_condition(self, idx: int, item: Item, by_code: Mapping[str, Item],
                         earlier: list[str]) -> None:
        where = f"items[{idx}] ({item.code}).shown_if"
        try:
            alternatives = parse_condition(item.shown_if or "")
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        for cond in (c for alt in alternatives for c in alt):
            if cond.item not in by_code:
                raise ValueError(f"{where}: {cond.item!r} is not an item code")
            if cond.item not in earlier:
                raise ValueError(
                    f"{where}: {cond.item!r} must come before {item.code!r} in the items"
                )
            ref = by_code[cond.item]
            if ref.type not in ("likert", "single", "numeric"):
                raise ValueError(
                    f"{where}: {cond.item!r} is a {ref.type} item; conditions can only test "
                    "likert, single or numeric items"
                )
            allowed = self.answer_codes(ref.code)
            if cond.op in ("==", "!=") and allowed is not None and cond.value not in allowed:
                raise ValueError(
                    f"{where}: {cond.value:g} is not a code of {cond.item!r}; codes are "
                    f"{sorted(allowed)}"
                )

    def answer_codes(self, code: str) -> dict[int, str] | None:
        """Codes and labels of a closed item (Likert scale or options); None otherwise."""
        item = self.item(code)
        if item.type in ("likert", "rating_grid") and item.response_scale:
            return dict(self.response_scales[item.response_scale].codes)
        if item.options:
            return dict(item.options)
        return None

    def is_shown(self, code: str, answers: Mapping[str, float | None]) -> bool:
        """Whether item ``code`` is asked, given the numeric answers to earlier items."""
        item = self.item(code)
        if item.shown_if is None:
            return True
        return any(all(c.holds(answers.get(c.item)) for c in alt)
                   for alt in parse_condition(item.shown_if))

    def item(self, code: str) -> Item:
        for i in self.items:
            if i.code == code:
                return i
        raise ConfigError(f"instrument {self.id!r}: no item {code!r}")

    def scale(self, scale_id: str) -> Scale:
        for s in self.scales:
            if s.id == scale_id:
                return s
        raise ConfigError(
            f"instrument {self.id!r}: no scale {scale_id!r}; scales are "
            f"{[s.id for s in self.scales]}"
        )

    @property
    def personal_items(self) -> frozenset[str]:
        return frozenset(i.code for i in self.items if i.personal)

    def item_range(self, code: str) -> tuple[int, int] | None:
        """Minimum and maximum code of a Likert item's response scale."""
        item = self.item(code)
        if item.response_scale is None:
            return None
        rs = self.response_scales[item.response_scale]
        return rs.min, rs.max


def load_instrument(path: str | Path) -> Instrument:
    """Read and validate one instrument file; errors name the file and key."""
    return load_model(Path(path), Instrument)


def load_instruments(folder: str | Path) -> dict[str, Instrument]:
    """Load every ``*.yaml`` instrument in ``folder``, keyed by instrument id."""
    out: dict[str, Instrument] = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        inst = load_instrument(path)
        if inst.id in out:
            raise ConfigError(f"{path}: id: instrument id {inst.id!r} is used by another file")
        out[inst.id] = inst
    return out


# JSON Schema ------------------------------------------------------------------------------
#: File name of the instruments' JSON Schema, shipped beside the instruments in ``surveys/``
#: and named by the first line of each: ``# yaml-language-server: $schema=instrument.schema.json``.
SCHEMA_FILE = "instrument.schema.json"

_CODE_KEYS = {"pattern": r"^-?[0-9]+$"}
_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "Instrument": {
        "": "An evalkit survey instrument: its items, response scales and scoring rules "
            "(docs/instruments.md).",
        "id": "The instrument id, as evalkit.yml names it under instruments: (letters, "
              "digits, _; starts with a letter).",
        "version": "Version of the instrument text, in quotes (\"1.0\"); change it when "
                   "wording changes.",
        "title": "Title shown to respondents and in reports.",
        "respondent": "Who answers: participant (a site-team member), organization (one "
                      "answer per partner organization) or community (anonymous residents "
                      "or clients; open survey).",
        "description": "Introduction shown to respondents.",
        "response_scales": "Named closed scales, e.g. agree5: {codes: {1: Strongly "
                           "disagree, ..., 5: Strongly agree}}; likert and rating_grid items "
                           "name one.",
        "items": "The questions, in the order they are asked.",
        "scales": "Scores computed from items (mean or sum, reverse items recoded).",
        "linkage_code": "Code of a text item holding a self-generated identification code "
                        "(community surveys): hashed into a pseudonymous id, never stored.",
    },
    "ResponseScale": {
        "codes": "Answer code (a whole number) -> label, at least two; reverse keying "
                 "recodes a value v as min + max - v.",
    },
    "Item": {
        "": "One question. Its code is the column header in site files and the variable "
            "name in exports.",
        "code": "Item code: letters, digits and _, starting with a letter (PSA01).",
        "text": "The question or statement as respondents read it.",
        "type": "likert (a response scale), single / multiple (options), numeric (min/max), "
                "text, date (YYYY-MM-DD), rating_grid (one row per partner organization, "
                "a response scale).",
        "response_scale": "Name of a response_scales entry; required for likert and "
                          "rating_grid items.",
        "reverse": "Reverse-keyed: recoded as min + max - value before scoring.",
        "domain": "Optional group name; consecutive likert items of one domain and scale "
                  "become one LimeSurvey array question.",
        "personal": "Personal data (name, email...): collected for follow-up, dropped at "
                    "ingest, never stored, scored or exported.",
        "required": "The respondent must answer (when the item is shown).",
        "shown_if": "Skip condition on earlier items: ITEM OP NUMBER joined by and / or, "
                    "OP one of == != < <= > >= (language == 3).",
        "options": "Answer code -> label of a single or multiple choice item.",
        "min": "Smallest accepted value of a numeric item.",
        "max": "Largest accepted value of a numeric item.",
    },
    "Scale": {
        "": "A score computed from items.",
        "id": "Scale id, used in analyses/plan.yml and as the export's column name.",
        "label": "Name of the scale in reports.",
        "items": "Codes of the items scored (not personal items).",
        "method": "mean (default) or sum of the answered items (after reverse keying).",
        "min_items": "Fewest answered items for a score; fewer leave it missing.",
    },
}


def instrument_json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of an instrument file, from the pydantic models.

    It checks the shape of a file (keys, types, patterns) as an editor can; the
    cross-references (an item's scale exists, a scale's items exist, skip conditions) are
    checked by :func:`load_instrument`. Answer-code keys are whole numbers written as YAML
    keys (``1: Strongly disagree``).

    Examples
    --------
    >>> schema = instrument_json_schema()
    >>> schema["required"]
    ['id', 'version', 'title', 'respondent', 'items']
    >>> schema["$defs"]["Item"]["properties"]["type"]["enum"][:3]
    ['likert', 'single', 'multiple']
    """
    schema = Instrument.model_json_schema()
    defs = schema.setdefault("$defs", {})
    for name, fields in _DESCRIPTIONS.items():
        target = schema if name == "Instrument" else defs[name]
        for key, text in fields.items():
            if key == "":
                target["description"] = text
            else:
                target["properties"][key]["description"] = text
    defs["ResponseScale"]["properties"]["codes"]["propertyNames"] = dict(_CODE_KEYS)
    options = defs["Item"]["properties"]["options"]["anyOf"][0]
    options["propertyNames"] = dict(_CODE_KEYS)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def instrument_schema_text() -> str:
    """The shipped ``surveys/instrument.schema.json``: :func:`instrument_json_schema` as
    indented JSON. Regenerate the file after changing the models::

        python -c "from evalkit.instruments import instrument_schema_text as t; \\
        open('surveys/instrument.schema.json', 'w').write(t())"
    """
    import json

    return json.dumps(instrument_json_schema(), indent=2, ensure_ascii=False) + "\n"
