"""``ioc backup DEST`` and ``ioc restore SRC``: a consistent copy of an embedded store, and back.

A backup is a data directory of its own plus a manifest (``ioc-backup.json``):

- ``lake/catalog.sqlite``: the catalog as of one moment, copied with SQLite's online backup in one
  read transaction (the scheduler keeps committing meanwhile; WAL readers never block it);
- ``lake/files/...``: every data and delete file that catalog names, for every snapshot it still
  holds (so time travel to the backed-up snapshots works), copied from the live data path;
- ``auth/``: the accounts database (the same online backup) and the secret key;
- ``archive/``: the originals of the loaded files; the root's configuration (``scheduler.toml``,
  screens) and the scheduler's state file.

Files the live catalog adds after the catalog copy are not named by it, so they are not needed;
a file it names is never changed (DuckLake writes each file once). Only maintenance deletes files:
when one named by the copy is gone before it was copied, the backup starts over (3 times at most).

The manifest lists every file with its size and SHA-256; ``ioc restore`` checks each while copying
it back, re-points the catalog at the data path it restores to, and opens the restored store to
check its data version. The catalog is read and written with Python's ``sqlite3`` here because
these commands never attach the live lake with DuckDB in the same process (see docs/store.md:
two SQLite libraries on one file in one process break each other's locks).

With a PostgreSQL catalog the equivalent is ``pg_dump`` plus the data files (docs/operations.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ioc import settings
from ioc.leader import LOCK_NAME, lock_holder
from ioc.store import Layout, Location, Store, StoreError

MANIFEST = "ioc-backup.json"
FORMAT = 1
ATTEMPTS = 3
_CHUNK = 1 << 20
# in the data directory's root: neither state worth keeping nor a file of the store
_NOT_COPIED = {LOCK_NAME, MANIFEST}


def add_backup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dest", metavar="DEST", help="a new or empty folder for the backup")


def add_restore_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", metavar="SRC", help="a folder made by `ioc backup`")
    parser.add_argument(
        "--force",
        action="store_true",
        help="restore over a data directory that already holds a store (what was there is moved "
        "aside to DATA_DIR/replaced-TIME/, not deleted)",
    )


@dataclass(frozen=True)
class Copied:
    path: str  # relative to the backup folder, with '/'
    size: int
    sha256: str


@dataclass(frozen=True)
class BackupReport:
    dest: Path
    data_version: int
    snapshots: int
    files: list[Copied]
    attempts: int
    seconds: float

    def size(self, prefix: str = "") -> int:
        return sum(f.size for f in self.files if f.path.startswith(prefix))

    def count(self, prefix: str) -> int:
        return sum(1 for f in self.files if f.path.startswith(prefix))


# -- copying -----------------------------------------------------------------------------------------
def _copy_file(source: Path, target: Path) -> Copied:
    """Copy ``source`` to ``target`` (fsynced), hashing it on the way."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as reader, target.open("xb") as writer:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            writer.write(chunk)
            size += len(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    shutil.copystat(source, target)
    return Copied("", size, digest.hexdigest())


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (online backup, one read transaction)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30) as live:
        with sqlite3.connect(target) as copy:
            live.backup(copy)  # pages=-1: every page in one step, so one snapshot of the database
        copy.close()
    live.close()
    with target.open("rb") as handle:
        os.fsync(handle.fileno())


def _hashed(path: Path) -> Copied:
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
    return Copied("", path.stat().st_size, digest.hexdigest())


def _files_under(folder: Path) -> Iterator[Path]:
    """Regular files under ``folder``, skipping hidden ones (partial writes, locks)."""
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts):
            yield path


# -- what a catalog holds --------------------------------------------------------------------------
_NAMED_FILES = """
WITH s AS (SELECT DISTINCT schema_id, path, path_is_relative FROM ducklake_schema),
     t AS (SELECT DISTINCT table_id, schema_id, path, path_is_relative FROM ducklake_table),
     f AS (SELECT table_id, path, path_is_relative FROM ducklake_data_file
           UNION ALL SELECT table_id, path, path_is_relative FROM ducklake_delete_file)
SELECT DISTINCT
  CASE WHEN f.path_is_relative THEN
    CASE WHEN t.path_is_relative THEN
      CASE WHEN s.path_is_relative THEN 'rel:' ELSE 'abs:' END || s.path || t.path
    ELSE 'abs:' || t.path END
  ELSE 'abs:' END || f.path
FROM f JOIN t ON t.table_id = f.table_id JOIN s ON s.schema_id = t.schema_id
"""


