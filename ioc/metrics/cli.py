"""``ioc kpi KPI_ID [--by ...] [--from D] [--to D] [--district X] ... [--format json|csv]``.

Prints the KPI as JSON (SPEC section 4's shape) or CSV. Bad parameters exit with status 2 and a
message naming the parameter. The CLI computes directly (no cache).
"""

from __future__ import annotations

import argparse
import json
import sys

from ioc import settings
from ioc.access import EVERYTHING
from ioc.cli import UsageError
from ioc.metrics.errors import QueryError
from ioc.metrics.output import to_csv
from ioc.metrics.query import BY, FILTERS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kpi_id", metavar="KPI_ID", help="the KPI (see `ioc kpi --list`)", nargs="?")
    parser.add_argument("--list", action="store_true", help="list the KPIs and exit")
    parser.add_argument("--by", default="all", help=f"group by one of: {', '.join(BY)} (default all)")
    parser.add_argument("--from", dest="date_from", metavar="D", help="first date (YYYY-MM-DD or DD/MM/YYYY)")
    parser.add_argument(
        "--to", dest="date_to", metavar="D", help="last date; for window KPIs it ends the window"
    )
    for name in FILTERS:
        parser.add_argument(f"--{name}", metavar="X", help=f"only this {name} (a code or a name)")
    parser.add_argument(
        "--hierarchy-date", metavar="D", help="group schools by the hierarchy as of this date"
    )
    parser.add_argument(
        "--snapshot", metavar="N", help="read the store as of this data version (time travel)"
    )
    parser.add_argument("--format", default="json", help="json (default) or csv")


def run(args: argparse.Namespace) -> int:
    # the KPI registry (kpis.toml read and checked, ~20 ms) only when a KPI is listed or asked, so
    # `ioc kpi --help` stays as quick as before
    from ioc.metrics.params import parse_query
    from ioc.metrics.registry import KPIS

    if args.list:
        for kpi in KPIS.values():
            print(f"{kpi.id:26} {kpi.unit:17} {kpi.name.en}")
        return 0
    # heavy: DuckDB and the engine (~170 modules, 0.3 s) only when a KPI is answered, not for
    # `ioc kpi --help` nor `ioc kpi --list`
    from ioc.metrics.front import Metrics
    from ioc.store import StoreError, open_store, store_exists

    if not args.kpi_id:
        raise UsageError("KPI_ID: give a KPI id (see `ioc kpi --list`)")
    params = {
        "by": args.by,
        "from": args.date_from,
        "to": args.date_to,
        "hierarchy_date": args.hierarchy_date,
        "snapshot": args.snapshot,
        "format": args.format,
        **{name: getattr(args, name) for name in FILTERS},
    }
    try:
        query, fmt = parse_query(args.kpi_id, {k: v for k, v in params.items() if v is not None})
    except QueryError as error:
        raise UsageError(_flag(error)) from None
    try:
        found = store_exists(args.data_dir)
    except StoreError as error:
        raise UsageError(str(error)) from None
    if not found:
        where = settings.get("catalog_url") and "IOC_CATALOG_URL"
        raise UsageError(
            f"{where or '--data-dir'}: no store in "
            f"{'the PostgreSQL catalog' if where else settings.data_dir(args.data_dir)} "
            "(run `ioc demo`, `ioc ingest` or `ioc store migrate` first, or set IOC_DATA_DIR / IOC_CATALOG_URL)"
        )
    store = open_store(args.data_dir)
    try:
        result = Metrics(store, EVERYTHING, cached=False).answer(query)  # the CLI reads the whole city
    except QueryError as error:
        raise UsageError(_flag(error)) from None
    if fmt == "csv":
        sys.stdout.write(to_csv(result))
    else:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    return 0


def _flag(error: Exception) -> str:
    assert isinstance(error, QueryError)
    if error.param == "kpi":
        return f"KPI_ID: {error.message}"
    return f"--{error.param.replace('_', '-')}: {error.message}"
