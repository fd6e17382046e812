"""The product's one clock: what time it is now, in the city's time zone.

Every module that asks "what day is it", "is this data overdue", "which school day is due" asks
:func:`now` here, looked up at call time (``from ioc import clock`` then ``clock.now()``, never
``from ioc.clock import now``), so a test that sets the clock (tests/clock.py) moves the whole
product at once. Timestamps that record *when something happened* (audit rows, run ids, backup
names) are real UTC instants and do not go through here.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from ioc import settings


def zone() -> ZoneInfo:
    """The city's time zone (setting ``timezone``, Asia/Ho_Chi_Minh)."""
    return ZoneInfo(str(settings.get("timezone")))


def now() -> datetime:
    """The local time now, aware, in :func:`zone`."""
    return datetime.now(zone())


def today() -> date:
    """The local calendar day now."""
    return now().date()
