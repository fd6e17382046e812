"""ioc.metrics.views: the school calendar and connectivity timeline, snapshots for "as of"."""

from __future__ import annotations

from datetime import datetime, timedelta

from ioc.metrics import dimensions, views


def test_attendance_calendar_is_present_over_enrolled(demo_store) -> None:
    school = dimensions.schools(demo_store)[0].school_id
    days = views.attendance_calendar(demo_store, school)
    assert days and all(0 <= r <= 1 for _, r in days if r is not None)
    first_day, first_rate = days[-1]
    row = demo_store.execute(
        "SELECT present, enrolled FROM attendance WHERE school_id = ? AND date = ?", [school, first_day]
    ).first()
    assert first_rate == row["present"] / row["enrolled"]
    assert views.attendance_calendar(demo_store, "no-such-school") == []


def test_connectivity_timeline_is_hourly_with_offline_share(demo_store) -> None:
    school = dimensions.schools(demo_store)[0].school_id
    hours = views.connectivity_timeline(demo_store, school, days=14)
    assert hours and all(h.hour.minute == 0 for h in hours)
    assert all(0.0 <= h.offline_share <= 1.0 and h.probes > 0 for h in hours)
    assert (
        sum(h.probes for h in hours)
        == demo_store.execute(
            "SELECT count(*) FROM connectivity WHERE school_id = ? AND measured_at > "
            "(SELECT max(measured_at) FROM connectivity WHERE school_id = ?) - INTERVAL 14 DAY",
            [school, school],
        ).scalar()
    )


def test_the_last_probe_comes_from_the_rollup_and_is_the_raw_one(demo_store, monkeypatch) -> None:
    schools = [s.school_id for s in dimensions.schools(demo_store)[:25]] + ["no-such-school"]
    raw = {
        s: demo_store.execute("SELECT max(measured_at) FROM connectivity WHERE school_id = ?", [s]).scalar()
        for s in schools
    }
    asked: list[str] = []
    real = demo_store.execute

    def execute(sql, params=None):
        asked.append(sql)
        return real(sql, params)

    monkeypatch.setattr(demo_store, "execute", execute)
    assert {s: views.last_probe_at(demo_store, s) for s in schools} == raw
    assert raw["no-such-school"] is None and sum(v is not None for v in raw.values()) >= 20
    assert not any("FROM lake.connectivity " in sql for sql in asked)  # only the rollup was read
    probed = next(s for s in schools if raw[s] is not None)
    profile = views.school(demo_store, probed)
    assert profile is not None and profile.latest_probe["measured_at"] == raw[probed]


def test_outages_join_consecutive_offline_hours() -> None:
    start = datetime(2026, 11, 23, 8)
    hours = [
        views.ProbeHour(start + timedelta(hours=i), None if share == 1 else 50.0, share, 12)
        for i, share in enumerate([0, 1, 1, 0.5, 1, 0])
    ]
    assert views.outages(hours) == [
        (start + timedelta(hours=1), start + timedelta(hours=3)),
        (start + timedelta(hours=4), start + timedelta(hours=5)),
    ]


def test_snapshots_newest_first_and_lookup_by_time(demo_store) -> None:
    snaps = views.snapshots(demo_store, 5)
    assert [s.version for s in snaps] == sorted((s.version for s in snaps), reverse=True)
    newest = snaps[0]
    assert views.snapshot_time(demo_store, newest.version) == newest.time
    assert views.snapshot_at(demo_store, newest.time) == newest.version
    assert views.snapshot_at(demo_store, newest.time - timedelta(days=3650)) is None
