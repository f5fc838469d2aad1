"""Pseudonymous identity: stable ids made by a keyed hash, the key from an environment variable.

A participant is matched across waves by the same id, computed from their LimeSurvey token
or from the participant code a site gives them. Without the key the id cannot be traced
back to the code; with a different key the ids change, so the key must stay the same for
the whole evaluation (keep it in the team's password manager, not in the project folder).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

from evalkit.errors import ConfigError

__all__ = ["ID_KEY_ENV", "id_key", "key_fingerprint", "pseudonym", "participant_token",
           "normalize_code"]

#: The environment variable that holds the key of the keyed hash.
ID_KEY_ENV = "EVALKIT_ID_KEY"
_MIN_KEY_LENGTH = 16


def id_key(env: str = ID_KEY_ENV) -> bytes:
    """The key of the keyed hash, read from the environment variable ``env``.

    Raises
    ------
    ConfigError
        If the variable is unset or holds fewer than 16 non-blank characters.
    """
    value = os.environ.get(env, "")
    solid = sum(1 for ch in value if not ch.isspace())
    if solid < _MIN_KEY_LENGTH:
        if not value:
            got = "unset"
        elif solid < len(value):
            got = f"{len(value)} characters, only {solid} of them non-blank"
        else:
            got = f"{len(value)} characters"
        raise ConfigError(
            f"environment variable {env}: expected a secret of at least {_MIN_KEY_LENGTH} "
            f"characters (the key of the pseudonymous ids), got {got}"
        )
    return value.encode()


def key_fingerprint(key: bytes) -> str:
    """A fingerprint of the key, safe to store: the keyed hash of a constant, not the key.

    The store keeps it to notice a different key (which would give everyone new ids).

    Examples
    --------
    >>> key_fingerprint(b"0123456789abcdef")[:12]
    '094824a7775b'
    """
    return hmac.new(key, b"evalkit id-key fingerprint v1", hashlib.sha256).hexdigest()[:32]


def normalize_code(code: str) -> str:
    """Upper-case a code and drop spaces and punctuation (``"ma 05-a"`` -> ``"MA05A"``)."""
    return re.sub(r"[^0-9A-Z]", "", str(code).upper())


def _digest(key: bytes, *parts: str) -> bytes:
    return hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).digest()


def pseudonym(kind: str, value: str, *, key: bytes, scope: str = "") -> str:
    """A stable pseudonymous id: ``"P-"`` and 16 hex digits of HMAC-SHA256.

    Parameters
    ----------
    kind
        What ``value`` is (``"token"``, ``"code"``, ``"sgic"``); the same value of a different
        kind gives a different id.
    value
        The token or code.
    key
        From :func:`id_key`.
    scope
        Narrows the id, e.g. to a site, so equal codes at two sites stay apart.

    Examples
    --------
    >>> pseudonym("token", "tokS01ana", key=b"0123456789abcdef")
    'P-58eb9ab05eca7987'
    """
    return "P-" + _digest(key, "id", kind, scope, value).hex()[:16]


def participant_token(site: str, code: str, *, key: bytes) -> str:
    """The LimeSurvey token of a site's participant: the same in every wave's survey.

    15 characters of base32 (letters and digits 2-7), derived from the keyed hash, so the
    token is stable across surveys and reveals nothing about the code.
    """
    raw = _digest(key, "token", site, normalize_code(code))
    return base64.b32encode(raw).decode().lower()[:15]
