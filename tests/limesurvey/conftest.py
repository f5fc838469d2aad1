"""Fixtures for the LimeSurvey tests under tests/limesurvey/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from limesurvey_server import FakeLimeSurvey, started

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def recorded(number: str) -> dict:
    """The recorded request/response pair whose file starts with ``number``."""
    (path,) = [p for p in FIXTURES.glob(f"{number}_*.json") if ".decoded." not in p.name]
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def fake_server() -> Iterator[FakeLimeSurvey]:
    server = started(password="Admin-Pass-2024")
    yield server
    server.stop()
