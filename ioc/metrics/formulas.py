"""SQL for each formula kind of the registry, generated from a KPI declaration and a plan.

Every builder returns one SELECT whose rows are ``(key, label, numerator, denominator, value,
schools_reporting, as_of)``. Values of the request (dates, filter codes, thresholds) are bound
parameters (``$name``); table and column names come from the registry and are quoted by
:func:`ioc.store.quote_ident`. The SQL text depends only on the KPI, the grouping, which filters
are present and the data source (raw or rollup), so it can be snapshotted in tests.

Common shape: ``scope`` = the active schools matching the filters, each in the version valid at
the hierarchy date; facts are aggregated per school (and time bucket) first, then joined to the
scope, so schools without facts still count in denominators where the definition says so.
"""

from __future__ import annotations

# ruff: noqa: S608 -- SQL text here holds only identifiers from the registry/code; values are bound
from collections.abc import Callable
from dataclasses import dataclass

from ioc.access import AccessScope
from ioc.metrics.registry import Kpi
from ioc.store import CATALOG_NAME, quote_ident

q = quote_ident

# key and label of each non-time grouping, over the scope's columns
UNIT_GROUPS: dict[str, tuple[str, str]] = {
    "all": ("'all'", "'all'"),
    "district": ("s.district_key", "s.district_name"),
    "ward": ("s.ward_key", "s.ward_name"),
    "school": ("s.school_id", "s.school_name"),
    "level": ("s.level", "s.level"),
    "ownership": ("s.ownership", "s.ownership"),
}


KEY_FORMATS = {"date": "%Y-%m-%d", "week": "%G-W%V", "month": "%Y-%m"}  # ISO week, e.g. 2026-W48


def time_key(by: str, day: str) -> str:
    """The time bucket (a DATE: the day, the week's Monday, the month's first day) holding ``day``.

    Buckets stay DATEs while rows are aggregated; they become text keys only on the final rows.
    """
    if by == "date":
        return day
    if by in ("week", "month"):
        return f"CAST(date_trunc('{by}', {day}) AS DATE)"
    raise ValueError(by)


@dataclass(frozen=True)
class Plan:
    """Everything about a query that changes the SQL text (not its parameter values)."""

    kpi: Kpi
    by: str
    filters: tuple[str, ...]  # names of the filters present, in FILTERS order
    catalog: str  # 'lake' or an attached read-only snapshot of it
    source: str  # 'raw' | 'rollup' (connectivity formulas only)
    access: bool = False  # the caller may read only some schools (ioc.access: $access_districts, ...)
    # tables read from elsewhere than the catalog: (table, qualified name) pairs (ioc.metrics.hot)
    sources: tuple[tuple[str, str], ...] = ()
    # a time series per unit of this level (district, ward, school) at once: the rows lead with
    # ``unit`` (ioc.metrics.slices); only for PANEL_KINDS
    panel: str | None = None

    @property
    def is_time(self) -> bool:
        return self.by in ("date", "week", "month")

    def table(self, name: str) -> str:
        for table, qualified in self.sources:
            if table == name:
                return qualified
        return f"{self.catalog}.{q(name)}"

    def part(self, name: str) -> str:
        return q(str(self.kpi.formula.get(name)))


# the scope column naming each panel unit
PANEL_UNITS = {"district": "district_key", "ward": "ward_key", "school": "school_id"}


def allowed_sql(schools: str) -> str:
    """The ids of the schools an access scope allows (ioc.access's SQL condition, bound values
    ``AccessScope.sql_params``), judged on the latest version of each school in ``schools``
    (today's hierarchy)."""
    return f"""SELECT school_id FROM (
        SELECT school_id, coalesce(ward_code, ward_name) AS ward_key,
               coalesce(district_code, district_name) AS district_key
        FROM {schools}
        QUALIFY row_number() OVER (PARTITION BY school_id ORDER BY valid_from DESC, run_id DESC) = 1
    ) today
    WHERE {AccessScope.sql_condition("today")}"""


