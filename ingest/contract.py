"""The input data contract (SPEC section 2) as ingestion reads it.

The datasets themselves are declared once, in :mod:`ioc.datasets` (columns, types, rules, key,
date column, staleness, what a load feeds); this module adds what only ingestion needs: how a
file's name tells its dataset, and how header names are matched.
"""

from __future__ import annotations

import re
from pathlib import Path

from ioc.datasets import (
    ATTENDANCE,
    CONNECTIVITY,
    DATASETS,
    DIGITAL,
    FALSE_WORDS,
    LOAD_ORDER,
    SCHOOLS,
    TRUE_WORDS,
    TYPES,
    Column,
    Dataset,
    Rule,
    fold,
)

__all__ = [
    "ATTENDANCE",
    "CONNECTIVITY",
    "DATASETS",
    "DIGITAL",
    "FALSE_WORDS",
    "FILE_SUFFIXES",
    "LOAD_ORDER",
    "SCHOOLS",
    "TRUE_WORDS",
    "TYPES",
    "Column",
    "Dataset",
    "Rule",
    "dataset_of",
    "date_in_name",
    "fold",
    "get_dataset",
    "header_key",
]


def header_key(text: str) -> str:
    """Header names match case- and space-insensitively: ``' School ID '`` == ``school_id``."""
    return re.sub(r"[\s_]+", "_", fold(text.lstrip("\ufeff"))).strip("_")


FILE_SUFFIXES = (".csv", ".xlsx", ".parquet", ".json")

_DATE_IN_NAME = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def dataset_of(path: str | Path) -> Dataset | None:
    """The dataset a file belongs to, from its name's prefix (``attendance_2026-11-23.csv``)."""
    name = Path(path).name.lower()
    for dataset in sorted(DATASETS.values(), key=lambda d: -len(d.name)):
        if name.startswith(dataset.name):
            rest = name[len(dataset.name) :]
            if not rest or not rest[0].isalpha():
                return dataset
    return None


def date_in_name(path: str | Path) -> str | None:
    """The ISO date written in a file's name, if any (``schools_2025-07-01.csv`` -> 2025-07-01)."""
    match = _DATE_IN_NAME.search(Path(path).name)
    return "-".join(match.groups()) if match else None


def get_dataset(name: str) -> Dataset:
    try:
        return DATASETS[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)}") from None
