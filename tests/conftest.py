"""Fixtures shared by every test area.

Each area (ingest, metrics, app, scheduler) keeps its own fixtures in a conftest.py of its
sub-folder; only what all of them need lives here.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
# Reference data of the city, beside the project (tests and CI may read it; the product may not).
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data directory, also set as IOC_DATA_DIR for code that reads the setting."""
    path = tmp_path / "data"
    monkeypatch.setenv("IOC_DATA_DIR", str(path))
    return path


@pytest.fixture
def store(data_dir: Path):
    from ioc.store import Store

    s = Store(data_dir)
    yield s
    s.close()


@pytest.fixture(scope="session", autouse=True)
def _quiet_environment() -> None:
    # Tests never read a developer's own data directory by accident.
    os.environ.pop("IOC_DATA_DIR", None)
    # The app tests of other areas run without sign-in (explicitly); the access-control tests
    # (tests/*/auth, tests/browser/test_security.py) switch it on for their own apps.
    os.environ["IOC_AUTH_REQUIRED"] = "false"


def _load_metrics_seed_module():
    spec = importlib.util.spec_from_file_location(
        "metrics_seed_store", FIXTURES / "metrics" / "seed_store.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def seed(tmp_path_factory: pytest.TempPathFactory):
    """The metrics seed store, built once from tests/fixtures/metrics/seed (read only: tests
    that write build their own)."""
    store = _load_metrics_seed_module().build(tmp_path_factory.mktemp("metrics-seed") / "data")
    yield store
    store.close()


# -- real servers for the multi-node tests (tests/servers.py; tests/integration/cluster) ----------
@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory):
    """A PostgreSQL server on 127.0.0.1 for the whole session (`.create_database(name)` per test)."""
    from tests.servers import postgres

    with postgres(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    """A Redis server on 127.0.0.1 for the whole session (`.url`)."""
    from tests.servers import redis

    with redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory):
    """An S3-compatible object store (moto) on 127.0.0.1 (`.endpoint`, `.create_bucket(name)`)."""
    from tests.servers import object_store

    with object_store(tmp_path_factory.mktemp("s3")) as server:
        yield server
