"""Scheduled ingestion speed: a 5-minute batch of probes for every school, end to end.

    .venv/bin/python -m benchmarks.scheduler_bench [--schools 3500] [--batches 12] [--keep DIR]
    .venv/bin/python -m benchmarks.scheduler_bench --store DATA_DIR   # on an existing (demo) store
    .venv/bin/python -m benchmarks.scheduler_bench --failover 5 [--catalog-url postgresql://...]

With ``--store`` the batches go into that store (after its newest probe), so the figures include
a realistic table size (``ioc demo``: 14 days of probes); the rows stay there.

Goal: a 5-minute batch of probes for 3,500 schools is picked up, validated, committed and moved
out of the inbox in < 1 s. Each batch is timed through the scheduler's own job
(``JobRunner.run_job``: readiness check, ``ingest_file``, move to done/, job record), with the
two-look pause set to 0 (it is a wait, not work). The same batch pulled from a local HTTP source
(``ingest_records``) is timed too, and an idle poll (nothing new). Prints one table.

``--failover N`` times the handover between nodes instead: two ``ioc scheduler`` processes on a
PostgreSQL-catalog store (a throwaway PostgreSQL server from tests/servers.py unless
``--catalog-url`` names an empty database), the active one killed with ``kill -9`` N times (a new
standby joins after each kill); per kill, the time until the standby holds the lock and until it
runs its first job (an inbox every 2 s), with the standby retry of ``IOC_SCHEDULER_STANDBY_SECONDS``
(default 10). Goal: < 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ingest.jobs import parse_config
from ingest.load import ingest_file
from ingest.scheduler import JobRunner
from ioc.store import Store

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
START = datetime(2026, 11, 2, 7, 0, tzinfo=TZ)


def school_ids(n: int) -> list[str]:
    return [f"S{i:05d}" for i in range(n)]


def write_schools(path: Path, n: int) -> Path:
    units = json.loads(
        (Path(__file__).resolve().parents[1] / "ioc/reference/hcmc_units_2025.json").read_text("utf-8")
    )
    units = units["units"]
    lines = [
        "school_id,school_name,level,ownership,ward_code,ward_name,district_code,district_name,students,teachers,classrooms"
    ]
    for i, sid in enumerate(school_ids(n)):
        u = units[i % len(units)]
        lines.append(
            f"{sid},Trường {i},primary,public,{u['code']},{u['name']},{u['district_code']},{u['district_name']},800,40,30"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def batch_records(ids: list[str], start: datetime, slot: int) -> list[dict[str, Any]]:
    at = (start + timedelta(minutes=5 * slot)).isoformat()
    return [
        {
            "measured_at": at,
            "school_id": sid,
            "download_mbps": round(5 + (i * 37 % 110), 1),
            "upload_mbps": round(2 + (i * 13 % 40), 1),
            "latency_ms": round(8 + i % 60, 1),
            "online": i % 29 != 0,
        }
        for i, sid in enumerate(ids)
    ]


def write_batch(path: Path, ids: list[str], start: datetime, slot: int) -> Path:
    rows = batch_records(ids, start, slot)
    cols = list(rows[0])
    text = [",".join(cols)] + [
        ",".join(
            "" if r[c] is None else (str(r[c]).lower() if isinstance(r[c], bool) else str(r[c])) for c in cols
        )
        for r in rows
    ]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    old = time.time() - 60
    os.utime(path, (old, old))
    return path


def serve(records: dict[str, Any]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = json.dumps({"records": records.get("next", []), "cursor": records.get("cursor")}).encode()
            records["next"] = []
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/probes"


def stats(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered):7.3f} {p95:7.3f} {ordered[-1]:7.3f}"


def failover(rounds: int, catalog_url: str | None) -> int:
    """Kill the active scheduler ``rounds`` times; print how long the standby took to take over."""
    import contextlib
    import signal
    import socket
    import subprocess
    import sys

    from ioc.leader import active_scheduler

    root = Path(tempfile.mkdtemp(prefix="scheduler_failover_"))
    with contextlib.ExitStack() as stack:
        if not catalog_url:
            from tests.servers import postgres

            server = stack.enter_context(postgres(root / "postgres"))
            catalog_url = server.url("ioc")
        inbox = root / "inbox"
        inbox.mkdir()
        config = root / "scheduler.toml"
        config.write_text(
            f'[[jobs]]\nid = "inbox"\nkind = "drop_folder"\nschedule = "2s"\nfolder = "{inbox}"\n',
            encoding="utf-8",
        )
        env = {**os.environ, "IOC_CATALOG_URL": catalog_url, "IOC_DATA_PATH": str(root / "files")}
        env.pop("IOC_DATA_DIR", None)
        Store(root / "seed", catalog_url=catalog_url, data_path=str(root / "files")).close()
        code = "import sys; from ioc.cli import main; sys.exit(main())"
        procs: list[subprocess.Popen[str]] = []

        def start(n: int) -> subprocess.Popen[str]:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    code,
                    "--data-dir",
                    str(root / f"node{n}"),
                    "scheduler",
                    "--config",
                    str(config),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            procs.append(proc)
            return proc

        def log_runs(n: int) -> int:
            log = root / f"node{n}" / "logs" / "scheduler.log"
            return log.read_text(encoding="utf-8").count(": started (attempt") if log.exists() else 0

        def active_node() -> str | None:
            node = active_scheduler(catalog_url=catalog_url)
            return node.node if node else None

        try:
            nodes = {0: start(0), 1: start(1)}
            host = socket.gethostname()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and active_node() is None:
                time.sleep(0.2)
            lock_times: list[float] = []
            run_times: list[float] = []
            for r in range(rounds):
                holder = active_node()
                victim = next(n for n, p in nodes.items() if f"{host}:{p.pid}" == holder)
                while log_runs(victim) == 0:  # running jobs, not still in its fence
                    time.sleep(0.2)
                heir = next(n for n in nodes if n != victim)
                t0 = time.monotonic()
                nodes[victim].send_signal(signal.SIGKILL)
                nodes[victim].wait(10)
                while active_node() != f"{host}:{nodes[heir].pid}":
                    if time.monotonic() - t0 > 120:
                        raise RuntimeError("no takeover within 120 s")
                    time.sleep(0.1)
                lock_times.append(time.monotonic() - t0)
                before = log_runs(heir)
                while log_runs(heir) == before:
                    time.sleep(0.1)
                run_times.append(time.monotonic() - t0)
                print(
                    f"kill {r + 1}: lock after {lock_times[-1]:.1f} s, first run after {run_times[-1]:.1f} s"
                )
                del nodes[victim]
                nodes[r + 2] = start(r + 2)
                time.sleep(2)  # the new standby connects before the next kill
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(60)
                    except subprocess.TimeoutExpired:
                        proc.kill()
            shutil.rmtree(root, ignore_errors=True)
    standby = os.environ.get("IOC_SCHEDULER_STANDBY_SECONDS") or "10"
    print(f"\nscheduler failover: {rounds} x kill -9 of the active, standby retry {standby} s, fence 8 s")
    print(f"{'takeover':<36} {'median':>7} {'p95':>7} {'max':>7}  (seconds)  goal")
    print(f"{'standby holds the lock':<36} {stats(lock_times)}")
    print(f"{'standby runs its first job':<36} {stats(run_times)}             < 60 s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--schools", type=int, default=3500)
    parser.add_argument("--batches", type=int, default=12, help="5-minute batches per path")
    parser.add_argument("--keep", help="build the store in this folder and keep it")
    parser.add_argument("--store", help="use this existing store (e.g. the demo's) instead of building one")
    parser.add_argument("--failover", type=int, metavar="N", help="time N takeovers after kill -9 instead")
    parser.add_argument("--catalog-url", help="with --failover: an empty PostgreSQL database to use")
    args = parser.parse_args()
    if args.failover:
        return failover(args.failover, args.catalog_url)

    if args.store:
        root, data_dir = Path(args.store), Path(args.store)
    else:
        root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="scheduler_bench_"))
        data_dir = root / "data"
    try:
        store = Store(data_dir)
        if not args.store:
            schools = write_schools(root / "schools_2025-09-05.csv", args.schools)
            result = ingest_file(store, schools, source="bench")
            assert result.status == "loaded", result
        ids = [r[0] for r in store.execute("SELECT DISTINCT school_id FROM schools ORDER BY 1").rows]
        before = int(store.execute("SELECT count(*) FROM connectivity").scalar())
        newest = store.execute("SELECT max(measured_at) FROM connectivity").scalar()
        start = newest.astimezone(TZ) + timedelta(minutes=5) if newest else START
        records: dict[str, Any] = {}
        server, url = serve(records)
        config = parse_config(
            {
                "jobs": [
                    {"id": "inbox", "kind": "drop_folder", "schedule": "1m", "settle": 0, "stable_wait": 0},
                    {
                        "id": "api",
                        "kind": "http_json",
                        "schedule": "5m",
                        "url": url,
                        "dataset": "connectivity",
                    },
                ]
            },
            data_dir,
            "benchmark",
        )
        runner = JobRunner(store, config, echo=lambda line: None)
        inbox = store.layout.inbox
        inbox.mkdir(parents=True, exist_ok=True)

        drop: list[float] = []
        for slot in range(args.batches):
            write_batch(inbox / f"connectivity_bench_{slot:04d}.csv", ids, start, slot)
            started = time.perf_counter()
            outcome = runner.run_job("inbox")
            drop.append(time.perf_counter() - started)
            assert outcome.status == "success" and outcome.rows_loaded == len(ids), outcome
        http: list[float] = []
        for slot in range(args.batches, 2 * args.batches):
            records["next"] = batch_records(ids, start, slot)
            records["cursor"] = str(slot)
            started = time.perf_counter()
            outcome = runner.run_job("api")
            http.append(time.perf_counter() - started)
            assert outcome.status == "success" and outcome.rows_loaded == len(ids), outcome
        idle: list[float] = []
        for _ in range(args.batches):
            started = time.perf_counter()
            assert runner.run_job("inbox").status == "idle"
            idle.append(time.perf_counter() - started)
        total = store.execute("SELECT count(*) FROM connectivity").scalar()
        assert total == before + 2 * args.batches * len(ids), total
        server.shutdown()
        store.close()

        print(
            f"scheduler benchmark: {len(ids):,} schools, {args.batches} batches per path, "
            f"store {data_dir} ({before:,} probes before)"
        )
        print(f"{'path':<44} {'median':>7} {'p95':>7} {'max':>7}  (seconds)  goal")
        print(f"{'drop folder: 5-min probe batch -> done/':<44} {stats(drop)}             < 1 s")
        print(f"{'HTTP JSON: 5-min probe batch pulled+loaded':<44} {stats(http)}             < 1 s")
        print(f"{'drop folder: idle poll (nothing new)':<44} {stats(idle)}")
        print(f"rows per second (drop folder, median): {len(ids) / statistics.median(drop):,.0f}")
    finally:
        if not args.keep and not args.store:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
