"""A document's title can be replaced at render time (site reports carry the site's name)."""

from __future__ import annotations

from pathlib import Path

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
