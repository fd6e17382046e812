"""Cached KPI answers (cachelib backends), keyed by everything that changes the answer.

The key holds the KPI, grouping, period, scope, hierarchy date, snapshot, the version of the data
the KPI reads (the last snapshot that changed one of its tables, ioc.metrics.table_versions), the
bandwidth threshold and the caller's access scope, so a committed ingestion that changes what a
KPI reads is never answered from an older entry (a probe load leaves attendance answers cached),
and one user's district answer is never served to another. The CLI computes directly; the web app and the API go through here.

Two levels:

- ``local``: an in-process LRU of the result objects themselves (:class:`ObjectCache`, or the
  backend named by ``kpi_cache_type``). An answer for a data version never changes, so a worker
  may keep it without asking anyone.
- ``redis``: when ``cache_redis_url`` is set, cachelib's ``RedisCache`` shared by every worker
  of every app node, so a KPI is computed once for all of them. A miss there takes a short lock
  (``SET NX``) on the key while computing; other workers asking for the same answer meanwhile wait
  for it instead of computing it again. When Redis is unreachable the app logs it, computes
  locally and retries Redis a few seconds later (``/readyz`` reports the outage).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import importlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
from cachelib import BaseCache, RedisCache
from prometheus_client import Counter, Histogram

import ioc
from ioc import rollups, settings
from ioc.access import EVERYTHING, AccessScope
from ioc.metrics import engine, slices, summary, table_versions
from ioc.metrics.query import KpiQuery, KpiResult, Scope
from ioc.metrics.registry import get_kpi

if TYPE_CHECKING:
    from ioc.store import Store

T = TypeVar("T")
log = logging.getLogger(__name__)

KEY_PREFIX = "ioc:"  # of every key this app writes to Redis
LOCK_SECONDS = 120  # a computation lock outlives a dead holder by at most this
RETRY_SECONDS = 5.0  # after a Redis error, compute locally for this long before trying Redis again
WARM_CLAIM_SECONDS = 86400

# the process's cache levels: set by init_cache(); a plain in-process cache until then (tests, scripts)
_HOLDER: dict[str, Any] = {}
_LOCK = threading.Lock()

LOOKUPS = Counter(
    "ioc_kpi_cache_lookups",
    "KPI cache look-ups by level (local = this worker, redis = shared, previous = the previous data "
    "version's answer served while the new one is computed) and result (hit, miss, error)",
    ["level", "result"],
)
COMPUTE_SECONDS = Histogram(
    "ioc_kpi_query_seconds",
    "KPI answers computed from the store (cache misses) and how long each took, by KPI and kind",
    ["kpi", "kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
WARM_CLAIMS = Counter(
    "ioc_cache_warm_claims",
    "Per new data version, whether a worker warms the wall's answers (won) or leaves it to another (lost)",
    ["result"],
)

WARM_ROUNDS = Counter(
    "ioc_cache_warm_rounds",
    "Warm-up rounds of the app's warmer: complete (wall, district and ward pages drawn) or stopped "
    "(a newer data version came first)",
    ["result"],
)
WARM_SECONDS = Histogram(
    "ioc_cache_warm_seconds",
    "How long a complete warm-up round took",
    buckets=(1, 5, 15, 30, 60, 120, 180, 240, 300, 450, 600, 900),
)


class ObjectCache(BaseCache):
    """An in-process LRU holding the (immutable) results themselves, without pickling.

    Unpickling a by-school result of 50,000 rows takes longer than the 5 ms a cached answer may
    take; results are frozen dataclasses, so sharing them between requests is safe. Each worker
    process has its own; the data version in every key keeps them consistent with each other.
    """

    def __init__(self, default_timeout: int = 300, threshold: int = 2000, **_: Any) -> None:
        super().__init__(default_timeout=default_timeout)
        self.threshold = threshold
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def _expiry(self, timeout: int | timedelta | None) -> float:
        timeout = self._normalize_timeout(timeout)
        return time.monotonic() + timeout if timeout > 0 else float("inf")

    def get(self, key: str) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item[1]

    def set(self, key: str, value: Any, timeout: int | timedelta | None = None) -> bool:
        with self._lock:
            self._items[key] = (self._expiry(timeout), value)
            self._items.move_to_end(key)
            while len(self._items) > self.threshold:
                self._items.popitem(last=False)
        return True

    def add(self, key: str, value: Any, timeout: int | timedelta | None = None) -> bool:
        with self._lock:
            if key in self._items:
                return False
        return self.set(key, value, timeout)

    def delete(self, key: str) -> bool:
        with self._lock:
            return self._items.pop(key, None) is not None

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def clear(self) -> bool:
        with self._lock:
            self._items.clear()
        return True


class SharedLevel:
    """The Redis level: cachelib's RedisCache plus the locks, tolerant of Redis being down.

    Every Redis error is logged (once per outage), counted, and answered as a miss; for
    RETRY_SECONDS afterwards Redis is not asked at all, so an outage costs no request a timeout.
    """

    def __init__(self, backend: RedisCache, url: str) -> None:
        self._backend = backend
        self.url = url
        self._down_until = 0.0
        self._failing = False

    @property
    def backend(self) -> Any:
        return self._backend

    @property
    def client(self) -> Any:
        return self.backend._write_client  # noqa: SLF001 - the redis.Redis the backend talks to

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, action: str, error: BaseException) -> None:
        self._down_until = time.monotonic() + RETRY_SECONDS
        if not self._failing:
            log.warning(
                "Redis cache at %s unreachable (%s: %s): computing locally, retrying every %.0f s",
                redact(self.url),
                action,
                error,
                RETRY_SECONDS,
            )
        self._failing = True

    def _worked(self) -> None:
        if self._failing:
            log.warning("Redis cache at %s reachable again", redact(self.url))
        self._failing = False

    def get(self, key: str) -> tuple[bool, Any]:
        """(asked, value): asked is False when Redis is down (the value is then None)."""
        if not self._available():
            return False, None
        try:
            value = self.backend.get(key)
        except Exception as error:  # noqa: BLE001 - Redis down, or an unreadable entry: a miss
            self._failed("get", error)
            return False, None
        self._worked()
        return True, value

    def set(self, key: str, value: Any) -> None:
        if not self._available():
            return
        try:
            self.backend.set(key, value)
        except Exception as error:  # noqa: BLE001 - the answer is still returned to the caller
            self._failed("set", error)

    def claim(self, name: str, seconds: int) -> bool | None:
        """SET NX of ``name``: True when this process got it, False when another holds it,
        None when Redis could not be asked."""
        if not self._available():
            return None
        try:
            got = self.client.set(KEY_PREFIX + name, str(time.time()), nx=True, ex=seconds)
        except Exception as error:  # noqa: BLE001
            self._failed("lock", error)
            return None
        self._worked()
        return bool(got)

    def held(self, name: str) -> bool:
        try:
            return bool(self.client.exists(KEY_PREFIX + name))
        except Exception as error:  # noqa: BLE001
            self._failed("lock", error)
            return False

    def release(self, name: str) -> None:
        try:
            self.client.delete(KEY_PREFIX + name)
        except Exception as error:  # noqa: BLE001 - the lock expires by itself
            self._failed("unlock", error)

    def note(self, name: str, member: str, when: float, keep: float) -> bool:
        """Record ``member`` at time ``when`` in the sorted set ``name`` (dropping members older
        than ``keep`` seconds); False when Redis could not be asked."""
        if not self._available():
            return False
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.zadd(KEY_PREFIX + name, {member: when})
            pipe.zremrangebyscore(KEY_PREFIX + name, "-inf", when - keep)
            pipe.expire(KEY_PREFIX + name, int(keep) + 60)
            pipe.execute()
        except Exception as error:  # noqa: BLE001 - only the warmer's list misses an entry
            self._failed("note", error)
            return False
        return True

    def since(self, name: str, when: float, limit: int) -> list[str] | None:
        """Members of the sorted set ``name`` recorded at ``when`` or later, newest first."""
        if not self._available():
            return None
        try:
            found = self.client.zrevrangebyscore(KEY_PREFIX + name, "+inf", when, start=0, num=limit)
        except Exception as error:  # noqa: BLE001
            self._failed("note", error)
            return None
        return [m.decode() if isinstance(m, bytes) else str(m) for m in found]

    def ping(self) -> str | None:
        """None when Redis answers, else why not (asked now, whatever the retry pause says)."""
        try:
            self.client.ping()
        except Exception as error:  # noqa: BLE001
            return f"{type(error).__name__}: {error}"
        return None


def redact(url: str) -> str:
    """``url`` without its password (for logs and readiness answers)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _local_backend() -> BaseCache:
    """This worker's level: the backend the kpi_cache_type setting names (a dotted path to a
    cachelib BaseCache class, or a cachelib class name such as SimpleCache or NullCache)."""
    name = str(settings.get("kpi_cache_type"))
    module, _, attr = name.rpartition(".")
    try:
        kind = getattr(importlib.import_module(module or "cachelib"), attr)
    except (ImportError, AttributeError):
        raise ValueError(f"IOC_KPI_CACHE_TYPE={name!r}: no such cache backend") from None
    if not (isinstance(kind, type) and issubclass(kind, BaseCache)):
        raise ValueError(f"IOC_KPI_CACHE_TYPE={name!r}: not a cachelib cache backend")
    timeout = int(settings.get("kpi_cache_seconds"))
    entries = int(settings.get("kpi_cache_entries"))
    if entries < 1:
        raise ValueError(f"IOC_KPI_CACHE_ENTRIES={entries}: must be at least 1")
    try:
        return kind(default_timeout=timeout, threshold=entries)  # type: ignore[call-arg]
    except TypeError:  # a backend without a size limit (NullCache)
        return kind(default_timeout=timeout)


