"""Readers: a CSV, XLSX, Parquet file or JSON records -> a staging table of text cells.

Every reader produces the same thing: a temporary DuckDB table with a ``_row`` column (the row
number as a spreadsheet user counts it, header = row 1) and one VARCHAR column per contract column
found in the header, named after the contract. Typing and every rule are checked afterwards in SQL
(:mod:`ingest.validate`), so large CSV and Parquet files are never turned into Python objects:
DuckDB streams them straight into the staging table.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ingest.contract import Dataset, header_key
from ioc.store import quote_ident

XLSX_BATCH = 50_000
HEADER_SEARCH_ROWS = 20


class ReadError(Exception):
    """The file cannot be read at all (not a CSV, a broken workbook...)."""


@dataclass(frozen=True)
class Header:
    """How a file's header maps onto the contract's columns."""

    columns: tuple[str, ...]  # contract column names found, in file order
    positions: tuple[int, ...]  # their positions in the file
    extra: tuple[str, ...]  # header names that are not in the contract (dropped)
    duplicates: tuple[tuple[str, tuple[int, ...]], ...]  # contract column -> positions (1-based)
    names: tuple[str, ...]  # the header as written


@dataclass(frozen=True)
class Staged:
    table: str
    header: Header
    rows: int
    row_expr: str = "_row"  # SQL giving a row's spreadsheet number in ``table``
    # columns staged with their own (Parquet) type instead of text: (column, 'tz'|'naive'|'value')
    native: tuple[tuple[str, str], ...] = ()


def match_header(names: Sequence[Any], dataset: Dataset) -> Header:
    known = set(dataset.column_names)
    seen: dict[str, list[int]] = {}
    extra: list[str] = []
    for position, raw in enumerate(names):
        text = "" if raw is None else str(raw)
        key = header_key(text)
        if key in known:
            seen.setdefault(key, []).append(position)
        elif key:
            extra.append(text.strip())
    duplicates = tuple((name, tuple(p + 1 for p in pos)) for name, pos in seen.items() if len(pos) > 1)
    columns = tuple(name for name in seen)
    positions = tuple(seen[name][0] for name in columns)
    return Header(
        columns, positions, tuple(extra), duplicates, tuple("" if n is None else str(n) for n in names)
    )


def _create_stage(cur: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str]) -> None:
    cols = ", ".join(f"{quote_ident(c)} VARCHAR" for c in columns)
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote_ident(table)} (_row BIGINT{', ' if cols else ''}{cols})"
    )


# -- CSV -------------------------------------------------------------------------------------


def _csv_header(path: Path) -> tuple[list[str], str]:
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        first = handle.readline()
    if not first.strip():
        raise ReadError("the file is empty (no header row)")
    counts = {delim: first.count(delim) for delim in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d])
    row = next(csv.reader(io.StringIO(first), delimiter=delimiter))
    return row, delimiter


def stage_csv(cur: duckdb.DuckDBPyConnection, path: Path, dataset: Dataset, table: str) -> Staged:
    names, delimiter = _csv_header(path)
    header = match_header(names, dataset)
    # Every file column is read as text under a neutral name; only contract columns are kept.
    spec = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(names))) + "}"
    picked = ", ".join(
        f"c{p} AS {quote_ident(c)}" for c, p in zip(header.columns, header.positions, strict=True)
    )
    try:
        cur.execute(
            f"CREATE OR REPLACE TEMP TABLE {quote_ident(table)} AS SELECT {picked or '1 AS _none'} "  # noqa: S608
            "FROM read_csv(?, header = true, auto_detect = false, delim = ?, quote = '\"', "
            f"escape = '\"', columns = {spec}, null_padding = false)",
            [str(path), delimiter],
        )
    except duckdb.Error as error:
        raise ReadError("cannot be read as CSV: " + _short(error)) from None
    rows = cur.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchall()[0][0]  # noqa: S608
    # DuckDB keeps the file's order in the table, so rowid + 2 is the spreadsheet row.
    return Staged(table, header, int(rows), "rowid + 2")


def _short(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    keep = [line for line in lines[:3] if not line.startswith("Possible fixes")]
    return " ".join(keep).replace("Invalid Input Error: ", "")


# -- Parquet ---------------------------------------------------------------------------------


_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")


def native_type(parquet_type: str, contract_type: str) -> str | None:
    """How a typed Parquet column is kept as it is (no text round trip): 'tz', 'naive' or 'value'."""
    kind = parquet_type.upper()
    if contract_type == "timestamp" and kind.startswith("TIMESTAMP WITH TIME ZONE"):
        return "tz"
    if contract_type == "timestamp" and kind.startswith("TIMESTAMP"):
        return "naive"  # a wall-clock time: local time, like text without an offset
    if contract_type == "date" and kind == "DATE":
        return "value"
    if contract_type == "boolean" and kind == "BOOLEAN":
        return "value"
    if contract_type == "integer" and kind in _INTEGER_TYPES:
        return "value"
    if contract_type == "number" and (
        kind in _INTEGER_TYPES or kind in ("FLOAT", "DOUBLE") or kind.startswith("DECIMAL")
    ):
        return "value"
    return None


def stage_parquet(cur: duckdb.DuckDBPyConnection, path: Path, dataset: Dataset, table: str) -> Staged:
    """Columns whose Parquet type already is the contract's type are staged as they are; the rest
    (text columns, numbers written as text...) as text, checked like CSV cells."""
    try:
        described = cur.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
    except duckdb.Error as error:
        raise ReadError("cannot be read as Parquet: " + _short(error)) from None
    names = [row[0] for row in described]
    types = {row[0]: str(row[1]).upper() for row in described}
    header = match_header(names, dataset)
    parts = []
    native: list[tuple[str, str]] = []
    for column, position in zip(header.columns, header.positions, strict=True):
        source = quote_ident(names[position])
        how = native_type(types[names[position]], dataset.column(column).type)
        if how is not None:
            native.append((column, how))
            value = {"tz": f"CAST({source} AS TIMESTAMPTZ)", "naive": f"CAST({source} AS TIMESTAMP)"}.get(
                how, source
            )
        else:
            value = f"CAST({source} AS VARCHAR)"
        parts.append(f"{value} AS {quote_ident(column)}")
    select = ", ".join(parts)
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote_ident(table)} AS SELECT {select or '1 AS _none'} FROM read_parquet(?)",  # noqa: S608
        [str(path)],
    )
    rows = cur.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchall()[0][0]  # noqa: S608
    return Staged(table, header, int(rows), "rowid + 2", tuple(native))


# -- XLSX ------------------------------------------------------------------------------------


def cell_text(value: Any, kind: str, epoch: dt.datetime) -> str | None:
    """One spreadsheet cell as the text a CSV would hold (dates as ISO, serials converted)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if kind == "date" and value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, (int, float)):
        if kind in ("date", "timestamp"):
            # a number in a date column is an Excel date serial of this workbook's date system
            from openpyxl.utils.datetime import from_excel

            try:
                converted = from_excel(value, epoch=epoch)
            except (ValueError, OverflowError):
                return repr(value)
            return cell_text(converted, kind, epoch)
        if isinstance(value, float) and value.is_integer():
            return str(int(value))  # Excel stores every number as a float: 26743.0 is 26743
        return repr(value) if isinstance(value, float) else str(value)
    return str(value)


