"""Turning request parameters (CLI flags, URL query strings) into a KpiQuery, the same way for both.

Every problem raises QueryError naming the parameter as the user wrote it (``from``, ``district``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime

from ioc.metrics.errors import QueryError
from ioc.metrics.query import BY, FILTERS, KpiQuery, Scope
from ioc.metrics.registry import get_kpi

FORMATS = ("json", "csv")
# the query-string parameters of GET /api/v1/kpis/<id> (and the CLI's flags, with -- and - for _)
PARAMS = ("by", "from", "to", *FILTERS, "hierarchy_date", "snapshot", "format")

# Exactly the dates parse_date accepts, as one regular expression (the OpenAPI document publishes it):
# YYYY-MM-DD or DD/MM/YYYY, zero-padded, a day that exists (29 February in leap years only), year >= 1
_YEAR = "(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"
_LEAP = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAYS = (
    ("(?:0[13578]|1[02])", "(?:0[1-9]|[12][0-9]|3[01])"),
    ("(?:0[469]|11)", "(?:0[1-9]|[12][0-9]|30)"),
    ("02", "(?:0[1-9]|1[0-9]|2[0-8])"),
)
_ISO = "|".join(f"{_YEAR}-{m}-{d}" for m, d in _MONTH_DAYS) + f"|{_LEAP}-02-29"
_DMY = "|".join(f"{d}/{m}/{_YEAR}" for m, d in _MONTH_DAYS) + f"|29/02/{_LEAP}"
DATE_PATTERN = f"^(?:{_ISO}|{_DMY})$"


def parse_date(param: str, text: str | None) -> date | None:
    """YYYY-MM-DD or DD/MM/YYYY (as in the input contract); anything else is an error."""
    if text is None or text == "":
        return None
    if re.fullmatch(DATE_PATTERN, text):  # strptime alone also takes '2026-1-5' and other digits
        for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
            try:
                return datetime.strptime(text, fmt).date()
            except ValueError:
                continue
    raise QueryError(param, f"{text!r} is not a date (use YYYY-MM-DD or DD/MM/YYYY)")


def parse_query(
    kpi_id: str, params: Mapping[str, str | None], *, strict: bool = True
) -> tuple[KpiQuery, str]:
    """(query, format) from string parameters; unknown parameters are errors when ``strict``."""
    get_kpi(kpi_id)  # unknown KPI -> QueryError('kpi')
    if strict:
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            raise QueryError(unknown[0], f"unknown parameter; known: {', '.join(PARAMS)}")
    by = params.get("by") or "all"
    if by not in BY:
        raise QueryError("by", f"unknown grouping {by!r}; one of {', '.join(BY)}")
    fmt = params.get("format") or "json"
    if fmt not in FORMATS:
        raise QueryError("format", f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    date_from = parse_date("from", params.get("from"))
    date_to = parse_date("to", params.get("to"))
    if date_from and date_to and date_from > date_to:
        raise QueryError("from", f"from {date_from.isoformat()} is after to {date_to.isoformat()}")
    snapshot_text = params.get("snapshot")
    snapshot = None
    if snapshot_text not in (None, ""):
        try:
            snapshot = int(str(snapshot_text))
        except ValueError:
            raise QueryError("snapshot", f"{snapshot_text!r} is not a data version (an integer)") from None
        if snapshot < 0:
            raise QueryError("snapshot", "must not be negative")
    filters = {}
    for name in FILTERS:
        value = params.get(name)
        if value is not None and value.strip():  # an empty field (an HTML form's) means no filter
            filters[name] = value.strip()
    query = KpiQuery(
        kpi=kpi_id,
        by=by,
        date_from=date_from,
        date_to=date_to,
        scope=Scope(**filters),
        hierarchy_date=parse_date("hierarchy_date", params.get("hierarchy_date")),
        snapshot=snapshot,
    )
    return query, fmt
