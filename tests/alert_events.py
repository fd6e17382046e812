"""Alert events as evaluation hands them to delivery, for the notification tests and
benchmarks.notify_bench: a flood in ten wards of two districts, at a fixed moment."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ioc.alerts.events import AlertEvent

# A fixed moment, so nothing depends on the day the tests run: 2026-12-02 09:00 in Ho Chi Minh City.
T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC).timestamp()

WARDS_Q8 = [(f"2770{i}", f"Phường {i} (Quận 8)") for i in range(1, 9)]
WARDS_Q7 = [("27101", "Phường Tân Thuận"), ("27102", "Phường Phú Mỹ")]


def ward_event(
    alert_id: int,
    ward: tuple[str, str],
    district: str,
    transition: str = "firing",
    at: float = T0,
    day: date = date(2026, 12, 2),
    rule: str = "attendance_anomaly_ward",
) -> AlertEvent:
    code, name = ward
    return AlertEvent(
        alert_id=alert_id,
        transition=transition,  # type: ignore[arg-type]
        rule=rule,
        kind="anomaly",
        kpi="attendance_rate",
        level="ward",
        unit=code,
        unit_name=name,
        district=district,
        start=day,
        end=day + timedelta(days=1) if transition == "resolved" else None,
        severity="critical",
        value=0.64,
        expected=0.95,
        at=datetime.fromtimestamp(at, UTC),
        messages={
            "vi": f"{name}: 64 % so với thường 95 % vào thứ Tư; 5/5 trường thấp hơn",
            "en": f"{name}: 64% vs usually 95% on Wednesdays; 5 of 5 schools lower",
        },
    )


def flood(at: float = T0, transition: str = "firing", first: int = 100) -> list[AlertEvent]:
    """A flood in ten wards: eight of Quận 8 (776, alerts first..first+7), two of Quận 7 (778,
    alerts first+100, first+101)."""
    events = [ward_event(first + i, w, "776", transition, at) for i, w in enumerate(WARDS_Q8)]
    events += [ward_event(first + 100 + i, w, "778", transition, at) for i, w in enumerate(WARDS_Q7)]
    return events


def contact_points(webhook_url: str) -> str:
    """The notification configuration of the tests and the benchmark: the department's duty
    officers (vi) and analysts (en) city-wide, Quận 8's webhook (en) and Quận 7's officers (vi)."""
    return f"""
[[contact_points]]
name = "so-gddt"
type = "email"
to = ["truc-ban@sgddt.example.vn", "pho-giam-doc@sgddt.example.vn"]

[[contact_points]]
name = "analysts-en"
type = "email"
language = "en"
to = ["analysts@sgddt.example.vn"]
send_resolved = false

[[contact_points]]
name = "quan-8"
type = "webhook"
language = "en"
url = "{webhook_url}"
secret_env = "IOC_WEBHOOK_SECRET_Q8"
districts = ["776"]

[[contact_points]]
name = "quan-7"
type = "email"
to = ["phong-gd-q7@sgddt.example.vn"]
districts = ["778"]
repeat_interval = "4h"
"""
