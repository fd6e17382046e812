"""Alert detection and evaluation figures (issue 15): ``python -m benchmarks.alerts_bench [--demo DIR]``.

1. The generated test set (tests/fixtures/alerts/testset.py): recall of its known events (each
   found on its first school day; missing reports on day N) and precision of the anomaly,
   missing_report and outage alerts. Goals: recall >= 0.9, precision >= 0.8.
2. The full demo (``ioc demo --today 2026-12-04`` in DIR, built there when missing): a full-year
   backfill of every rule (goal < 30 s), the demo's injected floods and flu dip found, and the
   evaluation after a 5-minute probe load (the scheduler's hook; goal < 1 s).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 12, 4)
SEED = 2026


def _testset() -> Any:
    spec = importlib.util.spec_from_file_location(
        "alerts_testset", ROOT / "tests" / "fixtures" / "alerts" / "testset.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["alerts_testset"] = module
    spec.loader.exec_module(module)
    return module


def row(name: str, value: str, goal: str = "", ok: bool | None = None) -> None:
    mark = "" if ok is None else ("ok" if ok else "MISSED")
    print(f"  {name:<58} {value:>14}  {goal:<12} {mark}", flush=True)


def testset_figures() -> None:
    import os

    from ioc.alerts import output
    from ioc.alerts.evaluate import evaluate
    from ioc.auth.db import open_db

    ts = _testset()
    print("generated test set (tests/fixtures/alerts/testset.py)")
    with tempfile.TemporaryDirectory(prefix="ioc-alerts-bench-") as folder:
        root = Path(folder)
        truth = ts.build(root / "files")
        os.environ["IOC_CALENDAR_FILE"] = str(truth.calendar_file)
        try:
            store = ts.ingest(root / "files", root / "data")
            started = time.perf_counter()
            evaluate(store, open_db(root / "data"), truth.days[0], truth.days[-1])
            seconds = time.perf_counter() - started
            alerts = output.answer(open_db(root / "data"), output.ListQuery(lang="en"), None)["alerts"]
            store.close()
        finally:
            os.environ.pop("IOC_CALENDAR_FILE", None)
    result = ts.score(alerts, truth)
    row(
        "schools / school days / known events",
        f"{len(truth.schools)} / {len(truth.days)} / {result['events']}",
    )
    row(
        "recall (found on the first school day)", f"{result['recall']:.2f}", ">= 0.9", result["recall"] >= 0.9
    )
    row(
        "precision (anomaly, missing_report, outage alerts)",
        f"{result['precision']:.2f}",
        ">= 0.8",
        result["precision"] >= 0.8,
    )
    row("alerts judged", str(result["alerts"]))
    row("evaluation of the whole term", f"{seconds:.1f} s")
    for name in result["missed"]:
        print(f"    missed: {name}")
    for line in result["false"]:
        print(f"    not an event: {line}")


def _demo_store(folder: Path) -> Any:
    from ioc.demo import build_demo
    from ioc.store import Store, store_exists

    if not store_exists(folder):
        print(f"  building the demo in {folder} (today {TODAY}) ...", flush=True)
        build_demo(folder, today=TODAY, seed=SEED)
    return Store(folder)


def _demo_events(store: Any) -> tuple[dict[date, frozenset[str]], date]:
    """The demo's flood days and flooded ward codes, and the peak of its flu season."""
    from ioc.demo import attendance, calendar, digital
    from ioc.demo import schools as city_schools
    from ioc.demo.build import attendance_window

    days = attendance_window(TODAY, None)
    months = digital.months(TODAY, min(TODAY, days[0]))
    city = city_schools.generate(3500, SEED, min(months[0], days[0]), TODAY)
    years = range(calendar.school_year_of(days[0]), calendar.school_year_of(days[-1]) + 1)
    floods = {d: f.units for d, f in attendance.floods(city, SEED, years).items() if days[0] <= d <= days[-1]}
    peak = calendar.tet(days[0].year + (1 if days[0].month >= 9 else 0)) + timedelta(days=28)
    return floods, peak


