"""Where "/" and the app's home link lead after sign-in: a district officer's own unit page,
the wall for leadership, admins and kiosks; the wall stays reachable by its screen URL."""

from __future__ import annotations

import json
import uuid
from typing import Any

from ioc import i18n
from ioc.auth import accounts, tokens

from .conftest import PASSWORD

# where accounts live does not change where home is: SQLite only
AUTH_BACKENDS = ("sqlite",)
WALL = "/screen/control_room"


def _header_links(client: Any, csrf: str, pathname: str = "/explore") -> dict[str, str]:
    """className -> href of the links the header callback draws for ``client``'s account."""
    body = {
        "output": "..app-header.children...app-header.className..",
        "outputs": [
            {"id": "app-header", "property": "children"},
            {"id": "app-header", "property": "className"},
        ],
        "inputs": [
            {"id": "app-url", "property": "pathname", "value": pathname},
            {"id": "app-url", "property": "search", "value": ""},
        ],
        "changedPropIds": ["app-url.pathname"],
        "state": [],
    }
    response = client.post("/_dash-update-component", json=body, headers={"X-CSRFToken": csrf})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    links: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict) and "href" in props:
                kind = str(props.get("className", "")).split()[0]  # "nav-link active": a nav link
                links[kind if kind == "brand" else f"{kind}:{props.get('children')}"] = props["href"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(response.get_json())
    return links


def test_an_officer_opens_on_their_district(city: Any, signed_in: Any) -> None:
    client, csrf = signed_in("of")
    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"] == f"/district/{city.own}"
    english = client.get("/?lang=en")
    assert english.headers["Location"] == f"/district/{city.own}?lang=en"  # the language follows
    assert client.get(f"/district/{city.own}").status_code == 200
    assert client.get(WALL).status_code == 200  # the wall stays reachable by its URL
    links = _header_links(client, csrf)
    assert links["brand"] == f"/district/{city.own}"
    assert links[f"nav-link:{i18n.t('nav.control_room', 'vi')}"] == WALL


def test_an_officer_of_wards_opens_on_their_first_ward(city: Any, signed_in: Any) -> None:
    client, csrf = signed_in("wo")  # the district page is not theirs to read whole: their ward's
    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"] == f"/ward/{city.own_ward}"
    assert client.get(home.headers["Location"]).status_code == 200
    assert _header_links(client, csrf)["brand"] == f"/ward/{city.own_ward}"


def test_a_principal_opens_on_their_school(city: Any, signed_in: Any) -> None:
    client, csrf = signed_in("pr")
    home = client.get("/?lang=en")
    assert home.status_code == 302 and home.headers["Location"] == f"/school/{city.own_school}?lang=en"
    assert client.get(f"/school/{city.own_school}").status_code == 200
    assert _header_links(client, csrf)["brand"] == f"/school/{city.own_school}"
    for other in (f"/ward/{city.own_ward}", f"/district/{city.own}", f"/school/{city.other_school}"):
        assert client.get(other).status_code == 403, other  # nothing whole beyond their school
    from .test_matrix import page_body

    drawn = json.dumps(  # as the browser reads it (Dash's JSON escapes '/')
        client.post(
            "/_dash-update-component",
            json=page_body(f"/school/{city.own_school}"),
            headers={"X-CSRFToken": csrf},
        ).get_json()
    )
    # their ward and district are named on the page, not linked (behind the links: a refusal)
    assert f"/ward/{city.own_ward}" not in drawn and f"/district/{city.own}" not in drawn
    officer, officer_csrf = signed_in("of")
    linked = json.dumps(
        officer.post(
            "/_dash-update-component",
            json=page_body(f"/school/{city.own_school}"),
            headers={"X-CSRFToken": officer_csrf},
        ).get_json()
    )
    assert f"/ward/{city.own_ward}" in linked and f"/district/{city.own}" in linked


def test_an_officer_of_several_districts_opens_on_the_first_by_code(
    city: Any, db: Any, signed_in: Any
) -> None:
    name = "of2_" + uuid.uuid4().hex[:6]
    accounts.add(db, name, "district_officer", PASSWORD, districts=[city.own, city.other])
    client, _ = signed_in(name)
    home = client.get("/")
    assert home.status_code == 302
    assert home.headers["Location"] == f"/district/{min(city.own, city.other)}"


def test_leadership_and_admins_keep_the_wall(signed_in: Any) -> None:
    for role in ("le", "ad", "an"):
        client, csrf = signed_in(role)
        assert client.get("/").status_code == 200, role
        links = _header_links(client, csrf)
        assert links["brand"] == "/", role
        assert links[f"nav-link:{i18n.t('nav.control_room', 'vi')}"] == "/", role


def test_a_kiosk_keeps_the_wall(auth_app: Any, db: Any) -> None:
    secret, _ = tokens.create(db, "wall-home-" + uuid.uuid4().hex[:6], "kiosk", ["control_room"], days=1)
    client = auth_app.server.test_client()
    first = client.get(f"/?kiosk=1&device={secret}")
    assert first.status_code == 302 and first.headers["Location"] == "/?kiosk=1"
    wall = client.get("/?kiosk=1")
    assert wall.status_code == 200 and "<title>" in wall.get_data(as_text=True)


def test_an_officer_without_units_is_refused_not_redirected(signed_in: Any) -> None:
    client, _ = signed_in("none")
    assert client.get("/").status_code == 403
