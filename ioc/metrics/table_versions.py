"""The data version of what a KPI reads: the last catalog snapshot that changed one of its tables.

Every committed write bumps the store's data version (the catalog's snapshot id), but a probe
load changes only ``connectivity`` and its rollup: attendance and digital answers stay the same.
The KPI cache (ioc.metrics.cache) keys an answer by :func:`kpi_version` instead of the store's
data version, so a probe load every few minutes no longer throws away every other answer.

How: DuckLake records per snapshot which tables it changed (``lake.snapshots()``'s ``changes``
map: table ids for inserts and deletes, ``schema.table`` names for created tables). Once per new
data version per process, the snapshots newer than the last ones read are folded into a map
table -> last snapshot that changed it. A KPI's version is the maximum over:

- the tables it reads: its datasets, its formula's table, the rollups of those datasets
  (ioc/rollups.py) and ``schools`` (the hierarchy and every scope);
- every table the metrics layer does not know (a new table, ``schema_version``): it might be read;
- every change that names no table (a schema created or dropped, an entry this code cannot read).

Tables no KPI reads never count: the run log, rejections, replacements and scheduler state.

Conservative fallbacks: a table whose last change is older than the oldest kept snapshot (expired)
counts as changed at that oldest snapshot; when the catalog as read through DuckDB lags behind the
data version asked for, or cannot be read, every KPI's version is the data version itself.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ioc.datasets import DATASETS
from ioc.store import CATALOG_NAME

if TYPE_CHECKING:
    from ioc.metrics.registry import Kpi
    from ioc.store import Store

log = logging.getLogger(__name__)

# Tables no KPI, summary or tile reads (ingestion's and the scheduler's records): never count.
IGNORED = frozenset(
    {"ingest_runs", "rejections", "replacements", "source_state", "job_runs", "ioc_scheduler_runs"}
)
# The tables the metrics layer reads, and which dataset's KPIs read each (None: every KPI).
# (declared with each dataset in ioc/datasets.py: its table and what its loads feed)
ROLLUPS = {name: d.feeds for name, d in DATASETS.items() if d.feeds}
SHARED = ("schools",)  # hierarchy, scope and school counts: every KPI
DATA_TABLES = frozenset({*DATASETS, *SHARED, *(t for ts in ROLLUPS.values() for t in ts)})
EVERYTHING = "*"  # a change that names no table this code can read: counts for every KPI
OLDEST = "<oldest>"  # in table_versions' answer: the oldest snapshot kept when first read


def kpi_tables(kpi: Kpi) -> frozenset[str]:
    """The known tables ``kpi``'s answers (compute and summarize) may read."""
    tables = set(SHARED) | set(kpi.datasets)
    for _, value in kpi.formula.parts:
        if isinstance(value, str) and value in DATA_TABLES:
            tables.add(value)  # the formula's table, a denominator naming "schools", ...
    for dataset in list(tables):
        tables.update(ROLLUPS.get(dataset, ()))
    return frozenset(tables)


@dataclass
class _State:
    seen: int = -1  # the newest snapshot folded in
    oldest: int = 0  # the oldest snapshot kept when first read (older changes are unknown)
    last: dict[str, int] = field(default_factory=dict)  # table (or EVERYTHING) -> last changing snapshot
    names: dict[str, str] = field(default_factory=dict)  # table id -> name
    answers: dict[int, dict[str, int]] = field(default_factory=dict)  # the last few versions' maps
    lock: threading.Lock = field(default_factory=threading.Lock)


_STATES: weakref.WeakKeyDictionary[Any, _State] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def _state(store: Store) -> _State:
    with _STATES_LOCK:
        state = _STATES.get(store)
        if state is None:
            state = _STATES[store] = _State()
        return state


def _table_names(store: Store) -> dict[str, str]:
    """Table id -> name for every table the catalog knows (dropped ones too)."""
    meta = f"__ducklake_metadata_{CATALOG_NAME}"
    rows = store.execute(f"SELECT table_id, table_name FROM {meta}.ducklake_table").rows  # noqa: S608 - constant
    return {str(tid): str(name) for tid, name in rows}


def _names(values: Iterable[Any], state: _State, store: Store) -> list[str]:
    """The tables an entry of a snapshot's changes names ([EVERYTHING] when one cannot be read)."""
    out: list[str] = []
    for raw in values or ():
        value = str(raw)
        if value.isdigit():
            if value not in state.names:
                state.names = _table_names(store)
            name = state.names.get(value)
            if name is None:
                return [EVERYTHING]
            out.append(name)
        elif "." in value:  # schema.table (created tables)
            out.append(value.rsplit(".", 1)[1].strip('"'))
        else:
            return [EVERYTHING]
    return out


def _fold(store: Store, state: _State, version: int) -> None:
    if state.seen < 0:
        oldest = store.execute(f"SELECT min(snapshot_id) FROM {CATALOG_NAME}.snapshots()").scalar()  # noqa: S608
        state.oldest = int(oldest or 0)
    rows = store.execute(
        f"SELECT snapshot_id, changes FROM {CATALOG_NAME}.snapshots() "  # noqa: S608 - a constant name
        "WHERE snapshot_id > $s AND snapshot_id <= $v ORDER BY snapshot_id",
        {"s": state.seen, "v": version},
    ).rows
    for snapshot_id, changes in rows:
        snapshot = int(snapshot_id)
        for kind, values in (changes or {}).items():
            tables = [EVERYTHING] if str(kind).startswith("schema") else _names(values, state, store)
            for table in tables or [EVERYTHING]:
                state.last[table] = snapshot
        state.seen = snapshot


def table_versions(store: Store, version: int) -> dict[str, int] | None:
    """Table -> the last snapshot up to ``version`` that changed it (EVERYTHING included), or None
    when that cannot be told: the catalog as DuckDB reads it has not reached ``version``, cannot be
    read, or ``version`` is older than the versions this process has already read past."""
    state = _state(store)
    with state.lock:
        known = state.answers.get(version)
        if known is not None:
            return known
        if version < state.seen:
            return None
        try:
            _fold(store, state, version)
        except Exception as error:  # noqa: BLE001 - a catalog we cannot read: key by the whole store
            log.warning("reading the catalog's snapshot changes failed (%s): caching by data version", error)
            return None
        if state.seen != version:
            return None
        answer = {**state.last, OLDEST: state.oldest}
        state.answers[version] = answer
        while len(state.answers) > 8:
            state.answers.pop(next(iter(state.answers)))
        return answer


def kpi_version(store: Store, kpi: Kpi, version: int) -> int:
    """The version of what ``kpi`` reads at data ``version``: the same for every data version in
    which none of its tables changed; ``version`` itself when that cannot be told."""
    return tables_version(store, kpi_tables(kpi), version)


def tables_version(store: Store, tables: Iterable[str], version: int) -> int:
    """The last snapshot up to ``version`` that changed one of ``tables`` (``schools`` always
    counts, as do tables this code does not know); ``version`` itself when that cannot be told."""
    last = table_versions(store, version)
    if last is None:
        return version
    wanted = frozenset(tables) | frozenset(SHARED)
    found = last[OLDEST]  # changes older than the oldest kept snapshot are unknown: that old at least
    for table, snapshot in last.items():
        if table in IGNORED or table == OLDEST:
            continue
        if table == EVERYTHING or table in wanted or table not in DATA_TABLES:
            found = max(found, snapshot)
    return found
