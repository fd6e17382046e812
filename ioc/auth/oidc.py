"""OpenID Connect sign-in (authorization-code flow with PKCE) against the city's identity provider.

Only the standard library and requests. The provider is found through its discovery document
(``<issuer>/.well-known/openid-configuration``). The ID token comes straight from the token
endpoint (back channel), and is checked: issuer, audience, expiry, nonce, and its signature
(HS256 with the client secret; RS256 against the provider's JWKS). The signed-in person must have
a local account (its role and districts live here, not at the provider): the claim named by
``oidc_username_claim`` picks it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from ioc import settings
from ioc.auth import accounts, audit, rules

STATE_SECONDS = 600
BROWSER_COOKIE = "ioc_oidc"  # binds a sign-in flow to the browser that started it
LEEWAY = 60


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


@dataclass
class OidcClient:
    issuer: str
    client_id: str
    client_secret: str = ""
    redirect_uri: str = ""
    scopes: str = "openid profile email"
    username_claim: str = "preferred_username"
    timeout: float = 10.0
    _discovery: dict[str, Any] | None = field(default=None, repr=False)
    _jwks: dict[str, Any] | None = field(default=None, repr=False)

    def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            response = requests.get(url, timeout=self.timeout)
            response.raise_for_status()
            document = response.json()
            if document.get("issuer", "").rstrip("/") != self.issuer.rstrip("/"):
                raise OidcError("the discovery document names another issuer")
            self._discovery = document
        return self._discovery

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
        return response.json()  # type: ignore[no-any-return]

    def _key(self, kid: str | None) -> Any:
        if self._jwks is None:
            response = requests.get(self.discovery()["jwks_uri"], timeout=self.timeout)
            response.raise_for_status()
            self._jwks = response.json()
        for jwk in self._jwks.get("keys", []):
            if jwk.get("kty") == "RSA" and (kid is None or jwk.get("kid") == kid):
                from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

                n = int.from_bytes(b64url_decode(jwk["n"]), "big")
                e = int.from_bytes(b64url_decode(jwk["e"]), "big")
                return RSAPublicNumbers(e, n).public_key()
        raise OidcError("no matching signing key at the provider")

    def verify_id_token(self, token: str, nonce: str, now: float | None = None) -> dict[str, Any]:
        try:
            head_b64, body_b64, sig_b64 = token.split(".")
            header = json.loads(b64url_decode(head_b64))
            claims = json.loads(b64url_decode(body_b64))
            signature = b64url_decode(sig_b64)
        except ValueError as error:
            raise OidcError("malformed ID token") from error
        signed = f"{head_b64}.{body_b64}".encode("ascii")
        alg = header.get("alg")
        if alg == "HS256" and self.client_secret:
            expected = hmac.new(self.client_secret.encode(), signed, hashlib.sha256).digest()
            if not hmac.compare_digest(expected, signature):
                raise OidcError("bad ID token signature")
        elif alg == "RS256":
            from cryptography.exceptions import InvalidSignature
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import padding

            try:
                self._key(header.get("kid")).verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature as error:
                raise OidcError("bad ID token signature") from error
        else:
            raise OidcError(f"unsupported ID token algorithm {alg!r}")  # never 'none'
        now = time.time() if now is None else now
        if str(claims.get("iss", "")).rstrip("/") != self.issuer.rstrip("/"):
            raise OidcError("ID token from another issuer")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.client_id not in audiences:
            raise OidcError("ID token for another client")
        if float(claims.get("exp", 0)) < now - LEEWAY:
            raise OidcError("ID token expired")
        if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OidcError("ID token nonce does not match")
        return claims  # type: ignore[no-any-return]


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
    )


def _redirect_uri(client: OidcClient) -> str:
    return client.redirect_uri or request.host_url.rstrip("/") + "/auth/oidc/callback"


def start() -> BaseResponse:
    from ioc.auth.web import auth_state, client_ip, secure_cookies

    state = auth_state()
    client: OidcClient | None = state.oidc
    if client is None:
        return Response("OpenID Connect sign-in is not configured\n", status=404, mimetype="text/plain")
    verifier, challenge = pkce_pair()
    key, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    next_url = rules.safe_next(request.args.get("next"))
    # the flow belongs to this browser: its callback is refused in any other (login CSRF, RFC 9700 4.7)
    browser = request.cookies.get(BROWSER_COOKIE) or secrets.token_urlsafe(32)
    with state.db.connect() as con:
        con.execute("DELETE FROM oidc_flows WHERE created_at < ?", (time.time() - STATE_SECONDS,))
        con.execute(
            "INSERT INTO oidc_flows (state, browser, verifier, nonce, next, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (key, _digest(browser), verifier, nonce, next_url, time.time()),
        )
    try:
        url = client.authorization_url(key, nonce, challenge, _redirect_uri(client))
    except (requests.RequestException, OidcError, KeyError) as error:
        audit.record(state.db, "sign_in", "failed", detail=f"oidc discovery: {error}", ip=client_ip())
        return redirect("/login?m=oidc_failed", code=302)
    response = redirect(url, code=302)
    # Lax, not Strict: the provider sends the browser back with a top-level cross-site GET
    response.set_cookie(
        BROWSER_COOKIE,
        browser,
        max_age=STATE_SECONDS,
        secure=secure_cookies(),
        httponly=True,
        samesite="Lax",
        path="/auth/oidc/",
    )
    return response


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def callback() -> BaseResponse:
    from ioc.auth.web import auth_state, client_ip, start_session

    state = auth_state()
    client: OidcClient | None = state.oidc
    if client is None:
        return Response("OpenID Connect sign-in is not configured\n", status=404, mimetype="text/plain")
    ip = client_ip()
    key = request.args.get("state") or ""
    browser = request.cookies.get(BROWSER_COOKIE) or ""
    with state.db.connect() as con:
        row = con.execute(
            "SELECT browser, verifier, nonce, next, created_at FROM oidc_flows WHERE state = ?", (key,)
        ).fetchone()
        con.execute("DELETE FROM oidc_flows WHERE state = ?", (key,))  # one use only
    try:
        if row is None or row["created_at"] < time.time() - STATE_SECONDS:
            raise OidcError("unknown or expired state")
        if not browser or not hmac.compare_digest(_digest(browser), row["browser"]):
            raise OidcError("the sign-in was started in another browser (login CSRF refused)")
        if request.args.get("error"):
            raise OidcError(f"provider refused: {request.args.get('error')}")
        code = request.args.get("code") or ""
        if not code:
            raise OidcError("no authorization code")
        answer = client.exchange(code, row["verifier"], _redirect_uri(client))
        claims = client.verify_id_token(str(answer.get("id_token", "")), row["nonce"])
        username = str(claims.get(client.username_claim) or "")
        account = accounts.get(state.db, username)
        if account is None or account.disabled:
            raise OidcError(f"no enabled local account {username!r}")
    except (OidcError, requests.RequestException, KeyError, ValueError) as error:
        audit.record(state.db, "sign_in", "failed", detail=f"oidc: {error}", ip=ip)
        return redirect("/login?m=oidc_failed", code=302)
    return start_session(state, account.username, row["next"], "oidc")
