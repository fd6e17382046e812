"""What an alert's change of state says to the world: the value the evaluation hands to delivery.

Evaluation (``ioc.alerts``) records alerts and, for each alert that starts firing, fires again
after its repeat interval, or resolves, makes one :class:`AlertEvent`. Delivery (``ioc.notify``)
groups events by contact point and sends them; it never reads the alert tables itself, so the two
meet only here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

Transition = Literal["firing", "repeat", "resolved"]
Kind = Literal["threshold", "anomaly", "missing_report", "outage"]
Level = Literal["city", "district", "ward", "school"]


@dataclass(frozen=True)
class AlertEvent:
    alert_id: int
    transition: Transition
    rule: str
    kind: Kind
    kpi: str | None
    level: Level
    unit: str  # district or ward code, school_id, or "all" for the city
    unit_name: str
    district: str | None  # the district code the unit lies in (None for the city): who is told
    start: date
    end: date | None  # set when resolved
    severity: str  # "critical" | "warning" | "info"
    value: float | None
    expected: float | None
    at: datetime  # when the transition was recorded (aware)
    # The alert's explanation in each language the product speaks: {"vi": ..., "en": ...}.
    messages: dict[str, str] = field(default_factory=dict)

    def message(self, lang: str) -> str:
        return self.messages.get(lang) or self.messages.get("vi") or next(iter(self.messages.values()), "")
