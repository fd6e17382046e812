"""Sign-in throttling: buckets per account+address, per account and per address, claimed
atomically before the password is checked (both backends: ``db`` is parametrized)."""

from __future__ import annotations

import threading

import pytest

from ioc.auth import ratelimit
from ioc.auth.db import AuthDb

T0 = 1_000_000.0  # a fixed clock: nothing here depends on the day it runs


@pytest.fixture(autouse=True)
def _limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOC_LOGIN_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("IOC_LOGIN_WINDOW_SECONDS", "900")


def _fail(db: AuthDb, user: str, ip: str, times: int, now: float = T0) -> list[ratelimit.Claim]:
    return [ratelimit.claim(db, user, ip, now=now) for _ in range(times)]


def test_the_account_address_pair_is_limited_and_the_window_ends(db: AuthDb) -> None:
    claims = _fail(db, "Lan", "10.0.0.1", 4)
    assert [c.allowed for c in claims] == [True, True, True, False]
    refused = claims[-1]
    assert refused.bucket == "account+address" and refused.retry_after == pytest.approx(900)
    assert not ratelimit.claim(db, "lan", "10.0.0.1", now=T0 + 100).allowed  # names in any case
    assert ratelimit.claim(db, "lan", "10.0.0.2", now=T0 + 100).allowed  # another address
    assert ratelimit.claim(db, "other", "10.0.0.1", now=T0 + 100).allowed  # another account
    assert ratelimit.claim(db, "lan", "10.0.0.1", now=T0 + 901).allowed  # the window passed


def test_an_ipv6_network_counts_as_one_address(db: AuthDb) -> None:
    """A /64 is one subscriber: rotating through its addresses (privacy extensions, or on purpose)
    does not buy more guesses; another /64 is another address."""
    claims = [ratelimit.claim(db, "lan", f"2001:db8:1:2::{n:x}", now=T0) for n in range(1, 5)]
    assert [c.allowed for c in claims] == [True, True, True, False]
    assert ratelimit.claim(db, "lan", "2001:db8:1:3::1", now=T0).allowed
    _fail(db, "mapped", "::ffff:192.0.2.7", 3)
    assert not ratelimit.claim(db, "mapped", "192.0.2.7", now=T0).allowed  # the same IPv4 client


def test_refused_claims_do_not_extend_the_window(db: AuthDb) -> None:
    _fail(db, "lan", "10.0.0.1", 3)
    for minute in range(1, 15):
        assert not ratelimit.claim(db, "lan", "10.0.0.1", now=T0 + 60 * minute).allowed
    assert ratelimit.claim(db, "lan", "10.0.0.1", now=T0 + 900.5).allowed


def test_a_correct_password_gives_the_claim_back_and_makes_the_address_known(db: AuthDb) -> None:
    _fail(db, "lan", "10.0.0.1", 2)
    held = ratelimit.claim(db, "lan", "10.0.0.1", now=T0)
    assert held.allowed
    ratelimit.succeeded(db, "lan", "10.0.0.1", held, now=T0)
    assert [c.allowed for c in _fail(db, "lan", "10.0.0.1", 4, now=T0 + 1)] == [True, True, True, False]


def test_strangers_failures_do_not_lock_an_account_out_of_its_known_address(db: AuthDb) -> None:
    held = ratelimit.claim(db, "lan", "10.0.0.1", now=T0)
    ratelimit.succeeded(db, "lan", "10.0.0.1", held, now=T0)
    # guessing from many addresses: 3 each, 12 in all = the account-wide limit (4 x 3)
    for n in range(2, 7):
        _fail(db, "lan", f"198.51.100.{n}", 3, now=T0 + 10)
    refused = ratelimit.claim(db, "lan", "198.51.100.99", now=T0 + 20)
    assert not refused.allowed and refused.bucket == "account"
    assert ratelimit.claim(db, "lan", "10.0.0.1", now=T0 + 20).allowed  # the officer's own office


def test_one_address_trying_many_accounts_is_limited_but_not_known_accounts(db: AuthDb) -> None:
    held = ratelimit.claim(db, "lan", "203.0.113.7", now=T0)
    ratelimit.succeeded(db, "lan", "203.0.113.7", held, now=T0)
    for n in range(12):  # 12 = 4 x 3 wrong sign-ins, one per account name
        assert ratelimit.claim(db, f"user{n}", "203.0.113.7", now=T0 + 1).allowed
    refused = ratelimit.claim(db, "someone", "203.0.113.7", now=T0 + 2)
    assert not refused.allowed and refused.bucket == "address"
    assert ratelimit.claim(db, "lan", "203.0.113.7", now=T0 + 2).allowed  # known here: still checked


def test_a_known_address_is_forgotten_after_its_days(db: AuthDb) -> None:
    held = ratelimit.claim(db, "lan", "10.0.0.1", now=T0)
    ratelimit.succeeded(db, "lan", "10.0.0.1", held, now=T0)
    later = T0 + ratelimit.KNOWN_DAYS * 86400 + 1
    for n in range(2, 7):
        _fail(db, "lan", f"198.51.100.{n}", 3, now=later)
    assert not ratelimit.claim(db, "lan", "10.0.0.1", now=later + 1).allowed


def test_windows_that_are_over_are_forgotten(db: AuthDb) -> None:
    _fail(db, "lan", "10.0.0.1", 2)
    ratelimit.claim(db, "other", "10.0.0.9", now=T0 + 1000)
    keys = {r[0] for r in db.query("SELECT key FROM login_counters")}
    assert keys == {"pair:other|10.0.0.9", "user:other", "ip:10.0.0.9"}


def test_simultaneous_claims_never_pass_the_limit(db: AuthDb) -> None:
    """20 threads claim at once (each its own connection): exactly the limit are allowed."""
    start = threading.Barrier(20)
    results: list[bool] = []
    lock = threading.Lock()

    def attempt() -> None:
        start.wait()
        allowed = ratelimit.claim(db, "lan", "10.0.0.1", now=T0).allowed
        with lock:
            results.append(allowed)
        db.close()

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 20 and results.count(True) == 3
