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
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel
from python_calamine import CalamineWorkbook

from ingest.contract import Dataset, header_key
from ingest.limits import LimitExceeded, Limits
from ioc.messages import MessageError, msg
from ioc.store import quote_ident

XLSX_BATCH = 50_000
SCAN_CHUNK = 1 << 20  # a CSV's lines are measured a MB at a time (the split of a chunk is held whole)
HEADER_SEARCH_ROWS = 20


class ReadError(MessageError):
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


def _csv_header(path: Path, limits: Limits) -> tuple[list[str], str]:
    # the header may not be longer than its longest allowed form: a file that is one endless
    # line is refused after reading that much, not read whole
    most = limits.columns * (limits.cell_chars + 3) + 1024
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        first = handle.readline(most + 1)
    if not first.strip():
        raise ReadError(msg("read.empty"))
    if len(first) > most and not first.endswith("\n"):
        raise LimitExceeded(
            msg("limit.header_line", limit=most),
            row=1,
            rule=msg("rule.header_line", columns=limits.columns, chars=limits.cell_chars),
        )
    counts = {delim: first.count(delim) for delim in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d])
    row = next(csv.reader(io.StringIO(first), delimiter=delimiter))
    limits.check_columns(len(row))
    limits.check_header_names(row)
    return row, delimiter


def stage_csv(
    cur: duckdb.DuckDBPyConnection, path: Path, dataset: Dataset, table: str, limits: Limits | None = None
) -> Staged:
    limits = limits or Limits.current()
    names, delimiter = _csv_header(path, limits)
    # no row of cells within the limit is longer (4 bytes per character, quotes, separator): a
    # longer line is refused by DuckDB as it reads, never held whole
    longest = len(names) * (4 * limits.cell_chars + 3) + 2
    over = _line_over(path, longest)
    if over is not None:
        line, size = over
        raise _line_too_long(line, size, len(names), longest, limits)
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
            f"escape = '\"', columns = {spec}, null_padding = false, max_line_size = ?)",
            [str(path), delimiter, longest],
        )
    except duckdb.Error as error:
        found = _LINE_TOO_LONG.search(str(error))  # a line made long by quoted line breaks
        if found:
            raise _line_too_long(
                int(found["line"]), int(found["size"]), len(names), longest, limits
            ) from None
        raise ReadError(msg("read.csv", error=_short(error))) from None
    rows = cur.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchall()[0][0]  # noqa: S608
    limits.check_rows(int(rows))
    # DuckDB keeps the file's order in the table, so rowid + 2 is the spreadsheet row.
    return Staged(table, header, int(rows), "rowid + 2")


def _line_too_long(line: int, size: int, cells: int, longest: int, limits: Limits) -> LimitExceeded:
    return LimitExceeded(
        msg("limit.line", row=line, size=size, cells=cells, chars=limits.cell_chars, longest=longest),
        row=line,
        rule=limits.cell_rule,
    )


def _line_over(path: Path, longest: int) -> tuple[int, int] | None:
    """The first line longer than ``longest`` bytes (its number and length), read in chunks.

    Checked before DuckDB reads the file: its CSV reader returns no rows at all, without an
    error, when the first data line is longer than its buffer (DuckDB 1.5.5), which would load
    the file as empty."""
    line, run = 1, 0  # the current line's number and the bytes of it seen so far
    with path.open("rb") as handle:
        while chunk := handle.read(SCAN_CHUNK):
            sizes = list(map(len, chunk.split(b"\n")))
            sizes[0] += run
            if max(sizes) > longest:
                index = next(i for i, size in enumerate(sizes) if size > longest)
                size = sizes[index]
                while index == len(sizes) - 1 and (more := handle.read(SCAN_CHUNK)):
                    end = more.find(b"\n")  # the line goes on: measure it to its end
                    size += len(more) if end < 0 else end
                    if end >= 0:
                        break
                return line + index, size
            line += len(sizes) - 1
            run = sizes[-1]
    return None


_LINE_TOO_LONG = re.compile(
    r"CSV Error on Line: (?P<line>\d+).*?Maximum line size of \d+ bytes exceeded\. Actual Size:\s*(?P<size>\d+)",
    re.DOTALL,
)


def _short(error: BaseException) -> str:
    """The first lines of a reader's error, each cut short (DuckDB quotes the offending line)."""
    lines = [
        line if len(line) <= 200 else line[:200] + "…" for line in str(error).splitlines() if line.strip()
    ]
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


def stage_parquet(
    cur: duckdb.DuckDBPyConnection, path: Path, dataset: Dataset, table: str, limits: Limits | None = None
) -> Staged:
    """Columns whose Parquet type already is the contract's type are staged as they are; the rest
    (text columns, numbers written as text...) as text, checked like CSV cells."""
    try:
        described = cur.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
    except duckdb.Error as error:
        raise ReadError(msg("read.parquet", error=_short(error))) from None
    names = [row[0] for row in described]
    types = {row[0]: str(row[1]).upper() for row in described}
    limits = limits or Limits.current()
    limits.check_columns(len(names))
    limits.check_header_names(names)
    # the row count is in the file's footer: a file over the limit is refused without reading it
    counted = cur.execute("SELECT sum(num_rows) FROM parquet_file_metadata(?)", [str(path)]).fetchall()
    limits.check_rows(int(counted[0][0] or 0))
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
            try:
                converted = from_excel(value, epoch=epoch)
            except (ValueError, OverflowError):
                return repr(value)
            return cell_text(converted, kind, epoch)
        if isinstance(value, float) and value.is_integer():
            return str(int(value))  # Excel stores every number as a float: 26743.0 is 26743
        return repr(value) if isinstance(value, float) else str(value)
    return str(value)


