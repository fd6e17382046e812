"""Metrics benchmark: every KPI for the city, by district, by school and as a daily series,
uncached and cached, beside the best hand-written DuckDB SQL for the same answer on the same store.

    .venv/bin/python -m benchmarks.metrics_bench                  # all three sets (long: builds ~370 M probes once)
    .venv/bin/python -m benchmarks.metrics_bench --sets demo      # only the demo store
    .venv/bin/python -m benchmarks.metrics_bench --quick          # small sizes, for a smoke run

Sets (built once under --work-dir and reused):
  demo      `ioc demo` at its default size, through the ingestion path
  national  50,000 schools x a school year of daily attendance, generated in DuckDB SQL
  probes    3,500 schools x a year of 5-minute probes (~370 M rows), generated in DuckDB SQL,
            with the daily rollup built as ingestion would

Goals (issue #3): uncached within 1.5x hand SQL + 2 ms; cached under 5 ms; every KPI API call on the
demo under 50 ms at p95; year-long connectivity KPIs under 50 ms.
"""

from __future__ import annotations

# ruff: noqa: S608 -- SQL text here holds only identifiers from the registry/code; values are bound
import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ioc import rollups
from ioc.metrics import cache, engine
from ioc.metrics.query import KpiQuery
from ioc.metrics.registry import KPIS
from ioc.store import Store

TODAY = date(2026, 11, 23)

# -- generated sets ----------------------------------------------------------------------------
SCHOOLS_SQL = """
INSERT INTO schools
SELECT 'S' || lpad(CAST(i AS VARCHAR), 6, '0'), 'Trường ' || i,
       ['preschool', 'primary', 'lower_secondary', 'upper_secondary'][1 + i % 4],
       CASE WHEN i % 5 = 0 THEN 'private' ELSE 'public' END,
       CAST(20000 + i % $wards AS VARCHAR), 'Phường ' || (i % $wards),
       CAST(700 + (i % $wards) % $districts AS VARCHAR), 'Quận ' || ((i % $wards) % $districts),
       10.5 + (i % 100) / 200.0, 106.5 + (i % 77) / 200.0,
       300 + hash(i) % 1200, 20 + hash(i) % 60, 10 + hash(i) % 40,
       i % 97 <> 0, DATE '2025-09-01', 'bench'
FROM range($n) r(i)
"""

ATTENDANCE_SQL = """
INSERT INTO attendance
WITH days AS (
    SELECT d::DATE AS day FROM generate_series(DATE '2025-09-05', DATE '2026-05-29', INTERVAL 1 DAY) g(d)
    WHERE isodow(d) <= 5
), rows AS (
    SELECT day, i, 300 + hash(i) % 1200 AS enrolled, hash(i * 31 + epoch(day)) % 60 AS absent
    FROM days, range($n) r(i)
    WHERE hash(i * 7 + epoch(day)) % 50 <> 0          -- about 2 % of school-days not reported
)
SELECT day, 'S' || lpad(CAST(i AS VARCHAR), 6, '0'), enrolled, enrolled - absent,
       CASE WHEN i % 10 = 0 THEN NULL ELSE absent // 2 END,
       CASE WHEN i % 10 = 0 THEN NULL ELSE absent - absent // 2 END, 'bench'
FROM rows
"""

# one month of 5-minute probes for $n schools, time-major so each file covers a time range
PROBES_SQL = """
INSERT INTO connectivity
SELECT $start + to_minutes(5 * (i // $n)) AS measured_at,
       'S' || lpad(CAST(i % $n AS VARCHAR), 6, '0'),
       CASE WHEN hash(i) % 100 < 2 THEN NULL ELSE round((hash(i) % 600) / 10.0 + (i % $n) % 40, 1) END,
       CASE WHEN hash(i) % 100 < 2 THEN NULL ELSE round((hash(i * 7) % 300) / 10.0, 1) END,
       CASE WHEN hash(i) % 100 < 2 THEN NULL ELSE CAST(hash(i * 3) % 80 + 5 AS DOUBLE) END,
       hash(i) % 100 >= 2, 'bench'
FROM range($rows) r(i)
"""