@dataclass(frozen=True)
class CatalogFacts:
    data_path: str
    data_version: int
    snapshots: int
    files: list[str]  # relative to the data path


def catalog_facts(catalog: Path) -> CatalogFacts:
    """The data path, newest snapshot, snapshot count and named files of an embedded catalog
    (a private copy: see the module's docstring)."""
    with sqlite3.connect(f"file:{catalog}?mode=ro", uri=True) as con:
        row = con.execute("SELECT value FROM ducklake_metadata WHERE key = 'data_path'").fetchone()
        data_path = str(row[0]) if row else ""
        version, count = con.execute("SELECT max(snapshot_id), count(*) FROM ducklake_snapshot").fetchone()
        named = [str(r[0]) for r in con.execute(_NAMED_FILES).fetchall()]
    con.close()
    outside = [n[4:] for n in named if n.startswith("abs:")]
    if outside:
        raise StoreError(
            f"the catalog {catalog} names {len(outside)} data files outside its data path "
            f"(e.g. {outside[0]}): such a lake cannot be backed up as a data directory"
        )
    return CatalogFacts(data_path, int(version or 0), int(count), sorted(n[4:] for n in named))


def repoint_sqlite(catalog: Path, data_path: str) -> str:
    """Record ``data_path`` as the data path of the embedded catalog; returns the previous one."""
    with sqlite3.connect(catalog, timeout=30) as con:
        row = con.execute("SELECT value FROM ducklake_metadata WHERE key = 'data_path'").fetchone()
        con.execute(
            "UPDATE ducklake_metadata SET value = ? WHERE key = 'data_path' AND scope IS NULL", (data_path,)
        )
    con.close()
    return str(row[0]) if row else ""


def pg_named_files(conn: Any) -> list[str]:
    """The data files a PostgreSQL catalog names (``conn``: psycopg, to the catalog database)."""
    named = [str(r[0]) for r in conn.execute(_NAMED_FILES).fetchall()]
    return sorted(n[4:] for n in named if n.startswith("rel:"))


def pg_repoint(conn: Any, data_path: str) -> str:
    """Record ``data_path`` in a PostgreSQL catalog; returns the previous one."""
    row = conn.execute("SELECT value FROM ducklake_metadata WHERE key = 'data_path'").fetchone()
    conn.execute(
        "UPDATE ducklake_metadata SET value = %s WHERE key = 'data_path' AND scope IS NULL", (data_path,)
    )
    return str(row[0]) if row else ""


# -- ioc backup --------------------------------------------------------------------------------------
def backup(data_dir: Path, dest: Path) -> BackupReport:
    """Copy the store of ``data_dir`` (embedded catalog) to ``dest``, consistently, while loads go on."""
    started = time.perf_counter()
    layout = Layout(data_dir)
    location = Location.from_settings(layout)
    if location.is_postgres:
        raise StoreError(
            "IOC_CATALOG_URL: the catalog is on PostgreSQL: back it up with pg_dump plus the data "
            "files (docs/operations.md, 'Backup and restore')"
        )
    if location.is_s3:
        raise StoreError(
            f"IOC_DATA_PATH: the data files are on {location.data_path}: `ioc backup` copies a "
            "data folder; back the bucket up with the object store's own tools"
        )
    if not layout.catalog.exists():
        raise StoreError(f"IOC_DATA_DIR: no store in {data_dir} (no {layout.catalog})")
    dest = dest.resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise StoreError(f"DEST: {dest} exists and is not an empty folder: give a new or empty one")
    if dest == data_dir.resolve() or data_dir.resolve() in dest.parents:
        raise StoreError(f"DEST: {dest} is inside the data directory {data_dir}: give a folder outside it")
    source_files = Path(location.data_path)
    for attempt in range(1, ATTEMPTS + 1):
        dest.mkdir(parents=True, exist_ok=True)
        try:
            copied, facts = _copy_store(layout, source_files, dest)
        except _FileGone as gone:
            shutil.rmtree(dest)
            if attempt == ATTEMPTS:
                raise StoreError(
                    f"the backup failed {ATTEMPTS} times: a file the catalog named was deleted before it "
                    f"was copied ({gone}); is maintenance running? try again after it"
                ) from None
            continue
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)  # a half backup is no backup
            raise
        manifest = {
            "format": FORMAT,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": str(data_dir.resolve()),
            "catalog": "sqlite",
            "data_version": facts.data_version,
            "snapshots": facts.snapshots,
            "files": [{"path": c.path, "size": c.size, "sha256": c.sha256} for c in copied],
        }
        # written last: a backup without its manifest is incomplete, and restore refuses it
        partial = dest / (MANIFEST + ".partial")
        partial.write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        partial.replace(dest / MANIFEST)
        return BackupReport(
            dest, facts.data_version, facts.snapshots, copied, attempt, time.perf_counter() - started
        )
    raise AssertionError("unreachable")


