from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "metrics_seed_store", Path(__file__).resolve().parents[2] / "fixtures" / "metrics" / "seed_store.py"
)
seed_store = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(seed_store)


@pytest.fixture(scope="session")
def seed(tmp_path_factory: pytest.TempPathFactory):
    """The seed store (read only: tests that write build their own)."""
    store = seed_store.build(tmp_path_factory.mktemp("metrics-seed") / "data")
    yield store
    store.close()
