"""First visits: the wall, a district, a ward and a school page in headless Chromium, timed until
fully drawn (no loading spinner, every graph with its SVG, no Dash request pending), on a store
that has just taken a probe load (issue 14, "Measured by").

    .venv/bin/python -m benchmarks.first_visit_bench --data-dir DATA_DIR [--rounds 3] [--stale 60]
    make first-visit-bench        # builds the full demo store first (ioc demo, a few minutes)

The app runs in this process (werkzeug, threaded) with its cache warmer, as ``ioc serve`` runs it
(sign-in off: the pages are the same for an officer allowed to read them). Each page is timed:

- **new process**: the first visit after the app started (nothing cached, no in-memory copies);
- then, for each of ``--rounds`` rounds, a probe load (``ioc ingest`` of the next 5-minute slot,
  one probe per open school, as the scheduler loads them every 5 minutes) that moves the data
  version, and at once:
  - **after a probe load**: the first visit of each page, of a district, ward and school not
    opened before in this process (the school page is only warmed once somebody has opened it);
  - **after warming**: the same pages once the warmer has drawn the new version (at most
    ``--warm-limit`` seconds; else a second visit).

``--stale`` is the app's IOC_CACHE_STALE_SECONDS (default 60, as deploy/ioc.env.example: until
the warmer has drawn a new version, an answer not yet computed for it is served from the previous
one); ``--stale 0`` makes the first visits after a load wait for every new answer. The warmer
gives way to the bench's requests (it waits while one is answered and a second after, at most
IOC_CACHE_WARM_YIELD_SECONDS per data version); ``IOC_CACHE_WARM_YIELD_SECONDS=0`` in the
environment measures it not waiting.

Goal: each page drawn in under 1.5 s. The machine's load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import subprocess
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

GOAL_SECONDS = 1.5
PAGES = ("wall", "district", "ward", "school")
MARKERS = {
    "wall": ".wall .panel[data-panel='attendance']",
    "district": ".unit-page[data-unit='{code}'] .units-table",
    "ward": ".unit-page[data-unit='{code}'] .units-table",
    "school": ".school-page[data-school='{code}'] .profile",
}


def units(store: Any, rng: random.Random) -> list[dict[str, str]]:
    """Open schools in a random order, each with its ward and district; districts, wards and
    schools are each used once (a first visit is of a unit not opened before)."""
    from ioc.metrics import dimensions

    schools = [s for s in dimensions.schools(store) if s.active]
    rng.shuffle(schools)
    seen: set[str] = set()
    chosen = []
    for s in schools:
        if s.district_code in seen or s.ward_code in seen:
            continue
        seen.update((s.district_code, s.ward_code))
        chosen.append({"district": s.district_code, "ward": s.ward_code, "school": s.school_id})
    return chosen


def urls(unit: dict[str, str]) -> dict[str, tuple[str, str]]:
    return {
        "wall": ("/", MARKERS["wall"]),
        "district": (f"/district/{unit['district']}", MARKERS["district"].format(code=unit["district"])),
        "ward": (f"/ward/{unit['ward']}", MARKERS["ward"].format(code=unit["ward"])),
        "school": (f"/school/{unit['school']}", MARKERS["school"].format(code=unit["school"])),
    }


def probe_load(data_dir: str, folder: Path, slot: datetime) -> float:
    """``ioc ingest`` of one probe per open school for ``slot``; seconds it took."""
    from benchmarks.load_bench import IOC, probe_batch

    path, _rows = probe_batch(data_dir, folder, slot)
    started = time.perf_counter()
    subprocess.run(
        [IOC, "--data-dir", data_dir, "ingest", str(path), "--source", "first-visit-bench"],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def wait_warmed(store: Any, limit: float) -> float | None:
    """Seconds until the warmer has drawn the store's current data version; None after ``limit``."""
    from ioc.metrics.cache import _warmed

    started = time.perf_counter()
    version = store.data_version()
    while time.perf_counter() - started < limit:
        if _warmed(store, version):
            return time.perf_counter() - started
        time.sleep(0.5)
    return None


# the browser's timeline of the page's requests: (path, start, end) in ms since navigation start
REQUESTS_JS = """
return performance.getEntriesByType('resource')
  .filter(e => e.initiatorType === 'fetch' || e.initiatorType === 'xmlhttprequest')
  .map(e => [new URL(e.name).pathname, e.startTime, e.responseEnd]);
"""


