"""Pattern detectors: emails, national ids, dates of birth, street addresses, evalkit ids.

Every function takes the folded text (:func:`evalkit.privacy.fold`) and returns
``(start, end, kind)`` triples; positions are those of the original (cleaned) text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping

from evalkit.privacy._text import DASH

Hit = tuple[int, int, str]

# --------------------------------------------------------------------------- emails

_TLDS = ("com|org|net|edu|gov|mil|int|info|biz|io|co|us|uk|ca|au|nz|ie|de|fr|es|it|nl|be|ch|"
         "at|se|no|dk|fi|pl|pt|br|mx|ar|cl|in|pk|ng|ke|za|gh|ph|jp|cn|kr|ru|me|app|email|mail")
_PROVIDERS = "gmail|googlemail|yahoo|hotmail|outlook|icloud|aol|protonmail|proton|live|msn"
_AT_STRICT = r"(?:\s*@\s*|%40|\s*[(\[{<]\s*at\s*[)\]}>]\s*|\s*-at-\s*|_at_)"
_DOT_STRICT = r"(?:\s*\.\s*|%2e|\s*[(\[{<]\s*dot\s*[)\]}>]\s*|-dot-|_dot_)"
_AT_LOOSE = r"\s+at\s+"
_DOT_LOOSE = r"(?:\s+dot\s+|\s+\.\s+)"
_LOCAL = r"[\w+%'-]+"
_EMAILS = [
    # a real @ (also full-width, URL-encoded, bracketed or dashed "at")
    re.compile(rf"(?<![\w.+%-]){_LOCAL}(?:(?:{_DOT_STRICT}|{_DOT_LOOSE}){_LOCAL})*{_AT_STRICT}"
               rf"[\w-]+(?:(?:{_DOT_STRICT}|{_DOT_LOOSE})[\w-]+)*"
               rf"(?:{_DOT_STRICT}|{_DOT_LOOSE})[^\W\d_]{{2,}}\b", re.IGNORECASE),
    # a spelled-out " at ": the domain must end in a known top-level domain
    re.compile(rf"(?<![\w.+%-]){_LOCAL}(?:(?:{_DOT_STRICT}|{_DOT_LOOSE}){_LOCAL})*{_AT_LOOSE}"
               rf"[\w-]+(?:(?:{_DOT_STRICT}|{_DOT_LOOSE})[\w-]+)*"
               rf"(?:{_DOT_STRICT}|{_DOT_LOOSE})(?:{_TLDS})\b", re.IGNORECASE),
    # "jane.doe at gmail": a mail provider without its domain
    re.compile(rf"(?<![\w.+%-])[\w+%'-]*[._\d][\w+%'.-]*(?:{_AT_STRICT}|{_AT_LOOSE})"
               rf"(?:{_PROVIDERS})\b", re.IGNORECASE),
]


_KNOWN_TLD = re.compile(rf"(?:{_TLDS})$", re.IGNORECASE)


def find_emails(text: str) -> list[Hit]:
    """Email addresses, including spelled-out, full-width and URL-encoded forms.

    An address written with spaces (``ruth.k @ gmail . com``) must end in a known
    top-level domain, so ``legacy @asyncio.coroutine`` is not one.
    """
    out: list[Hit] = []
    for pattern in _EMAILS:
        for m in pattern.finditer(text):
            found = m.group(0)
            if not found[:1].isalnum() and not found[1:2].isalnum():
                continue  # "`@pytest.mark" is code, not an address
            tail = re.split(r"\W+", found.rstrip())[-1]
            if any(c.isspace() for c in found) and not (
                    _KNOWN_TLD.match(tail) or re.search(_PROVIDERS, tail, re.IGNORECASE)):
                continue
            out.append((m.start(), m.end(), "email"))
    return out


# --------------------------------------------------------------------------- evalkit ids

_SEP = f"[{DASH}_ ]?"
#: evalkit's pseudonymous ids: ``P-`` and 16 lower-case hex digits (``sources._identity``),
#: the demo's ``P-`` and 8 upper-case ones; any case, any dash, since people retype them.
_PARTICIPANT = re.compile(
    rf"(?<![\w{DASH}])P{_SEP}(?=[a-f]*\d)(?:[0-9a-f]{{16}}|[0-9a-f]{{8}})(?![\w{DASH}])",
    re.IGNORECASE)
_BARE_ID = re.compile(r"(?<![\w-])(?=[0-9a-f]*\d)(?=\d*[a-f])[0-9a-f]{16}(?![\w-])",
                      re.IGNORECASE)


def find_participant_ids(text: str) -> list[Hit]:
    """evalkit's pseudonymous participant ids (both formats), with or without ``P-``."""
    return [(m.start(), m.end(), "participant_id")
            for p in (_PARTICIPANT, _BARE_ID) for m in p.finditer(text)]