def _xlsx_epoch(path: Path) -> dt.datetime:
    """The workbook's date system: serial 0 is 1899-12-30, or 1904-01-01 in the Mac system."""
    with zipfile.ZipFile(path) as archive:
        try:
            text = archive.read("xl/workbook.xml")[:65536]
        except KeyError:
            return CALENDAR_WINDOWS_1900
    return CALENDAR_MAC_1904 if re.search(rb'date1904="(1|true)"', text) else CALENDAR_WINDOWS_1900


def stage_xlsx(
    cur: duckdb.DuckDBPyConnection, path: Path, dataset: Dataset, table: str, limits: Limits | None = None
) -> Staged:
    """The first sheet, read by calamine (Rust): blank rows cost nothing, and a sheet is parsed
    several times faster than by a Python XML parser."""
    limits = limits or Limits.current()
    limits.check_xlsx(path)  # a zip bomb is refused from its directory, before anything inflates
    try:
        epoch = _xlsx_epoch(path)
        workbook = CalamineWorkbook.from_path(str(path))
        sheet = workbook.get_sheet_by_index(0)
    except Exception as error:  # calamine raises several kinds for a broken workbook
        raise ReadError(msg("read.xlsx", error=_short(error))) from None
    try:
        limits.check_columns(sheet.width)
        rows = sheet.iter_rows()
        header: Header | None = None
        first: Header | None = None
        top, left = sheet.start or (0, 0)  # calamine's rows and columns start at the first cell
        row_number = top
        # The header is the first row naming contract columns; title rows above it are skipped,
        # but only the first HEADER_SEARCH_ROWS rows are looked at, blank ones included.
        for values in rows:
            row_number += 1
            if values and any(v is not None and str(v).strip() for v in values):
                limits.check_header_names(["" if v is None else str(v) for v in values])
                candidate = match_header(_skip_columns(left, values), dataset)
                first = first or candidate
                if len(candidate.columns) >= min(2, len(dataset.columns)) or row_number >= HEADER_SEARCH_ROWS:
                    header = candidate
                    break
            if row_number >= HEADER_SEARCH_ROWS:
                break
        if header is None:
            if first is None:
                raise ReadError(msg("read.xlsx_empty"))
            raise ReadError(
                msg("read.xlsx_no_header", dataset=dataset.name, expected=", ".join(dataset.column_names))
            )
        limits.check_rows(top + sheet.height - row_number)
        kinds = [dataset.column(c).type for c in header.columns]
        _create_stage(cur, table, header.columns)
        batch: list[list[Any]] = [[] for _ in range(len(header.columns) + 1)]
        total = 0
        for values in rows:
            row_number += 1
            values = _skip_columns(left, values)
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


def _skip_columns(left: int, values: list[Any]) -> list[Any]:
    """A row with the empty columns left of the sheet's first cell put back, so positions match."""
    return [None] * left + list(values) if left else list(values)


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
    cur: duckdb.DuckDBPyConnection,
    records: Iterable[Mapping[str, Any]],
    dataset: Dataset,
    table: str,
    limits: Limits | None = None,
) -> Staged:
    """JSON records: each record's keys are matched on their own, so records may differ in case.

    Record n is row n + 1, as if the records were a sheet under a header row."""
    limits = limits or Limits.current()
    known = set(dataset.column_names)
    rows: list[dict[str, Any]] = []
    found: dict[str, None] = {}
    extra: dict[str, None] = {}
    for number, record in enumerate(records, start=2):
        if not isinstance(record, Mapping):
            raise ReadError(msg("read.json_not_object", row=number))
        if number - 1 > limits.rows:
            raise limits.too_many_rows(number, msg("limit.records", limit=limits.rows))
        row: dict[str, Any] = {}
        for name, value in record.items():
            key = header_key(str(name))
            if key in known:
                if isinstance(value, (Mapping, list, tuple)):
                    raise LimitExceeded(
                        msg(
                            "limit.json_object" if isinstance(value, Mapping) else "limit.json_list",
                            row=number,
                            column=key,
                        ),
                        row=number,
                        column=key,
                        rule=msg("rule.single_value"),
                    )
                row.setdefault(key, value)
                found[key] = None
            elif str(name).strip() not in extra:
                extra[str(name).strip()] = None
                limits.check_columns(len(found) + len(extra))
        rows.append(row)
    columns = tuple(c for c in dataset.column_names if c in found)
    limits.check_header_names(list(extra))
    header = Header(columns, tuple(range(len(columns))), tuple(extra), (), (*columns, *extra))
    _create_stage(cur, table, columns)
    batch: list[list[Any]] = [list(range(2, len(rows) + 2))]
    for column in columns:
        batch.append([_json_text(row.get(column)) for row in rows])
    if rows:
        _append(cur, table, columns, batch)
    return Staged(table, header, len(rows))
