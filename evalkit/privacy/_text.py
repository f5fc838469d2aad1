"""Text normalisation shared by the detectors: every match on a folded copy maps back."""

from __future__ import annotations

import unicodedata

INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
DASH = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"


def fold(text: str) -> str:
    """Accent-free, same-length copy of ``text`` (so match positions map back).

    Each character becomes its compatibility base letter when that is a single character:
    accents go (``é`` -> ``e``), full-width forms become ASCII (``＠`` -> ``@``, ``５`` ->
    ``5``) and curly apostrophes become ``'``.

    >>> fold("José＠ｅｘａｍｐｌｅ．org")
    'Jose@example.org'
    """
    out = []
    for ch in text:
        if ch in "’‘`´":
            out.append("'")
            continue
        if ch.isascii():
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch)
                       if not unicodedata.combining(c))
        out.append(base if len(base) == 1 else ch)
    return "".join(out)


def clean(text: str) -> str:
    """``text`` in Unicode NFC without zero-width characters (which could hide a match)."""
    return unicodedata.normalize("NFC", text).translate(INVISIBLE)