def scope_cte(plan: Plan) -> str:
    """Active schools in the version valid at $hierarchy_date (else the earliest), filtered."""
    filters = "".join(
        f"\n      AND {column} = ${name}"
        for name, column in (
            ("district", "district_key"),
            ("ward", "ward_key"),
            ("level", "level"),
            ("ownership", "ownership"),
            ("school", "school_id"),
        )
        if name in plan.filters
    )
    allowed = ""
    if plan.access:
        # a restricted caller's city: the schools its access scope (ioc.access) allows in today's
        # hierarchy (the live catalog's), whatever hierarchy date or snapshot the answer is of
        filters += "\n      AND school_id IN (SELECT school_id FROM allowed)"
        schools = plan.table("schools") if plan.catalog == CATALOG_NAME else CATALOG_NAME + ".schools"
        allowed = f"allowed AS (\n    {allowed_sql(schools)}\n),\n"
    unit, units = "", ""
    if plan.panel:
        unit = f", {PANEL_UNITS[plan.panel]} AS unit"
        units = ",\nunits AS (\n    SELECT unit, count(*) AS n FROM scope GROUP BY unit\n)"
    return f"""{allowed}versions AS (
    SELECT school_id, school_name, level, ownership,
           coalesce(ward_code, ward_name) AS ward_key, ward_name,
           coalesce(district_code, district_name) AS district_key, district_name,
           students, teachers, classrooms, active
    FROM {plan.table("schools")}
    QUALIFY row_number() OVER (
        PARTITION BY school_id
        ORDER BY (valid_from <= $hierarchy_date) DESC,
                 CASE WHEN valid_from <= $hierarchy_date THEN valid_from END DESC NULLS LAST,
                 valid_from, run_id DESC) = 1
),
scope AS (
    SELECT *{unit} FROM versions
    WHERE active{filters}
){units}"""


def _select(plan: Plan, ctes: list[str], body: str) -> str:
    sql = "WITH " + ",\n".join([scope_cte(plan), *ctes]) + "\n"
    if not plan.is_time:
        return sql + body + "\nORDER BY key"
    key = f"strftime(t.key, '{KEY_FORMATS[plan.by]}')"
    unit, order = ("t.unit, ", "t.unit, t.key") if plan.panel else ("", "t.key")
    return (
        sql
        + f"SELECT {unit}{key} AS key, {key} AS label, t.numerator, t.denominator, t.value, t.schools_reporting, t.as_of\n"
        f"FROM (\n{body}\n) t\nORDER BY {order}"
    )


def scope_count(plan: Plan) -> str:
    """The number of schools in the scope (in a panel: in the row's unit)."""
    return "max(u.n)" if plan.panel else "(SELECT count(*) FROM scope)"


def _grouped(plan: Plan, per_school: str, aggregates: str, *, buckets: str | None = None) -> str:
    """Join per-school facts (CTE ``per_school``: school_id[, key], ...) to the scope and group.

    Non-time groupings list every unit of the scope (schools without facts included); time
    groupings list the buckets of ``buckets`` (a CTE with ``key``) or those present in the facts.
    """
    if not plan.is_time:
        key, label = UNIT_GROUPS[plan.by]
        group = "" if plan.by == "all" else "\nGROUP BY 1"
        return (
            f"SELECT {key} AS key, {'min(' + label + ')' if plan.by != 'all' else label} AS label,\n"
            f"       {aggregates}\n"
            f"FROM scope s LEFT JOIN {per_school} p ON p.school_id = s.school_id{group}"
        )
    if buckets and plan.panel:
        return (
            f"SELECT u.unit, b.key, b.key AS label,\n       {aggregates}\n"
            f"FROM {buckets} b CROSS JOIN units u\n"
            f"LEFT JOIN ({per_school} p JOIN scope s ON s.school_id = p.school_id) ON p.key = b.key AND s.unit = u.unit\n"
            "GROUP BY u.unit, b.key"
        )
    if buckets:
        return (
            f"SELECT b.key, b.key AS label,\n       {aggregates}\n"
            f"FROM {buckets} b\n"
            f"LEFT JOIN ({per_school} p JOIN scope s ON s.school_id = p.school_id) ON p.key = b.key\n"
            "GROUP BY b.key"
        )
    if plan.panel:
        return (
            f"SELECT s.unit, p.key, p.key AS label,\n       {aggregates}\n"
            f"FROM {per_school} p JOIN scope s ON s.school_id = p.school_id\nGROUP BY s.unit, p.key"
        )
    return (
        f"SELECT p.key, p.key AS label,\n       {aggregates}\n"
        f"FROM {per_school} p JOIN scope s ON s.school_id = p.school_id\nGROUP BY p.key"
    )


