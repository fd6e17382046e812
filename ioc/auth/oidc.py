"""OpenID Connect sign-in (authorization-code flow with PKCE) against the city's identity provider.

The provider is found through its discovery document (``<issuer>/.well-known/openid-configuration``).
A sign-in is bound to the browser that started it (a cookie whose hash is stored with the flow's
state, verifier and nonce: RFC 9700 4.7). The ID token comes straight from the token endpoint (back
channel) and is checked as OIDC Core 3.1.3.7 says, with joserfc: signature (RS/PS/ES/EdDSA against
the provider's JWKS, or HS256 with the client secret; never ``none``), issuer, audience (this client
and no other) and ``azp``, expiry, issue time and nonce. Profile claims are read from UserInfo (a
conforming provider puts them there in the code flow, OIDC Core 5.4), whose ``sub`` must be the ID
token's. The discovery document and the keys are kept ``oidc_keys_seconds``, and the keys are read
again at once for a key id they do not have: a rotation needs no restart, a withdrawn key stops
being accepted.

A person signs in to a local account (its role and districts live here, not at the provider):
linked by the provider's issuer + ``sub`` (OIDC Core 5.7: the only stable, unique pair). The first
sign-in links them through the claim named by ``oidc_username_claim``, which must name an enabled
local account not linked yet; after that the claim is never read again.

Signing out of an OIDC session also ends the provider's (RP-Initiated Logout), when the provider
offers an end-session endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Response, redirect, request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey
from werkzeug.wrappers import Response as BaseResponse

from ioc import settings
from ioc.auth import accounts, audit, rules
from ioc.auth.db import AuthDb

STATE_SECONDS = 600
LEEWAY = 60
BROWSER_COOKIE = "ioc_oidc"  # binds a sign-in flow to the browser that started it
HINT_COOKIE = "ioc_oidc_hint"  # an OIDC session's ID token, sent back to the provider at sign-out
HINT_LIMIT = 3500  # a longer ID token is not kept (browsers keep cookies up to 4 KB)
REFETCH_SECONDS = 10.0  # one unknown key id reads the keys again at most this often
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"}
)


class OidcError(Exception):
    pass


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge) of RFC 7636."""
    verifier = b64url(secrets.token_bytes(48))
    return verifier, b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def _same_issuer(a: object, b: str) -> bool:
    return isinstance(a, str) and a.rstrip("/") == b.rstrip("/")


