"""`ioc backup` of a full store while the scheduler loads probes, then `ioc restore` to a new path.

    .venv/bin/python -m benchmarks.backup_bench --store DATA_DIR [--rounds 3] [--every 10]

DATA_DIR is an existing store (``ioc demo`` for the full demo: 3,500 schools, a school year of
attendance, 14 days of 5-minute probes); it is copied first (``cp -a`` of the stopped store) so
the original is left as it was. ``ioc scheduler`` runs on the copy with a drop-folder job every
2 s, and a 5-minute batch of probes for every school is dropped into its inbox every ``--every``
seconds. Each round times ``ioc backup DEST`` (a process of its own, as an operator runs it) and
counts the loads the scheduler committed meanwhile. Then the last backup is restored with
``ioc restore`` to another path, and every KPI, for the city and by district and ward, is asked
of the restored store and of the live store at the backed-up data version (time travel): the
answers must be identical. Prints one table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from benchmarks.scheduler_bench import write_batch
from ioc.metrics.engine import compute
from ioc.metrics.errors import QueryError
from ioc.metrics.query import KpiQuery
from ioc.metrics.registry import KPIS
from ioc.store import Store

ROOT = Path(__file__).resolve().parents[1]
IOC = [sys.executable, "-m", "ioc.cli"]
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def _answers(store: Store, snapshot: int | None) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for kpi in KPIS:
        for by in ("all", "district", "ward"):
            q = KpiQuery(kpi, by=by)
            try:
                result: Any = compute(store, replace(q, snapshot=snapshot)).to_json()
                result.pop("data_version")
            except QueryError as error:
                result = ("error", error.message)
            out[q] = result
    return out


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", required=True, help="an existing store (ioc demo), copied first")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between probe batches")
    parser.add_argument(
        "--work", help="folder for the copy, the backups and the restore (default: a temporary one)"
    )
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="ioc-backup-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    live = work / "live"
    subprocess.run(["cp", "-a", str(Path(args.store).resolve()), str(live)], check=True)
    store = Store(live, read_only=True)
    ids = [str(r[0]) for r in store.execute("SELECT DISTINCT school_id FROM schools ORDER BY 1").rows]
    newest = store.execute("SELECT max(measured_at) FROM connectivity").scalar()
    store.close()
    start = (newest.astimezone(TZ) if newest.tzinfo else newest.replace(tzinfo=TZ)) + timedelta(minutes=5)
    config = work / "scheduler.toml"
    config.write_text(
        f'[[jobs]]\nid = "inbox"\nkind = "drop_folder"\nschedule = "2s"\nfolder = "{live / "inbox"}"\n'
        "settle = 0\nstable_wait = 0\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    env.update(IOC_DATA_DIR=str(live), PYTHONPATH=str(ROOT))
    scheduler = subprocess.Popen(
        [*IOC, "scheduler", "--config", str(config)],
        env=env,
        cwd=ROOT,
        stdout=(work / "scheduler.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    stop = threading.Event()
    dropped: list[float] = []

    def drop() -> None:
        (live / "inbox").mkdir(exist_ok=True)
        slot = 0
        while not stop.is_set():
            partial = work / f"connectivity_bench_{slot:04d}.csv"
            write_batch(partial, ids, start, slot)
            partial.replace(live / "inbox" / partial.name)
            dropped.append(time.time())
            slot += 1
            stop.wait(args.every)

    dropper = threading.Thread(target=drop, daemon=True)
    dropper.start()
    rounds: list[
        tuple[float, int, int, int, int]
    ] = []  # seconds, bytes, data version, snapshots, loads during
    try:

        def loads() -> int:
            """Batches the scheduler has loaded (moved to done/) so far."""
            done = live / "inbox" / "done"
            return sum(1 for _ in done.rglob("*.csv")) if done.exists() else 0

        deadline = time.monotonic() + 300
        while not loads():
            if scheduler.poll() is not None or time.monotonic() > deadline:
                print((work / "scheduler.log").read_text()[-3000:])
                return 1
            time.sleep(0.5)
        for n in range(args.rounds):
            dest = work / f"backup-{n}"
            loaded = loads()
            began = time.time()
            result = subprocess.run(
                [*IOC, "backup", str(dest)], env=env, cwd=ROOT, capture_output=True, text=True, check=False
            )
            took = time.time() - began
            if result.returncode != 0:
                print(result.stderr + result.stdout)
                return 1
            print(result.stdout.rstrip(), flush=True)
            manifest = json.loads((dest / "ioc-backup.json").read_text())
            during = loads() - loaded  # batches committed while the backup ran
            rounds.append((took, _size(dest), manifest["data_version"], manifest["snapshots"], during))
            stop.wait(args.every / 2)
    finally:
        stop.set()
        scheduler.terminate()
        scheduler.wait(60)

    last = work / f"backup-{args.rounds - 1}"
    target = work / "restored" / "data"
    began = time.time()
    result = subprocess.run(
        [*IOC, "restore", str(last), "--data-dir", str(target)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    restore_seconds = time.time() - began
    print(result.stdout.rstrip() or result.stderr)
    if result.returncode != 0:
        return 1
    version = rounds[-1][2]
    live_store = Store(live, read_only=True)
    expected = _answers(live_store, version)
    live_store.close()
    restored = Store(target, read_only=True)
    got = _answers(restored, None)
    restored.close()
    differ = [q for q in expected if expected[q] != got[q]]
    # DuckDB adds floats in parallel in no fixed order: the same store may differ in the last bits
    beyond = [q for q in differ if not _close(expected[q], got[q])]

    print(
        f"\nstore {args.store}: {_size(Path(args.store) / 'lake') / 1e6:,.1f} MB lake, "
        f"{_size(Path(args.store) / 'archive') / 1e6:,.1f} MB archive; a probe batch of {len(ids):,} schools "
        f"every {args.every:.0f} s, {len(dropped)} dropped"
    )
    print(
        f"{'round':<7}{'ioc backup':>12}{'backup size':>14}{'data version':>14}{'snapshots':>11}{'loads during':>14}"
    )
    for n, (took, size, v, snaps, during) in enumerate(rounds, 1):
        print(f"{n:<7}{took:>10.1f} s{size / 1e6:>11,.1f} MB{v:>14}{snaps:>11}{during:>14}")
    print(f"ioc restore to a new path: {restore_seconds:.1f} s")
    print(
        f"KPI answers (every KPI, city/district/ward): {len(expected) - len(differ)} of {len(expected)} "
        f"bit for bit, {len(expected) - len(beyond)} within 1e-12 (float sums in another order)"
    )
    for q in beyond[:5]:
        print("  differs:", q)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if beyond else 0


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


if __name__ == "__main__":
    sys.exit(main())