def _redis_backend(url: str) -> RedisCache:
    # a Redis that does not answer must not hold a request for long
    client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)
    return RedisCache(
        host=client, default_timeout=int(settings.get("kpi_cache_seconds")), key_prefix=KEY_PREFIX
    )


def _build(owner: object) -> dict[str, Any]:
    url = str(settings.get("cache_redis_url") or "").strip()
    shared = None
    if url:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"IOC_CACHE_REDIS_URL={redact(url)!r}: expected redis://host:port/db, rediss://... or unix://..."
            )
        shared = SharedLevel(_redis_backend(url), url)
    return {"local": _local_backend(), "shared": shared, "url": url, "owner": owner}


def init_cache(owner: object) -> None:
    """Give ``owner`` (the app's server) the KPI cache levels: the same levels while the owner and
    the Redis setting stay the same (idempotent), fresh ones for another app."""
    with _LOCK:
        if (
            _HOLDER.get("local") is not None
            and _HOLDER.get("owner") is owner
            and _HOLDER.get("url") == str(settings.get("cache_redis_url") or "").strip()
        ):
            return
        _HOLDER.update(_build(owner))


def _levels() -> tuple[BaseCache, SharedLevel | None]:
    with _LOCK:
        local = _HOLDER.get("local")
        if local is None or _HOLDER.get("url") != str(settings.get("cache_redis_url") or "").strip():
            _HOLDER.update(_build(_HOLDER.get("owner")))
        return _HOLDER["local"], _HOLDER["shared"]


