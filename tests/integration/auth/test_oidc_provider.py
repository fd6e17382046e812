"""OpenID Connect against a conforming provider: panva's oidc-provider (OpenID Certified), started
on 127.0.0.1 by the tests (tests/oidc/provider.js) with its defaults: profile claims only in
UserInfo, RS256 ID tokens, the authorization response's ``iss``.

The browser is a requests.Session at the provider (its login form takes the account's sub) and a
Flask test client at the app. Covered: sign-in with the provider's defaults, accounts linked by
issuer + sub, key rotation and withdrawn keys, login CSRF, tampering (each case refused and
audited) and sign-out.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from ioc.auth import accounts, audit, oidc
from ioc.auth.web import auth_state
from tests.servers import OpenIdProvider, openid_provider

CLIENT_ID = "ioc-web"
CLIENT_SECRET = secrets.token_urlsafe(32)
CALLBACK = "http://localhost/auth/oidc/callback"  # the Flask test client's host
OFFICER_SUB = "u-1001"
IMPOSTOR_SUB = "u-6666"  # another person at the provider whose user name claim names the same account


def _key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True)


KEYS = {kid: _key(kid) for kid in ("k1", "k2")}


def _jwks(*kids: str) -> dict[str, Any]:
    return {"keys": [KEYS[k].as_dict(private=True) for k in kids]}


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[OpenIdProvider]:
    config = {
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [CALLBACK],
                "post_logout_redirect_uris": ["http://localhost/login?m=signed_out"],
            }
        ],
        "jwks": _jwks("k1"),
        "accounts": {
            OFFICER_SUB: {"preferred_username": "oidc.real", "name": "Nguyễn Văn A", "email": "a@example.vn"},
            IMPOSTOR_SUB: {"preferred_username": "oidc.real", "name": "Someone Else"},
            "u-2002": {"preferred_username": "not.here"},
        },
    }
    with openid_provider(tmp_path, config) as running:
        yield running


@pytest.fixture
def app(auth_app: Any, provider: OpenIdProvider, db: Any) -> Iterator[Any]:
    if accounts.get(db, "oidc.real") is None:
        accounts.add(db, "oidc.real", "leadership", None)
    accounts.unlink(db, "oidc.real")  # each test's provider has its own port, so its own issuer
    accounts.set_disabled(db, "oidc.real", False)
    with auth_app.server.app_context():
        state = auth_state()
    state.oidc = oidc.OidcClient(issuer=provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    yield auth_app
    state.oidc = None


def _at_provider(browser: requests.Session, url: str, sub: str) -> str:
    """Follow the provider's screens as a person would (signing in as ``sub``) until it sends the
    browser back to the app; the callback URL."""
    for _ in range(10):
        if url.startswith(CALLBACK):
            return url
        page = browser.get(url, allow_redirects=False, timeout=10)
        if page.status_code == 200 and 'name="login"' in page.text:
            action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
            assert action is not None, page.text
            page = browser.post(
                urljoin(url, action.group(1)),
                data={"prompt": "login", "login": sub, "password": "any"},
                allow_redirects=False,
                timeout=10,
            )
        assert page.status_code in (302, 303), (page.status_code, page.text[:500])
        url = urljoin(url, page.headers["Location"])
    raise AssertionError(f"the provider never sent the browser back: {url}")


def _start(app: Any, next_url: str = "/explore") -> tuple[Any, str]:
    client = app.server.test_client()
    start = client.get("/auth/oidc/login?" + urlencode({"next": next_url}))
    assert start.status_code == 302, start.get_data(as_text=True)
    return client, start.headers["Location"]


def _sign_in(app: Any, sub: str = OFFICER_SUB, next_url: str = "/explore") -> tuple[Any, Any, str]:
    """(the app's test client, the callback's answer, the callback URL)."""
    client, authorize = _start(app, next_url)
    callback = _at_provider(requests.Session(), authorize, sub)
    parts = urlsplit(callback)
    return client, client.get(parts.path + "?" + parts.query), callback


def _refused(db: Any, client: Any, done: Any, detail: str) -> None:
    assert done.status_code == 302 and "oidc_failed" in done.headers["Location"]
    assert client.get("/explore").status_code == 302  # not signed in
    entry = audit.entries(db, event="sign_in", limit=1)[0]
    assert entry.outcome == "failed" and detail in entry.detail, entry.detail


def _oidc_client(app: Any) -> oidc.OidcClient:
    with app.server.app_context():
        client: oidc.OidcClient = auth_state().oidc
    return client


def _answers(app: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The token endpoint's answers, as the app received them."""
    client = _oidc_client(app)
    seen: list[dict[str, Any]] = []
    exchange = client.exchange

    def recording(*args: Any) -> dict[str, Any]:
        answer = exchange(*args)
        seen.append(answer)
        return answer

    monkeypatch.setattr(client, "exchange", recording)
    return seen


