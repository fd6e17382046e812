"""Every rule of the input contract, checked as set-based SQL over a staged file.

:func:`type_rows` turns the staging table of text cells into a typed table (``<col>`` the typed
value, ``<col>__given`` whether the cell had any text); :func:`find_problems` runs one query per
rule and collects what breaks them into a temporary ``problems`` table, then reads back the text
of the cells it quotes; :func:`final_rows` keeps the rows to load (identical duplicate rows once).
Nothing here loops over rows in Python, so a 10-million-row file is checked at DuckDB's speed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from ingest.contract import FALSE_WORDS, TRUE_WORDS, Column, Dataset, fold
from ingest.encoding import NOT_VIETNAMESE_CLASS, describe_mojibake
from ingest.limits import CONTROL_CLASS, SHOWN_CHARS, Limits, controls_in
from ioc import settings
from ioc.messages import Message, msg
from ioc.store import quote_ident

MAX_LISTED = 1000

INTEGER_RE = r"[+-]?[0-9]+(\.0+)?"
DATE_ISO_RE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
DATE_VN_RE = r"[0-9]{2}/[0-9]{2}/[0-9]{4}"
TIME_RE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
OFFSET_RE = r"(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def type_rule(column: Column) -> Message:
    """The rule a cell of this column breaks when its text is not of the column's type."""
    if column.labels:
        return msg("rule.one_of", choices=", ".join(column.choices))
    return msg(f"rule.type_{column.type}")


def _bound(value: float | None) -> float:
    assert value is not None
    return float(value)


def range_rule(column: Column) -> Message:
    """The rule a value outside the column's minimum/maximum breaks."""
    low = _bound(column.minimum) if column.minimum is not None else None
    if column.name in ("latitude", "longitude"):
        return msg("rule.inside_vietnam", column=column.name, min=low, max=_bound(column.maximum))
    if column.minimum is not None and column.maximum is not None:
        return msg("rule.between", column=column.name, min=low, max=_bound(column.maximum))
    return msg("rule.at_least", column=column.name, min=low)


def _typed_expr(column: Column, raw: str) -> str:
    """SQL typing the cleaned text ``raw`` of a cell; NULL when the text is not of the type."""
    if column.labels:
        cases = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in column.label_map().items())
        return f"CASE lower({raw}) {cases} END"
    if column.type == "text":
        return raw
    if column.type == "integer":
        return f"CASE WHEN regexp_full_match({raw}, {_lit(INTEGER_RE)}) THEN TRY_CAST(split_part({raw}, '.', 1) AS BIGINT) END"
    if column.type == "number":
        # DuckDB's cast accepts plain decimals with an optional exponent, and also digit separators
        # ('1_000') and nan/inf, which the contract refuses; testing for those is cheaper than a
        # regular expression.
        value = f"TRY_CAST({raw} AS DOUBLE)"
        return f"CASE WHEN isfinite({value}) AND NOT contains({raw}, '_') THEN {value} END"
    if column.type == "boolean":
        true = ", ".join(_lit(fold(w)) for w in TRUE_WORDS)
        false = ", ".join(_lit(fold(w)) for w in FALSE_WORDS)
        return f"CASE WHEN lower({raw}) IN ({true}) THEN true WHEN lower({raw}) IN ({false}) THEN false END"
    if column.type == "date":
        return (
            f"CASE WHEN regexp_full_match({raw}, {_lit(DATE_ISO_RE)}) THEN CAST(TRY_STRPTIME({raw}, '%Y-%m-%d') AS DATE) "
            f"WHEN regexp_full_match({raw}, {_lit(DATE_VN_RE)}) THEN CAST(TRY_STRPTIME({raw}, '%d/%m/%Y') AS DATE) END"
        )
    if column.type == "timestamp":
        # one regular expression checks the shape; the offset, if any, follows the minutes
        # (position 17 on), so a '+', '-' or 'Z' there means the text carries its own offset
        tail = f"substr({raw}, 17)"
        has_offset = f"({tail} LIKE '%+%' OR {tail} LIKE '%-%' OR {tail} LIKE '%Z' OR {tail} LIKE '%z')"
        return (
            f"CASE WHEN NOT regexp_full_match({raw}, {_lit(TIME_RE + OFFSET_RE + '?')}) THEN NULL "
            f"WHEN {has_offset} THEN TRY_CAST({raw} AS TIMESTAMPTZ) "
            f"ELSE {_local_time(f'TRY_CAST({raw} AS TIMESTAMP)')} END"
        )
    raise AssertionError(column.type)


