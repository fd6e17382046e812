"""OpenID Connect sign-in (authorization code + PKCE) against a small provider on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from ioc.auth import audit, oidc

CLIENT_ID = "ioc-web"
CLIENT_SECRET = "provider-shared-secret-for-tests"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Provider:
    """Discovery, /authorize (the user 'approves' at once), /token (checks PKCE and the client)."""

    def __init__(self) -> None:
        self.codes: dict[str, dict[str, str]] = {}
        self.user = "oidc.user"
        self.tamper: str | None = None  # 'signature' | 'nonce' | 'audience'
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def id_token(self, nonce: str) -> str:
        claims = {
            "iss": self.issuer,
            "aud": "someone-else" if self.tamper == "audience" else CLIENT_ID,
            "sub": "sub-" + self.user,
            "preferred_username": self.user,
            "nonce": "other" if self.tamper == "nonce" else nonce,
            "iat": int(time.time()),
            "exp": int(time.time()) + 300,
        }
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims).encode())
        key = b"wrong" if self.tamper == "signature" else CLIENT_SECRET.encode()
        signature = _b64(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        return f"{head}.{body}.{signature}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                url = urlsplit(self.path)
                if url.path == "/.well-known/openid-configuration":
                    self._json(
                        200,
                        {
                            "issuer": provider.issuer,
                            "authorization_endpoint": provider.issuer + "/authorize",
                            "token_endpoint": provider.issuer + "/token",
                            "jwks_uri": provider.issuer + "/jwks",
                        },
                    )
                elif url.path == "/authorize":
                    q = {k: v[0] for k, v in parse_qs(url.query).items()}
                    assert q["response_type"] == "code" and q["code_challenge_method"] == "S256"
                    code = _b64(hashlib.sha256(q["state"].encode()).digest())
                    provider.codes[code] = q
                    self.send_response(302)
                    self.send_header(
                        "Location", q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
                    )
                    self.end_headers()
                else:
                    self._json(404, {})

            def do_POST(self) -> None:  # noqa: N802
                form = {
                    k: v[0]
                    for k, v in parse_qs(
                        self.rfile.read(int(self.headers["Content-Length"])).decode()
                    ).items()
                }
                expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                request = provider.codes.pop(form.get("code", ""), None)
                challenge = _b64(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
                if (
                    self.headers.get("Authorization") != expected
                    or request is None
                    or challenge != request["code_challenge"]
                    or form.get("redirect_uri") != request["redirect_uri"]
                ):
                    self._json(400, {"error": "invalid_grant"})
                    return
                self._json(
                    200,
                    {
                        "access_token": "at",
                        "token_type": "Bearer",
                        "id_token": provider.id_token(request["nonce"]),
                    },
                )

        return Handler


@pytest.fixture
def provider() -> Iterator[Provider]:
    p = Provider()
    p.thread.start()
    yield p
    p.server.shutdown()
    p.server.server_close()


@pytest.fixture
def oidc_app(auth_app: Any, provider: Provider, db: Any) -> Iterator[Any]:
    from ioc.auth import accounts
    from ioc.auth.web import auth_state

    if accounts.get(db, "oidc.user") is None:
        accounts.add(db, "oidc.user", "leadership", None)
    accounts.unlink(db, "oidc.user")  # each test's provider is another issuer (another port)
    with auth_app.server.app_context():
        state = auth_state()
    state.oidc = oidc.OidcClient(issuer=provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    yield auth_app
    state.oidc = None


def _sign_in(app: Any, next_url: str = "/explore") -> tuple[Any, Any]:
    client = app.server.test_client()
    start = client.get("/auth/oidc/login?" + urlencode({"next": next_url}))
    assert start.status_code == 302
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert (
        query["code_challenge_method"] == ["S256"] and "code_verifier" not in query
    )  # the verifier stays here
    at_provider = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    callback = urlsplit(at_provider.headers["Location"])
    return client, client.get(callback.path + "?" + callback.query)


def test_oidc_sign_in_with_pkce(oidc_app: Any, db: Any) -> None:
    assert "Đăng nhập bằng tài khoản" in oidc_app.server.test_client().get("/login").get_data(as_text=True)
    client, done = _sign_in(oidc_app)
    assert done.status_code == 302 and done.headers["Location"] == "/explore"
    assert client.get("/explore").status_code == 200
    entry = audit.entries(db, event="sign_in", limit=1)[0]
    assert (entry.actor, entry.detail) == ("user:oidc.user", "oidc")


@pytest.mark.parametrize("tamper", ["signature", "nonce", "audience"])
def test_oidc_rejects_bad_id_tokens(tamper: str, oidc_app: Any, provider: Provider, db: Any) -> None:
    provider.tamper = tamper
    client, done = _sign_in(oidc_app)
    assert done.status_code == 302 and "oidc_failed" in done.headers["Location"]
    assert client.get("/explore").status_code == 302
    assert audit.entries(db, event="sign_in", limit=1)[0].outcome == "failed"


def test_oidc_needs_a_local_account(oidc_app: Any, provider: Provider) -> None:
    provider.user = "stranger"
    _, done = _sign_in(oidc_app)
    assert "oidc_failed" in done.headers["Location"]


def test_oidc_state_is_single_use(oidc_app: Any) -> None:
    client = oidc_app.server.test_client()
    start = client.get("/auth/oidc/login")
    at_provider = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    callback = urlsplit(at_provider.headers["Location"])
    assert client.get(callback.path + "?" + callback.query).headers["Location"] == "/"
    replay = oidc_app.server.test_client().get(callback.path + "?" + callback.query)
    assert "oidc_failed" in replay.headers["Location"]


def test_pkce_challenge_is_s256_of_the_verifier() -> None:
    verifier, challenge = oidc.pkce_pair()
    assert 43 <= len(verifier) <= 128
    assert challenge == _b64(hashlib.sha256(verifier.encode()).digest())


def test_unsigned_id_tokens_are_refused() -> None:
    client = oidc.OidcClient(issuer="http://127.0.0.1:1", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    head = _b64(json.dumps({"alg": "none"}).encode())
    body = _b64(
        json.dumps({"iss": client.issuer, "aud": CLIENT_ID, "nonce": "n", "exp": time.time() + 60}).encode()
    )
    with pytest.raises(oidc.OidcError, match="unsupported"):
        client.verify_id_token(f"{head}.{body}.", "n")


def test_oidc_routes_answer_404_while_not_configured(auth_app: Any) -> None:
    client = auth_app.server.test_client()
    assert client.get("/auth/oidc/login").status_code == 404
    assert client.get("/auth/oidc/callback?state=x&code=y").status_code == 404
    assert "tài khoản của Thành phố" not in client.get("/login").get_data(as_text=True)


def test_a_callback_from_another_browser_is_refused(oidc_app: Any, db: Any) -> None:
    """Login CSRF (RFC 9700 4.7): the attacker's callback URL, opened in the victim's browser, does
    not sign the victim in as the attacker."""
    attacker = oidc_app.server.test_client()
    start = attacker.get("/auth/oidc/login")
    at_provider = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    callback = urlsplit(at_provider.headers["Location"])
    victim = oidc_app.server.test_client()
    victim.get("/auth/oidc/login")  # the victim's own flow gives the victim a cookie of its own
    done = victim.get(callback.path + "?" + callback.query)
    assert "oidc_failed" in done.headers["Location"]
    assert victim.get("/explore").status_code == 302
    entry = audit.entries(db, event="sign_in", limit=1)[0]
    assert entry.outcome == "failed" and "another browser" in entry.detail
    # without any cookie at all, too
    attacker_start = attacker.get("/auth/oidc/login")
    at_provider = requests.get(attacker_start.headers["Location"], allow_redirects=False, timeout=10)
    callback = urlsplit(at_provider.headers["Location"])
    bare = oidc_app.server.test_client().get(callback.path + "?" + callback.query)
    assert "oidc_failed" in bare.headers["Location"]
