"""The authorisation rules of every route, as pure functions of (principal, request facts).

Kept apart from Flask so the role x route x district matrix can be tested quickly and exhaustively.
A rule returns None to allow or a short reason to refuse. ``locate(kind, value)`` tells where a
district/ward/school code or name lies in today's hierarchy (an ioc.access.Place; None when
unknown), and the principal's access scope decides (ioc.access: the one rule).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ioc.access import Place
from ioc.auth.access import ADMIN_ROLES, DATA_HEALTH_ROLES, EXPORT_ROLES
from ioc.auth.principal import Principal
from ioc.messages import Message, msg

Locate = Callable[[str, str], "Place | None"]
UNIT_PARAMS = ("district", "ward", "school")
UNIT_PATH = re.compile(r"^/(district|ward|school)/([^/?#]+)")
SCREEN_PATH = re.compile(r"^/screen/([^/?#]+)$")
# Dash's own endpoints that carry no data (code, layout skeleton, callback list)
DASH_STATIC = ("/_dash-layout", "/_dash-dependencies", "/_reload-hash", "/_favicon.ico")


def unit_refusal(principal: Principal, kind: str, value: str, locate: Locate) -> Message | None:
    """None when ``principal`` may read district/ward/school ``value``."""
    access = principal.access
    if not access.restricted:
        return None
    value = unquote(value)
    place = locate(kind, value)
    if place is None:
        return msg(
            "refusal.unknown_unit", kind=msg(f"refusal.kind.{kind}"), value=repr(value)
        )  # deny by default
    # the unit as a whole: a district page is a district's, not one of its schools'
    whole = Place(
        district=place.district,
        ward=place.ward if kind in ("ward", "school") else None,
        school=place.school if kind == "school" else None,
    )
    return (
        None
        if access.allows(whole)
        else msg("refusal.outside", kind=msg(f"refusal.kind.{kind}"), value=value)
    )


def units_refusal(principal: Principal, units: Iterable[tuple[str, str]], locate: Locate) -> Message | None:
    for kind, value in units:
        reason = unit_refusal(principal, kind, value, locate)
        if reason:
            return reason
    return None


def query_units(args: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    items = args.items() if isinstance(args, Mapping) else args
    return [(k, v) for k, v in items if k in UNIT_PARAMS and v]


def page_refusal(principal: Principal, url: str, locate: Locate) -> Message | None:
    """May ``principal`` open page ``url`` (a path with an optional query string)?"""
    parts = urlsplit(url)
    path = parts.path or "/"
    units = query_units(parse_qsl(parts.query))
    if principal.access.screens_only:  # a wall device: its screens, no other page
        screen = SCREEN_PATH.match(path)
        name = screen.group(1) if screen else ("control_room" if path == "/" else None)
        if name is None or not principal.access.allows_screen(unquote(name)):
            return msg("refusal.kiosk_page", path=path)
        return units_refusal(principal, units, locate)
    if principal.kind == "api":
        return msg("refusal.api_token")
    if path.rstrip("/") == "/data-health" and principal.role not in DATA_HEALTH_ROLES:
        return msg("refusal.data_health")
    if path.startswith("/admin") and principal.role not in ADMIN_ROLES:
        return msg("refusal.admin")
    match = UNIT_PATH.match(path)
    if match:
        units.insert(0, (match.group(1), match.group(2)))
    return units_refusal(principal, units, locate)


def api_refusal(principal: Principal, args: Mapping[str, str], locate: Locate) -> Message | None:
    wants_csv = args.get("format") == "csv"
    if principal.kind == "api":
        if "read" not in principal.scopes:
            return msg("refusal.scope", scope="read")
        if wants_csv and "export" not in principal.scopes:
            return msg("refusal.scope", scope="export")
    elif principal.kind == "kiosk":
        return msg("refusal.kiosk_api")
    elif wants_csv and principal.role not in EXPORT_ROLES and principal.kind != "open":
        return msg("refusal.exports")
    return units_refusal(principal, query_units(args), locate)


def export_refusal(principal: Principal, args: Mapping[str, str], locate: Locate) -> Message | None:
    if principal.kind != "open" and (principal.kind != "user" or principal.role not in EXPORT_ROLES):
        return msg("refusal.exports")
    return units_refusal(principal, query_units(args), locate)


def _walk(node: Any) -> Iterable[dict[str, Any]]:
    """Every {id, property, value} item of a Dash callback request, however nested."""
    if isinstance(node, dict):
        if "property" in node and "id" in node:
            yield node
        for value in node.values():
            if isinstance(value, (list, dict)):
                yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _id_strings(identifier: Any) -> list[str]:
    if isinstance(identifier, dict):
        return [v for v in identifier.values() if isinstance(v, str)]
    if isinstance(identifier, str):
        try:
            parsed = json.loads(identifier)  # Dash sends pattern-matching ids as JSON text in 'outputs'
        except ValueError:
            return []
        return _id_strings(parsed) if isinstance(parsed, dict) else []
    return []


def callback_references(body: Any) -> tuple[list[str], list[tuple[str, str]]]:
    """(page URLs, (kind, value) units) named anywhere a callback request can name them: URL
    pathname/search/href, pattern ids carrying a question (``kpi=..&district=..``), and the
    district/ward/school pickers (ids ending in ``-district`` etc.)."""
    paths: list[str] = []
    units: list[tuple[str, str]] = []
    for item in _walk(body):
        prop, value, identifier = item.get("property"), item.get("value"), item.get("id")
        if prop == "pathname" and isinstance(value, str):
            paths.append(value)
        elif prop in ("search", "href") and isinstance(value, str):
            if value.startswith("/"):
                paths.append(value)
            else:
                units.extend(query_units(parse_qsl(value.lstrip("?"))))
        elif prop == "value" and isinstance(identifier, str) and isinstance(value, str):
            kind = identifier.rsplit("-", 1)[-1]
            if kind in UNIT_PARAMS and value:
                units.append((kind, value))
        for text in _id_strings(identifier):
            if text.startswith("/"):
                paths.append(text)
            elif "=" in text:
                units.extend(query_units(parse_qsl(text)))
    return paths, units


def callback_refusal(principal: Principal, body: Any, locate: Locate) -> Message | None:
    paths, units = callback_references(body)
    for url in paths:
        reason = page_refusal(principal, url, locate)
        if reason:
            return reason
    return units_refusal(principal, units, locate)


def safe_next(target: str | None) -> str:
    """A local path to go to after sign-in (never another site: no '//host', no scheme, no '\\')."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target