def _cache() -> BaseCache:
    return _levels()[0]


def shared_level() -> SharedLevel | None:
    """The Redis level, when IOC_CACHE_REDIS_URL is set."""
    return _levels()[1]


def clear() -> None:
    """Empty this process's level (the shared level is keyed by data version: nothing to clear)."""
    _cache().clear()


def _canonical(value: Any) -> Any:
    """``value`` with sets sorted and dataclasses spelled out: its repr is the same in every process
    (a frozenset's order depends on the process's hash seed)."""
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted((_canonical(v) for v in value), key=repr)))
    if isinstance(value, dict):
        return ("dict", tuple(sorted(((repr(k), _canonical(v)) for k, v in value.items()), key=repr)))
    if isinstance(value, (list, tuple)):
        return tuple(_canonical(v) for v in value)
    if is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            tuple((f.name, _canonical(getattr(value, f.name))) for f in fields(value)),
        )
    return value


def cache_key(kind: str, parts: tuple[Any, ...], access: AccessScope) -> str:
    # the caller's access scope is part of every key: one district's answer never serves another;
    # the program's version too: a node running another version never unpickles this one's results
    text = repr(_canonical((ioc.__version__, kind, access.key(), *parts)))
    return "ioc-kpi:" + hashlib.sha256(text.encode()).hexdigest()


def store_identity(store: Store) -> str:
    """What names the store in cache keys: the same for every node reading the same data (a
    shared PostgreSQL catalog or data folder), different for different stores."""
    identity = getattr(store, "identity", None)
    if identity:
        return str(identity() if callable(identity) else identity)
    catalog = str(settings.get("catalog_url") or "").strip()
    if catalog:
        return redact(catalog) + "|" + str(settings.get("data_path") or "")
    return str(store.layout.root)