def _day_buckets(plan: Plan) -> str:
    return f"""buckets AS (
    SELECT DISTINCT {time_key(plan.by, "g.d::DATE")} AS key
    FROM generate_series(CAST($date_from AS DATE), CAST($date_to AS DATE), INTERVAL 1 DAY) g(d)
)"""


def _bucket(plan: Plan, day: str) -> str:
    return f", {time_key(plan.by, day)} AS key" if plan.is_time else ""


def _ratio(numerator: str = "numerator", denominator: str = "denominator") -> str:
    return f"{numerator} / nullif({denominator}, 0)"


# -- attendance -----------------------------------------------------------------------------
def row_ratio(plan: Plan) -> str:
    f = plan.kpi.formula
    date = plan.part("date_column")
    given = f"\n      AND {plan.part('only_given')} IS NOT NULL" if f.get("only_given") else ""
    if plan.is_time:
        # one row per school and day: a day's schools are its rows; a week's need a distinct count
        schools = "count(*)" if plan.by == "date" else "count(DISTINCT a.school_id)"
        # a panel: the same rows per unit (a scope row is one school, so the join keeps each fact once)
        unit, join, group = ("s.unit, ", "JOIN", "1, 2") if plan.panel else ("", "SEMI JOIN", "1")
        body = f"""SELECT {unit}{time_key(plan.by, "a." + date)} AS key,
       coalesce(sum(a.{plan.part("numerator")}), 0) AS numerator, coalesce(sum(a.{plan.part("denominator")}), 0) AS denominator,
       sum(a.{plan.part("numerator")}) / nullif(sum(a.{plan.part("denominator")}), 0) AS value,
       {schools} AS schools_reporting, max(a.{date})::TIMESTAMPTZ AS as_of
FROM {plan.table(f.get("table"))} a {join} scope s ON s.school_id = a.school_id
WHERE a.{date} BETWEEN $date_from AND $date_to{given.replace("AND ", "AND a.")}
GROUP BY {group}"""
        return _select(plan, [], body)
    facts = f"""per_school AS (
    SELECT school_id,
           sum({plan.part("numerator")}) AS num, sum({plan.part("denominator")}) AS den, max({date}) AS last_day
    FROM {plan.table(f.get("table"))}
    WHERE {date} BETWEEN $date_from AND $date_to{given}
    GROUP BY school_id
)"""
    aggregates = """coalesce(sum(p.num), 0) AS numerator, coalesce(sum(p.den), 0) AS denominator,
       sum(p.num) / nullif(sum(p.den), 0) AS value,
       count(p.school_id) AS schools_reporting, max(p.last_day)::TIMESTAMPTZ AS as_of"""
    return _select(plan, [facts], _grouped(plan, "per_school", aggregates))


def reporting(plan: Plan) -> str:
    f = plan.kpi.formula
    date = plan.part("date_column")
    table = plan.table(f.get("table"))
    # a school day is a date on which any school of the whole city reported (not only the scope)
    days = f"""school_days AS (
    SELECT DISTINCT {date} AS day FROM {table} WHERE {date} BETWEEN $date_from AND $date_to
)"""
    if not plan.is_time:
        facts = f"""per_school AS (
    SELECT school_id, count(*) AS days_reported, max({date}) AS last_day
    FROM {table} WHERE {date} BETWEEN $date_from AND $date_to
    GROUP BY school_id
)"""
        aggregates = """coalesce(sum(p.days_reported), 0) AS numerator,
       (SELECT count(*) FROM school_days) * count(*) AS denominator,
       coalesce(sum(p.days_reported), 0) / nullif((SELECT count(*) FROM school_days) * count(*), 0) AS value,
       count(p.school_id) AS schools_reporting, max(p.last_day)::TIMESTAMPTZ AS as_of"""
        return _select(plan, [days, facts], _grouped(plan, "per_school", aggregates))
    facts = f"""per_day AS (
    SELECT a.{date} AS day, count(*) AS reported
    FROM {table} a SEMI JOIN scope s ON s.school_id = a.school_id
    WHERE a.{date} BETWEEN $date_from AND $date_to
    GROUP BY 1
)"""
    ctes = [days, facts]
    joined = "school_days d LEFT JOIN per_day r ON r.day = d.day"
    if plan.by == "date":
        schools = "coalesce(max(r.reported), 0)"  # one row per school and day
    else:
        ctes.append(f"""schools_in AS (
    SELECT {time_key(plan.by, "a." + date)} AS key, count(DISTINCT a.school_id) AS schools
    FROM {table} a SEMI JOIN scope s ON s.school_id = a.school_id
    WHERE a.{date} BETWEEN $date_from AND $date_to
    GROUP BY 1
)""")
        joined += f" LEFT JOIN schools_in i ON i.key = {time_key(plan.by, 'd.day')}"
        schools = "coalesce(max(i.schools), 0)"
    # school days are distinct dates, so count(*) counts the bucket's school days
    body = f"""SELECT {time_key(plan.by, "d.day")} AS key,
       coalesce(sum(r.reported), 0) AS numerator, count(*) * (SELECT count(*) FROM scope) AS denominator,
       coalesce(sum(r.reported), 0) / nullif(count(*) * (SELECT count(*) FROM scope), 0) AS value,
       {schools} AS schools_reporting, max(r.day)::TIMESTAMPTZ AS as_of
FROM {joined}
GROUP BY 1"""
    return _select(plan, ctes, body)


