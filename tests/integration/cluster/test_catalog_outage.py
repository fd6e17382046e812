"""A catalog outage seen by an app node (issue 13, Why 8): a gunicorn node of two workers on a
PostgreSQL catalog (which also holds the accounts); the database stops taking connections and its
sessions are ended, as in a PostgreSQL restart. Every API request gets a JSON 503, never an HTML
500; each worker logs one line when the outage starts and one when it ends, never a traceback; the
node is not ready meanwhile, and answers again by itself once the database is back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cluster.test_nodes import (
    IOC,
    _admin_and_token,
    _env,
    _gunicorn,
    _load_metrics_seed_module,
    _start,
    _stop,
)
from tests.servers import free_port

QUESTION = "/api/v1/kpis/attendance_rate?by=district&from=2026-11-18&to=2026-11-20"
STARTED_WITHOUT = "the store's catalog is not reachable at start"  # ioc.pending, once per worker


def _outage(server: Any, database: str, down: bool) -> None:
    server.psql("postgres", f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {"false" if down else "true"}')
    if down:  # what a restart does to every open session
        server.psql(
            "postgres",
            f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{database}'",  # noqa: S608 - the test's own database name
        )


def _seeded_node(
    postgres_server: Any, tmp_path: Path, database: str, warm: bool
) -> tuple[dict[str, str], dict[str, str]]:
    """The metrics seed store in a new PostgreSQL catalog ``database``: a node's environment and an
    administrator's bearer header."""
    url = postgres_server.create_database(database)
    files = tmp_path / "files"
    files.mkdir()
    data_dir = tmp_path / "data"
    _load_metrics_seed_module().build(data_dir, catalog_url=url, data_path=f"{files}/").close()
    env = _env(data_dir, "", IOC_CATALOG_URL=url, IOC_DATA_PATH=f"{files}/", IOC_CACHE_WARM=str(warm).lower())
    return env, {"Authorization": f"Bearer {_admin_and_token(env)}"}


def _until_every_worker_answered_again(node: Any, bearer: dict[str, str]) -> list[int]:
    """A worker logs its recovery at its next request, and nothing steers a request to one of the
    two workers: ask until every worker that logged the outage has answered again (30 s at most);
    the statuses of those answers."""
    statuses: list[int] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and node.log.read_text().count(
        "the store answers again after"
    ) < node.log.read_text().count("the store does not answer"):
        statuses.append(node.get(QUESTION, headers=bearer).status_code)
    return statuses


def test_a_catalog_outage_is_json_503s_and_two_log_lines_per_worker(
    postgres_server: Any, tmp_path: Path
) -> None:
    env, bearer = _seeded_node(postgres_server, tmp_path, "outage_catalog", warm=False)
    port = free_port()
    node = _start("node", _gunicorn(port), env, tmp_path, port)
    try:
        assert node.get(QUESTION, headers=bearer).status_code == 200
        _outage(postgres_server, "outage_catalog", down=True)
        try:
            answers = [
                node.get(QUESTION.replace("2026-11-20", f"2026-11-{20 - i % 2}"), headers=bearer)
                for i in range(30)
            ]
            ready = node.get("/readyz")
        finally:
            _outage(postgres_server, "outage_catalog", down=False)
        deadline = time.monotonic() + 60
        while node.get(QUESTION, headers=bearer).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        back = [node.get(QUESTION, headers=bearer).status_code for _ in range(6)]
        back += _until_every_worker_answered_again(node, bearer)
    finally:
        _stop(node)
    assert {a.status_code for a in answers} == {503}, [a.text[:200] for a in answers if a.status_code != 503]
    assert all(a.headers["Content-Type"].startswith("application/json") for a in answers)
    assert all("not reachable" in a.json()["error"] for a in answers)
    assert ready.status_code == 503
    assert back == [200] * len(back)
    log = node.log.read_text()
    assert "Traceback" not in log, log[-3000:]
    started = log.count("the store does not answer")
    ended = log.count("the store answers again after")
    assert 1 <= started <= 2 and ended == started, log[-3000:]  # one of each per worker that saw it


@pytest.mark.parametrize("command", ["gunicorn", "ioc serve"])
def test_a_node_started_during_a_catalog_outage_answers_503_then_200_once_it_is_back(
    postgres_server: Any, tmp_path: Path, command: str
) -> None:
    """Workers that boot while the catalog (and the accounts database in it) is down start anyway,
    answer what a running worker answers in the outage (a JSON 503 for the API, an HTML 503 page
    for a browser, readiness 503) and serve once the database is back, without a restart; started
    by gunicorn (the services) or by `ioc serve --workers 2`."""
    database = f"boot_outage_{command.split()[0]}"
    env, bearer = _seeded_node(postgres_server, tmp_path, database, warm=True)
    port = free_port()
    _outage(postgres_server, database, down=True)
    try:
        started = (
            _gunicorn(port)
            if command == "gunicorn"
            else [*IOC, "serve", "--workers", "2", "--port", str(port)]
        )
        node = _start("node", started, env, tmp_path, port)
    except BaseException:
        _outage(postgres_server, database, down=False)
        raise
    try:
        try:
            # both workers up (each says once that it started without the database), then asked
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and node.log.read_text().count(STARTED_WITHOUT) < 2:
                time.sleep(0.2)
            api = [node.get(QUESTION, headers=bearer) for _ in range(12)]
            page = node.get("/district/760", headers={"Accept": "text/html"})
            ready = node.get("/readyz")
        finally:
            _outage(postgres_server, database, down=False)
        deadline = time.monotonic() + 60
        while node.get(QUESTION, headers=bearer).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        back = [node.get(QUESTION, headers=bearer).status_code for _ in range(6)]
        signed_out = node.get("/district/760", headers={"Accept": "text/html"})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and node.get("/readyz").status_code != 200:
            time.sleep(0.5)
        ready_again = node.get("/readyz")
        back += _until_every_worker_answered_again(node, bearer)
    finally:
        _stop(node)
    assert node.proc.returncode is not None
    assert {a.status_code for a in api} == {503}, [a.text[:200] for a in api if a.status_code != 503]
    assert all(a.headers["Content-Type"].startswith("application/json") for a in api)
    assert all("not reachable" in a.json()["error"] for a in api)
    assert page.status_code == 503, page.text[:300]
    assert page.headers["Content-Type"].startswith("text/html") and "not reachable" in page.text
    assert ready.status_code == 503
    assert back == [200] * len(back)
    assert signed_out.status_code == 302 and "/login" in signed_out.headers["Location"]
    assert ready_again.status_code == 200, ready_again.text
    log = node.log.read_text()
    assert "Traceback" not in log, log[-3000:]
    assert log.count(STARTED_WITHOUT) == 2 and "Worker failed to boot" not in log, log[-3000:]
    assert log.count("the store answers again after") == log.count("the store does not answer"), log[-3000:]
