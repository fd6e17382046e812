"""Imports live at the top of a module. A function-local import is allowed only to keep a heavy
module out of a quick start-up path (``ioc --help``, ``ioc kpi --list``, the scheduler, a gunicorn
hook) or for an order a library imposes, and then says why in a comment on its line or the line
above (one comment may head a group of consecutive imports). An import cycle is broken by moving
code, not by hiding an import in a function; import-linter (``make lint``) checks the layers."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ioc", "ingest")


def unexplained_local_imports(source: str) -> list[int]:
    """Line numbers of the function-local imports of ``source`` that no comment explains."""
    lines = source.splitlines()
    spans: dict[int, int] = {}  # first line -> last line of each function-local import
    for function in ast.walk(ast.parse(source)):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    spans[node.lineno] = node.end_lineno or node.lineno
    ends = {last: first for first, last in spans.items()}
    group: dict[int, int] = {}  # an import -> the first line of its group of consecutive imports
    for first in sorted(spans):
        group[first] = group.get(ends.get(first - 1, first), first)

    def explained(first: int) -> bool:
        head = group[first]
        return "#" in lines[first - 1] or (head >= 2 and lines[head - 2].strip().startswith("#"))

    return sorted(first for first in spans if not explained(first))


def test_every_function_local_import_says_why() -> None:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for number in unexplained_local_imports(path.read_text(encoding="utf-8")):
                found.append(f"{path.relative_to(ROOT)}:{number}")
    assert not found, (
        "function-local imports without a comment saying why (move them to the top of the module, "
        "or say which heavy import they keep out of which start-up path):\n" + "\n".join(found)
    )


def test_the_check_sees_what_it_should() -> None:
    source = """
import json


def quiet():
    # heavy: plotly (~0.4 s) only when a PNG is asked for
    import plotly
    from dash import (
        html,
    )
    from plotly import io  # one comment heads a group of consecutive imports

    from dash import dcc  # Dash registers pages on import: after the app exists
    import kaleido


def loud():
    x = 1
    import pandas

    return pandas, x


class Holder:
    def method(self):
        from ioc import settings

        return settings
"""
    assert unexplained_local_imports(source) == [
        14,
        19,
        26,
    ]  # kaleido: a comment on the line above is about dcc
