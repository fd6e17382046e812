"""Request parameters -> KpiQuery, and the errors naming the bad parameter."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ioc.metrics.errors import QueryError
from ioc.metrics.params import DATE_PATTERN, parse_date, parse_query
from ioc.metrics.query import KpiQuery, Scope


def test_parses_every_parameter():
    query, fmt = parse_query(
        "uptime",
        {
            "by": "ward",
            "from": "01/11/2026",
            "to": "2026-11-20",
            "district": "Quận 1",
            "level": "THCS",
            "hierarchy_date": "2026-09-01",
            "snapshot": "7",
            "format": "csv",
        },
    )
    assert fmt == "csv"
    assert query == KpiQuery(
        "uptime",
        "ward",
        date(2026, 11, 1),
        date(2026, 11, 20),
        Scope(district="Quận 1", level="THCS"),
        date(2026, 9, 1),
        7,
    )


@pytest.mark.parametrize(
    "kpi, params, param",
    [
        ("nope", {}, "kpi"),
        ("uptime", {"by": "province"}, "by"),
        ("uptime", {"from": "2026-11-31"}, "from"),
        ("uptime", {"to": "20.11.2026"}, "to"),
        ("uptime", {"from": "2026-11-21", "to": "2026-11-20"}, "from"),
        ("uptime", {"format": "xml"}, "format"),
        ("uptime", {"snapshot": "latest"}, "snapshot"),
        ("uptime", {"colour": "red"}, "colour"),
    ],
)
def test_bad_parameters_are_named(kpi, params, param):
    with pytest.raises(QueryError) as error:
        parse_query(kpi, params)
    assert error.value.param == param


def test_empty_fields_mean_no_filter():
    query, _ = parse_query("uptime", {"district": "", "ward": "  ", "from": "", "by": ""})
    assert query == KpiQuery("uptime")


# -- the published date pattern is exactly what parse_date accepts (OpenAPI: schemathesis) --------

DATE_LIKE = st.one_of(
    st.dates().map(date.isoformat),
    st.dates().map(lambda d: f"{d.day:02d}/{d.month:02d}/{d.year:04d}"),
    st.from_regex(r"\A[0-9]{1,4}[-/][0-9 ]{1,2}[-/][0-9]{1,4}\Z"),
    st.text(alphabet="0123456789-/ ٣", max_size=12),
)


@settings(max_examples=2000, deadline=None)
@given(DATE_LIKE)
def test_the_date_pattern_is_exactly_what_parse_date_accepts(text: str) -> None:
    try:
        parsed = parse_date("from", text)
    except QueryError:
        parsed = None
    assert (re.fullmatch(DATE_PATTERN, text) is not None) == (parsed is not None), text
