"""The demo's reports, checked as a reader sees them: in headless Chromium and in Word.

The demo is rendered once for the module. Each HTML report is opened in Debian's headless
Chromium (driven by Selenium, with the driver and browser paths given so Selenium Manager
never downloads anything): no console errors, every image loaded and described, every table
captioned, nothing fetched from outside the file, the key numbers visible, and a full-page
screenshot. Each ``.docx`` is opened with python-docx: the HTML's headings and the same key
numbers in its tables. Every expected number is read from ``results/``, never typed in.

Outputs are found by name anywhere under ``_output/`` so the tests do not depend on the
folder layout. Without Chromium the browser tests skip, except under CI (``CI`` set), where
they fail: CI installs Chromium (``.ci/run``).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import struct
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.results import read_results

pytestmark = pytest.mark.slow

runner = CliRunner()

CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
CHROMEDRIVER = Path(shutil.which("chromedriver") or "/usr/bin/chromedriver")
MIN_SCREENSHOT_BYTES = 20_000


# --------------------------------------------------------------------------- rendering


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The demo project, rendered once: HTML, and Word too when the CLI can make it."""
    out = tmp_path_factory.mktemp("reader") / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    if not any(out.rglob("*.docx")):
        # The demo renders HTML; ask `evalkit report` for Word too once it offers --format.
        usage = runner.invoke(app, ["report", "--help"], terminal_width=200).output
        if "--format" in usage:
            args = ["report", "-p", str(out), "--format", "html,docx"]
            if "--all" in usage:
                args.append("--all")
            result = runner.invoke(app, args)
            assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def res(demo):
    return read_results(demo / "results")


@dataclass(frozen=True)
class Expected:
    """What a reader should find, computed from results/ (never retyped)."""

    threshold: int
    modality_label: dict[str, str]
    model_outcome: str
    contrasts: pd.DataFrame  # modelled outcome, from == plan pre, to == plan post
    prepost: pd.DataFrame  # matched outcomes, with their labels
    sites: pd.DataFrame


@pytest.fixture(scope="module")
def expected(res) -> Expected:
    man = res.manifest
    pre, post = man["plan"]["compare"]["pre"], man["plan"]["compare"]["post"]
    outcomes = res.table("outcomes")
    model_outcome = outcomes.loc[outcomes["model"].astype(bool), "id"].iloc[0]
    con = res.table("model_contrasts")
    con = con[(con["outcome"] == model_outcome) & (con["from"] == pre) & (con["to"] == post)]
    pp = res.table("prepost")
    pp = pp[pp["design"] == "matched"].merge(
        outcomes[["id", "label"]].rename(columns={"id": "outcome"}), on="outcome")
    assert len(con) and len(pp), "the demo's results lack contrasts or matched pre/post rows"
    return Expected(threshold=int(man["suppression_threshold"]),
                    modality_label={m["id"]: m["label"] for m in man["modalities"]},
                    model_outcome=model_outcome, contrasts=con, prepost=pp,
                    sites=res.table("sites"))


def _one(out: Path, name: str) -> Path:
    found = sorted((out / "_output").rglob(name))
    assert len(found) == 1, f"expected one {name} under {out / '_output'}, found {found}"
    return found[0]


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Table:
    """A table as a reader sees it: its caption and its rows of cell texts."""

    caption: str
    rows: list[list[str]]


def _norm(text: str) -> str:
    """Text as compared: typographic quotes and minus signs plain, whitespace collapsed."""
    text = (text.replace("\u2212", "-").replace("\u2019", "'").replace("\u2018", "'")
            .replace("\u201c", '"').replace("\u201d", '"').replace("\xa0", " "))
    return re.sub(r"\s+", " ", text).strip()


def _has_number(text: str, number: str) -> bool:
    """``number`` (e.g. ``-0.13``) appears in ``text`` as a whole number, not inside another."""
    return re.search(rf"(?<![\d.\-]){re.escape(number)}(?![\d])", _norm(text)) is not None


def _count(n: float, threshold: int) -> str:
    """A count as the reports show it: suppressed below the threshold."""
    n = int(n)
    return f"<{threshold}" if 0 < n < threshold else str(n)


