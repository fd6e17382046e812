"""Roles and the access scope: which data a signed-in principal may read.

:class:`AccessScope` is the value the metrics layer applies in its queries (restricting schools to
districts/wards) and puts in every cache key. It never imports Flask at module level, so the
metrics layer can use :func:`current_access` without depending on the web app.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

LEADERSHIP = "leadership"
DISTRICT_OFFICER = "district_officer"
ANALYST = "analyst"
ADMIN = "admin"
KIOSK = "kiosk"
ROLES = (LEADERSHIP, DISTRICT_OFFICER, ANALYST, ADMIN)  # roles of accounts; kiosk is a device token

# what each role may do besides reading KPIs within its scope
EXPORT_ROLES = frozenset({ANALYST, ADMIN})
# district officers see the data health of their own schools (ioc.metrics.health scopes its queries)
DATA_HEALTH_ROLES = frozenset({LEADERSHIP, DISTRICT_OFFICER, ANALYST, ADMIN})
ADMIN_ROLES = frozenset({ADMIN})

REFERENCE = Path(__file__).resolve().parent.parent / "reference"


@dataclass(frozen=True)
class AccessScope:
    """The schools a principal may read: all (``districts is None``) or those whose district is in
    ``districts`` or whose ward is in ``wards``. An empty restricted scope allows nothing."""

    districts: frozenset[str] | None = None
    wards: frozenset[str] = frozenset()

    @classmethod
    def everything(cls) -> AccessScope:
        return cls(None, frozenset())

    @classmethod
    def limited(cls, districts: Iterable[str] = (), wards: Iterable[str] = ()) -> AccessScope:
        return cls(frozenset(districts), frozenset(wards))

    @property
    def restricted(self) -> bool:
        return self.districts is not None

    @property
    def empty(self) -> bool:
        return self.restricted and not self.districts and not self.wards

    def allows_district(self, district: str | None) -> bool:
        """The whole district (its page, its totals) is readable."""
        return not self.restricted or (district is not None and district in (self.districts or ()))

    def allows_ward(self, ward: str | None, district: str | None) -> bool:
        return self.allows_district(district) or (ward is not None and ward in self.wards)

    def key(self) -> str:
        """A stable text for cache keys: the same scope always gives the same key."""
        if not self.restricted:
            return "all"
        return "d=" + ",".join(sorted(self.districts or ())) + ";w=" + ",".join(sorted(self.wards))

    def sql_lists(self) -> tuple[list[str], list[str]]:
        """(district codes, ward codes) as bound parameter values for the metrics queries."""
        return sorted(self.districts or ()), sorted(self.wards)


EVERYTHING = AccessScope.everything()

_UNSET = object()
_CURRENT: ContextVar[object] = ContextVar("ioc_access_scope", default=_UNSET)
G_KEY = "ioc_access"


def current_access() -> AccessScope | None:
    """The access scope in force: the one of an enclosing :func:`acting_as` block, else the one the
    web guard put on the request being served, else None (no restriction: CLI, scheduler, tests)."""
    explicit = _CURRENT.get()
    if explicit is not _UNSET:
        return explicit  # type: ignore[return-value]
    try:
        from flask import g, has_app_context
    except ImportError:  # pragma: no cover - Flask is a dependency of the product
        return None
    if has_app_context():
        return g.get(G_KEY)  # type: ignore[no-any-return]
    return None


def access_key() -> str:
    """The current access scope as a cache-key part ('all' when unrestricted)."""
    scope = current_access()
    return "all" if scope is None else scope.key()


@contextmanager
def acting_as(scope: AccessScope | None) -> Iterator[None]:
    """Run a block with ``scope`` as the current access scope (None: unrestricted), whatever the
    request says: background work, the guard's own look-ups, tests."""
    token = _CURRENT.set(scope)
    try:
        yield
    finally:
        _CURRENT.reset(token)


@lru_cache(maxsize=1)
def known_units() -> tuple[frozenset[str], frozenset[str]]:
    """(district codes, ward codes) of the city from the project's reference files: the 22 former
    districts with their 273 wards (2025-03) and the 168 current units with their source district."""
    districts: set[str] = set()
    wards: set[str] = set()
    old = json.loads((REFERENCE / "hcmc_units_2025-03.json").read_text(encoding="utf-8"))
    for d in old["districts"]:
        districts.add(str(d["code"]))
        wards.update(str(w["code"]) for w in d.get("wards", ()))
    new = json.loads((REFERENCE / "hcmc_units_2025.json").read_text(encoding="utf-8"))
    for u in new["units"]:
        wards.add(str(u["code"]))
        if u.get("district_code"):
            districts.add(str(u["district_code"]))
    return frozenset(districts), frozenset(wards)


def split_codes(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """'760, 761' or ['760'] -> ('760', '761'): trimmed, de-duplicated, in order."""
    if text is None:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    seen: dict[str, None] = {}
    for item in items:
        code = str(item).strip()
        if code:
            seen[code] = None
    return tuple(seen)


def validate_units(districts: Iterable[str], wards: Iterable[str]) -> None:
    """ValueError naming the first district or ward code the city does not have."""
    known_d, known_w = known_units()
    for code in districts:
        if code not in known_d:
            raise ValueError(f"unknown district code {code!r}")
    for code in wards:
        if code not in known_w:
            raise ValueError(f"unknown ward code {code!r}")
