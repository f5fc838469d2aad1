"""An adversarial privacy suite: what real people type must not reach a report or results/.

Every case is checked twice: the detector (:class:`evalkit.privacy.Scrubber`) finds it, and
a report page (HTML) and a Word file holding it fail the publish scan
(:func:`evalkit.reporting._scan.check_outputs`), which deletes them. Ordinary sentences must
pass both. The end-to-end test submits comments full of such details to a demo project and
checks that none reaches a result table.
"""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path

import docx
import pandas as pd
import pytest

from evalkit.demo import demo_config, generate
from evalkit.errors import RenderError
from evalkit.privacy import Scrubber, detect, safe_csv_cell, scrub
from evalkit.reporting._scan import ScanRules, check_outputs, scan_text_chunks

# (comment, kind, the personal part) -------------------------------------------------------
LEAKS = [
    # measured leaks (issue 14): reached the S01 report or results/feedback_quotes.parquet
    ("Call me on 020 7946 0958 about the form.", "phone", "020 7946 0958"),
    ("my mobile is 07700 900123", "phone", "07700 900123"),
    ("From abroad: +44 20 7946 0958", "phone", "+44 20 7946 0958"),
    ("They wrote my SSN 123-45-6789 on the sheet.", "national_id", "123-45-6789"),
    ("Dolores Umbridge-Klein at intake was rude to me.", "name", "Dolores Umbridge-Klein"),
    ("write to jane.doe at gmail.com please", "email", "jane.doe at gmail.com"),
    ("or jane dot doe at gmail dot com", "email", "jane dot doe at gmail dot com"),
    ("full width jane＠example.org works too", "email", "jane＠example.org"),
    ("my date of birth is 03/14/1985", "date_of_birth", "03/14/1985"),
    ("DOB 1985-03-14, they said it was wrong", "date_of_birth", "1985-03-14"),
    ("I live at 1417 Cedar Street Apt 3, come by.", "address", "1417 Cedar Street Apt 3"),
    ("my id is P-f380a4166b2efea1", "participant_id", "P-f380a4166b2efea1"),
    ("demo id P-0A1B2C3D here", "participant_id", "P-0A1B2C3D"),
    # other countries' phone formats
    ("Appelez-moi au 01 42 68 53 00", "phone", "01 42 68 53 00"),
    ("portable 06 12 34 56 78", "phone", "06 12 34 56 78"),
    ("France: +33 6 12 34 56 78", "phone", "+33 6 12 34 56 78"),
    ("Berlin Büro 030 901820", "phone", "030 901820"),
    ("Handy +49 151 23456789", "phone", "+49 151 23456789"),
    ("India +91 98765 43210", "phone", "+91 98765 43210"),
    ("call 098765 43210 in Pune", "phone", "098765 43210"),
    ("Brasil +55 11 98765-4321", "phone", "+55 11 98765-4321"),
    ("ligue (11) 98765-4321", "phone", "(11) 98765-4321"),
    ("Sydney office (02) 9374 4000", "phone", "(02) 9374 4000"),
    ("mobile 0412 345 678 in Australia", "phone", "0412 345 678"),
    ("Mexico +52 55 1234 5678", "phone", "+52 55 1234 5678"),
    ("Nigeria 0803 123 4567", "phone", "0803 123 4567"),
    ("Dublin 01 234 5678", "phone", "01 234 5678"),
    ("Manchester 0161 496 0123", "phone", "0161 496 0123"),
    ("international 0044 20 7946 0958", "phone", "0044 20 7946 0958"),
    # obfuscated phones
    ("digits one by one 0 7 7 0 0 9 0 0 1 2 3", "phone", "0 7 7 0 0 9 0 0 1 2 3"),
    ("dots 020.7946.0958", "phone", "020.7946.0958"),
    ("full width ０２０ ７９４６ ０９５８", "phone", "０２０ ７９４６ ０９５８"),
    ("text 555.867.5309 ext. 12", "phone", "555.867.5309 ext. 12"),
    ("zero width 020\u200b7946\u200b0958", "phone", "02079460958"),
    # emails in odd forms
    ("maria.lopez%40yahoo.com", "email", "maria.lopez%40yahoo.com"),
    ("tom(at)outlook(dot)com", "email", "tom(at)outlook(dot)com"),
    ("rahul [at] mehta [dot] in", "email", "rahul [at] mehta [dot] in"),
    ("SAM AT PROTONMAIL DOT COM", "email", "SAM AT PROTONMAIL DOT COM"),
    ("ａｎａ＠ｅｘａｍｐｌｅ．ｏｒｇ", "email", "ａｎａ＠ｅｘａｍｐｌｅ．ｏｒｇ"),
    ("ruth.k @ gmail . com", "email", "ruth.k @ gmail . com"),
    ("brendan_os at gmail", "email", "brendan_os at gmail"),
    # national ids
    ("NI number QQ 12 34 56 C", "national_id", "QQ 12 34 56 C"),
    ("ni ab123456c", "national_id", "ab123456c"),
    ("social security number 536 22 8743", "national_id", "536 22 8743"),
    ("CPF 123.456.789-09", "national_id", "123.456.789-09"),
    ("Medicaid ID 9876543210A", "national_id", "9876543210A"),
    ("passport no. X1234567", "national_id", "X1234567"),
    # dates of birth
    ("born 7/2/1961", "date_of_birth", "7/2/1961"),
    ("birthday 14 March 1979", "date_of_birth", "14 March 1979"),
    ("d.o.b. 21.09.1988", "date_of_birth", "21.09.1988"),
    ("March 3rd, 1968 is my birth date", "date_of_birth", "March 3rd, 1968"),
    ("dob: 4/17/82", "date_of_birth", "4/17/82"),
    # addresses
    ("221B Baker Street", "address", "221B Baker Street"),
    ("Flat 2, 15 Mill Road", "address", "15 Mill Road"),
    ("45 oak street near the bus", "address", "45 oak street"),
    ("12 rue de la Paix", "address", "12 rue de la Paix"),
    ("Hauptstraße 5 in Berlin", "address", "Hauptstraße 5"),
    ("Calle Mayor 12", "address", "Calle Mayor 12"),
    ("PO Box 771", "address", "PO Box 771"),
    ("Leeds LS6 2AB", "address", "LS6 2AB"),
    ("Apt 4B, 300 W 57th St", "address", "300 W 57th St"),
    ("Springfield, IL 62704", "address", "IL 62704"),
    # evalkit ids in other spellings
    ("P 4a8a08f09d37b737", "participant_id", "P 4a8a08f09d37b737"),
    ("p-9E107D9D372BB682", "participant_id", "p-9E107D9D372BB682"),
    ("code 7b52009b64fd0a2a", "participant_id", "7b52009b64fd0a2a"),
    # names in several positions (none in a names file)
    ("Thanks to Keisha Washington.", "name", "Keisha Washington"),
    ("The nurse, Priya Raman, explained everything.", "name", "Priya Raman"),
    ("I complained to Dr Okonkwo twice.", "name", "Okonkwo"),
    ("Ask Mrs O'Connor at the desk", "name", "O'Connor"),
    ("Pastor Williams drove me there", "name", "Williams"),
    ("Kevin McAllister never called", "name", "Kevin McAllister"),
    ("Shout-out to Tomás Herrera!", "name", "Tomás Herrera"),
    ("MARIA LOPEZ HELPED ME", "name", "MARIA LOPEZ"),
    ("Grace Okafor called twice", "name", "Grace Okafor"),
    ("my worker: Gregory Hastings-Brown", "name", "Gregory Hastings-Brown"),
]

