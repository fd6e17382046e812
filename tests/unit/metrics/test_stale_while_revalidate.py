"""Stale-while-revalidate (setting cache_stale_seconds, ioc/metrics/cache.py): right after a new
data version, until the warmer has drawn it and for at most the setting's seconds, an answer not
yet computed for the new version is the previous version's; off (0) by default."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import pytest

from ioc.access import EVERYTHING
from ioc.metrics import cache
from ioc.metrics.engine import compute
from ioc.metrics.query import KpiQuery, Scope

from .test_dataset_versions import Counting, _probe

NOV20 = date(2026, 11, 20)
UPTIME = KpiQuery("uptime", "school", date(2026, 11, 14), NOV20)
DISTRICT_UPTIME = KpiQuery("uptime", "school", date(2026, 11, 14), NOV20, Scope(district="760"))


@pytest.fixture
def stale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOC_CACHE_STALE_SECONDS", "60")


def test_off_by_default_a_new_version_is_always_computed(fresh: Any, tmp_path: Any, monkeypatch: Any) -> None:
    counter = Counting(monkeypatch)
    before = cache.cached_compute(fresh, UPTIME)
    counter.take()
    _probe(fresh, tmp_path)
    after = cache.cached_compute(fresh, UPTIME)
    assert counter.take() == {"uptime": 1}
    assert after.rows != before.rows and after.rows == compute(fresh, UPTIME).rows


def test_the_previous_answer_until_the_warmer_has_drawn_the_new_version(
    fresh: Any, tmp_path: Any, monkeypatch: Any, stale: None
) -> None:
    counter = Counting(monkeypatch)
    before = cache.cached_compute(fresh, UPTIME)
    tile = cache.cached_summarize(fresh, "uptime", date_to=NOV20)
    counter.take()
    _probe(fresh, tmp_path)
    version = fresh.data_version()

    # an officer asking now gets the previous answers at once, nothing is computed
    assert cache.cached_compute(fresh, UPTIME) is before
    assert cache.cached_summarize(fresh, "uptime", date_to=NOV20) is tile
    assert counter.take() == {}

    # the warmer never takes the previous answer: it computes the new one
    with cache.warming():
        warmed = cache.cached_compute(fresh, UPTIME)
    assert counter.take() == {"uptime": 1}
    assert warmed.rows == compute(fresh, UPTIME).rows != before.rows
    # the new answer is there now: it is what everybody gets
    assert cache.cached_compute(fresh, UPTIME) is warmed

    # once the warmer has drawn the version, a question it did not draw is computed, not stale
    cache.mark_warmed(fresh, version)
    district = cache.cached_compute(fresh, DISTRICT_UPTIME)
    assert district.rows == compute(fresh, DISTRICT_UPTIME).rows


def test_never_longer_than_the_setting(fresh: Any, tmp_path: Any, monkeypatch: Any, stale: None) -> None:
    before = cache.cached_compute(fresh, UPTIME)
    _probe(fresh, tmp_path)
    assert cache.cached_compute(fresh, UPTIME) is before  # the version is new: seen just now
    # 61 s later, the warmer still not done: the officer waits for the new answer
    key = (cache.store_identity(fresh), fresh.data_version())
    monkeypatch.setitem(cache._FIRST_SEEN, key, time.monotonic() - 61)  # noqa: SLF001
    after = cache.cached_compute(fresh, UPTIME)
    assert after is not before and after.rows == compute(fresh, UPTIME).rows


def test_a_question_never_answered_before_is_computed(
    fresh: Any, tmp_path: Any, monkeypatch: Any, stale: None
) -> None:
    cache.cached_compute(fresh, UPTIME)
    _probe(fresh, tmp_path)
    other = KpiQuery("uptime", "ward", date(2026, 11, 14), NOV20)
    assert cache.cached_compute(fresh, other).rows == compute(fresh, other).rows
    # a question about a given snapshot has one answer forever: never another version's
    old = fresh.data_version() - 1
    pinned = KpiQuery("uptime", "school", date(2026, 11, 14), NOV20, snapshot=old)
    assert cache.cached_compute(fresh, pinned).rows == compute(fresh, pinned).rows


def test_views_too(fresh: Any, tmp_path: Any, stale: None) -> None:
    made: list[int] = []

    def timeline() -> list[int]:
        made.append(fresh.data_version())
        return list(made)

    first = cache.cached_view(
        fresh, "test-timeline", ("S2",), timeline, access=EVERYTHING, tables=["connectivity"]
    )
    _probe(fresh, tmp_path)
    assert (
        cache.cached_view(
            fresh, "test-timeline", ("S2",), timeline, access=EVERYTHING, tables=["connectivity"]
        )
        is first
    )
    cache.mark_warmed(fresh, fresh.data_version())
    assert (
        cache.cached_view(
            fresh, "test-timeline", ("S2",), timeline, access=EVERYTHING, tables=["connectivity"]
        )
        == made
    )
    assert len(made) == 2


def test_another_node_gets_the_previous_answer_from_redis(
    fresh: Any, tmp_path: Any, monkeypatch: Any, redis_server: Any, stale: None
) -> None:
    monkeypatch.setenv("IOC_CACHE_REDIS_URL", redis_server.url)
    shared = cache.shared_level()
    assert shared is not None
    try:
        before = cache.cached_compute(fresh, UPTIME)
        _probe(fresh, tmp_path)
        cache.clear()  # another node: nothing in its own level
        counter = Counting(monkeypatch)
        assert cache.cached_compute(fresh, UPTIME).rows == before.rows
        assert counter.take() == {}
        # the warmer (on any node) says it has drawn the version: every node computes from now on
        cache.mark_warmed(fresh, fresh.data_version())
        cache._WARMED.clear()  # noqa: SLF001 - known from Redis, not from this process
        cache.clear()
        assert cache.cached_compute(fresh, UPTIME).rows == compute(fresh, UPTIME).rows != before.rows
    finally:
        monkeypatch.delenv("IOC_CACHE_REDIS_URL")
        cache.shared_level()


def test_a_new_answer_another_node_has_in_redis_is_served_before_the_previous_one(
    fresh: Any, tmp_path: Any, monkeypatch: Any, redis_server: Any, stale: None
) -> None:
    """Issue 13: with the stale window open, nodes served different data versions for 26-30 s
    after each load, because the previous answer was taken before Redis was asked."""
    monkeypatch.setenv("IOC_CACHE_REDIS_URL", redis_server.url)
    assert cache.shared_level() is not None
    try:
        before = cache.cached_compute(fresh, UPTIME)
        local = cache._levels()[0]  # noqa: SLF001 - this process's own level
        node2 = dict(local._items)  # noqa: SLF001 - node 2 answered the previous version
        _probe(fresh, tmp_path)
        with cache.warming():  # node 1's warmer computes the new version (and shares it)
            new = cache.cached_compute(fresh, UPTIME)
        assert new.rows != before.rows
        local.clear()  # node 2: the previous answer in its own level, not the new one
        local._items.update(node2)  # noqa: SLF001
        counter = Counting(monkeypatch)
        for _ in range(3):  # the new version every time, never the previous one back
            assert cache.cached_compute(fresh, UPTIME).rows == new.rows
        assert counter.take() == {}  # fetched from Redis, not computed
    finally:
        monkeypatch.delenv("IOC_CACHE_REDIS_URL")
        cache.shared_level()


def test_an_answer_cut_from_a_previous_answer_is_not_kept_for_the_new_version(
    fresh: Any, tmp_path: Any, stale: None
) -> None:
    # the city's panel and answer by school exist for the previous version; a school's series and
    # a district's answer by school, never asked, are cut from them right after a probe load
    series = KpiQuery("uptime", "date", date(2026, 11, 14), NOV20, Scope(school="S2"))
    cache.cached_compute(fresh, KpiQuery("uptime", "date", date(2026, 11, 14), NOV20, Scope(school="S1")))
    cache.cached_compute(fresh, UPTIME)
    before = {q: compute(fresh, q) for q in (series, DISTRICT_UPTIME)}
    _probe(fresh, tmp_path)
    for q, old in before.items():
        assert cache.cached_compute(fresh, q).rows == old.rows  # the previous version's, at once
    # once the warmer has drawn the version, the same questions get the new answers: the cuts
    # made of the previous ones were served, not kept under the new version's key
    cache.mark_warmed(fresh, fresh.data_version())
    for q, old in before.items():
        new = compute(fresh, q)
        assert new.rows != old.rows
        assert cache.cached_compute(fresh, q).rows == new.rows