@lru_cache(maxsize=8)
def _fixed_offset(zone: str) -> tuple[int, dt.datetime] | None:
    """The zone's UTC offset in seconds if it has not changed since 1976 (Asia/Ho_Chi_Minh: +7 h)."""
    tz = ZoneInfo(zone)
    since = dt.datetime(1976, 1, 1)
    offsets = {
        tz.utcoffset(dt.datetime(year, month, 1))
        for year in range(since.year, 2101)
        for month in (1, 4, 7, 10)
    }
    if len(offsets) != 1:
        return None
    (offset,) = offsets
    return (int(offset.total_seconds()) if offset is not None else 0), since


def _local_time(naive: str) -> str:
    """SQL turning a TIMESTAMP without offset into the instant it names in the local time zone."""
    zone = str(settings.get("timezone"))
    fixed = _fixed_offset(zone)
    general = f"timezone({_lit(zone)}, {naive})"
    if fixed is None:
        return general
    # A fixed offset is plain arithmetic, several times faster than a time-zone lookup per row.
    seconds, since = fixed
    return (
        f"CASE WHEN {naive} >= TIMESTAMP '{since.isoformat(sep=' ')}' "
        f"THEN to_timestamp(epoch({naive}) - {seconds}) ELSE {general} END"
    )


SQL_TYPES = {
    "text": "VARCHAR",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
}


def _is_plain_text(column: Column) -> bool:
    return column.type == "text" and not column.labels


def type_rows(
    cur: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    staged: str,
    present: tuple[str, ...],
    typed: str,
    row_expr: str = "_row",
    native: tuple[tuple[str, str], ...] = (),
) -> None:
    """Create ``typed``: per column the typed value (``c``) and whether a value was given.

    Plain text columns hold the cleaned (trimmed, NFC) text, so "given" is "not NULL"; every other
    column gets a small ``c__given`` flag instead of a copy of its text, which keeps this table
    cheap to build for millions of rows. The text of a bad cell is read back from the staging
    table only for the problems that are listed (:func:`cell_values`).
    """
    kept = dict(native)
    parts = [f"{row_expr} AS _row"]
    for column in dataset.columns:
        if column.name in kept:  # already typed (Parquet): no text to clean
            raw = quote_ident(column.name)
        elif column.name in present and (column.type in ("text", "boolean") or column.labels):
            raw = f"nullif(nfc_normalize(trim({quote_ident(column.name)})), '')"
        elif column.name in present:  # digits and punctuation need no normalising
            raw = f"nullif(trim({quote_ident(column.name)}), '')"
        else:
            raw = "CAST(NULL AS VARCHAR)"
        parts.append(f"{raw} AS {quote_ident(column.name + '__raw')}")
    inner = f"SELECT {', '.join(parts)} FROM {quote_ident(staged)}"  # noqa: S608
    outer = ["_row"]
    for column in dataset.columns:
        raw = quote_ident(column.name + "__raw")
        how = kept.get(column.name)
        if how == "naive":
            expr = _local_time(raw)
        elif how is not None and column.type == "number":
            expr = f"CASE WHEN isfinite({raw}) THEN {raw} END"  # NaN and infinity are not numbers
        elif how is not None:
            expr = raw
        else:
            expr = _typed_expr(column, raw)
        if column.default is not None:
            expr = f"coalesce({expr}, CASE WHEN {raw} IS NULL THEN {_typed_expr(column, _lit(column.default))} END)"
        outer.append(f"CAST({expr} AS {SQL_TYPES[column.type]}) AS {quote_ident(column.name)}")
        if not _is_plain_text(column):
            outer.append(f"{raw} IS NOT NULL AS {quote_ident(column.name + '__given')}")
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote_ident(typed)} AS SELECT {', '.join(outer)} FROM ({inner})"  # noqa: S608
    )


def _given(column: Column, alias: str = "t") -> str:
    if _is_plain_text(column):
        return f"{alias}.{quote_ident(column.name)} IS NOT NULL"
    return f"{alias}.{quote_ident(column.name + '__given')}"


@dataclass(frozen=True)
class Problem:
    row: int | None
    column: str | None
    value: str | None
    rule: Message
    detail: Message | None


