"""Finding and scrubbing personal data in free text; safe CSV cells.

One detector (:class:`Scrubber`) serves twice: at ingest, every free-text answer loses
personal data before it reaches the store (:func:`evalkit.store.ingest`); before a quote is
put in a result table, names from the project's names list and organization names go too;
and the publish scan (:mod:`evalkit.reporting._scan`) looks with the same detectors at
everything a reader of a report sees. It finds emails (spelled-out, full-width and
URL-encoded forms too), phone numbers of any region (``phonenumbers``, with a default
region), national ids (:data:`NATIONAL_ID_PATTERNS`, extendable), dates of birth, street
addresses, evalkit's pseudonymous participant ids, listed names and organisations, and
people's names from a shipped given-name/surname lexicon (US Census 1990, public domain).

Examples
--------
>>> from evalkit.privacy import scrub
>>> scrub("Call Rosa at (555) 201-3344 or rosa+help@example.org", names=["Rosa Delgado"])
'Call [name] at [phone] or [email]'
>>> scrub("Dolores Umbridge-Klein, jane dot doe at gmail dot com, SSN 123-45-6789")
'[name], [email], SSN [id]'
"""

from evalkit.privacy._csv import FORMULA_START, safe_csv_cell
from evalkit.privacy._names import COMMON_WORD_NAMES, ORGANIZATION_WORDS, TITLES
from evalkit.privacy._patterns import BIRTH_AGE_YEARS, NATIONAL_ID_PATTERNS
from evalkit.privacy._phones import DEFAULT_REGION, PHONE_REGIONS
from evalkit.privacy._scrubber import (
    ADDRESS,
    DATE_OF_BIRTH,
    EMAIL,
    ID,
    KINDS,
    MARKER,
    MARKERS,
    NAME,
    ORGANIZATION,
    PHONE,
    Kind,
    Scrubber,
    Span,
    detect,
    scrub,
)
from evalkit.privacy._text import clean, fold

__all__ = ["ADDRESS", "BIRTH_AGE_YEARS", "COMMON_WORD_NAMES", "DATE_OF_BIRTH",
           "DEFAULT_REGION", "EMAIL", "FORMULA_START", "ID", "KINDS", "MARKER", "MARKERS",
           "NAME", "NATIONAL_ID_PATTERNS", "ORGANIZATION", "ORGANIZATION_WORDS", "PHONE",
           "PHONE_REGIONS", "TITLES", "Kind", "Scrubber", "Span", "clean", "detect", "fold",
           "safe_csv_cell", "scrub"]