DIGITAL_SQL = """
INSERT INTO digital
SELECT m::DATE, school_id, students // 3, teachers // 2, classrooms // 3, teachers // 2, students // 2,
       hash(school_id) % 3 <> 0, (hash(school_id) % 100) / 100.0, 'bench'
FROM schools, generate_series(DATE '2025-12-01', DATE '2026-11-01', INTERVAL 1 MONTH) g(m)
"""


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def build_national(path: Path, schools: int) -> Store:
    store = Store(path)
    if (path / ".complete").exists():
        return store
    params = {"n": schools, "wards": 168, "districts": 22}
    store.write(lambda c: c.execute(SCHOOLS_SQL, params))
    t = time.perf_counter()
    store.write(lambda c: c.execute(ATTENDANCE_SQL, {"n": schools}))
    say(
        f"national: {store.execute('SELECT count(*) FROM attendance').scalar():,} attendance rows "
        f"in {time.perf_counter() - t:.0f} s"
    )
    (path / ".complete").write_text("ok")
    return store


def build_probes(path: Path, schools: int, days: int) -> Store:
    store = Store(path)
    if (path / ".complete").exists():
        return store
    store.write(lambda c: c.execute(SCHOOLS_SQL, {"n": schools, "wards": 168, "districts": 22}))
    store.write(lambda c: c.execute(DIGITAL_SQL))
    first = TODAY - timedelta(days=days - 1)
    day, t = first, time.perf_counter()
    while day <= TODAY:
        chunk = min(30, (TODAY - day).days + 1)
        # local midnight of `day` (the session time zone is Asia/Ho_Chi_Minh)
        start = store.execute("SELECT CAST($d AS TIMESTAMPTZ)", {"d": day}).scalar()
        store.write(
            lambda c, s=start, k=chunk: c.execute(
                PROBES_SQL, {"n": schools, "start": s, "rows": k * 288 * schools}
            )
        )
        day += timedelta(days=chunk)
        say(f"probes: up to {day - timedelta(days=1)} ({time.perf_counter() - t:.0f} s)")
    t = time.perf_counter()
    store.write(rollups.rebuild)
    say(
        f"probes: rollup of {store.execute('SELECT count(*) FROM connectivity').scalar():,} probes "
        f"in {time.perf_counter() - t:.0f} s"
    )
    (path / ".complete").write_text("ok")
    return store


def build_demo_set(path: Path, schools: int) -> Store:
    if not (path / ".complete").exists():
        from ioc.demo import build_demo

        t = time.perf_counter()
        build_demo(path, schools=schools, today=TODAY)
        say(f"demo: built in {time.perf_counter() - t:.0f} s")
        (path / ".complete").write_text("ok")
    return Store(path)


# -- hand-written SQL ----------------------------------------------------------------------------
# The best plain DuckDB SQL a person would write for the same answer on the same store: the
# current version of each school, then one aggregate (rollups where the engine uses them too).
CURRENT = """cur AS (
    SELECT * FROM (
        SELECT school_id, coalesce(district_code, district_name) AS district, students, classrooms, teachers, active
        FROM schools QUALIFY row_number() OVER (PARTITION BY school_id ORDER BY valid_from DESC) = 1
    ) WHERE active
)"""
# (hand SQL, the column holding the numerator)
GROUP = {"all": "'all'", "district": "cur.district", "school": "cur.school_id"}


