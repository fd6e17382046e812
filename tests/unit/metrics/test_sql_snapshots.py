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


def render(kpi_id: str) -> str:
    kpi = KPIS[kpi_id]
    shapes = list(SHAPES)
    if kpi.formula.kind in formulas.ROLLUP_KINDS:
        shapes += [("all", Scope(), "rollup"), ("date", Scope(), "rollup")]
    parts = []
    for by, scope, source in shapes:
        filters = ",".join(name for name, _ in scope.items()) or "none"
        parts.append(
            f"-- {kpi_id}: by={by} filters={filters} source={source}\n{plan_sql(kpi, by, scope, 'lake', source)};\n"
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
