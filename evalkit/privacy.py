"""Scrubbing personal data out of free text.

Used twice: at ingest, every free-text answer loses emails, phone numbers and street
addresses before it reaches the store (:func:`evalkit.store.ingest`); before a quote is put
in a result table, names from the project's names list and organization names go too.

Examples
--------
>>> from evalkit.privacy import scrub
>>> scrub("Call Rosa at (555) 201-3344 or rosa+help@example.org", names=["Rosa Delgado"])
'Call [name] at [phone] or [email]'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

NAME = "[name]"
ORGANIZATION = "[organization]"
EMAIL = "[email]"
PHONE = "[phone]"
ADDRESS = "[address]"
MARKERS = (NAME, ORGANIZATION, EMAIL, PHONE, ADDRESS)

#: Given names and surnames that are also everyday English words. They are scrubbed only
#: when written with a capital letter ("Hope called" but not "I hope so"); a capital at the
#: start of a sentence is still scrubbed, erring on the side of privacy.
COMMON_WORD_NAMES = frozenset("""
amber angel april art august autumn bell bill black brown bud buck chance charity chase
cook crystal daisy dale dawn dean don dot drew earl faith fern ford frank gene gift glen
grace green guy hazel heather holly honor hope hunter iris ivy jack jay jewel joy june
king lane lily long mark mason may miles miller penny pat patience pearl price rich river
robin rock rose ruby rusty sandy skip sky star stone storm summer sunny sue tad terry
victory violet wade ward will wren young
""".split())
_MONTHS = frozenset({"april", "may", "june", "august"})
_PARTICLES = frozenset({"de", "del", "della", "la", "le", "los", "las", "da", "das", "do",
                        "dos", "di", "du", "van", "von", "der", "den", "ter", "y", "e", "al",
                        "bin", "ibn", "st", "jr", "sr", "ii", "iii", "iv", "mc", "mac"})
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_DASH = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_SEP = f"[\\s.{_DASH}]*"

_EMAIL = re.compile(
    r"(?<![\w.+-])[\w.+-]+\s*(?:@|\(at\)|\[at\])\s*[\w-]+"
    r"(?:\s*(?:\.|\(dot\)|\[dot\])\s*[\w-]+)*\s*(?:\.|\(dot\)|\[dot\])\s*[^\W\d_]{2,}\b",
    re.IGNORECASE)
_PHONE = re.compile(
    rf"(?<![\w+])(?:"
    rf"\+\d{{1,3}}{_SEP}(?:\(\d{{1,4}}\){_SEP})?\d{{1,4}}(?:{_SEP}\d{{2,4}}){{1,4}}"
    rf"|(?:1{_SEP})?(?:\(\d{{3}}\)|\d{{3}}){_SEP}\d{{3}}{_SEP}\d{{4}}"
    rf"|\d{{3}}[.{_DASH}]\d{{4}}"
    rf")(?:\s*(?:x|ext\.?|extension)\s*\d{{1,5}})?(?!\w)",
    re.IGNORECASE)
_UPPER = "A-ZÀ-ÖØ-Þ"
_SUFFIX = ("Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|"
           "Way|Terrace|Ter|Circle|Cir|Highway|Hwy|Parkway|Pkwy|Square|Sq|Trail|Trl|Row|Alley")
_UNIT = r"(?:,?\s*(?:Apt|Apartment|Unit|Suite|Ste|#)\.?\s*#?[\w-]+)?"
_ADDRESSES = [
    re.compile(rf"(?<!\w)\d{{1,6}}[A-Za-z]?\s+(?:(?:[NSEW]\.?|North|South|East|West)\s+)?"
               rf"(?:(?:\d+(?:st|nd|rd|th)|[{_UPPER}][\w'’.-]*)\s+){{1,4}}(?:{_SUFFIX})\b\.?"
               + _UNIT),
    re.compile(r"(?<!\w)\d{1,6}\s+(?:[a-z][\w'’-]*\s+){1,2}"
               r"(?:street|avenue|road|boulevard|lane|drive)\b" + _UNIT),
    re.compile(rf"\b(?:Calle|Avenida|Av\.|Rua|Rue)\s+(?:[{_UPPER}][\w'’.-]*\s+){{1,3}}"
               r"(?:#\s*)?\d{1,5}\b" + _UNIT),
    re.compile(r"\bP\.?\s?O\.?\s+Box\s+\d+\b", re.IGNORECASE),
]


def _fold(text: str) -> str:
    """Accent-free, same-length copy of ``text`` (so match positions map back)."""
    out = []
    for ch in text:
        if ch in "’‘`´":
            out.append("'")
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch)
                       if not unicodedata.combining(c))
        out.append(base if len(base) == 1 else ch)
    return "".join(out)


def _fold_name(name: str) -> str:
    return "".join(_fold(unicodedata.normalize("NFC", name)).split())


def _phrase(name: str) -> str:
    words = _fold(unicodedata.normalize("NFC", name)).split()
    return r"\s+".join(re.escape(w) for w in words)


def _clean(text: str) -> str:
    return unicodedata.normalize("NFC", text).translate(_INVISIBLE)


@dataclass(frozen=True)
class Scrubber:
    """A compiled scrubber for a fixed list of names and organization names.

    Build it once and call it on every comment; :func:`scrub` builds one per call.
    """

    names: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()
    _patterns: tuple[tuple[re.Pattern[str], str, bool], ...] = field(
        default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_patterns", tuple(_compile(self.names, self.organizations)))

    def __call__(self, text: str) -> str:
        """Return ``text`` with personal data replaced by markers such as ``[email]``."""
        if not isinstance(text, str):
            return text
        original, text = text, _clean(text)
        text = _EMAIL.sub(EMAIL, text)
        text = _PHONE.sub(PHONE, text)
        for pattern in _ADDRESSES:
            text = pattern.sub(ADDRESS, text)
        for pattern, marker, capital_only in self._patterns:
            text = _replace_names(text, pattern, marker, capital_only)
        if text == _clean(original):
            # Nothing personal found: keep the text exactly as written (invisible characters
            # are only removed for matching, e.g. the joiners inside emoji must stay).
            return original
        return text


def _compile(names: Iterable[str], organizations: Iterable[str]
             ) -> list[tuple[re.Pattern[str], str, bool]]:
    orgs = {_phrase(o) for o in organizations if isinstance(o, str) and o.strip()}
    full: set[str] = set()
    tokens: set[str] = set()
    common: set[str] = set()
    for name in names:
        if not isinstance(name, str) or not name.strip():
            continue
        words = name.split()
        if len(words) > 1:
            full.add(_phrase(name))
        for word in words:
            word = word.strip(".,;:()\"'")
            key = _fold_name(word).casefold()
            if len(key) < 2 or key in _PARTICLES:
                continue
            (common if key in COMMON_WORD_NAMES else tokens).add(re.escape(_fold_name(word)))
    out = []
    for group, marker, capital_only in ((orgs, ORGANIZATION, False), (full, NAME, False),
                                        (tokens, NAME, False), (common, NAME, True)):
        if group:
            alternation = "|".join(sorted(group, key=lambda p: (-len(p), p)))
            out.append((re.compile(rf"(?<![\w@])(?:{alternation})(?![\w@])", re.IGNORECASE),
                        marker, capital_only))
    return out


def _replace_names(text: str, pattern: re.Pattern[str], marker: str,
                   capital_only: bool) -> str:
    folded = _fold(text)
    pieces, last = [], 0
    for m in pattern.finditer(folded):
        start, end = m.span()
        if capital_only:
            if not text[start].isupper():
                continue
            after = text[end:end + 4]
            if m.group(0).casefold() in _MONTHS and re.match(r"\s+\d", after):
                continue  # "May 5" is a date, not a person
        pieces.append(text[last:start])
        pieces.append(marker)
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def scrub(text: str, *, names: Iterable[str] = (), organizations: Iterable[str] = ()) -> str:
    """Replace personal data in free text with markers.

    Emails (plus-addresses and ``(at)`` spellings included) become ``[email]``, phone
    numbers in common North American and international formats ``[phone]``, street
    addresses and PO boxes ``[address]``, organization names ``[organization]`` and
    people's names ``[name]``. Matching ignores case and accents (``Jose`` matches
    ``José``); zero-width characters are removed first so they cannot hide a name or an
    address. Each part of a full name is scrubbed on its own too ("Maria" of "Maria
    López"). Names that are also common words (see :data:`COMMON_WORD_NAMES`) are scrubbed
    only when capitalized.

    Parameters
    ----------
    text
        The free text.
    names
        People's names to remove (participants, staff); the store holds none, so pass them.
    organizations
        Organization names to remove.

    Returns
    -------
    str
        The scrubbed text (Unicode NFC).

    Examples
    --------
    >>> scrub("Call Hope at (555) 123-4567 or hope+care@example.org, I hope she answers",
    ...       names=["Hope Rivera"])
    'Call [name] at [phone] or [email], I hope she answers'
    >>> scrub("José Núñez lives at 12 Elm Street, Apt 3", names=["Jose Nunez"])
    '[name] lives at [address]'
    """
    return Scrubber(tuple(names), tuple(organizations))(text)
