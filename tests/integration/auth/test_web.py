"""Sign-in, sign-out, expiry, cookies, headers, CSRF, rate limiting, tokens and kiosk devices
against the real app (Flask test client)."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from ioc.auth import audit, sessions, tokens
from ioc.auth.ingestion import record_ingest

from .conftest import PASSWORD


def _login_form(client: Any, path: str = "/login") -> str:
    page = client.get(path)
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def _client_at(app: Any, address: str) -> Any:
    """A test client whose requests come from ``address``."""
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _cookie_header(response: Any, name: str) -> str:
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "="))


def test_anonymous_requests_are_sent_to_sign_in(auth_app: Any) -> None:
    client = auth_app.server.test_client()
    page = client.get("/district/760?lang=en")
    assert page.status_code == 302
    target = urlsplit(page.headers["Location"])
    assert target.path == "/login" and parse_qs(target.query) == {
        "next": ["/district/760?lang=en"],
        "lang": ["en"],
    }
    api = client.get("/api/v1/kpis")
    assert api.status_code == 401 and api.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post("/_dash-update-component", json={"inputs": []}).status_code == 401
    assert client.get("/_dash-layout").status_code == 401
    assert client.get("/export/csv?kpi=attendance_rate").status_code == 302
    assert client.get("/admin/audit").status_code == 302


def test_sign_in_page_is_plain_escaped_and_bilingual(auth_app: Any) -> None:
    client = auth_app.server.test_client()
    vi = client.get("/login?next=%22%3E%3Cscript%3Ealert(1)%3C/script%3E").get_data(as_text=True)
    assert "Đăng nhập" in vi and "<script" not in vi  # a hostile next= is neither echoed raw nor kept
    en = client.get("/login?lang=en").get_data(as_text=True)
    assert "Sign in" in en and 'lang="en"' in en
    assert 'autocomplete="current-password"' in en and '<label for="password">' in en


def test_password_sign_in_sets_safe_cookies_and_opens_the_app(auth_app: Any, db: Any) -> None:
    client = auth_app.server.test_client()
    token = _login_form(client)
    response = client.post(
        "/login",
        data={"csrf": token, "username": "an", "password": PASSWORD, "next": "/explore?kpi=attendance_rate"},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/explore?kpi=attendance_rate"
    cookie = _cookie_header(response, "ioc_session")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=28800" in cookie
    assert "HttpOnly" not in _cookie_header(response, "_csrf_token")  # Dash's renderer must read it
    assert client.get("/explore").status_code == 200
    assert audit.entries(db, event="sign_in", limit=1)[0].actor == "user:an"


def test_cookies_are_secure_behind_https(auth_app: Any) -> None:
    client = auth_app.server.test_client()
    token = _login_form(client, "https://ioc.example.vn/login")
    response = client.post(
        "https://ioc.example.vn/login", data={"csrf": token, "username": "le", "password": PASSWORD}
    )
    assert "Secure" in _cookie_header(response, "ioc_session")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    # a plain-http address other than localhost gets Secure cookies as well (auto mode)
    client = auth_app.server.test_client()
    token = _login_form(client, "http://ioc.internal/login")
    response = client.post(
        "http://ioc.internal/login", data={"csrf": token, "username": "le", "password": PASSWORD}
    )
    assert "Secure" in _cookie_header(response, "ioc_session")


def test_sign_in_needs_the_form_token_and_the_right_password(auth_app: Any, db: Any) -> None:
    client = auth_app.server.test_client()
    assert client.post("/login", data={"username": "an", "password": PASSWORD}).status_code == 400
    token = _login_form(client)
    wrong = client.post("/login", data={"csrf": token, "username": "ad", "password": "not the password"})
    assert wrong.status_code == 401 and "ioc_session" not in wrong.headers.get("Set-Cookie", "")
    last = audit.entries(db, event="sign_in", limit=1)[0]
    assert (last.actor, last.outcome) == ("ad", "failed")


def test_no_open_redirect_after_sign_in(auth_app: Any) -> None:
    client = auth_app.server.test_client()
    token = _login_form(client)
    response = client.post(
        "/login", data={"csrf": token, "username": "le", "password": PASSWORD, "next": "//evil.example/x"}
    )
    assert response.headers["Location"] == "/"


def test_sign_in_attempts_are_rate_limited(auth_app: Any, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from ioc.auth import accounts

    accounts.add(db, "target", "analyst", PASSWORD)
    monkeypatch.setenv("IOC_LOGIN_MAX_ATTEMPTS", "3")
    client = _client_at(auth_app, "192.0.2.10")
    token = _login_form(client)
    for _ in range(3):
        assert (
            client.post(
                "/login", data={"csrf": token, "username": "target", "password": "guess guess"}
            ).status_code
            == 401
        )
    blocked = client.post("/login", data={"csrf": token, "username": "target", "password": PASSWORD})
    assert blocked.status_code == 429  # even the right password waits
    assert 0 < int(blocked.headers["Retry-After"]) <= 900
    assert "Vui lòng thử lại sau 15 phút." in blocked.get_data(as_text=True)  # 900 s, rounded up
    entry = audit.entries(db, event="sign_in", limit=1)[0]
    assert (entry.outcome, entry.detail, entry.ip) == (
        "denied",
        "too many failed attempts (account+address)",
        "192.0.2.10",
    )
    # the stranger's failures lock the pair, not the account: its owner signs in from elsewhere
    owner = _client_at(auth_app, "192.0.2.11")
    signed = owner.post(
        "/login", data={"csrf": _login_form(owner), "username": "target", "password": PASSWORD}
    )
    assert signed.status_code == 302


def test_simultaneous_wrong_passwords_check_at_most_the_limit(
    auth_app: Any, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 wrong passwords for one account at once: only the limit (5) reach the password check."""
    import threading

    from ioc.auth import accounts

    accounts.add(db, "raced", "analyst", PASSWORD)
    monkeypatch.setenv("IOC_LOGIN_MAX_ATTEMPTS", "5")
    checked: list[str] = []
    real_verify = accounts.verify_password

    def counting(password: str, stored: str | None) -> bool:
        checked.append(password)
        return real_verify(password, stored)

    monkeypatch.setattr(accounts, "verify_password", counting)
    clients = [_client_at(auth_app, "192.0.2.20") for _ in range(20)]
    forms = [_login_form(c) for c in clients]
    start = threading.Barrier(20)
    statuses: list[int] = []

    def attempt(client: Any, token: str) -> None:
        start.wait()
        answer = client.post("/login", data={"csrf": token, "username": "raced", "password": "wrong guess"})
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=attempt, args=pair) for pair in zip(clients, forms, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checked) == 5
    assert sorted(statuses) == [401] * 5 + [429] * 15