def _version(store: Store, snapshot: int | None, kpi_id: str | None = None) -> int:
    """What the key holds for the data: the data version asked for (time travel), else the version
    of what the KPI reads (ioc.metrics.table_versions), else the store's data version."""
    if snapshot is not None:
        return snapshot
    version = store.data_version()
    if kpi_id is None:
        return version
    try:
        kpi = get_kpi(kpi_id)
    except Exception:  # noqa: BLE001 - an unknown KPI: the computation reports it
        return version
    return table_versions.kpi_version(store, kpi, version)


def _wait_for(shared: SharedLevel, key: str, lock: str, limit: float) -> Any:
    """The answer another worker is computing under ``lock`` (None if it gave up or took too long)."""
    deadline = time.monotonic() + limit
    pause = 0.01
    while time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(pause * 1.5, 0.2)
        asked, value = shared.get(key)
        if value is not None or not asked:
            return value
        if not shared.held(lock):
            return shared.get(key)[1]  # set just before the holder let go, or never (it failed)
    return None


@dataclass(frozen=True)
class Lineage:
    """Where a key stands among the answers to one question: ``family`` names the question
    whatever the data (its key without the data version), ``version`` is the data version the key
    answers it for. With it, :func:`_cached` remembers the newest answer of each family and may
    serve it while the answer for a newer version is not there yet (setting cache_stale_seconds)."""

    store: Store
    family: str
    version: int


def _cached(
    key: str, make: Callable[[], T], *, kpi: str = "", kind: str = "view", lineage: Lineage | None = None
) -> T:
    backend, shared = _levels()
    hit = backend.get(key)
    if hit is not None:
        LOOKUPS.labels("local", "hit").inc()
        return hit  # type: ignore[no-any-return]
    LOOKUPS.labels("local", "miss").inc()
    if lineage is not None and _stale_window(lineage):
        # Another node or worker may have the new answer already: serving the previous one
        # instead would make nodes (and a node's workers) disagree and answers flip back.
        _asked, value = shared.get(key) if shared is not None else (False, None)
        if value is not None:
            LOOKUPS.labels("redis", "hit").inc()
            backend.set(key, value)
            _remember(lineage, value, backend)
            return value  # type: ignore[no-any-return]
        stale = _previous(lineage, backend, shared)
        if stale is not None:
            LOOKUPS.labels("previous", "hit").inc()
            _served_previous()
            return stale  # type: ignore[no-any-return]
    pause = _PAUSE.get()
    if pause is not None and _PREVIOUS_USED.get() is None:
        pause()  # the warmer gives way between two answers, holding none half made (warming)
    # one thread of this process fetches or computes a key; its other threads asking meanwhile
    # wait for that (a city-wide answer fetched from Redis is unpickled once, not once per thread)
    with _INFLIGHT_LOCK:
        event = _INFLIGHT.get(key)
        leader = event is None
        if leader:
            event = _INFLIGHT[key] = threading.Event()
    if not leader:
        event.wait(float(settings.get("worker_timeout")) / 2)  # type: ignore[union-attr]
        hit = backend.get(key)
        if hit is not None:
            LOOKUPS.labels("local", "hit").inc()
            return hit  # type: ignore[no-any-return]
    try:
        with _made_of_previous() as previous:
            value = _fetch_or_compute(key, make, backend, shared, kpi, kind, lineage, previous)
        if lineage is not None and not previous[0]:
            _remember(lineage, value, backend)
        return value
    finally:
        if leader:
            with _INFLIGHT_LOCK:
                _INFLIGHT.pop(key, None)
            event.set()  # type: ignore[union-attr]


_INFLIGHT: dict[str, threading.Event] = {}
_INFLIGHT_LOCK = threading.Lock()


