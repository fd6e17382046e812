"""One scheduler across nodes: `ioc scheduler` processes on a PostgreSQL-catalog store, a real
PostgreSQL server, kill -9 of the active one and a terminated lock connection.

Each process stands for a machine: its own data directory, the same IOC_CATALOG_URL and a shared
IOC_DATA_PATH; the drop folder is shared too (as an NFS folder would be). The evidence of who ran
what comes from each process's own log (DATA_DIR/logs/scheduler.log: "job inbox: fire time F:
started (attempt N)" then "job inbox: fire time F: <status>"), not from the ledger under test.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parents[3]
IOC = "import sys; from ioc.cli import main; sys.exit(main())"
INTERVAL = 2  # seconds between two fire times of the inbox job
SCHOOLS = 40
CONFIG = """
[scheduler]
misfire_grace = "5s"

[[jobs]]
id = "inbox"
kind = "drop_folder"
schedule = "{interval}s"
folder = "{inbox}"
settle = "0s"
stable_wait = "100ms"
"""
LINE = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ ingest\.scheduler: job [\w.-]+: fire time "
    r"(?P<fire>\S+): (?P<what>started \(attempt (?P<attempt>\d)\)|\w+)"
)


class Node:
    """One `ioc scheduler` process with its own data directory, its output collected as it comes."""

    def __init__(self, name: str, data_dir: Path, config: Path, env: dict[str, str]) -> None:
        self.name = name
        self.data_dir = data_dir
        self.popen = subprocess.Popen(
            [sys.executable, "-c", IOC, "--data-dir", str(data_dir), "scheduler", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self.node = f"{socket.gethostname()}:{self.popen.pid}"
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in list(self.lines)):
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: {text!r} not seen within {timeout}s:\n" + "\n".join(self.lines))

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(60)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._reader.join(5)


@dataclass(frozen=True)
class Run:
    node: str
    fire: datetime
    attempt: int
    started: datetime
    finished: datetime | None
    status: str | None


def runs_of(node: Node) -> list[Run]:
    """The runs this node's log shows, in order (each test has one job)."""
    log = node.data_dir / "logs" / "scheduler.log"
    runs: list[Run] = []
    open_runs: dict[str, tuple[datetime, int]] = {}
    for line in log.read_text(encoding="utf-8").splitlines() if log.exists() else []:
        match = LINE.match(line)
        if not match:
            continue
        at = datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S,%f")
        fire = match["fire"]
        if match["attempt"]:
            open_runs[fire] = (at, int(match["attempt"]))
        elif fire in open_runs:
            started, attempt = open_runs.pop(fire)
            runs.append(Run(node.name, datetime.fromisoformat(fire), attempt, started, at, match["what"]))
    for fire, (started, attempt) in open_runs.items():  # killed in the middle of the run
        runs.append(Run(node.name, datetime.fromisoformat(fire), attempt, started, None, None))
    return runs


