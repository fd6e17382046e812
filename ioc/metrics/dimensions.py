"""The school hierarchy as the metrics layer sees it: districts, wards, schools, and scope resolution.

A school's row has versions (``valid_from``); everything here uses the version valid at the
hierarchy date (the latest version with valid_from <= date, else the earliest) and, unless said
otherwise, only active schools. A unit's key is its code, or its name where it has no code.
"""

from __future__ import annotations

# ruff: noqa: S608 -- SQL text here holds only identifiers from the registry/code; values are bound
import unicodedata
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from ioc.access import EVERYTHING, AccessScope, Place
from ioc.datasets import DATASETS
from ioc.metrics.errors import QueryError
from ioc.metrics.query import FILTERS, Scope

if TYPE_CHECKING:
    from ioc.store import Store

FAR_FUTURE = date(9999, 12, 31)

LEVEL_NAMES: dict[str, tuple[str, ...]] = {
    "preschool": ("mầm non",),
    "primary": ("tiểu học",),
    "lower_secondary": ("thcs", "trung học cơ sở"),
    "upper_secondary": ("thpt", "trung học phổ thông"),
    "continuing": ("gdtx", "giáo dục thường xuyên"),
    "multi_level": ("liên cấp",),
}
OWNERSHIP_NAMES: dict[str, tuple[str, ...]] = {
    "public": ("công lập",),
    "private": ("ngoài công lập", "tư thục"),
}
# the latest data date of each dataset
DATE_COLUMNS = {name: d.date_column for name, d in DATASETS.items() if d.date_column is not None}


@dataclass(frozen=True)
class Unit:
    """A district or ward: key (code, or name without one), name, its parent, active schools in scope."""

    code: str
    name: str
    parent_code: str | None
    parent_name: str | None
    schools: int


@dataclass(frozen=True)
class SchoolInfo:
    school_id: str
    school_name: str
    level: str
    ownership: str
    ward_code: str
    ward_name: str
    district_code: str
    district_name: str
    latitude: float | None
    longitude: float | None
    students: int
    teachers: int
    classrooms: int
    active: bool
    valid_from: date


@dataclass(frozen=True)
class SchoolProfile:
    info: SchoolInfo
    history: tuple[SchoolInfo, ...]  # every version, oldest first
    latest_attendance: dict[str, Any] | None
    latest_digital: dict[str, Any] | None
    latest_probe: dict[str, Any] | None


