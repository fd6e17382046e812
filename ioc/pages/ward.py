"""``/ward/<code>``: a ward or commune: KPIs vs target, trend, its schools ranked, schools not reporting."""

from __future__ import annotations

from typing import Any

import dash

from ioc.pages import _unit
from ioc.pages._common import page_title

PAGE = "ward"
dash.register_page(__name__, path_template="/ward/<code>", name="ward", title=page_title("page.ward"))


def layout(code: str | None = None, **params: Any) -> Any:
    return _unit.unit_layout(PAGE, "ward", code or "", params)


_unit.register_callbacks(PAGE)
