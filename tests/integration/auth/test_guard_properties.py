"""Property: whatever URL a district officer (or a wall device, or a school's principal) makes the
page router draw, nothing of another district (screen, school) is drawn, and every refusal is
audited.

Hypothesis drives every registered page route with its path variables filled by own and foreign
units and by junk, extra slashes at either end, percent-encoded characters, and query strings made
of every parameter name any layout accepts (those the pages read, their path variables and the
unit filters) with own, foreign, encoded and junk values. Each URL goes through Dash's page-router
callback as the browser sends it; "drawn" is what the answer would put on screen: a unit's marker
(``data-school``, ``data-unit``) or a link to a unit's page."""

from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import dash
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ioc.auth import audit, tokens
from ioc.metrics.query import FILTERS

from .test_matrix import page_body

AUTH_BACKENDS = ("sqlite",)  # the rules do not depend on where accounts live
PAGES = Path(__file__).resolve().parents[3] / "ioc" / "pages"
PROPERTY = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@cache
def layout_parameters() -> tuple[str, ...]:
    """Every parameter name a layout accepts: what the page modules read from ``params``, the
    path variables of every page, and the unit filters (explore passes FILTERS through)."""
    names = set(FILTERS)
    for module in PAGES.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "params"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(str(node.args[0].value))
            elif (
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Name)
                and node.value.id == "params"
                and isinstance(node.slice, ast.Constant)
            ):
                names.add(str(node.slice.value))
    for page in dash.page_registry.values():
        names.update(re.findall("<(.*?)>", page.get("path_template") or ""))
    return tuple(sorted(names))


def templates() -> list[str]:
    return sorted({p.get("path_template") or p["path"] for p in dash.page_registry.values()})


