"""App speed: page draw time in headless Chromium, callback latency (p50/p95), figure payload.

    .venv/bin/python -m benchmarks.app_bench --data-dir /path/to/demo/store [--rounds 3]

Without ``--data-dir`` a small demo store is built in a temporary folder first (``--schools``).
The app runs in this process (werkzeug, threaded); every Dash callback request is timed on the
server (``/_dash-update-component``, which includes the page layouts drawn by Dash's page
router) and its response size counted. A page is "drawn" when its marker element is present,
every graph has its SVG and no Dash request is pending. Round 1 is cold (empty KPI cache);
later rounds are warm, as on a wall that refreshes.

Budgets (issue #4): page drawn < 1.5 s, callback p95 < 150 ms, figure data < 1 MB per page.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

DRAWN_JS = """
const marker = document.querySelector(arguments[0]);
if (!marker) return false;
if (document.querySelector('[data-dash-is-loading="true"]')) return false;
const graphs = document.querySelectorAll('.dash-graph');
for (const g of graphs) { if (!g.querySelector('.main-svg')) return false; }
return window.__pending === 0;
"""
# counts the Dash requests in flight (fetch is what the Dash renderer uses)
TRACK_JS = """
if (!window.__tracked) {
  window.__tracked = true; window.__pending = 0;
  const f = window.fetch;
  window.fetch = function() { window.__pending++; return f.apply(this, arguments).finally(() => { window.__pending--; }); };
}
"""


def pages(store: Any) -> list[tuple[str, str, str]]:
    from ioc.metrics import dimensions

    school = dimensions.schools(store)[0]
    return [
        ("control room", "/?kiosk=1", ".wall .panel[data-panel='attendance']"),
        ("screen", "/screen/connectivity?kiosk=1", ".wall .panel[data-panel='uptime']"),
        ("district", f"/district/{school.district_code}", ".unit-page .units-table"),
        ("ward", f"/ward/{school.ward_code}", ".unit-page .units-table"),
        ("school", f"/school/{school.school_id}", ".school-page .profile"),
        ("explore", "/explore?kpi=attendance_rate&by=ward", ".explore-page .export-bar"),
        ("data health", "/data-health", ".health-page .fresh-cards"),
        ("kpi", "/kpi/attendance_rate", ".kpi-card"),
    ]


def serve(app: Any) -> tuple[str, Any]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def instrument(app: Any, log: list[dict[str, Any]]) -> None:
    import flask

    @app.server.before_request
    def _start() -> None:
        flask.g.bench_started = time.perf_counter()
        flask.g.bench_clock = time.time()

    @app.server.after_request
    def _stop(response: Any) -> Any:
        if flask.request.path.endswith("_dash-update-component"):
            body = flask.request.get_json(silent=True) or {}
            output = str(body.get("output", "?"))
            log.append(
                {
                    "path": flask.request.path,
                    "started": flask.g.bench_clock,
                    "output": output[:60],
                    "ms": (time.perf_counter() - flask.g.bench_started) * 1000,
                    "bytes": len(response.get_data()),
                }
            )
        return response


def browser() -> Any:
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1920,1080",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(options=options)


def draw(driver: Any, url: str, marker: str, timeout: float = 60) -> float:
    driver.get("about:blank")
    started = time.perf_counter()
    driver.get(url)
    driver.execute_script(TRACK_JS)
    while time.perf_counter() - started < timeout:
        if driver.execute_script(DRAWN_JS, marker):
            return time.perf_counter() - started
        time.sleep(0.01)
    raise TimeoutError(f"{url}: not drawn within {timeout}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", help="an existing store (default: build a small demo)")
    parser.add_argument(
        "--schools", type=int, default=300, help="schools of the demo built without --data-dir"
    )
    parser.add_argument("--rounds", type=int, default=3, help="visits per page (the first is cold)")
    parser.add_argument("--boundaries", default="", help="GeoJSON for the map panels (IOC_BOUNDARIES_FILE)")
    args = parser.parse_args(argv)

    import os

    if args.boundaries:
        os.environ["IOC_BOUNDARIES_FILE"] = args.boundaries
    from ioc.app import create_app
    from ioc.store import Store

    data_dir = args.data_dir
    if data_dir is None:
        from ioc.demo import build_demo

        data_dir = str(Path(tempfile.mkdtemp(prefix="ioc-app-bench-")) / "data")
        print(f"building a demo store of {args.schools} schools in {data_dir} ...")
        build_demo(data_dir, schools=args.schools, attendance_days=60, probe_days=7)
    store = Store(data_dir)
    app = create_app(store=store)
    log: list[dict[str, Any]] = []
    instrument(app, log)
    base, server = serve(app)
    driver = browser()
    rows = []
    all_ms: list[float] = []
    warm_ms: list[float] = []
    per_output: dict[str, list[float]] = defaultdict(list)
    try:
        for name, path, marker in pages(store):
            draws = []
            payload = 0
            for round_ in range(args.rounds):
                log.clear()
                draws.append(draw(driver, base + path, marker))
                time.sleep(0.2)
                for entry in log:
                    all_ms.append(entry["ms"])
                    if round_ > 0:
                        warm_ms.append(entry["ms"])
                    per_output[entry["output"]].append(entry["ms"])
                if round_ == 0:
                    payload = sum(e["bytes"] for e in log)
            rows.append(
                (name, draws[0], statistics.median(draws[1:]) if len(draws) > 1 else draws[0], payload)
            )
        # the wall's refresh callback, as a wall calls it every minute (warm)
        from ioc.pages._wall import refresh_grid

        with app.server.test_request_context("/"):
            for _ in range(20):
                started = time.perf_counter()
                refresh_grid(1, {"name": "control_room", "playlist": ["control_room"]}, "?kiosk=1")
                per_output["wall refresh (direct)"].append((time.perf_counter() - started) * 1000)
    finally:
        driver.quit()
        server.shutdown()

    print(f"\nstore: {data_dir}  (data version {store.data_version()})")
    print(f"{'page':14} {'cold draw s':>12} {'warm draw s':>12} {'payload kB':>11}")
    for name, cold, warm, payload in rows:
        print(f"{name:14} {cold:12.2f} {warm:12.2f} {payload / 1024:11.1f}")

    def p95(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]

    print(f"\n{'callback (output)':62} {'n':>4} {'p50 ms':>8} {'p95 ms':>8}")
    for output, values in sorted(per_output.items()):
        print(f"{output:62} {len(values):4d} {statistics.median(values):8.1f} {p95(values):8.1f}")
    print(f"{'all Dash requests':62} {len(all_ms):4d} {statistics.median(all_ms):8.1f} {p95(all_ms):8.1f}")
    if warm_ms:
        print(
            f"{'all Dash requests, warm rounds only':62} {len(warm_ms):4d} {statistics.median(warm_ms):8.1f} "
            f"{p95(warm_ms):8.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
