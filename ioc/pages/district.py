"""``/district/<code>``: a (former) district: KPIs vs target, trend, its wards ranked, schools not reporting."""

from __future__ import annotations

from typing import Any

import dash

from ioc.pages import _unit
from ioc.pages._common import page_title

PAGE = "district"
dash.register_page(
    __name__, path_template="/district/<code>", name="district", title=page_title("page.district")
)


def layout(code: str | None = None, **params: Any) -> Any:
    return _unit.unit_layout(PAGE, "district", code or "", params)


_unit.register_callbacks(PAGE)