class _FileGone(Exception):
    pass


def _copy_store(layout: Layout, source_files: Path, dest: Path) -> tuple[list[Copied], CatalogFacts]:
    target = Layout(dest)
    copied: list[Copied] = []

    def note(item: Copied, path: Path) -> None:
        copied.append(Copied(path.relative_to(dest).as_posix(), item.size, item.sha256))

    # the catalog first: it decides which data files belong to the backup
    _sqlite_copy(layout.catalog, target.catalog)
    note(_hashed(target.catalog), target.catalog)
    facts = catalog_facts(target.catalog)
    for name in facts.files:
        source = source_files / name
        try:
            item = _copy_file(source, target.files / name)
        except FileNotFoundError:
            raise _FileGone(str(source)) from None
        note(item, target.files / name)
    auth = layout.root / "auth"
    for path in _files_under(auth):
        if path.name.endswith(("-wal", "-shm", "-journal")):
            continue
        there = dest / path.relative_to(layout.root)
        if path.suffix == ".sqlite":
            _sqlite_copy(path, there)
            note(_hashed(there), there)
        else:
            note(_copy_file(path, there), there)
    for path in _files_under(layout.archive):
        there = dest / path.relative_to(layout.root)
        note(_copy_file(path, there), there)
    for path in sorted(layout.root.iterdir()):
        if path.is_file() and path.name not in _NOT_COPIED and not path.name.startswith("."):
            note(_copy_file(path, dest / path.name), dest / path.name)
    return copied, facts


# -- ioc restore -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RestoreReport:
    data_dir: Path
    data_path: str
    data_version: int
    snapshots: int
    files: int
    size: int
    moved_aside: Path | None
    created: str
    seconds: float


