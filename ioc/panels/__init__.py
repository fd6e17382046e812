"""Panel kinds of the control room, registered like plug-ins (the built-in ones included).

``PANEL_KINDS`` maps a panel ``type`` of a screen file to its :class:`~ioc.panels.base.PanelKind`.
The built-in kinds live in the modules of :data:`DEFAULT_PLUGINS`; more modules can be named in
the ``panel_plugins`` setting (``IOC_PANEL_PLUGINS``, comma-separated): each is imported and
registers its classes with :func:`register`, exactly like the built-ins do.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from ioc import settings
from ioc.panels.base import PanelKind

DEFAULT_PLUGINS = (
    "ioc.panels.tiles",
    "ioc.panels.maps",
    "ioc.panels.charts",
    "ioc.panels.alerts",
    "ioc.panels.freshness",
    "ioc.panels.lists",
)

_KINDS: dict[str, PanelKind] = {}


def register(cls: type[PanelKind]) -> type[PanelKind]:
    """Class decorator: make ``cls`` available as panel ``type`` ``cls.name``."""
    if not cls.name:
        raise ValueError(f"panel kind {cls.__qualname__} has no name")
    existing = _KINDS.get(cls.name)
    if existing is not None and type(existing).__qualname__ != cls.__qualname__:
        raise ValueError(
            f"panel type {cls.name!r} is registered twice ({type(existing).__qualname__}, {cls.__qualname__})"
        )
    _KINDS[cls.name] = cls()
    return cls


def load_plugins(extra: str | None = None) -> Mapping[str, PanelKind]:
    """Import the built-in and configured plug-in modules; return every registered kind by name."""
    names = list(DEFAULT_PLUGINS)
    configured = settings.get("panel_plugins", extra) or ""
    names += [n.strip() for n in configured.split(",") if n.strip()]
    for name in names:
        importlib.import_module(name)
    return dict(_KINDS)


def kind(name: str) -> PanelKind:
    kinds = load_plugins()
    return kinds[name]
