"""The datasets of the input contract (SPEC section 2), each declared once.

A dataset's columns with their types, which are required, the simple per-column rules (minimum,
range, enumerations with their Vietnamese labels), the rules that span columns or refer to the
school, its key, its date column, how stale it may get by default and what its loads feed. Read by
ingestion (``ingest/contract.py``: readers, validation, loading), by the migrations (its table),
by the metrics layer (the columns a KPI formula may name, the latest data date, the cache's table
versions) and by the panels (staleness); ``tests/unit/test_datasets.py`` fails when any of them
disagrees with this module or with the tables of a migrated store.

Rules that span columns carry a small SQL condition over the typed staging table ``t`` (and the
school's current row ``s``); they are part of the contract, never built from input.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

TYPES = ("text", "integer", "number", "boolean", "date", "timestamp")

# Spellings accepted for booleans, compared after trimming, NFC and lower-casing.
TRUE_WORDS = ("true", "1", "yes", "có")
FALSE_WORDS = ("false", "0", "no", "không")


def fold(text: str) -> str:
    """The form in which labels and header names are compared: NFC, trimmed, lower-case."""
    return unicodedata.normalize("NFC", text).strip().lower()


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = True
    minimum: float | None = None
    maximum: float | None = None
    # canonical value -> accepted labels (besides the canonical value itself)
    labels: tuple[tuple[str, tuple[str, ...]], ...] = ()
    default: str | None = None  # used when the column is absent or the cell empty

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type}")

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(value for value, _ in self.labels)

    def label_map(self) -> dict[str, str]:
        """Folded label -> canonical value, the canonical values included."""
        mapping: dict[str, str] = {}
        for value, labels in self.labels:
            mapping[fold(value)] = value
            for label in labels:
                mapping[fold(label)] = value
        return mapping


@dataclass(frozen=True)
class Rule:
    """A rule over several columns of one row (``t``) or the row and its school (``s``)."""

    name: str  # as stored with a rejection (English): "present <= enrolled"
    column: str  # the column a rejection names
    broken: str  # SQL condition, true when the rule is broken (NULL = not applicable)
    # what explains the comparison: the parameters of the message ``msg.detail.<id>`` of the
    # locale catalogs, each a SQL expression over ``t`` (and ``s``), e.g. (("enrolled", "t.enrolled"),)
    detail: tuple[tuple[str, str], ...] = ()
    needs_school: bool = False
    id: str = ""  # the rule's message: ``msg.rule.<id>`` (its name in words), ``msg.detail.<id>``


@dataclass(frozen=True)
class Dataset:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    rules: tuple[Rule, ...] = ()
    references_school: bool = True
    history: bool = False  # schools keep a version per valid_from date
    text_checked_for_encoding: tuple[str, ...] = field(default=())
    # the column giving a row's date (the latest data date, time windows); None for a dimension
    date_column: str | None = None
    # how old the newest data may get before a panel calls it stale, by default (minutes)
    stale_minutes: int = 24 * 60
    # what a load of it feeds besides its own table: the rollups ioc.rollups updates in the
    # load's transaction (the cache's table versions count them for the dataset's KPIs)
    feeds: tuple[str, ...] = ()
    # the order DuckLake writes its files in (every load, every merge; SQL expressions over its
    # columns): a table read for one school at a time is sorted by school within each day, so row
    # groups of other schools are skipped and a day's rows stay together when files are merged
    sorted_by: tuple[str, ...] = ()

    @property
    def table(self) -> str:
        return self.name

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def value_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.name not in self.key)

    @property
    def stored_columns(self) -> tuple[str, ...]:
        """The columns of its table a query may read (``run_id`` is bookkeeping)."""
        return self.column_names + (("valid_from",) if self.history else ())

    def create_table(self) -> str:
        """The table's definition: a column per contract column (NOT NULL when a value is always
        there), ``valid_from`` for a dimension with history, and the loading run's ``run_id``."""
        parts = [
            f"{c.name} {STORAGE_TYPES[c.type]}{' NOT NULL' if c.required or c.default is not None else ''}"
            for c in self.columns
        ]
        if self.history:
            parts.append("valid_from DATE NOT NULL")
        parts.append("run_id VARCHAR NOT NULL")
        return f"CREATE TABLE {self.table} (\n    " + ",\n    ".join(parts) + "\n)"

    def sort_table(self, catalog: str | None = None) -> str | None:
        """The statement giving the table its file order (``sorted_by``), or None."""
        if not self.sorted_by:
            return None
        table = f"{catalog}.{self.table}" if catalog else self.table
        return f"ALTER TABLE {table} SET SORTED BY ({', '.join(c + ' ASC' for c in self.sorted_by)})"


LEVEL = Column(
    "level",
    "text",
    labels=(
        ("preschool", ("Mầm non",)),
        ("primary", ("Tiểu học",)),
        ("lower_secondary", ("THCS", "Trung học cơ sở")),
        ("upper_secondary", ("THPT", "Trung học phổ thông")),
        ("continuing", ("GDTX", "Giáo dục thường xuyên")),
        ("multi_level", ("Liên cấp",)),
    ),
)
OWNERSHIP = Column(
    "ownership",
    "text",
    labels=(("public", ("Công lập",)), ("private", ("Ngoài công lập", "Tư thục"))),
)