# -- connectivity over a window ----------------------------------------------------------------
def _probe_facts(plan: Plan, raw_columns: str, rollup_columns: str) -> str:
    """Per school (and bucket) probe counts over [$date_from, $date_to], from raw probes or the rollup."""
    group = "school_id, key" if plan.is_time else "school_id"
    if plan.source == "rollup":
        return f"""per_school AS (
    SELECT school_id{_bucket(plan, "day")}, {rollup_columns}, max(last_at) AS last_at
    FROM {plan.table("connectivity_daily")}
    WHERE day BETWEEN $date_from AND $date_to
    GROUP BY {group}
)"""
    return f"""per_school AS (
    SELECT school_id{_bucket(plan, "measured_at::DATE")}, {raw_columns}, max(measured_at) AS last_at
    FROM {plan.table(plan.kpi.formula.get("table"))}
    WHERE measured_at >= CAST($date_from AS TIMESTAMPTZ) AND measured_at < CAST(CAST($date_to AS DATE) + 1 AS TIMESTAMPTZ)
    GROUP BY {group}
)"""


COUNTS_RAW = (
    "count(*) AS probes, count(*) FILTER (WHERE online) AS online, "
    "count(*) FILTER (WHERE online AND download_mbps >= $threshold) AS fast"
)
COUNTS_ROLLUP = "sum(probes) AS probes, sum(online) AS online, sum(fast) AS fast"


def probe_coverage(plan: Plan) -> str:
    facts = _probe_facts(plan, COUNTS_RAW, COUNTS_ROLLUP)
    # covered: at least half of the school's probes were fast (offline probes are never fast)
    covered = "p.probes > 0 AND 2 * p.fast >= p.probes"
    if plan.is_time:
        aggregates = f"""count(*) FILTER (WHERE {covered}) AS numerator, {scope_count(plan)} AS denominator,
       count(*) FILTER (WHERE {covered}) / nullif({scope_count(plan)}, 0) AS value,
       count(p.school_id) AS schools_reporting, max(p.last_at) AS as_of"""
        return _select(
            plan, [facts, _day_buckets(plan)], _grouped(plan, "per_school", aggregates, buckets="buckets")
        )
    aggregates = f"""count(*) FILTER (WHERE {covered}) AS numerator, count(*) AS denominator,
       count(*) FILTER (WHERE {covered}) / nullif(count(*), 0) AS value,
       count(p.school_id) AS schools_reporting, max(p.last_at) AS as_of"""
    return _select(plan, [facts], _grouped(plan, "per_school", aggregates))


def probe_ratio(plan: Plan) -> str:
    facts = _probe_facts(plan, COUNTS_RAW, COUNTS_ROLLUP)
    column = "p." + plan.part("numerator")
    aggregates = f"""coalesce(sum({column}), 0) AS numerator, coalesce(sum(p.probes), 0) AS denominator,
       sum({column}) / nullif(sum(p.probes), 0) AS value,
       count(p.school_id) AS schools_reporting, max(p.last_at) AS as_of"""
    buckets = "buckets" if plan.is_time else None
    ctes = [facts, _day_buckets(plan)] if plan.is_time else [facts]
    return _select(plan, ctes, _grouped(plan, "per_school", aggregates, buckets=buckets))


