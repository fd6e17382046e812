"""Ingestion speed: a 5-minute probe batch, a 10-million-row backfill, a 10-million-row CSV.

    .venv/bin/python -m benchmarks.ingest_bench [--rows 10000000] [--schools 3500] [--keep DIR]

Goals: a 5-minute batch of probes for 3,500 schools validated and committed in < 1 s; a backfill
of 10 M probe rows at > 500,000 rows/s. Input files are generated with DuckDB first (not timed);
every timed step goes through ``ingest_file`` / ``ingest_paths`` exactly as ``ioc ingest`` does,
rollup hooks included. Prints one table.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from ingest.load import ingest_file, ingest_paths
from ioc.store import Store

PROBES_PER_DAY = 288


def schools_csv(folder: Path, schools: int) -> Path:
    path = folder / "schools_2025-07-01.csv"
    duckdb.connect().execute(
        f"""COPY (SELECT 'S' || lpad(CAST(i AS VARCHAR), 5, '0') AS school_id, 'Trường ' || i AS school_name,
                         'primary' AS "level", 'public' AS ownership, 'Phường Sài Gòn' AS ward_name,
                         'Quận 1' AS district_name, 800 AS students, 40 AS teachers, 30 AS classrooms
                  FROM range({schools}) t(i)) TO '{path}' (HEADER)"""  # noqa: S608
    )
    return path


def probes_csv(path: Path, schools: int, first_slot: int, rows: int) -> Path:
    """``rows`` probes, every school every 5 minutes from slot ``first_slot`` (slot 0 = 2026-09-01 00:00)."""
    duckdb.connect().execute(
        f"""COPY (SELECT strftime(TIMESTAMP '2026-09-01' + INTERVAL 5 MINUTE * ({first_slot} + i // {schools}),
                                  '%Y-%m-%dT%H:%M:%S') AS measured_at,
                         'S' || lpad(CAST(i % {schools} AS VARCHAR), 5, '0') AS school_id,
                         round(random() * 120, 1) AS download_mbps, round(random() * 40, 1) AS upload_mbps,
                         round(5 + random() * 60, 1) AS latency_ms, 'true' AS online
                  FROM range({rows}) t(i)) TO '{path}' (HEADER)"""  # noqa: S608
    )
    return path


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every DuckDB thread of this process
    return usage.ru_utime + usage.ru_stime


CPU: list[float] = []  # CPU seconds of the last timed step


def timed(fn):  # type: ignore[no-untyped-def]
    start, cpu = time.perf_counter(), cpu_seconds()
    value = fn()
    CPU[:] = [cpu_seconds() - cpu]
    return value, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, default=10_000_000, help="rows of the backfill and of the big CSV"
    )
    parser.add_argument("--schools", type=int, default=3500)
    parser.add_argument("--files", type=int, default=10, help="files the backfill is split into")
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep it (default: a temp dir)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    inputs = work / "inputs"
    inputs.mkdir(exist_ok=True)
    table: list[tuple[str, ...]] = []
    try:
        print(f"generating inputs in {inputs} ...", flush=True)
        schools = schools_csv(inputs, args.schools)
        per_file = args.rows // args.files
        backfill = inputs / "backfill"
        backfill.mkdir(exist_ok=True)
        slots_per_file = per_file // args.schools
        for n in range(args.files):
            probes_csv(
                backfill / f"connectivity_{n:02d}.csv",
                args.schools,
                n * slots_per_file,
                slots_per_file * args.schools,
            )
        backfill_rows = slots_per_file * args.schools * args.files
        big = probes_csv(inputs / "connectivity_big.csv", args.schools, 100_000, args.rows)
        last_slot = args.files * slots_per_file
        batches = [
            probes_csv(inputs / f"connectivity_batch_{k}.csv", args.schools, last_slot + k, args.schools)
            for k in range(5)
        ]

        # 1. backfill into a fresh store, several files
        store = Store(work / "store")
        ingest_file(store, schools)
        results, seconds = timed(lambda: ingest_paths(store, [backfill]))
        assert all(r.status == "loaded" for r in results), [r.rejections[:1] for r in results]
        table.append(
            (
                f"backfill: {args.files} CSV files",
                f"{backfill_rows:,}",
                f"{seconds:.1f} s",
                f"{backfill_rows / seconds:,.0f} rows/s",
                f"{CPU[0]:.1f} s",
            )
        )

        # 2. 5-minute batches on top of the backfill (the scheduler's steady state)
        times, cpus = [], []
        for path in batches:
            result, seconds = timed(lambda p=path: ingest_file(store, p, source="bench"))
            assert result.status == "loaded", result.rejections[:1]
            times.append(seconds)
            cpus.append(CPU[0])
        table.append(
            (
                f"5-minute batch, {args.schools:,} schools",
                f"{args.schools:,}",
                f"{statistics.median(times) * 1000:.0f} ms (median of 5)",
                f"max {max(times) * 1000:.0f} ms",
                f"{statistics.median(cpus) * 1000:.0f} ms",
            )
        )

        # 3. one big CSV in one transaction
        result, seconds = timed(lambda: ingest_file(store, big))
        assert result.status == "loaded", result.rejections[:1]
        size = big.stat().st_size / 1e6
        table.append(
            (
                f"one CSV file ({size:,.0f} MB)",
                f"{args.rows:,}",
                f"{seconds:.1f} s",
                f"{args.rows / seconds:,.0f} rows/s",
                f"{CPU[0]:.1f} s",
            )
        )

        # 4. the same big file again: checksum only
        result, seconds = timed(lambda: ingest_file(store, big))
        assert result.status == "unchanged"
        table.append(
            ("same big file again (unchanged)", "0", f"{seconds:.1f} s", "checksum only", f"{CPU[0]:.1f} s")
        )
        store.close()
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    head = ("step", "rows", "wall time", "rate", "CPU time")
    widths = [max(len(row[i]) for row in [head, *table]) for i in range(len(head))]
    print()
    for row in [head, *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    load = os.getloadavg()
    print(
        f"\npeak memory {peak:,.0f} MB; {os.cpu_count()} CPUs, load average {load[0]:.1f} at the end "
        "(other processes slow the wall times; CPU time is this process's own work)"
    )
    print("goals: batch < 1 s, backfill > 500,000 rows/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