def stage_xlsx(cur: duckdb.DuckDBPyConnection, path: Path, dataset: Dataset, table: str) -> Staged:
    import openpyxl  # defusedxml is installed, so openpyxl parses the workbook's XML safely

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a broken workbook
        raise ReadError(f"cannot be read as an XLSX workbook: {error}") from None
    try:
        sheet = workbook.worksheets[0]
        epoch = workbook.epoch
        rows = sheet.iter_rows(values_only=True)
        header: Header | None = None
        first: Header | None = None
        row_number = 0
        # The header is the first row naming contract columns; title rows above it are skipped.
        for values in rows:
            row_number += 1
            if values and any(v is not None and str(v).strip() for v in values):
                candidate = match_header(list(values), dataset)
                first = first or candidate
                if len(candidate.columns) >= min(2, len(dataset.columns)) or row_number >= HEADER_SEARCH_ROWS:
                    header = candidate
                    break
        if header is None:
            if first is None:
                raise ReadError("the workbook's first sheet is empty (no header row)")
            raise ReadError(
                f"no header row naming the {dataset.name} columns in the first sheet "
                f"(expected {', '.join(dataset.column_names)})"
            )
        kinds = [dataset.column(c).type for c in header.columns]
        _create_stage(cur, table, header.columns)
        batch: list[list[Any]] = [[] for _ in range(len(header.columns) + 1)]
        total = 0
        for values in rows:
            row_number += 1
            if not values or all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue  # blank lines in a sheet are layout, not data
            batch[0].append(row_number)
            for i, (position, kind) in enumerate(zip(header.positions, kinds, strict=True)):
                value = values[position] if position < len(values) else None
                batch[i + 1].append(cell_text(value, kind, epoch))
            total += 1
            if len(batch[0]) >= XLSX_BATCH:
                _append(cur, table, header.columns, batch)
                batch = [[] for _ in batch]
        if batch[0]:
            _append(cur, table, header.columns, batch)
        return Staged(table, header, total)
    finally:
        workbook.close()


def _append(
    cur: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], batch: list[list[Any]]
) -> None:
    arrays = [pa.array(batch[0], pa.int64())] + [pa.array(col, pa.string()) for col in batch[1:]]
    arrow = pa.Table.from_arrays(arrays, names=["_row", *columns])
    cur.register("_ingest_batch", arrow)
    try:
        cur.execute(f"INSERT INTO {quote_ident(table)} SELECT * FROM _ingest_batch")  # noqa: S608
    finally:
        cur.unregister("_ingest_batch")


# -- JSON records ----------------------------------------------------------------------------


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def stage_records(
    cur: duckdb.DuckDBPyConnection, records: Iterable[Mapping[str, Any]], dataset: Dataset, table: str
) -> Staged:
    """JSON records: each record's keys are matched on their own, so records may differ in case."""
    known = set(dataset.column_names)
    rows: list[dict[str, Any]] = []
    found: dict[str, None] = {}
    extra: dict[str, None] = {}
    for record in records:
        if not isinstance(record, Mapping):
            raise ReadError('JSON records must be objects ({"column": value, ...})')
        row: dict[str, Any] = {}
        for name, value in record.items():
            key = header_key(str(name))
            if key in known:
                row.setdefault(key, value)
                found[key] = None
            else:
                extra[str(name).strip()] = None
        rows.append(row)
    columns = tuple(c for c in dataset.column_names if c in found)
    header = Header(columns, tuple(range(len(columns))), tuple(extra), (), (*columns, *extra))
    _create_stage(cur, table, columns)
    batch: list[list[Any]] = [list(range(2, len(rows) + 2))]
    for column in columns:
        batch.append([_json_text(row.get(column)) for row in rows])
    if rows:
        _append(cur, table, columns, batch)
    return Staged(table, header, len(rows))