def hand_sql(kpi: str, by: str, source: str) -> str | None:
    g = GROUP.get(by)
    if kpi in ("attendance_rate", "unexcused_absence_rate"):
        num = "present" if kpi == "attendance_rate" else "absent_unexcused"
        given = "" if kpi == "attendance_rate" else " AND a.absent_unexcused IS NOT NULL"
        key = "strftime(a.date, '%Y-%m-%d')" if by == "date" else g
        return f"""WITH {CURRENT}
SELECT {key} AS k, sum(a.{num}) / sum(a.enrolled) AS v, sum(a.{num}) AS n
FROM attendance a JOIN cur USING (school_id) WHERE a.date BETWEEN $f AND $t{given} GROUP BY 1"""
    if kpi == "reporting_rate":
        if by == "date":
            return f"""WITH {CURRENT}
SELECT strftime(a.date, '%Y-%m-%d') AS k, count(cur.school_id) / (SELECT count(*) FROM cur) AS v, count(cur.school_id) AS n
FROM attendance a LEFT JOIN cur USING (school_id) WHERE a.date BETWEEN $f AND $t GROUP BY 1"""
        return f"""WITH {CURRENT}, days AS (SELECT count(DISTINCT date) AS d FROM attendance WHERE date BETWEEN $f AND $t),
r AS (SELECT school_id, count(*) AS c FROM attendance WHERE date BETWEEN $f AND $t GROUP BY 1)
SELECT {g} AS k, coalesce(sum(r.c), 0) / ((SELECT d FROM days) * count(*)) AS v, coalesce(sum(r.c), 0) AS n
FROM cur LEFT JOIN r USING (school_id) GROUP BY 1"""
    if kpi in ("bandwidth_coverage", "uptime"):
        if source == "rollup":
            facts = "SELECT school_id{d}, sum(probes) AS p, sum(online) AS o, sum(fast) AS f FROM connectivity_daily WHERE day BETWEEN $f AND $t GROUP BY ALL"
            day = ", day"
        else:
            facts = (
                "SELECT school_id{d}, count(*) AS p, count(*) FILTER (WHERE online) AS o, "
                "count(*) FILTER (WHERE online AND download_mbps >= 20) AS f FROM connectivity "
                "WHERE measured_at >= CAST($f AS TIMESTAMPTZ) AND measured_at < CAST(CAST($t AS DATE) + 1 AS TIMESTAMPTZ) GROUP BY ALL"
            )
            day = ", measured_at::DATE AS day"
        if by == "date":
            facts = facts.format(d=day)
            if kpi == "uptime":
                return f"""WITH {CURRENT}, p AS ({facts})
SELECT strftime(day, '%Y-%m-%d') AS k, sum(o) / sum(p) AS v, sum(o) AS n FROM p JOIN cur USING (school_id) GROUP BY 1"""
            return f"""WITH {CURRENT}, p AS ({facts})
SELECT strftime(day, '%Y-%m-%d') AS k, count(*) FILTER (WHERE 2 * f >= p) / (SELECT count(*) FROM cur) AS v,
       count(*) FILTER (WHERE 2 * f >= p) AS n FROM p JOIN cur USING (school_id) GROUP BY 1"""
        facts = facts.format(d="")
        if kpi == "uptime":
            return f"""WITH {CURRENT}, p AS ({facts})
SELECT {g} AS k, sum(p.o) / sum(p.p) AS v, sum(p.o) AS n FROM cur LEFT JOIN p USING (school_id) GROUP BY 1"""
        return f"""WITH {CURRENT}, p AS ({facts})
SELECT {g} AS k, count(*) FILTER (WHERE 2 * p.f >= p.p) / count(*) AS v, count(*) FILTER (WHERE 2 * p.f >= p.p) AS n
FROM cur LEFT JOIN p USING (school_id) GROUP BY 1"""
    if kpi == "median_download_mbps" and by != "date":
        return f"""WITH {CURRENT}
SELECT {g} AS k, median(c.download_mbps) AS v, NULL AS n FROM connectivity c JOIN cur USING (school_id)
WHERE c.online AND c.download_mbps IS NOT NULL
  AND c.measured_at >= CAST($f AS TIMESTAMPTZ) AND c.measured_at < CAST(CAST($t AS DATE) + 1 AS TIMESTAMPTZ) GROUP BY 1"""
    if kpi in ("e_transcript_adoption", "smart_classroom_share") and by != "date":
        num, den = (
            ("CAST(d.e_transcript AS INT)", "1")
            if kpi == "e_transcript_adoption"
            else ("d.smart_classrooms", "cur.classrooms")
        )
        return f"""WITH {CURRENT}, d AS (SELECT * FROM digital WHERE as_of <= $t QUALIFY row_number() OVER (PARTITION BY school_id ORDER BY as_of DESC) = 1)
SELECT {g} AS k, sum({num}) / sum({den}) AS v, sum({num}) AS n FROM d JOIN cur USING (school_id) GROUP BY 1"""
    return None


