"""Every callback argument that names a unit goes through the caller's access inside the callback
(issue 12, item 3): an officer of one district sends another district's codes straight to
``/_dash-update-component`` and gets an audited 403 with nothing of that district; and each
callback, called with a front door of one district and no guard in front of it, refuses too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from dash._utils import split_callback_id
from werkzeug.exceptions import HTTPException

from ioc.access import AccessScope
from ioc.auth import audit
from ioc.frontdoor import use_metrics
from ioc.metrics.front import Metrics

AUTH_BACKENDS = ("sqlite",)  # the callbacks' checks do not depend on where accounts live


def callback_body(app: Any, wants: Callable[[list[str]], bool], values: dict[str, Any]) -> dict[str, Any]:
    """The request Dash's renderer sends for the app's callback whose inputs (``id.property``) satisfy
    ``wants``, with ``values`` (by ``id.property``) in its inputs and states; the first input changed."""
    app.server.test_client().get("/_dash-layout")  # Dash fills its callback map at the first request
    for key, spec in app.callback_map.items():
        names = [f"{i['id']}.{i['property']}" for i in spec["inputs"]]
        if not wants(names):
            continue

        def filled(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{**i, "value": values.get(f"{i['id']}.{i['property']}")} for i in items]

        return {
            "output": key,
            "outputs": split_callback_id(key),
            "inputs": filled(spec["inputs"]),
            "state": filled(spec["state"]),
            "changedPropIds": [names[0]],
        }
    raise AssertionError("no such callback")


@pytest.fixture
def other_name(auth_store: Any, city: Any) -> str:
    from ioc.metrics import dimensions

    return next(u.name for u in dimensions.districts(auth_store) if u.code == city.other)


def refused_in_the_open(auth_app: Any, signed_in: Any, db: Any, body: dict[str, Any], *hidden: str) -> str:
    """Send ``body`` as the officer of one district: a 403 naming none of ``hidden``, audited."""
    client, csrf = signed_in("of")
    response = client.post("/_dash-update-component", json=body, headers={"X-CSRFToken": csrf})
    text = response.get_data(as_text=True)
    assert response.status_code == 403, text[:300]
    last = audit.entries(db, event="refused", limit=1)[0]
    assert last.actor == "user:of" and last.outcome == "denied" and "/_dash-update-component" in last.target
    for word in hidden[1:]:  # the first is the code the refusal names: the caller sent it
        assert word not in text, word
    return last.detail


def refused_inside(auth_app: Any, auth_store: Any, city: Any, db: Any, call: Callable[[], Any]) -> str:
    """``call()`` with a front door of the officer's district and no guard: an audited 403."""
    with auth_app.server.test_request_context("/_dash-update-component", method="POST"):
        use_metrics(Metrics(auth_store, AccessScope.limited([city.own])))
        with pytest.raises(HTTPException) as refused:
            call()
        assert refused.value.response is not None and refused.value.response.status_code == 403
    return str(audit.entries(db, event="refused", limit=1)[0].detail)


def allowed_inside(auth_app: Any, auth_store: Any, city: Any, call: Callable[[], Any]) -> Any:
    with auth_app.server.test_request_context("/_dash-update-component", method="POST"):
        use_metrics(Metrics(auth_store, AccessScope.limited([city.own])))
        return call()


# -- explore: the district and ward pickers ---------------------------------------------------------


def _explore(district: str | None, ward: str | None = None) -> Any:
    import inspect

    from ioc.pages.explore import explore_url

    # by name: the page's other controls (None) may grow without this test changing
    names = inspect.signature(explore_url).parameters
    given = {"kpi": "attendance_rate", "by": "school", "district": district, "ward": ward, "chart": "bar"}
    return explore_url(**{name: given.get(name, "" if name == "search" else None) for name in names})


def test_explore_pickers(
    auth_app: Any, auth_store: Any, city: Any, signed_in: Any, db: Any, other_name: str
) -> None:
    body = callback_body(
        auth_app,
        lambda names: "explore-district.value" in names,
        {
            "explore-kpi.value": "attendance_rate",
            "explore-by.value": "school",
            "explore-district.value": city.other,
        },
    )
    assert city.other in refused_in_the_open(auth_app, signed_in, db, body, city.other, other_name)
    assert city.other in refused_inside(auth_app, auth_store, city, db, lambda: _explore(city.other))
    assert city.other_ward in refused_inside(
        auth_app, auth_store, city, db, lambda: _explore(city.own, city.other_ward)
    )
    # a crafted picker value that is not a code (a list) names no unit the caller may read
    assert city.other in refused_inside(auth_app, auth_store, city, db, lambda: _explore([city.other]))  # type: ignore[arg-type]
    assert allowed_inside(auth_app, auth_store, city, lambda: _explore(city.own)).startswith("/explore?")


# -- district, ward and school pages: the filters' URL, a table row, a chart click -----------------


