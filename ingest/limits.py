"""Input limits: how big a file, a row or a cell may be, read from the settings.

A file over a limit is rejected whole, with a message that names the file, where (row, column),
the limit with its setting and the size found. The cheap checks come first: an XLSX workbook's zip
directory is read before anything is inflated (Python's zipfile never inflates an entry past its
declared size, so the declared sizes are a true bound), a CSV's header before its rows.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from ioc import settings

# C0 control characters but tab: never part of a name or a number ("Bình\x00Thường" is a broken
# export, not a school). The same class in Python and in DuckDB's RE2.
CONTROL_CLASS = r"[\x00-\x08\x0a-\x1f]"
_CONTROL = re.compile(CONTROL_CLASS)

SHOWN_CHARS = 60  # a long value is quoted by its beginning and its length


class LimitExceeded(Exception):
    """A file goes over an input limit; ``where`` tells which row and column, if one."""

    def __init__(self, text: str, *, row: int | None = None, column: str | None = None, rule: str):
        super().__init__(text)
        self.row = row
        self.column = column
        self.rule = rule


@dataclass(frozen=True)
class Limits:
    cell_chars: int
    columns: int
    rows: int
    xlsx_inflated_bytes: int
    xlsx_entries: int

    @classmethod
    def current(cls) -> Limits:
        return cls(
            cell_chars=int(settings.get("max_cell_chars")),
            columns=int(settings.get("max_columns")),
            rows=int(settings.get("max_rows")),
            xlsx_inflated_bytes=int(settings.get("max_xlsx_inflated_mb")) * 1024 * 1024,
            xlsx_entries=int(settings.get("max_xlsx_entries")),
        )

    @property
    def cell_rule(self) -> str:
        return f"at most {self.cell_chars:,} characters (IOC_MAX_CELL_CHARS)"

    def check_columns(self, count: int) -> None:
        if count > self.columns:
            raise LimitExceeded(
                f"row 1: the header has {count:,} columns, over the limit of {self.columns:,} columns "
                "per file (IOC_MAX_COLUMNS)",
                row=1,
                rule=f"at most {self.columns:,} columns (IOC_MAX_COLUMNS)",
            )

    def check_rows(self, count: int) -> None:
        """``count`` data rows below a one-line header; the row named is the first one over the limit."""
        if count > self.rows:
            raise self.too_many_rows(self.rows + 2, f"the file has {count:,} data rows")

    def too_many_rows(self, row: int, found: str) -> LimitExceeded:
        return LimitExceeded(
            f"row {row:,}: {found}, over the limit of {self.rows:,} rows per file (IOC_MAX_ROWS)",
            row=row,
            rule=f"at most {self.rows:,} rows (IOC_MAX_ROWS)",
        )

    def check_header_names(self, names: list[str]) -> None:
        for position, name in enumerate(names, start=1):
            if len(name) > self.cell_chars:
                raise LimitExceeded(
                    f"row 1, column {position:,}: the header name {shown(name)} breaks rule {self.cell_rule}",
                    row=1,
                    column=f"column {position:,}",
                    rule=self.cell_rule,
                )

    def check_xlsx(self, path: Path) -> None:
        """Refuse a workbook whose zip directory declares too many entries or too many bytes."""
        try:
            with zipfile.ZipFile(path) as archive:
                entries = archive.infolist()
        except (zipfile.BadZipFile, OSError) as error:
            raise LimitExceeded(
                f"cannot be read as an XLSX workbook (not a zip archive: {error})", rule="readable file"
            ) from None
        if len(entries) > self.xlsx_entries:
            raise LimitExceeded(
                f"the workbook holds {len(entries):,} files, over the limit of {self.xlsx_entries:,} "
                "(IOC_MAX_XLSX_ENTRIES); refused before reading it",
                rule=f"at most {self.xlsx_entries:,} files in a workbook (IOC_MAX_XLSX_ENTRIES)",
            )
        inflated = sum(entry.file_size for entry in entries)
        if inflated > self.xlsx_inflated_bytes:
            biggest = max(entries, key=lambda e: e.file_size)
            raise LimitExceeded(
                f"the workbook inflates to {_mb(inflated)} (the biggest part, {biggest.filename}, to "
                f"{_mb(biggest.file_size)}), over the limit of {_mb(self.xlsx_inflated_bytes)} "
                "(IOC_MAX_XLSX_INFLATED_MB); refused before reading it: send big data as CSV or Parquet",
                rule=f"inflates to at most {_mb(self.xlsx_inflated_bytes)} (IOC_MAX_XLSX_INFLATED_MB)",
            )
        _verify_entries(path)


def _verify_entries(path: Path) -> None:
    """Inflate each entry once through zipfile, which stops at the declared size and checks the
    CRC: an entry that lies about its size fails here instead of inflating without end later."""
    try:
        with zipfile.ZipFile(path) as archive:
            for entry in archive.infolist():
                with archive.open(entry) as handle:
                    while handle.read(1 << 20):
                        pass
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError) as error:
        raise LimitExceeded(
            f"cannot be read as an XLSX workbook: its zip archive is damaged or lies about its sizes ({error})",
            rule="readable file",
        ) from None


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:,.1f} MB"


def escape_controls(text: str) -> str:
    """Control characters made visible: ``'Bình\\x00Thường'`` instead of a silently cut name."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def controls_in(text: str) -> str:
    """The distinct control characters of ``text``, escaped: ``\\x00 \\x1b``."""
    return " ".join(escape_controls(ch) for ch in sorted(set(_CONTROL.findall(text))))


def shown(text: str) -> str:
    """A value as quoted in a message: control characters escaped, a long one cut with its length."""
    if len(text) <= SHOWN_CHARS:
        return f"'{escape_controls(text)}'"
    return f"'{escape_controls(text[:SHOWN_CHARS])}…' ({len(text):,} characters)"


def unknown_columns_warning(file_name: str, dataset: str, names: tuple[str, ...], first: int = 5) -> str:
    """One short line for the columns a file has beyond the contract: how many, and the first few."""
    listed = ", ".join(shown(n) for n in names[:first])
    more = f" and {len(names) - first:,} more" if len(names) > first else ""
    return (
        f"{file_name}: {len(names):,} column(s) not part of the {dataset} contract were left out: "
        f"{listed}{more}"
    )