# --------------------------------------------------------------------------- national ids

#: The national-id patterns checked by default (case-insensitive, on accent-folded text).
#: Pass more to :class:`~evalkit.privacy.Scrubber` (``national_ids=``).
NATIONAL_ID_PATTERNS: Mapping[str, str] = {
    # US social security number: area 001-899 except 666, group and serial not zero
    "us_ssn": rf"(?<![\d{DASH}.])(?!000|666|9\d\d)\d{{3}}([{DASH} ])(?!00)\d{{2}}\1"
              rf"(?!0000)\d{{4}}(?![\d{DASH}.])",
    # SSN / SIN / NINO / passport and the like written after their name, any layout
    "keyword": r"\b(?:ssn|ss#|social\s+security(?:\s+(?:number|no\.?|#))?|s\.s\.n\.?|"
               r"social\s+insurance(?:\s+number)?|sin|national\s+insurance(?:\s+number)?|"
               r"ni\s+(?:number|no\.?)|nino|passport(?:\s+(?:number|no\.?|#))?|"
               r"driver'?s\s+licen[cs]e(?:\s+(?:number|no\.?|#))?|medicaid(?:\s+id)?|"
               r"medicare(?:\s+id)?|member\s+id|mrn|medical\s+record(?:\s+number)?|"
               r"aadhaar|cpf|nhs\s+number|tax\s+id|itin)"
               r"(?:\s+(?:number|no\.?|#|id))?\s*(?:is|was|:|#|=)?\s*"
               r"(?P<v>(?=[a-z]{0,3}\d)[a-z0-9][a-z0-9 .\-]{4,18}[a-z0-9])\b",
    # UK National Insurance number (QQ 12 34 56 C is the Government's own example)
    "uk_nino": r"\b[a-z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[a-d]\b",
    # Brazilian CPF, Indian Aadhaar, French NIR (social security), Canadian SIN
    "br_cpf": r"(?<![\d.])\d{3}\.\d{3}\.\d{3}-\d{2}(?![\d.])",
    "in_aadhaar": r"(?<!\d)[2-9]\d{3}[ -]\d{4}[ -]\d{4}(?![\d-])",
    "fr_nir": r"(?<!\d)[12]\s?\d{2}\s?(?:0[1-9]|1[0-2])\s?(?:\d{2}|2[ab])\s?\d{3}\s?\d{3}"
              r"(?:\s?\d{2})?(?!\d)",
}


