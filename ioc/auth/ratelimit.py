"""Sign-in throttling: a failed-attempt budget per window, claimed before the password is checked.

Every sign-in first *claims* one attempt from its buckets in one write transaction of the auth
database (an ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` per bucket: atomic on SQLite and
PostgreSQL alike, and shared by every worker and node). Only a claim that stays within every
bucket's limit goes on to the password check; a correct password gives the claim back. So of 20
simultaneous wrong passwords for one account, at most the limit are checked: there is no window
between reading a counter and counting the attempt.

The buckets (window: ``login_window_seconds``, from the first failure of the window):

- **account + address** (``login_max_attempts``): the one a guesser meets. It never locks the
  account anywhere else. (An IPv6 address counts as its /64: one subscriber's network.)
- **account, all addresses** (4 x the limit) and **address, all accounts** (4 x the limit):
  guessing one password from many addresses, or many accounts from one address. Neither applies
  to an account signing in from an address it signed in from successfully in the last
  ``KNOWN_DAYS`` days, so a stranger's failures cannot lock an officer out of their own office,
  nor one noisy address behind a shared proxy lock out everyone else's known addresses.

The client address is the one :mod:`ioc.auth.proxies` reads (``trusted_proxies``): behind a reverse
proxy, set it, or every user shares the proxy's address.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from ioc import settings
from ioc.auth.db import AuthDb, Connection

KNOWN_DAYS = 90  # an address an account signed in from stays known this long
WIDE_FACTOR = 4  # the account-wide and address-wide buckets allow this many times the limit

_CLAIM = """
INSERT INTO login_counters (key, failures, since) VALUES (?, 1, ?)
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN login_counters.since <= ? THEN 1 ELSE login_counters.failures + 1 END,
    since = CASE WHEN login_counters.since <= ? THEN excluded.since ELSE login_counters.since END
RETURNING failures, since
"""

_FORGET = "DELETE FROM login_counters WHERE since <= ?"
_FORGET_PG = (
    "DELETE FROM login_counters WHERE key IN"
    " (SELECT key FROM login_counters WHERE since <= ? FOR UPDATE SKIP LOCKED)"
)


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming one sign-in attempt."""

    allowed: bool
    retry_after: float = 0.0  # seconds until the fullest bucket's window ends (when refused)
    bucket: str = ""  # which bucket refused: 'account+address', 'account', 'address'
    keys: tuple[str, ...] = ()  # the buckets counted (given back on success)


def _name(username: str) -> str:
    return username.strip().lower()


def _where(ip: str) -> str:
    """The address as the throttle counts it: an IPv6 client is its /64 (one subscriber's network,
    whose privacy addresses change every day), an IPv4 client its address."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _buckets(username: str, ip: str, known: bool, limit: int) -> list[tuple[str, str, int]]:
    """(key, bucket name, limit) in key order (every transaction locks rows in the same order)."""
    name, ip = _name(username), _where(ip)
    buckets = [(f"pair:{name}|{ip}", "account+address", limit)]
    if not known:
        buckets += [
            (f"user:{name}", "account", limit * WIDE_FACTOR),
            (f"ip:{ip}", "address", limit * WIDE_FACTOR),
        ]
    return sorted(buckets)


def _known(con: Connection, username: str, ip: str, now: float) -> bool:
    row = con.execute(
        "SELECT 1 FROM known_addresses WHERE username = ? AND ip = ? AND last_at > ?",
        (_name(username), _where(ip), now - KNOWN_DAYS * 86400),
    ).fetchone()
    return row is not None


def claim(db: AuthDb, username: str, ip: str, now: float | None = None) -> Claim:
    """Count one attempt for ``username`` from ``ip`` and say whether it may be checked.

    Counted before the password is verified, in one transaction: a refused claim is counted too
    (it never extends a window, which starts at the window's first failure)."""
    now = time.time() if now is None else now
    window = float(settings.get("login_window_seconds"))
    limit = int(settings.get("login_max_attempts"))
    refused: tuple[float, str] | None = None
    with db.connect() as con:
        buckets = _buckets(username, ip, _known(con, username, ip, now), limit)
        for key, bucket, bucket_limit in buckets:
            row = con.execute(_CLAIM, (key, now, now - window, now - window)).fetchone()
            assert row is not None
            failures, since = int(row[0]), float(row[1])
            if failures > bucket_limit:
                wait = since + window - now
                if refused is None or wait > refused[0]:
                    refused = (wait, bucket)
    _forget_old_windows(db, now - window)
    keys = tuple(key for key, _, _ in buckets)
    if refused is not None:
        return Claim(False, max(refused[0], 1.0), refused[1], keys)
    return Claim(True, keys=keys)


def succeeded(db: AuthDb, username: str, ip: str, held: Claim, now: float | None = None) -> None:
    """A correct sign-in: its claim was no failure. The account+address bucket starts over, the
    wide buckets get their attempt back, and the address becomes known for the account."""
    now = time.time() if now is None else now
    name, ip = _name(username), _where(ip)
    with db.connect() as con:
        con.execute("DELETE FROM login_counters WHERE key = ?", (f"pair:{name}|{ip}",))
        for key in held.keys:
            con.execute(
                "UPDATE login_counters SET failures = CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END"
                " WHERE key = ?",
                (key,),
            )
        con.execute(
            "INSERT INTO known_addresses (username, ip, last_at) VALUES (?, ?, ?)"
            " ON CONFLICT (username, ip) DO UPDATE SET last_at = excluded.last_at",
            (name, ip, now),
        )
        con.execute("DELETE FROM known_addresses WHERE last_at <= ?", (now - KNOWN_DAYS * 86400,))


def _forget_old_windows(db: AuthDb, before: float) -> None:
    """Drop the counters whose window is over (a claim would start them over anyway), in a
    transaction of its own. On PostgreSQL rows another claim holds are skipped, not waited for:
    a delete that waited could deadlock with claims locking their rows in key order."""
    with db.connect() as con:
        con.execute(_FORGET_PG if db.kind == "postgresql" else _FORGET, (before,))