def visit(
    driver: Any, base: str, unit: dict[str, str], log: list[dict[str, Any]], detail: bool
) -> dict[str, float]:
    """Seconds until each page is drawn; with ``detail``, print where each page's time went: every
    request in the browser's timeline beside the server's time for it (its Dash output)."""
    from benchmarks.app_bench import draw

    times = {}
    for page, (url, marker) in urls(unit).items():
        log.clear()
        times[page] = draw(driver, base + url, marker, timeout=120)
        if detail:
            print(f"  {page} {url}: drawn in {times[page]:.2f} s")
            served = sorted(log, key=lambda e: e["started"])
            origin = driver.execute_script("return performance.timeOrigin") / 1000
            for path, start, end in driver.execute_script(REQUESTS_JS):
                entry = next((e for e in served if e["path"] == path and not e.get("seen")), None)
                server = ""
                if entry is not None:
                    entry["seen"] = True
                    server = (
                        f"server {entry['ms']:6.0f} ms (from {1000 * (entry['started'] - origin):5.0f}) "
                        f"{entry['output'][:60]}"
                    )
                print(f"    {start:6.0f}-{end:6.0f} ms {path[-28:]:28} {server}")
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data-dir", help="a demo store (ioc demo) that takes the probe loads (default: build the full demo)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="probe loads, each followed by first visits")
    parser.add_argument(
        "--stale", type=int, default=60, help="IOC_CACHE_STALE_SECONDS of the app (default 60)"
    )
    parser.add_argument(
        "--warm-limit", type=float, default=600.0, help="seconds to wait for the warmer's round"
    )
    parser.add_argument("--boundaries", default="", help="GeoJSON of the districts (IOC_BOUNDARIES_FILE)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument(
        "--detail", action="store_true", help="print each page's requests: browser timeline and server time"
    )
    args = parser.parse_args(argv)

    os.environ["IOC_AUTH_REQUIRED"] = "false"
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    logging.basicConfig(level=logging.WARNING, format="  %(asctime)s %(name)s: %(message)s")
    logging.getLogger("ioc.app").setLevel(logging.INFO)  # the warmer's rounds
    os.environ["IOC_CACHE_STALE_SECONDS"] = str(args.stale)
    if args.boundaries:
        os.environ["IOC_BOUNDARIES_FILE"] = args.boundaries
    from benchmarks.app_bench import browser, instrument, serve
    from ioc import settings
    from ioc.app import create_app, start_warmer
    from ioc.store import Store

    if args.data_dir is None:
        from benchmarks.load_bench import build_store

        args.data_dir = build_store(Path(tempfile.mkdtemp(prefix="ioc-first-visit-store-")))
    store = Store(args.data_dir)
    app = create_app(store=store)
    log: list[dict[str, Any]] = []
    instrument(app, log)
    base, server = serve(app)
    start_warmer(app)
    chosen = units(store, random.Random(args.seed))
    if len(chosen) < args.rounds + 1:
        raise SystemExit(f"the store has too few districts for {args.rounds} rounds of first visits")
    probes = Path(tempfile.mkdtemp(prefix="ioc-first-visit-"))
    # the 5-minute slots after the newest probe (or now): every load adds new probes
    zone = ZoneInfo(settings.get("timezone"))
    newest = store.execute("SELECT max(last_at) FROM lake.connectivity_daily").scalar()
    now = datetime.now(zone).replace(tzinfo=None)
    slot = max(newest.astimezone(zone).replace(tzinfo=None) if newest else now, now)
    slot = slot.replace(second=0, microsecond=0)
    slot -= timedelta(minutes=slot.minute % 5)
    driver = browser()
    rows: list[tuple[str, dict[str, float]]] = []
    notes: list[str] = []
    try:
        started = time.perf_counter()
        rows.append(("new process", visit(driver, base, chosen[0], log, args.detail)))
        warmed = wait_warmed(store, args.warm_limit)
        notes.append(
            f"first warm-up round: {time.perf_counter() - started:.0f} s after start"
            if warmed is not None
            else f"first warm-up round not done within {args.warm_limit:.0f} s"
        )
        for round_ in range(1, args.rounds + 1):
            slot += timedelta(minutes=5)
            took = probe_load(args.data_dir, probes, slot)
            unit = chosen[round_]
            rows.append((f"after probe load {round_}", visit(driver, base, unit, log, args.detail)))
            warmed = wait_warmed(store, args.warm_limit)
            notes.append(
                f"round {round_}: probe load {took:.1f} s; "
                + (f"warmer done {warmed:.0f} s later" if warmed is not None else "warmer not done")
            )
            rows.append((f"after warming {round_}", visit(driver, base, unit, log, args.detail)))
    finally:
        driver.quit()
        server.shutdown()

    print(
        f"\nstore {args.data_dir}, data version {store.data_version()}, IOC_CACHE_STALE_SECONDS={args.stale}"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for note in notes:
        print("  " + note)
    print(f"\n{'seconds until fully drawn':28}" + "".join(f"{p:>10}" for p in PAGES))
    for name, times in rows:
        print(f"{name:28}" + "".join(f"{times[p]:10.2f}" for p in PAGES))
    worst = 0.0
    for label in ("after probe load", "after warming"):
        picked = [times for name, times in rows if name.startswith(label)]
        medians = {p: statistics.median(t[p] for t in picked) for p in PAGES}
        print(f"{label + ' (median)':28}" + "".join(f"{medians[p]:10.2f}" for p in PAGES))
        worst = max(worst, *(max(t.values()) for t in picked))
    met = worst < GOAL_SECONDS
    print(
        f"\ngoal (every page after a probe load and after warming < {GOAL_SECONDS} s): {'met' if met else 'NOT met'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
