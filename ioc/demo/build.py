"""Build the demo: generate the city's files, then load them through the ingestion path.

The files are written under ``<data dir>/demo_source`` and loaded with
:func:`ingest.load.ingest_paths`, exactly as an operator would load files received from schools.
Generating is deterministic for a seed and a ``today``; running the demo again on the same store
rewrites the same files, which ingestion recognises (same checksum) and leaves alone, and rows
for days already loaded replace themselves by key, so nothing is ever duplicated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ioc import clock, settings
from ioc.auth.ingestion import record_ingest
from ioc.demo import attendance, calendar, connectivity, digital
from ioc.demo import schools as city_schools
from ioc.demo.files import clear, write_csv, write_parquet, write_xlsx
from ioc.demo.random import stream

SOURCE_FOLDER = "demo_source"
DATASETS = ("schools", "attendance", "digital", "connectivity")
EARLIEST_TODAY = date(2025, 7, 1)


class DemoError(ValueError):
    """The demo cannot be built as asked (a bad size or date)."""


@dataclass(frozen=True)
class DemoSummary:
    """What a demo build wrote and loaded."""

    data_dir: Path
    source_dir: Path
    today: date
    seed: int
    schools: int
    school_versions: tuple[date, ...]
    attendance_days: tuple[date, ...]
    digital_months: tuple[date, ...]
    probe_days: tuple[date, ...]
    rows_written: dict[str, int]
    files: tuple[Path, ...]
    results: tuple[Any, ...]  # ingest.load.FileResult per file
    steps: tuple[tuple[str, float], ...] = field(default=())

    @property
    def rows_loaded(self) -> int:
        return sum(r.rows_loaded for r in self.results)

    @property
    def rows_rejected(self) -> int:
        return sum(r.rows_rejected for r in self.results)

    @property
    def rejections(self) -> tuple[Any, ...]:
        return tuple(x for r in self.results for x in r.rejections)

    @property
    def failed(self) -> tuple[Any, ...]:
        """Results of files that were not loaded (rejected or failed)."""
        return tuple(r for r in self.results if r.status not in ("loaded", "unchanged"))

    @property
    def seconds(self) -> float:
        return sum(s for _, s in self.steps)


class _Progress:
    """One line per step: what was done, how much, and how long it took."""

    def __init__(self, report: Callable[[str], None] | None) -> None:
        self.report = report
        self.steps: list[tuple[str, float]] = []
        self.started = time.perf_counter()

    def done(self, step: str, detail: str) -> None:
        now = time.perf_counter()
        self.steps.append((step, now - self.started))
        if self.report:
            self.report(f"{step:<13} {detail} ({now - self.started:.1f}s)")
        self.started = now


def local_now() -> datetime:
    return clock.now().astimezone(connectivity.LOCAL)


def attendance_window(today: date, days: int | None) -> list[date]:
    """The school days to generate: a full year ending today, or the last ``days`` school days."""
    if days is None:
        return calendar.school_days(today - timedelta(days=364), today)
    if days < 0:
        raise DemoError("--attendance-days must be >= 0")
    return calendar.last_school_days(today, days) if days else []


def probe_window(today: date, days: int, now: datetime) -> list[tuple[date, int]]:
    """(local date, last 5-minute slot) of each probe day.

    When ``today`` is the day of ``now`` its probes stop at ``now``; for any other ``today`` the
    demo is built as at the end of that day, so every day is complete.
    """
    if days < 0:
        raise DemoError("--probe-days must be >= 0")
    out = []
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        last = connectivity.SLOTS - 1
        if day == now.date() == today:
            last = (now.hour * 60 + now.minute) // 5
        out.append((day, last))
    return out


@dataclass(frozen=True)
class DemoFiles:
    """The files a demo wrote, and what they cover."""

    source_dir: Path
    today: date
    seed: int
    schools: int
    school_versions: tuple[date, ...]
    attendance_days: tuple[date, ...]
    digital_months: tuple[date, ...]
    probe_days: tuple[date, ...]
    schools_files: tuple[Path, ...]
    other_files: tuple[Path, ...]  # attendance and digital
    probe_files: tuple[Path, ...]
    rows_written: dict[str, int]

    @property
    def all(self) -> tuple[Path, ...]:
        return self.schools_files + self.other_files + self.probe_files


def check_arguments(schools: int, today: date) -> None:
    if today < EARLIEST_TODAY:
        raise DemoError(
            f"the demo shows the city since the 2025-07-01 reorganisation: today must be >= {EARLIEST_TODAY}"
        )
    if not calendar.supported(today - timedelta(days=400)) or not calendar.supported(today):
        raise DemoError(
            f"the demo calendar covers {min(calendar.TET)}–{max(calendar.TET)}; {today} is outside it"
        )
    if schools < 1:
        raise DemoError("--schools must be >= 1")


def write_files(
    source: Path,
    *,
    schools: int = 3500,
    attendance_days: int | None = None,
    probe_days: int = 14,
    seed: int = 2026,
    today: date | None = None,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    step: _Progress | None = None,
) -> DemoFiles:
    """Generate the demo's files into ``source`` (replacing a previous demo's files there)."""
    now = (now or local_now()).astimezone(connectivity.LOCAL)
    today = today or now.date()
    check_arguments(schools, today)
    step = step or _Progress(progress)
    source.mkdir(parents=True, exist_ok=True)
    clear(source, DATASETS)

    days = attendance_window(today, attendance_days)
    probes = probe_window(today, probe_days, now)
    months = digital.months(today, min([today, *(days[:1]), *(d for d, _ in probes[:1])]))
    first_day = min([months[0], *(days[:1]), *(d for d, _ in probes[:1])])
    city = city_schools.generate(schools, seed, first_day, today)
    schools_files = _write_schools(city, source, seed)
    rows: dict[str, int] = {"schools": sum(len(v.table) for v in city.versions)}
    step.done(
        "schools",
        f"{schools:,} schools in {city.schools['ward_code'].nunique()} wards, "
        f"{len(city.versions)} versions ({', '.join(str(v.effective) for v in city.versions)})",
    )

    attendance_files, rows["attendance"] = _write_attendance(city, days, seed, today, source)
    span = f"{days[0]} .. {days[-1]}" if days else "none"
    step.done(
        "attendance",
        f"{rows['attendance']:,} rows, {len(days)} school days ({span}), {len(attendance_files)} files",
    )

    digital_files, rows["digital"] = _write_digital(city, months, seed, source)
    step.done("digital", f"{rows['digital']:,} rows, {len(months)} monthly snapshots")

    probe_files, rows["connectivity"] = _write_connectivity(city, probes, seed, source)
    step.done(
        "connectivity", f"{rows['connectivity']:,} probes over {len(probes)} days, {len(probe_files)} files"
    )

    return DemoFiles(
        source_dir=source,
        today=today,
        seed=seed,
        schools=schools,
        school_versions=tuple(v.effective for v in city.versions),
        attendance_days=tuple(days),
        digital_months=tuple(months),
        probe_days=tuple(d for d, _ in probes),
        schools_files=tuple(schools_files),
        other_files=tuple([*attendance_files, *digital_files]),
        probe_files=tuple(probe_files),
        rows_written=rows,
    )


def build_demo(
    data_dir: Path | str | None = None,
    *,
    schools: int = 3500,
    attendance_days: int | None = None,
    probe_days: int = 14,
    seed: int = 2026,
    today: date | None = None,
    progress: Callable[[str], None] | None = None,
    now: datetime | None = None,
) -> DemoSummary:
    """Generate the demo's files for ``today`` and load them into the store in ``data_dir``.

    ``now`` (default: the current local time) is when today's probes stop; tests pin it.
    """
    # heavy: DuckDB and the loader (~250 modules, 0.5 s) only when building, not for `ioc demo --help`
    from ingest.load import ingest_paths
    from ioc.store import Store

    root = settings.data_dir(data_dir)
    step = _Progress(progress)
    files = write_files(
        root / SOURCE_FOLDER,
        schools=schools,
        attendance_days=attendance_days,
        probe_days=probe_days,
        seed=seed,
        today=today,
        now=now,
        step=step,
    )

    # Each file loaded is reported as it goes (indented under its step): the probes take a while.
    def each_file(line: str) -> None:
        if progress:
            progress("    " + line)

    results: list[Any] = []
    with Store(root) as store:
        for version, path in zip(files.school_versions, files.schools_files, strict=True):
            results += ingest_paths(
                store, [path], source="demo", effective_date=version, progress=each_file, audit=record_ingest
            )
        step.done("load schools", _loaded(results))
        before = len(results)
        results += ingest_paths(
            store, files.other_files, source="demo", progress=each_file, audit=record_ingest
        )
        step.done("load att+dig", _loaded(results[before:]))
        before = len(results)
        results += ingest_paths(
            store, files.probe_files, source="demo", progress=each_file, audit=record_ingest
        )
        step.done("load probes", _loaded(results[before:]))

    return DemoSummary(
        data_dir=root,
        source_dir=files.source_dir,
        today=files.today,
        seed=seed,
        schools=schools,
        school_versions=files.school_versions,
        attendance_days=files.attendance_days,
        digital_months=files.digital_months,
        probe_days=files.probe_days,
        rows_written=files.rows_written,
        files=files.all,
        results=tuple(results),
        steps=tuple(step.steps),
    )


def _loaded(results: list[Any]) -> str:
    loaded = sum(r.rows_loaded for r in results)
    rejected = sum(r.rows_rejected for r in results)
    unchanged = sum(1 for r in results if r.status == "unchanged")
    bad = sum(1 for r in results if r.status in ("rejected", "failed"))
    text = f"{len(results)} files: {loaded:,} rows loaded, {rejected:,} rejected"
    if unchanged:
        text += f", {unchanged} unchanged"
    if bad:
        text += f", {bad} NOT LOADED"
    return text


# -- writing each dataset ------------------------------------------------------------------------


def _write_schools(city: city_schools.City, folder: Path, seed: int) -> list[Path]:
    """One CSV per version (with a BOM); some rows use the Vietnamese level/ownership labels."""
    rng = stream(seed, "schools-files")
    paths = []
    for i, version in enumerate(city.versions):
        frame = version.table.copy()
        vietnamese = rng.uniform(size=len(frame)) < 0.3
        frame["level"] = np.where(
            vietnamese, frame["level"].map(city_schools.VIETNAMESE_LEVEL), frame["level"]
        )
        frame["ownership"] = np.where(
            vietnamese, frame["ownership"].map(city_schools.VIETNAMESE_OWNERSHIP), frame["ownership"]
        )
        frame["active"] = np.where(frame["active"], "true", "false")
        if i == 0:
            # An older export with different header capitalisation: matched case-insensitively.
            frame.columns = [c.replace("_", " ").title().replace(" ", "_") for c in frame.columns]
        paths.append(write_csv(frame, folder / f"schools_{version.effective}.csv", bom=True))
    return paths


def _write_attendance(
    city: city_schools.City, days: list[date], seed: int, today: date, folder: Path
) -> tuple[list[Path], int]:
    """One CSV per month; every third month writes dates as DD/MM/YYYY."""
    by_month: dict[tuple[int, int], list[attendance.DayRows]] = {}
    for rows in attendance.generate(city, days, seed, today):
        by_month.setdefault((rows.day.year, rows.day.month), []).append(rows)
    paths = []
    total = 0
    for (year, month), chunks in sorted(by_month.items()):
        fmt = "%d/%m/%Y" if month % 3 == 0 else "%Y-%m-%d"
        dates = np.concatenate([np.full(len(c.school_id), c.day.strftime(fmt), dtype=object) for c in chunks])
        excused = np.concatenate([c.absent_excused for c in chunks])
        unexcused = np.concatenate([c.absent_unexcused for c in chunks])
        table = pa.table(
            {
                "date": pa.array(dates, pa.string()),
                "school_id": pa.array(np.concatenate([c.school_id for c in chunks]), pa.string()),
                "enrolled": np.concatenate([c.enrolled for c in chunks]),
                "present": np.concatenate([c.present for c in chunks]),
                "absent_excused": pa.array(excused, mask=excused < 0),
                "absent_unexcused": pa.array(unexcused, mask=unexcused < 0),
            }
        )
        total += table.num_rows
        paths.append(write_csv(table, folder / f"attendance_{year}-{month:02d}.csv", bom=month % 2 == 0))
    return paths, total


def _write_digital(
    city: city_schools.City, months: list[date], seed: int, folder: Path
) -> tuple[list[Path], int]:
    """One snapshot per month: XLSX in odd months (real date cells), CSV with có/không otherwise."""
    paths = []
    total = 0
    for as_of in months:
        frame = digital.generate(city, as_of, seed)
        total += len(frame)
        if as_of.month % 2 == 1:
            stamp = datetime(as_of.year, as_of.month, as_of.day)
            paths.append(write_xlsx(frame, folder / f"digital_{as_of}.xlsx", stamp=stamp))
        else:
            frame = frame.assign(
                as_of=as_of.isoformat(), e_transcript=np.where(frame["e_transcript"], "có", "không")
            )
            paths.append(write_csv(frame, folder / f"digital_{as_of}.csv"))
    return paths, total


def _write_connectivity(
    city: city_schools.City, probes: list[tuple[date, int]], seed: int, folder: Path
) -> tuple[list[Path], int]:
    """One Parquet file per day; measured_at as +07:00 text, UTC 'Z' text or a native timestamp."""
    if not probes:
        return [], 0
    lines = connectivity.lines(city, seed)
    paths = []
    total = 0
    styles = ("local", "utc", "native")
    for day, last_slot in probes:
        table = connectivity.generate(city, lines, day, seed, last_slot, styles[day.toordinal() % 3])
        total += table.num_rows
        paths.append(write_parquet(table, folder / f"connectivity_{day}.parquet"))
    return paths, total


def frame_of(path: Path) -> pd.DataFrame:
    """Read back a file the demo wrote (for tests and checks)."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".xlsx":
        return pd.read_excel(path)
    return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
