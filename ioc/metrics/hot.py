"""Hot copies: the small tables KPIs read, held in memory by each process, per data version.

Every scan of a DuckLake table first reads the catalog (the snapshot, the table's data files and
their statistics, inlined rows): about 5-10 ms a table on the embedded SQLite catalog and a few
round trips on PostgreSQL, whatever the size of the answer. A KPI query reads two to four tables,
so for one school or one ward most of its time was the catalog, not the data (a cold school page
made about 40 such queries).

The tables that are small and read by almost every query (``schools``, ``attendance``,
``digital``, ``connectivity_daily`` and ``rollup_state``) are therefore copied into an in-memory
DuckDB database attached to the store's connection (``ioc_hot``), each exactly as it was at a
data version (DuckLake time travel, ``AT (VERSION => v)``). A copy is tagged with the last data
version that changed its table (ioc.metrics.table_versions), so a probe load re-copies only the
connectivity rollup (about 50 ms for two weeks of 3,500 schools) and leaves attendance alone.
The raw probes (``connectivity``, millions of rows) are always read from the lake.

Rules that keep answers exact:

- a query uses a copy only when the copy's tag equals its table's version at the query's data
  version; otherwise (stale, being refreshed by another thread, too big, disabled) that table is
  read from the lake, as before;
- a table with more rows than ``hot_table_rows`` is never copied (0 turns copies off);
- time-travel queries (``snapshot``) never use copies;
- copies only move forward: a query at an older data version than the current copy's (a request
  that began before a load, ioc.store.one_version) reads the lake instead of copying the past;
- a replaced copy is dropped one generation later, so a query still reading it is not cut short;
  a query that outlives even that is run again on the lake (engine).
"""

from __future__ import annotations

# ruff: noqa: S608 -- SQL text here holds only table names from MIRRORED and integer versions
import logging
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ioc import settings
from ioc.metrics import table_versions
from ioc.store import CATALOG_NAME, quote_ident

if TYPE_CHECKING:
    from ioc.store import Store

log = logging.getLogger(__name__)

HOT_DB = "ioc_hot"
MIRRORED = ("schools", "attendance", "digital", "connectivity_daily", "rollup_state")


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    attached: bool = False
    copies: dict[str, tuple[int, str]] = field(default_factory=dict)  # table -> (tag, qualified name)
    retired: dict[str, str] = field(default_factory=dict)  # table -> the copy before the current one
    refreshing: set[str] = field(default_factory=set)
    too_big: dict[str, int] = field(default_factory=dict)  # table -> tag at which it had too many rows


_STATES: weakref.WeakKeyDictionary[Any, _State] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def _state(store: Store) -> _State:
    with _STATES_LOCK:
        state = _STATES.get(store)
        if state is None:
            state = _STATES[store] = _State()
        return state


def limit() -> int:
    return int(settings.get("hot_table_rows"))


def sources(store: Store, tables: Iterable[str], version: int) -> dict[str, str]:
    """Of ``tables``, those a query at data ``version`` may read from their hot copy: table ->
    qualified name of the copy. Stale copies are refreshed here (by one thread; the others read
    the lake meanwhile)."""
    if limit() <= 0:
        return {}
    wanted = [t for t in tables if t in MIRRORED]
    if not wanted or table_versions.table_versions(store, version) is None:
        return {}  # what changed when cannot be told: no copy can be trusted
    state = _state(store)
    found: dict[str, str] = {}
    for table in wanted:
        tag = table_versions.tables_version(store, (table,), version)
        with state.lock:
            copy = state.copies.get(table)
            if copy is not None and copy[0] == tag:
                found[table] = copy[1]
                continue
            if copy is not None and copy[0] > tag:
                continue  # a query of an older version (a request begun before a load): the lake
            if table in state.refreshing or state.too_big.get(table) == tag:
                continue
            state.refreshing.add(table)
        try:
            name = _copy(store, state, table, tag, version)
        except Exception as error:  # noqa: BLE001 - the lake still answers; say why once per tag
            log.warning(
                "hot copy of %s at data version %s failed (%s): reading the lake", table, version, error
            )
            name = None
            with state.lock:
                state.too_big[table] = tag
        finally:
            with state.lock:
                state.refreshing.discard(table)
        if name is not None:
            found[table] = name
    return found


def _copy(store: Store, state: _State, table: str, tag: int, version: int) -> str | None:
    if not state.attached:
        with state.lock:
            if not state.attached:
                store.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {HOT_DB}")
                state.attached = True
    source = f"{CATALOG_NAME}.{quote_ident(table)} AT (VERSION => {int(version)})"
    rows = store.execute(f"SELECT count(*) FROM {source}").scalar() or 0
    if rows > limit():
        with state.lock:
            state.too_big[table] = tag
        return None
    name = f"{HOT_DB}.{quote_ident(f'{table}_v{tag}')}"
    store.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {source}")
    with state.lock:
        previous = state.copies.get(table)
        if previous is not None and previous[1] == name:
            return name  # another thread made the same copy meanwhile
        drop = state.retired.pop(table, None)
        if previous is not None:
            state.retired[table] = previous[1]
        state.copies[table] = (tag, name)
    if drop is not None:
        store.execute(f"DROP TABLE IF EXISTS {drop}")
    return name


def held(store: Store) -> dict[str, int]:
    """Table -> the data version its current copy holds (for tests and ``ioc store info``)."""
    state = _state(store)
    with state.lock:
        return {table: tag for table, (tag, _) in state.copies.items()}