def _manifest(src: Path) -> dict[str, Any]:
    path = src / MANIFEST
    if not path.exists():
        raise StoreError(
            f"SRC: {src} holds no {MANIFEST}: not a backup made by `ioc backup`, or an incomplete one"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise StoreError(f"SRC: {path} cannot be read: {error}") from None
    if manifest.get("format") != FORMAT:
        raise StoreError(
            f"SRC: {path} is a backup of format {manifest.get('format')!r}; this program reads {FORMAT}"
        )
    return dict(manifest)


def _occupied(data_dir: Path, data_path: Path) -> list[str]:
    layout = Layout(data_dir)
    found = [str(p) for p in (layout.catalog, data_dir / "auth" / "auth.sqlite") if p.exists()]
    if data_path.is_dir() and any(data_path.iterdir()):
        found.append(f"{data_path}/ (not empty)")
    return found


def restore(src: Path, data_dir: Path, *, force: bool = False) -> RestoreReport:
    """Put the backup in ``src`` back as the store of ``data_dir`` (wherever that is)."""
    started = time.perf_counter()
    src = src.resolve()
    manifest = _manifest(src)
    layout = Layout(data_dir)
    location = Location.from_settings(layout)
    if location.is_postgres:
        raise StoreError(
            "IOC_CATALOG_URL: this backup holds an embedded catalog; restore it with IOC_CATALOG_URL "
            "empty, then move it onto PostgreSQL with `ioc store migrate`"
        )
    if location.is_s3:
        raise StoreError("IOC_DATA_PATH: restore to a folder; copy the files to the bucket afterwards")
    holder = lock_holder(data_dir)
    if holder is not None:
        raise StoreError(
            f"a scheduler (pid {holder}) is running for {data_dir}: stop it (and `ioc serve`) first"
        )
    data_path = Path(location.data_path)
    moved_aside: Path | None = None
    occupied = _occupied(data_dir, data_path)
    if occupied:
        if not force:
            raise StoreError(
                f"{data_dir} already holds a store ({', '.join(occupied)}): restore into an empty "
                "data directory, or add --force to move what is there aside first"
            )
        moved_aside = _move_aside(data_dir, data_path)
    staging = data_dir / f".restoring-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    files = manifest["files"]
    try:
        for entry in files:
            name = str(entry["path"])
            if name.startswith("/") or ".." in Path(name).parts:
                raise StoreError(f"SRC: {MANIFEST} names {name!r}, outside the backup")
            try:
                got = _copy_file(src / name, staging / name)
            except FileNotFoundError:
                raise StoreError(f"SRC: {src / name} is missing (the manifest names it)") from None
            if (got.size, got.sha256) != (entry["size"], entry["sha256"]):
                raise StoreError(
                    f"SRC: {src / name} is damaged: {got.size} bytes, SHA-256 {got.sha256[:12]}…; the "
                    f"manifest says {entry['size']} bytes, {str(entry['sha256'])[:12]}…"
                )
        _put_in_place(staging, data_dir, data_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    repoint_sqlite(layout.catalog, location.data_path)
    store = Store(data_dir, read_only=True)
    try:
        version = store.data_version()
    finally:
        store.close()
    if version != manifest["data_version"]:
        raise StoreError(
            f"the restored store opens at data version {version}, the backup was taken at "
            f"{manifest['data_version']}"
        )
    return RestoreReport(
        data_dir,
        location.data_path,
        version,
        int(manifest.get("snapshots", 0)),
        len(files),
        sum(int(f["size"]) for f in files),
        moved_aside,
        str(manifest.get("created", "")),
        time.perf_counter() - started,
    )


def _move_aside(data_dir: Path, data_path: Path) -> Path:
    """What a forced restore replaces goes to DATA_DIR/replaced-TIME/ (nothing is deleted)."""
    aside = data_dir / ("replaced-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
    aside.mkdir()
    for name in ("lake", "auth", "archive"):
        if (data_dir / name).exists():
            (data_dir / name).rename(aside / name)
    if data_path.exists() and data_path != Layout(data_dir).files:
        data_path.rename(aside / "data-path")
    return aside


def _put_in_place(staging: Path, data_dir: Path, data_path: Path) -> None:
    layout = Layout(data_dir)
    files = staging / "lake" / "files"
    if files.exists():
        data_path.parent.mkdir(parents=True, exist_ok=True)
        if data_path.exists():
            data_path.rmdir()  # empty: checked before (an empty folder the store made)
        shutil.move(str(files), str(data_path))
    layout.catalog.parent.mkdir(parents=True, exist_ok=True)
    (staging / "lake" / "catalog.sqlite").replace(layout.catalog)
    for path in sorted(staging.iterdir()):
        if path.name == "lake":
            continue
        there = data_dir / path.name
        if path.is_dir():
            there.mkdir(exist_ok=True)
            for item in sorted(path.rglob("*")):
                if item.is_file():
                    (there / item.relative_to(path)).parent.mkdir(parents=True, exist_ok=True)
                    item.replace(there / item.relative_to(path))
        else:
            path.replace(there)


# -- the commands ------------------------------------------------------------------------------------
def _megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def run_backup(args: argparse.Namespace) -> int:
    data_dir = settings.data_dir(args.data_dir)
    report = backup(data_dir, Path(args.dest))
    print(
        f"backed up {data_dir} at data version {report.data_version} ({report.snapshots} snapshots, "
        f"time travel included) to {report.dest} in {report.seconds:.1f} s"
        + (
            f" (attempt {report.attempts}: maintenance deleted files meanwhile)"
            if report.attempts > 1
            else ""
        )
    )
    print(f"  catalog        {_megabytes(report.size('lake/catalog.sqlite'))}")
    print(f"  data files     {report.count('lake/files/'):>6}  {_megabytes(report.size('lake/files/'))}")
    print(f"  accounts       {report.count('auth/'):>6}  {_megabytes(report.size('auth/'))}")
    print(f"  archive        {report.count('archive/'):>6}  {_megabytes(report.size('archive/'))}")
    print(f"  total          {len(report.files):>6}  {_megabytes(report.size())}  (manifest: {MANIFEST})")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    data_dir = settings.data_dir(args.data_dir)
    report = restore(Path(args.src), data_dir, force=args.force)
    if report.moved_aside is not None:
        print(f"moved the store that was in {data_dir} aside to {report.moved_aside}")
    print(
        f"restored the backup of {report.created} ({report.files} files, {_megabytes(report.size)}) into "
        f"{data_dir}; data files in {report.data_path}; it opens at data version {report.data_version} "
        f"({report.snapshots} snapshots) in {report.seconds:.1f} s"
    )
    print("Start `ioc scheduler` and `ioc serve` on it when ready.")
    return 0


__all__ = ["backup", "restore", "catalog_facts", "repoint_sqlite", "BackupReport", "RestoreReport"]