def _rows_with(rows: list[list[str]], *, cells: tuple[str, ...] = (),
               texts: tuple[str, ...] = (), numbers: tuple[str, ...] = ()) -> list[list[str]]:
    """Rows having every cell exactly, every text somewhere, and every number in some cell."""
    hits = []
    for row in rows:
        row = [_norm(c) for c in row]
        joined = " | ".join(row)
        if (all(c in row for c in cells) and all(t in joined for t in texts)
                and all(any(_has_number(c, n) for c in row) for n in numbers)):
            hits.append(row)
    return hits


def _check_contrasts(tables: list[Table], exp: Expected, where: str) -> list[str]:
    """Each modality pair's difference in change (2 decimals) in a row naming both modalities
    of the table captioned 'Difference in change'."""
    diff = [t for t in tables if "difference in change" in t.caption.lower()]
    if not diff:
        return [f"{where}: no table captioned 'Difference in change...'; captions are "
                f"{[t.caption[:60] for t in tables]}"]
    rows = [r for t in diff for r in t.rows]
    problems = []
    for c in exp.contrasts.itertuples():
        a, b = exp.modality_label[c.a], exp.modality_label[c.b]
        if not _rows_with(rows, texts=(a, b), numbers=(f"{c.estimate:.2f}",)):
            problems.append(f"{where}: no row of the difference-in-change table shows "
                            f"{a!r} vs {b!r} with estimate {c.estimate:.2f}; rows: {rows}")
    return problems


def _pre_post(tables: list[Table]) -> list[Table]:
    """The cross-site pre/post table(s), by caption; every table if none is so captioned."""
    return [t for t in tables if "pre/post" in t.caption.lower()] or tables


def _check_prepost(tables: list[Table], exp: Expected, where: str, *,
                   site: str | None = None) -> list[str]:
    """Each matched outcome's n matched and change (2 decimals) in one table row."""
    pp = exp.prepost
    pp = pp[pp["level"] == "collaborative"] if site is None else pp[
        (pp["level"] == "site") & (pp["site_id"] == site)]
    if pp.empty:
        return [f"{where}: results/prepost has no matched rows for this report"]
    rows = [r for t in tables for r in t.rows]
    problems = []
    for r in pp.itertuples():
        n = _count(r.n_pairs, exp.threshold)
        numbers = () if n.startswith("<") else (f"{r.mean_diff:.2f}",)
        if not _rows_with(rows, cells=(_norm(r.label), n), numbers=numbers):
            problems.append(f"{where}: no table row shows {r.label!r} with n matched {n}"
                            + (f" and change {numbers[0]}" if numbers else ""))
    return problems


@dataclass(frozen=True)
class Page:
    """One HTML report as the browser showed it."""

    path: Path
    text: str
    severe: list[str]
    images: list[dict]
    tables: list[Table]
    fetched: list[str]
    screenshot: Path
    page_height: int


_READ_PAGE = """
const cells = r => [...r.cells].map(c => c.innerText);
return {
  text: document.body.innerText,
  images: [...document.images].map(i => ({
    src: i.currentSrc.slice(0, 60), complete: i.complete, width: i.naturalWidth,
    alt: i.getAttribute('alt')})),
  tables: [...document.querySelectorAll('table')].map(t => ({
    caption: t.caption ? t.caption.innerText : '', rows: [...t.rows].map(cells)})),
  fetched: performance.getEntriesByType('resource').map(e => e.name),
  height: Math.ceil(document.documentElement.scrollHeight),
  width: Math.ceil(document.documentElement.scrollWidth),
};
"""


