"""Any address no page answers: said in the reader's language, with the ways back (Dash's own
page says "404 - Page not found" in English whatever the language)."""

from __future__ import annotations

from typing import Any

import dash
from dash import dcc, html

from ioc.pages._common import UrlState, page_title, screen_path, t
from ioc.panels.screens import DEFAULT_SCREEN

dash.register_page(__name__, path="/404", name="not_found", title=page_title("page.not_found"))


def layout(**params: Any) -> Any:
    state = UrlState.from_params(params)
    return html.Div(
        [
            html.H1(t("page.not_found", state)),
            html.P(t("page.not_found_help", state)),
            html.Ul(
                [
                    html.Li(dcc.Link(t(f"nav.{name}", state), href=state.link(path)))
                    for name, path in (
                        ("control_room", screen_path(DEFAULT_SCREEN)),  # the wall, also for an officer
                        ("explore", "/explore"),
                        ("data_health", "/data-health"),
                        ("kpis", "/kpi"),
                    )
                ]
            ),
        ],
        className="page not-found-page theme-light",
    )
