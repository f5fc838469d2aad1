"""A document's title can be replaced at render time (site reports carry the site's name)."""

from __future__ import annotations

from pathlib import Path

from evalkit.reporting._render import _retitle, render_document

FIXTURE = Path(__file__).parent / "render_fixtures" / "params_report.qmd"


def test_retitle_replaces_only_the_title():
    text = '---\ntitle: "Site report"\nformat:\n  html:\n    toc: true\n---\n\n# Body\n'
    out = _retitle(text, "Harbor County: site report", Path("x.qmd"))
    assert out.startswith("---\ntitle: 'Harbor County: site report'\nformat:\n")
    assert out.endswith("---\n\n# Body\n")


def test_retitle_adds_front_matter_when_missing():
    assert _retitle("# Body\n", "T", Path("x.qmd")) == "---\ntitle: T\n---\n# Body\n"


def test_fallback_render_uses_the_given_title(tmp_path):
    done = render_document(FIXTURE, output_dir=tmp_path, title="Eastgate: site report",
                           engine="fallback")
    html = done.outputs[0].read_text()
    assert "<title>Eastgate: site report</title>" in html
