"""``/``: the control room's default screen (``?kiosk=1`` for the wall)."""

from __future__ import annotations

from typing import Any

import dash

from ioc.pages import _wall

dash.register_page(__name__, path="/", name="control_room", title="IOC")


def layout(**params: Any) -> Any:
    return _wall.wall_layout(None, params)


# the wall's callbacks serve both this page and /screen/<name>; registered once per app, here
_wall.register_callbacks()
