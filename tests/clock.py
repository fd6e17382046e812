"""The product's clock for tests whose answer depends on how old the data is.

The demo stores of the app and browser tests end "today" (the real day), but attendance exists
only on school days: on a weekend, during Tết or over the summer break the newest attendance is
days or months old, and a test that expects fresh data would pass or fail with the calendar.
Such a test sets the product's clock (:func:`ioc.clock.now`, which every page, panel, metric and
ingest job asks at call time) to the afternoon of the demo's last school day instead.
"""

from __future__ import annotations

from datetime import datetime, time

import pytest

from ioc import clock
from ioc.demo import calendar


def last_school_afternoon() -> datetime:
    """15:00 local time on the newest school day a demo built today holds (today on a school day)."""
    now = clock.now()
    day = calendar.last_school_days(now.date(), 1)[-1]
    return datetime.combine(day, time(15, 0), tzinfo=now.tzinfo)


def set_clock(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """The whole product reads ``moment`` as the time now (the one clock, ioc.clock.now)."""
    monkeypatch.setattr(clock, "now", lambda: moment)


set_pages_clock = set_clock  # the name the page tests know
