"""How long `ioc demo` takes at full size (target: under 3 minutes on 2 cores).

    .venv/bin/python -m benchmarks.demo_bench [--schools 3500] [--probe-days 14] [--keep DIR]

Builds the demo into a fresh temporary data directory (or ``--keep DIR``) and prints the time of
each step (generating each dataset's files, then loading them through ingestion), the rows, the
size on disk and the peak memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

from ioc.demo import build_demo


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--schools", type=int, default=3500)
    parser.add_argument("--attendance-days", type=int, default=None)
    parser.add_argument("--probe-days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--today", type=date.fromisoformat, default=None)
    parser.add_argument(
        "--keep", type=Path, default=None, help="build here and keep it (default: a temp dir)"
    )
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="ioc-demo-bench-"))
    started = time.perf_counter()
    try:
        summary = build_demo(
            root,
            schools=args.schools,
            attendance_days=args.attendance_days,
            probe_days=args.probe_days,
            seed=args.seed,
            today=args.today,
            progress=lambda line: print("  " + line, flush=True),
        )
        total = time.perf_counter() - started
        size = folder_size(root)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(f"demo benchmark: {args.schools:,} schools, {args.probe_days} probe days, {os.cpu_count()} cores")
    print(f"{'step':<14}{'seconds':>10}")
    for step, seconds in summary.steps:
        print(f"{step:<14}{seconds:>10.1f}")
    print(f"{'total':<14}{total:>10.1f}   (target < 180)")
    print()
    print(f"{'dataset':<14}{'rows':>14}")
    for dataset, rows in summary.rows_written.items():
        print(f"{dataset:<14}{rows:>14,}")
    print(f"{'loaded':<14}{summary.rows_loaded:>14,}")
    print(f"{'rejected':<14}{summary.rows_rejected:>14,}")
    print()
    print(f"files: {len(summary.files)}, data dir: {size / 1e6:,.0f} MB, peak memory: {peak_mb:,.0f} MB")
    return 0 if summary.rows_rejected == 0 and total < 180 else 1


if __name__ == "__main__":
    raise SystemExit(main())
