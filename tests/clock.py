"""The pages' clock for tests whose answer depends on how old the data is.

The demo stores of the app and browser tests end "today" (the real day), but attendance exists
only on school days: on a weekend, during Tết or over the summer break the newest attendance is
days or months old, and a test that expects fresh data would pass or fail with the calendar.
Such a test sets the pages' clock to the afternoon of the demo's last school day instead.
"""

from __future__ import annotations

from datetime import datetime, time

import pytest

from ioc.demo import calendar
from ioc.demo.build import local_now
from ioc.pages import _common


def last_school_afternoon() -> datetime:
    """15:00 local time on the newest school day a demo built today holds (today on a school day)."""
    now = local_now()
    day = calendar.last_school_days(now.date(), 1)[-1]
    return datetime.combine(day, time(15, 0), tzinfo=now.tzinfo)


def set_pages_clock(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """Every page and panel reads ``moment`` as the time now (ioc.pages._common.local_now)."""
    monkeypatch.setattr(_common, "local_now", lambda: moment)
