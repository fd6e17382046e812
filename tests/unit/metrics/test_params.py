"""Request parameters -> KpiQuery, and the errors naming the bad parameter."""

from __future__ import annotations

from datetime import date

import pytest

from ioc.metrics.errors import QueryError
from ioc.metrics.params import parse_query
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
