"""Who closes an idle HTTP connection: when gunicorn closes a kept-alive connection while its
client reuses it, the client's request is lost ("connection reset by peer", "remote end closed
connection without response"). The load test of 2026-12-05 lost 3 requests that way (gunicorn's
keep-alive was 5 s, officers read 10-30 s between pages, docs/operations.md "Load test").

    .venv/bin/python -m benchmarks.keepalive_bench [--seconds 40]

In small, so it shows within a minute: gunicorn (gthread, 1 worker, 4 threads, as
ioc/gunicorn_conf.py) serves a tiny WSGI app; 4 clients keep its threads busy with 2-second pages
(pure Python, as a cold page holds the interpreter); 60 clients each send a request, stay idle
0.8-1.6 s and send the next on the same connection. Run once with a keep-alive shorter than the
clients' idle (1 s) and once longer (5 s): the first loses requests, the second none.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

APP = """
import time
def application(environ, start_response):
    if environ["PATH_INFO"] == "/busy":
        end = time.process_time() + 2.0
        while time.process_time() < end:
            pass
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
"""
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def run(keepalive: int, idle: tuple[float, float], seconds: float) -> tuple[int, list[str]]:
    import requests

    from benchmarks.load_bench import free_port, wait_http

    folder = Path(tempfile.mkdtemp(prefix="ioc-keepalive-"))
    (folder / "tiny_app.py").write_text(APP, encoding="utf-8")
    port = free_port()
    command = [GUNICORN, "-k", "gthread", "--threads", "4", "-w", "1", f"--keep-alive={keepalive}"]
    server = subprocess.Popen(
        [*command, "-b", f"127.0.0.1:{port}", "tiny_app:application"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    errors: list[str] = []
    total = [0]
    lock = threading.Lock()
    end = 0.0

    def client(seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        while time.time() < end:
            try:
                session.post(base + "/", data=b"{}", timeout=30).raise_for_status()
            except Exception as error:  # noqa: BLE001 - every failure is counted
                with lock:
                    errors.append(repr(error)[:160])
            with lock:
                total[0] += 1
            time.sleep(rng.uniform(*idle))

    def busy() -> None:
        session = requests.Session()
        while time.time() < end:
            with contextlib.suppress(requests.RequestException):
                session.get(base + "/busy", timeout=60)

    try:
        wait_http(base + "/", server, timeout=30)
        end = time.time() + seconds
        threads: list[Any] = [threading.Thread(target=client, args=(i,)) for i in range(60)]
        threads += [threading.Thread(target=busy) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.terminate()
        server.wait(30)
    return total[0], errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=40.0, help="seconds per keep-alive setting")
    args = parser.parse_args(argv)
    idle = (0.8, 1.6)
    results = {}
    for keepalive in (1, 5):
        total, errors = run(keepalive, idle, args.seconds)
        results[keepalive] = errors
        print(
            f"keep-alive {keepalive} s, clients idle {idle[0]}-{idle[1]} s: {total} requests, {len(errors)} lost"
        )
        for kind in sorted({e.split("(", 3)[-1][:90] for e in errors})[:3]:
            print(f"  {kind}")
    shown = bool(results[1]) and not results[5]
    print(
        "the server closing first loses requests; the client closing first loses none: "
        + ("shown" if shown else "NOT shown")
    )
    return 0 if shown else 1


if __name__ == "__main__":
    raise SystemExit(main())
