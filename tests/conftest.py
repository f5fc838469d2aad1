"""Shared fixtures: a small generated collaborative and its DuckDB store."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.demo import DemoData, generate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def demo_data() -> DemoData:
    return generate(seed=11)


@pytest.fixture
def fake_quarto_bin(tmp_path_factory, monkeypatch) -> Path:
    """Put the replaying stand-in ``quarto`` (tests/fake_quarto.py) first on PATH.

    Returns the folder holding it; calls are logged as JSON lines to ``calls.jsonl`` there.
    """
    import os
    import sys

    folder = tmp_path_factory.mktemp("fake-quarto-bin")
    script = folder / "quarto"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ROOT / "tests" / "fake_quarto.py"}" '
                      '"$@"\n', encoding="utf-8")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_QUARTO_LOG", str(folder / "calls.jsonl"))
    return folder
