"""The requests of this process in flight, so that background work (the cache warmer) yields to
the people being served.

:class:`Visitors` counts the requests a worker is answering and remembers when the last one
ended; :meth:`Visitors.wait_idle` blocks until none is in flight and a short grace has passed
since the last one (the browser is still drawing what it received and is about to ask for the
page's next part), or until a limit. ``create_app`` wraps the Flask app's WSGI callable in
:meth:`Visitors.middleware` and keeps the counter in ``server.extensions[VISITORS_KEY]``.

A request counts from the moment the server hands it to the app until its response has been sent
(the server closes the response's iterable), so a response streamed or compressed on its way out
counts until its last byte. Health checks and metric scrapes are not visitors.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

VISITORS_KEY = "ioc.visitors"
GRACE_SECONDS = 1.0  # after the last request ends: the browser draws the page and asks for its next part
NOT_VISITORS = ("/healthz", "/readyz", "/metrics")  # the load balancer's and Prometheus's requests
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Visitors:
    """How many requests of this process are in flight, and since when none is.

    ``clock`` (seconds, monotonic) is injectable for tests; waits use real time.
    """

    def __init__(self, grace: float = GRACE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        if grace < 0:
            raise ValueError(f"Visitors: grace {grace!r} s must not be negative")
        self.grace = grace
        self._clock = clock
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

    def leave(self) -> None:
        """A request has been answered."""
        with self._changed:
            if self._in_flight <= 0:
                raise RuntimeError("Visitors.leave: no request is in flight (leave without enter)")
            self._in_flight -= 1
            self._last_end = self._clock()
            self._changed.notify_all()

    def idle_in(self) -> float:
        """Seconds until this process counts as idle: 0 when it is, infinity while a request is
        in flight, else what is left of the grace after the last request."""
        with self._changed:
            return self._idle_in()

    def _idle_in(self) -> float:
        if self._in_flight:
            return float("inf")
        return max(0.0, self._last_end + self.grace - self._clock())

    def wait_idle(self, limit: float, stop: threading.Event | None = None, poll: float = 1.0) -> float:
        """Block until the process is idle (:meth:`idle_in` is 0), at most ``limit`` seconds, and
        no longer once ``stop`` is set (looked at every ``poll`` seconds). Returns the seconds
        waited (0.0 when idle already)."""
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