def _browser():
    """Headless Chromium under Selenium, or skip (fail under CI) without it."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        reason = (f"headless Chromium not installed ({', '.join(missing)} missing); "
                  "install Debian's chromium and chromium-driver packages")
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {reason}", pytrace=False)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)  # with the driver path: no Selenium Manager
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1024",
                "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def pages(demo, tmp_path_factory) -> dict[str, Page]:
    """Every HTML report, opened once in the browser: keyed by file name."""
    htmls = sorted((demo / "_output").rglob("*.html"))
    assert htmls, f"no HTML report under {demo / '_output'}"
    shots = tmp_path_factory.mktemp("screenshots")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SE_OFFLINE", "true")  # belt and braces: Selenium Manager never downloads
        driver = _browser()
    seen: dict[str, Page] = {}
    try:
        for html in htmls:
            assert html.name not in seen, f"two reports named {html.name}"
            driver.get(html.as_uri())
            data = driver.execute_script(_READ_PAGE)
            logs = driver.get_log("browser")
            # Full page, not just the viewport: Chrome DevTools' capture beyond the viewport.
            shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": data["width"], "height": data["height"],
                         "scale": 1}})
            png = shots / f"{html.stem}.png"
            png.write_bytes(base64.b64decode(shot["data"]))
            seen[html.name] = Page(
                path=html, text=data["text"],
                severe=[e["message"] for e in logs if e["level"] == "SEVERE"],
                images=data["images"],
                tables=[Table(_norm(t["caption"]), t["rows"]) for t in data["tables"]],
                fetched=[u for u in data["fetched"] if not u.startswith(("data:", "blob:"))],
                screenshot=png, page_height=data["height"])
    finally:
        driver.quit()
    return seen


# --------------------------------------------------------------------------- every page


def test_every_report_is_rendered(demo, expected):
    _one(demo, "cross-site.html")
    for site_id in expected.sites["site_id"]:
        _one(demo, f"site-{site_id}.html")


def test_no_console_errors(pages):
    errors = {name: p.severe for name, p in pages.items() if p.severe}
    assert not errors, f"SEVERE console messages: {errors}"


def test_every_image_loaded_and_described(pages):
    problems = []
    for name, page in pages.items():
        if not page.images:
            problems.append(f"{name}: no figure at all")
        for i, img in enumerate(page.images, 1):
            if not (img["complete"] and img["width"] > 0):
                problems.append(f"{name}: image {i} ({img['src']}...) did not load")
            if not (img["alt"] or "").strip():
                problems.append(f"{name}: image {i} ({img['src']}...) has no alt text")
    assert not problems, "\n".join(problems)


def test_every_table_has_a_caption(pages):
    problems = [f"{name}: table {i} (header {t.rows[0] if t.rows else []}) has no caption"
                for name, page in pages.items()
                for i, t in enumerate(page.tables, 1) if not t.caption]
    assert not problems, "\n".join(problems)


def test_reports_load_nothing_from_outside_the_file(pages):
    fetched = {name: p.fetched for name, p in pages.items() if p.fetched}
    assert not fetched, f"reports must be self-contained; they fetched {fetched}"


def test_full_page_screenshots(pages):
    for name, page in pages.items():
        assert page.screenshot.stat().st_size > MIN_SCREENSHOT_BYTES, name
        width, height = _png_size(page.screenshot)
        assert width >= 800 and height >= page.page_height, (name, width, height)


# --------------------------------------------------------------------------- key values


def test_cross_site_shows_difference_in_change_from_results(pages, expected):
    problems = _check_contrasts(pages["cross-site.html"].tables, expected, "cross-site.html")
    assert not problems, "\n".join(problems)


def test_cross_site_shows_prepost_n_matched_from_results(pages, expected):
    problems = _check_prepost(_pre_post(pages["cross-site.html"].tables), expected,
                              "cross-site.html")
    assert not problems, "\n".join(problems)


def test_site_reports_show_site_name_and_n_pairs_from_results(pages, expected):
    problems = []
    for site in expected.sites.itertuples():
        name = f"site-{site.site_id}.html"
        if name not in pages:
            problems.append(f"{name} not rendered")
            continue
        page = pages[name]
        if _norm(site.name) not in _norm(page.text):
            problems.append(f"{name}: site name {site.name!r} not visible")
        problems += _check_prepost(page.tables, expected, name, site=site.site_id)
    assert not problems, "\n".join(problems)


def test_lessons_report_states_modality_differences(pages, expected):
    if "lessons.html" not in pages:
        pytest.skip("no lessons.html rendered yet (reports/lessons.qmd not in the demo)")
    text = pages["lessons.html"].text
    missing = [f"{expected.modality_label[c.a]} vs {expected.modality_label[c.b]}: "
               f"{c.estimate:.2f}" for c in expected.contrasts.itertuples()
               if not _has_number(text, f"{c.estimate:.2f}")]
    assert not missing, f"lessons.html does not show these differences in change: {missing}"


# --------------------------------------------------------------------------- Word


class _Headings(HTMLParser):
    """Section headings of a rendered HTML report (not the title block or the contents)."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self._skip = 0
        self._stack: list[str] = []
        self._open: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("header", "nav") or "title" in (a.get("class") or "").split():
            self._stack.append(tag)
            self._skip += 1
        elif tag in ("h1", "h2", "h3") and not self._skip:
            self._open = []

    def handle_endtag(self, tag):
        if self._stack and tag == self._stack[-1]:
            self._stack.pop()
            self._skip -= 1
        elif tag in ("h1", "h2", "h3") and self._open is not None:
            self.headings.append(_norm("".join(self._open)))
            self._open = None

    def handle_data(self, data):
        if self._open is not None:
            self._open.append(data)


