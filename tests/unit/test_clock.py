"""The product has one clock (ioc.clock.now): setting it in a test moves every page, panel, metric
and ingest job at once, and no module keeps a clock of its own that a test could not reach."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import pytest

from ingest import load
from ioc import clock
from ioc.demo.build import local_now
from ioc.metrics import health
from ioc.panels.base import PanelContext
from tests.clock import set_clock

ROOT = Path(__file__).resolve().parents[2]
MOMENT = datetime(2026, 11, 23, 9, 30, tzinfo=clock.zone())  # a Monday (a school day) morning


def test_setting_the_clock_moves_every_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    set_clock(monkeypatch, MOMENT)
    assert clock.now() == MOMENT
    assert clock.today() == date(2026, 11, 23)
    assert PanelContext(metrics=None).now == MOMENT  # type: ignore[arg-type]
    assert load._today() == date(2026, 11, 23)
    assert local_now() == MOMENT
    # attendance of the 23rd is due only after the due hour: at 09:30 the due day is Friday the 20th
    assert health.due_school_day() < date(2026, 11, 23)


def test_the_clock_is_in_the_city_s_zone() -> None:
    assert clock.now().utcoffset() == clock.zone().utcoffset(datetime.now())


# a local "now" made anywhere but ioc/clock.py is a second clock a test cannot set
SECOND_CLOCKS = re.compile(
    r"from ioc\.clock import|datetime\.now\((ZoneInfo|zone\(\)|_tz\(\)|connectivity\.LOCAL|TZ\b)"
    r"|def (local_now|now|_now_local)\(\) -> (dt\.)?datetime:\n\s+return (dt\.)?datetime\.now"
)


def test_no_module_keeps_a_clock_of_its_own() -> None:
    found = []
    for folder in ("ioc", "ingest"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "ioc" / "clock.py":
                continue
            text = path.read_text(encoding="utf-8")
            found += [f"{path.relative_to(ROOT)}: {m.group(0)!r}" for m in SECOND_CLOCKS.finditer(text)]
    assert not found, "ask ioc.clock.now() (``from ioc import clock``) instead:\n" + "\n".join(found)