def probe_median(plan: Plan) -> str:
    # exact: the median needs every value, so it always reads the raw probes
    column = plan.part("column")
    table = plan.table(plan.kpi.formula.get("table"))
    key, label = ("t.key", "t.key") if plan.is_time else UNIT_GROUPS[plan.by]
    ctes = []
    bucket, join = "", ""
    if plan.is_time:
        # local day of each probe through its 15-minute slot (an equi-join) instead of converting
        # every timestamp to a local date; slots never straddle local midnight
        ctes.append("""slot_days AS (
    SELECT epoch_us(g.ts) // 900000000 AS slot, CAST(g.ts AS DATE) AS day
    FROM generate_series(CAST($date_from AS TIMESTAMPTZ),
                         CAST(CAST($date_to AS DATE) + 1 AS TIMESTAMPTZ) - INTERVAL 15 MINUTE, INTERVAL 15 MINUTE) g(ts)
)""")
        bucket = f", {time_key(plan.by, 'd.day')} AS key"
        join = " JOIN slot_days d ON epoch_us(c.measured_at) // 900000000 = d.slot"
    probes = f"""probes AS (
    SELECT c.school_id, c.{column} AS v, c.measured_at{bucket}
    FROM {table} c{join}
    WHERE c.measured_at >= CAST($date_from AS TIMESTAMPTZ) AND c.measured_at < CAST(CAST($date_to AS DATE) + 1 AS TIMESTAMPTZ)
      AND c.online AND c.{column} IS NOT NULL
)"""
    ctes.append(probes)
    source = (
        "probes t JOIN scope s ON s.school_id = t.school_id"
        if plan.is_time
        else ("scope s LEFT JOIN probes t ON t.school_id = s.school_id")
    )
    group = "" if plan.by == "all" else "\nGROUP BY 1"
    unit = ""
    if plan.panel:  # a series per unit: the median of each unit's probes of each bucket
        unit, group = "s.unit, ", "\nGROUP BY 1, 2"
    label_sql = label if plan.by == "all" or plan.is_time else f"min({label})"
    body = f"""SELECT {unit}{key} AS key, {label_sql} AS label,
       NULL::DOUBLE AS numerator, count(t.v) AS denominator, median(t.v) AS value,
       count(DISTINCT t.school_id) AS schools_reporting, max(t.measured_at) AS as_of
FROM {source}{group}"""
    return _select(plan, ctes, body)


def probe_per_student(plan: Plan) -> str:
    column = plan.part("column")
    raw = f"count({column}) FILTER (WHERE online) AS measured, sum({column}) FILTER (WHERE online) AS total"
    facts = _probe_facts(plan, raw, "sum(measured) AS measured, sum(sum_download) AS total")
    # a school's mean speed counts against its students only when it has online measurements
    mean = "p.total / nullif(p.measured, 0)"
    aggregates = f"""coalesce(sum({mean}), 0) AS numerator,
       coalesce(sum(s.students) FILTER (WHERE p.measured > 0), 0) AS denominator,
       sum({mean}) / nullif(sum(s.students) FILTER (WHERE p.measured > 0), 0) AS value,
       count(p.school_id) FILTER (WHERE p.measured > 0) AS schools_reporting, max(p.last_at) AS as_of"""
    return _select(plan, [facts], _grouped(plan, "per_school", aggregates))


# -- evaluated at a point (the end of the period or of each time bucket) ------------------------
def _ends(plan: Plan, days: str) -> str:
    """CTE ``ends(key, e)``: the evaluation dates, one per group (the latest of ``days`` per bucket)."""
    if plan.is_time:
        return f"""ends AS (
    SELECT {time_key(plan.by, "day")} AS key, max(day) AS e FROM {days}
    WHERE day BETWEEN $date_from AND $date_to GROUP BY 1
)"""
    return f"""ends AS (
    SELECT 'all' AS key, max(day) AS e FROM {days} WHERE day <= $date_to
)"""


def _point_grouped(plan: Plan, aggregates: str) -> str:
    """Group per-school facts ``per_school(key, school_id, ...)`` evaluated at each end."""
    if plan.is_time and plan.panel:
        return (
            f"SELECT u.unit, n.key, n.key AS label,\n       {aggregates}\n"
            "FROM ends n CROSS JOIN units u\n"
            "LEFT JOIN (per_school p JOIN scope s ON s.school_id = p.school_id) ON p.key = n.key AND s.unit = u.unit\n"
            "GROUP BY u.unit, n.key"
        )
    if plan.is_time:
        return (
            f"SELECT n.key, n.key AS label,\n       {aggregates}\n"
            "FROM ends n\n"
            "LEFT JOIN (per_school p JOIN scope s ON s.school_id = p.school_id) ON p.key = n.key\n"
            "GROUP BY n.key"
        )
    return _grouped(plan, "per_school", aggregates)


