"""``ioc demo``: a realistic demo of Ho Chi Minh City's schools, loaded like real files.

See docs/demo.md. :func:`build_demo` is the API (used by tests of other areas as a fixture);
:func:`add_arguments` and :func:`run` are the ``ioc demo`` subcommand.
"""

from __future__ import annotations

from ioc.demo.build import DemoError, DemoSummary, build_demo
from ioc.demo.command import add_arguments, run

__all__ = ["DemoError", "DemoSummary", "add_arguments", "build_demo", "run"]
