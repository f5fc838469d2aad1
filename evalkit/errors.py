"""The errors evalkit raises for anything a user can cause.

Every message names the file, key, row or parameter at fault, what was expected and what
was received. The CLI prints the message (no traceback) and exits non-zero.

Examples
--------
>>> from evalkit.errors import ConfigError, EvalkitError
>>> issubclass(ConfigError, EvalkitError)
True
"""

from __future__ import annotations

__all__ = ["EvalkitError", "ConfigError", "IngestError", "AnalysisError", "RenderError"]


class EvalkitError(Exception):
    """Base class of every error evalkit raises on purpose."""


class ConfigError(EvalkitError):
    """A project configuration, instrument or analysis plan file is invalid."""


class IngestError(EvalkitError):
    """Data could not be ingested; the store was left unchanged."""


class AnalysisError(EvalkitError):
    """An analysis cannot run on the data it was given."""


class RenderError(EvalkitError):
    """A report document could not be rendered."""
