"""Fixtures of the app tests: a small demo store (built once per package) and an app on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ioc.demo.build import local_now


@pytest.fixture(scope="package")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """60 schools, 30 attendance days and 2 probe days ending today (so the data is fresh)."""
    from ioc.demo import build_demo
    from ioc.store import Store

    folder: Path = tmp_path_factory.mktemp("app-demo")
    build_demo(folder, schools=60, attendance_days=30, probe_days=2, today=local_now().date())
    store = Store(folder)
    yield store
    store.close()


@pytest.fixture(scope="package")
def app(demo_store: Any) -> Any:
    from ioc.app import create_app

    return create_app(store=demo_store)


@pytest.fixture
def request_context(app: Any) -> Iterator[None]:
    """A Flask request context of the app, as Dash gives every layout and callback."""
    with app.server.test_request_context("/"):
        yield
