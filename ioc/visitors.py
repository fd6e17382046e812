"""The requests of this process in flight, so that background work (the cache warmer) yields to
the people being served.

:class:`Visitors` counts the requests a worker is answering and remembers when the last one
ended; :meth:`Visitors.wait_idle` blocks until none is in flight and a short grace has passed
since the last one (the browser is still drawing what it received and is about to ask for the
page's next part), or until a limit. ``create_app`` wraps the Flask app's WSGI callable in
:meth:`Visitors.middleware` and keeps the counter in ``server.extensions[VISITORS_KEY]``.

The workers of one node share its cores, so under gunicorn a worker's warmer gives way to the
requests of every worker of the node: ``ioc.gunicorn_conf`` makes a :class:`NodeShare` (a small
table in memory shared across the fork) in the master before it forks the workers, gives each
worker its row, each worker writes only its own (no lock across processes), and the master clears
the row of a worker that died.

A request counts from the moment the server hands it to the app until its response has been sent
(the server closes the response's iterable), so a response streamed or compressed on its way out
counts until its last byte. Health checks and metric scrapes are not visitors.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

VISITORS_KEY = "ioc.visitors"
GRACE_SECONDS = 1.0  # after the last request ends: the browser draws the page and asks for its next part
NOT_VISITORS = ("/healthz", "/readyz", "/metrics")  # the load balancer's and Prometheus's requests
NODE_POLL = 0.1  # seconds between two looks at the other workers' requests
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
log = logging.getLogger(__name__)


class NodeShare:
    """The requests in flight of every worker of a node, in shared memory: one row per worker
    process (its pid, its requests in flight, when its last one ended, by ``time.monotonic``,
    which is one clock for the whole machine). Made before the workers are forked.

    No lock is shared between processes: each worker writes only its own row (its threads take
    turns under the worker's own lock, Visitors), and readers read without one. A worker killed at
    any moment (gunicorn's timeout sends SIGKILL) therefore cannot leave the node's other workers
    waiting for a lock it held, which would stop every request of the node; the master clears its
    row (child_exit). A reader may see a row in the middle of an update (each number is one aligned
    8-byte word, written whole): at worst the warmer waits one look more or one less.

    Under gunicorn the master gives each worker its row before it forks it (:meth:`reserve`,
    :meth:`adopt`), so two workers starting at the same moment never take the same row. A process
    forked otherwise (tests) takes the first free row at its first request."""

    def __init__(self, slots: int = 256) -> None:
        self._slots = slots
        self._table = multiprocessing.get_context("fork").RawArray("d", 3 * slots)
        self._reserved: set[int] = set()  # the master's: rows given to workers it forked
        self._own: tuple[int, int] | None = None  # (pid, row) of the process that took a row
        self._taking = threading.Lock()  # this process's threads, taking its row

    def reserve(self) -> int | None:
        """In the master, before it forks a worker: the row that worker will write (None: every
        row is taken, its requests go uncounted)."""
        for row in range(self._slots):
            if row not in self._reserved:
                self._reserved.add(row)
                self._clear(row)
                return row
        log.warning("%d worker processes: the busy table is full, a worker goes uncounted", self._slots)
        return None

    def adopt(self, row: int | None) -> None:
        """In the worker the master forked with ``row`` (post_fork): that row is this process's."""
        if row is not None:
            self._table[3 * row : 3 * row + 3] = [os.getpid(), 0, 0]
            self._own = (os.getpid(), row)

    def _row(self) -> int | None:
        """The calling process's row; taken at its first request by a process the master did not
        give one (None when the table is full)."""
        pid = os.getpid()
        own = self._own
        if own is not None and own[0] == pid:
            return own[1]
        with self._taking:
            if self._own is not None and self._own[0] == pid:
                return self._own[1]
            table = self._table
            for row in range(self._slots):
                if row not in self._reserved and table[3 * row] in (0, pid):
                    self.adopt(row)
                    return row
        log.warning("%d worker processes: the busy table is full, a request goes uncounted", self._slots)
        return None

    def enter(self) -> None:
        """A request of this process begins (the caller serialises this process's threads)."""
        row = self._row()
        if row is not None:
            self._table[3 * row + 1] += 1

    def leave(self, now: float) -> None:
        """A request of this process has been answered (the caller serialises its threads)."""
        row = self._row()
        if row is not None and self._table[3 * row + 1] > 0:
            self._table[3 * row + 1] -= 1
            self._table[3 * row + 2] = now

    def state(self) -> tuple[int, float]:
        """Requests in flight on the node, and when the last one of them ended."""
        table = self._table[:]
        rows = [3 * row for row in range(self._slots) if table[3 * row] > 0]
        in_flight = sum(max(0.0, table[i + 1]) for i in rows)
        last = max((table[i + 2] for i in rows), default=0.0)
        return int(in_flight), last or float("-inf")

    def forget(self, pid: int, row: int | None = None) -> None:
        """Worker ``pid`` (forked with ``row``) is gone (the master's child_exit): its requests in
        flight no longer count, and its row is free for the next worker."""
        for other in range(self._slots):
            if other == row or self._table[3 * other] == pid:
                self._clear(other)
                self._reserved.discard(other)

    def _clear(self, row: int) -> None:
        self._table[3 * row : 3 * row + 3] = [0, 0, 0]


_NODE: NodeShare | None = None


def share_across_workers() -> NodeShare:
    """Called in the gunicorn master before it forks: the workers it forks count their requests
    in one table (:func:`node_share`)."""
    global _NODE
    if _NODE is None:
        _NODE = NodeShare()
    return _NODE


def node_share() -> NodeShare | None:
    """The node's table when this process is a worker forked by a master that made one."""
    return _NODE


class Visitors:
    """How many requests of this process (with ``node``: of every worker of the node) are in
    flight, and since when none is.

    ``clock`` (seconds, monotonic) is injectable for tests; waits use real time.
    """

    def __init__(
        self,
        grace: float = GRACE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        node: NodeShare | None = None,
    ) -> None:
        if grace < 0:
            raise ValueError(f"Visitors: grace {grace!r} s must not be negative")
        self.grace = grace
        self._clock = clock
        self.node = node
        self._changed = threading.Condition()
        self._in_flight = 0
        self._last_end = float("-inf")
        self.waiting = 0  # threads inside wait_idle now

    @property
    def in_flight(self) -> int:
        with self._changed:
            return self._in_flight

    def enter(self) -> None:
        """A request begins."""
        with self._changed:
            self._in_flight += 1
            if self.node is not None:
                self.node.enter()

    def leave(self) -> None:
        """A request has been answered."""
        with self._changed:
            if self._in_flight <= 0:
                raise RuntimeError("Visitors.leave: no request is in flight (leave without enter)")
            self._in_flight -= 1
            self._last_end = self._clock()
            if self.node is not None:
                self.node.leave(self._last_end)
            self._changed.notify_all()

    def idle_in(self) -> float:
        """Seconds until this process (with ``node``: the node) counts as idle: 0 when it is,
        infinity while a request is in flight, else what is left of the grace after the last one."""
        with self._changed:
            return self._idle_in()

    def _idle_in(self) -> float:
        in_flight, last_end = self._in_flight, self._last_end
        if self.node is not None:
            in_flight, last_end = self.node.state()
        if in_flight:
            return float("inf")
        return max(0.0, last_end + self.grace - self._clock())

    def wait_idle(self, limit: float, stop: threading.Event | None = None, poll: float = 1.0) -> float:
        """Block until the process is idle (:meth:`idle_in` is 0), at most ``limit`` seconds, and
        no longer once ``stop`` is set (looked at every ``poll`` seconds; the other workers'
        requests every NODE_POLL seconds). Returns the seconds waited (0.0 when idle already)."""
        if self.node is not None:
            poll = min(poll, NODE_POLL)
        started = time.monotonic()
        waited = 0.0
        with self._changed:
            self.waiting += 1
            self._changed.notify_all()  # someone (a test) may wait for a waiter
            try:
                while True:
                    left = self._idle_in()
                    if left <= 0 or waited >= limit or (stop is not None and stop.is_set()):
                        return waited
                    self._changed.wait(min(left, limit - waited, poll))
                    waited = time.monotonic() - started
            finally:
                self.waiting -= 1

    def until_waiting(self, timeout: float) -> bool:
        """Block until some thread is inside :meth:`wait_idle` (at most ``timeout`` seconds);
        whether one is."""
        with self._changed:
            return self._changed.wait_for(lambda: self.waiting > 0, timeout)

    def middleware(self, app: WSGIApp) -> WSGIApp:
        """``app`` counting each request (but health checks and scrapes) while it is answered."""

        def counted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO", "") in NOT_VISITORS:
                return app(environ, start_response)
            self.enter()
            try:
                body = app(environ, start_response)
            except BaseException:
                self.leave()
                raise
            return _Answered(body, self.leave)

        return counted


class _Answered:
    """A response's iterable that, when the server closes it (PEP 3333), closes the iterable it
    wraps and then calls ``done``, even when that fails; once."""

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]) -> None:
        self._body = body
        self._iterator = iter(body)
        self._done: Callable[[], None] | None = done

    def __iter__(self) -> _Answered:
        return self

    def __next__(self) -> bytes:
        return next(self._iterator)

    def close(self) -> None:
        done, self._done = self._done, None
        if done is None:  # closed before
            return
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            done()
