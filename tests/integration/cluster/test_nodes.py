"""Several app nodes: two gunicorn processes (2 workers each) standing in for two machines, on one
shared data folder (store, accounts database, secret key) and one Redis cache.

- a KPI asked on node 1 then node 2 is computed once for all four workers (the computations
  counted by /metrics, summed over both nodes); after an ingestion (new data version) once again;
- a session opened on node 1 works on node 2, and signing out on node 2 ends it on node 1;
- /healthz, /readyz and /metrics answer (Prometheus text that prometheus_client parses);
- with its Redis stopped a node still answers KPIs and /readyz stays 200, naming Redis as degraded
  until Redis is back; of a node's two workers only one warms the cache for a data version.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, _load_metrics_seed_module
from tests.servers import free_port, redis, stop_group, wait_until_answers

PASSWORD = "cluster-pass-2026!"
METRICS_TOKEN = "scrape-me-please"
QUERY = "/api/v1/kpis/attendance_rate?by=school&from=2026-11-18&to=2026-11-21"
IOC = [sys.executable, "-m", "ioc.cli"]


@dataclass
class Node:
    name: str
    port: int
    proc: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=60, allow_redirects=False, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(self.url + path, timeout=60, allow_redirects=False, **kwargs)

    def metrics(self) -> dict[str, Any]:
        response = self.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert response.status_code == 200, response.text
        return {family.name: family for family in text_string_to_metric_families(response.text)}


def _env(data_dir: Path, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IOC_", "PROMETHEUS_"))}
    env.update(
        IOC_DATA_DIR=str(data_dir),
        IOC_CACHE_REDIS_URL=redis_url,
        IOC_AUTH_REQUIRED="true",
        IOC_METRICS_TOKEN=METRICS_TOKEN,
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def _ioc(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [*IOC, *args], env=env, input=stdin, capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def _start(name: str, command: list[str], env: dict[str, str], folder: Path, port: int) -> Node:
    log = folder / f"{name}.log"
    proc = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    node = Node(name, port, proc, log)
    wait_until_answers(proc, f"http://127.0.0.1:{port}/healthz", log, timeout=180, stop_timeout=60)
    return node


def _gunicorn(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:ioc.gunicorn_conf",
        "-w",
        "2",
        "-b",
        f"127.0.0.1:{port}",
        "ioc.wsgi:application",
    ]


def _stop(node: Node) -> None:
    stop_group(node.proc, timeout=60)  # gunicorn's master stops its workers


def _sample_sum(families: dict[str, Any], sample_name: str, **labels: str) -> float:
    family_name = re.sub(r"_(total|count|sum|bucket)$", "", sample_name)
    family = families.get(family_name)
    if family is None:
        return 0.0
    return sum(
        s.value
        for s in family.samples
        if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def _computations(nodes: list[Node], kpi: str) -> float:
    return sum(_sample_sum(n.metrics(), "ioc_kpi_query_seconds_count", kpi=kpi) for n in nodes)


def _admin_and_token(env: dict[str, str]) -> str:
    """An admin account (password sign-in) and an API token in the deployment's accounts database."""
    _ioc(env, "users", "add", "an", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    return re.search(r"(ioc_api_\S+)", _ioc(env, "tokens", "add", "cluster", "--kind", "api")).group(1)


@pytest.fixture(scope="module")
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The seed store, an admin account and an API token in one data folder (for node3)."""
    data_dir = tmp_path_factory.mktemp("cluster-folder") / "data"
    _load_metrics_seed_module().build(data_dir).close()
    return data_dir, _admin_and_token(_env(data_dir, ""))


@pytest.fixture(scope="module", params=["shared-folder", "postgresql"])
def cluster(
    request: pytest.FixtureRequest, redis_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    """Two nodes of two gunicorn workers and one Redis, on

    - shared-folder: one data folder (SQLite catalog, Parquet files, accounts, secret key) for both;
    - postgresql: a data folder per node (two machines), the DuckLake catalog and the accounts in
      PostgreSQL, the Parquet files in a shared folder.
    """
    folder = tmp_path_factory.mktemp(f"cluster-{request.param}")
    extra: dict[str, str] = {"IOC_CACHE_WARM": "false"}
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_server").create_database("cluster_nodes")
        files = folder / "shared-files"
        files.mkdir()
        extra.update(IOC_CATALOG_URL=url, IOC_DATA_PATH=f"{files}/")
        data_dirs = [folder / "node1-data", folder / "node2-data"]
        _load_metrics_seed_module().build(data_dirs[0], catalog_url=url, data_path=f"{files}/").close()
    else:
        data_dirs = [folder / "data"] * 2
        _load_metrics_seed_module().build(data_dirs[0]).close()
    env = _env(data_dirs[0], redis_server.url, **extra)
    token = _admin_and_token(env)
    nodes: list[Node] = []
    try:
        for name, data_dir in zip(("node1", "node2"), data_dirs, strict=True):
            port = free_port()
            nodes.append(
                _start(name, _gunicorn(port), _env(data_dir, redis_server.url, **extra), folder, port)
            )
        yield {"nodes": nodes, "token": token, "env": env, "kind": request.param}
    finally:
        for node in nodes:
            _stop(node)


def test_a_kpi_is_computed_once_for_both_nodes_and_again_once_after_an_ingestion(
    cluster: dict, tmp_path: Path
) -> None:
    node1, node2 = cluster["nodes"]
    bearer = {"Authorization": f"Bearer {cluster['token']}"}
    before = _computations([node1, node2], "attendance_rate")

    first = node1.get(QUERY, headers=bearer)
    assert first.status_code == 200, first.text
    assert _computations([node1, node2], "attendance_rate") == before + 1
    for _ in range(4):  # whichever worker of node 2 answers, it finds node 1's answer in Redis
        again = node2.get(QUERY, headers=bearer)
        assert again.status_code == 200 and again.json() == first.json()
    assert _computations([node1, node2], "attendance_rate") == before + 1
    hits = sum(
        _sample_sum(n.metrics(), "ioc_kpi_cache_lookups_total", level="redis", result="hit")
        for n in (node1, node2)
    )
    assert hits >= 1

    # a new day of attendance: the data version moves on, so every node asks again -- once
    new_day = tmp_path / "attendance_2026-11-21.csv"
    new_day.write_text("date,school_id,enrolled,present\n2026-11-21,S1,100,99\n2026-11-21,S2,200,190\n")
    _ioc(cluster["env"], "ingest", str(new_day))
    second = node2.get(QUERY, headers=bearer)
    assert second.status_code == 200, second.text
    assert second.json()["data_version"] > first.json()["data_version"]
    assert second.json() != first.json()
    assert _computations([node1, node2], "attendance_rate") == before + 2
    for _ in range(4):
        assert node1.get(QUERY, headers=bearer).json() == second.json()
    assert _computations([node1, node2], "attendance_rate") == before + 2
    ingest_runs = node1.metrics()["ioc_ingest_runs"]
    loaded = {s.labels["dataset"]: s.value for s in ingest_runs.samples if s.labels["status"] == "loaded"}
    assert loaded["attendance"] == 5  # the seed's four attendance files and the new day


def _sign_in(node: Node) -> str:
    page = node.get("/login")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    response = node.post(
        "/login",
        data={"csrf": csrf, "username": "an", "password": PASSWORD, "next": "/explore"},
        cookies=page.cookies,
    )
    assert response.status_code == 302 and response.headers["Location"] == "/explore", response.text
    return response.cookies["ioc_session"]


def test_a_session_opened_on_one_node_works_on_the_other_and_ends_on_both(cluster: dict) -> None:
    node1, node2 = cluster["nodes"]
    session = {"ioc_session": _sign_in(node1)}
    assert node1.get("/api/v1/kpis", cookies=session).status_code == 200
    for _ in range(3):  # both workers of node 2
        assert node2.get("/api/v1/kpis", cookies=session).status_code == 200
        assert node2.get("/explore", cookies=session).status_code == 200
    assert node2.get("/api/v1/kpis").status_code == 401  # without the cookie

    form = node2.get("/logout", cookies=session)
    assert form.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    out = node2.post("/logout", data={"csrf": csrf}, cookies=session)
    assert out.status_code == 302 and "/login" in out.headers["Location"]
    for _ in range(3):
        assert node1.get("/api/v1/kpis", cookies=session).status_code == 401
        assert node1.get("/explore", cookies=session).status_code == 302  # to the sign-in page


def test_health_readiness_and_prometheus_metrics(cluster: dict) -> None:
    node1, node2 = cluster["nodes"]
    bearer = {"Authorization": f"Bearer {cluster['token']}"}
    assert node1.get("/api/v1/kpis/attendance_rate?by=district", headers=bearer).status_code == 200
    for node in (node1, node2):
        alive = node.get("/healthz")
        assert alive.status_code == 200 and alive.json() == {"status": "alive"}
        ready = node.get("/readyz")
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        assert ready.json()["status"] == "ready"
        assert {"store", "migrations", "redis", "accounts"} <= set(checks)
        assert all(c["ok"] for c in checks.values())
        assert node.get("/metrics").status_code == 401  # IOC_METRICS_TOKEN is set
        assert node.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401

    families = node1.metrics()
    for name in (
        "ioc_http_request_duration_seconds",
        "ioc_kpi_query_seconds",
        "ioc_kpi_cache_lookups",
        "ioc_ingest_runs",
        "ioc_data_age_seconds",
        "ioc_data_stale",
        "ioc_data_version",
        "ioc_store_up",
        "ioc_cache_redis_up",
    ):
        assert name in families, name
    assert families["ioc_http_request_duration_seconds"].type == "histogram"
    routes = {s.labels["route"] for s in families["ioc_http_request_duration_seconds"].samples}
    assert "/api/v1/kpis/<kpi_id>" in routes
    assert not any("attendance_rate" in r for r in routes)  # templates, not raw URLs
    ages = {s.labels["dataset"]: s.value for s in families["ioc_data_age_seconds"].samples}
    assert set(ages) == {"schools", "attendance", "digital", "connectivity"}
    assert all(age > 0 for age in ages.values())
    version = families["ioc_data_version"].samples[0].value
    assert version == json.loads(node1.get("/readyz").text)["checks"]["store"]["data_version"]
    assert families["ioc_cache_redis_up"].samples[0].value == 1
    assert families["ioc_store_up"].samples[0].value == 1


def test_a_node_without_its_redis_still_answers_and_stays_ready(
    shared_dir: tuple[Path, str], tmp_path: Path
) -> None:
    data_dir, token = shared_dir
    redis_port = free_port()
    with redis(tmp_path / "redis", port=redis_port) as server:
        env = _env(data_dir, server.url, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"))
        port = free_port()
        # `ioc serve --workers 2` runs gunicorn with ioc/gunicorn_conf.py
        node = _start("node3", [*IOC, "serve", "--workers", "2", "--port", str(port)], env, tmp_path, port)
        try:
            assert node.get("/readyz").status_code == 200
            # both workers start a warmer; only one of them warms this data version
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                claims = node.metrics()
                won = _sample_sum(claims, "ioc_cache_warm_claims_total", result="won")
                lost = _sample_sum(claims, "ioc_cache_warm_claims_total", result="lost")
                if won + lost >= 2:
                    break
                time.sleep(0.5)
            assert (won, lost) == (1, 1)
            server_url = server.url
            bearer = {"Authorization": f"Bearer {token}"}
        except BaseException:
            _stop(node)
            raise
    try:
        # Redis is stopped: the node still answers, so it stays ready (a Redis outage must not
        # take every node out of the load balancer); the check names Redis
        ready = node.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready" and "Redis" in ready.json()["degraded"]
        assert ready.json()["checks"]["redis"]["ok"] is False
        assert ready.json()["checks"]["store"]["ok"] is True
        for _ in range(3):
            answer = node.get(QUERY.replace("by=school", "by=district"), headers=bearer)
            assert answer.status_code == 200, answer.text
        errors = _sample_sum(node.metrics(), "ioc_kpi_cache_lookups_total", level="redis", result="error")
        assert errors >= 1
        assert "Redis cache at" in node.log.read_text()  # logged
        with redis(tmp_path / "redis", port=redis_port) as again:
            assert again.url == server_url
            deadline = time.monotonic() + 30
            while not node.get("/readyz").json()["checks"]["redis"]["ok"] and time.monotonic() < deadline:
                time.sleep(0.5)
            assert node.get("/readyz").status_code == 200
            assert node.get("/readyz").json()["checks"]["redis"]["ok"] is True
            assert "degraded" not in node.get("/readyz").json()
    finally:
        _stop(node)
