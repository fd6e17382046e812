"""``ioc demo``: a realistic demo of Ho Chi Minh City's schools, loaded like real files.

See docs/demo.md. :func:`build_demo` is the API (used by tests of other areas as a fixture);
:func:`add_arguments` and :func:`run` are the ``ioc demo`` subcommand.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ioc.demo.build import DemoError, DemoSummary, build_demo
    from ioc.demo.command import add_arguments, run

__all__ = ["DemoError", "DemoSummary", "add_arguments", "build_demo", "run"]

# where each name lives: imported when first asked for, so `ioc demo --help` (which imports this
# package on its way to ioc.demo.command) does not load the builder with pandas and pyarrow
_HOMES = {
    "DemoError": "build",
    "DemoSummary": "build",
    "build_demo": "build",
    "add_arguments": "command",
    "run": "command",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