@cache
def foreign(auth_store: Any, own: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(school ids, ward codes, district codes) of the demo that an officer of ``own`` may not see."""
    from ioc.metrics import dimensions

    schools = dimensions.schools(auth_store)
    own_wards = {s.ward_code for s in schools if s.district_code == own}
    return (
        frozenset(s.school_id for s in schools if s.district_code != own),
        frozenset(s.ward_code for s in schools if s.ward_code not in own_wards),
        frozenset(s.district_code for s in schools if s.district_code != own),
    )


def encoded(text: str) -> st.SearchStrategy[str]:
    """``text`` as is, wholly percent-encoded, or with one character percent-encoded."""
    whole = "".join(f"%{b:02X}" for b in text.encode())
    return st.sampled_from(
        [text, whole, quote(text[:1], safe="") + text[1:], text[:-1] + f"%{ord(text[-1]):02X}"]
    )


def values(city: Any) -> st.SearchStrategy[str]:
    units = [city.own, city.other, city.own_ward, city.other_ward, city.own_school, city.other_school]
    unit = st.sampled_from(units).flatmap(encoded)
    return st.one_of(
        unit,
        unit,
        st.sampled_from(["", "1", "0", "-1", "en", "vi", "control_room", "connectivity", "attendance_rate"]),
        st.text(alphabet="abc09%/?#&=;. <>\"'", max_size=8),
        st.integers(min_value=0, max_value=40).map(str),
    )


@st.composite
def urls(draw: st.DrawFn, city: Any) -> tuple[str, str]:
    """(pathname, search) for the page router."""
    template = draw(st.sampled_from(templates()))
    path = re.sub("<.*?>", lambda _m: draw(values(city)).replace("/", "%2F") or "x", template)
    path = draw(st.sampled_from(["", "/", "//", "///"])) + path.lstrip("/")
    path += draw(st.sampled_from(["", "/", "//"]))
    # any parameter name, and often the page's own path variables (a query key must never replace one)
    own_names = re.findall("<(.*?)>", template) or list(layout_parameters())
    names = st.one_of(st.sampled_from(layout_parameters()), st.sampled_from(own_names))
    pairs = draw(st.lists(st.tuples(names, values(city)), max_size=5))
    search = "?" + urlencode(pairs) if pairs else ""
    return path if path.startswith("/") else "/" + path, search


def drawn_foreign(text: str, city: Any, auth_store: Any) -> list[str]:
    """The foreign units the answer draws (markers and links), if any."""
    schools, wards, districts = foreign(auth_store, city.own)
    found = []
    for sid in set(re.findall(r'data-school"?:"([^"]+)"', text)) | set(
        re.findall(r"/school/([^?\"'&/\\]+)", text)
    ):
        if sid in schools:
            found.append(f"school {sid}")
    for kind, codes in (("ward", wards), ("district", districts)):
        for code in set(re.findall(rf"/{kind}/([^?\"'&/\\]+)", text)):
            if code in codes:
                found.append(f"{kind} {code}")
    for code in set(re.findall(r'data-unit"?:"([^"]+)"', text)):
        if code in wards or code in districts:
            found.append(f"unit {code}")
    return found


def refusals(db: Any) -> int:
    return len(audit.entries(db, event="refused", limit=100_000))


@pytest.fixture
def officer(signed_in: Any) -> tuple[Any, str]:
    return signed_in("of")


def draw_audited(client: Any, csrf: str, db: Any, pathname: str, search: str, actor: str) -> str | None:
    """Make the page router draw ``pathname`` + ``search``: the answer's text when drawn, None
    when refused, after checking that the refusal was audited for ``actor``."""
    before = refusals(db)
    response = client.post(
        "/_dash-update-component", json=page_body(pathname, search), headers={"X-CSRFToken": csrf}
    )
    text = response.get_data(as_text=True)
    assert response.status_code in (200, 403), (pathname, search, response.status_code, text[:300])
    if response.status_code == 200:
        return json.dumps(
            response.get_json(), separators=(",", ":")
        )  # as the browser reads it: Dash's JSON escapes '/'

    assert refusals(db) == before + 1, f"refusal of {pathname}{search} not audited"
    last = audit.entries(db, event="refused", limit=1)[0]
    assert last.actor == actor and "/_dash-update-component" in last.target
    return None


@PROPERTY
@given(data=st.data())
def test_an_officer_never_sees_another_district(
    data: st.DataObject, officer: tuple[Any, str], city: Any, auth_store: Any, db: Any
) -> None:
    pathname, search = data.draw(urls(city))
    text = draw_audited(*officer, db, pathname, search, "user:of")
    if text is not None:
        leaked = drawn_foreign(text, city, auth_store)
        assert not leaked, f"{pathname}{search} drew {leaked}"


@pytest.fixture
def kiosk(auth_app: Any, db: Any) -> tuple[Any, str, str]:
    name = f"wall-property-{len(tokens.all_tokens(db))}"
    secret, _ = tokens.create(db, name, "kiosk", ["control_room"], days=1)
    client = auth_app.server.test_client()
    client.get(f"/?kiosk=1&device={secret}")
    return client, client.get_cookie("_csrf_token").value, f"kiosk:{name}"


@PROPERTY
@given(data=st.data())
def test_a_wall_device_shows_only_its_screens(
    data: st.DataObject, kiosk: tuple[Any, str, str], city: Any, db: Any
) -> None:
    client, csrf, actor = kiosk
    pathname, search = data.draw(urls(city))
    text = draw_audited(client, csrf, db, pathname, search, actor)
    if text is not None:
        screens = set(re.findall(r'data-screen"?:"([^"]+)"', text))
        assert screens == {"control_room"}, f"{pathname}{search} drew {screens or 'no screen'}"


def drawn_beyond_one_school(text: str, city: Any, auth_store: Any) -> list[str]:
    """What a principal of ``city.own_school`` must never see drawn: another school (marker or
    link), a ward or district page (their marker), a link to a unit outside their district."""
    from ioc.metrics import dimensions

    found = [f"unit page {code}" for code in set(re.findall(r'data-unit"?:"([^"]+)"', text))]
    schools = {s.school_id for s in dimensions.schools(auth_store)} - {city.own_school}
    for sid in set(re.findall(r'data-school"?:"([^"]+)"', text)) | set(
        re.findall(r"/school/([^?\"'&/\\]+)", text)
    ):
        if sid in schools:
            found.append(f"school {sid}")
    return found + [f for f in drawn_foreign(text, city, auth_store) if not f.startswith("school ")]


@PROPERTY
@given(data=st.data())
def test_a_principal_never_sees_more_than_their_school(
    data: st.DataObject, signed_in: Any, city: Any, auth_store: Any, db: Any
) -> None:
    pathname, search = data.draw(urls(city))
    client, csrf = signed_in("pr")
    text = draw_audited(client, csrf, db, pathname, search, "user:pr")
    if text is not None:
        leaked = drawn_beyond_one_school(text, city, auth_store)
        assert not leaked, f"{pathname}{search} drew {leaked}"
