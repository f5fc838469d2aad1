"""PDF output: printed from the rendered, scanned HTML by headless Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from evalkit.errors import RenderError
from evalkit.reporting._render import render_document

FIXTURE = Path(__file__).parent / "render_fixtures" / "params_report.qmd"
HAVE_CHROMIUM = shutil.which("chromium") is not None


@pytest.mark.slow
def test_pdf_is_printed_from_the_html(tmp_path):
    if not HAVE_CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("CI must have Debian's chromium (.ci/run installs it)")
        pytest.skip("headless Chromium is not installed here")
    done = render_document(FIXTURE, output_dir=tmp_path, params={"site_name": "Eastgate"},
                           formats=("pdf",))
    assert [p.name for p in done.outputs] == ["params_report.html", "params_report.pdf"]
    pdf = (tmp_path / "params_report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and len(pdf) > 5_000
    assert "Eastgate" in (tmp_path / "params_report.html").read_text()


def test_pdf_without_chromium_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RenderError, match=r"formats: 'pdf' is printed from the HTML with "
                                          r"headless Chromium, which is not on PATH"):
        render_document(FIXTURE, output_dir=tmp_path, formats=("pdf",))
    assert not any(tmp_path.iterdir())
