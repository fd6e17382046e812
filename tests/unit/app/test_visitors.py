"""The requests of a worker in flight (ioc.visitors), which the cache warmer gives way to."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from typing import Any

import pytest

from ioc.app import GiveWay
from ioc.visitors import NodeShare, Visitors


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_idle_while_nobody_is_served_busy_while_a_request_is_and_for_the_grace_after():
    clock = FakeClock()
    visitors = Visitors(grace=1.0, clock=clock)
    assert visitors.idle_in() == 0.0  # nobody served yet
    visitors.enter()
    visitors.enter()
    assert visitors.in_flight == 2
    assert visitors.idle_in() == float("inf")
    clock.now += 5
    visitors.leave()
    assert visitors.idle_in() == float("inf")  # one still in flight
    clock.now += 5
    visitors.leave()
    assert visitors.in_flight == 0
    assert visitors.idle_in() == 1.0  # the browser is drawing what it got
    clock.now += 0.25
    assert visitors.idle_in() == 0.75
    clock.now += 0.75
    assert visitors.idle_in() == 0.0
    assert visitors.wait_idle(3600) == 0.0  # idle: no wait at all


def test_bad_use_is_an_error_naming_it():
    visitors = Visitors(grace=0)
    with pytest.raises(RuntimeError, match="leave without enter"):
        visitors.leave()
    assert visitors.in_flight == 0
    with pytest.raises(ValueError, match="grace -1 s must not be negative"):
        Visitors(grace=-1)


def _environ(path: str) -> dict[str, Any]:
    return {"PATH_INFO": path, "REQUEST_METHOD": "GET"}


class Body:
    def __init__(self, fail: bool = False) -> None:
        self.closed = 0
        self.fail = fail

    def __iter__(self):
        return iter([b"a", b"b"])

    def close(self) -> None:
        self.closed += 1
        if self.fail:
            raise OSError("client went away")


def test_a_request_counts_until_the_server_has_sent_its_response():
    visitors = Visitors(grace=0)
    bodies: list[Body] = []

    def app(environ, start_response):
        assert visitors.in_flight == 1  # counted while the app answers
        start_response("200 OK", [])
        bodies.append(Body(fail=environ["PATH_INFO"] == "/fails"))
        return bodies[-1]

    counted = visitors.middleware(app)
    response = counted(_environ("/district/760"), lambda *a: None)
    assert b"".join(response) == b"ab"
    assert visitors.in_flight == 1  # sent, but not yet closed by the server
    response.close()  # type: ignore[attr-defined]
    assert visitors.in_flight == 0
    assert bodies[0].closed == 1
    response.close()  # type: ignore[attr-defined]  # a second close counts nothing and closes nothing
    assert visitors.in_flight == 0
    assert bodies[0].closed == 1

    failing = counted(_environ("/fails"), lambda *a: None)
    with pytest.raises(OSError, match="client went away"):
        failing.close()  # type: ignore[attr-defined]
    assert visitors.in_flight == 0  # counted out even so


def test_an_app_that_raises_is_counted_out_and_checks_are_not_visitors():
    visitors = Visitors(grace=0)
    seen: list[int] = []

    def app(environ, start_response):
        seen.append(visitors.in_flight)
        if environ["PATH_INFO"] == "/boom":
            raise KeyError("boom")
        start_response("200 OK", [])
        return [b"ok"]

    counted = visitors.middleware(app)
    with pytest.raises(KeyError):
        counted(_environ("/boom"), lambda *a: None)
    assert visitors.in_flight == 0
    for path in ("/healthz", "/readyz", "/metrics"):
        assert list(counted(_environ(path), lambda *a: None)) == [b"ok"]
    assert seen == [1, 0, 0, 0]  # the load balancer's and Prometheus's requests are nobody's visit


def test_the_app_counts_its_requests(app):
    """create_app puts every request of the worker through the counter, until it is answered."""
    from ioc.visitors import VISITORS_KEY

    visitors: Visitors = app.server.extensions[VISITORS_KEY]
    arrived, release = threading.Event(), threading.Event()

    def hold() -> None:  # runs first, before the sign-in guard
        arrived.set()
        release.wait(60)

    hooks = app.server.before_request_funcs.setdefault(None, [])
    hooks.insert(0, hold)
    statuses: list[int] = []
    # the app is the session's: a test before this one that read a response of Werkzeug's test
    # client without closing it left its request counted (a real server always closes it)
    before = visitors.in_flight
    try:
        client = app.server.test_client()
        thread = threading.Thread(
            target=lambda: statuses.append(client.get("/kpi", buffered=True).status_code)
        )
        thread.start()
        assert arrived.wait(60)
        assert visitors.in_flight == before + 1
        release.set()
        thread.join(60)
    finally:
        hooks.remove(hold)
        release.set()
    assert statuses and statuses[0] < 500
    assert visitors.in_flight == before


def test_give_way_waits_for_the_visitors_within_its_budget():
    """A worker that is never idle is still warmed: a round waits at most its budget in all."""
    from prometheus_client import REGISTRY

    def yielded() -> float:
        return REGISTRY.get_sample_value("ioc_cache_warm_yield_seconds_total") or 0.0

    visitors = Visitors(grace=0)
    visitors.enter()  # a request that never ends
    give_way = GiveWay(visitors, budget=0.05)
    before = yielded()
    assert give_way() >= 0.05  # waited the whole budget
    assert yielded() - before == pytest.approx(give_way.waited)  # and says so in /metrics
    assert give_way() == 0.0  # spent: no more waiting this round
    assert give_way.waits == 1
    visitors.leave()
    assert GiveWay(visitors, budget=0)() == 0.0  # 0: never waits


def test_give_way_stops_waiting_when_the_warmer_stops():
    visitors = Visitors(grace=0)
    visitors.enter()  # a request that never ends
    stop = threading.Event()
    give_way = GiveWay(visitors, budget=3600, stop=stop)
    waiter = threading.Thread(target=give_way)
    waiter.start()
    assert visitors.until_waiting(60)
    stop.set()  # the process exits
    waiter.join(60)
    assert not waiter.is_alive()


def test_the_workers_of_a_node_give_way_to_each_others_requests():
    """Under gunicorn every worker's warmer waits for the requests of all the node's workers."""
    clock = FakeClock()
    node = NodeShare(slots=4)
    one, other = Visitors(grace=1.0, clock=clock, node=node), Visitors(grace=1.0, clock=clock, node=node)
    one.enter()
    assert other.idle_in() == float("inf")
    clock.now += 3
    one.leave()
    assert other.idle_in() == 1.0
    clock.now += 1
    assert other.idle_in() == 0.0


def _worker(node: NodeShare, entered: Any, leave: Any, die: bool) -> None:
    Visitors(grace=0, node=node).enter()
    entered.set()
    leave.wait(60)
    if not die:  # a worker killed in the middle of a request never leaves
        node.leave(0.0)


def test_a_request_in_another_worker_process_counts_until_it_ends_or_the_worker_dies():
    forked = multiprocessing.get_context("fork")
    node = NodeShare(slots=4)
    mine = Visitors(grace=0, node=node)
    for die in (False, True):
        entered, leave = forked.Event(), forked.Event()
        worker = forked.Process(target=_worker, args=(node, entered, leave, die))
        worker.start()
        assert entered.wait(60)
        assert mine.idle_in() == float("inf")  # the other worker is answering a request
        leave.set()
        worker.join(60)
        if die:
            assert mine.idle_in() == float("inf")  # its row still says so...
            node.forget(worker.pid)  # ...until the master has seen it die (child_exit)
        assert mine.idle_in() == 0.0


def _gunicorn_worker(node: NodeShare, row: int | None, entered: Any) -> None:
    node.adopt(row)  # post_fork
    Visitors(grace=0, node=node).enter()
    entered.set()
    time.sleep(120)  # killed in the middle of its request


def test_a_worker_killed_in_a_request_stops_nobody_and_its_row_serves_the_next_worker():
    """gunicorn's master gives each worker its row before forking it; a worker killed at any moment
    (SIGKILL at its timeout) holds no lock the node's other workers need: they go on counting
    their requests, and once the master has seen it die its row is the next worker's."""
    forked = multiprocessing.get_context("fork")
    node = NodeShare(slots=2)
    rows = [node.reserve(), node.reserve()]
    assert rows == [0, 1] and node.reserve() is None  # full: a third worker goes uncounted
    entered = forked.Event()
    worker = forked.Process(target=_gunicorn_worker, args=(node, rows[0], entered))
    worker.start()
    try:
        assert entered.wait(60)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(60)
    mine = Visitors(grace=0, node=node)
    node.adopt(rows[1])  # this process is the second worker
    mine.enter()  # not blocked by anything the killed worker held
    mine.leave()
    assert mine.idle_in() == float("inf")  # the killed worker's request still counts...
    node.forget(worker.pid, rows[0])  # ...until the master has seen it die (child_exit)
    assert mine.idle_in() == 0.0
    assert node.reserve() == rows[0]  # the next worker forked takes the freed row