def chronic_absence(plan: Plan) -> str:
    f = plan.kpi.formula
    date = plan.part("date_column")
    table = plan.table(f.get("table"))
    # school days: dates on which any school of the city reported, numbered to count back 20 of them
    days = f"""school_days AS (
    SELECT day, row_number() OVER (ORDER BY day) AS n
    FROM (SELECT DISTINCT {date} AS day FROM {table} WHERE {date} <= $date_to)
)"""
    window = """windows AS (
    SELECT n.key, d.day
    FROM ends n JOIN school_days last ON last.day = n.e
    JOIN school_days d ON d.n BETWEEN last.n - $school_days + 1 AND last.n
)"""
    facts = f"""per_school AS (
    SELECT w.key, a.school_id, sum(a.present) / nullif(sum(a.enrolled), 0) AS rate, max(a.{date}) AS last_day
    FROM windows w JOIN {table} a ON a.{date} = w.day
    GROUP BY w.key, a.school_id
)"""
    at_risk = "p.rate < $below"
    aggregates = f"""count(*) FILTER (WHERE {at_risk}) AS numerator, count(p.rate) AS denominator,
       count(*) FILTER (WHERE {at_risk}) / nullif(count(p.rate), 0) AS value,
       count(p.rate) AS schools_reporting, max(p.last_day)::TIMESTAMPTZ AS as_of"""
    return _select(plan, [days, _ends(plan, "school_days"), window, facts], _point_grouped(plan, aggregates))


def offline_now(plan: Plan) -> str:
    table = plan.table(plan.kpi.formula.get("table"))
    # "now" is the newest probe of the city up to the end of `to` (per day for a series), so a
    # stalled feed shows on the data-health page instead of turning every school offline. The
    # scan is bounded by bound dates (files outside are skipped) and compares timestamps only:
    # turning each probe's time into a local date costs more than the rest of the query.
    probes = f"""probes AS (
    SELECT school_id, measured_at, online FROM {table}
    WHERE measured_at >= CAST($date_from AS TIMESTAMPTZ) - to_minutes(CAST($minutes AS BIGINT))
      AND measured_at < CAST(CAST($date_to AS DATE) + 1 AS TIMESTAMPTZ)
)"""
    # probes are matched to "now" through 15-minute slots (epoch arithmetic, an equi-join); every
    # time zone offset is a whole number of quarter hours, so a slot never straddles local midnight
    slot = "epoch_us({}) // 900000000"
    if plan.is_time:
        refs = f"""days AS (
    SELECT g.d::DATE AS day, CAST(g.d::DATE AS TIMESTAMPTZ) AS day_start, CAST(g.d::DATE + 1 AS TIMESTAMPTZ) AS day_end
    FROM generate_series(CAST($date_from AS DATE), CAST($date_to AS DATE), INTERVAL 1 DAY) g(d)
),
slots AS (
    SELECT {slot.format("measured_at")} AS slot, max(measured_at) AS last_at FROM probes GROUP BY 1
),
day_refs AS (
    SELECT d.day, max(t.last_at) AS ref
    FROM slots t JOIN days d ON t.last_at >= d.day_start AND t.last_at < d.day_end
    GROUP BY d.day
),
refs AS (
    SELECT {time_key(plan.by, "day")} AS key, max(ref) AS ref FROM day_refs GROUP BY 1
)"""
    else:
        refs = """refs AS (
    SELECT 'all' AS key, max(measured_at) AS ref FROM probes
    WHERE measured_at >= CAST($date_from AS TIMESTAMPTZ)
)"""
    online_now = f"""ref_slots AS (
    SELECT r.key, r.ref, {slot.format("r.ref")} - k.i AS slot
    FROM refs r, range(0, CAST($minutes AS BIGINT) // 15 + 2) k(i)
),
online_now AS (
    SELECT DISTINCT r.key, p.school_id
    FROM probes p JOIN ref_slots r ON {slot.format("p.measured_at")} = r.slot
    WHERE p.online AND p.measured_at > r.ref - to_minutes(CAST($minutes AS BIGINT)) AND p.measured_at <= r.ref
)"""
    offline = "o.school_id IS NULL"
    if plan.is_time:
        body = f"""SELECT r.key,
       count(*) FILTER (WHERE {offline}) AS numerator, count(*) AS denominator,
       CASE WHEN count(*) > 0 THEN count(*) FILTER (WHERE {offline}) END AS value,
       count(o.school_id) AS schools_reporting, max(r.ref) AS as_of
FROM refs r CROSS JOIN scope s LEFT JOIN online_now o ON o.key = r.key AND o.school_id = s.school_id
GROUP BY r.key"""
    else:
        key, label = UNIT_GROUPS[plan.by]
        group = "" if plan.by == "all" else "\nGROUP BY 1"
        label_sql = label if plan.by == "all" else f"min({label})"
        body = f"""SELECT {key} AS key, {label_sql} AS label,
       count(*) FILTER (WHERE {offline}) AS numerator, count(*) AS denominator,
       CASE WHEN count(*) > 0 THEN count(*) FILTER (WHERE {offline}) END AS value,
       count(o.school_id) AS schools_reporting, (SELECT max(ref) FROM refs) AS as_of
FROM scope s LEFT JOIN online_now o ON o.school_id = s.school_id{group}"""
    return _select(plan, [probes, refs, online_now], body)