@dataclass(frozen=True)
class Problems:
    count: int  # every broken rule, exactly
    rows: int  # distinct rows breaking at least one rule
    listed: tuple[Problem, ...]  # the first MAX_LISTED, in row order


@dataclass(frozen=True)
class _Check:
    """One rule's words: the rule, and the message explaining a break (``msg.detail.<id>``) with
    the parameters its query computes (``names``, in order) and those known before (``fixed``)."""

    rule: Message
    detail: str | None = None  # 'encoding': the value itself tells (ingest.encoding)
    names: tuple[str, ...] = ()
    fixed: tuple[tuple[str, Any], ...] = ()

    def explain(self, values: list[str] | None, value: str | None) -> Message | None:
        if self.detail == "encoding":
            return describe_mojibake(value or "")
        if self.detail is None:
            return None
        return msg(
            f"detail.{self.detail}", **dict(self.fixed), **dict(zip(self.names, values or (), strict=False))
        )


def _select(
    row: str,
    column: str,
    shown: str,
    checks: list[_Check],
    check: _Check,
    params: tuple[str, ...],
    source: str,
    where: str,
) -> str:
    """One rule's query; ``shown`` names the columns whose text the message quotes, ``params`` the
    SQL expressions of its detail's parameters (their text)."""
    checks.append(check)
    detail = (
        "list_value(" + ", ".join(f"CAST({p} AS VARCHAR)" for p in params) + ")"
        if params
        else "CAST(NULL AS VARCHAR[])"
    )
    return (
        f"SELECT {row} AS _row, {_lit(column)} AS column_name, {_lit(shown)} AS shown, {_lit(str(check.rule))} AS rule, "  # noqa: S608
        f"{len(checks) - 1} AS check_no, {detail} AS detail FROM {source} WHERE {where}"
    )