def compile_national_ids(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    """Compile national-id patterns (case-insensitive)."""
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


DEFAULT_NATIONAL_IDS = compile_national_ids(NATIONAL_ID_PATTERNS.values())


def find_national_ids(text: str, patterns: Iterable[re.Pattern[str]] = DEFAULT_NATIONAL_IDS
                      ) -> list[Hit]:
    """National ids: SSN, NI number, CPF, Aadhaar, NIR, ids after their name."""
    out: list[Hit] = []
    for pattern in patterns:
        for m in pattern.finditer(text):
            group = "v" if "v" in pattern.groupindex and m.group("v") else 0
            out.append((m.start(group), m.end(group), "national_id"))
    return out


# --------------------------------------------------------------------------- dates of birth

_MONTHS = ("jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
           "sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|"
           "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|"
           "diciembre|janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|"
           "novembre|decembre")
_YEAR = r"(?:19|20)\d{2}"
_DATES = [
    # 03/14/1985, 14.03.1985, 14-3-85 (two-digit years only near a birth word)
    re.compile(rf"(?<![\d/.{DASH}])(?P<a>\d{{1,2}})(?P<s>[/.{DASH}])(?P<b>\d{{1,2}})(?P=s)"
               rf"(?P<y>{_YEAR}|\d{{2}})(?![\d/.{DASH}]|\.\d)"),
    # 1985-03-14, 1985/3/14
    re.compile(rf"(?<![\d/.{DASH}])(?P<y>{_YEAR})(?P<s>[/.{DASH}])(?P<a>\d{{1,2}})(?P=s)"
               rf"(?P<b>\d{{1,2}})(?![\d/.{DASH}]|\.\d)"),
    # 14 March 1985, 14th of March, 1985, March 14th 1985, mars 14 1985
    re.compile(rf"\b(?:(?P<a>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+|de\s+)?(?:{_MONTHS})\.?"
               rf"(?:\s+de)?,?\s+(?P<y>{_YEAR})|(?:{_MONTHS})\.?\s+(?P<b>\d{{1,2}})"
               rf"(?:st|nd|rd|th)?,?\s+(?P<y2>{_YEAR}))\b", re.IGNORECASE),
]
_BIRTH_WORD = re.compile(r"\b(?:born|birth|birthday|bday|b-day|dob|d\.o\.b\.?|b\.|nacid[oa]|"
                         r"nee|née|fecha\s+de\s+nacimiento|date\s+de\s+naissance)\b\W{0,3}"
                         r"(?:\w+\W+){0,4}$", re.IGNORECASE)
_BORN_YEAR = re.compile(rf"\b(?:born|b\.)\s+(?:in\s+)?(?:the\s+year\s+)?{_YEAR}\b",
                        re.IGNORECASE)
#: A full date this many years or more before today is taken for a date of birth even
#: without a word such as "born" near it (a service visit is recent).
BIRTH_AGE_YEARS = 12


def _plausible(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return True
    x, y = int(a), int(b)
    return 1 <= x <= 31 and 1 <= y <= 31 and (x <= 12 or y <= 12)


def find_dates_of_birth(text: str, *, today: dt.date | None = None) -> list[Hit]:
    """Full dates that are dates of birth: near "born", "DOB" and the like, or long ago."""
    cutoff = (today or dt.date.today()).year - BIRTH_AGE_YEARS
    out: list[Hit] = []
    for pattern in _DATES:
        for m in pattern.finditer(text):
            groups = m.groupdict()
            year = groups.get("y") or groups.get("y2") or ""
            if not _plausible(groups.get("a"), groups.get("b")):
                continue
            near = _BIRTH_WORD.search(text[max(0, m.start() - 40):m.start()]) is not None
            old = len(year) == 4 and int(year) <= cutoff
            if near or old:
                out.append((m.start(), m.end(), "date_of_birth"))
    out.extend((m.start(), m.end(), "date_of_birth") for m in _BORN_YEAR.finditer(text))
    return out


# --------------------------------------------------------------------------- addresses

_UPPER = "A-ZÀ-ÖØ-Þ"
_SUFFIX = ("Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|"
           "Way|Terrace|Ter|Terr|Circle|Cir|Highway|Hwy|Parkway|Pkwy|Square|Sq|Trail|Trl|Row|"
           "Alley|Close|Crescent|Cres|Grove|Mews|Gardens|Gdns|Walk|Parade|Pde|Loop|Pike|Plaza|"
           "Crossing|Xing|Ridge|Hill|Rise|Path|Esplanade|Quay|Wharf|Expressway|Expy|Freeway|"
           "Fwy|Turnpike|Tpke|Route|Rte")
_LOWER_SUFFIX = ("street|avenue|road|boulevard|lane|drive|court|terrace|close|crescent|"
                 "highway|parkway|st|rd|ave|blvd|ln")
_UNIT = (r"(?:,?\s*(?:Apt|Apartment|Unit|Suite|Ste|Flat|Fl|Floor|Room|Rm|#)\.?\s*#?"
         r"(?=[\w-]*\d)[\w-]+)?")
_STOP = ("(?:the|a|an|to|of|on|in|at|by|for|from|down|up|my|your|our|their|his|her|its|and|"
         "or|more|other|different|same|new|old|of|blocks?|miles?|minutes?|hours?|times?|"
         "buses|houses|doors|km|kms|kilometers|stops|ways|days|weeks|people|kids|cars)")
_NUMBER = r"(?<![\w.,/$£€-])\d{1,6}(?:-\d{1,4})?[A-Za-z]?(?:\s*[-/]\s*\d{1,4})?"
_ADDRESSES = [
    re.compile(rf"(?:(?:Apt|Apartment|Unit|Suite|Flat)\.?\s*#?\w+,?\s+)?{_NUMBER},?\s+"
               rf"(?:(?:[NSEW]\.?|North|South|East|West|N\.?[EW]\.?|S\.?[EW]\.?)\s+)?"
               rf"(?:(?:\d+(?:st|nd|rd|th)|[{_UPPER}][\w'’.-]*)\s+){{1,4}}(?:{_SUFFIX})\b\.?"
               r"(?:\s+(?:[NSEW]|N[EW]|S[EW])\b\.?)?" + _UNIT),
    re.compile(rf"{_NUMBER},?\s+(?:(?:\d+(?:st|nd|rd|th)|(?!{_STOP}\b)[a-z][\w'’-]*)\s+){{1,2}}"
               rf"(?:{_LOWER_SUFFIX})\b\.?" + _UNIT, re.IGNORECASE),
    # Calle Mayor 12, Avenida Paulista 1578, Rua Augusta, 200, Via Roma 5
    re.compile(rf"\b(?:Calle|C/|Avenida|Avda\.?|Av\.|Rua|Rue|Via|Viale|Piazza|Carrera|Cra\.?|"
               rf"Paseo|Camino|Travessa|Estrada|Rodovia)\s+(?:(?:de|del|la|las|los|da|do|dos)\s+)?"
               rf"(?:[{_UPPER}0-9][\w'’.-]*\s+){{0,3}}[{_UPPER}0-9][\w'’.-]*,?\s+(?:n[º°o]\.?\s*)?"
               r"#?\s*\d{1,5}[A-Za-z]?\b" + _UNIT),
    # 12 rue de la Paix, 5, avenue Foch
    re.compile(rf"{_NUMBER}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|av\.|boulevard|bd|place|"
               rf"chemin|allee|impasse|quai|cours|calle|avenida|rua|via)\s+"
               rf"(?:(?:de|du|des|la|le|l'|d'|del|da|do)\s*)*[{_UPPER}][\w'’-]*"
               rf"(?:\s+[{_UPPER}][\w'’-]*){{0,3}}", re.IGNORECASE),
    # Hauptstraße 5, Lindenweg 12a, Marktplatz 3
    re.compile(rf"\b[{_UPPER}][\w'’-]*(?:stra(?:ss|ß)e|str\.|weg|gasse|platz|allee|damm|ring|"
               r"ufer|straat|laan|gracht|gade|vej|gatan|vagen|veien)\s+\d{1,4}[a-z]?\b"),
    re.compile(r"\bP\.?\s?O\.?\s+Box\s+\d+\b|\b(?:Apartado|Caixa)\s+Postal\s+\d+\b",
               re.IGNORECASE),
    # UK postcodes (SW1A 1AA) and a US "City, ST 12345" line
    re.compile(r"(?<![\w-])(?:[A-Z]{1,2}\d[A-Z\d]?|GIR)\s?\d[ABD-HJLNP-UW-Z]{2}(?![\w-])"),
    re.compile(r",\s*(?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|"
               r"MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|"
               r"WY)\.?\s+\d{5}(?:-\d{4})?\b"),
]


def find_addresses(text: str) -> list[Hit]:
    """Street addresses (number + street type in English, Spanish, Portuguese, French,
    German and Dutch forms), PO boxes, UK postcodes and US state + ZIP."""
    return [(m.start(), m.end(), "address") for p in _ADDRESSES for m in p.finditer(text)]