def _fetch_or_compute(
    key: str,
    make: Callable[[], T],
    backend: Any,
    shared: SharedLevel | None,
    kpi: str,
    kind: str,
    lineage: Lineage | None,
    previous: list[bool],
) -> T:
    """``make()``'s answer from Redis, or computed and kept in both levels (not when ``previous``
    says it was made of a previous version's answer)."""

    def compute() -> T:
        started = time.perf_counter()
        value = make()
        COMPUTE_SECONDS.labels(kpi, kind).observe(time.perf_counter() - started)
        return value

    if shared is None:
        value = compute()
        if not previous[0]:
            backend.set(key, value)
        return value

    asked, value = shared.get(key)
    LOOKUPS.labels("redis", "error" if not asked else ("hit" if value is not None else "miss")).inc()
    if value is None:
        lock = "computing:" + key
        claimed = shared.claim(lock, LOCK_SECONDS) if asked else None
        try:
            if claimed is False:  # another worker computes it: wait for its answer
                value = _wait_for(shared, key, lock, float(settings.get("worker_timeout")) / 2)
            if value is None:
                value = compute()
                if previous[0]:
                    return value
                shared.set(key, value)
                if lineage is not None:
                    shared.set(LATEST + lineage.family, (lineage.version, key))
        finally:
            if claimed:  # also when the computation failed: nobody waits for a dead lock
                shared.release(lock)
    backend.set(key, value)
    return value  # type: ignore[no-any-return]


# An answer made from another cached answer (a unit's cut from the city's answer or panel, a
# tile's summary from its queries) may be made, in the stale window, of a previous version's
# answer: it is then served but not kept under the new version's key (it would outlive the window
# there), and what it is part of is not kept either.
_PREVIOUS_USED: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar(
    "ioc_previous_used", default=None
)


def _served_previous() -> None:
    """The answer being made uses a previous version's answer."""
    used = _PREVIOUS_USED.get()
    if used is not None:
        used[0] = True


@contextlib.contextmanager
def _made_of_previous() -> Iterator[list[bool]]:
    """Around making an answer: yields a flag, true once a previous version's answer went into it
    (which then marks the answer around it too)."""
    used = [False]
    token = _PREVIOUS_USED.set(used)
    try:
        yield used
    finally:
        _PREVIOUS_USED.reset(token)
        if used[0]:
            _served_previous()


# -- the previous answer while the new one is computed (stale-while-revalidate) -----------------
LATEST = "latest:"  # + family: the newest answer of the family (locally) or its key (in Redis)
_FIRST_SEEN: dict[tuple[str, int], float] = {}  # (store, data version) -> when this process first saw it
_WARMED: set[tuple[str, int]] = set()  # (store, data version) this process's warmer has drawn


def _remember(lineage: Lineage, value: Any, backend: Any) -> None:
    """Keep ``value`` as its family's newest answer in this process (a reference, not a copy)."""
    name = LATEST + lineage.family
    newest = backend.get(name)
    if newest is None or newest[0] <= lineage.version:
        backend.set(name, (lineage.version, value), timeout=0)  # 0: until the LRU drops it


def _seen_for(store: Store, version: int) -> float:
    """Seconds since this process first saw data ``version`` of ``store``."""
    now = time.monotonic()
    name = (store_identity(store), version)
    first = _FIRST_SEEN.setdefault(name, now)
    if len(_FIRST_SEEN) > 256:
        for old in sorted(_FIRST_SEEN, key=_FIRST_SEEN.__getitem__)[:128]:
            del _FIRST_SEEN[old]
    return now - first


def mark_warmed(store: Store, version: int) -> None:
    """The warmer has drawn every page for data ``version``: from now on nobody is served an older
    answer for it (with Redis: for every worker of every node)."""
    identity = store_identity(store)
    _WARMED.add((identity, version))
    if len(_WARMED) > 256:
        _WARMED.clear()
        _WARMED.add((identity, version))
    shared = shared_level()
    if shared is not None:
        shared.claim(f"warmed:{_store_hash(store)}:{version}", WARM_CLAIM_SECONDS)


def _warmed(store: Store, version: int) -> bool:
    if (store_identity(store), version) in _WARMED:
        return True
    shared = shared_level()
    return shared is not None and shared.held(f"warmed:{_store_hash(store)}:{version}")


def _stale_window(lineage: Lineage) -> bool:
    """An older answer may be served instead of waiting: setting cache_stale_seconds is on, this
    is not the warmer, the current data version is younger than the setting and the warmer has not
    finished drawing it yet."""
    limit = float(settings.get("cache_stale_seconds"))
    if limit <= 0 or _WARMING.get():
        return False
    store = lineage.store
    current = store.data_version()
    return _seen_for(store, current) <= limit and not _warmed(store, current)


