"""Every paged grid offers the page size it shows among its choices: AG Grid otherwise draws an
empty page-size box and warns (#94/#95) on the district and explore pages."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import dash_ag_grid as dag

from ioc.metrics import dimensions
from tests.unit.app.test_pages import walk

AG_GRID_DEFAULT_CHOICES = [20, 50, 100]


def paged_grids(layout: Any) -> list[dict[str, Any]]:
    return [
        c.dashGridOptions
        for c in walk(layout)
        if isinstance(c, dag.AgGrid) and (getattr(c, "dashGridOptions", None) or {}).get("pagination")
    ]


def test_a_paged_grid_offers_the_size_it_shows(request_context: Any, demo_store: Any) -> None:
    from ioc.pages import _unit, data_health, explore  # after the app exists

    info = dimensions.schools(demo_store)[0]
    wards = [  # more rows than a page holds, as a district of many wards has
        SimpleNamespace(
            label=f"Phường {i}", key=str(27000 + i), value=0.95, status="green", schools_reporting=3
        )
        for i in range(60)
    ]
    layouts = {
        "district": _unit.unit_layout("district", "district", info.district_code, {}),
        "a district's 60 wards": _unit.units_table(
            "district", _unit.UrlState(), "ward", wards, "attendance_rate"
        ),
        "explore by school": explore.layout(kpi="attendance_rate", by="school"),
        "explore by ward": explore.layout(kpi="attendance_rate", by="ward"),
        "data health": data_health.layout(),
    }
    found = {name: paged_grids(layout) for name, layout in layouts.items()}
    assert found["explore by school"] and found["a district's 60 wards"], found  # the walk reaches the grids
    for name, grids in found.items():
        for options in grids:
            size = options.get("paginationPageSize", 100)
            choices = options.get("paginationPageSizeSelector", AG_GRID_DEFAULT_CHOICES)
            assert size in choices, f"{name}: page size {size} is not one of {choices}"
