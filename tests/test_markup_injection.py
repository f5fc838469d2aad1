"""Text from the configuration is text: markup in names renders as characters, never as
live HTML, in every report (HTML and Word)."""

from __future__ import annotations

import dataclasses

import pytest
from report_checker import report_text

from evalkit.pipeline import analyze_project, render_project
from evalkit.scenarios import generate_scenario, write_scenario

pytestmark = pytest.mark.slow

SCRIPT = "<script>alert('x')</script>"
IMG = "<img src=x onerror=alert(1)>"
STARS = "*bold* _it_ [link](http://example.org)"


def test_markup_in_the_configuration_renders_as_text(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_ID_KEY", "markup-test-key-0123456789")
    scenario = generate_scenario("no_network", seed=3)
    config = dict(scenario.config)
    config["collaborative"] = {**config["collaborative"], "name": f"Care {SCRIPT} Network"}
    sites = [dict(s) for s in config["sites"]]
    sites[0]["name"] = f"Site {IMG} One"
    sites[1]["name"] = f"Site {STARS}"
    config["sites"] = sites
    config["modalities"] = [{**m, "label": m["label"] + " <b>x</b>"} if i == 0 else m
                            for i, m in enumerate(config["modalities"])]
    scenario = dataclasses.replace(scenario, config=config)
    project = write_scenario(scenario, tmp_path / "project")
    analyze_project(project)
    render_project(project, formats=("html", "docx"))
    outputs = sorted((project / "_output").rglob("*.html"))
    assert len(outputs) == 2 + len(sites)
    for page in outputs:
        raw = page.read_text(encoding="utf-8")
        assert "<script>alert" not in raw and "<img src=x" not in raw and "<b>x</b>" not in raw
        assert 'href="http://example.org"' not in raw
    cross = report_text(project / "_output" / "cross-site" / "cross-site.html")
    assert f"Care {SCRIPT} Network" in cross
    assert f"Site {IMG} One" in cross and f"Site {STARS}" in cross
    site1 = report_text(project / "_output" / "sites" / "S01" / "site-S01.docx")
    assert f"Site {IMG} One" in site1