# -- timing ----------------------------------------------------------------------------------------
def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """Median milliseconds over ``runs`` (after one warm-up run) and the last result."""
    result = fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


@dataclass(frozen=True)
class Line:
    dataset: str
    kpi: str
    shape: str
    rows: int
    uncached: float
    cached: float
    hand: float | None
    checked: str

    def goals(self) -> str:
        marks = []
        if self.hand is not None:
            marks.append("ok" if self.uncached <= 1.5 * self.hand + 2 else "SLOW")
        marks.append("ok" if self.cached < 5 else "SLOW-CACHE")
        return "/".join(marks)


def bench(
    store: Store, dataset: str, kpi: str, shape: str, q: KpiQuery, runs: int, source: str = "auto"
) -> Line:
    uncached, result = timed(lambda: engine.compute(store, q, source=source), runs)
    runs_fast = max(runs, 20)
    cached, _ = timed(lambda: cache.cached_compute(store, q), runs_fast)
    chosen = engine.choose_source(KPIS[kpi], engine.rollup_ready(store, "lake", result.data_version), source)
    sql = hand_sql(kpi, q.by, chosen)
    hand_ms, checked = None, "-"
    if sql is not None:
        params = {"f": result.date_from, "t": result.date_to}
        used = {k: v for k, v in params.items() if "$" + k in sql}
        hand_ms, hand_rows = timed(lambda: store.execute(sql, used).rows, runs)
        checked = check(result, hand_rows)
    return Line(
        dataset,
        kpi,
        shape + ("" if source == "auto" else f" [{source}]"),
        len(result.rows),
        uncached,
        cached,
        hand_ms,
        checked,
    )


def check(result: Any, hand_rows: list[tuple]) -> str:
    """Do the engine's values equal the hand-written SQL's (for the keys the hand SQL lists)?"""
    ours = {r.key: r.value for r in result.rows}
    for key, value, _n in hand_rows:
        mine = ours.get(str(key))
        if value is None and mine is None:
            continue
        if mine is None or value is None or not math.isclose(float(value), mine, rel_tol=1e-9, abs_tol=1e-12):
            return f"DIFF {key}: {mine} vs {value}"
    return "same"


def shapes_for(kpi: str, latest: date, year: bool) -> list[tuple[str, KpiQuery]]:
    k = KPIS[kpi]
    out = [
        ("city", KpiQuery(kpi, "all", date_to=latest)),
        ("district", KpiQuery(kpi, "district", date_to=latest)),
        ("school", KpiQuery(kpi, "school", date_to=latest)),
        ("daily 30 d", KpiQuery(kpi, "date", latest - timedelta(days=29), latest)),
    ]
    if year and k.formula.kind in (
        "row_ratio",
        "reporting",
        "probe_coverage",
        "probe_ratio",
        "probe_per_student",
    ):
        start = latest - timedelta(days=364)
        out += [
            ("city, year", KpiQuery(kpi, "all", start, latest)),
            ("district, year", KpiQuery(kpi, "district", start, latest)),
            ("daily, year", KpiQuery(kpi, "date", start, latest)),
        ]
    return out


