"""The JSON API (Flask test client and a real HTTP server on 127.0.0.1) and `ioc kpi` agree.

Runs on the seed store (hand-checked numbers) and on a small demo store built through ingestion.
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from ioc.api import register_api
from ioc.metrics.engine import compute
from ioc.metrics.query import BY, KpiQuery, Scope
from ioc.metrics.registry import KPIS

IOC = Path(sys.executable).parent / "ioc"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from ioc.demo import build_demo
    from ioc.store import Store

    data_dir = tmp_path_factory.mktemp("metrics-demo") / "data"
    build_demo(data_dir, schools=60, attendance_days=30, probe_days=2, today=date(2026, 11, 23))
    store = Store(data_dir)
    yield store
    store.close()


def app_for(store, access=None) -> Flask:
    app = Flask("metrics-test")
    register_api(app, lambda: store, access)
    return app


@pytest.fixture(scope="module")
def server(demo):
    """A real HTTP server on 127.0.0.1 serving the API for the demo store."""
    httpd = make_server("127.0.0.1", 0, app_for(demo), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=10)


def http_get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers.get_content_type(), response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_content_type(), error.read().decode("utf-8")


def cli(store, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(IOC), "kpi", *args, "--data-dir", str(store.layout.root)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def numbers(payload: dict) -> list[tuple]:
    return [
        (r["key"], r["value"], r["numerator"], r["denominator"], r["schools_reporting"])
        for r in payload["rows"]
    ]


def same_numbers(a: list[tuple], b: list[tuple]) -> bool:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=False):
        assert x[0] == y[0] and x[4] == y[4]
        for u, v in zip(x[1:4], y[1:4], strict=False):
            assert (u is None and v is None) or math.isclose(u, v, rel_tol=1e-12), (x, y)
    return True


# -- test client on the seed --------------------------------------------------------------------
def test_api_answers_the_hand_checked_numbers(seed):
    client = app_for(seed).test_client()
    response = client.get(
        "/api/v1/kpis/attendance_rate?by=district&from=2026-11-18&to=20/11/2026&hierarchy_date=2026-11-01"
    )
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("kpi", "unit", "from", "to", "by")} == {
        "kpi": "attendance_rate",
        "unit": "ratio",
        "from": "2026-11-18",
        "to": "2026-11-20",
        "by": "district",
    }
    assert numbers(body) == [("760", 597 / 700, 597, 700, 2), ("778", 470 / 500, 470, 500, 2)]
    assert body["rows"][0]["label"] == "Quận 1"
    one = client.get("/api/v1/kpis/bandwidth_coverage?to=2026-11-20&district=Qu%E1%BA%ADn%201").get_json()
    # district 760 under the latest hierarchy: S1, S2 covered, S3 not
    assert numbers(one) == [("all", 2 / 3, 2, 3, 3)]


def test_api_csv(seed):
    client = app_for(seed).test_client()
    response = client.get("/api/v1/kpis/uptime?by=school&to=2026-11-20&format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["key"] for r in rows] == ["S1", "S2", "S3", "S4"]
    assert rows[1]["value"] == "0.75" and rows[3]["value"] == ""  # S4: no probe -> null


@pytest.mark.parametrize(
    "url, param",
    [
        ("/api/v1/kpis/attendance", "kpi"),
        ("/api/v1/kpis/attendance_rate?district=Qu%E1%BA%ADn%209", "district"),
        ("/api/v1/kpis/attendance_rate?ward=Nowhere", "ward"),
        ("/api/v1/kpis/attendance_rate?from=2026-11-21&to=2026-11-20", "from"),
        ("/api/v1/kpis/attendance_rate?to=2026-02-30", "to"),
        ("/api/v1/kpis/attendance_rate?by=province", "by"),
        ("/api/v1/kpis/attendance_rate?format=xml", "format"),
        ("/api/v1/kpis/attendance_rate?snapshot=99999", "snapshot"),
        ("/api/v1/kpis?lang=fr", "lang"),
    ],
)
def test_api_bad_parameters_are_400_naming_the_parameter(seed, url, param):
    response = app_for(seed).test_client().get(url)
    assert response.status_code == 400
    body = response.get_json()
    assert body["param"] == param and body["error"]


def test_api_access_scope_narrows_and_forbids(seed):
    client = app_for(seed, access=lambda: Scope(district="778")).test_client()
    body = client.get("/api/v1/kpis/attendance_rate?from=2026-11-18&to=2026-11-20").get_json()
    assert numbers(body) == [("all", 380 / 400, 380, 400, 1)]  # only S4 (778 under the latest hierarchy)
    denied = client.get("/api/v1/kpis/attendance_rate?district=760")
    assert denied.status_code == 403 and denied.get_json()["param"] == "district"


def test_definitions_and_openapi(seed):
    client = app_for(seed).test_client()
    kpis = client.get("/api/v1/kpis").get_json()["kpis"]
    assert [k["id"] for k in kpis] == list(KPIS)
    assert kpis[0]["name"] == {"vi": "Tỷ lệ chuyên cần", "en": "Attendance rate"}
    assert client.get("/api/v1/kpis?lang=en").get_json()["kpis"][0]["name"] == "Attendance rate"
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    path = doc["paths"]["/api/v1/kpis/{kpi_id}"]["get"]
    assert {p["name"] for p in path["parameters"]} >= {
        "kpi_id",
        "by",
        "from",
        "to",
        "district",
        "ward",
        "level",
        "format",
    }


# -- the CLI -------------------------------------------------------------------------------------
def test_cli_json_and_csv(seed):
    done = cli(seed, "reporting_rate", "--by", "date", "--from", "2026-11-18", "--to", "2026-11-21")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert numbers(body) == [
        ("2026-11-18", 0.75, 3, 4, 3),
        ("2026-11-19", 0.75, 3, 4, 3),
        ("2026-11-20", 0.5, 2, 4, 2),
    ]
    done = cli(
        seed,
        "attendance_rate",
        "--district",
        "Quận 7",
        "--from",
        "18/11/2026",
        "--to",
        "2026-11-19",
        "--format",
        "csv",
    )
    assert done.returncode == 0, done.stderr
    (row,) = list(csv.DictReader(io.StringIO(done.stdout)))
    assert (row["key"], float(row["numerator"]), float(row["denominator"])) == ("all", 380, 400)


@pytest.mark.parametrize(
    "args, flag",
    [
        (["nope"], "KPI_ID"),
        (["uptime", "--district", "Atlantis"], "--district"),
        (["uptime", "--from", "2026-11-21", "--to", "2026-11-20"], "--from"),
        (["uptime", "--to", "yesterday"], "--to"),
        (["uptime", "--by", "province"], "--by"),
        (["uptime", "--format", "xml"], "--format"),
    ],
)
def test_cli_bad_parameters_exit_2(seed, args, flag):
    done = cli(seed, *args)
    assert done.returncode == 2
    assert flag in done.stderr


def test_cli_without_a_store_exits_2(tmp_path):
    done = subprocess.run(
        [str(IOC), "kpi", "uptime", "--data-dir", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "no store" in done.stderr


# -- the demo store over real HTTP ------------------------------------------------------------
@pytest.mark.parametrize("kpi", list(KPIS))
def test_http_api_and_cli_agree_on_the_demo(demo, server, kpi):
    status, ctype, text = http_get(f"{server}/api/v1/kpis/{kpi}?by=district")
    assert status == 200 and ctype == "application/json"
    api = json.loads(text)
    done = cli(demo, kpi, "--by", "district")
    assert done.returncode == 0, done.stderr
    # equal up to the last bits of a float sum (DuckDB adds in parallel, in no fixed order)
    assert same_numbers(numbers(api), numbers(json.loads(done.stdout)))
    assert api["rows"], "the demo has districts"


def test_http_errors_and_csv(server):
    status, ctype, text = http_get(f"{server}/api/v1/kpis/uptime?district=Atlantis")
    assert status == 400 and json.loads(text)["param"] == "district"
    status, ctype, text = http_get(f"{server}/api/v1/kpis/uptime?by=level&format=csv")
    assert status == 200 and ctype == "text/csv" and text.startswith("kpi,unit,from,to,by,key")


def test_every_kpi_and_grouping_runs_and_rollup_equals_raw_on_the_demo(demo):
    for kpi in KPIS:
        for by in BY:
            auto = compute(demo, KpiQuery(kpi, by=by))
            raw = compute(demo, KpiQuery(kpi, by=by), source="raw")
            assert [r.key for r in auto.rows] == [r.key for r in raw.rows], (kpi, by)
            for a, b in zip(auto.rows, raw.rows, strict=False):
                assert a.denominator == b.denominator and a.schools_reporting == b.schools_reporting, (
                    kpi,
                    by,
                    a.key,
                )
                assert math.isclose(a.numerator or 0, b.numerator or 0, rel_tol=1e-9), (kpi, by, a.key)
                if a.value is not None and KPIS[kpi].unit == "ratio":
                    assert 0 <= a.value <= 1


# -- explore's previous-period columns against `ioc kpi` and the API for that period -----------
@pytest.mark.parametrize(
    ("kpi", "by", "to"),
    [
        ("attendance_rate", "district", "2026-11-20"),  # a Friday: the day before is a school day
        ("attendance_rate", "level", "2026-11-23"),  # a Monday: compared with the Friday before
        ("reporting_rate", "district", "2026-11-20"),  # a week (from 16th): the 5 days before it
        ("attendance_rate", "week", None),  # each week with the week before
    ],
)
def test_the_previous_period_columns_are_ioc_kpi_for_that_period(demo, server, kpi, by, to):
    from ioc import exports
    from ioc.metrics.front import Metrics

    args = {"kpi": kpi, "by": by, **({"to": to} if to else {})}
    if by == "week":
        args["from"] = "2026-11-02"  # a Monday: whole weeks
    if kpi == "reporting_rate":
        args["from"] = "2026-11-16"
    req = exports.ExportRequest.from_args(args)
    content, _, _ = exports.export(Metrics(demo, cached=False), req, "csv")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows and any(r["previous_value"] for r in rows)
    comparison = Metrics(demo, cached=False).compare(req.query())
    if by == "week":  # each row's own previous week, asked of the CLI week by week
        for row in rows:
            monday = datetime.strptime(row["previous_key"] + "-1", "%G-W%V-%u").date()
            sunday = monday + timedelta(days=6)
            done = cli(demo, kpi, "--by", "week", "--from", monday.isoformat(), "--to", sunday.isoformat())
            expected = {r["key"]: r for r in json.loads(done.stdout)["rows"]}.get(row["previous_key"])
            assert_same(row, expected)
        return
    period = [comparison.date_from.isoformat(), comparison.date_to.isoformat()]
    done = cli(demo, kpi, "--by", by, "--from", period[0], "--to", period[1])
    assert done.returncode == 0, done.stderr
    expected = {r["key"]: r for r in json.loads(done.stdout)["rows"]}
    status, _, text = http_get(f"{server}/api/v1/kpis/{kpi}?by={by}&from={period[0]}&to={period[1]}")
    assert status == 200 and {r["key"] for r in json.loads(text)["rows"]} == set(expected)
    for row in rows:
        assert_same(row, expected.get(row["key"]))


def assert_same(row: dict, expected: dict | None) -> None:
    """An export row's previous columns are the CLI's row for the previous period (or empty)."""
    if expected is None or not expected["schools_reporting"]:
        assert row["previous_value"] == "", row
        return
    for column, name in (("previous_value", "value"), ("previous_numerator", "numerator")):
        if expected[name] is None:
            assert row[column] == ""
        else:
            assert math.isclose(float(row[column]), expected[name], rel_tol=1e-9), (row, expected)
    if row["value"] and expected["value"] is not None:
        assert math.isclose(float(row["change"]), float(row["value"]) - expected["value"], abs_tol=1e-12)
