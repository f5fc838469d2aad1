"""People's names: from the project's names file, and from the shipped name lexicon.

The names file is matched exactly as before (whole names and each part, ignoring case and
accents; names that are also common words only when capitalised). The lexicon
(:mod:`evalkit.privacy._lexicon`) finds names nobody listed, by these rules on runs of
capitalised words:

- a title (``Mr``, ``Dr``, ``Nurse``, ``Pastor`` ...) followed by a capitalised word: the
  word (and a second one) is a name;
- a given name followed by a capitalised surname (``Dolores Umbridge-Klein``): the pair;
  a given name that is also an everyday word (``Grace``, ``Will``) counts only so;
- a given name that is not an everyday word (``Maria``), alone;
- all-capitals pairs of a given name and a surname (``MARIA LOPEZ``).

A run holding an organisation, service or place word (``Grace Church``, ``Jordan Valley
Clinic``, ``St Mary's``) is not a person; nor are days, months, languages, nationalities,
religions, US states and a few cities that are also given names.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from evalkit.privacy._lexicon import first_names, first_names_words, surnames
from evalkit.privacy._text import fold

Hit = tuple[int, int, str]

#: Given names and surnames that are also everyday English words. They are scrubbed only
#: when written with a capital letter ("Hope called" but not "I hope so"); a capital at the
#: start of a sentence is still scrubbed, erring on the side of privacy.
COMMON_WORD_NAMES = frozenset("""
amber angel april art august autumn bell bill black brown bud buck chance charity chase
cook crystal daisy dale dawn dean don dot drew earl faith fern ford frank gene gift glen
grace green guy hazel heather holly honor hope hunter iris ivy jack jay jewel joy june
king lane lily long mark mason may miles miller penny pat patience pearl price rich river
robin rock rose ruby rusty sandy skip sky star stone storm summer sunny sue tad terry
victory violet wade ward will wren young jan mac
""".split())
_MONTHS = frozenset({"april", "may", "june", "august"})
_PARTICLES = frozenset({"de", "del", "della", "la", "le", "los", "las", "da", "das", "do",
                        "dos", "di", "du", "van", "von", "der", "den", "ter", "y", "e", "al",
                        "bin", "ibn", "st", "jr", "sr", "ii", "iii", "iv", "mc", "mac"})

TITLES = frozenset("""
mr mrs ms miss mx dr doctor nurse pastor father sister brother rev reverend officer coach
prof professor mister madam sra sr srta senor senora senorita dona don doña mme mlle m herr
frau auntie aunt uncle grandma grandpa deacon rabbi imam sheikh judge sgt sergeant captain
""".split()) - {"m"}

#: Words that make a run of capitalised words an organisation, service or place.
ORGANIZATION_WORDS = frozenset("""
center centre centers clinic clinics hospital hospitals church churches school schools bank
banks library foundation services service health healthcare care county city valley heights
program programs programme project house hall university college market pharmacy group inc
llc ltd association society network council trust fund institute ministries ministry mission
shelter pantry kitchen department dept office agency partnership collaborative coalition
alliance ecosystem complex community street st road rd avenue ave park lake river mount mt
fort port saint san santa sainte medical family families home homes food cafe store shop mall
station court state federal national united club league team corp company co partners
transit housing legal aid army cross way goodwill medicaid medicare walmart target kaiser
permanente google facebook gmail uber lyft zoom whatsapp senior seniors youth women men
children kids veterans va ymca ywca hub center's project's cathedral temple mosque synagogue
chapel parish diocese day days night nights hour hours week weeks month months year years
plan plans insurance blue shield cigna aetna humana anthem wellness recovery harbor harbour
regional memorial general mercy providence baptist methodist lutheran catholic presbyterian
episcopal pentecostal adventist islamic jewish center-based county's bridge bridges beach
gardens garden hills hill creek springs spring falls island islands bay coast
""".split())

#: Capitalised words that are given names in the lexicon but rarely a person in a comment.
_NEVER_NAMES = frozenset("""
monday tuesday wednesday thursday friday saturday sunday january february march april may
june july august september october november december christmas easter thanksgiving
english spanish french german chinese arabic somali vietnamese korean russian portuguese
hindi urdu tagalog haitian creole american mexican african asian latino latina hispanic
christian muslim catholic jesus god lord allah christ mary's nan
""".split())
NOT_NAMES = _NEVER_NAMES | frozenset("""
alabama alaska arizona arkansas california colorado carolina dakota delaware florida
georgia hawaii idaho illinois indiana iowa kansas kentucky louisiana maine maryland
massachusetts michigan minnesota mississippi missouri montana nebraska nevada hampshire
jersey mexico york ohio oklahoma oregon pennsylvania rhode tennessee texas utah vermont
virginia washington wisconsin wyoming
austin houston dallas jackson charlotte florence paris sydney victoria chelsea jordan
madison lincoln orlando phoenix denver aurora tyler eugene savannah memphis nashville
raleigh reno tucson columbus cleveland dayton quincy salem camden troy elgin marion
chester lansing warren beverly shelby
ok okay hi hello dear thanks thank yes no
""".split())

_WORD = re.compile(r"[^\W\d_][\w'’]*(?:-[^\W\d_][\w'’]*)*\.?")
_INITIAL = re.compile(r"[A-Z]\.?")


def _is_cap(word: str) -> bool:
    return word[:1].isupper() and not word.isupper()


def _key(word: str) -> str:
    return fold(word).rstrip(".").replace("’", "'").casefold()


def _surname(word: str) -> bool:
    parts = re.split(r"[-']", _key(word))
    return any(p in surnames() for p in parts if len(p) >= 2) or (
        _key(word).startswith(("o'", "mc", "mac", "d'")) and len(word) > 3)


def _given(word: str) -> bool:
    key = _key(word)
    return key in first_names() and key not in NOT_NAMES and key not in ORGANIZATION_WORDS


def _given_word(word: str) -> bool:
    key = _key(word)
    return key in first_names_words() or key in COMMON_WORD_NAMES


def _runs(text: str) -> list[list[tuple[int, int, str]]]:
    """Runs of capitalised words (and name particles, initials) separated by spaces only."""
    runs: list[list[tuple[int, int, str]]] = []
    current: list[tuple[int, int, str]] = []
    last_end = -1
    for m in _WORD.finditer(text):
        word = m.group(0)
        gap = text[last_end:m.start()] if last_end >= 0 else None
        joined = gap is not None and gap.strip() == "" and "\n" not in gap and len(gap) <= 2
        if word.endswith(".") and not _TITLE_DOT(word) and not _INITIAL.fullmatch(word):
            word = word[:-1]
        if not joined and current:
            runs.append(current)
            current = []
        keep = _is_cap(word) or word.isupper() or _key(word) in _PARTICLES
        if keep:
            current.append((m.start(), m.start() + len(word), word))
        elif current:
            runs.append(current)
            current = []
        last_end = m.start() + len(word)
        if word != m.group(0) and current:  # a full stop ends the run
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _TITLE_DOT(word: str) -> bool:  # noqa: N802 - a predicate used like a constant set
    return _key(word) in TITLES


def find_lexicon_names(text: str, *, single: bool = True) -> list[Hit]:
    """Person names found with the lexicon (see the module docstring).

    ``single=False`` leaves out given names standing alone (``Maria``), keeping full names,
    titled names and all-capitals pairs.
    """
    out: list[Hit] = []
    for run in _runs(text):
        keys = [_key(w) for _, _, w in run]
        if any(k in ORGANIZATION_WORDS for k in keys):
            continue
        words = [w for _, _, w in run]
        i = 0
        while i < len(run):
            word, key = words[i], keys[i]
            nxt = words[i + 1] if i + 1 < len(run) else ""
            if key in TITLES and nxt and (_is_cap(nxt) or nxt.isupper()) and (
                    _key(nxt) not in NOT_NAMES):
                j = i + 1
                while j + 1 < len(run) and j < i + 3 and _is_cap(words[j + 1]):
                    j += 1
                out.append((run[i + 1][0], run[j][1], "name"))
                i = j + 1
                continue
            upper = word.isupper() and len(word) > 1
            if upper:
                if nxt.isupper() and _given(word) and _surname(nxt):
                    out.append((run[i][0], run[i + 1][1], "name"))
                    i += 2
                    continue
                i += 1
                continue
            if not _is_cap(word):
                i += 1
                continue
            given, given_word = _given(word), _given_word(word)
            if (given or given_word) and nxt and _is_cap(nxt) and (
                    _surname(nxt) or _INITIAL.fullmatch(nxt)) and _key(nxt) not in _NEVER_NAMES:
                j = i + 1
                while j + 1 < len(run) and (_surname(words[j + 1]) or
                                            keys[j] in _PARTICLES) and _is_cap(words[j + 1]):
                    j += 1
                out.append((run[i][0], run[j][1], "name"))
                i = j + 1
                continue
            if single and given and not given_word:
                out.append((run[i][0], run[i][1], "name"))
            i += 1
    return out


# --------------------------------------------------------------------------- names file


def _fold_name(name: str) -> str:
    return "".join(fold(unicodedata.normalize("NFC", name)).split())


def _phrase(name: str) -> str:
    words = fold(unicodedata.normalize("NFC", name)).split()
    return r"\s+".join(re.escape(w) for w in words)


def compile_listed(names: Iterable[str], organizations: Iterable[str]
                   ) -> list[tuple[re.Pattern[str], str, bool]]:
    """Patterns for listed organisations and names: ``(pattern, kind, capital_only)``."""
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
    for group, kind, capital_only in ((orgs, "organization", False), (full, "name", False),
                                      (tokens, "name", False), (common, "name", True)):
        if group:
            alternation = "|".join(sorted(group, key=lambda p: (-len(p), p)))
            out.append((re.compile(rf"(?<![\w@])(?:{alternation})(?![\w@])", re.IGNORECASE),
                        kind, capital_only))
    return out


def find_listed(text: str, folded: str,
                patterns: Iterable[tuple[re.Pattern[str], str, bool]]) -> list[Hit]:
    """Listed names and organisations (``text`` for capitals, ``folded`` to match)."""
    out: list[Hit] = []
    for pattern, kind, capital_only in patterns:
        for m in pattern.finditer(folded):
            start, end = m.span()
            if capital_only:
                if not text[start].isupper():
                    continue
                if m.group(0).casefold() in _MONTHS and re.match(r"\s+\d", text[end:end + 4]):
                    continue  # "May 5" is a date, not a person
            out.append((start, end, kind))
    return out
