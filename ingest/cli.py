"""``ioc ingest PATH...``: load files or folders and report each file's outcome.

Exit codes: 0 every file loaded or unchanged, 1 any file rejected or failed, 2 usage error (no such
path, no recognisable data file, bad option).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ingest.contract import DATASETS, FILE_SUFFIXES, dataset_of
from ioc.cli import UsageError
from ioc.messages import Message, msg
from ioc.store import open_store

if TYPE_CHECKING:
    from ingest.load import Auditor, FileResult, Rejection


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="data files or folders (searched recursively)"
    )
    parser.add_argument(
        "--dataset",
        choices=sorted(DATASETS),
        help="dataset of every file (default: from each file name's prefix, e.g. attendance_2026-11-23.csv)",
    )
    parser.add_argument(
        "--effective-date",
        metavar="YYYY-MM-DD",
        help="date a schools file is valid from (default: the date in its name, else today)",
    )
    parser.add_argument("--source", default="cli", help="name recorded in the run log (default: cli)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.add_argument(
        "--lang",
        choices=("en", "vi"),
        default="en",
        help="language of the outcome lines and rejection messages (default: en; vi for Vietnamese)",
    )


def run(args: argparse.Namespace, out: TextIO | None = None, audit: Auditor | None = None) -> int:
    """``ioc ingest``; ``audit`` writes each run into the product's audit log (ioc.scheduling passes it)."""
    # heavy: the readers' pyarrow, openpyxl and numpy (~300 modules, 0.5 s) only when files are
    # loaded, not for `ioc ingest --help` nor `ioc scheduler`'s (which imports this module)
    from ingest.load import collect_files, describe_words, ingest_paths, recover_interrupted

    out = out or sys.stdout
    lang = getattr(args, "lang", "en")
    effective = None
    if args.effective_date:
        try:
            effective = dt.date.fromisoformat(args.effective_date)
        except ValueError:
            raise UsageError(f"--effective-date {args.effective_date!r} is not a date YYYY-MM-DD") from None
    for entry in args.paths:
        if not Path(entry).exists():
            raise UsageError(f"no such file or folder: {entry}")
    files = collect_files(args.paths)
    if args.dataset is None:
        recognised = [f for f in files if dataset_of(f) is not None and f.suffix.lower() in FILE_SUFFIXES]
    else:
        recognised = [f for f in files if f.suffix.lower() in FILE_SUFFIXES]
    if not recognised:
        raise UsageError(
            "no data file found: names must start with "
            + ", ".join(DATASETS)
            + " and end in "
            + ", ".join(FILE_SUFFIXES)
            + " (or give --dataset)"
        )
    store = open_store(args.data_dir)
    for run_id in recover_interrupted(store, audit):
        print(
            f"run {run_id} was interrupted (its process was stopped); recorded as interrupted",
            file=sys.stderr,
        )
    results = ingest_paths(
        store,
        files,
        source=args.source,
        effective_date=effective,
        dataset=args.dataset,
        audit=audit,
        on_result=(lambda result: _print_progress(describe_words(result).text(lang), out))
        if args.format == "text"
        else None,
    )
    if args.format == "text":
        _print_details(results, out, lang)
    else:
        json.dump(
            {"files": [_as_json(r, lang) for r in results], "summary": _summary(results)},
            out,
            ensure_ascii=False,
            indent=2,
        )
        out.write("\n")
    return 0 if all(r.ok for r in results) else 1


def _print_progress(line: str, out: TextIO) -> None:
    out.write(line + "\n")
    out.flush()


def _said(rejection: Rejection, lang: str) -> str:
    return rejection.words.text(lang) if rejection.words is not None else rejection.message


def _print_details(results: list[FileResult], out: TextIO, lang: str = "en") -> None:
    for result in results:
        if result.status in ("rejected", "failed") or result.warnings:
            out.write(f"\n{result.file}:\n")
            for warning in result.warnings:
                out.write(f"  WARNING {warning}\n")
            for rejection in result.rejections:
                out.write(f"  {_said(rejection, lang)}\n")
            if result.problems > len(result.rejections):
                more = msg("cli.more_problems", count=result.problems - len(result.rejections))
                out.write(f"  {more.text(lang)}\n")
    out.write("\n" + _summary_line(results).text(lang) + "\n")


def _summary(results: list[FileResult]) -> dict[str, int]:
    counts = {status: 0 for status in ("loaded", "unchanged", "rejected", "failed")}
    for result in results:
        counts[result.status] += 1
    counts["files"] = len(results)
    counts["rows_loaded"] = sum(r.rows_loaded for r in results)
    counts["rows_replaced"] = sum(r.rows_replaced for r in results)
    return counts


def _summary_line(results: list[FileResult]) -> Message:
    s = _summary(results)
    return msg(
        "cli.summary",
        files=str(s["files"]),
        loaded=str(s["loaded"]),
        unchanged=str(s["unchanged"]),
        rejected=str(s["rejected"]),
        failed=str(s["failed"]),
        rows=s["rows_loaded"],
        replaced=s["rows_replaced"],
    )


def _as_json(result: FileResult, lang: str = "en") -> dict[str, object]:
    return {
        "file": result.file,
        "dataset": result.dataset,
        "status": result.status,
        "rows_loaded": result.rows_loaded,
        "rows_replaced": result.rows_replaced,
        "rows_rejected": result.rows_rejected,
        "problems": result.problems,
        "run_id": result.run_id,
        "checksum": result.checksum,
        "warnings": list(result.warnings),
        "rejections": [
            {
                "row": r.row,
                "column": r.column,
                "value": r.value,
                "rule": r.rule,
                "message": _said(r, lang),
                # the message's template: a program can say it in its own words
                "message_id": r.words.id if r.words else None,
                "params": r.words.to_json()["params"] if r.words else None,
            }
            for r in result.rejections
        ],
    }