#: Ordinary sentences that must not be flagged (service dates, counts, organisations).
ORDINARY = [
    "The clinic on Monday was packed and I waited 3 hours.",
    "I came on 2025-03-04 and again the next week.",
    "Rated it 3 of 5, the staff were rushed.",
    "The 2024-2025 program was better than last year.",
    "Harbor County Care Network connected me with the food bank.",
    "Grace Church and the Salvation Army gave us blankets.",
    "I hope they keep the evening hours.",
    "Will they call me back? May be next week.",
    "St Mary's Hospital sent me to the Jordan Valley Clinic.",
    "Medicaid covered it after 2 months of paperwork.",
    "My kids are 4, 7 and 12 and the play area was great.",
    "We got 20% off the utility bill thanks to the program.",
    "I called 911 once and the health worker followed up.",
    "Spanish interpreters were there on Tuesday and Thursday.",
    "Open 9-5 Monday to Friday, closed on Christmas.",
    "Visited on March 3 and again on April 10, 2025.",
    "Waited from 10:30 to 12:15 for a 15 minute visit.",
    "It cost $1,250.00 and insurance paid half.",
    "Scores rose by 0.35 [0.12, 0.58], p = 0.004, in 2024-2025.",
    "Riverbend Complex Care Partnership, Mesa Valley Health Ecosystem and Lakeshore Care "
    "Collaborative.",
    "Piedmont Whole-Person Care Coalition met 12 times in 2025.",
    "Seen at baseline 140, seen at endline 135.",
    "From 2019 to 2024 I came every month.",
    "Route 9 bus is late by 10 or 15 minutes.",
    "The Boys and Girls Club is a safe place.",
    "Kaiser Permanente and the county shelter share records.",
    "Virginia Beach office said to call Richmond instead.",
    "Thank you so much, God bless.",
    "Mark my words, the new referral works.",
    "Care coordinator, Community health worker, Peer specialist.",
    "Partner O07 (community_based_orgs) rated 4.2 of 5.",
    "Response rate 85% (120 of 141).",
    # flagged once in library prose, kept as regressions
    "Basic colours (30-37, 40-47 standard; 90-97, 100-107 bright).",
    "Returned by legacy @asyncio.coroutine functions.",
    "See RFC 7231 7.1.2 and IEC 80000-13.",
    "NaN == NaN on Mac, from Jan 1.",
]


