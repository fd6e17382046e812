"""The daily connectivity rollup is exact: raw and rollup answers agree, also after re-sent probes."""

from __future__ import annotations

# ruff: noqa: S608 -- SQL text here holds only identifiers from the registry/code; values are bound
import importlib.util
from datetime import date
from pathlib import Path

import pytest

from ingest.load import ingest_paths
from ioc import rollups
from ioc.metrics import engine
from ioc.metrics.engine import compute
from ioc.metrics.query import BY, KpiQuery

ROLLUP_KPIS = ("bandwidth_coverage", "uptime", "mbps_per_student", "digital_readiness")


@pytest.mark.parametrize("kpi", ROLLUP_KPIS)
@pytest.mark.parametrize("by", BY)
def test_raw_and_rollup_agree(seed, kpi, by):
    q = KpiQuery(kpi, by=by, date_from=date(2026, 11, 10), date_to=date(2026, 11, 25))
    raw = compute(seed, q, source="raw")
    rolled = compute(seed, q, source="rollup")
    assert raw.rows, "every grouping lists its units or days"
    _same(raw, rolled)


def _same(a, b):
    assert len(a.rows) == len(b.rows)
    for x, y in zip(a.rows, b.rows, strict=False):
        assert (x.key, x.schools_reporting) == (y.key, y.schools_reporting)
        assert x.numerator == pytest.approx(y.numerator)
        assert x.denominator == pytest.approx(y.denominator)
        assert x.value == (None if y.value is None else pytest.approx(y.value))


def test_auto_uses_the_rollup_when_built_with_the_current_threshold(seed, monkeypatch):
    version = seed.data_version()
    assert engine.rollup_ready(seed, "lake", version)
    monkeypatch.setenv("IOC_BANDWIDTH_THRESHOLD_MBPS", "25")
    assert not engine.rollup_ready(seed, "lake", version)  # a changed setting falls back to raw


def _seed_module():
    spec = importlib.util.spec_from_file_location(
        "metrics_seed_store_r", Path(__file__).resolve().parents[2] / "fixtures" / "metrics" / "seed_store.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rollup_matches_raw_table_after_loads_and_threshold_change(tmp_path, monkeypatch):
    store = _seed_module().build(tmp_path / "data")
    expected = f"SELECT * FROM ({rollups.DAILY_SELECT} GROUP BY ALL) ORDER BY day, school_id"
    stored = "SELECT * FROM connectivity_daily ORDER BY day, school_id"
    assert store.execute(stored).rows == store.execute(expected, {"threshold": 20.0}).rows
    # the threshold changes: the next load rebuilds the rollup with it (S2's two 20 Mbps probes stop counting)
    monkeypatch.setenv("IOC_BANDWIDTH_THRESHOLD_MBPS", "21")
    probe = tmp_path / "connectivity_2026-11-22.csv"
    probe.write_text(
        "measured_at,school_id,download_mbps,upload_mbps,latency_ms,online\n2026-11-22T09:00:00,S4,30,10,10,true\n",
        encoding="utf-8",
    )
    (result,) = ingest_paths(store, [probe])
    assert result.status == "loaded"
    assert store.execute(stored).rows == store.execute(expected, {"threshold": 21.0}).rows
    s2 = store.execute("SELECT fast FROM connectivity_daily WHERE school_id = 'S2'").scalar()
    assert s2 == 0
    q = KpiQuery("bandwidth_coverage", date_to=date(2026, 11, 22))
    assert compute(store, q, source="raw").rows[0].numerator == compute(store, q).rows[0].numerator
    store.close()
