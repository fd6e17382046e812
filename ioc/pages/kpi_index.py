"""``/kpi``: the list of KPI definitions."""

from __future__ import annotations

from typing import Any

import dash

from ioc.pages._common import page_title

dash.register_page(__name__, path="/kpi", name="kpi_index", title=page_title("nav.kpis"))


def layout(**params: Any) -> Any:
    from ioc.pages import kpi as kpi_page  # at request time: the page loader has imported it

    params.pop("kpi_id", None)  # /kpi?kpi_id=x is the index, never x's page (nor a server error)
    return kpi_page.layout(None, **params)