def find_problems(
    cur: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    typed: str,
    problems: str,
    schools: str | None,
    staged: str,
    present: tuple[str, ...],
    row_expr: str = "_row",
) -> Problems:
    """Check every rule and collect what breaks them into ``problems``.

    ``schools`` names a table of every school version (school_id, students, teachers, classrooms,
    valid_from, valid_to); rules about the school use the version valid on the row's date.
    ``staged`` (with ``present`` columns and ``row_expr``) gives the text of the cells quoted.
    """
    t = f"{quote_ident(typed)} t"
    queries: list[str] = []
    checks: list[_Check] = []
    order = {c.name: i for i, c in enumerate(dataset.columns)}
    for column in dataset.columns:
        given = _given(column)
        val = "t." + quote_ident(column.name)
        if column.required and column.default is None:
            queries.append(
                _select(
                    "t._row", column.name, "", checks, _Check(msg("rule.required")), (), t, f"NOT ({given})"
                )
            )
        if not _is_plain_text(column):
            queries.append(
                _select(
                    "t._row",
                    column.name,
                    column.name,
                    checks,
                    _Check(type_rule(column)),
                    (),
                    t,
                    f"{given} AND {val} IS NULL",
                )
            )
        if column.minimum is not None or column.maximum is not None:
            low = f"{val} < {column.minimum!r}" if column.minimum is not None else "false"
            high = f"{val} > {column.maximum!r}" if column.maximum is not None else "false"
            queries.append(
                _select(
                    "t._row",
                    column.name,
                    column.name,
                    checks,
                    _Check(range_rule(column)),
                    (),
                    t,
                    f"({low} OR {high})",
                )
            )
        if column.name in dataset.text_checked_for_encoding or column.name == "school_id":
            queries.append(
                _select(
                    "t._row",
                    column.name,
                    column.name,
                    checks,
                    _Check(msg("rule.unicode"), "encoding"),
                    (),
                    t,
                    f"regexp_matches({val}, {_lit(NOT_VIETNAMESE_CLASS)})",
                )
            )
    if dataset.references_school and schools is not None:
        queries.append(
            _select(
                "t._row",
                "school_id",
                "school_id",
                checks,
                _Check(msg("rule.school_exists"), "no_school", ("school_id",)),
                ("t.school_id",),
                f"{t} ANTI JOIN {quote_ident(schools)} s ON s.school_id = t.school_id",
                "t.school_id IS NOT NULL",
            )
        )
    for rule in dataset.rules:
        if rule.needs_school:
            if schools is None:
                continue
            day = f"t.{quote_ident(dataset.key[0])}"
            source = (
                f"{t} JOIN {quote_ident(schools)} s ON s.school_id = t.school_id "
                f"AND {day} >= s.valid_from AND {day} < s.valid_to"
            )
        else:
            source = t
        check = _Check(
            msg(f"rule.{rule.id}"),
            rule.id if rule.detail else None,
            tuple(name for name, _ in rule.detail),
        )
        queries.append(
            _select(
                "t._row",
                rule.column,
                rule.column,
                checks,
                check,
                tuple(expr for _, expr in rule.detail),
                source,
                rule.broken,
            )
        )
    # Two rows with one key: an error naming both, unless the rows are identical.
    dups = duplicate_groups(cur, dataset, typed)
    on = " AND ".join(f"d.{quote_ident(k)} = t.{quote_ident(k)}" for k in dataset.key)
    queries.append(
        _select(
            "t._row",
            "+".join(dataset.key),
            ",".join(dataset.key),
            checks,
            _Check(
                msg("rule.unique", key=" + ".join(dataset.key)),
                "same_key",
                ("row",),
                (("key", " and ".join(dataset.key)),),
            ),
            ("d.first_row",),
            f"{t} JOIN {quote_ident(dups)} d ON {on}",
            "t._row <> d.first_row AND d.h_min <> d.h_max",
        )
    )
    union = "\nUNION ALL\n".join(queries)
    cur.execute(f"CREATE OR REPLACE TEMP TABLE {quote_ident(problems)} AS {union}")
    count, rows = cur.execute(
        f"SELECT count(*), count(DISTINCT _row) FROM {quote_ident(problems)}"  # noqa: S608
    ).fetchall()[0]
    listed: list[Problem] = []
    if count:
        order_sql = (
            "CASE column_name "
            + " ".join(f"WHEN {_lit(n)} THEN {i}" for n, i in order.items())
            + " ELSE 999 END"
        )
        found = cur.execute(
            f"SELECT _row, column_name, shown, check_no, detail FROM {quote_ident(problems)} "  # noqa: S608
            f"ORDER BY _row, {order_sql}, rule LIMIT {MAX_LISTED}"
        ).fetchall()
        cells = cell_values(cur, staged, present, row_expr, sorted({int(r[0]) for r in found}))
        for row, column, shown, check_no, detail in found:
            texts = [cells.get(int(row), {}).get(name) for name in shown.split(",") if name]
            value = ", ".join(t or "" for t in texts) if texts else None
            check = checks[int(check_no)]
            listed.append(Problem(int(row), column, value, check.rule, check.explain(detail, value)))
    return Problems(int(count), int(rows), tuple(listed))


CONTROL_RULE = msg("rule.no_controls")


def cell_problems(
    cur: duckdb.DuckDBPyConnection,
    staged: str,
    columns: tuple[str, ...],
    row_expr: str,
    limits: Limits,
) -> Problems:
    """Cells over the length limit or holding control characters, checked on the text as sent.

    Run before typing, so a NUL inside a number is reported as what it is, and a long cell is
    quoted by its beginning and its length, never copied whole into the run log.
    """
    if not columns:
        return Problems(0, 0, ())
    parts = []
    for column in columns:
        cell = quote_ident(column)
        parts.append(
            f"SELECT {row_expr} AS _row, {_lit(column)} AS column_name, length({cell}) AS chars, "  # noqa: S608
            f"CASE WHEN length({cell}) > {int(limits.cell_chars)} THEN left({cell}, {SHOWN_CHARS}) ELSE {cell} END AS head, "
            f"regexp_extract({cell}, {_lit(CONTROL_CLASS + '.*')}) AS controls "
            f"FROM {quote_ident(staged)} WHERE length({cell}) > {int(limits.cell_chars)} "
            f"OR regexp_matches({cell}, {_lit(CONTROL_CLASS)})"
        )
    union = " UNION ALL ".join(parts)
    count, rows = cur.execute(f"SELECT count(*), count(DISTINCT _row) FROM ({union})").fetchall()[0]  # noqa: S608
    if not count:
        return Problems(0, 0, ())
    order = {c: i for i, c in enumerate(columns)}
    found = cur.execute(
        f"SELECT * FROM ({union}) ORDER BY _row, "  # noqa: S608
        + "CASE column_name "
        + " ".join(f"WHEN {_lit(n)} THEN {i}" for n, i in order.items())
        + f" END LIMIT {MAX_LISTED}"
    ).fetchall()
    listed = []
    for row, column, chars, head, controls in found:
        if chars > limits.cell_chars:
            value = head[: SHOWN_CHARS - 1] + "…"  # quoted whole by the message, the size in detail
            listed.append(
                Problem(int(row), column, value, limits.cell_rule, msg("detail.cell_chars", chars=int(chars)))
            )
        else:
            listed.append(
                Problem(
                    int(row),
                    column,
                    head,
                    CONTROL_RULE,
                    msg("detail.controls", controls=controls_in(controls)),
                )
            )
    return Problems(int(count), int(rows), tuple(listed))


