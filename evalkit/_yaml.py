"""Load a YAML file into a pydantic model, with errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from evalkit.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _key_path(loc: tuple[object, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def format_validation_error(source: str, err: ValidationError) -> str:
    """Render every pydantic error as ``source: key: message (got value)`` lines."""
    lines = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if p not in ("function-after", "function-before"))
        got = e.get("input")
        shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
        msg = e["msg"].removeprefix("Value error, ")
        key = f"{_key_path(loc)}: " if loc else ""
        lines.append(f"{source}: {key}{msg}{shown}")
    return "\n".join(lines)


def read_yaml(path: Path) -> object:
    """Parse a YAML file, raising :class:`ConfigError` naming the file and line on failure."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML: {exc}") from None


def load_model(path: Path, model: type[M], *, context: dict | None = None) -> M:
    """Read ``path`` and validate it as ``model``; errors name the file and every bad key."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level, got {data!r}")
    try:
        return model.model_validate(data, context=context)
    except ValidationError as err:
        raise ConfigError(format_validation_error(str(path), err)) from None
