"""Loading: one file (or one batch of JSON records) -> one transaction in the store, or nothing.

The steps for each file: checksum and encoding check -> archive the original -> skip it when the
same bytes were loaded before -> stage the cells in DuckDB -> check every rule of the contract
(:mod:`ingest.validate`) -> in ONE ``store.write`` transaction: replace re-sent rows (recording
each replacement), insert the new rows, update the rollups and write the run log row. A rejected
file writes only its run row and its rejections, in a transaction of their own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from ingest import durable, readers, runs, validate
from ingest.contract import (
    DATASETS,
    FILE_SUFFIXES,
    LOAD_ORDER,
    SCHOOLS,
    Dataset,
    dataset_of,
    date_in_name,
    get_dataset,
)
from ingest.encoding import check_file
from ingest.limits import READABLE, LimitExceeded, Limits, shown, unknown_columns_warning
from ioc import clock, rollups
from ioc.messages import Message, msg
from ioc.store import Store, quote_ident

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rejection:
    """One broken rule; ``rule`` and ``message`` are the English words (the CLI prints them, the
    ``rejections`` table stores them), ``words`` the message's template and parameters, from which
    the data-health page says it in its reader's language."""

    file: str
    row: int | None
    column: str | None
    value: str | None
    rule: str
    message: str
    words: Message | None = None

    @classmethod
    def of(
        cls, file: str, row: int | None, column: str | None, value: str | None, rule: Message, words: Message
    ) -> Rejection:
        return cls(file, row, column, value, str(rule), str(words), words)


@dataclass(frozen=True)
class FileResult:
    file: str
    dataset: str | None
    status: str  # 'loaded' | 'unchanged' | 'rejected' | 'failed'
    rows_loaded: int
    rows_replaced: int
    rows_rejected: int
    rejections: tuple[Rejection, ...]
    warnings: tuple[str, ...]
    run_id: str
    checksum: str | None
    problems: int = 0  # every broken rule counted (rejections lists at most validate.MAX_LISTED)
    archive_path: str | None = None
    versions_added: int = 0  # schools: new versions written (changed or new schools)

    @property
    def ok(self) -> bool:
        return self.status in ("loaded", "unchanged")


class _Rejected(Exception):
    """Internal: the file breaks the contract before any row-level check could run."""

    def __init__(self, rejections: Sequence[tuple[str | None, str | None, Message, Message]]):
        super().__init__(str(rejections[0][3]) if rejections else "rejected")
        self.items = list(rejections)  # (column, value, rule, text)


@dataclass
class _Run:
    """What one run has learned so far (mutable while the run goes on; never returned)."""

    run_id: str
    source: str
    file_name: str
    file_path: str | None
    started_at: dt.datetime
    dataset: Dataset | None = None
    checksum: str | None = None
    archive_path: str | None = None
    warnings: list[str] = field(default_factory=list)  # English, as the run log stores them
    rows_total: int = 0
    # how the run ended for its marker (ingest.runs): 'recorded'; 'disk full' (the files it may
    # have half written go to the next maintenance); 'unrecorded' (not even its failure could be
    # written: the next start records it as interrupted)
    ending: str = "recorded"


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def _today() -> dt.date:
    return clock.today()


def message(
    file: str, row: int | None, column: str | None, value: str | None, rule: Message, detail: Message | None
) -> Message:
    """A rejection as users read it: ``f.csv: row 7, column present: value '120' breaks rule ...``."""
    if row is not None and column is not None:
        where = msg("where.row_column", row=str(row), column=column)  # rows as the sheet counts them
    elif row is not None:
        where = msg("where.row", row=str(row))
    elif column is not None:
        where = msg("where.column", column=column)
    else:
        where = msg("where.file")
    if detail is None:
        return msg("rejection.value", file=file, where=where, value=shown(value or ""), rule=rule)
    return msg(
        "rejection.value_detail", file=file, where=where, value=shown(value or ""), rule=rule, detail=detail
    )


