"""Load test: district officers browsing district, ward and school pages against gunicorn on
127.0.0.1, while a writer loads a batch of connectivity probes every 5 minutes (issue 7, item 5).

    .venv/bin/python -m benchmarks.load_bench run --users 200 --minutes 11 --workers 4
    .venv/bin/python -m benchmarks.load_bench sweep --workers 1,2,4 --minutes 2 --sweep-users 16
    .venv/bin/python -m benchmarks.load_bench run --catalog sqlite --data-dir DATA_DIR ...
    .venv/bin/python -m benchmarks.load_bench capture --data-dir DATA_DIR

The catalog is PostgreSQL by default: the script starts a server (tests/servers.py) and builds the
full demo store into it with ``ioc demo`` (IOC_DEMO_SCHOOLS, 3,500 schools by default; a few
minutes). ``--catalog-url URL --data-dir DIR`` reuses a store built that way; ``--catalog sqlite``
uses the embedded catalog of ``--data-dir`` (or builds one). Figures: docs/operations.md.

What an officer does is what a browser does, request for request. ``capture`` drives headless
Chromium through one officer's visit (a full load of a district page, then in-app navigation to
a ward, a school, back to the district with another KPI) and records every request the Dash
renderer sends: the page GET, ``/_dash-layout``, ``/_dash-dependencies`` and each
``/_dash-update-component`` body as sent. The recording lives in ``benchmarks/load_visit.json``;
``run`` replays it for each simulated officer with the officer's own district, ward and school
put in place of the recorded ones. Static files (Dash's JavaScript bundles) are left out: a
browser caches them for a year (their URLs are fingerprinted) and a city serves them from a
reverse proxy.

``run``: sign-in is on. Each officer is an account with district scope (``ioc users add --role
district_officer --district D``), signs in once through ``/login`` (CSRF form) and then keeps
its session cookie; every Dash POST echoes the CSRF cookie in ``X-CSRFToken`` like the renderer.
Officers arrive once the app's warmer has finished its first round for the store's data
version (``--wait-warm`` seconds at most, read from /metrics: ``ioc_cache_warm_rounds_total``),
as on a server that has been up for a while; they start over the first ``--ramp`` seconds, then
loop over the visit with a think time (uniform ``--think``, default 10-30 s: reading a page)
between steps; the requests of one step are sent one after another (the order the renderer
sends them). Every 5 minutes
(``--probe-every``) a writer runs ``ioc ingest`` of a CSV of probes, one per open school (3,472
of the 3,500) for the next 5-minute slot: the normal ingestion path, which moves the data
version and so makes every cached answer that reads probes stale (connectivity KPIs and digital
readiness; attendance and digital answers stay cached, docs/metrics.md "Caching").

The app runs under gunicorn (``ioc/gunicorn_conf.py`` when it exists, else plain gunicorn with
``--workers``) with the KPI cache in a Redis server this script starts (IOC_CACHE_REDIS_URL) and
IOC_CACHE_STALE_SECONDS as ``--stale`` (60, the deployment's setting: right after a probe load the
previous answers are served until the warmer has drawn the new version; 0 turns that off).
The client runs in this process on the same machine: its CPU time is measured and printed, as
it takes cores from the server.

``sweep``: capacity. For each worker count, officers with no think time (a closed loop of
``--sweep-users`` officers) for ``--minutes``, no probe loads; one Redis serves the whole sweep and
is warmed first (``--warmup`` seconds, not counted), so every worker count serves the same warm
answers and throughput per worker shows how it grows.

Figures: requests, errors, p50/p95/p99 per request kind, throughput; a JSON result is written
(``--out``). Goals: zero errors, p95 under 500 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
VISIT_FILE = Path(__file__).with_name("load_visit.json")
IOC = str(Path(sys.executable).with_name("ioc"))
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
PASSWORD = "load-bench-officer-password"  # every simulated officer's; the store is a throwaway
# A browser or a proxy drops a kept-alive connection it has not used for a while; so does each
# officer, well before the server's IOC_KEEPALIVE_SECONDS (75): the side that closes an idle
# connection must be the client, which knows whether it is about to send on it. A server that
# closes first races the client's next request ("connection reset by peer" on the first request
# after reading a page, the header callback, in the run of 2026-12-05: gunicorn's keep-alive was
# 5 s, the officers read for 10-30 s, and a worker busy with cold pages closed the idle
# connection late, just as the officer's next request arrived).
CLIENT_IDLE_SECONDS = 60.0
THINK = "10,30"  # seconds an officer reads a page (min,max), --think

# -- capture: what the Dash renderer sends, recorded from a real browser -------------------------

# The visit: (step name, how the browser gets there, URL). "load" = typed into the address bar
# (page GET + _dash-layout + _dash-dependencies + callbacks); "nav" = a click on an in-app link
# (Dash's dcc.Link: history.pushState, then only callbacks).
VISIT = (
    ("district", "load", "/district/{district}"),
    ("ward", "nav", "/ward/{ward}"),
    ("school", "nav", "/school/{school}"),
    ("district_kpi", "nav", "/district/{district}?kpi=uptime"),
)
# pushes a URL the way dcc.Link does, so the page changes without a reload
NAV_JS = """
window.history.pushState({}, '', arguments[0]);
window.dispatchEvent(new CustomEvent('_dashprivate_pushstate'));
window.scrollTo(0, 0);
"""
SETTLED_JS = """
if (document.querySelector('[data-dash-is-loading="true"]')) return false;
const graphs = document.querySelectorAll('.dash-graph');
for (const g of graphs) { if (!g.querySelector('.main-svg')) return false; }
return window.__pending === 0 && document.querySelector(arguments[0]) !== null;
"""
TRACK_JS = """
if (!window.__tracked) {
  window.__tracked = true; window.__pending = 0;
  const f = window.fetch;
  window.fetch = function() { window.__pending++; return f.apply(this, arguments).finally(() => { window.__pending--; }); };
}
"""
MARKERS = {
    "district": ".unit-page[data-unit='{district}'] .units-table",
    "ward": ".unit-page[data-unit='{ward}'] .units-table",
    "school": ".school-page .profile",
    "district_kpi": ".unit-page[data-unit='{district}'] .units-table",
}


def sample_units(data_dir: str) -> dict[str, str]:
    """One school of the store with its ward and district: the codes the recording is made with."""
    from ioc.metrics import dimensions
    from ioc.store import open_store

    store = open_store(data_dir)
    school = sorted(dimensions.schools(store), key=lambda s: s.school_id)[0]
    return {"district": school.district_code, "ward": school.ward_code, "school": school.school_id}


def capture(data_dir: str, out: Path) -> dict[str, Any]:
    """Drive headless Chromium through the visit against the app in this process; record requests."""
    os.environ["IOC_AUTH_REQUIRED"] = "false"  # the bodies are the same signed in; no account needed
    import flask
    from werkzeug.serving import make_server

    from benchmarks.app_bench import browser
    from ioc.app import create_app

    units = sample_units(data_dir)
    app = create_app(data_dir)
    log: list[dict[str, Any]] = []

    @app.server.after_request
    def _record(response: Any) -> Any:
        path = flask.request.path
        if path.startswith(("/_dash-component-suites", "/assets", "/_favicon", "/_reload-hash")):
            return response
        entry: dict[str, Any] = {"method": flask.request.method, "path": path, "status": response.status_code}
        if flask.request.query_string:
            entry["query"] = flask.request.query_string.decode()
        if flask.request.method == "POST":
            entry["body"] = flask.request.get_data(as_text=True)
        log.append(entry)
        return response

    server = make_server("127.0.0.1", 0, app.server, threaded=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    driver = browser()
    steps = []
    try:
        # one throwaway visit first, so the recorded one is what a returning officer's browser sends
        for warm in (True, False):
            for name, how, template in VISIT:
                url = template.format(**units)
                log.clear()
                if how == "load":
                    driver.get(base + url)
                else:
                    driver.execute_script(NAV_JS, url)
                driver.execute_script(TRACK_JS)
                marker = MARKERS[name].format(**units)
                deadline = time.monotonic() + 120
                while not driver.execute_script(SETTLED_JS, marker):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{url}: not drawn within 120 s")
                    time.sleep(0.05)
                time.sleep(1.0)  # late callbacks (a graph's relayout, a grid's first render)
                if not warm:
                    bad = [e for e in log if e["status"] != 200 and e["status"] != 204]
                    if bad:
                        raise RuntimeError(f"{url}: the browser got errors: {bad}")
                    steps.append({"name": name, "how": how, "url": template, "requests": list(log)})
    finally:
        driver.quit()
        server.shutdown()
    recording = {"recorded_with": units, "steps": steps}
    # make it a template: the recorded codes become placeholders
    text = json.dumps(recording, indent=1, ensure_ascii=False)
    for key in ("school", "ward", "district"):  # the longest codes first
        value = units[key]
        text = re.sub(rf"(?<![0-9A-Za-z_]){re.escape(value)}(?![0-9A-Za-z_])", "{{" + key + "}}", text)
    template = json.loads(text)
    template["recorded_with"] = units
    out.write_text(json.dumps(template, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return template


# -- the store, the officers, the servers -------------------------------------------------------


def build_store(folder: Path) -> str:
    data_dir = str(folder / "data")
    print(f"building the demo store in {data_dir} (ioc demo) ...", flush=True)
    subprocess.run([IOC, "--data-dir", data_dir, "demo"], check=True, stdout=subprocess.DEVNULL)
    return data_dir


@dataclass(frozen=True)
class Officer:
    username: str
    district: str
    ward: str
    school: str


def officers(data_dir: str, count: int, seed: int = 7) -> list[Officer]:
    """``count`` district officers spread over the districts, each with one ward and one school of
    its district to visit; accounts made with ``ioc users add`` (in this process) when missing."""
    import contextlib
    import io

    from ioc.auth import accounts
    from ioc.auth.db import open_db
    from ioc.cli import main as ioc_main
    from ioc.metrics import dimensions
    from ioc.store import open_store

    schools = [s for s in dimensions.schools(open_store(data_dir)) if s.active]
    by_district: dict[str, list[Any]] = defaultdict(list)
    for s in schools:
        by_district[s.district_code].append(s)
    districts = sorted(by_district)
    rng = random.Random(seed)
    db = open_db(data_dir)
    made = 0
    result = []
    for i in range(count):
        district = districts[i % len(districts)]
        school = rng.choice(by_district[district])
        name = f"officer{i + 1:03d}"
        if accounts.get(db, name) is None:
            saved = sys.stdin
            sys.stdin = io.StringIO(PASSWORD + "\n")
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    status = ioc_main(
                        [
                            "--data-dir",
                            data_dir,
                            "users",
                            "add",
                            name,
                            "--role",
                            "district_officer",
                            "--district",
                            district,
                            "--password-stdin",
                        ]
                    )
            finally:
                sys.stdin = saved
            if status:
                raise RuntimeError(f"ioc users add {name} failed with status {status}")
            made += 1
        result.append(Officer(name, district, school.ward_code, school.school_id))
    print(f"{count} district officers over {len(districts)} districts ({made} accounts added)", flush=True)
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before answering {url}")
        try:
            if requests.get(url, timeout=5).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


class Redis:
    """A redis-server of our own on a free port (as tests/servers.py starts it)."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: apt-get install -y redis-server")
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.1)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def info(self) -> dict[str, Any]:
        import redis

        client = redis.Redis.from_url(self.url)
        stats = client.info("stats")
        return {
            "keys": int(client.dbsize()),
            "hits": int(stats.get("keyspace_hits", 0)),
            "misses": int(stats.get("keyspace_misses", 0)),
        }

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def gunicorn_command(workers: int, port: int) -> tuple[list[str], str]:
    """gunicorn with the project's configuration file when it exists (ioc/gunicorn_conf.py)."""
    base = [GUNICORN, "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    if (ROOT / "ioc" / "gunicorn_conf.py").exists():
        return [*base[:1], "-c", "python:ioc.gunicorn_conf", *base[1:], "ioc.wsgi:application"], (
            "gunicorn -c python:ioc.gunicorn_conf"
        )
    return [*base, "--timeout", "120", "ioc.wsgi:application"], "plain gunicorn (no ioc/gunicorn_conf.py yet)"


class Server:
    def __init__(self, data_dir: str, workers: int, redis_url: str, log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command, self.kind = gunicorn_command(workers, self.port)
        env = dict(
            os.environ,
            IOC_DATA_DIR=data_dir,
            IOC_CACHE_REDIS_URL=redis_url,
            IOC_AUTH_REQUIRED="true",
            IOC_COOKIE_SECURE="false",
        )
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_http(self.base + "/login", self.proc)

    def pids(self) -> list[int]:
        found = [self.proc.pid]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                found.append(int(stat.parent.name))
        return found

    def cpu_seconds(self) -> float:
        return sum(proc_cpu(pid) for pid in self.pids())

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


def wait_for_warm(base: str, limit: float) -> float | None:
    """Seconds until the app reports its first complete warm-up round on /metrics
    (``ioc_cache_warm_rounds_total{result="complete"}``), as a city's app is warm before its
    officers arrive in the morning; None when ``limit`` passed first."""
    import requests

    started = time.time()
    pattern = re.compile(r'^ioc_cache_warm_rounds_total\{result="complete"\} ([0-9.e+]+)$', re.M)
    print(f"  waiting for the app's first warm-up round (at most {limit:.0f} s)", flush=True)
    while time.time() - started < limit:
        try:
            text = requests.get(base + "/metrics", timeout=10).text
        except requests.RequestException:
            text = ""
        found = pattern.search(text)
        if found and float(found.group(1)) >= 1:
            took = time.time() - started
            print(f"  warm after {took:.0f} s", flush=True)
            return round(took, 1)
        time.sleep(5)
    print("  not warm yet; starting anyway", flush=True)
    return None


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 when it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (every core, every process)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return (total - idle) / tick, total / tick


# -- the writer: 3,500 probes every 5 minutes through `ioc ingest` ------------------------------


def probe_batch(data_dir: str, folder: Path, when: datetime) -> tuple[Path, int]:
    from ioc.metrics import dimensions
    from ioc.store import open_store

    ids = [s.school_id for s in dimensions.schools(open_store(data_dir)) if s.active]
    rng = random.Random(when.timestamp())
    path = folder / f"connectivity_{when:%Y-%m-%dT%H%M}.csv"
    stamp = when.strftime("%Y-%m-%d %H:%M:%S")
    lines = ["measured_at,school_id,download_mbps,upload_mbps,latency_ms,online"]
    for school in ids:
        online = rng.random() > 0.03
        down = round(rng.uniform(8, 120), 1) if online else ""
        up = round(rng.uniform(2, 40), 1) if online else ""
        latency = round(rng.uniform(5, 80), 1) if online else ""
        lines.append(f"{stamp},{school},{down},{up},{latency},{'true' if online else 'false'}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, len(ids)


class Writer(threading.Thread):
    """Every ``every`` seconds (first after ``first``), ingest the next 5-minute slot's probes."""

    def __init__(
        self, data_dir: str, folder: Path, first: float, every: float, stop: threading.Event
    ) -> None:
        super().__init__(name="probe-writer", daemon=True)
        self.data_dir, self.folder, self.first, self.every, self.stop = data_dir, folder, first, every, stop
        self.loads: list[dict[str, Any]] = []
        folder.mkdir(parents=True, exist_ok=True)

    def run(self) -> None:
        from zoneinfo import ZoneInfo

        from ioc import settings

        zone = ZoneInfo(settings.get("timezone"))
        slot = datetime.now(zone).replace(tzinfo=None, second=0, microsecond=0)
        slot -= timedelta(minutes=slot.minute % 5)
        wait = self.first
        while not self.stop.wait(wait):
            slot += timedelta(minutes=5)
            path, rows = probe_batch(self.data_dir, self.folder, slot)
            started = time.time()
            before = resource_children()
            done = subprocess.run(
                [IOC, "--data-dir", self.data_dir, "ingest", str(path), "--source", "load-bench"],
                capture_output=True,
                text=True,
            )
            self.loads.append(
                {
                    "at": started,
                    "seconds": round(time.time() - started, 2),
                    "cpu_seconds": round(resource_children() - before, 2),
                    "rows": rows,
                    "file": path.name,
                    "ok": done.returncode == 0,
                    "output": (done.stdout + done.stderr).strip()[-400:],
                }
            )
            print(f"  probes loaded: {path.name} in {time.time() - started:.1f} s (exit {done.returncode})")
            wait = max(0.0, self.every - (time.time() - started))


def resource_children() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- the officers' browsers ------------------------------------------------------------------------

END_ID = re.compile(r'"end_id"\s*:\s*"([^"]+)"')
CSRF_INPUT = re.compile(r'name="csrf"\s+value="([^"]+)"|value="([^"]+)"\s+name="csrf"')


def kind_of(request: dict[str, Any], step: str) -> str:
    """The request kind figures are kept by: what the request is for, not its exact URL."""
    path = request["path"]
    if request["method"] == "GET":
        if path.startswith("/_dash-"):
            return f"GET {path}"
        return f"GET page ({step})"
    output = json.loads(request["body"]).get("output", "")
    if "_pages_content" in output:
        return f"callback: page content ({step.split('_')[0]})"
    if "app-header" in output:
        return "callback: header"
    if "app-explain" in output:
        return "callback: explain buttons"
    if "app-navigate" in output:
        return "callback: drill (graph clicks)"
    if output.endswith("-go.href"):
        return "callback: filters -> url"
    return f"callback: {output[:40]}"


@dataclass
class Log:
    """Every request: (start time, kind, milliseconds, ok, error text)."""

    rows: list[tuple[float, str, float, bool, str]] = field(default_factory=list)
    steps: list[tuple[float, str, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, started: float, kind: str, ms: float, ok: bool, error: str = "") -> None:
        with self.lock:
            self.rows.append((started, kind, ms, ok, error))


def fill(text: str, officer: Officer) -> str:
    return (
        text.replace("{{district}}", officer.district)
        .replace("{{ward}}", officer.ward)
        .replace("{{school}}", officer.school)
    )


class Browser(threading.Thread):
    """One officer: sign in, then the recorded visit over and over, with think time between steps."""

    def __init__(
        self,
        officer: Officer,
        base: str,
        visit: list[dict[str, Any]],
        log: Log,
        *,
        start_at: float,
        stop_at: float,
        think: tuple[float, float],
        seed: int,
    ) -> None:
        super().__init__(name=officer.username, daemon=True)
        self.officer, self.base, self.visit, self.log = officer, base, visit, log
        self.start_at, self.stop_at, self.think = start_at, stop_at, think
        self.rng = random.Random(seed)
        self.last_used = time.perf_counter()

    def request(self, session: Any, kind: str, method: str, url: str, **kwargs: Any) -> Any:
        started = time.time()
        t0 = time.perf_counter()
        if t0 - self.last_used > CLIENT_IDLE_SECONDS:
            session.close()  # the pooled connections only; cookies stay, the next request reconnects
        try:
            response = session.request(method, url, timeout=120, allow_redirects=False, **kwargs)
        except Exception as error:  # noqa: BLE001 - every failure is an error of the run
            self.log.add(started, kind, (time.perf_counter() - t0) * 1000, False, repr(error)[:200])
            return None
        finally:
            self.last_used = time.perf_counter()
        ms = (time.perf_counter() - t0) * 1000
        ok = response.status_code in (200, 204) or (
            kind.startswith("sign-in") and response.status_code == 302
        )
        error = "" if ok else f"HTTP {response.status_code} {method} {url[:80]}: {response.text[:120]!r}"
        if ok and kind.startswith("callback: page content"):
            # the page drew, for the officer's own unit (not an error page or a refusal)
            body = response.text
            if "error-page" in body or ("unit-page" not in body and "school-page" not in body):
                ok, error = False, f"page content is not the page: {body[:160]!r}"
        self.log.add(started, kind, ms, ok, error)
        return response if ok else None

    def sign_in(self, session: Any) -> bool:
        form = self.request(session, "sign-in: GET /login", "GET", self.base + "/login")
        if form is None:
            return False
        match = CSRF_INPUT.search(form.text)
        if not match:
            self.log.add(time.time(), "sign-in: POST /login", 0, False, "no csrf field on the sign-in form")
            return False
        done = self.request(
            session,
            "sign-in: POST /login",
            "POST",
            self.base + "/login",
            data={
                "username": self.officer.username,
                "password": PASSWORD,
                "csrf": match.group(1) or match.group(2),
                "next": "/",
            },
        )
        return done is not None and "ioc_session" in session.cookies

    def run(self) -> None:
        import requests

        time.sleep(max(0.0, self.start_at - time.time()))
        session = requests.Session()
        if not self.sign_in(session):
            return
        end_id = ""
        while time.time() < self.stop_at:
            for step in self.visit:
                if time.time() >= self.stop_at:
                    return
                step_started = time.perf_counter()
                for recorded in step["requests"]:
                    if time.time() >= self.stop_at:
                        return  # the run is over: what is left of the step is not sent
                    kind = kind_of(recorded, step["name"])
                    url = self.base + fill(recorded["path"], self.officer)
                    if recorded["method"] == "GET":
                        response = self.request(session, kind, "GET", url)
                        if response is not None and not recorded["path"].startswith("/_dash-"):
                            found = END_ID.search(response.text)
                            end_id = found.group(1) if found else ""
                        continue
                    self.request(
                        session,
                        kind,
                        "POST",
                        url + ("?" + urlencode({"endId": end_id}) if end_id else ""),
                        data=fill(recorded["body"], self.officer).encode(),
                        headers={
                            "Content-Type": "application/json",
                            "X-CSRFToken": session.cookies.get("_csrf_token", ""),
                        },
                    )
                with self.log.lock:
                    self.log.steps.append(
                        (time.time(), step["name"], (time.perf_counter() - step_started) * 1000)
                    )
                pause = self.rng.uniform(*self.think) if self.think[1] > 0 else 0.0
                if pause:
                    time.sleep(min(pause, max(0.0, self.stop_at - time.time())))


# -- figures ----------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def figures(rows: list[tuple[float, str, float, bool, str]], seconds: float) -> dict[str, Any]:
    by_kind: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for _, kind, ms, ok, _ in rows:
        by_kind[kind].append((ms, ok))
    out: dict[str, Any] = {}
    for kind, values in sorted(by_kind.items()):
        ms = [v[0] for v in values]
        out[kind] = {
            "requests": len(values),
            "errors": sum(1 for v in values if not v[1]),
            "p50_ms": round(percentile(ms, 0.50), 1),
            "p95_ms": round(percentile(ms, 0.95), 1),
            "p99_ms": round(percentile(ms, 0.99), 1),
            "max_ms": round(max(ms), 1),
            "per_s": round(len(values) / seconds, 2),
        }
    ms = [r[2] for r in rows]
    out["ALL"] = {
        "requests": len(rows),
        "errors": sum(1 for r in rows if not r[3]),
        "p50_ms": round(percentile(ms, 0.50), 1),
        "p95_ms": round(percentile(ms, 0.95), 1),
        "p99_ms": round(percentile(ms, 0.99), 1),
        "max_ms": round(max(ms), 1) if ms else float("nan"),
        "per_s": round(len(rows) / seconds, 2),
    }
    return out


def print_table(title: str, table: dict[str, Any]) -> None:
    print(f"\n{title}")
    print(
        f"{'request kind':42} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>7}"
    )
    for kind, f in table.items():
        print(
            f"{kind:42} {f['requests']:8d} {f['errors']:6d} {f['p50_ms']:8.1f} {f['p95_ms']:8.1f} "
            f"{f['p99_ms']:8.1f} {f['max_ms']:8.1f} {f['per_s']:7.2f}"
        )


# -- one measured run -------------------------------------------------------------------------------


def measure(
    data_dir: str,
    folder: Path,
    crowd: list[Officer],
    visit: list[dict[str, Any]],
    *,
    workers: int,
    seconds: float,
    ramp: float,
    think: tuple[float, float],
    probe_first: float | None,
    probe_every: float,
    shared_redis: Redis | None = None,
    wait_warm: float = 0.0,
) -> dict[str, Any]:
    """Start gunicorn (and Redis unless given), wait up to ``wait_warm`` seconds for the app's
    first complete warm-up round, let ``crowd`` browse for ``seconds``; figures after the ramp."""
    import resource

    folder.mkdir(parents=True, exist_ok=True)
    redis = shared_redis or Redis(folder / "redis")
    server = None
    try:
        server = Server(data_dir, workers, redis.url, folder / "gunicorn.log")
        print(
            f"  gunicorn ({server.kind}), {workers} worker(s) on {server.base}; Redis on {redis.url}",
            flush=True,
        )
        warmed = wait_for_warm(server.base, wait_warm) if wait_warm > 0 else None
        log = Log()
        stop = threading.Event()
        began = time.time()
        stop_at = began + ramp + seconds
        browsers = [
            Browser(
                officer,
                server.base,
                visit,
                log,
                start_at=began + ramp * i / max(1, len(crowd)),
                stop_at=stop_at,
                think=think,
                seed=i,
            )
            for i, officer in enumerate(crowd)
        ]
        writer = (
            Writer(data_dir, folder / "probes", probe_first, probe_every, stop)
            if probe_first is not None
            else None
        )
        for b in browsers:
            b.start()
        if writer:
            writer.start()
        # the measured window starts when every officer is signed in and browsing
        time.sleep(max(0.0, began + ramp - time.time()))
        window_start = time.time()
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        server_cpu0 = server.cpu_seconds()
        busy0, total0 = machine_busy()
        redis0 = redis.info()
        while time.time() < stop_at:
            time.sleep(min(30.0, max(0.0, stop_at - time.time())))
            done = [r for r in log.rows if r[0] >= window_start]
            print(
                f"  {time.time() - window_start:5.0f} s: {len(done)} requests, "
                f"{sum(1 for r in done if not r[3])} errors, p95 {percentile([r[2] for r in done], 0.95):.0f} ms",
                flush=True,
            )
        window = time.time() - window_start
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        server_cpu = server.cpu_seconds() - server_cpu0
        busy1, total1 = machine_busy()
        redis1 = redis.info()
        stop.set()
        # a browser stops at stop_at, or when its request in flight ends (120 s at most)
        for b in browsers:
            b.join(timeout=max(1.0, stop_at + 150 - time.time()))
        if writer:
            writer.join(timeout=300)
    finally:
        if server is not None:
            server.stop()
        if shared_redis is None:
            redis.stop()
    cores = os.cpu_count() or 1
    client_cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    rows = [r for r in log.rows if r[0] >= window_start and r[0] < stop_at]
    ramp_rows = [r for r in log.rows if r[0] < window_start]
    loads = writer.loads if writer else []
    after_load = [r for r in rows if any(0 <= r[0] - ld["at"] <= 60 for ld in loads)]
    steps: dict[str, list[float]] = defaultdict(list)
    for at, name, ms in log.steps:
        if window_start <= at < stop_at:
            steps[name].append(ms)
    result = {
        "workers": workers,
        "server": server.kind if server else "",
        "officers": len(crowd),
        "think_seconds": list(think),
        "ramp_seconds": ramp,
        "warm_up_seconds": warmed,
        "stale_seconds": int(os.environ.get("IOC_CACHE_STALE_SECONDS") or 0),
        "window_seconds": round(window, 1),
        "requests": figures(rows, window),
        "ramp": figures(ramp_rows, ramp) if ramp_rows else {},
        "after_probe_load_60s": figures(after_load, 60 * max(1, len(loads)))["ALL"] if after_load else {},
        "step_ms": {
            name: {"n": len(v), "p50": round(percentile(v, 0.5), 1), "p95": round(percentile(v, 0.95), 1)}
            for name, v in steps.items()
        },
        "probe_loads": loads,
        "throughput_per_s": round(len(rows) / window, 2),
        "throughput_per_worker_per_s": round(len(rows) / window / workers, 2),
        "cpu": {
            "cores": cores,
            "client_cores_used": round(client_cpu / window, 2),
            "server_cores_used": round(server_cpu / window, 2),
            "machine_cores_busy": round((busy1 - busy0) / (total1 - total0) * cores, 2),
        },
        "redis": {k: redis1[k] - (redis0[k] if k != "keys" else 0) for k in redis1},
        "errors_sample": sorted({r[4] for r in rows + ramp_rows if not r[3]})[:10],
    }
    return result


def print_result(result: dict[str, Any]) -> None:
    print_table(
        f"{result['officers']} officers, {result['workers']} worker(s), {result['window_seconds']:.0f} s measured "
        f"after a {result['ramp_seconds']:.0f} s ramp, think time {result['think_seconds']} s, "
        f"IOC_CACHE_STALE_SECONDS={result.get('stale_seconds', 0)}",
        result["requests"],
    )
    if result["ramp"]:
        ramp = result["ramp"]["ALL"]
        print(
            f"ramp (sign-ins, cold caches): {ramp['requests']} requests, {ramp['errors']} errors, "
            f"p95 {ramp['p95_ms']} ms"
        )
    if result["after_probe_load_60s"]:
        f = result["after_probe_load_60s"]
        print(
            f"within 60 s after each probe load: {f['requests']} requests, {f['errors']} errors, "
            f"p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms, p99 {f['p99_ms']} ms"
        )
    for load in result["probe_loads"]:
        print(f"probe load {load['file']}: {load['rows']} rows, {load['seconds']} s, ok={load['ok']}")
    for name, f in result["step_ms"].items():
        print(
            f"step {name:14} (all its requests, one after another): n={f['n']}, p50 {f['p50']} ms, p95 {f['p95']} ms"
        )
    cpu = result["cpu"]
    print(
        f"throughput {result['throughput_per_s']} req/s = {result['throughput_per_worker_per_s']} req/s per worker; "
        f"CPU of {cpu['cores']} cores: server {cpu['server_cores_used']}, load client {cpu['client_cores_used']}, "
        f"whole machine busy {cpu['machine_cores_busy']} (the rest is other processes)"
    )
    print(f"Redis: {result['redis']}")
    for error in result["errors_sample"]:
        print(f"error: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=("run", "sweep", "capture"), nargs="?", default="run")
    parser.add_argument(
        "--catalog",
        choices=("postgres", "sqlite"),
        default="postgres",
        help="DuckLake catalog: a PostgreSQL server this script starts (the multi-node setup) or "
        "the embedded SQLite file",
    )
    parser.add_argument(
        "--catalog-url",
        default="",
        help="an existing PostgreSQL catalog (postgresql://...) of the store in --data-dir, instead of "
        "starting a server and building the demo into it",
    )
    parser.add_argument(
        "--data-dir", help="an existing demo store (its data directory; default: build one with ioc demo)"
    )
    parser.add_argument("--users", type=int, default=200, help="simulated district officers (run)")
    parser.add_argument(
        "--minutes", type=float, default=11.0, help="measured minutes (per worker count in sweep)"
    )
    parser.add_argument("--ramp", type=float, default=60.0, help="seconds over which officers sign in")
    parser.add_argument("--think", default=THINK, help="think time between steps, 'min,max' seconds")
    parser.add_argument("--workers", default="4", help="gunicorn workers (run: one number; sweep: '1,2,4')")
    parser.add_argument("--sweep-users", type=int, default=16, help="officers without think time (sweep)")
    parser.add_argument(
        "--warmup", type=float, default=180.0, help="seconds of browsing that warm the cache before a sweep"
    )
    parser.add_argument(
        "--probe-first",
        type=float,
        default=120.0,
        help="seconds before the first probe load; negative = no probe loads",
    )
    parser.add_argument("--probe-every", type=float, default=300.0, help="seconds between probe loads")
    parser.add_argument(
        "--wait-warm",
        type=float,
        default=900.0,
        help="run: seconds to wait at most for the app's first complete warm-up round (wall, district "
        "and ward pages) before officers arrive; 0 = start at once, cold",
    )
    parser.add_argument(
        "--stale",
        type=int,
        default=60,
        help="the app's IOC_CACHE_STALE_SECONDS (default 60, as deploy/ioc.env.example): right after a "
        "probe load, until the warmer has drawn the new version, officers get the previous answers; "
        "0 = every officer waits for the new ones",
    )
    parser.add_argument("--out", default="", help="JSON result file (default: in the work folder)")
    args = parser.parse_args(argv)
    os.environ["IOC_CACHE_STALE_SECONDS"] = str(args.stale)  # gunicorn inherits this process's environment

    work = Path(tempfile.mkdtemp(prefix="ioc-load-bench-"))
    if args.command == "capture":
        template = capture(args.data_dir or build_store(work), VISIT_FILE)
        for step in template["steps"]:
            print(f"{step['name']}: {len(step['requests'])} requests")
        print(f"written {VISIT_FILE}")
        return 0

    def stop_on_term(*_: Any) -> None:
        raise KeyboardInterrupt  # run every finally: gunicorn, Redis and PostgreSQL are stopped

    signal.signal(signal.SIGTERM, stop_on_term)
    with contextlib.ExitStack() as stack:
        if args.catalog_url:
            if not args.data_dir:
                parser.error("--catalog-url needs the --data-dir the store was built with")
            os.environ["IOC_CATALOG_URL"] = args.catalog_url
            data_dir = args.data_dir
        elif args.catalog == "postgres":
            if args.data_dir:
                parser.error("--data-dir without --catalog-url is for --catalog sqlite")
            sys.path.insert(0, str(ROOT))
            from tests.servers import postgres

            pg = stack.enter_context(postgres(work / "postgres"))
            os.environ["IOC_CATALOG_URL"] = pg.url()
            print(f"PostgreSQL catalog on {pg.url()}", flush=True)
            data_dir = build_store(work)
        else:
            data_dir = args.data_dir or build_store(work)
        return bench(args, work, data_dir, argv)
    return 1


def bench(args: argparse.Namespace, work: Path, data_dir: str, argv: list[str] | None) -> int:
    visit = json.loads(VISIT_FILE.read_text(encoding="utf-8"))["steps"]
    low, high = (float(x) for x in args.think.split(","))
    results: dict[str, Any] = {
        "command": "python -m benchmarks.load_bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "data_dir": data_dir,
        "catalog": "postgres" if os.environ.get("IOC_CATALOG_URL") else "sqlite",
        "started": datetime.now().isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
    }
    ok = True
    if args.command == "run":
        crowd = officers(data_dir, args.users)
        workers = int(args.workers)
        print(
            f"run: {args.users} officers, {workers} workers, {args.minutes} min, probes every {args.probe_every:.0f} s"
        )
        result = measure(
            data_dir,
            work / "run",
            crowd,
            visit,
            workers=workers,
            seconds=args.minutes * 60,
            ramp=args.ramp,
            think=(low, high),
            probe_first=args.probe_first if args.probe_first >= 0 else None,
            probe_every=args.probe_every,
            wait_warm=args.wait_warm,
        )
        print_result(result)
        results["run"] = result
        all_ = result["requests"]["ALL"]
        ok = all_["errors"] == 0 and all_["p95_ms"] < 500 and all(ld["ok"] for ld in result["probe_loads"])
    else:
        crowd = officers(data_dir, args.sweep_users)
        results["sweep"] = []
        counts = [int(w) for w in args.workers.split(",")]
        # one Redis for the whole sweep, warmed first: every worker count then serves the same warm
        # answers (no probe loads here, so the data version stays), and throughput is comparable
        redis = Redis(work / "redis")
        try:
            print(f"sweep warm-up: {max(counts)} worker(s), {args.warmup:.0f} s (not counted)", flush=True)
            warm = measure(
                data_dir,
                work / "sweep-warm-up",
                crowd,
                visit,
                workers=max(counts),
                seconds=args.warmup,
                ramp=min(args.ramp, 20.0),
                think=(0.0, 0.0),
                probe_first=None,
                probe_every=args.probe_every,
                shared_redis=redis,
            )
            results["sweep_warm_up"] = warm
            for workers in counts:
                print(
                    f"sweep: {workers} worker(s), {args.sweep_users} officers without think time, "
                    f"{args.minutes} min",
                    flush=True,
                )
                result = measure(
                    data_dir,
                    work / f"sweep-{workers}",
                    crowd,
                    visit,
                    workers=workers,
                    seconds=args.minutes * 60,
                    ramp=min(args.ramp, 20.0),
                    think=(0.0, 0.0),
                    probe_first=None,
                    probe_every=args.probe_every,
                    shared_redis=redis,
                )
                print_result(result)
                results["sweep"].append(result)
                ok = ok and result["requests"]["ALL"]["errors"] == 0
        finally:
            redis.stop()
        print(
            f"\n{'workers':>7} {'req/s':>8} {'req/s per worker':>17} {'p50 ms':>8} {'p95 ms':>8} {'server cores':>13}"
        )
        for r in results["sweep"]:
            a = r["requests"]["ALL"]
            print(
                f"{r['workers']:7d} {r['throughput_per_s']:8.1f} {r['throughput_per_worker_per_s']:17.1f} "
                f"{a['p50_ms']:8.1f} {a['p95_ms']:8.1f} {r['cpu']['server_cores_used']:13.2f}"
            )
    out = Path(args.out) if args.out else work / f"load_{args.command}.json"
    out.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"\nresult written to {out}; goals (zero errors, p95 < 500 ms): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
