"""The role x route x district matrix on the pure rules (every route kind, every role)."""

from __future__ import annotations

import json

import pytest

from ioc.access import Place
from ioc.auth import rules
from ioc.auth.access import EVERYTHING, AccessScope
from ioc.auth.principal import Principal

# a tiny city: district 760 (wards 26734, 26737; school S1 in 26734), district 761 (ward 26740; school S2)
PLACES = {
    ("district", "760"): ("760", None),
    ("district", "Quận 1"): ("760", None),
    ("district", "761"): ("761", None),
    ("ward", "26734"): ("760", "26734"),
    ("ward", "26737"): ("760", "26737"),
    ("ward", "26740"): ("761", "26740"),
    ("school", "S1"): ("760", "26734"),
    ("school", "S2"): ("761", "26740"),
}


def locate(kind: str, value: str) -> Place | None:
    found = PLACES.get((kind, value))
    if found is None:
        return None
    return Place(found[0], found[1], value if kind == "school" else None)


PRINCIPALS = {
    "leadership": Principal("user", "le", "leadership"),
    "analyst": Principal("user", "an", "analyst"),
    "admin": Principal("user", "ad", "admin"),
    "officer_760": Principal("user", "of", "district_officer", AccessScope.limited(["760"])),
    "ward_26734": Principal("user", "wo", "district_officer", AccessScope.limited([], ["26734"])),
    "kiosk": Principal("kiosk", "wall", "kiosk", EVERYTHING.with_screens(["control_room", "network"])),
    "api_read": Principal("api", "etl", "api", EVERYTHING, scopes=("read",)),
    "api_760": Principal("api", "etl760", "api", AccessScope.limited(["760"]), scopes=("read", "export")),
}

ALLOW, DENY = True, False

PAGES = [
    # url, leadership, analyst, admin, officer_760, ward_26734, kiosk, api_read, api_760
    ("/", ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, DENY, DENY),
    ("/explore", ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, DENY, DENY, DENY),
    ("/explore?district=760", ALLOW, ALLOW, ALLOW, ALLOW, DENY, DENY, DENY, DENY),
    ("/explore?district=761&by=school", ALLOW, ALLOW, ALLOW, DENY, DENY, DENY, DENY, DENY),
    ("/explore?ward=26740", ALLOW, ALLOW, ALLOW, DENY, DENY, DENY, DENY, DENY),
    ("/district/760", ALLOW, ALLOW, ALLOW, ALLOW, DENY, DENY, DENY, DENY),
    ("/district/Quận%201", ALLOW, ALLOW, ALLOW, ALLOW, DENY, DENY, DENY, DENY),
    ("/district/761", ALLOW, ALLOW, ALLOW, DENY, DENY, DENY, DENY, DENY),
    ("/district/nowhere", ALLOW, ALLOW, ALLOW, DENY, DENY, DENY, DENY, DENY),
    ("/ward/26734", ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, DENY, DENY, DENY),
    ("/ward/26737", ALLOW, ALLOW, ALLOW, ALLOW, DENY, DENY, DENY, DENY),
    ("/ward/26740", ALLOW, ALLOW, ALLOW, DENY, DENY, DENY, DENY, DENY),
    ("/school/S1", ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, DENY, DENY, DENY),
    ("/school/S2", ALLOW, ALLOW, ALLOW, DENY, DENY, DENY, DENY, DENY),
    # officers see the data health of their own schools (the queries are scoped); a unit outside theirs is refused
    ("/data-health", ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, DENY, DENY, DENY),
    ("/data-health?district=761", ALLOW, ALLOW, ALLOW, DENY, DENY, DENY, DENY, DENY),
    ("/admin/audit", DENY, DENY, ALLOW, DENY, DENY, DENY, DENY, DENY),
    ("/screen/network", ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, DENY, DENY),
    ("/screen/schools", ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, DENY, DENY, DENY),
    ("/kpi/attendance_rate", ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, DENY, DENY, DENY),
]
NAMES = list(PRINCIPALS)


@pytest.mark.parametrize("row", PAGES, ids=[r[0] for r in PAGES])
def test_pages(row: tuple) -> None:
    url, *expected = row
    for name, allowed in zip(NAMES, expected, strict=True):
        reason = rules.page_refusal(PRINCIPALS[name], url, locate)
        assert (reason is None) == allowed, f"{name} {url}: {reason}"


def _callback(pathname: str, search: str = "", extra: list | None = None) -> dict:
    """A Dash callback request as the renderer sends it."""
    return {
        "output": "..app-header.children...app-header.className..",
        "outputs": [{"id": "app-header", "property": "children"}],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": pathname},
            {"id": "_pages_location", "property": "search", "value": search},
            *(extra or []),
        ],
        "changedPropIds": ["_pages_location.pathname"],
    }


