"""One unit's answer cut out of the city's answer grouped by unit: computed once, sliced many times.

A district page asks "attendance in district 718" (``by=all``), "... by ward in 718", "... by
school in 718"; a ward page and a school page ask the same of their unit. Each such query scans
the same facts as the city-wide query grouped by that unit (the facts are not indexed by unit),
so 22 district pages, 168 ward pages and a few hundred school pages after a probe load cost
hundreds of scans. Instead, ioc.metrics.cache answers them from the city-wide answer grouped by
the unit (one scan per KPI and level, cached and shared like any answer):

- ``scope={district|ward|school: X}, by=all`` is the row ``X`` of the city ``by=<that level>``,
  with key and label ``all``;
- ``scope={level: X}, by=<Y>`` (Y one of district, ward, school) is the rows of the city ``by=Y``
  for the Y-groups of X's schools, when every such group lies wholly inside X (always for
  schools; a ward across two districts is not, so ``by=ward`` in a district holding part of it is
  computed as asked);
- ``scope={district|ward|school: X}, by=date|week|month`` is X's series in the city's *panel*: the
  same series for every district (ward, school) at once (engine.compute_panel, formulas.Plan.panel),
  for the formula kinds whose series allow it (formulas.PANEL_KINDS: the connectivity and digital
  ones that a probe load makes stale). After a probe load the first school page drawn (by the
  warmer) computes each school panel once, and every other school page cuts its tiles' trends
  from them instead of scanning the facts again per school.

This is exact because every formula (ioc/metrics/formulas.py) computes a group's row from that
group's schools alone: city-wide notions (school days, "now", the latest date) do not depend on
the scope. Any other query (other time series, level or ownership filters, several filters, an
unknown unit) is computed as asked. The cut answer equals the direct one
(tests/unit/metrics/test_slices.py checks every KPI, grouping and unit level).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ioc.metrics import engine
from ioc.metrics.dimensions import SchoolInfo
from ioc.metrics.errors import QueryError
from ioc.metrics.query import TIME_BY, KpiQuery, KpiResult, Scope

if TYPE_CHECKING:
    from ioc.store import Store

# the SchoolInfo field holding each unit level's key (what formulas.UNIT_GROUPS groups by)
LEVELS = {"district": "district_code", "ward": "ward_code", "school": "school_id"}
PANEL_LEVELS = ("district", "ward", "school")  # unit levels whose time series are cut from a panel


@dataclass(frozen=True)
class Slice:
    wide: KpiQuery  # the city-wide query whose rows hold the answer
    unit: str | None = None  # by=all: the key of the wide row that is the answer; panel: the unit
    keys: frozenset[str] = frozenset()  # otherwise: the wide rows to keep
    panel: str | None = None  # a time series: the unit level of the panel holding it


def plan(store: Store, q: KpiQuery) -> Slice | None:
    """How to cut ``q`` from a city-wide answer, or None when it must be computed as asked."""
    if q.by != "all" and q.by not in LEVELS and q.by not in TIME_BY:
        return None
    filters = q.scope.items()
    if len(filters) != 1 or filters[0][0] not in LEVELS:
        return None
    if q.by in TIME_BY and not engine.panel_ready(q):
        return None
    version = q.snapshot if q.snapshot is not None else store.data_version()
    shape = engine.memo(store).get(
        ("slice", engine.catalog_for(store, q.snapshot), version, q.scope, q.by, q.hierarchy_date),
        lambda: _shape(store, q, version),
    )
    if shape is None:
        return None
    by, unit, keys, panel = shape
    return Slice(replace(q, by=by, scope=Scope()), unit=unit, keys=keys, panel=panel)


def _shape(
    store: Store, q: KpiQuery, version: int
) -> tuple[str, str | None, frozenset[str], str | None] | None:
    """(wide grouping, row or unit to take, rows to keep, panel level) for ``q``'s scope and
    grouping at ``version``."""
    level = q.scope.items()[0][0]
    try:
        resolved = engine.resolved_scope(store, q.scope, q.hierarchy_date, q.snapshot, version)
    except QueryError:
        return None  # the direct computation reports it
    code = getattr(resolved, level)
    units = engine.memo(store).get(
        ("units", engine.catalog_for(store, q.snapshot), version, q.hierarchy_date),
        lambda: _units(engine.school_versions(store, q.hierarchy_date, q.snapshot, version)),
    )
    inside = units[level].get(code)
    if not inside:
        return None  # an empty unit: the direct answer's one empty row
    if q.by in TIME_BY:
        return (q.by, code, frozenset(), level) if level in PANEL_LEVELS else None
    if q.by == "all":
        return level, code, frozenset(), None
    group = LEVELS[q.by]
    keys = frozenset(getattr(s, group) for s in inside)
    field = LEVELS[level]
    if any(getattr(s, field) != code for key in keys for s in units[q.by][key]):
        return None  # a group reaching outside the unit: the scope cuts it short
    return q.by, None, keys, None


def _units(schools: list[SchoolInfo]) -> dict[str, dict[str, list[SchoolInfo]]]:
    """The active schools of each unit of each level: level -> key -> schools."""
    units: dict[str, dict[str, list[SchoolInfo]]] = {level: {} for level in LEVELS}
    for school in schools:
        if school.active:
            for level, field in LEVELS.items():
                units[level].setdefault(getattr(school, field), []).append(school)
    return units


def cut_panel(piece: Slice, panel: engine.Panel) -> KpiResult:
    """``q``'s series from the panel of its unit level (a unit without rows: a series without any,
    as the direct answer of a series listing only the buckets with facts)."""
    return replace(panel.frame, rows=panel.series(piece.unit or ""))


# id of a wide answer -> where each of its rows lies: a school page cuts some 30 rows out of
# answers by school of 3,472 rows each, and a scan for each cut was a few ms of its first visit
_POSITIONS: dict[int, dict[str, int]] = {}


def _positions(wide: KpiResult) -> dict[str, int]:
    """Row key -> position in ``wide.rows``, made once per answer and forgotten with it."""
    found = _POSITIONS.get(id(wide))
    if found is None:
        found = {row.key: i for i, row in enumerate(wide.rows)}
        _POSITIONS[id(wide)] = found
        weakref.finalize(wide, _POSITIONS.pop, id(wide), None)
    return found


def cut(piece: Slice, q: KpiQuery, wide: KpiResult) -> KpiResult | None:
    """``q``'s answer from the city-wide answer (None when a row is missing: compute it instead)."""
    positions = _positions(wide)
    if piece.unit is not None:
        at = positions.get(piece.unit)
        if at is None:
            return None
        return replace(wide, by=q.by, rows=(replace(wide.rows[at], key="all", label="all"),))
    found = sorted(positions[key] for key in piece.keys if key in positions)
    if len(found) != len(piece.keys):
        return None
    return replace(wide, by=q.by, rows=tuple(wide.rows[i] for i in found))
