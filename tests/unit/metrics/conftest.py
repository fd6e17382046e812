"""Fixtures of the metrics unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from ioc.metrics import cache

from .test_dataset_versions import _seed_module


@pytest.fixture
def fresh(tmp_path: Path):
    """A seed store of this test's own (it may load more data), with an empty KPI cache."""
    store = _seed_module().build(tmp_path / "data")
    cache.clear()
    yield store
    store.close()
