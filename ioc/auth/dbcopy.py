"""Moving a one-machine deployment's accounts file onto PostgreSQL (``ioc users copy-to-postgres``):
every table that holds state, copied in one transaction into an empty PostgreSQL accounts database.

It lives apart from ioc/auth/db.py because it creates the alert tables in the target first
(ioc.alerts.records), and the alert records are built on the accounts database, not under it.
"""

from __future__ import annotations

from ioc.alerts import records
from ioc.auth.db import PG_SCHEMA, AuthDb, SqliteAuthDb

# Every table of the SQLite file, in the order it is copied (rows that others point at first);
# tests/unit/auth/test_copy_tables.py fails when a table is neither here nor in NOT_COPIED.
COPIED = (
    "users",
    "tokens",
    "sessions",  # the live ones: nobody is signed out
    "identities",
    "known_addresses",  # a sign-in from a new address is still told as new, not every one
    "login_counters",  # a throttled name or address stays throttled
    "audit",  # in order, with the original times, after what the target has already
    "alerts",  # ioc.alerts.records: the episodes with their owners ...
    "alert_actions",  # ... what was done about them ...
    "alert_silences",
    "alert_findings",  # ... and what each rule found on each school day it read
    "alert_days",
    "notify_events",  # ioc.notify: the outbox, so nothing queued is lost nor sent twice
    "notify_messages",
    "notify_pending",
    "notify_told",
    "report_runs",  # ioc.reports: a report sent for a period is not sent again
)
NOT_COPIED = {
    "oidc_flows": "OpenID sign-ins in flight (minutes, bound to one browser): that person signs in again",
    "anonymous_windows": "the current minute's aggregation of unauthenticated requests for the audit log",
    "sqlite_sequence": "SQLite's id counters: PostgreSQL's identity counters are set past the copied ids",
}


def copy_to_postgres(source: AuthDb, target: AuthDb, now: float) -> dict[str, int]:
    """Copy every table of the SQLite file of a one-machine deployment that holds state (accounts,
    tokens, live sessions, the whole audit log in order, alerts with their action log and silences,
    the notification outbox, sent reports: :data:`COPIED`) and the app's secret key file into an
    empty PostgreSQL accounts database, in one transaction; rows per table (``secret_key``: 1 when
    the file was copied). Refuses a target that has accounts, tokens or
    alerts already (audit entries it has stay, the copied ones follow them with their original
    times)."""
    if source.kind != "sqlite" or target.kind != "postgresql":
        raise ValueError("copies the SQLite accounts file into a PostgreSQL accounts database")
    records.ensure(target)
    used = {t: int(target.query(f"SELECT count(*) FROM {t}")[0][0]) for t in ("users", "tokens", "alerts")}  # noqa: S608
    if any(used.values()):
        raise ValueError(
            f"the accounts database {target.describe()} is in use already "
            f"({', '.join(f'{n} {t}' for t, n in used.items() if n)}): copy into an empty one"
        )
    present = {str(r[0]) for r in source.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    counts: dict[str, int] = {}
    with target.connect() as con:
        for table in COPIED:
            if table not in present:  # e.g. no alert was ever evaluated on this machine
                counts[table] = 0
                continue
            names = [str(r["name"]) for r in source.query(f"PRAGMA table_info({table})")]
            if table == "audit":
                names.remove("id")  # numbered anew after the target's own entries
            columns = ", ".join(names)
            where = " WHERE revoked = 0 AND expires_at > ?" if table == "sessions" else ""
            order = " ORDER BY id" if "id" in names or table == "audit" else ""
            rows = source.query(f"SELECT {columns} FROM {table}{where}{order}", (now,) if where else ())  # noqa: S608
            overriding = " OVERRIDING SYSTEM VALUE" if "id" in names else ""
            insert = f"INSERT INTO {table} ({columns}){overriding} VALUES ({', '.join('?' for _ in names)})"  # noqa: S608 - names from the file
            for row in rows:
                con.execute(insert, tuple(row[i] for i in range(len(names))))
            if "id" in names:  # new rows are numbered after the copied ones
                con.execute(
                    f"SELECT setval(pg_get_serial_sequence('{PG_SCHEMA}.{table}', 'id'), "  # noqa: S608
                    f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )
            counts[table] = len(rows)
        # the app's secret key (DATA_DIR/auth/secret_key) becomes the database's: what it signed on
        # the one machine (sign-in forms in flight, Flask's cookie) stays valid on every node
        key_file = source.folder / "secret_key" if isinstance(source, SqliteAuthDb) else None
        if key_file is not None and key_file.exists():
            con.execute(
                "INSERT INTO meta (name, value) VALUES ('secret_key', ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (source.secret_key(),),
            )
            counts["secret_key"] = 1
    return counts
