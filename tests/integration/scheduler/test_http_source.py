"""The HTTP JSON source against a real HTTP server on 127.0.0.1: pagination, the since-cursor,
the token, and every way a source can misbehave (the data stays as it was, the source is failing)."""

from __future__ import annotations

import time
import urllib.parse
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ingest.jobs import parse_config
from ingest.scheduler import JobRunner
from ioc.metrics import health
from ioc.store import Store

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
START = datetime(2026, 11, 25, 8, 0, tzinfo=TZ)


def runner_for(store: Store, url: str, environ: dict[str, str] | None = None, **options: Any) -> JobRunner:
    job = {
        "id": "api",
        "kind": "http_json",
        "schedule": "5m",
        "url": url,
        "dataset": "connectivity",
        "timeout": "1s",
        "retries": 1,
        "backoff": "50ms",
        "max_bytes": 1_000_000,
        **options,
    }
    config = parse_config({"jobs": [job]}, store.layout.root, "test")
    return JobRunner(store, config, echo=lambda line: None, environ=environ if environ is not None else {})


def probes(store: Store) -> int:
    return int(store.execute("SELECT count(*) FROM connectivity").scalar())


def source(store: Store) -> dict[str, Any]:
    return {s["source"]: s for s in health.sources(store)}["api"]


def test_paginated_incremental_pull_with_token(seeded: Store, api: Any, helpers: Any) -> None:
    feed = helpers.connectivity_records(START, 40, steps=3)  # 120 probes at 08:00, 08:05, 08:10

    def route(handler: BaseHTTPRequestHandler) -> None:
        if handler.headers.get("Authorization") != "Bearer tok-123":
            api.json(handler, {"error": "unauthorised"}, 401)
            return
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(handler.path).query))
        since = datetime.fromisoformat(query["since"]) if "since" in query else None
        rows = [r for r in feed if since is None or datetime.fromisoformat(r["measured_at"]) > since]
        offset = int(query.get("offset", 0))
        page = rows[offset : offset + 50]
        nxt = None
        if offset + 50 < len(rows):
            nxt = "/probes?" + urllib.parse.urlencode({**query, "offset": offset + 50})
        api.json(handler, {"records": page, "next": nxt})

    api.routes["/probes"] = route
    runner = runner_for(
        seeded,
        api.base + "/probes",
        {"API_TOKEN": "tok-123"},
        token_env="API_TOKEN",
        cursor_field="measured_at",
        cursor_key="",
    )
    outcome = runner.run_job("api")
    assert outcome.status == "success", outcome.message
    assert probes(seeded) == 120
    assert len(api.requests) == 3  # 50 + 50 + 20
    state = source(seeded)
    assert state["cursor"] == START.replace(minute=10).isoformat() and not state["failing"]
    assert state["rows_last_run"] == 120

    # nothing new: no request beyond the first page, nothing written, the version stays
    version = seeded.data_version()
    assert runner.run_job("api").status == "idle"
    last_query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(api.requests[-1][0]).query))
    assert last_query == {"since": state["cursor"]}
    assert seeded.data_version() == version

    # new probes arrive: only they are pulled, nothing is duplicated
    feed.extend(helpers.connectivity_records(START.replace(minute=15), 40))
    assert runner.run_job("api").status == "success"
    assert probes(seeded) == 160
    assert (
        seeded.execute(
            "SELECT count(*) FROM (SELECT DISTINCT measured_at, school_id FROM connectivity)"
        ).scalar()
        == 160
    )

    # the token is never written anywhere in the record
    text = repr(health.sources(seeded)) + repr(health.job_runs(seeded)) + repr(health.runs(seeded))
    assert "tok-123" not in text


def test_page_number_pagination(seeded: Store, api: Any, helpers: Any) -> None:
    feed = helpers.connectivity_records(START, 40, steps=2)

    def route(handler: BaseHTTPRequestHandler) -> None:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(handler.path).query))
        page, size = int(query["page"]), int(query["per_page"])
        api.json(handler, feed[(page - 1) * size : page * size])

    api.routes["/paged"] = route
    runner = runner_for(
        seeded,
        api.base + "/paged",
        records_key="",
        next_key="",
        page_param="page",
        page_size_param="per_page",
        page_size=30,
        cursor_field="measured_at",
    )
    assert runner.run_job("api").status == "success"
    assert probes(seeded) == 80
    assert [q for q, _ in api.requests][-1].startswith("/paged?page=3")


def test_missing_token_fails_without_calling(seeded: Store, api: Any) -> None:
    api.routes["/probes"] = lambda handler: api.json(handler, {"records": []})
    runner = runner_for(seeded, api.base + "/probes", {}, token_env="NOT_SET_ANYWHERE")
    outcome = runner.run_job("api")
    assert outcome.status == "failed"
    assert api.requests == []
    state = source(seeded)
    assert (
        state["failing"] and "environment variable NOT_SET_ANYWHERE (token_env) is not set" in state["reason"]
    )


def _hang(handler: BaseHTTPRequestHandler) -> None:
    time.sleep(2.5)


