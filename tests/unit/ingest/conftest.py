"""Fixtures of the ingestion tests: fixture files and a store with the fixture schools loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ingest"
GOOD = FIXTURES / "good"
BAD = FIXTURES / "bad"


@pytest.fixture
def schools_store(store):
    """A fresh store holding the three fixture schools (S001..S003)."""
    from ingest.load import ingest_file

    result = ingest_file(store, GOOD / "schools_2025-07-01.csv")
    assert result.status == "loaded", result
    return store