def cell_values(
    cur: duckdb.DuckDBPyConnection, staged: str, present: tuple[str, ...], row_expr: str, rows: list[int]
) -> dict[int, dict[str, str | None]]:
    """The trimmed, NFC text of the cells of ``rows`` (at most MAX_LISTED of them)."""
    if not rows or not present:
        return {}
    cols = ", ".join(f"nfc_normalize(trim(CAST({quote_ident(c)} AS VARCHAR)))" for c in present)
    marks = ", ".join("?" for _ in rows)
    result = cur.execute(
        f"SELECT {row_expr} AS _pos, {cols} FROM {quote_ident(staged)} WHERE {row_expr} IN ({marks})",  # noqa: S608
        rows,
    ).fetchall()
    return {int(r[0]): dict(zip(present, r[1:], strict=True)) for r in result}


def duplicate_groups(cur: duckdb.DuckDBPyConnection, dataset: Dataset, typed: str) -> str:
    """Create ``<typed>_dups``: keys that occur more than once, their first row and value hashes."""
    key = ", ".join(quote_ident(k) for k in dataset.key)
    values = ", ".join(quote_ident(c) for c in dataset.column_names)
    not_null = " AND ".join(f"{quote_ident(k)} IS NOT NULL" for k in dataset.key)
    dups = typed + "_dups"
    # A cheap pass first: equal keys have equal hashes, so when no key hash repeats (the usual
    # case) no key repeats, and the exact grouping below has nothing to look at.
    repeated = cur.execute(
        f"SELECT count(*) FROM (SELECT hash({key}) AS k FROM {quote_ident(typed)} WHERE {not_null} "  # noqa: S608
        "GROUP BY k HAVING count(*) > 1)"
    ).fetchall()[0][0]
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote_ident(dups)} AS SELECT {key}, min(_row) AS first_row, "  # noqa: S608
        f"min(h) AS h_min, max(h) AS h_max FROM (SELECT {key}, _row, hash({values}) AS h "
        f"FROM {quote_ident(typed)} WHERE {not_null} AND {'true' if repeated else 'false'}) "
        f"GROUP BY {key} HAVING count(*) > 1"
    )
    return dups


def final_rows(
    cur: duckdb.DuckDBPyConnection, dataset: Dataset, typed: str, final: str, extra: str = ""
) -> int:
    """Create ``final``: the typed rows to load, identical duplicates kept once (the first)."""
    cols = ", ".join(f"t.{quote_ident(c)}" for c in dataset.column_names)
    on = " AND ".join(f"d.{quote_ident(k)} = t.{quote_ident(k)}" for k in dataset.key)
    dups = quote_ident(typed + "_dups")
    if cur.execute(f"SELECT count(*) FROM {dups}").fetchall()[0][0] == 0:  # noqa: S608
        # the common case: no repeated key, so a view over the typed rows (no copy)
        cur.execute(
            f"CREATE OR REPLACE TEMP VIEW {quote_ident(final)} AS SELECT {cols}{extra} FROM {quote_ident(typed)} t"  # noqa: S608
        )
    else:
        cur.execute(
            f"CREATE OR REPLACE TEMP TABLE {quote_ident(final)} AS SELECT {cols}{extra} FROM {quote_ident(typed)} t "  # noqa: S608
            f"ANTI JOIN (SELECT t._row FROM {quote_ident(typed)} t JOIN {dups} d ON {on} WHERE t._row <> d.first_row) x "
            "ON x._row = t._row ORDER BY t._row"
        )
    return int(cur.execute(f"SELECT count(*) FROM {quote_ident(final)}").fetchall()[0][0])  # noqa: S608