def _snapshots(plan: Plan) -> list[str]:
    """The evaluation ends and each scope school's latest digital snapshot with as_of <= the end."""
    table = plan.table(plan.kpi.formula.get("table"))
    if plan.is_time:
        ends = f"""ends AS (
    SELECT {time_key(plan.by, "g.d::DATE")} AS key, max(g.d::DATE) AS e
    FROM generate_series(CAST($date_from AS DATE), CAST($date_to AS DATE), INTERVAL 1 DAY) g(d)
    GROUP BY 1
)"""
    else:
        ends = "ends AS (SELECT 'all' AS key, CAST($date_to AS DATE) AS e)"
    # only the scope's schools: what is outside is dropped by the grouping's join to the scope anyway
    if plan.is_time:
        snaps = f"""snapshots AS (
    SELECT n.key, n.e, d.*
    FROM ends n JOIN {table} d ON d.as_of <= n.e
    WHERE d.school_id IN (SELECT school_id FROM scope)
    QUALIFY row_number() OVER (PARTITION BY n.key, d.school_id ORDER BY d.as_of DESC) = 1
)"""
    else:
        snaps = f"""snapshots AS (
    SELECT 'all' AS key, CAST($date_to AS DATE) AS e, d.*
    FROM {table} d WHERE d.as_of <= $date_to AND d.school_id IN (SELECT school_id FROM scope)
    QUALIFY row_number() OVER (PARTITION BY d.school_id ORDER BY d.as_of DESC) = 1
)"""
    return [ends, snaps]


def snapshot_ratio(plan: Plan) -> str:
    f = plan.kpi.formula
    numerator = plan.part("numerator")
    denominator = f"s.{plan.part('denominator')}" if f.get("denominator") else "1"
    facts = f"""per_school AS (
    SELECT key, school_id, CAST({numerator} AS DOUBLE) AS num, as_of FROM snapshots
)"""
    aggregates = f"""coalesce(sum(p.num), 0) AS numerator, coalesce(sum({denominator}) FILTER (WHERE p.school_id IS NOT NULL), 0) AS denominator,
       sum(p.num) / nullif(sum({denominator}) FILTER (WHERE p.school_id IS NOT NULL), 0) AS value,
       count(p.school_id) AS schools_reporting, max(p.as_of)::TIMESTAMPTZ AS as_of"""
    return _select(plan, [*_snapshots(plan), facts], _point_grouped(plan, aggregates))


