"""Where a school page's time goes right after a probe load: the page's content (``layout``, what
its content callback returns) drawn for schools not opened before, timed whole and per query.

    .venv/bin/python -m benchmarks.school_page_bench --data-dir DATA_DIR [--schools 6] [--profile]

In one process, as a web worker runs it (sign-in off, ``IOC_CACHE_STALE_SECONDS=60``): one school
page is drawn first (the process's cold start: in-memory copies, the city's answers), then one
probe load (``ioc ingest`` of the next 5-minute slot, one probe per open school) moves the data
version, one school page is drawn as the warmer draws it (what the new version costs once: the
city's answers and panels, the hot copies), and ``--schools`` other schools are drawn once each (a
first visit) and again (cached). Printed: seconds and CPU seconds of each first visit (the
process's CPU, DuckDB's threads included), then every uncached computation the first visits made
(``engine.compute`` per KPI and grouping, ``engine.compute_panel`` per KPI and unit level, the
school views), with its mean wall and CPU time.
``--profile`` adds pyinstrument's call tree of the first visits (``pip install pyinstrument``).
The machine's load average is printed with the figures: compare runs taken close together.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

Timings = dict[str, list[tuple[float, float]]]


def timed(module: Any, name: str, label: Callable[..., str], timings: Timings) -> None:
    """Replace ``module.name`` by a wrapper adding (wall, CPU) seconds under ``label(*args)``: the
    process's CPU, which holds DuckDB's worker threads (nothing else runs in this process)."""
    real = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cpu, started = time.process_time(), time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            timings[label(*args)].append((time.perf_counter() - started, time.process_time() - cpu))

    setattr(module, name, wrapper)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", required=True, help="a demo store (ioc demo); takes one probe load")
    parser.add_argument("--schools", type=int, default=6, help="schools drawn for the first time")
    parser.add_argument("--profile", action="store_true", help="print pyinstrument's call tree")
    parser.add_argument("--seed", type=int, default=None, help="which schools (default: a new choice)")
    args = parser.parse_args(argv)

    os.environ["IOC_AUTH_REQUIRED"] = "false"
    os.environ.setdefault("IOC_CACHE_STALE_SECONDS", "60")
    from benchmarks.load_bench import IOC, probe_batch
    from ioc import settings
    from ioc.access import EVERYTHING
    from ioc.app import create_app
    from ioc.frontdoor import use_metrics
    from ioc.metrics import cache, dimensions, engine, views
    from ioc.metrics.front import Metrics
    from ioc.store import Store, one_version

    store = Store(args.data_dir)
    app = create_app(store=store)
    from ioc.pages import school as school_page  # registers its page: after the app exists

    def draw(code: str) -> None:
        with app.server.test_request_context(f"/school/{code}"), one_version():
            use_metrics(Metrics(store, EVERYTHING))
            school_page.layout(code)

    codes = [s.school_id for s in dimensions.schools(store) if s.active]
    random.Random(args.seed).shuffle(codes)
    started = time.perf_counter()
    draw(codes.pop())
    print(f"a school before the load (the process's cold start): {time.perf_counter() - started:.2f} s")

    zone = ZoneInfo(settings.get("timezone"))
    newest = store.execute("SELECT max(last_at) FROM lake.connectivity_daily").scalar()
    slot = newest.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0) + timedelta(minutes=5)
    path, _ = probe_batch(args.data_dir, Path(tempfile.mkdtemp(prefix="ioc-school-bench-")), slot)
    started = time.perf_counter()
    subprocess.run([IOC, "--data-dir", args.data_dir, "ingest", str(path)], check=True, capture_output=True)
    print(f"probe load of {slot:%Y-%m-%d %H:%M}: {time.perf_counter() - started:.1f} s")
    # what the new data version costs once, whoever comes first (the city's answers and panels, the
    # hot copies, the version's memos): in a server the warmer pays it, drawing a school's page
    cpu, started = time.process_time(), time.perf_counter()
    with cache.warming():
        draw(codes.pop())
    print(
        f"the warmer's school page after the load: {time.perf_counter() - started:.2f} s "
        f"({time.process_time() - cpu:.2f} s CPU)"
    )

    timings: Timings = collections.defaultdict(list)

    def query(_store: Any, q: Any, *_: Any) -> str:
        return f"{q.kpi} by={q.by} " + ("(the school's own)" if q.scope.school else "(city-wide)")

    timed(engine, "compute", query, timings)
    if hasattr(engine, "compute_panel"):  # a series of every unit of a level at once (slices)
        timed(
            engine,
            "compute_panel",
            lambda _s, q, level, *_: f"{q.kpi} by={q.by} (panel of every {level})",
            timings,
        )
    for name in ("school", "school_profile", "latest_probe", "attendance_calendar", "connectivity_timeline"):
        if hasattr(views, name):  # the views of the code being measured (an older one too)
            timed(views, name, lambda *_, _name=name: "view " + _name, timings)
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002)
    cpus: list[float] = []
    for code in codes[: args.schools]:
        if profiler is not None:
            profiler.start()
        cpu, started = time.process_time(), time.perf_counter()
        draw(code)
        first, first_cpu = time.perf_counter() - started, time.process_time() - cpu
        if profiler is not None:
            profiler.stop()
        started = time.perf_counter()
        draw(code)
        cpus.append(first_cpu)
        print(
            f"school {code}: first visit {first:.2f} s ({first_cpu:.2f} s CPU), "
            f"again {time.perf_counter() - started:.2f} s"
        )
    cpus = sorted(cpus)
    print(f"first visits: median {statistics.median(cpus):.3f} s CPU, max {cpus[-1]:.3f} s")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"\n{'uncomputed before the first visits':58}{'calls':>6}{'ms/call':>9}{'CPU ms/call':>12}")
    for label, rows in sorted(timings.items(), key=lambda item: -sum(w for w, _ in item[1])):
        wall = 1000 * sum(w for w, _ in rows) / len(rows)
        cpu_ms = 1000 * sum(c for _, c in rows) / len(rows)
        print(f"{label:58}{len(rows):6d}{wall:9.0f}{cpu_ms:12.0f}")
    if profiler is not None:
        print(profiler.output_text(unicode=False, color=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
