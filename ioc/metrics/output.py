"""A KpiResult as CSV (the JSON shape is KpiResult.to_json)."""

from __future__ import annotations

import csv
import io

from ioc.metrics.query import KpiResult

CSV_COLUMNS = (
    "kpi",
    "unit",
    "from",
    "to",
    "by",
    "key",
    "label",
    "value",
    "numerator",
    "denominator",
    "schools_reporting",
    "as_of",
    "status",
)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """A text cell a spreadsheet would run as a formula (``=HYPERLINK(...)``) gets a leading apostrophe."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def to_csv(result: KpiResult) -> str:
    data = result.to_json()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in data["rows"]:
        writer.writerow(
            [data["kpi"], data["unit"], data["from"] or "", data["to"] or "", data["by"]]
            + ["" if row[c] is None else neutralise(row[c]) for c in CSV_COLUMNS[5:]]
        )
    return out.getvalue()
