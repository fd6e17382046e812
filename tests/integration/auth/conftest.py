"""An app with sign-in required on a small demo store, with hostile school names loaded through
the ingestion path, and one account per role.

The accounts database is parametrized (``auth_backend``): every test that uses the app runs on the
SQLite file and on PostgreSQL (a fresh database of the suite's server), except in modules that set
``AUTH_BACKENDS`` to fewer (those testing the metrics layer's scoping, which does not touch the
accounts database).
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ioc.demo.build import local_now

XSS_NAME = "<img src=x onerror=alert(1)>"
FORMULA_NAME = '=HYPERLINK("http://evil.example","click")'
PASSWORD = "a long passphrase 2026"
BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "auth_backend" in metafunc.fixturenames:
        backends = getattr(metafunc.module, "AUTH_BACKENDS", BACKENDS)
        metafunc.parametrize("auth_backend", backends, indirect=True, scope="package")


# the accounts database of each backend, made once for the package
_DATABASE_URLS: dict[str, str] = {}


@pytest.fixture(scope="package")
def auth_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """'sqlite' or 'postgresql': where accounts, sessions and the audit log live for the app.

    The setting IOC_AUTH_DATABASE_URL is set per test (``_auth_database_setting``) and while the
    package's app is built, never for the session: pytest tears package fixtures of folders without
    ``__init__.py`` down only at the end of the session, and other folders' tests must not see it.
    """
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        _DATABASE_URLS[request.param] = server.create_database("auth_" + uuid.uuid4().hex[:12])
    else:
        _DATABASE_URLS[request.param] = "sqlite"
    yield request.param
    _DATABASE_URLS.pop(request.param, None)


def _backend_of(request: pytest.FixtureRequest) -> str:
    callspec = getattr(request.node, "callspec", None)
    return str(callspec.params.get("auth_backend", "sqlite")) if callspec else "sqlite"


@pytest.fixture(autouse=True)
def _auth_database_setting(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOC_AUTH_DATABASE_URL", _DATABASE_URLS.get(_backend_of(request), "sqlite"))


@dataclass(frozen=True)
class City:
    own: str  # district of the officer
    other: str  # another district with schools
    own_ward: str
    other_ward: str
    own_school: str  # the school named XSS_NAME
    other_school: str


@pytest.fixture(scope="package")
def auth_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from ingest.load import ingest_paths
    from ioc.demo import build_demo
    from ioc.store import Store

    folder: Path = tmp_path_factory.mktemp("auth-demo")
    build_demo(folder, schools=60, attendance_days=30, probe_days=2, today=local_now().date())
    store = Store(folder)
    # a new version of the schools file renames two schools (as a careless or hostile source might)
    source = sorted((folder / "demo_source").glob("schools_*.csv"))[-1]
    with source.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[0]["school_name"] = XSS_NAME
    rows[1]["school_name"] = FORMULA_NAME
    renamed = tmp_path_factory.mktemp("auth-renamed") / f"schools_{local_now().date().isoformat()}.csv"
    with renamed.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    results = ingest_paths(store, [renamed])
    assert results[0].status == "loaded", results
    yield store
    store.close()


@pytest.fixture(scope="package")
def city(auth_store: Any) -> City:
    from ioc.metrics import dimensions

    schools = dimensions.schools(auth_store)
    first = schools[0]
    other = next(s for s in schools if s.district_code != first.district_code)
    return City(
        own=first.district_code,
        other=other.district_code,
        own_ward=first.ward_code,
        other_ward=other.ward_code,
        own_school=first.school_id,
        other_school=other.school_id,
    )


@pytest.fixture(scope="package")
def auth_app(auth_store: Any, city: City, auth_backend: str) -> Any:
    from ioc.app import create_app
    from ioc.auth import accounts
    from ioc.auth.db import open_db
    from ioc.auth.web import install

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IOC_AUTH_DATABASE_URL", _DATABASE_URLS[auth_backend])
        app = create_app(store=auth_store)
        install(app, auth_store.layout.root, store_factory=lambda: auth_store, required=True)
        db = open_db(auth_store.layout.root)
        accounts.add(db, "le", "leadership", PASSWORD)
        accounts.add(db, "an", "analyst", PASSWORD)
        accounts.add(db, "ad", "admin", PASSWORD)
        accounts.add(db, "of", "district_officer", PASSWORD, districts=[city.own])
        accounts.add(db, "wo", "district_officer", PASSWORD, wards=[city.own_ward])
        accounts.add(db, "pr", "principal", PASSWORD, schools=[city.own_school])
        accounts.add(db, "none", "district_officer", PASSWORD)
    return app


@pytest.fixture
def db(auth_app: Any, auth_store: Any) -> Any:
    from ioc.auth.db import open_db

    return open_db(auth_store.layout.root)


@pytest.fixture
def signed_in(auth_app: Any, db: Any):
    """``signed_in(username)`` -> (test client with a live session, the session's CSRF token)."""
    from ioc.auth import sessions

    def make(username: str) -> tuple[Any, str]:
        client = auth_app.server.test_client()
        value, session = sessions.create(db, username=username)
        client.set_cookie("ioc_session", value)
        return client, session.csrf

    return make
