"""What access control costs: password hashing, session look-up, and the guard in front of a
cached API answer and of a page callback (sign-in off vs a session vs a bearer token).

Run: ``.venv/bin/python -m benchmarks.auth_bench`` (builds a 60-school demo under /tmp first).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ioc.demo.build import local_now


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median ms, p95 ms) of ``repeat`` calls after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> int:
    from ioc.app import create_app
    from ioc.auth import accounts, passwords, sessions, tokens
    from ioc.auth.db import open_db
    from ioc.auth.web import install
    from ioc.demo import build_demo
    from ioc.store import Store

    folder = Path(tempfile.mkdtemp(prefix="ioc-auth-bench-"))
    build_demo(folder, schools=60, attendance_days=30, probe_days=2, today=local_now().date())
    store = Store(folder)
    app = create_app(store=store)
    state = install(app, folder, store_factory=lambda: store, required=True)
    db = open_db(folder)
    accounts.add(db, "bench", "analyst", "a long passphrase 2026")
    accounts.add(db, "officer", "district_officer", "a long passphrase 2026", districts=["718"])
    value, session = sessions.create(db, username="bench")
    officer_value, officer_session = sessions.create(db, username="officer")
    secret, _ = tokens.create(db, "bench-token", "api", ["read"])
    stored = passwords.hash_password("a long passphrase 2026")

    rows: list[tuple[str, float, float]] = []
    rows.append(("scrypt hash (n=2^15)", *timed(lambda: passwords.hash_password("x" * 12), 10)))
    rows.append(
        ("scrypt verify", *timed(lambda: passwords.verify_password("a long passphrase 2026", stored), 10))
    )
    rows.append(("session look-up (SQLite WAL)", *timed(lambda: sessions.lookup(db, value), 500)))

    url = "/api/v1/kpis/attendance_rate?by=district"
    server = app.server
    state.required = False
    anonymous = server.test_client()
    rows.append(("API cached answer, sign-in off", *timed(lambda: anonymous.get(url), 300)))
    state.required = True
    user = server.test_client()
    user.set_cookie("ioc_session", value)
    rows.append(("API cached answer, session", *timed(lambda: user.get(url), 300)))
    officer = server.test_client()
    officer.set_cookie("ioc_session", officer_value)
    assert (
        officer.get(url + "&district=718").status_code == 200
    )  # measured requests are answered, not refused
    rows.append(
        ("API cached answer, district officer", *timed(lambda: officer.get(url + "&district=718"), 300))
    )
    bearer = server.test_client()
    rows.append(
        (
            "API cached answer, bearer token (+audit row)",
            *timed(lambda: bearer.get(url, headers={"Authorization": f"Bearer {secret}"}), 300),
        )
    )
    body = {
        "output": "..app-header.children...app-header.className..",
        "outputs": [
            {"id": "app-header", "property": "children"},
            {"id": "app-header", "property": "className"},
        ],
        "inputs": [
            {"id": "app-url", "property": "pathname", "value": "/district/718"},
            {"id": "app-url", "property": "search", "value": "?lang=en"},
        ],
        "changedPropIds": ["app-url.pathname"],
        "state": [],
    }
    headers = {"X-CSRFToken": officer_session.csrf}
    rows.append(
        (
            "header callback, district officer",
            *timed(lambda: officer.post("/_dash-update-component", json=body, headers=headers), 300),
        )
    )
    state.required = False
    rows.append(
        (
            "header callback, sign-in off",
            *timed(lambda: anonymous.post("/_dash-update-component", json=body), 300),
        )
    )
    print(f"{'what':<46} {'median ms':>10} {'p95 ms':>8}")
    for name, median, p95 in rows:
        print(f"{name:<46} {median:>10.2f} {p95:>8.2f}")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
