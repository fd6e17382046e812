"""Run the benchmarks on purpose: `python -m benchmarks [NAME...]` (default: all but `load`, full size).

Each benchmark prints a table of figures against the project's goals. They are never run as tests.
The metrics benchmark builds large data sets (a year of 5-minute probes for 3,500 schools) under
/tmp/ioc-metrics-bench the first time; that takes a long while and about 5 GB of disk.
"""

from __future__ import annotations

import importlib
import sys

NAMES = ("ingest", "demo", "scheduler", "metrics", "app", "auth", "alerts")
# run only when named: the load test takes about 20 minutes and starts PostgreSQL, Redis, gunicorn;
# the notification test waits out a real 10-minute outage
ON_REQUEST = ("load", "notify", "first_visit")  # notify: a real 10-minute outage; first_visit: the full demo


def main(argv: list[str]) -> int:
    chosen = argv or list(NAMES)
    unknown = [n for n in chosen if n not in NAMES + ON_REQUEST]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {', '.join(NAMES + ON_REQUEST)}", file=sys.stderr)
        return 2
    status = 0
    for name in chosen:
        print(f"\n=== benchmarks.{name}_bench ===", flush=True)
        module = importlib.import_module(f"benchmarks.{name}_bench")
        saved = sys.argv
        sys.argv = [f"benchmarks.{name}_bench"]
        try:
            status = max(status, int(module.main() or 0))
        finally:
            sys.argv = saved
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
