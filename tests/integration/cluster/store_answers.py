"""Every KPI answer of a store, for comparing two stores that hold the same data (the store tests).

Not a test module: tests/integration/cluster/test_store_*.py import it.
"""

from __future__ import annotations

import importlib.util
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ioc.metrics.engine import compute
from ioc.metrics.errors import QueryError
from ioc.metrics.query import BY, KpiQuery, Scope
from ioc.metrics.registry import KPIS

ROOT = Path(__file__).resolve().parents[3]
SEED_STORE = ROOT / "tests" / "fixtures" / "metrics" / "seed_store.py"

# the seed's days (tests/fixtures/metrics/seed_store.py): default period, a week, a month, a past hierarchy
PERIODS: tuple[dict[str, Any], ...] = (
    {},
    {"date_from": date(2026, 11, 16), "date_to": date(2026, 11, 22)},
    {"date_from": date(2026, 11, 1), "date_to": date(2026, 11, 30), "hierarchy_date": date(2026, 11, 1)},
)
SCOPES = (Scope(), Scope(level="primary"))


def seed_module() -> Any:
    spec = importlib.util.spec_from_file_location("metrics_seed_store_cluster", SEED_STORE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def questions(kpis: Any = None) -> list[KpiQuery]:
    """Each KPI by every grouping (default period, whole city), and by district over the other
    periods and scopes: about 180 questions."""
    out = []
    for kpi in kpis or KPIS:
        out += [KpiQuery(kpi, by=by) for by in BY]
        out += [
            KpiQuery(kpi, by="district", scope=scope, **period)
            for period in PERIODS[1:]
            for scope in SCOPES
            if (period, scope) != (PERIODS[0], SCOPES[0])
        ]
    return out


def answers(store: Any, kpis: Any = None) -> dict[KpiQuery, Any]:
    """Question -> the JSON answer without its data version (or the error)."""
    out: dict[KpiQuery, Any] = {}
    for q in questions(kpis):
        try:
            result: Any = compute(store, q).to_json()
            result.pop("data_version")
        except QueryError as error:
            result = ("error", error.param, error.message)
        out[q] = result
    return out


def _same(a: Any, b: Any, rel: float) -> bool:
    if isinstance(a, float) and isinstance(b, float) and rel:
        return a == pytest.approx(b, rel=rel)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], rel) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y, rel) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def assert_same_answers(expected: dict[KpiQuery, Any], got: dict[KpiQuery, Any], rel: float = 0.0) -> None:
    """The same answers; ``rel`` > 0 lets floats differ by that relative amount (summation order)."""
    assert got.keys() == expected.keys()
    different = [key for key in expected if not _same(got[key], expected[key], rel)]
    assert not different, (
        f"{len(different)} answers differ, e.g. {different[0]}: {got[different[0]]} != {expected[different[0]]}"
    )
    # the comparison is not empty: most questions have rows with values
    assert sum(1 for v in expected.values() if isinstance(v, dict) and v["rows"]) > len(expected) // 2