def run_set(store: Store, dataset: str, kpis: list[str], runs: int, year: bool) -> list[Line]:
    lines = []
    for kpi in kpis:
        latest = engine.compute(store, KpiQuery(kpi)).date_to
        if latest is None:
            continue
        for shape, q in shapes_for(kpi, latest, year):
            line = bench(store, dataset, kpi, shape, q, runs)
            lines.append(line)
            say(f"  {dataset:8} {kpi:24} {shape:15} {line.uncached:8.1f} ms")
        if kpi in ("bandwidth_coverage", "uptime"):
            # the same question from raw probes (what the rollup saves)
            q = KpiQuery(kpi, "district", date_to=latest)
            lines.append(bench(store, dataset, kpi, "district", q, max(1, runs // 2), source="raw"))
            if year:
                q = KpiQuery(kpi, "district", latest - timedelta(days=364), latest)
                lines.append(bench(store, dataset, kpi, "district, year", q, 1, source="raw"))
    return lines


def api_p95(store: Store, calls: int) -> tuple[float, float, float]:
    """p95 of every KPI's API call (city and by district) on the store: uncached, cached, and the worst."""
    from flask import Flask

    from ioc.api import register_api

    app = Flask("bench")
    register_api(app, lambda: store)
    client = app.test_client()
    urls = [f"/api/v1/kpis/{k}{q}" for k in KPIS for q in ("", "?by=district")]
    uncached, cached = [], []
    for _ in range(calls):
        for url in urls:
            cache.clear()
            t = time.perf_counter()
            assert client.get(url).status_code == 200
            uncached.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            assert client.get(url).status_code == 200
            cached.append((time.perf_counter() - t) * 1000)

    def p95(values: list[float]) -> float:
        return sorted(values)[max(0, math.ceil(0.95 * len(values)) - 1)]

    return p95(uncached), p95(cached), max(uncached)


def print_table(lines: list[Line]) -> None:
    header = f"{'set':9} {'kpi':24} {'shape':24} {'rows':>6} {'uncached':>10} {'cached':>8} {'hand SQL':>9} {'goal':>10}  answer"
    print(header)
    print("-" * len(header))
    for x in lines:
        hand = f"{x.hand:9.1f}" if x.hand is not None else f"{'-':>9}"
        print(
            f"{x.dataset:9} {x.kpi:24} {x.shape:24} {x.rows:6d} {x.uncached:10.1f} {x.cached:8.2f} {hand} {x.goals():>10}  {x.checked}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/ioc-metrics-bench"))
    parser.add_argument("--sets", default="demo,national,probes")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--national-schools", type=int, default=50_000)
    parser.add_argument("--probe-schools", type=int, default=3_500)
    parser.add_argument("--probe-days", type=int, default=365)
    parser.add_argument("--demo-schools", type=int, default=3_500)
    args = parser.parse_args(argv)
    if args.quick:
        args.national_schools, args.probe_schools, args.probe_days, args.demo_schools = 2_000, 100, 60, 120
        args.work_dir = args.work_dir.with_name(args.work_dir.name + "-quick")
    sets = args.sets.split(",")
    lines: list[Line] = []
    notes: list[str] = []
    if "demo" in sets:
        store = build_demo_set(args.work_dir / f"demo-{args.demo_schools}", args.demo_schools)
        lines += run_set(store, "demo", list(KPIS), args.runs, year=False)
        unc, hit, worst = api_p95(store, 5 if not args.quick else 2)
        notes.append(
            f"demo API p95 over every KPI (city + by district): uncached {unc:.1f} ms, cached {hit:.1f} ms "
            f"(worst uncached {worst:.1f} ms); goal < 50 ms"
        )
        store.close()
    if "national" in sets:
        store = build_national(args.work_dir / f"national-{args.national_schools}", args.national_schools)
        n = store.execute("SELECT count(*) FROM attendance").scalar()
        notes.append(f"national: {args.national_schools:,} schools, {n:,} attendance rows")
        kpis = ["attendance_rate", "unexcused_absence_rate", "reporting_rate", "chronic_absence_risk"]
        lines += run_set(store, "national", kpis, args.runs, year=True)
        store.close()
    if "probes" in sets:
        store = build_probes(
            args.work_dir / f"probes-{args.probe_schools}-{args.probe_days}",
            args.probe_schools,
            args.probe_days,
        )
        n = store.execute("SELECT count(*) FROM connectivity").scalar()
        notes.append(f"probes: {args.probe_schools:,} schools x {args.probe_days} days, {n:,} probe rows")
        kpis = [
            "bandwidth_coverage",
            "uptime",
            "mbps_per_student",
            "median_download_mbps",
            "schools_offline_now",
            "digital_readiness",
        ]
        lines += run_set(store, "probes", kpis, max(1, args.runs // 2), year=True)
        store.close()
    print_table(lines)
    print()
    for note in notes:
        print(note)
    print(
        "times: median ms of repeated runs after a warm-up; 'goal' = uncached <= 1.5 x hand + 2 ms / cached < 5 ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