def _html_headings(path: Path) -> list[str]:
    parser = _Headings()
    parser.feed(path.read_text(encoding="utf-8"))
    return [h for h in parser.headings if h]


@dataclass(frozen=True)
class WordDoc:
    path: Path
    title: str
    headings: list[str]
    tables: list[Table]
    image_alts: list[str]


def _read_docx(path: Path) -> WordDoc:
    """Headings, and each table with its caption (the 'Table Caption' paragraph beside it)."""
    import docx
    from docx.table import Table as DocxTable

    doc = docx.Document(str(path))
    blocks = list(doc.iter_inner_content())

    def caption(i: int) -> str:
        for j in (i - 1, i + 1):
            near = blocks[j] if 0 <= j < len(blocks) else None
            if near is not None and not isinstance(near, DocxTable) and (
                    near.style.name == "Table Caption"):
                return _norm(near.text)
        return ""

    tables = [Table(caption(i), [[c.text for c in row.cells] for row in b.rows])
              for i, b in enumerate(blocks) if isinstance(b, DocxTable)]
    return WordDoc(
        path=path,
        title=" ".join(_norm(p.text) for p in doc.paragraphs if p.style.name == "Title"),
        headings=[_norm(p.text) for p in doc.paragraphs if p.style.name.startswith("Heading")],
        tables=tables,
        image_alts=[s._inline.docPr.get("descr") or "" for s in doc.inline_shapes])


@pytest.fixture(scope="module")
def word(demo) -> dict[str, WordDoc]:
    found = sorted((demo / "_output").rglob("*.docx"))
    if not found:
        pytest.skip("no .docx rendered yet (the demo and `evalkit report` make HTML only)")
    return {p.name: _read_docx(p) for p in found}


def _word(word: dict[str, WordDoc], name: str) -> WordDoc:
    if name not in word:
        pytest.skip(f"{name} not rendered (Word files found: {sorted(word)})")
    return word[name]


def test_word_has_the_html_headings(word):
    problems = []
    for name, doc in word.items():
        html = doc.path.with_suffix(".html")
        if not html.exists():
            problems.append(f"{name}: no {html.name} beside it to compare with")
            continue
        missing = [h for h in _html_headings(html) if h not in doc.headings]
        if missing:
            problems.append(f"{name}: headings {missing} missing; it has {doc.headings}")
    assert not problems, "\n".join(problems)


def test_word_tables_have_captions_and_figures_alt_text(word):
    problems = []
    for name, doc in word.items():
        problems += [f"{name}: table {i} (header {t.rows[0] if t.rows else []}) has no caption"
                     for i, t in enumerate(doc.tables, 1) if not t.caption]
        problems += [f"{name}: figure {i} has no alt text"
                     for i, alt in enumerate(doc.image_alts, 1) if not alt.strip()]
    assert not problems, "\n".join(problems)


def test_word_cross_site(word, expected):
    doc = _word(word, "cross-site.docx")
    assert "Which modality worked best?" in doc.headings, doc.headings
    problems = _check_contrasts(doc.tables, expected, "cross-site.docx")
    problems += _check_prepost(_pre_post(doc.tables), expected, "cross-site.docx")
    assert not problems, "\n".join(problems)


def test_word_site_reports(word, expected):
    problems = []
    for site in expected.sites.itertuples():
        doc = _word(word, f"site-{site.site_id}.docx")
        if _norm(site.name) not in doc.title:  # site reports are titled with the site's name
            problems.append(f"{doc.path.name}: {site.name!r} is not in the title {doc.title!r}")
        problems += _check_prepost(doc.tables, expected, doc.path.name, site=site.site_id)
    assert not problems, "\n".join(problems)
