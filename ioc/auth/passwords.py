"""Password hashing with scrypt (stdlib hashlib), self-describing so parameters can change later.

Stored form: ``scrypt$n$r$p$salt_b64$hash_b64``. n=2**15, r=8, p=1 uses 32 MiB and ~50-100 ms per
check on one core: slow for a guesser, unnoticeable at sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N, R, P = 2**15, 8, 1
MIN_LENGTH = 10


class WeakPassword(ValueError):
    pass


def check_strength(password: str, username: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if username and username.lower() in password.lower():
        raise WeakPassword("a password must not contain the user name")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=128 * 1024 * 1024, dklen=32
    )


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _derive(password, salt, N, R, P)
    b64 = base64.b64encode
    return f"scrypt${N}${R}${P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    """True when ``password`` matches ``stored``; a missing/garbled hash never matches."""
    if not stored:
        # same work as a real check, so timing does not tell which accounts exist
        _derive(password, b"x" * 16, N, R, P)
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


DUMMY_HASH = None  # verify_password(x, None) does the same work as a real check
