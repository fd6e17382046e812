"""Demo files generated once per module (no store: these tests check the files themselves)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import pytest

from ioc.demo import connectivity
from ioc.demo.build import DemoFiles, write_files

TODAY = date(2026, 11, 25)  # a Wednesday
NOW = datetime(2026, 11, 25, 10, 2, tzinfo=connectivity.LOCAL)


def generate(folder: Path, **overrides: object) -> DemoFiles:
    options: dict = {"schools": 400, "attendance_days": None, "probe_days": 2, "seed": 2026}
    options.update(overrides)
    return write_files(folder, today=TODAY, now=NOW, **options)


@pytest.fixture(name="generate")
def generate_fixture() -> Callable[..., DemoFiles]:
    """``generate(folder, **overrides)``: write demo files for the fixed TODAY and NOW."""
    return generate


@pytest.fixture(scope="package")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return generate(tmp_path_factory.mktemp("demo") / "source")