def _error_500(handler: BaseHTTPRequestHandler) -> None:
    body = b"Internal Server Error"
    handler.send_response(500)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _html(handler: BaseHTTPRequestHandler) -> None:
    body = b"<!DOCTYPE html><html><body>Please sign in</body></html>"
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _truncated(handler: BaseHTTPRequestHandler) -> None:
    body = b'{"records": [{"measured_at": "2026-11-25T08:00:00+07:00", "school_id": "S00000", "onl'
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body) + 500))  # the connection drops early
    handler.end_headers()
    handler.wfile.write(body)
    handler.wfile.flush()
    handler.close_connection = True


def _broken_json(handler: BaseHTTPRequestHandler) -> None:
    body = b'{"records": [{"measured_at": "2026-11-25T08:00:00+07:00", "school_id": "S0'
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


SENT: dict[str, int] = {}


def _huge(declare_length: bool) -> Any:
    def route(handler: BaseHTTPRequestHandler) -> None:
        chunk = b" " * (1 << 20)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if declare_length:
            handler.send_header("Content-Length", str(100 * len(chunk)))
        else:
            handler.close_connection = True  # body ends when the connection closes (no length)
        handler.end_headers()
        sent = 0
        try:
            for _ in range(100):  # 100 MB of whitespace (valid JSON padding)
                handler.wfile.write(chunk)
                sent += len(chunk)
        finally:
            SENT["bytes"] = sent

    return route


@pytest.mark.parametrize(
    ("route", "reason", "requests"),
    [
        (_hang, "timed out after 1s without an answer (after 2 attempts)", 2),
        (_error_500, "HTTP 500 Internal Server Error (after 2 attempts)", 2),
        (_html, "answered HTML (text/html), not JSON", 1),
        (_truncated, "truncated response body", 2),
        (_broken_json, "invalid or truncated JSON (Unterminated string", 2),
        (_huge(True), "response of 104,857,600 bytes is over the limit of 1,000,000 bytes", 1),
        (_huge(False), "response body exceeds the limit of 1,000,000 bytes; stopped reading", 1),
    ],
    ids=["hang", "500", "html", "truncated", "broken-json", "100MB-declared", "100MB-streamed"],
)
def test_misbehaving_source_changes_nothing(
    seeded: Store, api: Any, helpers: Any, route: Any, reason: str, requests: int
) -> None:
    good = helpers.connectivity_records(START, 40)
    api.routes["/probes"] = lambda handler: api.json(handler, {"records": good, "cursor": "c1"})
    runner = runner_for(seeded, api.base + "/probes")
    assert runner.run_job("api").status == "success"
    before = seeded.execute("SELECT count(*), sum(download_mbps) FROM connectivity").rows
    api.requests.clear()
    SENT.clear()

    api.routes["/probes"] = route
    outcome = runner.run_job("api")
    assert outcome.status == "failed"
    assert reason in outcome.message
    assert len(api.requests) == requests
    assert seeded.execute("SELECT count(*), sum(download_mbps) FROM connectivity").rows == before
    state = source(seeded)
    assert state["failing"] and reason in state["reason"] and state["cursor"] == "c1"
    fresh = {f.dataset: f for f in health.freshness(seeded)}["connectivity"]
    assert fresh.failing_sources == ("api",) and reason in (fresh.reason or "")
    if "bytes" in SENT:  # the client stopped reading long before 100 MB
        assert SENT["bytes"] < 50 * (1 << 20)

    # the source comes back: the failure clears, its reason stays on record
    newer = helpers.connectivity_records(START.replace(minute=5), 40)
    api.routes["/probes"] = lambda handler: api.json(handler, {"records": newer, "cursor": "c2"})
    assert runner.run_job("api").status == "success"
    state = source(seeded)
    assert not state["failing"] and state["cursor"] == "c2" and reason in state["reason"]
    assert probes(seeded) == 80


def test_rejected_batch_keeps_the_cursor_and_flags_the_source(seeded: Store, api: Any, helpers: Any) -> None:
    bad = helpers.connectivity_records(START, 3)
    bad[1]["school_id"] = "NO-SUCH-SCHOOL"
    api.routes["/probes"] = lambda handler: api.json(handler, {"records": bad, "cursor": "c9"})
    runner = runner_for(seeded, api.base + "/probes")
    outcome = runner.run_job("api")
    assert outcome.status == "partial"
    assert probes(seeded) == 0
    state = source(seeded)
    assert state["failing"] and state["cursor"] is None
    assert "NO-SUCH-SCHOOL" in state["reason"] or "rejected" in state["reason"]
    rejected = [r for r in health.rejections(seeded) if r["source"] == "api"]
    assert rejected and rejected[0]["value"] == "NO-SUCH-SCHOOL"


def test_a_redirect_to_another_host_never_carries_the_token(seeded: Store, api: Any, helpers: Any) -> None:
    records = helpers.connectivity_records(START, 40)
    port = api.base.rsplit(":", 1)[1]

    def moved(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", f"http://localhost:{port}/elsewhere")  # another host name
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    api.routes["/probes"] = moved
    api.routes["/elsewhere"] = lambda handler: api.json(handler, {"records": records})
    runner = runner_for(seeded, api.base + "/probes", {"API_TOKEN": "tok-123"}, token_env="API_TOKEN")
    assert runner.run_job("api").status == "success"
    first, second = api.requests
    assert first[1].get("Authorization") == "Bearer tok-123"
    assert second[0] == "/elsewhere" and "Authorization" not in second[1]
    assert probes(seeded) == 40
