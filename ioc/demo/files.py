"""Writing the demo's files the way schools and systems send them.

The demo's files use the same mix of formats real senders use, so that loading the demo goes
through every reader: CSV with and without a byte-order mark, dates as YYYY-MM-DD and DD/MM/YYYY,
Vietnamese labels and mixed-case headers, XLSX workbooks with real date cells, and Parquet.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

BOM = "\ufeff".encode()


def write_csv(table: pa.Table | pd.DataFrame, path: Path, *, bom: bool = False) -> Path:
    """A UTF-8 CSV (optionally with a BOM, as Excel writes it); nulls are empty cells."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    with path.open("wb") as handle:
        if bom:
            handle.write(BOM)
        pacsv.write_csv(table, handle)
    return path


def write_xlsx(frame: pd.DataFrame, path: Path, *, stamp: dt.datetime, sheet: str = "Sheet1") -> Path:
    """An XLSX workbook with one sheet: header row, then the values as typed cells.

    ``stamp`` is written as the workbook's creation and modification time (and as the time of
    every part of the zip), so the same data always gives the same bytes: ingestion recognises a
    re-sent workbook by its checksum.
    """
    # heavy: openpyxl (~200 modules, 0.3 s) only when a workbook is written, not for `ioc demo --help`
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet)
    ws.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        ws.append([_cell(v) for v in row])
    buffer = io.BytesIO()
    book.save(buffer)
    when = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "docProps/core.xml":
                text = data.decode("utf-8")
                text = re.sub(
                    r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)", rf"\g<1>{when}\g<3>", text
                )
                data = text.encode("utf-8")
            info = zipfile.ZipInfo(item.filename, date_time=stamp.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, data)
    return path


def _cell(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.date()
    if hasattr(value, "item") and not isinstance(value, (dt.date, str)):
        return value.item()  # numpy scalar -> Python scalar
    return value


def write_parquet(table: pa.Table, path: Path) -> Path:
    pq.write_table(table, path, compression="zstd")
    return path


def clear(folder: Path, prefixes: Sequence[str]) -> int:
    """Remove the files a previous demo wrote into ``folder`` (and nothing else)."""
    removed = 0
    if folder.exists():
        for path in folder.iterdir():
            if path.is_file() and path.name.startswith(tuple(prefixes)):
                path.unlink()
                removed += 1
    return removed
