"""``/``: the control room's default screen (``?kiosk=1`` for the wall)."""

from __future__ import annotations

from typing import Any

import dash
from dash import dcc

from ioc import ids
from ioc.pages import _wall
from ioc.pages._common import UrlState, home_path, page_title

dash.register_page(__name__, path="/", name="control_room", title=page_title("nav.control_room"))


def layout(**params: Any) -> Any:
    home = home_path()
    if home != "/":
        # a district officer reached "/" by a link inside the app, which the guard (302 to their
        # district on a page load) did not see: load their home instead, without drawing the wall
        return dcc.Location(
            id=ids.id(_wall.PAGE, "home"), href=UrlState.from_params(params).link(home), refresh=True
        )
    return _wall.wall_layout(None, params)


# the wall's callbacks serve both this page and /screen/<name>; registered once per app, here
_wall.register_callbacks()
