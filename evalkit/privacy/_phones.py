"""Phone numbers through Google's libphonenumber (the ``phonenumbers`` package).

A number is found when ``phonenumbers`` finds it possible in the project's default region
(``privacy.default_region``, US unless set), valid in one of :data:`PHONE_REGIONS`, or
written internationally (``+44 ...``, ``0044 ...``). A few layouts that people use to get
past filters are caught by pattern as well: digits spaced one by one, US numbers in
fictional 555 ranges (which ``phonenumbers`` calls impossible) and seven-digit local numbers.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher

from evalkit.privacy._text import DASH

Hit = tuple[int, int, str]

DEFAULT_REGION = "US"
#: Regions whose national formats are recognised besides the default region (a number must
#: be valid there, not merely possible).
PHONE_REGIONS = ("GB", "CA", "MX", "FR", "DE", "ES", "IT", "NL", "IE", "IN", "BR", "AU", "NZ",
                 "ZA", "NG", "KE", "PH", "PK", "CN", "JP", "KR", "VN", "SO", "ET", "HT", "SV",
                 "GT", "HN", "CO", "PE", "AR", "CL")

_SEP = f"[\\s.{DASH}]*"
_US = re.compile(
    rf"(?<![\w+])(?:"
    rf"\+\d{{1,3}}{_SEP}(?:\(\d{{1,4}}\){_SEP})?\d{{1,4}}(?:{_SEP}\d{{2,4}}){{1,4}}"
    rf"|(?:1{_SEP})?(?:\(\d{{3}}\)|\d{{3}}){_SEP}\d{{3}}{_SEP}\d{{4}}"
    rf"|\d{{3}}[.{DASH}]\d{{4}}"
    rf")(?:\s*(?:x|ext\.?|extension)\s*\d{{1,5}})?(?!\w)",
    re.IGNORECASE)
_SPACED = re.compile(rf"(?<![\w+])\+?(?:\d[\s.{DASH}/]){{8,14}}\d(?!\w)")
_EXT = re.compile(r"\s*(?:x|ext\.?|extension)\s*\d{1,5}(?!\w)", re.IGNORECASE)
_DIGITS = re.compile(r"\d")
_YEARS = re.compile(rf"^\(?(?:19|20)\d{{2}}\)?\s*[{DASH}/to\s]+\s*\(?(?:19|20)?\d{{2}}\)?$")
_DATE_LIKE = re.compile(rf"^\d{{1,4}}[/.{DASH}]\d{{1,2}}[/.{DASH}]\d{{1,4}}$")
_NUMBER_LIKE = re.compile(r"^\$?\d{1,3}(?:,\d{3})+(?:\.\d+)?$|^\d+\.\d+$")
# "100-107", "80000-13": a range of two numbers, unless it is a 3-4 local number
_RANGE = re.compile(rf"^(?!\d{{3}}[{DASH}.]\d{{4}}$)\d{{1,5}}\s*[{DASH}]\s*\d{{1,5}}$")
_VERSION = re.compile(r"\b\d{1,2}\.\d{1,2}\.\d{1,2}\b")


_TOKEN_CHAR = re.compile(r"[0-9A-Za-z]")
_HEX_TOKEN = re.compile(r"^(?=.*[a-fA-F])[0-9a-fA-F]{8,}$")


def _in_hex_token(text: str, start: int, end: int) -> bool:
    """Whether the digits sit inside a longer hexadecimal token (a data hash such as
    ``f6c7e9592079``, a commit or a key fingerprint), which is not a phone number. A token
    with other letters (``at5551234567``) is still searched."""
    if not ((start > 0 and _TOKEN_CHAR.match(text[start - 1]))
            or (end < len(text) and _TOKEN_CHAR.match(text[end]))):
        return False
    a, b = start, end
    while a > 0 and _TOKEN_CHAR.match(text[a - 1]):
        a -= 1
    while b < len(text) and _TOKEN_CHAR.match(text[b]):
        b += 1
    return bool(_HEX_TOKEN.match(text[a:b]))


def _plausible(raw: str) -> bool:
    raw = raw.strip()
    return not (_YEARS.match(raw) or _DATE_LIKE.match(raw) or _NUMBER_LIKE.match(raw)
                or _RANGE.match(raw) or _VERSION.search(raw))


def find_phones(text: str, *, region: str = DEFAULT_REGION) -> list[Hit]:
    """Phone numbers in ``text`` (folded), any region; ``region`` is the default region."""
    if len(_DIGITS.findall(text)) < 7:
        return []
    out: list[Hit] = []
    region = region.upper()
    for where in (region, *(r for r in PHONE_REGIONS if r != region)):
        leniency = Leniency.POSSIBLE if where == region else Leniency.VALID
        for found in PhoneNumberMatcher(text, where, leniency=leniency):
            if _plausible(found.raw_string) and not _in_hex_token(text, found.start,
                                                                   found.end):
                ext = _EXT.match(text, found.end)
                out.append((found.start, ext.end() if ext else found.end, "phone"))
    for m in _US.finditer(text):
        if _plausible(m.group(0)):
            out.append((m.start(), m.end(), "phone"))
    for m in _SPACED.finditer(text):
        digits = "".join(_DIGITS.findall(m.group(0)))
        if _plausible(m.group(0)) and _possible_anywhere(digits, region):
            out.append((m.start(), m.end(), "phone"))
    return out


def _possible_anywhere(digits: str, region: str) -> bool:
    for where in (region, *PHONE_REGIONS):
        try:
            number = phonenumbers.parse(digits, where)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return True
    return False