@dataclass
class OidcClient:
    issuer: str
    client_id: str
    client_secret: str = ""
    redirect_uri: str = ""
    scopes: str = "openid profile email"
    username_claim: str = "preferred_username"
    timeout: float = 10.0
    keys_seconds: float = 3600.0  # how long the discovery document and the keys are kept
    _discovery: tuple[float, dict[str, Any]] | None = field(default=None, repr=False)
    _jwks: tuple[float, KeySet] | None = field(default=None, repr=False)
    _missed: dict[str, float] = field(default_factory=dict, repr=False)  # key id -> when it was missed
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def _get_json(self, url: str, what: str) -> Any:
        response = requests.get(url, timeout=self.timeout, headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise OidcError(f"the provider's {what} answered {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise OidcError(f"the provider's {what} is not JSON") from None

    def discovery(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        with self._lock:
            if self._discovery is None or now - self._discovery[0] >= self.keys_seconds:
                url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                document = self._get_json(url, "discovery document")
                if not isinstance(document, dict) or not _same_issuer(document.get("issuer"), self.issuer):
                    raise OidcError("the discovery document names another issuer")
                self._discovery = (now, document)
            return self._discovery[1]

    def authorization_url(self, state: str, nonce: str, challenge: str, redirect_uri: str) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return self.discovery()["authorization_endpoint"] + "?" + urlencode(params)

    def exchange(self, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
            "code_verifier": verifier,
        }
        auth = (self.client_id, self.client_secret) if self.client_secret else None
        response = requests.post(
            self.discovery()["token_endpoint"], data=data, auth=auth, timeout=self.timeout
        )
        if response.status_code != 200:
            raise OidcError(f"token endpoint answered {response.status_code}")
        answer = response.json()
        if not isinstance(answer, dict):
            raise OidcError("the token endpoint's answer is not a JSON object")
        return answer

    def userinfo(self, access_token: str, subject: str) -> dict[str, Any]:
        """The UserInfo claims (OIDC Core 5.3), checked to be about ``subject``; {} when the
        provider has no UserInfo endpoint (then the ID token carries every claim)."""
        endpoint = self.discovery().get("userinfo_endpoint")
        if not endpoint:
            return {}
        if not access_token:
            raise OidcError("the token endpoint sent no access token for UserInfo")
        response = requests.get(
            endpoint,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            timeout=self.timeout,
        )
        if response.status_code != 200:
            raise OidcError(f"userinfo endpoint answered {response.status_code}")
        if not response.headers.get("Content-Type", "").startswith("application/json"):
            raise OidcError("signed or encrypted UserInfo answers are not supported (ask for plain JSON)")
        claims = response.json()
        if not isinstance(claims, dict):
            raise OidcError("the UserInfo answer is not a JSON object")
        # OIDC Core 5.3.2: a UserInfo answer about another subject must not be used (token substitution)
        if not isinstance(claims.get("sub"), str) or not hmac.compare_digest(claims["sub"], subject):
            raise OidcError("UserInfo names another subject than the ID token")
        return claims

    def _keyset(self, now: float, missing: str | None = None) -> KeySet:
        """The provider's keys; read again when they are older than keys_seconds, or for a key id
        they lack (once per REFETCH_SECONDS for the same id: a rotation is seen at once, a forged
        id repeated does not make every sign-in read the keys)."""
        with self._lock:
            stale = self._jwks is None or now - self._jwks[0] >= self.keys_seconds
            refresh = False
            if missing is not None:
                last = self._missed.get(missing, -REFETCH_SECONDS)
                refresh = (
                    not stale
                    and self._jwks is not None
                    and self._jwks[0] < now
                    and now - last >= REFETCH_SECONDS
                )
                if refresh or (self._jwks is not None and self._jwks[0] == now):  # read for this check
                    self._missed = {k: t for k, t in self._missed.items() if now - t < REFETCH_SECONDS}
                    self._missed[missing] = now
            if stale or refresh:
                document = self._get_json(self.discovery(now)["jwks_uri"], "JWKS")
                keys = [k for k in (document or {}).get("keys", []) if k.get("use", "sig") == "sig"]
                try:
                    self._jwks = (now, KeySet.import_key_set({"keys": keys}))
                except (JoseError, ValueError, TypeError) as error:
                    raise OidcError(f"the provider's JWKS cannot be read: {error}") from None
            assert self._jwks is not None
            return self._jwks[1]

    def _key(self, kid: str | None, alg: str, now: float) -> Any:
        """The provider's public key for ``kid``; the keys are read again once when it is unknown."""
        for missing in (None, str(kid)):
            found = [
                k
                for k in self._keyset(now, missing)
                if (kid is None or k.kid == kid) and k.get("alg", alg) == alg
            ]
            if kid is not None and found:
                return found[0]
            if kid is None and len(found) == 1:
                return found[0]
        raise OidcError(f"no signing key {kid!r} at the provider (unknown or withdrawn)")

    def verify_id_token(self, token: str, nonce: str, now: float | None = None) -> dict[str, Any]:
        """The claims of ``token`` after every check of OIDC Core 3.1.3.7; OidcError otherwise."""
        now = time.time() if now is None else now
        try:
            header = json.loads(b64url_decode(token.split(".")[0]))
        except (ValueError, IndexError) as error:
            raise OidcError("malformed ID token") from error
        alg = header.get("alg") if isinstance(header, dict) else None
        if alg == "HS256" and self.client_secret:
            key: Any = OctKey.import_key(self.client_secret)
        elif alg in ASYMMETRIC:
            key = self._key(header.get("kid"), str(alg), now)
        else:
            raise OidcError(f"unsupported ID token algorithm {alg!r}")  # never 'none'
        try:
            claims: dict[str, Any] = dict(jwt.decode(token, key, algorithms=[str(alg)]).claims)
        except JoseError as error:
            raise OidcError(f"bad ID token signature ({error.error})") from None
        except ValueError as error:
            raise OidcError(f"malformed ID token ({error})") from None
        if not _same_issuer(claims.get("iss"), self.issuer):
            raise OidcError("ID token from another issuer")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise OidcError("ID token without a subject")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.client_id not in audiences:
            raise OidcError("ID token for another client")
        # 3.1.3.7 (3): audiences this client does not trust -- every other one -- are refused
        if len(audiences) > 1:
            raise OidcError(
                f"ID token also for other clients {sorted(str(a) for a in audiences if a != self.client_id)}"
            )
        if "azp" in claims and claims["azp"] != self.client_id:
            raise OidcError("ID token authorized for another party (azp)")
        for name in ("exp", "iat"):
            if not isinstance(claims.get(name), (int, float)):
                raise OidcError(f"ID token without {name}")
        if claims["exp"] < now - LEEWAY:
            raise OidcError("ID token expired")
        if claims["iat"] > now + LEEWAY:
            raise OidcError("ID token issued in the future")
        if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OidcError("ID token nonce does not match")
        return claims


def client_from_settings() -> OidcClient | None:
    issuer = str(settings.get("oidc_issuer")).strip()
    client_id = str(settings.get("oidc_client_id")).strip()
    if not issuer or not client_id:
        return None
    return OidcClient(
        issuer=issuer,
        client_id=client_id,
        client_secret=str(settings.get("oidc_client_secret")),
        redirect_uri=str(settings.get("oidc_redirect_uri")).strip(),
        scopes=str(settings.get("oidc_scopes")),
        username_claim=str(settings.get("oidc_username_claim")),
        keys_seconds=float(settings.get("oidc_keys_seconds")),
    )


def _redirect_uri(client: OidcClient) -> str:
    return client.redirect_uri or request.host_url.rstrip("/") + "/auth/oidc/callback"


def _signed_out_uri(client: OidcClient) -> str:
    """Where the provider sends the browser after signing out (register it at the provider as a
    post-logout redirect URI): the sign-in page, on the redirect URI's server."""
    base = client.redirect_uri.split("/auth/oidc/callback")[0] if client.redirect_uri else request.host_url
    return base.rstrip("/") + "/login?m=signed_out"


def end_session_url(client: OidcClient | None, id_token: str | None) -> str | None:
    """RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the provider's end-session URL
    for the browser of an OIDC session, or None (no such session, or the provider offers none)."""
    if client is None or not id_token:
        return None
    try:
        endpoint = client.discovery().get("end_session_endpoint")
    except (requests.RequestException, OidcError):
        return None
    if not endpoint:
        return None
    params = {
        "id_token_hint": id_token,
        "client_id": client.client_id,
        "post_logout_redirect_uri": _signed_out_uri(client),
    }
    return str(endpoint) + "?" + urlencode(params)


def start(db: AuthDb, client: OidcClient | None, ip: str, secure: bool) -> BaseResponse:
    """GET /auth/oidc/login: a new flow, bound to this browser; the browser goes to the provider.
    ``ip`` is the client's address, ``secure`` the cookies' Secure flag (the web layer knows both)."""
    if client is None:
        return Response("OpenID Connect sign-in is not configured\n", status=404, mimetype="text/plain")
    verifier, challenge = pkce_pair()
    key, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    next_url = rules.safe_next(request.args.get("next"))
    # the flow belongs to this browser: its callback is refused in any other (login CSRF, RFC 9700 4.7)
    browser = request.cookies.get(BROWSER_COOKIE) or secrets.token_urlsafe(32)
    with db.connect() as con:
        con.execute("DELETE FROM oidc_flows WHERE created_at < ?", (time.time() - STATE_SECONDS,))
        con.execute(
            "INSERT INTO oidc_flows (state, browser, verifier, nonce, next, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (key, _digest(browser), verifier, nonce, next_url, time.time()),
        )
    try:
        url = client.authorization_url(key, nonce, challenge, _redirect_uri(client))
    except (requests.RequestException, OidcError, KeyError) as error:
        audit.record(db, "sign_in", "failed", detail=f"oidc discovery: {error}", ip=ip)
        return redirect("/login?m=oidc_failed", code=302)
    response = redirect(url, code=302)
    # Lax, not Strict: the provider sends the browser back with a top-level cross-site GET
    response.set_cookie(
        BROWSER_COOKIE,
        browser,
        max_age=STATE_SECONDS,
        secure=secure,
        httponly=True,
        samesite="Lax",
        path="/auth/oidc/",
    )
    return response


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def callback(
    db: AuthDb,
    client: OidcClient | None,
    ip: str,
    secure: bool,
    start_session: Callable[[str, str], BaseResponse],
) -> BaseResponse:
    """GET /auth/oidc/callback: every check, then ``start_session(username, next_url)``; any
    failure is audited and sends the browser back to the sign-in page."""
    if client is None:
        return Response("OpenID Connect sign-in is not configured\n", status=404, mimetype="text/plain")
    key = request.args.get("state") or ""
    browser = request.cookies.get(BROWSER_COOKIE) or ""
    with db.connect() as con:
        row = con.execute(
            "SELECT browser, verifier, nonce, next, created_at FROM oidc_flows WHERE state = ?", (key,)
        ).fetchone()
        con.execute("DELETE FROM oidc_flows WHERE state = ?", (key,))  # one use only
    try:
        if row is None or row["created_at"] < time.time() - STATE_SECONDS:
            raise OidcError("unknown or expired state")
        if not browser or not hmac.compare_digest(_digest(browser), row["browser"]):
            raise OidcError("the sign-in was started in another browser (login CSRF refused)")
        # RFC 9207: a provider that names itself in the answer must be ours (mix-up attacks)
        if "iss" in request.args and not _same_issuer(request.args["iss"], client.issuer):
            raise OidcError("the authorization answer comes from another issuer")
        if request.args.get("error"):
            raise OidcError(f"provider refused: {request.args.get('error')}")
        code = request.args.get("code") or ""
        if not code:
            raise OidcError("no authorization code")
        answer = client.exchange(code, row["verifier"], _redirect_uri(client))
        claims = client.verify_id_token(str(answer.get("id_token", "")), row["nonce"])
        profile = client.userinfo(str(answer.get("access_token") or ""), claims["sub"])
        username = _local_account(db, client, claims, {**profile, **claims}, ip)
    except (OidcError, requests.RequestException, KeyError, ValueError) as error:
        audit.record(db, "sign_in", "failed", detail=f"oidc: {error}", ip=ip)
        return redirect("/login?m=oidc_failed", code=302)
    response = start_session(username, row["next"])
    response.delete_cookie(BROWSER_COOKIE, path="/auth/oidc/")
    id_token = str(answer["id_token"])
    if len(id_token) <= HINT_LIMIT:
        response.set_cookie(
            HINT_COOKIE,
            id_token,
            max_age=int(float(settings.get("session_hours")) * 3600),
            secure=secure,
            httponly=True,
            samesite="Lax",
            path="/logout",
        )
    return response


def _local_account(
    db: Any, client: OidcClient, token: dict[str, Any], claims: dict[str, Any], ip: str
) -> str:
    """The enabled local account of the person the provider vouched for: the one linked to the
    issuer + sub, else (first sign-in) the one the username claim names, linked from now on."""
    issuer, subject = str(token["iss"]), str(token["sub"])
    linked = accounts.linked_username(db, issuer, subject)
    if linked is None:
        username = claims.get(client.username_claim)
        if not isinstance(username, str) or not username:
            raise OidcError(f"the provider sent no {client.username_claim!r} claim (ID token or UserInfo)")
        account = accounts.get(db, username)
        if account is None or account.disabled:
            raise OidcError(f"no enabled local account {username!r}")
        try:
            accounts.link(db, issuer, subject, username, actor=f"oidc:{subject}")
        except accounts.AccountError as error:
            raise OidcError(str(error)) from None
        return username
    account = accounts.get(db, linked)
    if account is None or account.disabled:
        raise OidcError(f"the account {linked!r} linked to this identity is disabled or gone")
    return linked