def write_schools(path: Path) -> None:
    import json

    units = json.loads((ROOT / "ioc" / "reference" / "hcmc_units_2025.json").read_text(encoding="utf-8"))[
        "units"
    ]
    lines = [
        "school_id,school_name,level,ownership,ward_code,ward_name,district_code,district_name,students,teachers,classrooms"
    ]
    for i in range(SCHOOLS):
        u = units[i % len(units)]
        lines.append(
            f"S{i:05d},Trường {i},primary,public,{u['code']},{u['name']},{u['district_code']},{u['district_name']},500,30,20"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


class Dropper:
    """A school system delivering an attendance file (a new day) into the shared inbox every 3 s."""

    def __init__(self, inbox: Path) -> None:
        self.inbox = inbox
        self.days: list[date] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        day = date(2026, 9, 7)
        while not self.stop.is_set():
            lines = ["date,school_id,enrolled,present"] + [
                f"{day.isoformat()},S{i:05d},100,{80 + (i + len(self.days)) % 20}" for i in range(SCHOOLS)
            ]
            part = self.inbox / f"attendance_{day.isoformat()}.csv.part"
            part.write_text("\n".join(lines) + "\n", encoding="utf-8")
            old = time.time() - 30  # settled: the job may read it at once
            os.utime(part, (old, old))
            part.rename(part.with_suffix(""))
            self.days.append(day)
            day += timedelta(days=1)
            self.stop.wait(3)


def lock_connection_of(postgres_server: Any, database: str) -> str:
    return postgres_server.psql(
        database,
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name LIKE 'ioc-scheduler active %'",
    ).strip()


def test_one_active_scheduler_kill_9_and_a_lost_lock_connection(postgres_server: Any, tmp_path: Path) -> None:
    from ingest.load import ingest_file
    from ioc.leader import active_scheduler, scheduler_nodes
    from ioc.metrics import health
    from ioc.store import Store

    database = "sched_" + uuid.uuid4().hex[:10]
    url = postgres_server.create_database(database)
    shared = tmp_path / "shared-files"
    inbox = tmp_path / "shared-inbox"
    inbox.mkdir()
    config = tmp_path / "scheduler.toml"
    config.write_text(CONFIG.format(interval=INTERVAL, inbox=inbox), encoding="utf-8")
    env = {
        **os.environ,
        "IOC_CATALOG_URL": url,
        "IOC_DATA_PATH": str(shared),
        "IOC_SCHEDULER_STANDBY_SECONDS": "10",  # the default, stated: the figure printed is the real one
    }
    env.pop("IOC_DATA_DIR", None)

    # the store on the PostgreSQL catalog, with its schools, created before any scheduler starts
    seed = Store(tmp_path / "seed", catalog_url=url, data_path=str(shared))
    write_schools(tmp_path / "schools.csv")
    assert ingest_file(seed, tmp_path / "schools.csv").status == "loaded"

    nodes: list[Node] = []
    dropper = Dropper(inbox)
    try:
        # two nodes start: one runs the jobs, the other waits
        first = Node("n1", tmp_path / "n1", config, env)
        nodes.append(first)
        first.wait_for("ioc scheduler: active (")
        second = Node("n2", tmp_path / "n2", config, env)
        nodes.append(second)
        second.wait_for("ioc scheduler: standby (")
        listed = {n.node: n.role for n in scheduler_nodes(catalog_url=url)}
        assert listed == {first.node: "active", second.node: "standby"}
        status = subprocess.run(
            [sys.executable, "-c", IOC, "--data-dir", str(tmp_path / "n2"), "scheduler", "--status"],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        assert re.search(rf"^active\s+{re.escape(first.node)}\s+since ", status.stdout, re.M), status.stdout
        assert re.search(rf"^standby\s+{re.escape(second.node)}\s+since ", status.stdout, re.M), status.stdout
        # `ioc health` on another node (a web node) names the active scheduler
        assert health.scheduler_status(seed)["active"]["node"] == first.node

        dropper.thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len([r for r in runs_of(first) if r.finished]) < 5:
            time.sleep(0.2)
        assert len([r for r in runs_of(first) if r.finished]) >= 5, "\n".join(first.lines)
        assert runs_of(second) == []  # the standby ran nothing

        # kill -9 the active one: the standby takes over
        killed_at = time.time()
        t0 = time.monotonic()
        first.popen.kill()
        first.popen.wait(10)
        while time.monotonic() - t0 < 60:
            active = active_scheduler(catalog_url=url)
            if active is not None and active.node == second.node:
                break
            time.sleep(0.2)
        took_lock = time.monotonic() - t0
        assert active is not None and active.node == second.node, f"no takeover within 60 s: {active}"
        while time.monotonic() - t0 < 60 and not runs_of(second):
            time.sleep(0.2)
        first_run = time.monotonic() - t0
        assert runs_of(second), "the new active ran nothing within 60 s:\n" + "\n".join(second.lines)
        print(
            f"\nkill -9 of the active scheduler: the standby held the lock after {took_lock:.1f} s and "
            f"ran its first job after {first_run:.1f} s (standby retry 10 s, takeover fence 8 s)"
        )

        # a node comes back (a restarted machine) and waits
        third = Node("n3", tmp_path / "n3", config, env)
        nodes.append(third)
        third.wait_for("ioc scheduler: standby (")
        ran = len(runs_of(second))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(runs_of(second)) < ran + 4:
            time.sleep(0.2)

        # the active's lock connection is terminated: it steps down and someone takes over
        backend = lock_connection_of(postgres_server, database)
        assert backend.isdigit(), backend
        terminated_at = time.time()
        t1 = time.monotonic()
        assert postgres_server.psql(database, f"SELECT pg_terminate_backend({backend})").strip() == "t"
        second.wait_for("stepped down, standby again", timeout=30)
        assert second.popen.poll() is None  # a standby again, not gone
        while time.monotonic() - t1 < 60:
            active = active_scheduler(catalog_url=url)
            if active is not None:
                break
            time.sleep(0.2)
        assert active is not None, "nobody active within 60 s of the terminated connection"
        successor = next(n for n in nodes if n.node == active.node)
        ran = len(runs_of(successor))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(runs_of(successor)) < ran + 4:
            time.sleep(0.2)
        print(
            f"lock connection terminated: {successor.name} active after {time.monotonic() - t1:.1f} s or less"
        )

        # the last deliveries are loaded, then everything stops
        dropper.stop.set()
        dropper.thread.join(10)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(inbox.glob("*.csv")):
            time.sleep(0.2)
        assert not any(inbox.glob("*.csv")), sorted(p.name for p in inbox.iterdir())
    finally:
        dropper.stop.set()
        for node in nodes:
            node.stop()

    runs = sorted((r for n in nodes for r in runs_of(n)), key=lambda r: r.started)
    by_fire: dict[datetime, list[Run]] = {}
    for run in runs:
        by_fire.setdefault(run.fire, []).append(run)
    # no (job, fire time) ran twice: finished at most once; started twice only after an interruption
    for made in by_fire.values():
        assert len([r for r in made if r.finished]) <= 1, made
        assert len(made) <= 2, made
        if len(made) == 2:
            assert made[0].finished is None and made[0].node == "n1" and made[1].attempt == 2, made

    # never two active at once: a node's runs end before another node's runs begin
    killed = datetime.fromtimestamp(killed_at)
    for before, after in zip(runs, runs[1:], strict=False):
        if before.node != after.node:
            assert (before.finished or killed) <= after.started, (before, after)

    # no fire time lost beyond the misfire policy: a fire time nobody ran lies in one of the two
    # handovers (coalesced into the new active's catch-up run), or came while the previous run was
    # still going (max_instances = 1: skipped, and coalesced into the next run)
    handovers = [datetime.fromtimestamp(killed_at), datetime.fromtimestamp(terminated_at)]
    windows = []
    for moment in handovers:
        resumed = min(r.started for r in runs if r.started > moment)
        windows.append((moment - timedelta(seconds=INTERVAL), resumed))
    lost = []
    grid = min(f for f in by_fire if f.timestamp() % INTERVAL == 0)  # the epoch grid of the interval
    while grid <= runs[-1].fire:
        if grid not in by_fire:
            lost.append(grid)
        grid += timedelta(seconds=INTERVAL)
    print(f"fire times: {len(by_fire)} run, {len(lost)} coalesced; handovers {windows}")
    # a run that started later than its misfire grace (a very busy machine) is recorded as missed
    late = {
        r["scheduled_at"]
        for r in health.job_runs(seed, status="missed")
        if "started too late" in r["message"]
    }
    assert lost, "a handover of several seconds must leave fire times to coalesce"
    for fire in lost:
        local = fire.astimezone().replace(tzinfo=None)  # the logs' clock: local time, naive
        in_handover = any(start <= local <= end for start, end in windows)
        busy = any(r.started <= local <= (r.finished or r.started) for r in runs)
        assert in_handover or busy or fire in late, (fire, windows)
    missed = [
        r for r in health.job_runs(seed, status="missed") if "while no scheduler was active" in r["message"]
    ]
    assert len(missed) >= 2, missed

    # every delivered file loaded exactly once, each day whole
    loaded = seed.execute(
        "SELECT file_name, count(*) AS n FROM ingest_runs WHERE source = 'inbox' AND status = 'loaded' GROUP BY ALL"
    ).dicts()
    assert len(loaded) == len(dropper.days) and all(row["n"] == 1 for row in loaded), loaded
    per_day = seed.execute("SELECT date, count(*) AS n FROM attendance GROUP BY date ORDER BY date").dicts()
    assert [row["date"] for row in per_day] == dropper.days
    assert all(row["n"] == SCHOOLS for row in per_day), per_day

    # the data health of a node that ran nothing itself shows the runs the others made
    inbox_job = health.scheduler_status(seed)["jobs"]["inbox"]
    assert inbox_job["node"] in {second.node, third.node} and inbox_job["last_status"] in ("idle", "success")
    assert (
        next(s for s in health.sources(seed) if s["source"] == "inbox")["last_checked"]
        == inbox_job["last_run"]
    )

    # the ledger agrees: each fire time claimed at most twice
    ledger = postgres_server.psql(database, "SELECT max(attempts) FROM ioc_scheduler_runs").strip()
    assert ledger in ("1", "2"), ledger
    seed.close()


def test_the_ledger_claims_a_fire_time_once_and_only_under_the_lock(postgres_server: Any) -> None:
    from datetime import UTC

    import pytest

    from ioc.leader import LeadershipLost, PgLeadership, active_scheduler, lock_key, scheduler_nodes

    database = "ledger_" + uuid.uuid4().hex[:10]
    url = postgres_server.create_database(database)
    one, two = PgLeadership(url, node="alpha:1"), PgLeadership(url, node="beta:2")
    try:
        assert one.try_acquire() and not two.try_acquire()
        assert active_scheduler(catalog_url=url).node == "alpha:1"
        # the documented key, as pg_locks shows it
        key = lock_key(database)
        shown = postgres_server.psql(
            database,
            "SELECT (classid::bigint << 32 | objid::bigint) FROM pg_locks WHERE locktype = 'advisory' AND granted",
        ).strip()
        assert int(shown) == key
        fire = datetime(2026, 11, 25, 10, 0, 30, tzinfo=UTC)
        assert one.claim("inbox", fire) == 1
        assert one.claim("inbox", fire) == 2  # the re-run of an interrupted run
        assert one.claim("inbox", fire) is None  # never a third time
        later = fire + timedelta(seconds=30)
        assert one.claim("inbox", later) == 1
        one.finish("inbox", later, "success")
        assert one.claim("inbox", later) is None  # done: never again
        assert one.last_runs()["inbox"][1:] == ("done", 1)
        # a standby cannot claim anything
        with pytest.raises(LeadershipLost):
            two.claim("inbox", later + timedelta(seconds=30))
        # the holder's connection is terminated: its claims fail, the other takes the lock
        backend = lock_connection_of(postgres_server, database)
        postgres_server.psql(database, f"SELECT pg_terminate_backend({backend})")
        with pytest.raises(LeadershipLost):
            one.claim("inbox", later + timedelta(seconds=30))
        assert not one.active
        assert two.try_acquire()
        assert two.claim("inbox", later + timedelta(seconds=30)) == 1
        assert not one.try_acquire()  # alpha is a standby now
        assert {n.node: n.role for n in scheduler_nodes(catalog_url=url)} == {
            "beta:2": "active",
            "alpha:1": "standby",
        }
    finally:
        one.close()
        two.close()


def test_takeover_plan_reruns_an_interrupted_run_once_and_coalesces_a_gap(
    postgres_server: Any, tmp_path: Path
) -> None:
    from ingest.jobs import parse_config
    from ingest.scheduler import JobRunner, _plan_takeover
    from ioc.leader import PgLeadership
    from ioc.metrics import health
    from ioc.store import Store

    url = postgres_server.create_database("plan_" + uuid.uuid4().hex[:10])
    store = Store(tmp_path / "data", catalog_url=url, data_path=str(tmp_path / "files"))
    config = parse_config(
        {
            "scheduler": {"misfire_grace": "60s"},
            "jobs": [
                {"id": "inbox", "kind": "drop_folder", "schedule": "30s"},
                {"id": "nightly", "kind": "maintenance", "schedule": {"cron": "30 2 * * *"}},
                {"id": "fresh", "kind": "drop_folder", "schedule": "5m", "folder": "other"},
                {
                    "id": "late",
                    "kind": "maintenance",
                    "schedule": {"cron": "0 3 * * *"},
                    "run_at_start": False,
                },
            ],
        },
        store.layout.root,
    )
    tz = ZoneInfo(config.timezone)
    now = datetime.now(tz)
    nightly = now.replace(hour=2, minute=30, second=0, microsecond=0)
    nightly -= timedelta(days=1) if nightly > now else timedelta(0)
    old, new = PgLeadership(url, node="old:1"), PgLeadership(url, node="new:2")
    try:
        assert old.try_acquire()
        # the old active: the inbox done an hour ago, then gone; the nightly run started and killed
        hour_ago = datetime.fromtimestamp((now.timestamp() - 3600) // 30 * 30, tz)
        assert old.claim("inbox", hour_ago) == 1
        old.finish("inbox", hour_ago, "idle")
        assert old.claim("nightly", nightly) == 1
        old.close()  # the lock goes with the connection, as when the process dies
        assert new.try_acquire()
        runner = JobRunner(store, config, echo=lambda line: None, leader=new)
        plan = _plan_takeover(runner, now)
        # the hour of 30-second runs becomes one run now, keyed by the latest due fire time
        assert plan["inbox"] <= now < plan["inbox"] + timedelta(seconds=30)
        assert plan["inbox"].timestamp() % 30 == 0
        missed = health.job_runs(store, status="missed", job_id="inbox")
        assert len(missed) == 1 and re.match(r"11[89] scheduled run\(s\) not made", missed[0]["message"])
        # the interrupted nightly run is re-run once, under its own fire time
        assert plan["nightly"] == nightly and new.claim("nightly", nightly) == 2
        assert new.claim("nightly", nightly) is None
        # never seen: run at start (keyed by its latest fire time) unless run_at_start is off
        assert plan["fresh"] <= now and plan["fresh"].timestamp() % 300 == 0
        assert "late" not in plan
    finally:
        old.close()
        new.close()
        store.close()


@dataclass
class SlowStore:
    """A store on its own catalog database and a job pulling from a source that hangs until released."""

    database: str
    config: Path
    env: dict[str, str]
    release: threading.Event


@pytest.fixture
def slow_store(postgres_server: Any, tmp_path: Path) -> Any:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from ioc.store import Store

    release = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            release.wait(120)  # a source that hangs: the run is still going when the lock goes
            try:
                self.send_error(503)
            except OSError:
                pass  # the scheduler is gone by then

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    database = "slow_" + uuid.uuid4().hex[:10]
    url = postgres_server.create_database(database)
    Store(tmp_path / "seed", catalog_url=url, data_path=str(tmp_path / "files")).close()
    config = tmp_path / "scheduler.toml"
    config.write_text(
        f"""[[jobs]]
id = "sector"
kind = "http_json"
schedule = "1h"
url = "http://127.0.0.1:{server.server_address[1]}/probes"
dataset = "connectivity"
timeout = "100s"
total_timeout = "100s"
retries = 0
""",
        encoding="utf-8",
    )
    env = {**os.environ, "IOC_CATALOG_URL": url, "IOC_DATA_PATH": str(tmp_path / "files")}
    env.pop("IOC_DATA_DIR", None)
    yield SlowStore(database, config, env, release)
    release.set()
    server.shutdown()
    server.server_close()


def test_losing_the_lock_during_a_long_run_stops_the_process(
    postgres_server: Any, slow_store: SlowStore, tmp_path: Path
) -> None:
    database, config, env, release = (
        slow_store.database,
        slow_store.config,
        slow_store.env,
        slow_store.release,
    )
    node = Node("n1", tmp_path / "n1", config, env)
    try:
        node.wait_for("ioc scheduler: active (")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not runs_of(node):
            time.sleep(0.2)
        (run,) = runs_of(node)
        assert run.finished is None  # the pull is hanging
        # a one-off run would overlap the active scheduler: refused, naming it
        once = subprocess.run(
            [
                sys.executable,
                "-c",
                IOC,
                "--data-dir",
                str(tmp_path / "n2"),
                "scheduler",
                "--once",
                "--config",
                str(config),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=120,
        )
        assert once.returncode == 1
        assert (
            f"another scheduler ({node.node} since " in once.stderr
            and "holds the PostgreSQL lock" in once.stderr
        )
        backend = lock_connection_of(postgres_server, database)
        postgres_server.psql(database, f"SELECT pg_terminate_backend({backend})")
        assert node.popen.wait(60) == 3
        node.wait_for("lost the lock while jobs still run: exiting (status 3)")
        # the ledger keeps the run 'running': the next active re-runs it once
        assert (
            postgres_server.psql(
                database, "SELECT status, attempts FROM ioc_scheduler_runs WHERE job_id = 'sector'"
            ).strip()
            == "running|1"
        )
    finally:
        release.set()
        node.stop()


def test_a_frozen_active_is_ended_by_the_standby(postgres_server: Any, tmp_path: Path) -> None:
    """SIGSTOP: the process neither runs nor dies, and its socket keeps the lock alive; the standby
    sees the lock session silent for 20 s, ends it and takes over; thawed, the old one runs nothing."""
    from ioc.leader import HUNG_SECONDS, active_scheduler
    from ioc.store import Store

    database = "frozen_" + uuid.uuid4().hex[:10]
    url = postgres_server.create_database(database)
    Store(tmp_path / "seed", catalog_url=url, data_path=str(tmp_path / "files")).close()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    config = tmp_path / "scheduler.toml"
    config.write_text(CONFIG.format(interval=INTERVAL, inbox=inbox), encoding="utf-8")
    env = {**os.environ, "IOC_CATALOG_URL": url, "IOC_DATA_PATH": str(tmp_path / "files")}
    env.pop("IOC_DATA_DIR", None)
    first = Node("n1", tmp_path / "n1", config, env)
    second: Node | None = None
    try:
        first.wait_for("ioc scheduler: active (")
        second = Node("n2", tmp_path / "n2", config, env)
        second.wait_for("ioc scheduler: standby (")
        done = len([r for r in runs_of(first) if r.finished])
        while len([r for r in runs_of(first) if r.finished]) < done + 2:  # freeze it between two runs
            time.sleep(0.02)
        frozen_at = datetime.now()
        t0 = time.monotonic()
        first.popen.send_signal(signal.SIGSTOP)
        while time.monotonic() - t0 < 60:
            active = active_scheduler(catalog_url=url)
            if active is not None and active.node == second.node:
                break
            time.sleep(0.2)
        took = time.monotonic() - t0
        assert active is not None and active.node == second.node, f"no takeover within 60 s: {active}"
        assert took >= HUNG_SECONDS - 3  # it waited for the holder to be silent long enough
        while time.monotonic() - t0 < 60 and not runs_of(second):
            time.sleep(0.2)
        assert runs_of(second)
        print(f"\nSIGSTOP of the active: the standby ended its session and held the lock after {took:.1f} s")
        first.popen.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and first.popen.poll() is None:
            if any("stepped down" in line for line in first.lines):
                break
            time.sleep(0.1)
        assert first.popen.poll() == 3 or any("stepped down" in line for line in first.lines), first.lines
        time.sleep(3)
    finally:
        if first.popen.poll() is None:
            first.popen.send_signal(signal.SIGCONT)
        first.stop()
        if second is not None:
            second.stop()
    # thawed, it finished nothing after the moment it was frozen; the standby's runs came after
    assert all(r.finished is None or r.finished <= frozen_at for r in runs_of(first)), runs_of(first)
    assert min(r.started for r in runs_of(second)) > frozen_at


def test_a_graceful_stop_finishes_its_run_before_a_standby_takes_over(
    postgres_server: Any, slow_store: SlowStore, tmp_path: Path
) -> None:
    """SIGTERM while a run hangs for longer than a frozen holder's 20 s: the stopping scheduler
    keeps its lock session answering, so the standby waits for the run to end, then takes over."""
    from ioc.leader import HUNG_SECONDS, active_scheduler

    url = slow_store.env["IOC_CATALOG_URL"]
    first = Node("n1", tmp_path / "n1", slow_store.config, slow_store.env)
    second: Node | None = None
    try:
        first.wait_for("ioc scheduler: active (")
        second = Node("n2", tmp_path / "n2", slow_store.config, slow_store.env)
        second.wait_for("ioc scheduler: standby (")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not runs_of(first):
            time.sleep(0.2)
        assert runs_of(first) and runs_of(first)[0].finished is None  # the pull hangs
        first.popen.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        while time.monotonic() - t0 < HUNG_SECONDS + 12:  # beyond what a frozen holder is given
            assert first.popen.poll() is None
            assert active_scheduler(catalog_url=url).node == first.node
            time.sleep(0.5)
        slow_store.release.set()  # the source answers (503): the run ends as failed, the process stops
        assert first.popen.wait(60) == 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            active = active_scheduler(catalog_url=url)
            if active is not None and active.node == second.node:
                break
            time.sleep(0.2)
        assert active is not None and active.node == second.node
    finally:
        slow_store.release.set()
        first.stop()
        if second is not None:
            second.stop()
    (run,) = runs_of(first)
    assert run.status == "failed"