def test_unit_page_filters(
    auth_app: Any, auth_store: Any, city: Any, signed_in: Any, db: Any, other_name: str
) -> None:
    from ioc.pages._unit import unit_search

    body = callback_body(
        auth_app,
        lambda names: "district-level.value" in names,
        {
            "district-level.value": "primary",
            "app-url.pathname": f"/district/{city.other}",
            "app-url.search": "",
        },
    )
    refused_in_the_open(auth_app, signed_in, db, body, city.other, other_name)
    assert city.other in refused_inside(
        auth_app,
        auth_store,
        city,
        db,
        lambda: unit_search("", "primary", None, None, None, None, f"/district/{city.other}"),
    )
    assert city.other in refused_inside(
        auth_app,
        auth_store,
        city,
        db,
        lambda: unit_search("", "primary", None, None, None, None, f"//district/{city.other}"),
    )
    own = f"/district/{city.own}"
    assert allowed_inside(
        auth_app, auth_store, city, lambda: unit_search("", "primary", None, None, None, None, own)
    ).startswith(own)


def test_unit_page_table_row(
    auth_app: Any, auth_store: Any, city: Any, signed_in: Any, db: Any, other_name: str
) -> None:
    from ioc.pages._unit import row_link

    crafted = {"colId": "name", "rowId": f"/school/{city.other_school}", "rowIndex": 0}
    body = callback_body(
        auth_app,
        lambda names: names == ["district-table.cellClicked"],
        {"district-table.cellClicked": crafted},
    )
    refused_in_the_open(auth_app, signed_in, db, body, city.other_school, other_name)
    assert city.other_school in refused_inside(auth_app, auth_store, city, db, lambda: row_link(crafted))
    mine = {"colId": "name", "rowId": f"/school/{city.own_school}?lang=en"}
    assert allowed_inside(auth_app, auth_store, city, lambda: row_link(mine)) == mine["rowId"]


def test_chart_click(
    auth_app: Any, auth_store: Any, city: Any, signed_in: Any, db: Any, other_name: str
) -> None:
    crafted = {"points": [{"customdata": f"/ward/{city.other_ward}"}]}
    body = callback_body(
        auth_app,
        lambda names: any('"drill-graph"' in n for n in names),
        {},
    )
    body["inputs"] = [
        [
            {
                "id": {"type": "drill-graph", "index": "district-ranking"},
                "property": "clickData",
                "value": crafted,
            }
        ]
    ]
    body["changedPropIds"] = ['{"index":"district-ranking","type":"drill-graph"}.clickData']
    assert city.other_ward in refused_in_the_open(auth_app, signed_in, db, body, city.other_ward, other_name)
    # drill() reads Dash's callback context, so the request above is its test; an own ward goes through
    body["inputs"][0][0]["value"] = {"points": [{"customdata": f"/ward/{city.own_ward}"}]}
    client, csrf = signed_in("of")
    own = client.post("/_dash-update-component", json=body, headers={"X-CSRFToken": csrf})
    assert own.status_code == 200 and city.own_ward in own.get_data(as_text=True)


# -- "what is this number?": a button's question and a table row's ---------------------------------


def test_explain_cell(
    auth_app: Any, auth_store: Any, city: Any, signed_in: Any, db: Any, other_name: str
) -> None:
    from ioc.explain import explain_cell

    row = {"key": city.other, "ref": f"kpi=attendance_rate&district={city.other}", "shown": "97 %"}
    cell = {"colId": "shown", "rowId": city.other}
    body = callback_body(
        auth_app,
        lambda names: names == ["explore-table.cellClicked"],
        {"explore-table.cellClicked": cell, "explore-table.rowData": [row], "app-url.search": ""},
    )
    refused_in_the_open(auth_app, signed_in, db, body, city.other, other_name)
    assert city.other in refused_inside(auth_app, auth_store, city, db, lambda: explain_cell(cell, [row], ""))
    foreign_version = {**row, "ref": f"kpi=attendance_rate&school={city.other_school}"}
    assert city.other_school in refused_inside(
        auth_app, auth_store, city, db, lambda: explain_cell(cell, [foreign_version], "")
    )
    mine = {"key": city.own, "ref": f"kpi=attendance_rate&district={city.own}"}
    shown = allowed_inside(
        auth_app, auth_store, city, lambda: explain_cell({"colId": "shown", "rowId": city.own}, [mine], "")
    )
    assert shown[0] == "explain"


def test_explain_button(auth_app: Any, auth_store: Any, city: Any, db: Any) -> None:
    from ioc.explain import require_question
    from ioc.panels.common import parse_explain_ref

    question = parse_explain_ref(f"kpi=attendance_rate&ward={city.other_ward}")
    assert city.other_ward in refused_inside(
        auth_app, auth_store, city, db, lambda: require_question(question)
    )
    allowed_inside(
        auth_app, auth_store, city, lambda: require_question(parse_explain_ref(f"kpi=x&district={city.own}"))
    )