def _claims(token: str) -> dict[str, Any]:
    return json.loads(oidc.b64url_decode(token.split(".")[1]))


# -- signing in -------------------------------------------------------------------------------


def test_sign_in_with_the_providers_defaults(app: Any, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = _answers(app, monkeypatch)
    client, done, _ = _sign_in(app)
    assert done.status_code == 302 and done.headers["Location"] == "/explore"
    assert client.get("/explore").status_code == 200
    # the provider put the user name in UserInfo, not in the ID token (OIDC Core 5.4)
    assert "preferred_username" not in _claims(answers[0]["id_token"])
    entry = audit.entries(db, event="sign_in", limit=1)[0]
    assert (entry.actor, entry.outcome, entry.detail) == ("user:oidc.real", "ok", "oidc")
    link = audit.entries(db, event="account", limit=1)[0]
    assert link.target == "oidc.real" and f"linked to {app_issuer(app)} sub={OFFICER_SUB}" in link.detail
    assert accounts.linked_username(db, app_issuer(app), OFFICER_SUB) == "oidc.real"


def app_issuer(app: Any) -> str:
    return _oidc_client(app).issuer


def test_the_account_follows_the_sub_not_the_user_name(app: Any, db: Any, provider: OpenIdProvider) -> None:
    _sign_in(app)  # links oidc.real to the officer's sub
    # another person at the provider whose user name claim says oidc.real is refused
    client, done, _ = _sign_in(app, IMPOSTOR_SUB)
    _refused(db, client, done, "linked to another identity")
    # the officer is renamed at the provider: still their account, linked by sub
    accounts_config = {**provider.config["accounts"], OFFICER_SUB: {"preferred_username": "renamed"}}
    provider.restart(accounts=accounts_config)
    client, done, _ = _sign_in(app)
    assert done.headers["Location"] == "/explore"
    assert audit.entries(db, event="sign_in", limit=1)[0].actor == "user:oidc.real"
    # a disabled account stays out whatever the provider says
    accounts.set_disabled(db, "oidc.real")
    client, done, _ = _sign_in(app)
    _refused(db, client, done, "disabled")


def test_a_person_without_a_local_account_is_refused(app: Any, db: Any) -> None:
    client, done, _ = _sign_in(app, "u-2002")
    _refused(db, client, done, "no enabled local account 'not.here'")


# -- keys -------------------------------------------------------------------------------------


def _forged(app: Any, key: RSAKey, nonce: str, now: float, **changes: Any) -> str:
    claims = {
        "iss": app_issuer(app),
        "sub": OFFICER_SUB,
        "aud": CLIENT_ID,
        "nonce": nonce,
        "iat": int(now),
        "exp": int(now) + 300,
        **changes,
    }
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def test_a_rotated_key_is_fetched_and_a_withdrawn_one_refused(
    app: Any, db: Any, provider: OpenIdProvider
) -> None:
    _sign_in(app)  # signed with k1; the app has read the provider's keys
    provider.restart(jwks=_jwks("k2", "k1"))  # k2 signs from now on; k1 still published
    client, done, _ = _sign_in(app)
    assert done.headers["Location"] == "/explore"  # k2 was unknown: the keys were read again
    client_ = _oidc_client(app)
    now = time.time()
    old = _forged(app, KEYS["k1"], "n", now)
    assert client_.verify_id_token(old, "n", now=now)["sub"] == OFFICER_SUB  # still published
    provider.restart(jwks=_jwks("k2"))  # k1 withdrawn
    later = now + client_.keys_seconds + 1  # the keys the app holds have expired
    with pytest.raises(oidc.OidcError, match="no signing key 'k1'"):
        client_.verify_id_token(_forged(app, KEYS["k1"], "n", later), "n", now=later)
    client, done, _ = _sign_in(app)
    assert done.headers["Location"] == "/explore"


def test_unknown_key_ids_read_the_keys_at_most_every_few_seconds(
    app: Any, provider: OpenIdProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = oidc.OidcClient(issuer=provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    reads: list[str] = []
    get = requests.get

    def counting(url: str, **kwargs: Any) -> Any:
        reads.append(url)
        return get(url, **kwargs)

    monkeypatch.setattr(oidc.requests, "get", counting)
    stranger = _key("forged")
    now = time.time()
    for offset in (0.0, 1.0, 2.0):  # one forged key id: the first read the keys, the next wait
        with pytest.raises(oidc.OidcError, match="no signing key 'forged'"):
            client.verify_id_token(_forged(app, stranger, "n", now + offset), "n", now=now + offset)
    assert sum(url.endswith("/jwks") for url in reads) == 1
    later = now + oidc.REFETCH_SECONDS + 1
    with pytest.raises(oidc.OidcError):
        client.verify_id_token(_forged(app, stranger, "n", later), "n", now=later)
    assert sum(url.endswith("/jwks") for url in reads) == 2


# -- login CSRF and tampering -----------------------------------------------------------------


def test_login_csrf_is_refused(app: Any, db: Any) -> None:
    """The attacker starts a flow and signs in at the provider as themself, then has the victim's
    browser open the callback URL: the victim is not signed in as the attacker."""
    attacker, authorize = _start(app)
    callback = urlsplit(_at_provider(requests.Session(), authorize, OFFICER_SUB))
    victim = app.server.test_client()
    done = victim.get(callback.path + "?" + callback.query)
    _refused(db, victim, done, "started in another browser")


Tamper = Callable[[Any, dict[str, Any]], None]


def _resign(app: Any, **changes: Any) -> Tamper:
    """Replace the ID token by one the provider's own key signs, with ``changes`` (what a bug or a
    malicious party at the provider could send)."""

    def tamper(app_: Any, answer: dict[str, Any]) -> None:
        claims = {**_claims(answer["id_token"]), **changes}
        answer["id_token"] = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, KEYS["k1"])

    return tamper


def _edit_token(change: Callable[[str], str]) -> Tamper:
    def tamper(app_: Any, answer: dict[str, Any]) -> None:
        answer["id_token"] = change(answer["id_token"])

    return tamper


def _payload_swapped(token: str) -> str:
    head, body, sig = token.split(".")
    claims = {**json.loads(oidc.b64url_decode(body)), "sub": "u-2002"}
    return ".".join([head, oidc.b64url(json.dumps(claims).encode()), sig])


def _alg_none(token: str) -> str:
    _, body, _ = token.split(".")
    return oidc.b64url(json.dumps({"alg": "none"}).encode()) + "." + body + "."


def _hs256_with_another_secret(token: str) -> str:
    _, body, _ = token.split(".")
    key = OctKey.import_key("not the client secret, but long enough")
    return jwt.encode({"alg": "HS256"}, json.loads(oidc.b64url_decode(body)), key)


def _foreign_key(token: str) -> str:
    claims = _claims(token)
    return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, _key("k1"))


TOKEN_TAMPERING: dict[str, tuple[Callable[[Any], Tamper], str]] = {
    "payload changed": (lambda app: _edit_token(_payload_swapped), "bad ID token signature"),
    "alg none": (lambda app: _edit_token(_alg_none), "unsupported ID token algorithm 'none'"),
    "HS256 with another secret": (
        lambda app: _edit_token(_hs256_with_another_secret),
        "bad ID token signature",
    ),
    "signed by another key": (lambda app: _edit_token(_foreign_key), "bad ID token signature"),
    "no ID token": (lambda app: _edit_token(lambda t: ""), "malformed ID token"),
    "other nonce": (lambda app: _resign(app, nonce="replayed"), "nonce does not match"),
    "no nonce": (lambda app: _resign(app, nonce=None), "nonce does not match"),
    "other issuer": (lambda app: _resign(app, iss="http://127.0.0.1:1"), "another issuer"),
    "other audience": (lambda app: _resign(app, aud="someone-else"), "for another client"),
    "extra audience": (lambda app: _resign(app, aud=[CLIENT_ID, "someone-else"]), "also for other clients"),
    "azp of another client": (lambda app: _resign(app, azp="someone-else"), "another party (azp)"),
    "expired": (lambda app: _resign(app, exp=int(time.time()) - 3600), "expired"),
    "issued in the future": (lambda app: _resign(app, iat=int(time.time()) + 3600), "in the future"),
    "no subject": (lambda app: _resign(app, sub=""), "without a subject"),
}


@pytest.mark.parametrize("case", sorted(TOKEN_TAMPERING))
def test_a_tampered_token_answer_is_refused_and_audited(
    case: str, app: Any, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make, detail = TOKEN_TAMPERING[case]
    tamper = make(app)
    client_ = _oidc_client(app)
    exchange = client_.exchange

    def tampered(*args: Any) -> dict[str, Any]:
        answer = exchange(*args)
        tamper(app, answer)
        return answer

    monkeypatch.setattr(client_, "exchange", tampered)
    client, done, _ = _sign_in(app)
    _refused(db, client, done, detail)


def test_userinfo_of_another_person_is_refused(app: Any, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Token substitution: the access token of someone else's flow with the officer's ID token."""
    answers = _answers(app, monkeypatch)
    _sign_in(app, "u-2002")
    stolen = answers[-1]["access_token"]
    client_ = _oidc_client(app)
    exchange = client_.exchange

    def substituted(*args: Any) -> dict[str, Any]:
        return {**exchange(*args), "access_token": stolen}

    monkeypatch.setattr(client_, "exchange", substituted)
    client, done, _ = _sign_in(app)
    _refused(db, client, done, "UserInfo names another subject")


def _callback_tampered(change: Callable[[dict[str, str]], dict[str, str]]) -> Callable[[str], str]:
    def edit(url: str) -> str:
        parts = urlsplit(url)
        query = change({k: v[0] for k, v in parse_qs(parts.query).items()})
        return parts.path + "?" + urlencode(query)

    return edit


CALLBACK_TAMPERING: dict[str, tuple[Callable[[str], str], str]] = {
    "state changed": (
        _callback_tampered(lambda q: {**q, "state": q["state"] + "x"}),
        "unknown or expired state",
    ),
    "no state": (_callback_tampered(lambda q: {k: v for k, v in q.items() if k != "state"}), "unknown"),
    "code changed": (
        _callback_tampered(lambda q: {**q, "code": q["code"][:-2] + "xx"}),
        "token endpoint answered 400",
    ),
    "no code": (
        _callback_tampered(lambda q: {k: v for k, v in q.items() if k != "code"}),
        "no authorization code",
    ),
    "other issuer": (_callback_tampered(lambda q: {**q, "iss": "http://evil.example"}), "another issuer"),
    "error": (
        _callback_tampered(lambda q: {"state": q["state"], "error": "access_denied"}),
        "provider refused",
    ),
}


@pytest.mark.parametrize("case", sorted(CALLBACK_TAMPERING))
def test_a_tampered_callback_is_refused_and_audited(case: str, app: Any, db: Any) -> None:
    edit, detail = CALLBACK_TAMPERING[case]
    client, authorize = _start(app)
    callback = _at_provider(requests.Session(), authorize, OFFICER_SUB)
    _refused(db, client, client.get(edit(callback)), detail)


def test_a_callback_and_a_code_are_used_once(app: Any, db: Any) -> None:
    client, done, callback = _sign_in(app)
    assert done.headers["Location"] == "/explore"
    parts = urlsplit(callback)
    again = app.server.test_client()
    _refused(db, again, again.get(parts.path + "?" + parts.query), "unknown or expired state")


# -- signing out ------------------------------------------------------------------------------


def test_sign_out_ends_the_session_here_and_at_the_provider(app: Any, db: Any) -> None:
    browser = requests.Session()  # the person's browser at the provider (its session cookie)
    client, authorize = _start(app)
    callback = urlsplit(_at_provider(browser, authorize, OFFICER_SUB))
    assert client.get(callback.path + "?" + callback.query).headers["Location"] == "/explore"
    assert client.get("/explore").status_code == 200
    form = client.get("/logout").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token is not None
    out = client.post("/logout", data={"csrf": token.group(1)})
    assert client.get("/explore").status_code == 302  # the app's session has ended
    assert audit.entries(db, event="sign_out", limit=1)[0].actor == "user:oidc.real"
    # ... and the browser goes on to the provider, which ends its own session there
    end = urlsplit(out.headers["Location"])
    assert out.status_code == 302 and end.netloc == urlsplit(app_issuer(app)).netloc
    query = parse_qs(end.query)
    assert query["post_logout_redirect_uri"] == ["http://localhost/login?m=signed_out"]
    assert _claims(query["id_token_hint"][0])["sub"] == OFFICER_SUB
    confirm = browser.get(out.headers["Location"], timeout=10)
    action = re.search(r'<form id="op.logoutForm" method="post" action="([^"]+)"', confirm.text)
    xsrf = re.search(r'name="xsrf" value="([^"]+)"', confirm.text)
    assert action is not None and xsrf is not None, confirm.text[:500]
    done = browser.post(
        urljoin(confirm.url, action.group(1)),
        data={"xsrf": xsrf.group(1), "logout": "yes"},
        allow_redirects=False,
        timeout=10,
    )
    assert done.headers["Location"] == "http://localhost/login?m=signed_out"
    # signed out at the provider too: signing in again asks who it is
    _, authorize = _start(app)
    page = browser.get(authorize, timeout=10)
    assert 'name="login"' in page.text


def test_a_provider_without_end_session_signs_out_here_only(app: Any, provider: OpenIdProvider) -> None:
    client_ = _oidc_client(app)
    assert oidc.end_session_url(client_, None) is None  # a password session: nothing to end there
    client_._discovery = (time.time(), {**client_.discovery(), "end_session_endpoint": None})
    assert oidc.end_session_url(client_, "an ID token") is None