def readiness_index(plan: Plan) -> str:
    # coverage of each school of the scope over the coverage_days ending at each evaluation end
    in_scope = "school_id IN (SELECT school_id FROM scope)"
    if plan.source == "rollup" and not plan.is_time:
        coverage = f"""coverage AS (
    SELECT 'all' AS key, school_id, sum(probes) AS probes, sum(fast) AS fast
    FROM {plan.table("connectivity_daily")}
    WHERE day BETWEEN CAST($date_to AS DATE) - CAST($coverage_days AS INTEGER) + 1 AND $date_to
      AND {in_scope}
    GROUP BY school_id
)"""
    elif plan.source == "rollup":
        coverage = f"""coverage AS (
    SELECT n.key, r.school_id, sum(r.probes) AS probes, sum(r.fast) AS fast
    FROM ends n JOIN {plan.table("connectivity_daily")} r
      ON r.day BETWEEN n.e - CAST($coverage_days AS INTEGER) + 1 AND n.e
    WHERE r.day BETWEEN CAST($date_from AS DATE) - CAST($coverage_days AS INTEGER) + 1 AND $date_to
      AND r.{in_scope}
    GROUP BY n.key, r.school_id
)"""
    else:
        coverage = f"""coverage AS (
    SELECT n.key, c.school_id, count(*) AS probes,
           count(*) FILTER (WHERE c.online AND c.download_mbps >= $threshold) AS fast
    FROM ends n JOIN {plan.table("connectivity")} c
      ON c.measured_at >= CAST(n.e - CAST($coverage_days AS INTEGER) + 1 AS TIMESTAMPTZ)
     AND c.measured_at < CAST(n.e + 1 AS TIMESTAMPTZ)
    WHERE c.measured_at >= CAST(CAST($date_from AS DATE) - CAST($coverage_days AS INTEGER) + 1 AS TIMESTAMPTZ)
      AND c.measured_at < CAST(CAST($date_to AS DATE) + 1 AS TIMESTAMPTZ)
      AND c.{in_scope}
    GROUP BY n.key, c.school_id
)"""

    def clip(expr: str) -> str:
        # a component with a zero denominator counts as 0 (nothing to credit)
        return f"least(1.0, greatest(0.0, coalesce({expr}, 0)))"

    facts = f"""per_school AS (
    SELECT d.key, d.school_id, d.as_of,
           100.0 * (
             {clip("d.student_devices / nullif(v.students, 0)")}
           + {clip("d.smart_classrooms / nullif(v.classrooms, 0)")}
           + {clip("d.teachers_trained / nullif(v.teachers, 0)")}
           + {clip("d.lms_active_students / nullif(v.students, 0)")}
           + CASE WHEN d.e_transcript THEN 1.0 ELSE 0.0 END
           + {clip("d.cashless_share")}
           + CASE WHEN c.probes > 0 AND 2 * c.fast >= c.probes THEN 1.0 ELSE 0.0 END
           ) / 7 AS idx
    FROM snapshots d JOIN versions v ON v.school_id = d.school_id
    LEFT JOIN coverage c ON c.key = d.key AND c.school_id = d.school_id
)"""
    aggregates = """coalesce(sum(p.idx), 0) AS numerator, count(p.idx) AS denominator,
       sum(p.idx) / nullif(count(p.idx), 0) AS value,
       count(p.idx) AS schools_reporting, max(p.as_of)::TIMESTAMPTZ AS as_of"""
    return _select(plan, [*_snapshots(plan), coverage, facts], _point_grouped(plan, aggregates))


BUILDERS: dict[str, Callable[[Plan], str]] = {
    "row_ratio": row_ratio,
    "reporting": reporting,
    "probe_coverage": probe_coverage,
    "probe_ratio": probe_ratio,
    "probe_median": probe_median,
    "probe_per_student": probe_per_student,
    "offline_now": offline_now,
    "chronic_absence": chronic_absence,
    "readiness_index": readiness_index,
    "snapshot_ratio": snapshot_ratio,
}

# formula kinds that can read the daily connectivity rollup (exact: they only need probe counts)
ROLLUP_KINDS = frozenset({"probe_coverage", "probe_ratio", "probe_per_student", "readiness_index"})


# formula kinds whose time series can be computed for every unit at once (Plan.panel): their
# series group per-school facts joined to the scope (_grouped, _point_grouped) and count the
# scope only through scope_count; the median groups the probes by unit and bucket, the
# attendance ratios their rows by unit and bucket
PANEL_KINDS = frozenset(
    {
        "row_ratio",
        "probe_coverage",
        "probe_median",
        "probe_ratio",
        "probe_per_student",
        "readiness_index",
        "snapshot_ratio",
        "chronic_absence",
    }
)


def build(plan: Plan) -> str:
    if plan.panel is not None and (not plan.is_time or plan.kpi.formula.kind not in PANEL_KINDS):
        raise ValueError(f"no panel for {plan.kpi.formula.kind} by {plan.by}")
    return BUILDERS[plan.kpi.formula.kind](plan)
