"""evalkit.privacy as a package: its public names, spans, options and the shipped lexicon."""

from __future__ import annotations

import pytest

import evalkit.privacy as privacy
from evalkit.errors import ConfigError
from evalkit.privacy import KINDS, Scrubber, detect, fold


def test_the_facade_keeps_the_names_importers_use():
    for name in ("COMMON_WORD_NAMES", "MARKERS", "NAME", "ORGANIZATION", "EMAIL", "PHONE",
                 "ADDRESS", "Scrubber", "scrub", "fold", "safe_csv_cell", "detect"):
        assert name in privacy.__all__ and hasattr(privacy, name), name


def test_fold_keeps_positions():
    text = "José＠ｅｘａｍｐｌｅ．org ５５５"
    assert len(fold(text)) == len(text) and fold(text) == "Jose@example.org 555"


def test_spans_point_into_the_cleaned_text():
    text = "Ma\u200bria Lopez: +44 20 7946 0958"
    spans = Scrubber().find(text)
    cleaned = privacy.clean(text)
    assert [(s.kind, cleaned[s.start:s.end]) for s in spans] == [
        ("name", "Maria Lopez"), ("phone", "+44 20 7946 0958")]


def test_kinds_can_be_chosen_and_unknown_kinds_are_refused():
    text = "Maria Lopez, 020 7946 0958"
    assert [s.kind for s in Scrubber(kinds=("phone",)).find(text)] == ["phone"]
    assert [s.kind for s in Scrubber(lexicon=False).find(text)] == ["phone"]
    with pytest.raises(ConfigError, match=r"privacy kinds \['phones'\] are unknown"):
        Scrubber(kinds=("phones",))
    assert set(KINDS) >= {"email", "phone", "national_id", "date_of_birth", "address",
                          "participant_id", "name"}


def test_the_lexicon_ships_in_the_package():
    from evalkit.privacy._lexicon import first_names, first_names_words, surnames

    assert {"dolores", "maria", "keisha"} <= first_names()
    assert {"grace", "will", "hope"} <= first_names_words()
    assert {"klein", "lopez", "washington"} <= surnames()
    assert len(surnames()) > 80_000


def test_markers_of_an_earlier_scrub_are_left_alone():
    once = privacy.scrub("Call Maria Lopez on 020 7946 0958")
    assert once == "Call [name] on [phone]"
    assert privacy.scrub(once) == once and detect(once) == []


def test_recent_dates_are_visits_and_old_ones_births():
    assert detect("visit on 2025-03-04") == []
    assert [s.kind for s in detect("on 1961-03-04")] == ["date_of_birth"]
    assert [s.kind for s in detect("born 2019-06-01")] == ["date_of_birth"]


def test_digits_inside_a_hex_token_are_not_a_phone_number():
    """A results data hash in a report title block ('data hash f6c7e9592079') made the publish
    scan refuse a new project's cross-site report as holding a phone number."""
    from evalkit.privacy._phones import find_phones

    def found(text):
        return sorted({text[a:b] for a, b, _ in find_phones(text)})

    assert found("Results computed by evalkit (data hash f6c7e9592079 ).") == []
    assert found("commit 9592079ffe0 and key 5551234567abcdef") == []
    # digits run into other letters, or standing alone, are still found
    assert found("text me at5551234567") == ["5551234567"]
    assert found("call 555-123-4567 or 9592079") == ["555-123-4567", "9592079"]
