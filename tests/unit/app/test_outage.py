"""While the store's catalog does not answer, requests get a JSON 503 (not Flask's HTML 500) and
the process logs one line when the outage starts and one when it ends, not a traceback per
request (issue 13: about 6,900 lines per node in 30 s)."""

from __future__ import annotations

import logging

import pytest
from flask import Flask, jsonify

from ioc import observability
from ioc.store import StoreError


class Catalog:
    """A store whose catalog answers or not."""

    def __init__(self) -> None:
        self.down = False

    def ping(self) -> int:
        if self.down:
            raise StoreError(
                "IOC_CATALOG_URL: cannot connect to the PostgreSQL catalog: the server is unreachable"
            )
        return 7

    def data_version(self) -> int:
        return self.ping()


@pytest.fixture
def served() -> tuple[Flask, Catalog]:
    store = Catalog()
    server = Flask("outage-test")
    observability.register(server, lambda: store)

    @server.get("/api/v1/kpis/<kpi_id>")
    def answer(kpi_id: str) -> object:
        return jsonify({"kpi": kpi_id, "data_version": store.data_version()})

    @server.get("/district/<code>")
    def page(code: str) -> str:
        return f"<p>{code} {store.data_version()}</p>"

    @server.get("/api/v1/broken")
    def broken() -> str:
        raise ValueError("a bug, not an outage")

    return server, store


def test_an_outage_is_a_json_503_and_two_log_lines(
    served: tuple[Flask, Catalog], caplog: pytest.LogCaptureFixture
) -> None:
    server, store = served
    client = server.test_client()
    assert client.get("/api/v1/kpis/uptime").json == {"kpi": "uptime", "data_version": 7}
    store.down = True
    with caplog.at_level(logging.INFO, logger="ioc.observability"):
        for _ in range(50):
            response = client.get("/api/v1/kpis/uptime")
            assert response.status_code == 503
            assert response.is_json and "not reachable" in response.json["error"]
            assert response.headers["Retry-After"] == "10"
        page = client.get("/district/760", headers={"Accept": "text/html"})
        assert page.status_code == 503 and page.mimetype == "text/html"
        dash = client.get("/district/760", headers={"Accept": "application/json"})
        assert dash.status_code == 503 and dash.is_json
        assert client.get("/readyz").status_code == 503  # the load balancer takes the node out
        store.down = False
        assert client.get("/api/v1/kpis/uptime").status_code == 200
        assert client.get("/api/v1/kpis/uptime").status_code == 200
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("the store does not answer (StoreError: IOC_CATALOG_URL: cannot connect")
    assert lines[1].startswith("the store answers again after 0 s (52 requests answered 503)")
    assert not any(r.exc_info for r in caplog.records)  # no traceback


def test_an_api_bug_is_a_json_500_with_its_traceback_logged(
    served: tuple[Flask, Catalog], caplog: pytest.LogCaptureFixture
) -> None:
    server, _ = served
    with caplog.at_level(logging.ERROR, logger="ioc.observability"):
        response = server.test_client().get("/api/v1/broken")
    assert response.status_code == 500 and response.json == {
        "error": "internal error (logged on the server)",
        "param": None,
    }
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [ValueError]
    missing = server.test_client().get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.is_json and missing.json["param"] is None


def test_the_accounts_database_down_while_the_catalog_answers_is_a_503_too(
    served: tuple[Flask, Catalog], caplog: pytest.LogCaptureFixture
) -> None:
    """A separate accounts database (IOC_AUTH_DATABASE_URL) that does not answer: the catalog
    answers its ping, but the request could not be served for an outage, not a bug."""
    from ioc.auth.db import AuthDbUnreachable

    server, _ = served
    down = {"accounts": True}

    @server.get("/api/v1/signed")
    def signed() -> object:
        if down["accounts"]:
            raise AuthDbUnreachable("cannot reach the accounts database postgresql://acc@db2/accounts")
        return jsonify({"ok": True})

    client = server.test_client()
    with caplog.at_level(logging.INFO, logger="ioc.observability"):
        answers = [client.get("/api/v1/signed") for _ in range(3)]
        down["accounts"] = False
        assert client.get("/api/v1/signed").status_code == 200
    assert [a.status_code for a in answers] == [503] * 3 and all(a.is_json for a in answers)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "AuthDbUnreachable: cannot reach the accounts database" in lines[0], lines
    assert not any(r.exc_info for r in caplog.records)


def test_a_store_opened_during_an_outage_raises_until_the_catalog_answers_then_is_the_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    from ioc import pending

    class Opened:
        data_version = 12

    answers: list[object] = [StoreError("IOC_CATALOG_URL: cannot connect (first try)"), Opened()]
    tries: list[int] = []

    def open_store(data_dir: object) -> object:
        tries.append(1)
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(pending, "open_store", open_store)
    monkeypatch.setattr(pending, "unreachable_catalog", lambda data_dir: StoreError("unreachable"))
    with caplog.at_level(logging.INFO, logger="ioc.pending"):
        store = pending.open_store_or_pending(tmp_path)  # type: ignore[arg-type]
        assert isinstance(store, pending.PendingStore)
        assert store.layout.root == tmp_path
        answers.insert(0, StoreError("IOC_CATALOG_URL: cannot connect (second try)"))
        with pytest.raises(StoreError, match="second try"):
            store.data_version  # noqa: B018 - every use asks to open it
        assert store.data_version == 12 and store.data_version == 12
    assert len(tries) == 3  # at start, the failed use, the use that opened it; none after
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and lines[0].startswith("the store's catalog is not reachable at start")
    assert lines[1] == "the store's catalog answers: opened the store this worker started without"
    # a catalog that answers but refuses (no store there): the start stops with its error
    monkeypatch.setattr(pending, "unreachable_catalog", lambda data_dir: None)
    answers[:] = [StoreError("no store in the PostgreSQL catalog: run `ioc demo`")]
    with pytest.raises(StoreError, match="no store in"):
        pending.open_store_or_pending(tmp_path)  # type: ignore[arg-type]


def test_a_catalog_that_drops_the_connection_while_a_worker_opens_the_store_is_an_outage(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    """The catalog goes down in the middle of the open (DuckLake's query fails with DuckDB's error,
    not a StoreError) and may answer again by the time the worker asks: the worker still starts,
    answers 503, and opens the store at its next use (the CI run of 2026-12-06 died here)."""
    import duckdb

    from ioc import pending

    class Opened:
        data_version = 7

    dropped = duckdb.Error(
        'Failed to get partition information from DuckLake: Failed to prepare COPY "COPY (SELECT 1)": '
        "server closed the connection unexpectedly"
    )
    answers: list[object] = [dropped, dropped, Opened()]

    def open_store(data_dir: object) -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(pending, "open_store", open_store)
    monkeypatch.setattr(pending, "unreachable_catalog", lambda data_dir: None)  # back already
    store = pending.open_store_or_pending(tmp_path)  # type: ignore[arg-type]
    assert isinstance(store, pending.PendingStore)
    with pytest.raises(StoreError, match="server closed the connection"):
        store.data_version  # noqa: B018 - dropped again: a 503, not DuckDB's error
    assert store.data_version == 7
    # DuckDB's error about something else, with the catalog answering: the start stops with it
    answers[:] = [duckdb.Error("Catalog Error: Table with name attendance does not exist!")]
    with pytest.raises(duckdb.Error, match="does not exist"):
        pending.open_store_or_pending(tmp_path)  # type: ignore[arg-type]