def test_the_client_address_comes_through_trusted_proxies_only(
    auth_app: Any, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind one proxy every request comes from the proxy's address; with IOC_TRUSTED_PROXIES the
    throttle and the audit log see each client's own address."""
    client = _client_at(auth_app, "10.9.0.1")
    token = _login_form(client)

    def fail(forwarded: str) -> str:
        client.post(
            "/login",
            data={"csrf": token, "username": "nobody-here", "password": "wrong guess"},
            headers={"X-Forwarded-For": forwarded},
        )
        return audit.entries(db, event="sign_in", limit=1)[0].ip

    assert fail("203.0.113.5") == "10.9.0.1"  # not trusted: a header anyone can write
    monkeypatch.setenv("IOC_TRUSTED_PROXIES", "10.9.0.0/16")
    assert fail("6.6.6.6, 203.0.113.5") == "203.0.113.5"
    monkeypatch.setenv("IOC_TRUSTED_PROXIES", "1")
    assert fail("203.0.113.6") == "203.0.113.6"


def test_logout_invalidates_the_session(auth_app: Any, db: Any) -> None:
    client = auth_app.server.test_client()
    value, session = sessions.create(db, username="le")
    client.set_cookie("ioc_session", value)
    assert client.get("/").status_code == 200
    assert 'name="csrf"' in client.get("/logout").get_data(as_text=True)
    assert client.post("/logout", data={}).status_code == 400  # a forged sign-out form is refused
    response = client.post("/logout", data={"csrf": session.csrf})
    assert response.status_code == 302 and "signed_out" in response.headers["Location"]
    assert sessions.lookup(db, value) is None
    replay = auth_app.server.test_client()
    replay.set_cookie("ioc_session", value)  # the old cookie value is worthless now
    assert replay.get("/").status_code == 302
    assert audit.entries(db, event="sign_out", limit=1)[0].actor == "user:le"


def test_expired_session_signs_in_again(auth_app: Any, db: Any) -> None:
    client = auth_app.server.test_client()
    value, _ = sessions.create(db, username="le", lifetime=60, now=time.time() - 120)
    client.set_cookie("ioc_session", value)
    response = client.get("/explore")
    assert response.status_code == 302 and "m=expired" in response.headers["Location"]


def test_disabled_account_loses_its_session(auth_app: Any, db: Any, signed_in: Any) -> None:
    from ioc.auth import accounts

    accounts.add(db, "leaver", "leadership", PASSWORD)
    client, _ = signed_in("leaver")
    assert client.get("/").status_code == 200
    accounts.set_disabled(db, "leaver")
    assert client.get("/").status_code == 302


def test_security_headers(auth_app: Any, signed_in: Any) -> None:
    client, _ = signed_in("le")
    response = client.get("/")
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "'unsafe-eval'" not in csp and "script-src 'self' 'sha256-" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-store"
    login = auth_app.server.test_client().get("/login")
    assert "Content-Security-Policy" in login.headers and "Strict-Transport-Security" not in login.headers


def test_secret_key_comes_from_the_accounts_database(
    auth_app: Any, auth_store: Any, db: Any, auth_backend: str
) -> None:
    assert auth_app.server.secret_key == db.secret_key() and len(db.secret_key()) == 64
    key_file = auth_store.layout.root / "auth" / "secret_key"
    if auth_backend == "sqlite":  # a file in the data directory
        assert auth_app.server.secret_key == key_file.read_text().strip()
    else:  # a row of ioc_auth.meta: nodes on other machines read the same key
        assert not key_file.exists() or key_file.read_text().strip() != auth_app.server.secret_key


def test_large_bodies_are_refused(auth_app: Any, signed_in: Any) -> None:
    client, csrf = signed_in("le")
    body = b"x" * (21 * 1024 * 1024)
    response = client.post(
        "/_dash-update-component", data=body, content_type="application/json", headers={"X-CSRFToken": csrf}
    )
    assert response.status_code == 413


def test_callbacks_need_the_csrf_header(auth_app: Any, db: Any, signed_in: Any) -> None:
    client, csrf = signed_in("le")
    body = {"inputs": [{"id": "_pages_location", "property": "pathname", "value": "/"}]}
    refused = client.post("/_dash-update-component", json=body)
    assert refused.status_code == 403
    last = audit.entries(db, event="refused", limit=1)[0]
    assert last.actor == "user:le" and "CSRF" in last.detail
    assert (
        client.post("/_dash-update-component", json=body, headers={"X-CSRFToken": "forged"}).status_code
        == 403
    )


def test_api_bearer_tokens(auth_app: Any, db: Any, city: Any) -> None:
    secret, _ = tokens.create(db, "etl-read", "api", ["read"])
    client = auth_app.server.test_client()
    auth = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/kpis/attendance_rate?by=district", headers=auth).status_code == 200
    entry = audit.entries(db, event="api_token", limit=1)[0]
    assert entry.actor == "api:etl-read" and entry.outcome == "ok" and "attendance_rate" in entry.target
    assert client.get("/api/v1/kpis/attendance_rate?format=csv", headers=auth).status_code == 403
    assert client.get("/", headers=auth).status_code == 403  # API tokens open no pages
    bad = client.get("/api/v1/kpis", headers={"Authorization": "Bearer ioc_api_forged"})
    assert bad.status_code == 401
    assert audit.entries(db, event="api_token", limit=1)[0].outcome == "failed"
    tokens.revoke(db, "etl-read")
    assert client.get("/api/v1/kpis", headers=auth).status_code == 401


def test_kiosk_device_token_opens_only_its_screens(auth_app: Any, db: Any) -> None:
    secret, _ = tokens.create(db, "wall-1", "kiosk", ["control_room"], days=30)
    client = auth_app.server.test_client()
    first = client.get(f"/?kiosk=1&device={secret}")
    assert first.status_code == 302 and first.headers["Location"] == "/?kiosk=1"  # the secret leaves the URL
    assert client.get("/?kiosk=1").status_code == 200
    assert client.get("/explore").status_code == 403
    assert client.get("/screen/network?kiosk=1").status_code == 403
    assert client.get("/api/v1/kpis").status_code == 403
    tokens.revoke(db, "wall-1")
    assert client.get("/?kiosk=1").status_code == 302
    assert auth_app.server.test_client().get("/?device=ioc_kiosk_forged").status_code == 403


def test_district_officer_without_districts_sees_nothing(auth_app: Any, signed_in: Any) -> None:
    client, _ = signed_in("none")
    assert client.get("/").status_code == 403
    assert client.get("/api/v1/kpis/attendance_rate").status_code == 403


def test_admins_read_the_audit_log_with_ingestion_runs(
    auth_app: Any, auth_store: Any, signed_in: Any, db: Any, tmp_path: Any
) -> None:
    from ingest.load import ingest_paths

    # a CLI load and a scheduled load (a job's source name), both of a file the contract refuses
    broken = tmp_path / "attendance_2026-11-02.csv"
    broken.write_text("date,school_id\n2026-11-02,nowhere\n", encoding="utf-8")
    # the CLI and the scheduler pass the audit log's writer in (ioc.scheduling)
    loaded = ingest_paths(auth_store, [broken], audit=record_ingest)
    assert loaded[0].status == "rejected"
    again = ingest_paths(auth_store, [broken], source="drop-folder", audit=record_ingest)
    assert again[0].status == "rejected"
    runs = audit.entries(db, event="ingest", limit=2)
    assert [r.actor for r in runs] == ["scheduler:drop-folder", runs[1].actor]
    assert runs[1].actor.startswith("cli")
    assert all(
        r.target == broken.name and r.outcome == "denied" and "attendance rejected" in r.detail for r in runs
    )
    with pytest.raises(db.errors, match="append-only"):
        with db.connect() as con:
            con.execute("DELETE FROM audit WHERE event = 'ingest'")
    admin, _ = signed_in("ad")
    page = admin.get("/admin/audit")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "sign_in" in text and "ingest" in text and broken.name in text
    assert "scheduler:drop-folder" in text
    analyst, _ = signed_in("an")
    assert analyst.get("/admin/audit").status_code == 403


def test_switching_sign_in_off_is_explicit(auth_app: Any, auth_store: Any) -> None:
    from ioc.auth.web import install

    state = install(auth_app, auth_store.layout.root, required=False)
    try:
        assert auth_app.server.test_client().get("/explore").status_code == 200
    finally:
        install(auth_app, auth_store.layout.root, required=True)
    assert state.required and auth_app.server.test_client().get("/explore").status_code == 302


def test_a_hostile_user_name_is_echoed_escaped(auth_app: Any) -> None:
    client = auth_app.server.test_client()
    token = _login_form(client)
    page = client.post(
        "/login", data={"csrf": token, "username": '"><script>alert(1)</script>', "password": "x" * 12}
    )
    text = page.get_data(as_text=True)
    assert page.status_code == 401 and "<script>" not in text and "&lt;script&gt;" in text


def test_kiosk_callbacks_use_the_csrf_cookie_like_dash_does(auth_app: Any, db: Any) -> None:
    from .test_matrix import page_body

    secret, _ = tokens.create(db, "wall-2", "kiosk", ["control_room"], days=30)
    client = auth_app.server.test_client()
    client.get(f"/?kiosk=1&device={secret}")
    csrf = client.get_cookie("_csrf_token").value
    drawn = client.post(
        "/_dash-update-component", json=page_body("/", "?kiosk=1"), headers={"X-CSRFToken": csrf}
    )
    assert drawn.status_code == 200
    other = client.post("/_dash-update-component", json=page_body("/explore"), headers={"X-CSRFToken": csrf})
    assert other.status_code == 403


def test_requests_without_credentials_are_audited_without_flooding(
    auth_app: Any, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import secrets
    import types

    # an address of its own (earlier tests' windows stay apart) and one minute, whatever the clock does
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    minute = time.time() // 60 * 60 + 5
    frozen = types.SimpleNamespace(time=lambda: minute, strftime=time.strftime, gmtime=time.gmtime)
    monkeypatch.setattr(audit, "time", frozen)
    client = auth_app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    before = audit.entries(db, event="anonymous", limit=1)
    since = before[0].id if before else 0

    def new_rows() -> list[Any]:
        return [e for e in audit.entries(db, event="anonymous", limit=100) if e.id > since]

    for _ in range(30):  # a signed-out wall screen retrying, or a crawler
        assert client.get("/district/760?lang=en").status_code == 302
        assert client.get("/api/v1/kpis/attendance_rate").status_code == 401
        assert client.post("/_dash-update-component", json={"inputs": []}).status_code == 401
        assert client.get("/export/csv?kpi=attendance_rate").status_code == 302
    rows = new_rows()
    assert sorted(r.target.split("?")[0] for r in rows) == [
        "GET /api/v1/kpis/attendance_rate",
        "GET /district/760",
        "GET /export/csv",
        "POST /_dash-update-component",
    ]
    assert all(r.outcome == "denied" and r.actor == "" and r.ip == address for r in rows)
    assert "no session or token -> sign-in" in next(r.detail for r in rows if "/district/" in r.target)
    # the repeats are written as counts when the minute is over (here: flushed, as at exit)
    db.anonymous.sweep(db, everything=True)
    counts = [r for r in new_rows() if "more requests" in r.detail and r.ip == address]
    assert sorted(int(r.detail.split()[0]) for r in counts) == [29, 29, 29, 29]
    # the sign-in page itself is not audited; Dash's own endpoints refused without a session are
    # (every refusal is audited, issue 12), within the same one row per path and minute
    client.get("/login")
    assert client.get("/_dash-dependencies").status_code == 401
    client.get("/_dash-dependencies")
    assert len([r for r in new_rows() if r.ip == address]) == 9


def test_the_refusal_page_gives_its_reason_in_the_page_s_language(
    auth_app: Any, db: Any, city: Any, signed_in: Any
) -> None:
    """A Vietnamese refusal page says why in Vietnamese; the audit log keeps the reason in English."""
    client, _ = signed_in("of")
    other = city.other
    vi = client.get(f"/district/{other}")
    assert vi.status_code == 403
    page = vi.get_data(as_text=True)
    assert "Không có quyền truy cập" in page and f"quận/huyện {other} nằm ngoài phạm vi bạn được xem" in page
    assert "outside what you may see" not in page
    assert (
        audit.entries(db, event="refused", limit=1)[0].detail
        == f"district {other} is outside what you may see"
    )
    en = client.get(f"/district/{other}?lang=en").get_data(as_text=True)
    assert "Access denied" in en and f"district {other} is outside what you may see" in en
    admin_only = client.get("/admin/audit").get_data(as_text=True)
    assert "chỉ dành cho quản trị viên" in admin_only and "administrators only" not in admin_only
