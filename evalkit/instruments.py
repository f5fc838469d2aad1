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
    "load_instrument",
    "load_instruments",
]

ItemType = Literal["likert", "single", "multiple", "numeric", "text", "date", "rating_grid"]
Respondent = Literal["participant", "organization", "community"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
            if item.type == "likert":
                if item.response_scale not in self.response_scales:
                    raise ValueError(
                        f"items[{idx}] ({item.code}).response_scale: expected one of "
                        f"{sorted(self.response_scales)}, got {item.response_scale!r}"
                    )
            if item.type in ("single", "multiple") and not item.options:
                raise ValueError(f"items[{idx}] ({item.code}).options: required for {item.type}")
        by_code = {i.code: i for i in self.items}
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