# -- public API ------------------------------------------------------------------------------


class Auditor(Protocol):
    """Writes one ingestion run into an audit log (the product passes ioc.auth.ingestion.record_ingest
    in; ingestion knows nothing of accounts). Called after the run is recorded; a failure is logged."""

    def __call__(
        self,
        data_dir: Path,
        *,
        source: str,
        file: str,
        dataset: str | None,
        status: str,
        rows_loaded: int,
        rows_replaced: int,
        rows_rejected: int,
        run_id: str,
    ) -> None: ...


def ingest_paths(
    store: Store,
    paths: Sequence[Path | str],
    *,
    source: str = "cli",
    effective_date: dt.date | None = None,
    progress: Callable[[str], None] | None = None,
    dataset: str | None = None,
    audit: Auditor | None = None,
    on_result: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Load files and folders; schools files first; each file stands alone in its transaction;
    ``audit`` (optional) writes each run into an audit log; ``progress`` gets each file's line in
    English, ``on_result`` its result."""
    files = collect_files(paths)
    results = []
    for path in files:
        result = ingest_file(
            store, path, source=source, dataset=dataset, effective_date=effective_date, audit=audit
        )
        results.append(result)
        if progress is not None:
            progress(describe(result))
        if on_result is not None:
            on_result(result)
    return results


def collect_files(paths: Sequence[Path | str]) -> list[Path]:
    """The data files under ``paths`` (folders searched recursively), schools files first."""
    found: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in FILE_SUFFIXES and not p.name.startswith((".", "~$"))
            )
        else:
            found.append(path)

    def order(p: Path) -> tuple[int, str]:
        ds = dataset_of(p)
        return (LOAD_ORDER.index(ds.name) if ds else len(LOAD_ORDER), p.name)

    return sorted(dict.fromkeys(found), key=order)


def ingest_file(
    store: Store,
    path: Path | str,
    *,
    source: str = "cli",
    dataset: str | None = None,
    effective_date: dt.date | None = None,
    audit: Auditor | None = None,
) -> FileResult:
    """Load one file whole in one transaction, or reject it whole."""
    path = Path(path)
    run = _Run(new_run_id(), source, path.name, str(path.resolve()), dt.datetime.now(dt.UTC))

    def stage(cur: duckdb.DuckDBPyConnection, ds: Dataset, table: str) -> readers.Staged:
        suffix = path.suffix.lower()
        if suffix == ".csv":
            return readers.stage_csv(cur, path, ds, table)
        if suffix == ".xlsx":
            return readers.stage_xlsx(cur, path, ds, table)
        if suffix == ".parquet":
            return readers.stage_parquet(cur, path, ds, table)
        if suffix == ".json":
            return readers.stage_records(cur, _json_records(path), ds, table)
        raise readers.ReadError(msg("read.file_type", suffix=suffix or "(none)"))

    def prepare() -> None:
        run.dataset = get_dataset(dataset) if dataset else dataset_of(path)
        if not path.is_file():
            raise _Rejected([(None, None, msg("rule.file_exists"), msg("file.missing", path=str(path)))])
        check = check_file(path, require_utf8=path.suffix.lower() in (".csv", ".json"))
        run.checksum = check.checksum
        run.archive_path = str(_archive(store, path, run))
        if run.dataset is None:
            raise _Rejected(
                [
                    (
                        None,
                        None,
                        msg("rule.dataset_from_name"),
                        msg("file.no_dataset", datasets=", ".join(DATASETS)),
                    )
                ]
            )
        if check.utf8_error:
            raise _Rejected([(None, None, msg("rule.utf8"), check.utf8_error)])

    return _run_pipeline(store, run, prepare, stage, effective_date or _date_from_name(path), audit)


def ingest_records(
    store: Store,
    dataset: str,
    records: Sequence[Mapping[str, Any]],
    *,
    source: str,
    name: str,
    effective_date: dt.date | None = None,
    audit: Auditor | None = None,
) -> FileResult:
    """Load JSON records (from an HTTP source) with the same checks as a file."""
    run = _Run(new_run_id(), source, name, None, dt.datetime.now(dt.UTC))
    payload = json.dumps(list(records), ensure_ascii=False, default=str).encode("utf-8")

    def prepare() -> None:
        run.dataset = get_dataset(dataset)
        run.checksum = hashlib.sha256(payload).hexdigest()
        # the batch name comes from a source (often a URL): keep it as one safe file name
        safe = re.sub(r"[^\w.\-]+", "_", name).strip("._") or "records"
        target = _archive_target(store, run, safe if safe.endswith(".json") else safe + ".json")
        run.archive_path = str(durable.write_verified(target, payload))

    def stage(cur: duckdb.DuckDBPyConnection, ds: Dataset, table: str) -> readers.Staged:
        return readers.stage_records(cur, records, ds, table)

    return _run_pipeline(store, run, prepare, stage, effective_date, audit)


def describe(result: FileResult) -> str:
    """One line for a file's outcome, in English (the CLI prints it; outside checkers read it)."""
    return str(describe_words(result))


def describe_words(result: FileResult) -> Message:
    """A file's outcome as a message (data health says it in its reader's language)."""
    file = result.file
    if result.status == "loaded":
        if result.dataset == "schools":
            return msg(
                "result.loaded_schools",
                file=file,
                rows=result.rows_loaded,
                versions=result.versions_added,
                replaced=result.rows_replaced,
            )
        return msg("result.loaded", file=file, rows=result.rows_loaded, replaced=result.rows_replaced)
    if result.status == "unchanged":
        return msg("result.unchanged", file=file)
    if result.status == "rejected":
        if result.rows_rejected:
            return msg("result.rejected_rows", file=file, count=result.problems, rows=result.rows_rejected)
        return msg("result.rejected", file=file)
    first = result.rejections[0] if result.rejections else None
    why = (first.words or first.message) if first is not None else msg("result.unknown_error")
    return msg("result.failed", file=file, text=why)


# -- the pipeline ----------------------------------------------------------------------------


def _date_from_name(path: Path) -> dt.date | None:
    text = date_in_name(path)
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _json_records(path: Path) -> list[Mapping[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        raise readers.ReadError(msg("read.json", error=str(error))) from None
    except RecursionError:
        raise readers.ReadError(msg("read.json_deep")) from None
    if isinstance(data, Mapping):
        data = data.get("records", data.get("data"))
    if not isinstance(data, list):
        raise readers.ReadError(msg("read.json_shape"))
    return data


def _archive_target(store: Store, run: _Run, name: str) -> Path:
    folder = store.layout.archive / (run.dataset.name if run.dataset else "unknown")
    return folder / f"{(run.checksum or 'nochecksum')[:16]}_{name}"


def _archive(store: Store, path: Path, run: _Run) -> Path:
    """The original, kept under its checksum: written to a temporary name, fsynced, verified and
    renamed; an archived copy whose checksum is wrong (cut short by a full disk) is replaced."""
    assert run.checksum is not None
    return durable.copy_verified(path, _archive_target(store, run, path.name), run.checksum)


def _run_pipeline(
    store: Store,
    run: _Run,
    prepare: Callable[[], None],
    stage: Callable[[duckdb.DuckDBPyConnection, Dataset, str], readers.Staged],
    effective_date: dt.date | None,
    audit: Auditor | None = None,
) -> FileResult:
    clock = time.perf_counter()
    marker = runs.begin(
        store, run.run_id, source=run.source, file_name=run.file_name, file_path=run.file_path
    )
    try:
        result = _run_marked(store, run, prepare, stage, effective_date)
        _log_line(store, run, result, time.perf_counter() - clock)
        _audit(audit, store, run.source, run.file_name, result.dataset, result.status, run.run_id, result)
    finally:
        # the run is recorded (or its process is dying: then the next start records it)
        marker.end(run.ending)
    return result


def _run_marked(
    store: Store,
    run: _Run,
    prepare: Callable[[], None],
    stage: Callable[[duckdb.DuckDBPyConnection, Dataset, str], readers.Staged],
    effective_date: dt.date | None,
) -> FileResult:
    cur = store.cursor()
    base = "ingest_" + run.run_id.replace("-", "_")
    tables = [base + suffix for suffix in ("", "_typed", "_typed_dups", "_problems", "_rows", "_schools")]
    try:
        prepare()
        assert run.dataset is not None
        ds = run.dataset
        if _loaded_before(store, run):
            result = _finish(store, run, "unchanged", 0, 0, [], 0, 0, msg("run.unchanged"))
        else:
            staged = stage(cur, ds, base)
            run.rows_total = staged.rows
            result = _validate_and_load(store, cur, run, ds, staged, tables, effective_date or _today())
    except _Rejected as rejected:
        items = [
            Rejection.of(run.file_name, None, column, value, rule, _in_file(run, text, rule))
            for column, value, rule, text in rejected.items
        ]
        result = _finish(
            store,
            run,
            "rejected",
            0,
            0,
            items,
            0,
            len(items),
            _in_file(run, rejected.items[0][3], rejected.items[0][2]) if items else msg("run.rejected"),
        )
    except readers.ReadError as error:
        words = _in_file(run, error.message, READABLE)
        item = Rejection.of(run.file_name, None, None, None, READABLE, words)
        result = _finish(store, run, "rejected", 0, 0, [item], 0, 1, words)
    except LimitExceeded as over:
        words = _in_file(run, over.message, over.rule)
        item = Rejection.of(run.file_name, over.row, over.column, None, over.rule, words)
        result = _finish(store, run, "rejected", 0, 0, [item], 0, 1, words)
    except Exception as error:  # anything unexpected fails this file only, with the reason recorded
        if durable.is_disk_full(error):
            run.ending = "disk full"
            text = error.message if isinstance(error, durable.DiskFull) else _disk_full_text(store)
            log.error("ingesting %s failed: %s", run.file_name, text)  # one line, no traceback
        else:
            log.exception("ingesting %s failed", run.file_name)
            text = msg("run.error", error=str(error))  # the error's own words, in English
        unexpected = msg("rule.unexpected")
        item = Rejection.of(run.file_name, None, None, None, unexpected, _in_file(run, text, unexpected))
        result = _finish_failed(store, run, item, text)
    finally:
        for table in reversed(tables):  # the rows view before the tables under it
            for kind in ("VIEW", "TABLE"):
                try:
                    cur.execute(f"DROP {kind} IF EXISTS {quote_ident(table)}")
                except duckdb.Error:
                    pass
    return result


def _in_file(run: _Run, text: Message, rule: Message) -> Message:
    """A rejection of the whole file; ``rule`` (in no sentence) lets a reader name the rule broken
    in their language, as a row's rejection does (``message_params``' ``rule``)."""
    return msg("rejection.file", file=run.file_name, text=text, rule=rule)


def _disk_full_text(store: Store) -> Message:
    return durable.DiskFull(store.data_path, store_files=True).message


def _finish_failed(store: Store, run: _Run, item: Rejection, text: Message) -> FileResult:
    """Record a failed run; when even that cannot be written (the disk is still full), say so in
    one line and return the result: its marker stays, so the next start records the run as
    interrupted, and the file is still where it was to be tried again."""
    try:
        return _finish(store, run, "failed", 0, 0, [item], 0, 0, text)
    except Exception as error:
        if not durable.is_disk_full(error):
            raise
        log.error("cannot record the failed run of %s: %s", run.file_name, _disk_full_text(store))
        run.ending = "unrecorded"
        return _result(run, "failed", 0, 0, 0, (item,), 0)


def _audit(
    audit: Auditor | None,
    store: Store,
    source: str,
    file: str,
    dataset: str | None,
    status: str,
    run_id: str,
    result: FileResult | None = None,
) -> None:
    """Write the run into the audit log ``audit`` writes (the product's: admins read it with
    sign-ins and exports). The data is committed already: a failure here is logged, not raised."""
    if audit is None:
        return
    try:
        audit(
            store.layout.root,
            source=source,
            file=file,
            dataset=dataset,
            status=status,
            rows_loaded=result.rows_loaded if result else 0,
            rows_replaced=result.rows_replaced if result else 0,
            rows_rejected=result.rows_rejected if result else 0,
            run_id=run_id,
        )
    except Exception as error:
        log.error("could not write ingestion run %s into the audit log: %s", run_id, error)


def recover_interrupted(store: Store, audit: Auditor | None = None) -> list[str]:
    """Record the loads a killed process left unfinished as ``interrupted`` (run log and audit
    log); called when ``ioc ingest`` and ``ioc scheduler`` start. The run ids found."""

    def record(entry: dict[str, Any]) -> bool:
        started = entry.get("started_at")
        run = _Run(
            str(entry["run_id"]),
            str(entry.get("source") or "?"),
            str(entry.get("file_name") or "?"),
            entry.get("file_path"),
            dt.datetime.fromisoformat(started) if started else dt.datetime.now(dt.UTC),
        )
        if store.execute("SELECT count(*) FROM ingest_runs WHERE run_id = ?", [run.run_id]).scalar():
            return False  # it recorded its outcome and died before removing its marker
        # the dataset its name says (None for a name that says none), so data health shows the
        # interrupted load as that dataset's last failure
        run.dataset = dataset_of(run.file_name)
        store.write(lambda c: _insert_run(c, run, "interrupted", 0, 0, 0, runs.INTERRUPTED))
        return True

    def audited(entry: dict[str, Any]) -> None:
        _audit(
            audit,
            store,
            str(entry.get("source") or "?"),
            str(entry.get("file_name") or "?"),
            None,
            "interrupted",
            str(entry["run_id"]),
        )

    return runs.recover(store, record, audited)


def _loaded_before(store: Store, run: _Run) -> bool:
    assert run.dataset is not None
    return bool(
        store.execute(
            "SELECT count(*) FROM ingest_runs WHERE checksum = ? AND dataset = ? AND status = 'loaded'",
            [run.checksum, run.dataset.name],
        ).scalar()
    )


def _validate_and_load(
    store: Store,
    cur: duckdb.DuckDBPyConnection,
    run: _Run,
    ds: Dataset,
    staged: readers.Staged,
    tables: list[str],
    effective_date: dt.date,
) -> FileResult:
    table, typed, _dups, problems_table, final, known = tables
    header = staged.header
    if header.extra:
        run.warnings.append(str(unknown_columns_warning(run.file_name, ds.name, header.extra)))
    file_problems: list[tuple[str | None, str | None, Message, Message]] = []
    for name, positions in header.duplicates:
        file_problems.append(
            (
                name,
                None,
                msg("rule.column_once"),
                msg("file.column_twice", column=name, positions=" and ".join(map(str, positions))),
            )
        )
    missing = [
        c.name for c in ds.columns if c.required and c.default is None and c.name not in header.columns
    ]
    for name in missing:
        file_problems.append(
            (
                name,
                None,
                msg("rule.required_column"),
                msg("file.column_missing", column=name, header=", ".join(h.strip() for h in header.names)),
            )
        )
    if file_problems:
        raise _Rejected(file_problems)

    native = {name for name, _ in staged.native}
    as_text = tuple(c for c in header.columns if c not in native)
    cells = validate.cell_problems(cur, table, as_text, staged.row_expr, Limits.current())
    if cells.count:
        return _reject_problems(store, run, cells)
    validate.type_rows(cur, ds, table, header.columns, typed, staged.row_expr, staged.native)
    schools_table: str | None = None
    if ds.references_school:
        # every version of every school with the dates it is valid for: a row is checked against
        # the school as it was on the row's date (the first version also covers earlier dates)
        cur.execute(
            f"CREATE OR REPLACE TEMP TABLE {quote_ident(known)} AS SELECT school_id, students, teachers, classrooms, "  # noqa: S608
            "CASE WHEN row_number() OVER w = 1 THEN DATE '0001-01-01' ELSE valid_from END AS valid_from, "
            "coalesce(lead(valid_from) OVER w, DATE '9999-12-31') AS valid_to "
            "FROM lake.schools WINDOW w AS (PARTITION BY school_id ORDER BY valid_from)"
        )
        schools_table = known
    found = validate.find_problems(
        cur, ds, typed, problems_table, schools_table, table, header.columns, staged.row_expr
    )
    if found.count:
        return _reject_problems(store, run, found)
    cur.execute(f"DROP TABLE IF EXISTS {quote_ident(table)}")  # the text cells are no longer needed

    extra = f", DATE '{effective_date.isoformat()}' AS valid_from" if ds.history else ""
    rows = validate.final_rows(cur, ds, typed, final, extra)
    repeated = run.rows_total - rows
    if repeated:
        run.warnings.append(str(msg("warning.repeated_rows", file=run.file_name, count=repeated)))

    if ds.history:
        apply = _schools_writer(run, final, effective_date)
    else:
        apply = _keyed_writer(cur, run, ds, final)

    def transaction(c: duckdb.DuckDBPyConnection) -> tuple[int, int]:
        replaced, written = apply(c)
        rollups.after_load(c, ds.name, final)
        _insert_run(c, run, "loaded", rows, replaced, 0, msg("run.loaded", rows=rows, replaced=replaced))
        return replaced, written

    replaced, written = store.write(transaction)
    return _result(run, "loaded", rows, replaced, 0, (), 0, versions=written if ds.history else 0)


def _reject_problems(store: Store, run: _Run, found: validate.Problems) -> FileResult:
    items = [
        Rejection.of(
            run.file_name,
            p.row,
            p.column,
            p.value,
            p.rule,
            message(run.file_name, p.row, p.column, p.value, p.rule, p.detail),
        )
        for p in found.listed
    ]
    if found.count > len(items):
        summary = msg("run.problems_listed", count=found.count, rows=found.rows, listed=len(items))
    else:
        summary = msg("run.problems", count=found.count, rows=found.rows)
    return _finish(store, run, "rejected", 0, 0, items, found.count, found.rows, summary)


def _key_text(alias: str, ds: Dataset) -> str:
    return "concat_ws('|', " + ", ".join(f"CAST({alias}.{quote_ident(k)} AS VARCHAR)" for k in ds.key) + ")"


def _same_values(ds: Dataset, a: str, b: str, columns: Sequence[str]) -> str:
    return (
        " AND ".join(f"{a}.{quote_ident(c)} IS NOT DISTINCT FROM {b}.{quote_ident(c)}" for c in columns)
        or "true"
    )


def _keyed_writer(
    cur: duckdb.DuckDBPyConnection, run: _Run, ds: Dataset, final: str
) -> Callable[[duckdb.DuckDBPyConnection], tuple[int, int]]:
    """Replace re-sent rows and insert new ones, looking only at the file's key range."""
    first = quote_ident(ds.key[0])
    lo, hi = cur.execute(f"SELECT min({first}), max({first}) FROM {quote_ident(final)}").fetchall()[0]  # noqa: S608
    target = f"lake.{quote_ident(ds.table)}"
    on = " AND ".join(f"e.{quote_ident(k)} = s.{quote_ident(k)}" for k in ds.key)
    in_range = f"e.{first} BETWEEN ? AND ?"
    differs = f"NOT ({_same_values(ds, 'e', 's', ds.value_columns)})"
    cols = ", ".join(quote_ident(c) for c in ds.column_names)

    def apply(c: duckdb.DuckDBPyConnection) -> tuple[int, int]:
        if lo is None:
            return 0, 0
        replaced = c.execute(
            f"INSERT INTO lake.replacements SELECT ?, ?, {_key_text('s', ds)}, e.run_id "  # noqa: S608
            f"FROM {target} e JOIN {quote_ident(final)} s ON {on} WHERE {in_range} AND {differs}",
            [run.run_id, ds.name, lo, hi],
        ).fetchall()[0][0]
        if replaced:
            c.execute(
                f"DELETE FROM {target} e USING {quote_ident(final)} s WHERE {on} AND {in_range} AND {differs}",  # noqa: S608
                [lo, hi],
            )
        # rows already stored with the very same values are left alone
        written = c.execute(
            f"INSERT INTO {target} ({cols}, run_id) SELECT {', '.join('s.' + quote_ident(x) for x in ds.column_names)}, ? "  # noqa: S608
            f"FROM {quote_ident(final)} s WHERE NOT EXISTS (SELECT 1 FROM {target} e WHERE {on} AND {in_range})",
            [run.run_id, lo, hi],
        ).fetchall()[0][0]
        return int(replaced), int(written)

    return apply


def _schools_writer(
    run: _Run, final: str, effective_date: dt.date
) -> Callable[[duckdb.DuckDBPyConnection], tuple[int, int]]:
    """Schools keep history: a changed school gets a new version valid from ``effective_date``."""
    ds = SCHOOLS
    value_cols = [c for c in ds.column_names if c != "school_id"]
    same = _same_values(ds, "v", "s", value_cols)
    day = f"DATE '{effective_date.isoformat()}'"
    current = (
        "(SELECT * FROM lake.schools WHERE valid_from <= " + day + " "  # noqa: S608
        "QUALIFY row_number() OVER (PARTITION BY school_id ORDER BY valid_from DESC) = 1)"
    )
    changed = (
        f"SELECT s.* FROM {quote_ident(final)} s WHERE NOT EXISTS "  # noqa: S608
        f"(SELECT 1 FROM {current} v WHERE v.school_id = s.school_id AND {same})"
    )
    cols = ", ".join(quote_ident(c) for c in (*ds.column_names, "valid_from"))

    def apply(c: duckdb.DuckDBPyConnection) -> tuple[int, int]:
        c.execute(f"CREATE OR REPLACE TEMP TABLE {quote_ident(final + '_changed')} AS {changed}")
        try:
            replaced = c.execute(
                "INSERT INTO lake.replacements SELECT ?, 'schools', e.school_id || '|' || CAST(e.valid_from AS VARCHAR), e.run_id "  # noqa: S608
                f"FROM lake.schools e JOIN {quote_ident(final + '_changed')} s USING (school_id) WHERE e.valid_from = {day}",
                [run.run_id],
            ).fetchall()[0][0]
            if replaced:
                c.execute(
                    f"DELETE FROM lake.schools e USING {quote_ident(final + '_changed')} s "  # noqa: S608
                    f"WHERE e.school_id = s.school_id AND e.valid_from = {day}"
                )
            written = c.execute(
                f"INSERT INTO lake.schools ({cols}, run_id) SELECT {cols}, ? FROM {quote_ident(final + '_changed')}",  # noqa: S608
                [run.run_id],
            ).fetchall()[0][0]
        finally:
            c.execute(f"DROP TABLE IF EXISTS {quote_ident(final + '_changed')}")
        return int(replaced), int(written)

    return apply


# -- run log ---------------------------------------------------------------------------------


def _insert_run(
    c: duckdb.DuckDBPyConnection,
    run: _Run,
    status: str,
    loaded: int,
    replaced: int,
    rejected: int,
    text: Message,
) -> None:
    c.execute(
        "INSERT INTO lake.ingest_runs (run_id, source, dataset, file_name, file_path, archive_path, checksum, "
        "started_at, finished_at, rows_total, rows_loaded, rows_rejected, rows_replaced, status, message, warnings, "
        "message_id, message_params) VALUES (?, ?, ?, ?, ?, ?, ?, ?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run.run_id,
            run.source,
            run.dataset.name if run.dataset else None,
            run.file_name,
            run.file_path,
            run.archive_path,
            run.checksum,
            run.started_at,
            run.rows_total,
            loaded,
            rejected,
            replaced,
            status,
            str(text),
            list(run.warnings),
            text.id,
            text.dumps(),
        ],
    )


def _finish(
    store: Store,
    run: _Run,
    status: str,
    loaded: int,
    replaced: int,
    items: Sequence[Rejection],
    problems: int,
    rejected_rows: int,
    text: Message,
) -> FileResult:
    """Record a run that wrote no data (unchanged, rejected, failed) in a transaction of its own."""
    batch = pa.table(
        {
            "run_id": pa.array([run.run_id] * len(items), pa.string()),
            "file_name": pa.array([r.file for r in items], pa.string()),
            "row_number": pa.array([r.row for r in items], pa.int64()),
            "column_name": pa.array([r.column for r in items], pa.string()),
            "value": pa.array([r.value for r in items], pa.string()),
            "rule": pa.array([r.rule for r in items], pa.string()),
            "message": pa.array([r.message for r in items], pa.string()),
            "message_id": pa.array([r.words.id if r.words else None for r in items], pa.string()),
            "message_params": pa.array([r.words.dumps() if r.words else None for r in items], pa.string()),
        }
    )
    cur = store.cursor()
    view = "_ingest_rejections_" + run.run_id.replace("-", "_")
    cur.register(view, batch)
    try:

        def record(c: duckdb.DuckDBPyConnection) -> None:
            _insert_run(c, run, status, loaded, replaced, rejected_rows, text)
            if items:
                c.execute(f"INSERT INTO lake.rejections BY NAME SELECT * FROM {quote_ident(view)}")  # noqa: S608

        store.write(record)
    finally:
        cur.unregister(view)
    return _result(run, status, loaded, replaced, rejected_rows, tuple(items), problems)


def _result(
    run: _Run,
    status: str,
    loaded: int,
    replaced: int,
    rejected_rows: int,
    items: tuple[Rejection, ...],
    problems: int,
    versions: int = 0,
) -> FileResult:
    return FileResult(
        file=run.file_name,
        dataset=run.dataset.name if run.dataset else None,
        status=status,
        rows_loaded=loaded,
        rows_replaced=replaced,
        rows_rejected=rejected_rows,
        rejections=items,
        warnings=tuple(run.warnings),
        run_id=run.run_id,
        checksum=run.checksum,
        problems=problems or len(items),
        archive_path=run.archive_path,
        versions_added=versions,
    )


def _log_line(store: Store, run: _Run, result: FileResult, seconds: float) -> None:
    """Append the run to logs/ingest.log (one JSON object per line) for operators and audits."""
    entry = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "run_id": run.run_id,
        "source": run.source,
        "dataset": result.dataset,
        "file": run.file_name,
        "path": run.file_path,
        "status": result.status,
        "rows_total": run.rows_total,
        "rows_loaded": result.rows_loaded,
        "rows_replaced": result.rows_replaced,
        "rows_rejected": result.rows_rejected,
        "problems": result.problems,
        "checksum": result.checksum,
        "archive": result.archive_path,
        "warnings": list(result.warnings),
        "first_rejections": [r.message for r in result.rejections[:20]],
        "seconds": round(seconds, 3),
    }
    try:
        store.layout.logs.mkdir(parents=True, exist_ok=True)
        with (store.layout.logs / "ingest.log").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
    except OSError as error:
        log.warning("cannot append to %s: %s", store.layout.logs / "ingest.log", error)
