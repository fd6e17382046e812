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
from ioc.messages import Message, MessageError, Num, msg

# C0 control characters but tab: never part of a name or a number ("Bình\x00Thường" is a broken
# export, not a school). The same class in Python and in DuckDB's RE2.
CONTROL_CLASS = r"[\x00-\x08\x0a-\x1f]"
_CONTROL = re.compile(CONTROL_CLASS)

SHOWN_CHARS = 60  # a long value is quoted by its beginning and its length
READABLE = msg("rule.readable")  # the rule a file breaks that cannot be read at all


class LimitExceeded(MessageError):
    """A file goes over an input limit; ``row`` and ``column`` tell where, if known; ``rule`` is
    the limit it breaks (its English text is what the ``rule`` column stores)."""

    def __init__(
        self, message: Message, *, row: int | None = None, column: str | None = None, rule: Message
    ) -> None:
        super().__init__(message)
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
    def cell_rule(self) -> Message:
        return msg("rule.cell_chars", limit=self.cell_chars)

    def check_columns(self, count: int) -> None:
        if count > self.columns:
            raise LimitExceeded(
                msg("limit.columns", count=count, limit=self.columns),
                row=1,
                rule=msg("rule.columns", limit=self.columns),
            )

    def check_rows(self, count: int) -> None:
        """``count`` data rows below a one-line header; the row named is the first one over the limit."""
        if count > self.rows:
            raise self.too_many_rows(self.rows + 2, msg("limit.data_rows", count=count))

    def too_many_rows(self, row: int, found: Message) -> LimitExceeded:
        return LimitExceeded(
            msg("limit.rows", row=row, found=found, limit=self.rows),
            row=row,
            rule=msg("rule.rows", limit=self.rows),
        )

    def check_header_names(self, names: list[str]) -> None:
        for position, name in enumerate(names, start=1):
            if len(name) > self.cell_chars:
                raise LimitExceeded(
                    msg("limit.header_name", position=position, name=shown(name), rule=self.cell_rule),
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
            raise LimitExceeded(msg("read.xlsx_not_zip", error=str(error)), rule=READABLE) from None
        if len(entries) > self.xlsx_entries:
            raise LimitExceeded(
                msg("limit.xlsx_entries", count=len(entries), limit=self.xlsx_entries),
                rule=msg("rule.xlsx_entries", limit=self.xlsx_entries),
            )
        inflated = sum(entry.file_size for entry in entries)
        if inflated > self.xlsx_inflated_bytes:
            biggest = max(entries, key=lambda e: e.file_size)
            raise LimitExceeded(
                msg(
                    "limit.xlsx_inflated",
                    size=_mb(inflated),
                    part=biggest.filename,
                    part_size=_mb(biggest.file_size),
                    limit=_mb(self.xlsx_inflated_bytes),
                ),
                rule=msg("rule.xlsx_inflated", limit=_mb(self.xlsx_inflated_bytes)),
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
        raise LimitExceeded(msg("read.xlsx_damaged", error=str(error)), rule=READABLE) from None


def _mb(size: int) -> Message:
    return msg("size.mb", mb=Num(size / 1024 / 1024, 1))


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


def unknown_columns_warning(file_name: str, dataset: str, names: tuple[str, ...], first: int = 5) -> Message:
    """One short line for the columns a file has beyond the contract: how many, and the first few."""
    listed = ", ".join(shown(n) for n in names[:first])
    if len(names) > first:
        return msg(
            "warning.unknown_columns_more",
            file=file_name,
            count=len(names),
            dataset=dataset,
            listed=listed,
            more=len(names) - first,
        )
    return msg("warning.unknown_columns", file=file_name, count=len(names), dataset=dataset, listed=listed)
