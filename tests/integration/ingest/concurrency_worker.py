"""A writer or reader process for the concurrency test (run as a script, not collected by pytest).

writer DATA_DIR OUT READERS FILE...: waits until every reader is ready, loads the files one by one;
    before the next file it waits until every reader has seen the last one (so each reader queries
    while every file is being written).
reader DATA_DIR OUT DONE_FLAG NAME: counts probes until the writer is done, then once more.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def writer(data_dir: str, out: str, files: list[str], readers: int) -> None:
    from ingest.load import ingest_file
    from ioc.store import Store

    store = Store(data_dir)
    ready = Path(out).parent
    while len(list(ready.glob("ready-*"))) < readers:
        time.sleep(0.05)
    statuses = []
    for number, path in enumerate(files, start=1):
        statuses.append(ingest_file(store, path, source="writer").status)
        while len(list(ready.glob(f"seen-*-{number}"))) < readers:
            time.sleep(0.01)
    Path(out).write_text(json.dumps(statuses))


def reader(data_dir: str, out: str, done_flag: str, name: str) -> None:
    from ioc.store import Store

    store = Store(data_dir, read_only=True)
    seen: list[list[int]] = []
    errors: list[str] = []

    def look() -> None:
        try:
            # one query, one snapshot: the probes and the runs that wrote them
            rows, runs = store.execute("SELECT count(*), count(DISTINCT run_id) FROM connectivity").rows[0]
            seen.append([int(rows), int(runs)])
            for number in range(1, int(runs) + 1):
                marker = Path(out).parent / f"seen-{name}-{number}"
                if not marker.exists():
                    marker.write_text("seen")
        except Exception as error:  # every error is a test failure, reported by the test
            errors.append(f"{type(error).__name__}: {error}")

    look()
    Path(out).parent.joinpath(f"ready-{name}").write_text("ready")
    while not Path(done_flag).exists():
        look()
    look()
    Path(out).write_text(json.dumps({"seen": seen, "errors": errors}))


if __name__ == "__main__":
    role, data_dir, out, *rest = sys.argv[1:]
    if role == "writer":
        writer(data_dir, out, rest[1:], int(rest[0]))
    else:
        reader(data_dir, out, rest[0], rest[1])
