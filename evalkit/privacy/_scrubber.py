"""One detector for every kind of personal data, and the scrubber built on it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from evalkit.privacy._names import compile_listed, find_lexicon_names, find_listed
from evalkit.privacy._patterns import (
    DEFAULT_NATIONAL_IDS,
    compile_national_ids,
    find_addresses,
    find_dates_of_birth,
    find_emails,
    find_national_ids,
    find_participant_ids,
)
from evalkit.privacy._phones import DEFAULT_REGION, find_phones
from evalkit.privacy._text import clean, fold

Kind = Literal["email", "phone", "national_id", "date_of_birth", "address", "participant_id",
               "organization", "name"]
#: Every kind of personal data, in the order overlapping matches are settled (the first wins).
KINDS: tuple[Kind, ...] = ("email", "participant_id", "national_id", "date_of_birth",
                           "address", "phone", "organization", "name")

NAME = "[name]"
ORGANIZATION = "[organization]"
EMAIL = "[email]"
PHONE = "[phone]"
ADDRESS = "[address]"
ID = "[id]"
DATE_OF_BIRTH = "[date of birth]"
MARKERS = (NAME, ORGANIZATION, EMAIL, PHONE, ADDRESS, ID, DATE_OF_BIRTH)
MARKER = {"email": EMAIL, "phone": PHONE, "national_id": ID, "participant_id": ID,
          "date_of_birth": DATE_OF_BIRTH, "address": ADDRESS, "organization": ORGANIZATION,
          "name": NAME}
_MARKER_RE = re.compile("|".join(re.escape(m) for m in MARKERS))


@dataclass(frozen=True)
class Span:
    """One piece of personal data: ``text[start:end]`` (of the cleaned text) is a ``kind``."""

    start: int
    end: int
    kind: Kind
    text: str


@dataclass(frozen=True)
class Scrubber:
    """A compiled detector and scrubber for a fixed list of names and organization names.

    Build it once and call it on every comment; :func:`scrub` builds one per call.

    Parameters
    ----------
    names, organizations
        People's and organisations' names to remove (the plan's names file, the store's
        organisations).
    region
        The default region for phone numbers written without a country code (ISO 3166
        alpha-2; ``privacy.default_region`` in the project).
    national_ids
        Extra national-id regular expressions, checked case-insensitively besides
        :data:`~evalkit.privacy.NATIONAL_ID_PATTERNS`.
    lexicon
        Also find names nobody listed, with the shipped given-name and surname lexicon.
    kinds
        The kinds to look for (default: all of :data:`KINDS`).
    single_names
        With ``lexicon``, also a lexicon given name standing alone ("Maria was kind");
        otherwise only full names ("Maria Lopez"), titled names ("Dr Lopez") and
        all-capitals pairs.
    """

    names: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()
    region: str = DEFAULT_REGION
    national_ids: tuple[str, ...] = ()
    lexicon: bool = True
    kinds: tuple[str, ...] = KINDS
    single_names: bool = True
    _listed: tuple[tuple[re.Pattern[str], str, bool], ...] = field(
        default=(), init=False, repr=False)
    _ids: tuple[re.Pattern[str], ...] = field(default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "organizations", tuple(self.organizations))
        unknown = sorted(set(self.kinds) - set(KINDS))
        if unknown:
            from evalkit.errors import ConfigError

            raise ConfigError(f"privacy kinds {unknown} are unknown; kinds are {list(KINDS)}")
        object.__setattr__(self, "_listed", tuple(compile_listed(self.names,
                                                                 self.organizations)))
        object.__setattr__(self, "_ids", DEFAULT_NATIONAL_IDS + compile_national_ids(
            self.national_ids))

    def find(self, text: str) -> list[Span]:
        """Every piece of personal data in ``text``, as spans of :func:`clean` ``(text)``.

        Overlapping matches are settled by :data:`KINDS` order, then by length.
        """
        text = clean(text)
        folded = fold(text)
        hits: list[tuple[int, int, str]] = []
        want = set(self.kinds)
        if "email" in want:
            hits += find_emails(folded)
        if "participant_id" in want:
            hits += find_participant_ids(folded)
        if "national_id" in want:
            hits += find_national_ids(folded, self._ids)
        if "date_of_birth" in want:
            hits += find_dates_of_birth(folded)
        if "address" in want:
            hits += find_addresses(folded)
        if "phone" in want:
            hits += find_phones(folded, region=self.region)
        listed = [h for h in find_listed(text, folded, self._listed) if h[2] in want]
        hits += listed
        if self.lexicon and "name" in want:
            hits += find_lexicon_names(folded, single=self.single_names)
        for m in _MARKER_RE.finditer(text):  # markers of an earlier scrub are not data
            hits.append((m.start(), m.end(), ""))
        rank = {k: i for i, k in enumerate(("", *KINDS))}
        hits.sort(key=lambda h: (rank[h[2]], -(h[1] - h[0]), h[0]))
        taken: list[tuple[int, int, str]] = []
        for start, end, kind in hits:
            if end > start and all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, kind))
        taken.sort()
        return [Span(s, e, k, text[s:e]) for s, e, k in taken if k]  # type: ignore[arg-type]

    def __call__(self, text: str) -> str:
        """Return ``text`` with personal data replaced by markers such as ``[email]``."""
        if not isinstance(text, str):
            return text
        spans = self.find(text)
        if not spans:
            # Nothing personal found: keep the text exactly as written (invisible characters
            # are only removed for matching, e.g. the joiners inside emoji must stay).
            return text
        cleaned = clean(text)
        pieces, last = [], 0
        for span in spans:
            pieces.append(cleaned[last:span.start])
            pieces.append(MARKER[span.kind])
            last = span.end
        pieces.append(cleaned[last:])
        return "".join(pieces)


def detect(text: str, *, names: Sequence[str] = (), organizations: Sequence[str] = (),
           region: str = DEFAULT_REGION) -> list[Span]:
    """Every piece of personal data in ``text`` (see :class:`Scrubber`).

    Examples
    --------
    >>> [(s.kind, s.text) for s in detect("Dolores Umbridge-Klein, 020 7946 0958")]
    [('name', 'Dolores Umbridge-Klein'), ('phone', '020 7946 0958')]
    """
    return Scrubber(tuple(names), tuple(organizations), region=region).find(text)


def scrub(text: str, *, names: Iterable[str] = (), organizations: Iterable[str] = (),
          region: str = DEFAULT_REGION) -> str:
    """Replace personal data in free text with markers.

    Emails (plus-addresses, spelled-out ``at``/``dot``, full-width and URL-encoded forms)
    become ``[email]``; phone numbers of any region (through ``phonenumbers``) ``[phone]``;
    national ids and evalkit's pseudonymous participant ids ``[id]``; dates of birth
    ``[date of birth]``; street addresses, PO boxes and postcodes ``[address]``;
    organization names ``[organization]`` and people's names ``[name]``, both the listed
    ones and names found with the shipped given-name/surname lexicon. Matching ignores case
    and accents (``Jose`` matches ``José``); zero-width characters are removed first so
    they cannot hide a name or an address. Each part of a listed full name is scrubbed on
    its own too ("Maria" of "Maria López"). Names that are also common words (see
    :data:`COMMON_WORD_NAMES`) are scrubbed only when capitalized.

    Parameters
    ----------
    text
        The free text.
    names
        People's names to remove (participants, staff); the store holds none, so pass them.
    organizations
        Organization names to remove.
    region
        Default region of phone numbers without a country code.

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
    return Scrubber(tuple(names), tuple(organizations), region=region)(text)
