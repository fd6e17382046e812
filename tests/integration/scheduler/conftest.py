"""Fixtures of the scheduler's integration tests: small stores, data files, a real HTTP server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parents[3]
UNITS = json.loads((ROOT / "ioc" / "reference" / "hcmc_units_2025.json").read_text(encoding="utf-8"))["units"]
HEADER = "school_id,school_name,level,ownership,ward_code,ward_name,district_code,district_name,students,teachers,classrooms"


def school_ids(n: int) -> list[str]:
    return [f"S{i:05d}" for i in range(n)]


def write_schools(path: Path, n: int) -> Path:
    lines = [HEADER]
    for i, sid in enumerate(school_ids(n)):
        unit = UNITS[i % len(UNITS)]
        lines.append(
            f"{sid},Trường {i},primary,public,{unit['code']},{unit['name']},{unit['district_code']},"
            f"{unit['district_name']},{500 + i % 300},{30 + i % 20},{20 + i % 10}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_attendance(path: Path, day: date, n: int, *, present: int = 90, enrolled: int = 100) -> Path:
    lines = ["date,school_id,enrolled,present"]
    lines += [f"{day.isoformat()},{sid},{enrolled},{present}" for sid in school_ids(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def connectivity_records(start: datetime, n_schools: int, steps: int = 1) -> list[dict[str, Any]]:
    rows = []
    for step in range(steps):
        at = (start + timedelta(minutes=5 * step)).isoformat()
        for i, sid in enumerate(school_ids(n_schools)):
            rows.append(
                {
                    "measured_at": at,
                    "school_id": sid,
                    "download_mbps": 10.0 + i % 50,
                    "upload_mbps": 5.0,
                    "latency_ms": 20.0,
                    "online": True,
                }
            )
    return rows


def write_connectivity(path: Path, start: datetime, n_schools: int, steps: int = 1) -> Path:
    cols = ["measured_at", "school_id", "download_mbps", "upload_mbps", "latency_ms", "online"]
    lines = [",".join(cols)]
    for r in connectivity_records(start, n_schools, steps):
        lines.append(",".join(str(r[c]).lower() if isinstance(r[c], bool) else str(r[c]) for c in cols))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def age(path: Path, seconds: float = 60) -> Path:
    """Make a file look settled (modified ``seconds`` ago)."""
    t = time.time() - seconds
    os.utime(path, (t, t))
    return path


@pytest.fixture
def seeded(data_dir: Path):
    """A store with 40 schools loaded through the ingestion path."""
    from ingest.load import ingest_file
    from ioc.store import Store

    store = Store(data_dir)
    result = ingest_file(store, write_schools(data_dir.parent / "schools_2025-09-05.csv", 40), source="test")
    assert result.status == "loaded", result
    yield store
    store.close()


IOC = "import sys; from ioc.cli import main; sys.exit(main())"


def ioc_command(*args: str, data_dir: Path) -> list[str]:
    """The ``ioc`` command as a real process (``-m ioc.cli`` would load the CLI module twice)."""
    return [sys.executable, "-c", IOC, "--data-dir", str(data_dir), *args]


def run_ioc(
    *args: str, data_dir: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        ioc_command(*args, data_dir=data_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=ROOT,
    )


# -- a real HTTP server on 127.0.0.1 ---------------------------------------------------------------
class Api:
    """What the test HTTP server answers: ``routes[path] = handler(request) -> None`` writing the reply."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.base = ""

    def json(self, handler: BaseHTTPRequestHandler, body: Any, status: int = 200) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


@pytest.fixture
def api() -> Iterator[Api]:
    state = Api()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            state.requests.append((self.path, dict(self.headers.items())))
            route = state.routes.get(self.path.split("?")[0])
            if route is None:
                self.send_error(404)
                return
            try:
                route(self)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def helpers() -> Any:
    """This module's helpers (with --import-mode=importlib a test cannot import conftest by name)."""
    return sys.modules[__name__]


def big_connectivity(path: Path, n_schools: int, steps: int, seed: int = 1) -> int:
    """A large Parquet file of probes (random values, so it does not compress away)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    start = datetime(2026, 11, 1, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    ts = np.repeat(np.arange(steps, dtype="int64") * 300_000_000 + int(start.timestamp() * 1e6), n_schools)
    ids = np.tile(np.array(school_ids(n_schools)), steps)
    n = len(ids)
    table = pa.table(
        {
            "measured_at": pa.array(ts, pa.timestamp("us", tz="Asia/Ho_Chi_Minh")),
            "school_id": ids,
            "download_mbps": rng.random(n) * 100,
            "upload_mbps": rng.random(n) * 50,
            "latency_ms": rng.random(n) * 80,
            "online": np.ones(n, dtype=bool),
        }
    )
    pq.write_table(table, path)
    return n


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


class Process:
    """A real `ioc` process whose output lines are collected as they come."""

    def __init__(self, *args: str, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.popen = subprocess.Popen(
            ioc_command(*args, data_dir=data_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=ROOT,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.popen.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"{text!r} not seen within {timeout}s; output:\n" + "\n".join(self.lines))

    def stop(self, sig: int, timeout: float = 60) -> int:
        self.popen.send_signal(sig)
        code = self.popen.wait(timeout)
        self._reader.join(5)
        return code

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)


def wait_until(
    condition: Callable[[], bool], timeout: float = 60, what: str = "condition", poll: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll)
    raise AssertionError(f"{what} not reached within {timeout}s")


def freeze_when(pid: int, condition: Callable[[], bool], timeout: float = 120, step: float = 0.002) -> None:
    """Run process ``pid`` in short slices and leave it stopped (SIGSTOP) the moment ``condition`` holds.

    Polling a running process can miss a short window (the load may commit between two looks);
    a process that only runs ``step`` seconds between looks cannot: what the condition sees is
    where the process stands.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        os.kill(pid, signal.SIGSTOP)
        _wait_stopped(pid)
        if condition():
            return
        os.kill(pid, signal.SIGCONT)
        time.sleep(step)
    os.kill(pid, signal.SIGCONT)
    raise AssertionError(f"condition not reached within {timeout}s")


def _wait_stopped(pid: int) -> None:
    """Wait until the kernel reports ``pid`` stopped (SIGSTOP is delivered asynchronously)."""
    stat = Path(f"/proc/{pid}/stat")
    for _ in range(10_000):
        # the state is the field after the parenthesised command name
        if stat.read_text().rsplit(")", 1)[1].split()[0] in ("T", "t", "Z", "X"):
            return
        time.sleep(0.0005)
    raise AssertionError(f"process {pid} did not stop")


def ingest_schools(store: Any, n: int) -> bool:
    from ingest.load import ingest_file

    path = store.layout.root.parent / "schools_2025-09-05.csv"
    return ingest_file(store, write_schools(path, n), source="test").status == "loaded"
