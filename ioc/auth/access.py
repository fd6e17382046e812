"""Roles, and the units an account or token may be limited to.

Which data a principal may read is an :class:`ioc.access.AccessScope` (re-exported here): the web
layer builds the metrics front door from it once per request (ioc.frontdoor); the metrics layer
never imports this package.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from ioc.access import EVERYTHING, AccessScope

LEADERSHIP = "leadership"
DISTRICT_OFFICER = "district_officer"
PRINCIPAL = "principal"  # a school's principal: that one school
ANALYST = "analyst"
ADMIN = "admin"
KIOSK = "kiosk"
ROLES = (
    LEADERSHIP,
    DISTRICT_OFFICER,
    PRINCIPAL,
    ANALYST,
    ADMIN,
)  # roles of accounts; kiosk is a device token
RESTRICTED_ROLES = frozenset({DISTRICT_OFFICER, PRINCIPAL})  # roles that see only the units assigned

# what each role may do besides reading KPIs within its scope
EXPORT_ROLES = frozenset({ANALYST, ADMIN})
# district officers and principals see the data health of their own schools (the front door scopes
# its queries)
DATA_HEALTH_ROLES = frozenset({LEADERSHIP, DISTRICT_OFFICER, PRINCIPAL, ANALYST, ADMIN})
ADMIN_ROLES = frozenset({ADMIN})

REFERENCE = Path(__file__).resolve().parent.parent / "reference"


G_KEY = "ioc_access"  # where the guard leaves the request's AccessScope in flask.g (ioc.frontdoor reads it)


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


__all__ = ["EVERYTHING", "G_KEY", "AccessScope", "split_codes", "validate_units", "known_units"]
