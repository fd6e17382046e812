"""The KPI cache shared by app nodes (ioc/metrics/cache.py): keys that are the same in every
process and differ whenever the answer may, results that survive pickling, the Redis level with
its compute lock, the one-warmer-per-data-version claim, and Redis being down."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from ioc.access import EVERYTHING, AccessScope
from ioc.metrics import cache
from ioc.metrics.query import KpiQuery, KpiResult, KpiRow, Scope
from tests.conftest import ROOT
from tests.servers import free_port

KEY_SCRIPT = """
from datetime import date
from ioc.access import AccessScope
from ioc.metrics import cache
from ioc.metrics.query import KpiQuery, Scope
q = KpiQuery("attendance_rate", "school", date(2026, 11, 1), date(2026, 11, 20), Scope(district="760"))
access = AccessScope.limited(["760", "778", "769", "770"], ["26734", "27487"], ["S1", "S2"])
print(cache.cache_key("compute", ("sqlite:/srv/lake", q, 42, 20.0, {"district": "760", "ward": None}), access))
"""


def test_a_key_is_the_same_in_every_process_whatever_its_hash_seed() -> None:
    keys = set()
    for seed in ("1", "2", "12345"):
        result = subprocess.run(
            [sys.executable, "-c", KEY_SCRIPT],
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        )
        keys.add(result.stdout.strip())
    assert len(keys) == 1 and next(iter(keys)).startswith("ioc-kpi:")


def test_the_key_changes_with_everything_that_changes_the_answer() -> None:
    q = KpiQuery("attendance_rate", "school", date(2026, 11, 1), date(2026, 11, 20))

    def key(
        query: KpiQuery = q, version: int = 42, store: str = "sqlite:/a", access: AccessScope = EVERYTHING
    ) -> str:
        return cache.cache_key("compute", (store, query, version, 20.0, None), access)

    base = key()
    assert key() == base
    variants = [
        key(version=43),
        key(store="sqlite:/b"),
        key(access=AccessScope.limited(["760"])),
        key(access=AccessScope.limited(["760"], ["27487"])),
        key(access=AccessScope.limited(["760"], ["27487"], ["S1"])),
        key(access=AccessScope.limited((), (), ["S1"])),
        key(access=AccessScope.limited()),
        key(KpiQuery("attendance_rate", "district", date(2026, 11, 1), date(2026, 11, 20))),
        key(KpiQuery("attendance_rate", "school", date(2026, 11, 2), date(2026, 11, 20))),
        key(
            KpiQuery("attendance_rate", "school", date(2026, 11, 1), date(2026, 11, 20), Scope(ward="26734"))
        ),
        key(KpiQuery("attendance_rate", "school", date(2026, 11, 1), date(2026, 11, 20), snapshot=7)),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_the_store_identity_is_what_every_node_sees(seed: Any) -> None:
    assert cache.store_identity(seed) == seed.identity
    assert cache.redact("redis://:s3cret@cache.local:6380/1") == "redis://:***@cache.local:6380/1"
    assert "s3cret" not in cache.redact("postgresql://ioc:s3cret@db/ioc")


def big_result(rows: int = 50_000) -> KpiResult:
    as_of = datetime(2026, 11, 20, 8, tzinfo=UTC)
    return KpiResult(
        kpi="attendance_rate",
        unit="ratio",
        date_from=date(2026, 11, 1),
        date_to=date(2026, 11, 20),
        by="school",
        rows=tuple(
            KpiRow(
                f"S{i:05d}",
                f"Trường THCS số {i}",
                0.9 + i % 10 / 100,
                900.0 + i % 10,
                1000.0,
                1,
                as_of,
                "green",
            )
            for i in range(rows)
        ),
        data_version=42,
    )


def test_results_and_summaries_pickle_and_a_big_by_school_result_stays_affordable(seed: Any) -> None:
    from ioc.metrics import engine, summary

    res = engine.compute(seed, KpiQuery("attendance_rate", "school", date(2026, 11, 18), date(2026, 11, 20)))
    assert pickle.loads(pickle.dumps(res, pickle.HIGHEST_PROTOCOL)) == res
    summ = summary.summarize(seed, "attendance_rate", date_to=date(2026, 11, 20))
    assert pickle.loads(pickle.dumps(summ, pickle.HIGHEST_PROTOCOL)) == summ

    big = big_result()
    dumps = loads = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        data = pickle.dumps(big, pickle.HIGHEST_PROTOCOL)
        dumps = min(dumps, time.perf_counter() - started)
        started = time.perf_counter()
        back = pickle.loads(data)
        loads = min(loads, time.perf_counter() - started)
    assert back == big
    print(
        f"\n50,000-row by-school result: {len(data) / 1e6:.1f} MB, dumps {dumps * 1000:.0f} ms, loads {loads * 1000:.0f} ms"
    )
    # what a Redis hit costs on top of the network: far below computing it, and paid once per
    # worker -- the in-process level keeps the unpickled object after that
    assert len(data) < 10e6 and loads < 2.0


@pytest.fixture
def shared(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("IOC_CACHE_REDIS_URL", redis_server.url)
    level = cache.shared_level()
    assert level is not None
    yield level
    monkeypatch.delenv("IOC_CACHE_REDIS_URL")
    cache.shared_level()  # back to the in-process cache only


def _key(tag: str) -> str:
    return cache.cache_key("test", (tag, time.time_ns()), EVERYTHING)


def test_an_answer_in_redis_is_not_computed_again_by_another_worker(shared: Any) -> None:
    made: list[int] = []
    key = _key("shared")
    assert cache._cached(key, lambda: made.append(1) or big_result(10)) == big_result(10)
    cache.clear()  # another worker: nothing in its own level
    assert cache._cached(key, lambda: made.append(1) or big_result(10)) == big_result(10)
    assert made == [1]


def test_a_worker_waits_for_the_answer_another_is_computing(shared: Any) -> None:
    key = _key("locked")
    assert shared.claim("computing:" + key, 30) is True  # another worker is at it

    def finish() -> None:
        time.sleep(0.5)
        shared.set(key, "their answer")
        shared.release("computing:" + key)

    import threading

    threading.Thread(target=finish).start()
    assert cache._cached(key, lambda: "my own answer") == "their answer"


def test_a_failed_computation_lets_go_of_its_lock(shared: Any) -> None:
    key = _key("failing")

    def fail() -> Any:
        raise RuntimeError("the store went away")

    with pytest.raises(RuntimeError):
        cache._cached(key, fail)
    assert not shared.held("computing:" + key)  # the next worker computes at once instead of waiting
    assert cache._cached(key, lambda: "second try") == "second try"


def test_threads_of_one_worker_fetch_or_compute_a_key_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    monkeypatch.delenv("IOC_CACHE_REDIS_URL", raising=False)
    cache.shared_level()
    key = _key("single-flight")
    made: list[int] = []
    started = threading.Event()

    def slow() -> str:
        started.set()
        time.sleep(0.5)
        made.append(1)
        return "the answer"

    answers: list[str] = []
    first = threading.Thread(target=lambda: answers.append(cache._cached(key, slow)))
    first.start()
    started.wait(5)
    others = [threading.Thread(target=lambda: answers.append(cache._cached(key, slow))) for _ in range(5)]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join()
    assert answers == ["the answer"] * 6 and made == [1]


def test_one_worker_of_all_nodes_warms_a_data_version(shared: Any, seed: Any) -> None:
    version = time.time_ns()
    assert cache.claim_warm(seed, version) is True
    assert cache.claim_warm(seed, version) is False  # every other worker, on any node
    assert cache.claim_warm(seed, version + 1) is True


def test_pages_opened_on_any_node_are_known_to_every_warmer(shared: Any, seed: Any) -> None:
    shared.client.delete(cache.KEY_PREFIX + f"opened:{cache._store_hash(seed)}:school")
    cache.note_opened(seed, "school", "S2")
    cache.note_opened(seed, "school", "S1")
    with cache.warming():
        cache.note_opened(seed, "school", "S3")  # the warmer drawing a page is no visit
    cache.note_opened(seed, "school", "S2")  # opened again: the most recent now
    cache.clear()  # another worker: nothing of its own
    assert cache.recently_opened(seed, "school") == ["S2", "S1"]
    assert cache.recently_opened(seed, "school", seconds=-1) == []
    assert cache.recently_opened(seed, "ward") == []


def test_without_redis_every_worker_warms_its_own_cache(seed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IOC_CACHE_REDIS_URL", raising=False)
    assert cache.shared_level() is None
    assert cache.claim_warm(seed, 1) is True and cache.claim_warm(seed, 1) is True


def test_redis_down_answers_from_the_store_and_says_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("IOC_CACHE_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
    level = cache.shared_level()
    assert level is not None and level.ping() is not None
    made: list[int] = []
    started = time.perf_counter()
    with caplog.at_level("WARNING", logger="ioc.metrics.cache"):
        for i in range(5):
            assert cache._cached(_key(f"down{i}"), lambda: made.append(1) or 7) == 7
    assert made == [1] * 5 and time.perf_counter() - started < 3
    assert sum("unreachable" in r.getMessage() for r in caplog.records) == 1  # logged once per outage
    monkeypatch.delenv("IOC_CACHE_REDIS_URL")
    cache.shared_level()


def test_a_bad_redis_url_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOC_CACHE_REDIS_URL", "localhost:6379")
    with pytest.raises(ValueError, match="IOC_CACHE_REDIS_URL"):
        cache.shared_level()
    monkeypatch.delenv("IOC_CACHE_REDIS_URL")
    cache.shared_level()


def test_the_gunicorn_settings_come_from_the_ioc_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "IOC_HOST": "0.0.0.0",
        "IOC_PORT": "9001",
        "IOC_WORKERS": "3",
        "IOC_WORKER_TIMEOUT": "77",
        "IOC_KEEPALIVE_SECONDS": "90",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    script = "import ioc.gunicorn_conf as c; print(c.bind, c.workers, c.timeout, c.keepalive, c.preload_app, c._METRICS_DIR)"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0.0.0.0:9001", "3", "77", "90", "False", str(tmp_path)]


def test_the_client_closes_an_idle_connection_before_gunicorn_does() -> None:
    """A server that closes a kept-alive connection first races the client's next request on it
    ("connection reset by peer"): gunicorn keeps an idle connection longer than a reverse proxy's
    upstream keep-alive (nginx: 60 s) and than the load test's officers keep theirs, who in turn
    keep it longer than they read a page."""
    from benchmarks import load_bench
    from ioc import settings

    nginx_upstream_keepalive = 60.0
    server = next(s.default for s in settings.SETTINGS if s.name == "keepalive_seconds")
    assert server > max(nginx_upstream_keepalive, load_bench.CLIENT_IDLE_SECONDS)
    assert load_bench.CLIENT_IDLE_SECONDS > max(float(x) for x in load_bench.THINK.split(","))