SCHOOLS = Dataset(
    "schools",
    (
        Column("school_id", "text"),
        Column("school_name", "text"),
        LEVEL,
        OWNERSHIP,
        Column("ward_code", "text", required=False),
        Column("ward_name", "text"),
        Column("district_code", "text", required=False),
        Column("district_name", "text"),
        Column("latitude", "number", required=False, minimum=8, maximum=24),
        Column("longitude", "number", required=False, minimum=102, maximum=110),
        Column("students", "integer", minimum=0),
        Column("teachers", "integer", minimum=0),
        Column("classrooms", "integer", minimum=0),
        Column("active", "boolean", required=False, default="true"),
    ),
    key=("school_id",),
    references_school=False,
    history=True,
    text_checked_for_encoding=("school_name", "ward_name", "district_name"),
    stale_minutes=400 * 24 * 60,  # a school list changes once or twice a year
)

ATTENDANCE = Dataset(
    "attendance",
    (
        Column("date", "date"),
        Column("school_id", "text"),
        Column("enrolled", "integer", minimum=0),
        Column("present", "integer", minimum=0),
        Column("absent_excused", "integer", required=False, minimum=0),
        Column("absent_unexcused", "integer", required=False, minimum=0),
    ),
    key=("date", "school_id"),
    date_column="date",
    stale_minutes=4 * 24 * 60,  # once per school day: a long weekend must not raise the flag
    rules=(
        Rule(
            "present <= enrolled",
            "present",
            "t.present > t.enrolled",
            (("enrolled", "t.enrolled"),),
            id="present_le_enrolled",
        ),
        Rule(
            "present + absent_excused + absent_unexcused = enrolled",
            "absent_unexcused",
            "t.present + t.absent_excused + t.absent_unexcused <> t.enrolled",
            (
                ("present", "t.present"),
                ("excused", "t.absent_excused"),
                ("unexcused", "t.absent_unexcused"),
                ("total", "t.present + t.absent_excused + t.absent_unexcused"),
                ("enrolled", "t.enrolled"),
            ),
            id="absences_sum",
        ),
    ),
)

DIGITAL = Dataset(
    "digital",
    (
        Column("as_of", "date"),
        Column("school_id", "text"),
        Column("student_devices", "integer", minimum=0),
        Column("teacher_devices", "integer", minimum=0),
        Column("smart_classrooms", "integer", minimum=0),
        Column("teachers_trained", "integer", minimum=0),
        Column("lms_active_students", "integer", minimum=0),
        Column("e_transcript", "boolean"),
        Column("cashless_share", "number", minimum=0, maximum=1),
    ),
    key=("as_of", "school_id"),
    date_column="as_of",
    stale_minutes=45 * 24 * 60,  # a monthly snapshot
    rules=(
        Rule(
            "smart_classrooms <= classrooms of the school",
            "smart_classrooms",
            "t.smart_classrooms > s.classrooms",
            (("school_id", "t.school_id"), ("classrooms", "s.classrooms")),
            needs_school=True,
            id="smart_le_classrooms",
        ),
        Rule(
            "teachers_trained <= teachers of the school",
            "teachers_trained",
            "t.teachers_trained > s.teachers",
            (("school_id", "t.school_id"), ("teachers", "s.teachers")),
            needs_school=True,
            id="trained_le_teachers",
        ),
        Rule(
            "lms_active_students <= students of the school",
            "lms_active_students",
            "t.lms_active_students > s.students",
            (("school_id", "t.school_id"), ("students", "s.students")),
            needs_school=True,
            id="lms_le_students",
        ),
    ),
)

CONNECTIVITY = Dataset(
    "connectivity",
    (
        Column("measured_at", "timestamp"),
        Column("school_id", "text"),
        Column("download_mbps", "number", required=False, minimum=0),
        Column("upload_mbps", "number", required=False, minimum=0),
        Column("latency_ms", "number", required=False, minimum=0),
        Column("online", "boolean"),
    ),
    key=("measured_at", "school_id"),
    date_column="measured_at",
    stale_minutes=60,  # a probe every 5 minutes
    feeds=("connectivity_daily", "rollup_state"),
    sorted_by=("date_trunc('day', measured_at)", "school_id", "measured_at"),
)

DATASETS: dict[str, Dataset] = {d.name: d for d in (SCHOOLS, ATTENDANCE, DIGITAL, CONNECTIVITY)}

# schools first: the other datasets refer to them
LOAD_ORDER = ("schools", "attendance", "digital", "connectivity")

# how each contract type is stored (whole numbers as INTEGER; ingestion types them as BIGINT first)
STORAGE_TYPES = {
    "text": "VARCHAR",
    "integer": "INTEGER",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
}