def _probe_load(store: Any, folder: Path) -> int:
    """Load one 5-minute round of probes of every probed school, after the newest (a real load)."""
    from ingest.load import ingest_paths

    latest = store.execute("SELECT max(measured_at) FROM connectivity").scalar()
    schools = [r[0] for r in store.execute("SELECT DISTINCT school_id FROM connectivity_daily").rows]
    at = pd.Timestamp(latest) + pd.Timedelta(minutes=5)
    frame = pd.DataFrame(
        {
            "measured_at": [at] * len(schools),
            "school_id": schools,
            "download_mbps": 55.0,
            "upload_mbps": 20.0,
            "latency_ms": 18.0,
            "online": True,
        }
    )
    path = folder / f"connectivity_{at:%Y-%m-%d_%H%M}.parquet"
    frame.to_parquet(path, index=False)
    (result,) = ingest_paths(store, [path], source="bench")
    return int(result.rows_loaded)


def demo_figures(folder: Path) -> None:
    from ioc.alerts import output
    from ioc.alerts.evaluate import after_load, evaluate, latest_school_day
    from ioc.auth.db import open_db
    from ioc.calendar import current

    print(f"full demo ({folder})")
    store = _demo_store(folder)
    db = open_db(folder)
    from ioc.alerts import records

    records.ensure(db)
    with db.connect() as con:  # a fresh backfill
        for table in ("alerts", "alert_findings", "alert_days", "alert_actions"):
            con.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
    latest = latest_school_day(store, current())
    assert latest is not None
    first = latest - timedelta(days=365)
    started = time.perf_counter()
    summary = evaluate(store, db, first, latest)
    seconds = time.perf_counter() - started
    row(
        f"full-year backfill, every rule ({len(summary.days)} school days)",
        f"{seconds:.1f} s",
        "< 30 s",
        seconds < 30,
    )
    for rule, took in summary.timings.items():
        row(f"    {rule} ({summary.findings.get(rule, 0)} findings)", f"{took:.1f} s")
    alerts = output.answer(db, output.ListQuery(lang="en"), None)["alerts"]
    floods, peak = _demo_events(store)
    wards = store.execute(
        "SELECT DISTINCT coalesce(ward_code, ward_name), coalesce(district_code, district_name) FROM schools"
    ).rows
    district_of = {w: d for w, d in wards}
    anomalies = [a for a in alerts if a["kind"] == "anomaly"]
    found = 0
    for day, units in sorted(floods.items()):
        hits = [
            a
            for a in anomalies
            if a["start"] == day.isoformat()
            and (
                (a["level"] == "ward" and a["unit"] in units)
                or (a["level"] == "district" and a["unit"] in {district_of.get(u) for u in units})
                or a["level"] == "city"
                or (a["level"] == "school" and False)
            )
        ]
        found += bool(hits)
        row(f"    flood {day} ({len(units)} wards)", f"{len(hits)} alert(s)", "found", bool(hits))
    row("demo floods found", f"{found} of {len(floods)}", "all", found == len(floods))
    flu = [
        a
        for a in anomalies
        if a["level"] == "city"
        and peak - timedelta(days=28) <= date.fromisoformat(a["start"]) <= peak + timedelta(days=14)
    ]
    row(f"flu dip (peak {peak}): city alerts around it", str(len(flu)), ">= 1", bool(flu))
    for a in flu:
        print(f"      {a['start']}: {a['message']}")
    by_kind: dict[str, int] = {}
    for a in alerts:
        by_kind[f"{a['kind']}/{a['level']}"] = by_kind.get(f"{a['kind']}/{a['level']}", 0) + 1
    row("alerts of the year by kind/level", ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items())))
    with tempfile.TemporaryDirectory(prefix="ioc-probe-") as tmp:
        loaded = _probe_load(store, Path(tmp))
    started = time.perf_counter()
    hook = after_load(store)
    seconds = time.perf_counter() - started
    rules = ", ".join(hook.findings) if hook else "failed"
    row(
        f"evaluation after a 5-minute probe load ({loaded} probes; rules: {rules})",
        f"{seconds:.2f} s",
        "< 1 s",
        seconds < 1,
    )
    started = time.perf_counter()
    evaluate(store, db)
    row("evaluation of every rule on the latest school day", f"{time.perf_counter() - started:.1f} s")
    store.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.alerts_bench")
    parser.add_argument("--demo", default="/tmp/ioc-alerts-bench-demo", help="the demo's data directory")
    parser.add_argument("--skip-testset", action="store_true")
    args = parser.parse_args()
    print(f"alerts benchmark, {datetime.now():%Y-%m-%d %H:%M}")
    if not args.skip_testset:
        testset_figures()
    demo_figures(Path(args.demo))
    return 0


if __name__ == "__main__":
    sys.exit(main())
