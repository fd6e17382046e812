"""Accounts across nodes: two app processes standing in for two machines (each with a data folder
of its own, nothing shared but a PostgreSQL accounts database) share sessions, the secret key,
sign-in rate limits and one append-only audit log.

- a sign-in form fetched from node 1 and sent to node 2 is accepted (one secret key, kept in
  PostgreSQL, not in either data folder);
- the session opened on node 2 works on node 1; signing out on node 1 ends it on node 2;
- failed sign-ins on both nodes count together; disabling an account with ``ioc users disable``
  ends its sessions on both;
- the audit log in PostgreSQL holds both nodes' entries and refuses UPDATE, DELETE and TRUNCATE.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ROOT, _load_metrics_seed_module
from tests.servers import free_port, stop_group, wait_until_answers

PASSWORD = "two machines 2026"
IOC = [sys.executable, "-m", "ioc.cli"]


@dataclass
class Node:
    port: int
    proc: subprocess.Popen
    log: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, cookies: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        return requests.get(self.url(path), cookies=cookies, allow_redirects=False, timeout=60, **kwargs)

    def post(self, path: str, cookies: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        return requests.post(self.url(path), cookies=cookies, allow_redirects=False, timeout=60, **kwargs)


def _env(data_dir: Path, accounts_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    env.update(
        IOC_DATA_DIR=str(data_dir),
        IOC_AUTH_DATABASE_URL=accounts_url,
        IOC_AUTH_REQUIRED="true",
        IOC_LOGIN_MAX_ATTEMPTS="3",
        IOC_CACHE_WARM="false",
        PYTHONPATH=str(ROOT),
    )
    return env


def _ioc(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [*IOC, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def _start(env: dict[str, str], folder: Path, name: str) -> Node:
    port = free_port()
    log = folder / f"{name}.log"
    proc = subprocess.Popen(
        [*IOC, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    node = Node(port, proc, log)
    wait_until_answers(proc, f"http://127.0.0.1:{port}/login", log, timeout=120)
    return node


def _stop(node: Node) -> None:
    stop_group(node.proc, timeout=30)


@pytest.fixture(scope="module")
def nodes(postgres_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("auth-nodes")
    name = "accounts_" + uuid.uuid4().hex[:8]
    url = postgres_server.create_database(name)
    first, second = folder / "machine1", folder / "machine2"
    for data_dir in (first, second):  # the same data, but no folder in common
        _load_metrics_seed_module().build(data_dir).close()
    for data_dir in (first, second):
        shutil.rmtree(data_dir / "auth", ignore_errors=True)  # the seed build's local audit file
    env1, env2 = _env(first, url), _env(second, url)
    _ioc(env1, "users", "add", "an", "--role", "analyst", "--password-stdin", stdin=PASSWORD + "\n")
    _ioc(
        env2,
        "users",
        "add",
        "of",
        "--role",
        "district_officer",
        "--district",
        "760",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    started: list[Node] = []
    try:
        started.append(_start(env1, folder, "node1"))
        started.append(_start(env2, folder, "node2"))
        yield {"nodes": started, "db": name, "env": (env1, env2), "dirs": (first, second)}
    finally:
        for node in started:
            _stop(node)


def _form(node: Node) -> tuple[str, dict[str, str]]:
    page = node.get("/login")
    assert page.status_code == 200
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    return token, {"ioc_login": page.cookies["ioc_login"]}


def _sign_in(form_node: Node, post_node: Node, username: str, password: str = PASSWORD) -> requests.Response:
    token, cookies = _form(form_node)
    return post_node.post(
        "/login", cookies=cookies, data={"csrf": token, "username": username, "password": password}
    )


def test_a_session_opened_on_one_node_works_on_the_other_and_ends_on_both(nodes: dict[str, Any]) -> None:
    node1, node2 = nodes["nodes"]
    # the form comes from node 1 and is posted to node 2: one secret key signs and checks it
    signed = _sign_in(node1, node2, "an")
    assert signed.status_code == 302, signed.text[:500]
    cookies = {"ioc_session": signed.cookies["ioc_session"], "_csrf_token": signed.cookies["_csrf_token"]}
    for node in (node1, node2):
        assert node.get("/api/v1/kpis/attendance_rate?by=district", cookies=cookies).status_code == 200
        assert node.get("/explore", cookies=cookies).status_code == 200
    # no key file in either data folder: the key lives in the accounts database
    assert not any((d / "auth" / "secret_key").exists() for d in nodes["dirs"])
    # sign out on node 1 -> node 2 refuses the cookie too
    form = node1.get("/logout", cookies=cookies)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    assert node1.post("/logout", cookies=cookies, data={"csrf": csrf}).status_code == 302
    for node in (node1, node2):
        assert node.get("/explore", cookies=cookies).status_code == 302
        assert node.get("/api/v1/kpis", cookies=cookies).status_code == 401


def test_scoping_and_account_changes_hold_on_every_node(nodes: dict[str, Any]) -> None:
    node1, node2 = nodes["nodes"]
    signed = _sign_in(node2, node1, "of")
    assert signed.status_code == 302
    cookies = {"ioc_session": signed.cookies["ioc_session"]}
    for node in (node1, node2):
        assert node.get("/district/760", cookies=cookies).status_code == 200
        assert node.get("/district/761", cookies=cookies).status_code == 403
    _ioc(nodes["env"][0], "users", "disable", "of")  # on machine 1's command line
    for node in (node1, node2):
        assert node.get("/district/760", cookies=cookies).status_code == 302


def test_failed_sign_ins_count_across_nodes(nodes: dict[str, Any]) -> None:
    node1, node2 = nodes["nodes"]
    _ioc(
        nodes["env"][1],
        "users",
        "add",
        "target",
        "--role",
        "leadership",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert _sign_in(node1, node1, "target", "wrong guess 1").status_code == 401
    assert _sign_in(node2, node2, "target", "wrong guess 2").status_code == 401
    assert _sign_in(node1, node2, "target", "wrong guess 3").status_code == 401
    assert _sign_in(node2, node1, "target").status_code == 429  # the right password waits on every node


# (runs last: it reads the entries the tests above left)
def test_the_audit_log_holds_both_nodes_and_is_append_only(
    nodes: dict[str, Any], postgres_server: Any
) -> None:
    node1, node2 = nodes["nodes"]
    assert node1.get("/export/csv?kpi=attendance_rate").status_code == 302  # unauthenticated: audited
    db = nodes["db"]
    psql = postgres_server.psql
    events = psql(db, "SELECT event || ':' || outcome FROM ioc_auth.audit").split()
    assert {
        "sign_in:ok",
        "sign_in:failed",
        "sign_in:denied",
        "sign_out:ok",
        "account:ok",
        "anonymous:denied",
    } <= set(events)
    count = psql(db, "SELECT count(*) FROM ioc_auth.audit").strip()
    for statement in (
        "UPDATE ioc_auth.audit SET outcome = 'ok'",
        "DELETE FROM ioc_auth.audit",
        "TRUNCATE ioc_auth.audit",
    ):
        with pytest.raises(RuntimeError, match="append-only"):
            psql(db, statement)
    assert psql(db, "SELECT count(*) FROM ioc_auth.audit").strip() == count
    # the CLI reads the same log on either machine
    assert "sign_out" in _ioc(nodes["env"][1], "users", "audit", "--limit", "200")