CALLBACKS = [
    # name, body, leadership, analyst, admin, officer_760, ward_26734, kiosk
    ("own district page", _callback("/district/760"), ALLOW, ALLOW, ALLOW, ALLOW, DENY, DENY),
    ("other district page", _callback("/district/761"), ALLOW, ALLOW, ALLOW, DENY, DENY, DENY),
    (
        "other district in search",
        _callback("/explore", "?district=761"),
        ALLOW,
        ALLOW,
        ALLOW,
        DENY,
        DENY,
        DENY,
    ),
    ("other school page", _callback("/school/S2"), ALLOW, ALLOW, ALLOW, DENY, DENY, DENY),
    ("data health", _callback("/data-health"), ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, DENY),
    (
        "data health of another district",
        _callback("/data-health", "?district=761"),
        ALLOW,
        ALLOW,
        ALLOW,
        DENY,
        DENY,
        DENY,
    ),
    ("kiosk screen", _callback("/screen/network", "?kiosk=1"), ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, ALLOW),
    (
        "explain a number of another district",
        _callback(
            "/",
            extra=[
                {
                    "id": {"type": "explain", "index": "kpi=attendance_rate&district=761"},
                    "property": "n_clicks",
                    "value": 1,
                }
            ],
        ),
        ALLOW,
        ALLOW,
        ALLOW,
        DENY,
        DENY,
        ALLOW,  # the kiosk token here reads the whole city
    ),
    (
        "explore picker names another district",
        _callback("/explore", extra=[{"id": "explore-district", "property": "value", "value": "761"}]),
        ALLOW,
        ALLOW,
        ALLOW,
        DENY,
        DENY,
        DENY,
    ),
    (
        "explore picker names own ward",
        _callback("/explore", extra=[{"id": "explore-ward", "property": "value", "value": "26734"}]),
        ALLOW,
        ALLOW,
        ALLOW,
        ALLOW,
        ALLOW,
        DENY,
    ),
    (
        "pattern id as JSON text in outputs",
        {
            "outputs": [
                {"id": json.dumps({"type": "explain", "index": "kpi=x&school=S2"}), "property": "children"}
            ],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/"}],
        },
        ALLOW,
        ALLOW,
        ALLOW,
        DENY,
        DENY,
        ALLOW,
    ),
    (
        "nested ALL inputs naming another ward",
        _callback("/", extra=[[{"id": "x-ward", "property": "value", "value": "26740"}]]),
        ALLOW,
        ALLOW,
        ALLOW,
        DENY,
        DENY,
        ALLOW,
    ),
]


@pytest.mark.parametrize("row", CALLBACKS, ids=[r[0] for r in CALLBACKS])
def test_callbacks(row: tuple) -> None:
    _, body, *expected = row
    for name, allowed in zip(NAMES[:6], expected, strict=True):
        reason = rules.callback_refusal(PRINCIPALS[name], body, locate)
        assert (reason is None) == allowed, f"{name} {row[0]}: {reason}"


API = [
    # args, leadership, analyst, admin, officer_760, ward_26734, kiosk, api_read, api_760
    ({}, ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, DENY, ALLOW, ALLOW),
    ({"district": "760"}, ALLOW, ALLOW, ALLOW, ALLOW, DENY, DENY, ALLOW, ALLOW),
    ({"district": "761"}, ALLOW, ALLOW, ALLOW, DENY, DENY, DENY, ALLOW, DENY),
    ({"ward": "26734", "by": "school"}, ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, DENY, ALLOW, ALLOW),
    ({"school": "S2"}, ALLOW, ALLOW, ALLOW, DENY, DENY, DENY, ALLOW, DENY),
    ({"format": "csv"}, DENY, ALLOW, ALLOW, DENY, DENY, DENY, DENY, ALLOW),
]


@pytest.mark.parametrize("row", API, ids=[repr(r[0]) for r in API])
def test_api(row: tuple) -> None:
    args, *expected = row
    for name, allowed in zip(NAMES, expected, strict=True):
        reason = rules.api_refusal(PRINCIPALS[name], args, locate)
        assert (reason is None) == allowed, f"{name} {args}: {reason}"


EXPORTS = [
    ({"kpi": "attendance_rate"}, DENY, ALLOW, ALLOW, DENY, DENY, DENY, DENY, DENY),
    ({"kpi": "attendance_rate", "district": "761"}, DENY, ALLOW, ALLOW, DENY, DENY, DENY, DENY, DENY),
]


@pytest.mark.parametrize("row", EXPORTS, ids=[repr(r[0]) for r in EXPORTS])
def test_exports(row: tuple) -> None:
    args, *expected = row
    for name, allowed in zip(NAMES, expected, strict=True):
        reason = rules.export_refusal(PRINCIPALS[name], args, locate)
        assert (reason is None) == allowed, f"{name} {args}: {reason}"


def test_kiosk_limited_to_a_district_is_refused_other_districts() -> None:
    wall = Principal("kiosk", "q1", "kiosk", AccessScope.limited(["760"]).with_screens(["control_room"]))
    assert rules.callback_refusal(wall, _callback("/", "?district=760"), locate) is None
    assert rules.callback_refusal(wall, _callback("/", "?district=761"), locate) is not None


def test_analyst_officer_may_export_only_own_units() -> None:
    analyst_760 = Principal("user", "a7", "analyst", AccessScope.limited(["760"]))
    assert rules.export_refusal(analyst_760, {"district": "760"}, locate) is None
    assert rules.export_refusal(analyst_760, {"district": "761"}, locate) is not None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/explore?x=1", "/explore?x=1"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
        (None, "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_safe_next(target: str | None, expected: str) -> None:
    assert rules.safe_next(target) == expected