def _previous(lineage: Lineage, backend: Any, shared: SharedLevel | None) -> Any:
    """The family's answer for an older data version (this process's, else the shared one)."""
    newest = backend.get(LATEST + lineage.family)
    if newest is not None and newest[0] <= lineage.version:
        return newest[1]
    if shared is not None:
        found = shared.get(LATEST + lineage.family)[1]
        if found is not None and found[0] < lineage.version:
            return shared.get(found[1])[1]
    return None


# -- pages opened lately (what the warmer redraws after a new data version) ----------------------
RECENT_SECONDS = 1800.0  # a page opened in the last half hour is drawn again after each new version
RECENT_LIMIT = 1000  # at most this many, the most recently opened first
_RECENT: dict[tuple[str, str, str], float] = {}
_RECENT_LOCK = threading.Lock()
_WARMING: contextvars.ContextVar[bool] = contextvars.ContextVar("ioc_warming", default=False)
_PAUSE: contextvars.ContextVar[Callable[[], object] | None] = contextvars.ContextVar(
    "ioc_pause", default=None
)


@contextlib.contextmanager
def warming(pause: Callable[[], object] | None = None) -> Iterator[None]:
    """A block in which the warmer draws pages: they do not count as opened. With ``pause``, it
    is called before each answer not cached yet is computed (not inside another answer being
    made, so the warmer holds nothing another thread may wait for): the warmer's way to give way
    to visitors within a page."""
    token, paused = _WARMING.set(True), _PAUSE.set(pause)
    try:
        yield
    finally:
        _PAUSE.reset(paused)
        _WARMING.reset(token)


def _store_hash(store: Store) -> str:
    return hashlib.sha256(store_identity(store).encode()).hexdigest()[:16]


def note_opened(store: Store, kind: str, code: str) -> None:
    """Remember that someone opened the ``kind`` page of ``code`` now (in Redis when configured,
    so every node's warmer knows; else in this process)."""
    if _WARMING.get():
        return
    now = time.time()
    shared = shared_level()
    if shared is not None and shared.note(f"opened:{_store_hash(store)}:{kind}", code, now, RECENT_SECONDS):
        return
    with _RECENT_LOCK:
        _RECENT[(store_identity(store), kind, code)] = now
        if len(_RECENT) > 4 * RECENT_LIMIT:
            for key in sorted(_RECENT, key=_RECENT.__getitem__)[: len(_RECENT) - RECENT_LIMIT]:
                del _RECENT[key]


def recently_opened(store: Store, kind: str, seconds: float = RECENT_SECONDS) -> list[str]:
    """Codes of the ``kind`` pages opened in the last ``seconds``, the most recent first."""
    since = time.time() - seconds
    shared = shared_level()
    if shared is not None:
        found = shared.since(f"opened:{_store_hash(store)}:{kind}", since, RECENT_LIMIT)
        if found is not None:
            return found
    identity = store_identity(store)
    with _RECENT_LOCK:
        mine = [
            (when, key[2]) for key, when in _RECENT.items() if key[:2] == (identity, kind) and when >= since
        ]
    return [code for _, code in sorted(mine, reverse=True)[:RECENT_LIMIT]]


def claim_warm(store: Store, version: int) -> bool:
    """Whether this process should warm the wall's answers for data ``version``: always without
    Redis (every worker has its own cache); with Redis, only the first worker of all nodes to ask
    (SET NX per store and data version) -- the others find the answers in Redis."""
    shared = shared_level()
    if shared is not None:
        if shared.claim(f"warm:{_store_hash(store)}:{version}", WARM_CLAIM_SECONDS) is False:
            WARM_CLAIMS.labels("lost").inc()
            return False
    WARM_CLAIMS.labels("won").inc()
    return True


def widest_access(
    store: Store,
    scope: Scope,
    hierarchy_date: date | None = None,
    snapshot: int | None = None,
    access: AccessScope = EVERYTHING,
) -> AccessScope:
    """The access to answer ``scope`` with: everything when ``access`` changes nothing for it
    (engine.access_covers: every school of the unit is one the caller may read), else ``access``.

    An officer's ward or school answer is then keyed like everybody's ("all"), so officers of the
    same district, leadership and the warmer share one computation instead of one per account
    scope. Anything reaching past the caller's schools (the city, a ward across two districts)
    keeps the caller's own access in the query and in the key.
    """
    if not access.restricted:
        return access
    try:
        covered = engine.access_covers(store, scope, hierarchy_date, snapshot, access)
    except Exception:  # noqa: BLE001 - e.g. a bad snapshot: the computation reports it as the caller
        covered = False
    return EVERYTHING if covered else access


