"""A snapshot of the SQL each KPI generates, so a change in a query is visible in review.

Regenerate after an intended change with:  IOC_UPDATE_SQL_SNAPSHOTS=1 .venv/bin/python -m pytest tests/unit/metrics/test_sql_snapshots.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ioc.metrics import formulas
from ioc.metrics.engine import plan_sql
from ioc.metrics.query import Scope
from ioc.metrics.registry import KPIS

SNAPSHOTS = Path(__file__).resolve().parents[2] / "fixtures" / "metrics" / "sql"
# the shapes snapshotted for every KPI: (grouping, filters, source)
SHAPES = (
    ("all", Scope(), "raw"),
    ("district", Scope(level="primary"), "raw"),
    ("date", Scope(), "raw"),
)
# the restricted (officer) variant: the access filter of ioc.access in the scope every KPI reads
RESTRICTED = (
    ("all", Scope(), "raw"),
    ("school", Scope(district="760"), "raw"),
)
# the panel queries (a time series of every unit of a level at once, ioc.metrics.slices)
PANELS = ("district", "ward", "school")


def _header(kpi_id: str, by: str, scope: Scope, source: str, extra: str = "") -> str:
    filters = ",".join(name for name, _ in scope.items()) or "none"
    return f"-- {kpi_id}: by={by} filters={filters} source={source}{extra}\n"


def render(kpi_id: str) -> str:
    kpi = KPIS[kpi_id]
    shapes = list(SHAPES)
    rollup = kpi.formula.kind in formulas.ROLLUP_KINDS
    if rollup:
        shapes += [("all", Scope(), "rollup"), ("date", Scope(), "rollup")]
    parts = []
    for by, scope, source in shapes:
        parts.append(_header(kpi_id, by, scope, source) + f"{plan_sql(kpi, by, scope, 'lake', source)};\n")
    for by, scope, source in RESTRICTED + ((("all", Scope(), "rollup"),) if rollup else ()):
        sql = plan_sql(kpi, by, scope, "lake", source, access=True)
        parts.append(_header(kpi_id, by, scope, source, " access=officer") + f"{sql};\n")
    if kpi.formula.kind in formulas.PANEL_KINDS:
        for level in PANELS:
            for access in (False, True):
                sql = plan_sql(
                    kpi, "date", Scope(), "lake", "rollup" if rollup else "raw", access=access, panel=level
                )
                extra = f" panel={level}" + (" access=officer" if access else "")
                parts.append(
                    _header(kpi_id, "date", Scope(), "rollup" if rollup else "raw", extra) + f"{sql};\n"
                )
    return "\n".join(parts)


@pytest.mark.parametrize("kpi_id", list(KPIS))
def test_sql_matches_snapshot(kpi_id):
    file = SNAPSHOTS / f"{kpi_id}.sql"
    text = render(kpi_id)
    if os.environ.get("IOC_UPDATE_SQL_SNAPSHOTS"):
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
    assert file.exists(), f"no snapshot {file}; run with IOC_UPDATE_SQL_SNAPSHOTS=1"
    assert text == file.read_text(encoding="utf-8"), f"SQL of {kpi_id} changed; review and regenerate"


def test_request_values_never_reach_the_sql_text():
    # filters appear as bound parameters only
    sql = plan_sql(KPIS["attendance_rate"], "district", Scope(district="Quận 1'; DROP TABLE schools; --"))
    assert "Quận 1" not in sql and "DROP" not in sql and "$district" in sql


def test_an_officers_sql_reads_their_schools_in_todays_hierarchy():
    """The access filter reads each school's latest version (today's hierarchy), never the
    hierarchy date the answer is grouped by; its values are bound parameters."""
    sql = plan_sql(KPIS["attendance_rate"], "school", Scope(district="760"), access=True)
    allowed = sql[sql.index("allowed AS") : sql.index("versions AS")]
    assert "$hierarchy_date" not in allowed and "ORDER BY valid_from DESC, run_id DESC" in allowed
    for param in ("$access_districts", "$access_wards", "$access_schools"):
        assert param in allowed
    assert "AND school_id IN (SELECT school_id FROM allowed)" in sql
    # a time-travel query filters by today's hierarchy too (the live catalog), not the snapshot's
    old = plan_sql(KPIS["attendance_rate"], "school", Scope(), catalog="lake_at_7", access=True)
    assert "FROM lake.schools" in old[old.index("allowed AS") : old.index("versions AS")]
