"""The first-name and surname lexicon shipped with evalkit (no download at run time).

The lists in ``data/`` were built by :func:`build` from the US Census Bureau's 1990 name
frequency files (a work of the US government, in the public domain), as shipped inside the
``names`` 0.3.0 source distribution on PyPI (``dist.male.first``, ``dist.female.first``,
``dist.all.last``), plus a short hand-kept list of given names common among the
collaboratives' communities that the 1990 files lack (:data:`EXTRA_FIRST_NAMES`). A first
name that is also an everyday lower-case English word in Debian's ``wamerican`` word list
(``/usr/share/dict/american-english``: "grace", "mark", "will") goes to
``first_names_words.txt`` instead: it counts as a name only beside another name or a title.

Rebuild (maintainers only; needs the two sources on disk)::

    python -m evalkit.privacy._lexicon NAMES_DIR /usr/share/dict/american-english
"""

from __future__ import annotations

import sys
from functools import cache
from importlib import resources
from pathlib import Path

#: Given names missing from the 1990 census files but common in the communities served.
EXTRA_FIRST_NAMES = """
aaliyah abdi abdullah abdul ahmed aisha akira alejandra amara amina anaya anh arjun ayesha
bao chen chiamaka chidi chinedu darnell deepa deshawn dmitri emeka esperanza fatima fatuma
giovanni guadalupe hamza hana hassan hiroshi hussein ibrahim ifeoma imani jamal jasmin
jiho kenji khadija kwame lakshmi leilani lupe mariam mei mohamed mohammed muhammad nadia
naveen ngozi nguyen nia nkechi olga oluwaseun omar priya rahul ravi rashid sanjay shreya
siddharth sina sunita tariq thi tran vikram wei xiomara yasmin yusuf zainab zanele ximena
""".split()

#: Given names that the word list also holds as rare words ("maria", "john"): names first.
NAMES_NOT_WORDS = """
aline barney beryl billy bobby bonnie brad carol chad colleen curt deb derrick dirk dolly
dotty eddy ester garret harry hector homer jarred jasper jimmy john josh julienne ken maria
martin matt meg mickey mike peter phoebe rick sally sonny tom tony victor waldo
""".split()


def _read(name: str) -> frozenset[str]:
    text = resources.files("evalkit.privacy").joinpath("data", name).read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


@cache
def first_names() -> frozenset[str]:
    """Given names (lower case) that are not also everyday English words."""
    return _read("first_names.txt")


@cache
def first_names_words() -> frozenset[str]:
    """Given names (lower case) that are also everyday English words ("grace", "will")."""
    return _read("first_names_words.txt")


@cache
def surnames() -> frozenset[str]:
    """Surnames (lower case)."""
    return _read("surnames.txt")


def build(names_dir: Path, words_file: Path, out_dir: Path) -> None:
    """Write the three lexicon files from the census files and an English word list."""
    words = {w.strip() for w in words_file.read_text("utf-8").splitlines()
             if w.strip() and w.strip().islower() and "'" not in w} - set(NAMES_NOT_WORDS)

    def column(path: Path) -> list[str]:
        return [line.split()[0].lower() for line in path.read_text("ascii").splitlines()
                if line.strip()]

    given = set(column(names_dir / "dist.male.first") + column(names_dir / "dist.female.first")
                + EXTRA_FIRST_NAMES)
    given = {g for g in given if len(g) >= 2}
    last = {s for s in column(names_dir / "dist.all.last") if len(s) >= 2}
    header = ("# Built by evalkit.privacy._lexicon.build from the US Census 1990 name files "
              "(public domain).\n")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "first_names.txt").write_text(
        header + "\n".join(sorted(given - words)) + "\n", "utf-8")
    (out_dir / "first_names_words.txt").write_text(
        header + "\n".join(sorted(given & words)) + "\n", "utf-8")
    (out_dir / "surnames.txt").write_text(header + "\n".join(sorted(last)) + "\n", "utf-8")


if __name__ == "__main__":  # pragma: no cover - maintainers' tool
    build(Path(sys.argv[1]), Path(sys.argv[2]), Path(__file__).parent / "data")
