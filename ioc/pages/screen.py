"""``/screen/<name>``: another wall screen (a file of the screens folder)."""

from __future__ import annotations

from typing import Any

import dash

from ioc.pages import _wall
from ioc.pages._common import page_title

dash.register_page(
    __name__, path_template="/screen/<name>", name="screen", title=page_title("nav.control_room")
)


def layout(name: str | None = None, **params: Any) -> Any:
    return _wall.wall_layout(name, params)
