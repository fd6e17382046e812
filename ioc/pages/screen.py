"""``/screen/<name>``: another wall screen (a file of the screens folder)."""

from __future__ import annotations

from typing import Any

import dash

from ioc.pages import _wall

dash.register_page(__name__, path_template="/screen/<name>", name="screen", title="IOC")


def layout(name: str | None = None, **params: Any) -> Any:
    return _wall.wall_layout(name, params)
