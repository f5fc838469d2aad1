"""Shared fixtures: a small generated collaborative and its DuckDB store."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.demo import DemoData, generate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def demo_data() -> DemoData:
    return generate(seed=11)
