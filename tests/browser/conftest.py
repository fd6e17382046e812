"""Browser tests: dash[testing]'s ``dash_duo`` driving Debian's headless Chromium.

Options are set here so a plain ``pytest tests`` works (no --webdriver/--headless flags needed).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ioc.demo.build import local_now

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config.option, "headless"):
        config.option.headless = True


def pytest_setup_options() -> Any:
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = CHROMIUM
    options.add_argument("--headless=new")
    options.add_argument("--window-size=1600,1000")
    options.add_argument("--no-sandbox")
    options.add_argument("--disable-dev-shm-usage")
    return options


@pytest.fixture(scope="package")
def browser_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from ioc.demo import build_demo
    from ioc.store import Store

    folder: Path = tmp_path_factory.mktemp("browser-demo")
    build_demo(folder, schools=60, attendance_days=30, probe_days=2, today=local_now().date())
    store = Store(folder)
    yield store
    store.close()


@pytest.fixture
def start(dash_duo: Any, browser_store: Any, monkeypatch: pytest.MonkeyPatch):
    """``start(**settings)``: set IOC_* settings, create the app on the demo store, serve it."""

    def run(**values: str) -> Any:
        for name, value in values.items():
            monkeypatch.setenv("IOC_" + name.upper(), value)
        from ioc.app import create_app

        dash_duo.start_server(create_app(store=browser_store))
        return dash_duo

    return run


@pytest.fixture(autouse=True)
def _no_stray_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IOC_SCREENS_DIR", "IOC_BOUNDARIES_FILE", "IOC_REFRESH_SECONDS", "IOC_ROTATE_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    os.environ.setdefault("DASH_TEST_CHROMEPATH", CHROMIUM)
