"""From findings to alerts: pending, firing, resolved, and which changes are announced.

Pure functions. A unit's findings under one rule form *runs* over the school days the rule was
evaluated on: consecutive evaluated days each with a finding. A run of at least ``pending`` days
(at least one) is an alert that fires on its ``pending``-th day and starts on its first; it ends on
its last day when a later day was evaluated without the finding (else it is still open). A shorter
run still going on is pending; a shorter run that stopped never fired. A new run after a gap is a
new alert (re-fire). Deriving alerts from findings makes evaluation idempotent and independent of
the order days are evaluated in: evaluating a day again replaces its findings and gives the same
alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ioc.alerts.detect import Finding


@dataclass(frozen=True)
class Episode:
    level: str
    unit: str
    start: date
    end: date | None  # None while open
    fired: date | None  # the day it started firing; None while pending
    last: Finding  # the latest finding of the run (its value, expected and message)
    days: int  # school days in the run

    @property
    def state(self) -> str:
        if self.fired is None:
            return "pending"
        return "firing" if self.end is None else "resolved"


def episodes(evaluated: list[date], findings: list[Finding], pending: int) -> list[Episode]:
    """The episodes of one unit (``findings`` all of one rule and unit) over the ``evaluated`` days."""
    if not findings:
        return []
    index = {d: i for i, d in enumerate(evaluated)}
    by_day = {f.day: f for f in findings if f.day in index}
    positions = sorted(index[d] for d in by_day)
    need = max(1, pending)
    out: list[Episode] = []
    run: list[int] = []
    for pos in positions + [None]:
        if run and (pos is None or pos != run[-1] + 1):
            first, last = run[0], run[-1]
            still = last == len(evaluated) - 1
            last_finding = by_day[evaluated[last]]
            if len(run) >= need:
                fired = evaluated[first + need - 1]
                out.append(
                    Episode(
                        last_finding.level,
                        last_finding.unit,
                        evaluated[first],
                        None if still else evaluated[last],
                        fired,
                        last_finding,
                        len(run),
                    )
                )
            elif still:
                out.append(
                    Episode(
                        last_finding.level,
                        last_finding.unit,
                        evaluated[first],
                        None,
                        None,
                        last_finding,
                        len(run),
                    )
                )
            run = []
        if pos is not None:
            run.append(pos)
    return out


def school_days_between(evaluated: list[date], first: date, last: date) -> int:
    """How many evaluated school days lie after ``first`` up to and including ``last``."""
    return sum(1 for d in evaluated if first < d <= last)
