"""A document's title can be replaced at render time (site reports carry the site's name)."""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import pytest
import yaml

from evalkit.reporting._quarto import _front_matter
from evalkit.reporting._render import render_document

FIXTURE = Path(__file__).parent / "render_fixtures" / "params_report.qmd"


def test_staged_front_matter_replaces_the_title_and_lists_every_format():
    text = '---\ntitle: "Site report"\nformat:\n  html:\n    toc: true\n---\n\n# Body\n'
    out = _front_matter(text, Path("x.qmd"), ["html", "docx"], "Harbor County: site report")
    head, body = out.split("---\n")[1:3]
    assert yaml.safe_load(head) == {
        "title": "Harbor County: site report",
        # a document's own format keys replace the project's list, so docx must be there
        "format": {"html": {"toc": True, "format-links": False}, "docx": "default"},
    }
    assert body == "\n# Body\n"


def test_staged_front_matter_added_when_missing_and_untouched_without_title():
    assert _front_matter("# Body\n", Path("x.qmd"), ["html"], "T") == "---\ntitle: T\n---\n# Body\n"
    assert _front_matter("# Body\n", Path("x.qmd"), ["html"], None) == "# Body\n"


def test_fallback_render_uses_the_given_title(tmp_path):
    done = render_document(FIXTURE, output_dir=tmp_path, title="Eastgate: site report",
                           engine="fallback")
    html = done.outputs[0].read_text()
    assert "<title>Eastgate: site report</title>" in html


# Branding: organisation, funder and logo on every title, under both engines ----------------

_PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwAD"
                        "hgGAWjR9awAAAABJRU5ErkJggg==")
_BRAND_DOC = """---
title: "Cross-site report"
format:
  html:
    toc: true
---

```{python}
#| tags: [parameters]
organisation = ""
funder = ""
logo = ""
```

```{python}
#| output: asis
from evalkit.reporting import brand_markdown

print(brand_markdown(organisation=organisation, funder=funder, logo=logo))
print("## Body\\n\\nText.")
```
"""


def test_report_jobs_pass_the_branding_to_every_document(tmp_path):
    from evalkit.reporting import Branding, report_jobs

    for name in ("cross_site.qmd", "lessons.qmd", "site.qmd"):
        (tmp_path / name).write_text("---\ntitle: x\n---\n")
    logo = tmp_path / "logo.png"
    logo.write_bytes(_PNG)
    brand = Branding(organisation="Center", funder="Funded by F.", logo=logo)
    jobs = report_jobs(tmp_path, "results", [("S01", "North")], branding=brand)
    assert len(jobs) == 3
    for job in jobs:
        assert {k: job.params[k] for k in ("organisation", "funder", "logo")} == {
            "organisation": "Center", "funder": "Funded by F.", "logo": str(logo.resolve())}
    plain = report_jobs(tmp_path, "results", [("S01", "North")])
    assert all(set(j.params) <= {"results_dir", "site"} for j in plain)


def test_a_new_logo_at_the_same_path_renders_again(tmp_path):
    from evalkit.reporting._reports import ReportJob, _logo_digest

    logo = tmp_path / "logo.png"
    logo.write_bytes(_PNG)
    job = ReportJob(tmp_path / "x.qmd", "x", {"logo": str(logo)})
    before = _logo_digest(job)
    logo.write_bytes(_PNG + b"\0")
    assert before != _logo_digest(job) and _logo_digest(ReportJob(tmp_path, "x")) == {}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fallback", "quarto"])
def test_both_engines_put_the_escaped_branding_and_the_logo_on_the_title(
        tmp_path, engine, request):
    import zipfile

    if engine == "quarto":
        request.getfixturevalue("fake_quarto_bin")  # the replaying stand-in (fixture 25)
    project = tmp_path / "project"
    (project / "reports").mkdir(parents=True)
    shutil.copy(Path(__file__).parent / "quarto" / "project" / "_quarto.yml", project)
    (project / "reports" / "brand.qmd").write_text(_BRAND_DOC)
    logo = project / "logo.png"
    logo.write_bytes(_PNG)
    done = render_document(
        project / "reports" / "brand.qmd", output_dir=tmp_path / "out", engine=engine,
        formats=("html", "docx"), output_stem="brand",
        params={"organisation": "Center <b>A</b> & Co", "funder": "Funded by *F*.",
                "logo": str(logo)})
    assert done.engine == engine
    html = done.outputs[0].read_text(encoding="utf-8")
    assert "<b>A</b>" not in html and "<em>F</em>" not in html
    assert "<strong>Center &lt;b&gt;A&lt;/b&gt; &amp; Co</strong>" in html
    assert "Funded by *F*." in html
    img = re.search(r'<img[^>]*src="data:image/png;base64,([^"]+)"[^>]*>', html)
    assert img and base64.b64decode(img.group(1)) == _PNG
    assert 'alt="Logo of Center &lt;b&gt;A&lt;/b&gt; &amp; Co"' in img.group(0)
    with zipfile.ZipFile(done.outputs[1]) as z:
        assert _PNG in [z.read(n) for n in z.namelist() if n.startswith("word/media/")]
        body = z.read("word/document.xml").decode()
    assert 'descr="Logo of Center &lt;b&gt;A&lt;/b&gt; &amp; Co"' in body
    assert "Funded by *F*." in body
    # the branding comes right after the title, before the body's first heading
    words = re.sub(r"<[^>]+>", " ", body)
    assert words.index("Cross-site report") < words.index("Center") < words.index("Body")