def cached_compute(store: Store, q: KpiQuery, access: AccessScope = EVERYTHING) -> KpiResult:
    access = widest_access(store, q.scope, q.hierarchy_date, q.snapshot, access)
    parts = (store_identity(store), q, rollups.threshold())
    key, lineage = keyed(store, "compute", parts, _version(store, q.snapshot, q.kpi), q.snapshot, access)
    piece = None if access.restricted else _slice(store, q)
    if piece is None:
        return _cached(
            key, lambda: engine.compute(store, q, access=access), kpi=q.kpi, kind="compute", lineage=lineage
        )
    return _cached(key, lambda: _cut(store, q, piece), kpi=q.kpi, kind="slice", lineage=lineage)


def keyed(
    store: Store,
    kind: str,
    parts: tuple[Any, ...],
    version: int,
    snapshot: int | None = None,
    access: AccessScope = EVERYTHING,
) -> tuple[str, Lineage | None]:
    """The key of ``parts`` at data ``version`` for a caller with ``access`` and its family (the
    same parts, any version); no family for a question about a given snapshot (time travel),
    whose answer never changes."""
    key = cache_key(kind, (*parts, version), access)
    if snapshot is not None:
        return key, None
    return key, Lineage(store, cache_key(kind + ":family", parts, access), version)


def _slice(store: Store, q: KpiQuery) -> slices.Slice | None:
    """How to cut ``q`` from the city's answer (ioc.metrics.slices); only for a caller who may read
    the city (a restricted caller's own access is in the query: nothing city-wide to share)."""
    try:
        return slices.plan(store, q)
    except Exception:  # noqa: BLE001 - e.g. a bad snapshot: the computation reports it
        return None


def _cut(store: Store, q: KpiQuery, piece: slices.Slice) -> KpiResult:
    if piece.panel is not None:
        return slices.cut_panel(piece, cached_panel(store, piece.wide, piece.panel))
    answer = slices.cut(piece, q, cached_compute(store, piece.wide))
    return answer if answer is not None else engine.compute(store, q)


def cached_panel(store: Store, q: KpiQuery, level: str) -> engine.Panel:
    """``q``'s time series for every unit of ``level`` at once (engine.compute_panel), cached; the
    whole city's (only a caller who may read the city gets answers cut from it)."""
    parts = (store_identity(store), q, level, rollups.threshold())
    key, lineage = keyed(store, "panel", parts, _version(store, q.snapshot, q.kpi), q.snapshot)
    return _cached(
        key, lambda: engine.compute_panel(store, q, level), kpi=q.kpi, kind="panel", lineage=lineage
    )


def cached_summarize(
    store: Store,
    kpi_id: str,
    scope: Scope = Scope(),  # noqa: B008 -- frozen, so a shared default is safe
    date_to: date | None = None,
    snapshot: int | None = None,
    series_days: int = 30,
    hierarchy_date: date | None = None,
    access: AccessScope = EVERYTHING,
) -> summary.KpiSummary:
    access = widest_access(store, scope, hierarchy_date, snapshot, access)
    question = (kpi_id, scope, date_to, snapshot, series_days, hierarchy_date)
    parts = (store_identity(store), *question, rollups.threshold())
    key, lineage = keyed(store, "summarize", parts, _version(store, snapshot, kpi_id), snapshot, access)
    return _cached(
        key,
        lambda: summary.summarize(store, *question, compute=lambda q: cached_compute(store, q, access)),
        kpi=kpi_id,
        kind="summarize",
        lineage=lineage,
    )


def cached_view(
    store: Store,
    kind: str,
    parts: tuple[Any, ...],
    make: Callable[[], T],
    *,
    access: AccessScope,
    tables: Any = None,
) -> T:
    """``make()`` (a view made for a caller with ``access``) cached, keyed by ``kind``, ``parts``,
    the store, ``access`` and the version of the data: a new load is never answered from an older
    entry. ``tables``: the tables ``make`` reads; the key then holds the last data version that
    changed one of them (ioc.metrics.table_versions), so a probe load leaves an attendance calendar
    cached. Without it, any change counts."""
    version = store.data_version()
    if tables is not None:
        version = table_versions.tables_version(store, tables, version)
    key, lineage = keyed(store, "view:" + kind, (store_identity(store), *parts), version, None, access)
    return _cached(key, make, lineage=lineage)