def _page(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "report.html"
    page.write_text(f"<!DOCTYPE html><html><head><title>S01</title></head><body>"
                    f"<h1>What people said</h1><blockquote><p>{html.escape(text)}</p>"
                    f"</blockquote></body></html>", encoding="utf-8")
    return page


def _word(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "report.docx"
    document = docx.Document()
    document.add_heading("What people said", level=1)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Theme", "Quote"
    table.cell(1, 0).text, table.cell(1, 1).text = "Waiting", text
    document.save(str(path))
    return path


@pytest.mark.parametrize(("text", "kind", "secret"), LEAKS, ids=[c[2] for c in LEAKS])
def test_the_detector_finds_it(text, kind, secret):
    spans = detect(text)
    assert any(s.kind == kind for s in spans), [(s.kind, s.text) for s in spans]
    out = scrub(text)
    # nothing of the personal part is left: not even four of its digits or a name part
    assert secret not in out, out
    digits = "".join(ch for ch in secret if ch.isdigit())
    assert len(digits) < 4 or digits[-4:] not in "".join(ch for ch in out if ch.isdigit())


@pytest.mark.parametrize(("text", "kind", "secret"), LEAKS, ids=[c[2] for c in LEAKS])
@pytest.mark.parametrize("writer", [_page, _word], ids=["html", "docx"])
def test_a_report_holding_it_fails_the_publish_scan(tmp_path, writer, text, kind, secret):
    path = writer(tmp_path, text)
    with pytest.raises(RenderError, match="not safe to publish") as caught:
        check_outputs([path], ScanRules(), label="sites/S01/site-S01")
    assert secret not in str(caught.value)  # the message does not repeat it
    assert not path.exists()


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_sentences_are_not_flagged(tmp_path, text):
    assert detect(text) == [], [(s.kind, s.text) for s in detect(text)]
    assert scrub(text) == text
    for writer in (_page, _word):
        path = writer(tmp_path, text)
        check_outputs([path], ScanRules())
        assert path.exists()


@pytest.mark.parametrize("link", ['<a href="mailto:jane%40example.org">write</a>',
                                  '<a href="tel:+442079460958">call</a>'])
def test_link_targets_are_scanned(tmp_path, link):
    page = tmp_path / "r.html"
    page.write_text(f"<html><body><h1>Contact</h1><p>Please {link} us.</p></body></html>")
    with pytest.raises(RenderError, match="not safe to publish"):
        check_outputs([page], ScanRules())


def test_quotes_go_through_the_default_detectors_whatever_scrubber_is_given():
    from evalkit.feedback import load_codebook, select_quotes
    from tests.conftest import ROOT

    comments = pd.DataFrame({"response_id": ["a"], "site_id": ["S01"], "wave": ["baseline"],
                             "text": ["Waited weeks for a call back, ring 020 7946 0958 now."]})
    codes = pd.DataFrame({"response_id": ["a"], "theme": ["waiting"]})
    quotes = select_quotes(comments, codes, codebook=load_codebook(
        ROOT / "analyses" / "themes.yml"), scrubber=lambda text: text)
    assert quotes["quote"].tolist() == ["Waited weeks for a call back, ring [phone] now."] * 2


def test_the_scan_fails_closed_when_a_detector_breaks(monkeypatch):
    def broken(self, text):
        raise RuntimeError("boom")

    monkeypatch.setattr(Scrubber, "find", broken)
    found = scan_text_chunks(["Nothing personal here."], ScanRules())
    assert [f.kind for f in found] == ["scan error"]


def test_single_given_names_are_scrubbed_and_can_be_scanned():
    assert scrub("Samantha was so kind") == "[name] was so kind"
    assert scan_text_chunks(["Ask Samantha."], ScanRules()) == []
    strict = ScanRules(single_given_names=True)
    assert [f.kind for f in scan_text_chunks(["Ask Samantha."], strict)] == ["name"]


def test_default_phone_region_and_extra_national_ids():
    # a national-format number of the project's region; a project's own id pattern
    assert scrub("call 0412 345 678", region="AU") == "call [phone]"
    assert Scrubber(national_ids=(r"\bMRN-\d{6}\b",))("chart MRN-123456") == "chart [id]"


@pytest.mark.parametrize(("cell", "safe"), [
    ('=HYPERLINK("http://x.example","y")', '\'=HYPERLINK("http://x.example","y")'),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("@SUM(1+1)", "'@SUM(1+1)"),
    ("-1+2", "'-1+2"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("  =1", "'  =1"),
    ("＝1+1", "'＝1+1"),
    ("fine", "fine"),
    ("", ""),
])
def test_safe_csv_cell(cell, safe):
    assert safe_csv_cell(cell) == safe


# End to end --------------------------------------------------------------------------------
LEAK_COMMENTS = [
    "Waited three weeks for a call back, ring me on 020 7946 0958 or 07700 900123.",
    "The bus never comes, call +44 20 7946 0958 if you want to talk about it.",
    "They asked for my SSN 123-45-6789 before they would help with housing.",
    "Dolores Umbridge-Klein at the food bank was rude and made me wait an hour.",
    "Email jane.doe at gmail.com about the housing forms, nobody explained them.",
    "Or jane dot doe at gmail dot com, I waited too long for information.",
    "Staff were kind, write to jane＠example.org for my story about the shelter.",
    "My date of birth is 03/14/1985 and the clinic put me in the wrong group.",
    "Born 1985-03-14, the forms were only in English and nobody explained them.",
    "I live at 1417 Cedar Street Apt 3 and the bus does not go to the clinic.",
    "My participant id is P-f380a4166b2efea1, I waited weeks for a call back.",
]
SECRETS = ["020 7946 0958", "07700 900123", "+44 20 7946 0958", "123-45-6789", "Umbridge",
           "Dolores", "jane", "gmail", "example.org", "03/14/1985", "1985-03-14",
           "1417 Cedar", "f380a4166b2efea1"]


@pytest.mark.slow
def test_submitted_leaks_reach_no_result_table(tmp_path):
    from evalkit.pipeline import analyze_project
    from evalkit.project import create_project
    from evalkit.store import Batch, ingest

    demo = generate(seed=11, n_sites=3)
    cfg = create_project(tmp_path / "p", config=demo_config(demo))
    answers = demo.batch.answers
    s01 = answers["response_id"].str.contains(":S01-") & (answers["item"] == "COMMENT")
    ingest(cfg.store_path, dataclasses.replace(demo.batch, answers=answers[~s01]),
           source="demo", kind="demo")
    responses, rows = [], []
    for wave in ("baseline", "endline"):
        for i, text in enumerate(LEAK_COMMENTS):
            rid = f"leak:{wave}:{i:02d}"
            responses.append({"response_id": rid, "instrument": "community", "wave": wave,
                              "site_id": "S01"})
            rows.append({"response_id": rid, "item": "COMMENT", "text": text})
            rows += [{"response_id": rid, "item": f"CF0{k}", "value": 3.0} for k in range(1, 9)]
    ingest(cfg.store_path, Batch.from_records(responses=responses, answers=rows),
           source="leaks")
    analyze_project(cfg.root)
    quotes = pd.read_parquet(cfg.results_path / "feedback_quotes.parquet")
    s01_quotes = quotes.loc[quotes["site_id"] == "S01", "quote"].tolist()
    assert s01_quotes and any("[" in q for q in s01_quotes)  # the leak comments were quoted
    checked = 0
    for table in sorted(cfg.results_path.glob("*.parquet")):
        data = pd.read_parquet(table)
        for column in data.columns:
            if data[column].dtype != object and not pd.api.types.is_string_dtype(data[column]):
                continue
            text = "\n".join(str(v) for v in data[column].dropna())
            checked += 1
            for secret in SECRETS:
                assert secret.casefold() not in text.casefold(), (table.name, column, secret)
    assert checked > 10