def norm(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().casefold()


VERSIONS_SQL = """
SELECT school_id, school_name, level, ownership,
       coalesce(ward_code, ward_name) AS ward_key, ward_name,
       coalesce(district_code, district_name) AS district_key, district_name,
       latitude, longitude, students, teachers, classrooms, active, valid_from
FROM {catalog}.schools
QUALIFY row_number() OVER (
    PARTITION BY school_id
    ORDER BY (valid_from <= $hierarchy_date) DESC,
             CASE WHEN valid_from <= $hierarchy_date THEN valid_from END DESC NULLS LAST,
             valid_from, run_id DESC) = 1
"""


def _catalog(catalog: str | None) -> str:
    return catalog or "lake"


def _versions(
    store: Store,
    hierarchy_date: date | None,
    catalog: str | None,
    where: str = "",
    params: dict[str, Any] | None = None,
) -> list[SchoolInfo]:
    sql = f"SELECT * FROM ({VERSIONS_SQL.format(catalog=_catalog(catalog))}) {where} ORDER BY school_id"
    rows = store.execute(sql, {"hierarchy_date": hierarchy_date or FAR_FUTURE, **(params or {})}).rows
    return [SchoolInfo(*row) for row in rows]


def versions(
    store: Store, hierarchy_date: date | None = None, *, catalog: str | None = None
) -> list[SchoolInfo]:
    """Every school in its version valid at ``hierarchy_date`` (else its earliest), inactive ones too."""
    return _versions(store, hierarchy_date, catalog)


def _match(param: str, value: str, candidates: dict[str, set[str]]) -> str:
    """The key among ``candidates`` (key -> names) that ``value`` names; QueryError when none or several."""
    if value in candidates:
        return value  # the key itself (a page's link): no need to compare it with every unit's
    wanted = norm(value)
    exact = [key for key in candidates if norm(key) == wanted]
    if exact:
        return exact[0]
    named = sorted({key for key, names in candidates.items() if wanted in {norm(n) for n in names}})
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise QueryError(param, f"{value!r} is ambiguous ({', '.join(named)}); give the code")
    raise QueryError(param, f"unknown {param} {value!r}")


def resolve_scope(
    store: Store,
    scope: Scope,
    hierarchy_date: date | None = None,
    *,
    catalog: str | None = None,
    schools: list[SchoolInfo] | None = None,
) -> Scope:
    """The same scope with every filter turned into its key; QueryError naming the unknown filter.

    ``schools``: :func:`versions` at ``hierarchy_date`` when the caller already has them.
    """
    if not scope.items():
        return scope
    for name, value in scope.items():
        if not isinstance(value, str) or not value.strip():
            raise QueryError(name, "must be a non-empty code or name")
    resolved: dict[str, str] = {}
    if scope.level is not None:
        resolved["level"] = _match("level", scope.level, {k: set(v) for k, v in LEVEL_NAMES.items()})
    if scope.ownership is not None:
        resolved["ownership"] = _match(
            "ownership", scope.ownership, {k: set(v) for k, v in OWNERSHIP_NAMES.items()}
        )
    if scope.district is not None or scope.ward is not None or scope.school is not None:
        if schools is None:
            schools = _versions(store, hierarchy_date, catalog)
        if scope.district is not None:
            districts: dict[str, set[str]] = {}
            for s in schools:
                districts.setdefault(s.district_code, set()).add(s.district_name)
            resolved["district"] = _match("district", scope.district, districts)
        if scope.ward is not None:
            wards: dict[str, set[str]] = {}
            for s in schools:
                if "district" not in resolved or s.district_code == resolved["district"]:
                    wards.setdefault(s.ward_code, set()).add(s.ward_name)
            resolved["ward"] = _match("ward", scope.ward, wards)
        if scope.school is not None:
            by_id: dict[str, set[str]] = {s.school_id: {s.school_name} for s in schools}
            resolved["school"] = _match("school", scope.school, by_id)
    return replace(scope, **resolved)


def districts(
    store: Store,
    hierarchy_date: date | None = None,
    *,
    catalog: str | None = None,
    access: AccessScope = EVERYTHING,
) -> list[Unit]:
    """The districts (at ``hierarchy_date``) whose whole district ``access`` may read."""
    rows = store.execute(
        f"""SELECT district_key, min(district_name), count(*) FILTER (WHERE active)
        FROM ({VERSIONS_SQL.format(catalog=_catalog(catalog))}) GROUP BY 1 ORDER BY 1""",
        {"hierarchy_date": hierarchy_date or FAR_FUTURE},
    ).rows
    return [Unit(code, name, None, None, int(n)) for code, name, n in rows if access.allows(Place(code))]


def wards(
    store: Store,
    district: str | None = None,
    hierarchy_date: date | None = None,
    *,
    catalog: str | None = None,
    access: AccessScope = EVERYTHING,
) -> list[Unit]:
    """The wards (of ``district``, at ``hierarchy_date``) whose whole ward ``access`` may read."""
    params: dict[str, Any] = {"hierarchy_date": hierarchy_date or FAR_FUTURE}
    where = ""
    if district is not None:
        params["district"] = resolve_scope(
            store, Scope(district=district), hierarchy_date, catalog=catalog
        ).district
        where = "WHERE district_key = $district"
    rows = store.execute(
        f"""SELECT ward_key, min(ward_name), min(district_key), min(district_name), count(*) FILTER (WHERE active)
        FROM ({VERSIONS_SQL.format(catalog=_catalog(catalog))}) {where} GROUP BY 1 ORDER BY 1""",
        params,
    ).rows
    return [
        Unit(code, name, dcode, dname, int(n))
        for code, name, dcode, dname, n in rows
        if access.allows(Place(dcode, code))
    ]


def schools(
    store: Store,
    scope: Scope = Scope(),  # noqa: B008 -- frozen, so a shared default is safe
    hierarchy_date: date | None = None,
    *,
    include_inactive: bool = False,
    catalog: str | None = None,
    access: AccessScope = EVERYTHING,
) -> list[SchoolInfo]:
    """The schools of ``scope`` (at ``hierarchy_date``) that ``access`` may read in today's hierarchy."""
    resolved = resolve_scope(store, scope, hierarchy_date, catalog=catalog)
    columns = {
        "district": "district_key",
        "ward": "ward_key",
        "level": "level",
        "ownership": "ownership",
        "school": "school_id",
    }
    clauses = [] if include_inactive else ["active"]
    params: dict[str, Any] = {}
    for name in FILTERS:
        value = getattr(resolved, name)
        if value is not None:
            clauses.append(f"{columns[name]} = ${name}")
            params[name] = value
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    found = _versions(store, hierarchy_date, catalog, where, params)
    if not access.restricted:
        return found
    # judged on today's hierarchy (the live catalog's latest versions), whatever the answer is of
    past = hierarchy_date is not None or _catalog(catalog) != "lake"
    today = {s.school_id: s for s in _versions(store, None, None)} if past else None
    return [s for s in found if access.allows(place(today.get(s.school_id) if today else s))]


def place(school: SchoolInfo | None) -> Place:
    """Where ``school`` (a version of it) lies: what an access scope is judged on (ioc.access)."""
    if school is None:
        return Place()
    return Place(school.district_code, school.ward_code, school.school_id)


def latest_date(store: Store, dataset: str, *, catalog: str | None = None) -> date | None:
    """The newest local date with data in ``dataset`` (None when it is empty)."""
    if dataset not in DATE_COLUMNS:
        raise QueryError("dataset", f"unknown dataset {dataset!r}")
    column = DATE_COLUMNS[dataset]
    value = store.execute(f"SELECT max({column})::DATE FROM {_catalog(catalog)}.{dataset}").scalar()
    return value
