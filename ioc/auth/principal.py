"""Who is asking: a signed-in user, a kiosk device or an API client, with what they may read."""

from __future__ import annotations

from dataclasses import dataclass

from ioc.auth.access import EVERYTHING, AccessScope


@dataclass(frozen=True)
class Principal:
    kind: str  # 'user' | 'kiosk' | 'api' | 'open' (sign-in switched off for a local demo)
    name: str
    role: str  # an account role, 'kiosk' or 'api'
    access: AccessScope = EVERYTHING  # its units and, for a kiosk, its screens
    scopes: tuple[str, ...] = ()  # api: read / export
    csrf: str | None = None  # cookie sessions: the token every state-changing request must echo

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"
