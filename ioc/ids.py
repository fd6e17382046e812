"""Component ids, namespaced per page so two pages never collide (``explore-kpi``, ``school-calendar``).

Pattern-matching ids (dicts) carry the page in ``page`` so a callback of one page never matches
components of another.
"""

from __future__ import annotations

from typing import Any

# ids of the app shell (ioc/app.py), present on every page
URL = "app-url"
NAV = "app-nav"
HEADER = "app-header"
EXPLAIN_BOX = "app-explain"
EXPLAIN_BODY = "app-explain-body"
EXPLAIN_CLOSE = "app-explain-close"
NAVIGATE = "app-navigate"  # a dcc.Location driven by callbacks (drill-down clicks, kiosk rotation)

EXPLAIN = "explain"  # pattern type of every clickable number


def id(page: str, name: str) -> str:  # noqa: A001 - the natural name for this helper
    """The id of component ``name`` on ``page``: ``id('explore', 'kpi') == 'explore-kpi'``."""
    return f"{page}-{name}"


def match(page: str, kind: str, index: Any) -> dict[str, Any]:
    """A pattern-matching id: ``{'page': page, 'type': kind, 'index': index}``."""
    return {"page": page, "type": kind, "index": index}


def explain(ref: Any) -> dict[str, Any]:
    """The id of a clickable number; ``ref`` encodes the question (see ioc.pages._common.explain_ref)."""
    return {"type": EXPLAIN, "index": ref}
