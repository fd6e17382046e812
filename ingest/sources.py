"""Where scheduled data comes from: a drop folder, or an HTTP API answering JSON.

Both hand their data to :mod:`ingest.load` (the same validated path as ``ioc ingest``) and never
write rows themselves. Each returns what it did as a :class:`~ingest.jobs.JobOutcome` plus the
source's new :class:`~ingest.health_record.SourceState`; the scheduler records both.

Safety rules:
- a drop-folder file is read only when it has stopped changing (two looks at size and mtime,
  and not modified within ``settle`` seconds; ``*.part``/``*.tmp`` names are never read), and it
  leaves the inbox only after its load has committed, so a crash re-picks it (and a re-load of
  the same bytes is "unchanged", never a duplicate);
- an HTTP pull fetches every page first and loads the batch only when all of it arrived intact:
  a hang, an error status, HTML, truncated JSON or an oversized body leaves the data as it was
  and marks the source failing with the reason.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.contract import LOAD_ORDER, dataset_of
from ingest.durable import write_verified
from ingest.health_record import SourceState
from ingest.jobs import (
    DropFolderSpec,
    HttpSpec,
    JobOutcome,
    JobSpec,
    _Reader,
    drop_folder_options,
    http_options,
)
from ingest.kinds import JobKind, Runner, register
from ingest.load import Auditor, FileResult, describe, describe_words, ingest_file, ingest_records
from ioc import clock
from ioc.messages import Message, MessageError, msg

if TYPE_CHECKING:
    from ioc.store import Store

log = logging.getLogger(__name__)

# Names that mean "still being written" (browsers, rsync, editors, our own convention).
PARTIAL_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload", ".download", ".swp", ".filepart")
HANDLED_FOLDERS = ("done", "rejected")
CHUNK = 64 * 1024


# -- drop folder --------------------------------------------------------------------------------
def _is_candidate(path: Path) -> bool:
    name = path.name
    if name.startswith((".", "~$")) or name.lower().endswith(PARTIAL_SUFFIXES):
        return False
    return path.is_file()


def _look(paths: list[Path]) -> dict[Path, tuple[int, int]]:
    seen: dict[Path, tuple[int, int]] = {}
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            st = path.stat()
            seen[path] = (st.st_size, st.st_mtime_ns)
    return seen


def ready_files(spec: DropFolderSpec, *, sleep: Callable[[float], None] = time.sleep) -> list[Path]:
    """Files in the folder that are complete: not partial by name, untouched for ``settle``
    seconds and unchanged between two looks; schools files first, then by name."""
    folder = spec.folder
    if not folder.is_dir():
        return []
    candidates = sorted(p for p in folder.iterdir() if _is_candidate(p))
    if not candidates:
        return []
    first = _look(candidates)
    settled_before = time.time() - spec.settle_seconds
    old_enough = [p for p, (_, mtime) in first.items() if mtime / 1e9 <= settled_before]
    if not old_enough:
        return []
    if spec.stable_wait_seconds > 0:
        sleep(spec.stable_wait_seconds)
    second = _look(old_enough)
    ready = [p for p in old_enough if second.get(p) == first[p]]

    def order(p: Path) -> tuple[int, str]:
        ds = dataset_of(p)
        return (LOAD_ORDER.index(ds.name) if ds else len(LOAD_ORDER), p.name)

    return sorted(ready, key=order)


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or a time-stamped variant when a file of that name was handled before."""
    target = folder / name
    if not target.exists():
        return target
    stem, dot, suffix = name.partition(".")
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S%f")
    return folder / f"{stem}.{stamp}{dot}{suffix}"


def reason_text(result: FileResult, at: datetime) -> str:
    lines = [
        f"{result.file} was rejected at {at.isoformat(timespec='seconds')} (run {result.run_id}); nothing of it was loaded.",
        f"{result.problems} problem(s) in {result.rows_rejected} row(s):"
        if result.rows_rejected
        else "Reason:",
    ]
    lines += [f"  {r.message}" for r in result.rejections]
    if result.problems > len(result.rejections):
        lines.append(
            f"  ... and {result.problems - len(result.rejections)} more (see `ioc` data-health page, run {result.run_id})"
        )
    for warning in result.warnings:
        lines.append(f"warning: {warning}")
    lines.append("Fix the file and drop it into the inbox again.")
    return "\n".join(lines) + "\n"


def move_handled(path: Path, result: FileResult) -> Path:
    """Move a file whose load committed (or was rejected) out of the inbox."""
    folder = path.parent / ("done" if result.ok else "rejected")
    folder.mkdir(exist_ok=True)
    target = _free_name(folder, path.name)
    if not result.ok:
        # the reason first: a crash between the two leaves the file in the inbox, never a
        # rejected file without its reason
        reason = target.with_name(target.name + ".reason.txt")
        write_verified(reason, reason_text(result, clock.now()).encode("utf-8"))  # never half a reason
    os.replace(path, target)
    return target


def poll_drop_folder(
    store: Store,
    job_id: str,
    spec: DropFolderSpec,
    state: SourceState,
    write_lock: threading.Lock,
    *,
    echo: Callable[[str], None] = lambda line: None,
    attempts: dict[tuple[str, int, int], int] | None = None,
    audit: Auditor | None = None,
) -> tuple[JobOutcome, SourceState]:
    """Load every ready file of the folder, each in its own transaction, and move it to done/ or
    rejected/. A file whose load failed stays for the next run: always when the environment is to
    blame (full disk, permissions), at most ``MAX_FILE_FAILURES`` times otherwise (``attempts``
    counts them across runs), after which it is moved to rejected/ with the error as its reason."""
    spec.folder.mkdir(parents=True, exist_ok=True)
    files = ready_files(spec)
    started = clock.now()
    if not files:
        return JobOutcome("idle"), replace(state, last_attempt=started)
    loaded = rejected = rows_loaded = rows_rejected = 0
    failures: list[Message] = []
    details: list[str] = []
    said: list[Message] = []  # the details' words
    for path in files:
        echo(f"{job_id}: loading {path.name}")
        try:
            with write_lock:
                result = ingest_file(store, path, source=job_id, dataset=spec.dataset, audit=audit)
        except Exception as error:  # the store or the disk failed; the file stays for the next run
            log.exception("%s: loading %s failed", job_id, path.name)
            failure = msg("source.file_error", file=path.name, error=f"{type(error).__name__}: {error}")
            failures.append(failure)
            if isinstance(error, OSError) or environmental(str(failure)):
                break  # the disk is the problem: the next files would fail the same way
            if _give_up(path, str(failure), attempts):
                rejected += 1
            continue
        if result.status == "failed":
            failure = describe_words(result)
            failures.append(failure)
            if environmental(str(failure)):
                break
            if _give_up(path, str(failure), attempts):
                rejected += 1
            continue
        details.append(describe(result))
        said.append(describe_words(result))
        try:
            move_handled(path, result)
        except OSError as error:
            # the load committed; a later run re-picks the file and finds it "unchanged"
            failures.append(msg("source.not_moved", file=path.name, error=str(error)))
        if result.ok:
            loaded += 1
            rows_loaded += result.rows_loaded
        else:
            rejected += 1
            rows_rejected += result.rows_rejected
    finished = clock.now()
    status = "failed" if failures else ("partial" if rejected else "success")
    outcome = JobOutcome(
        status,
        len(files),
        loaded,
        rejected,
        rows_loaded,
        rows_rejected,
        details=tuple(details),
        words=msg("list", items=(*failures, *said)),
    )
    if failures:
        new_state = state.failed(finished, msg("list", items=tuple(failures)))
    else:
        new_state = state.succeeded(finished, rows_loaded)
        if rejected:
            # rejected files are the schools' problem, not the source's; keep them visible
            files_rejected = tuple(w for w, d in zip(said, details, strict=True) if "rejected" in d)
            new_state = new_state.failed_files(
                finished,
                msg("source.files_rejected", count=rejected, files=msg("list", items=files_rejected)),
            )
    return outcome, new_state


MAX_FILE_FAILURES = 5
# failures that say nothing about the file: it must wait for the environment to recover
ENVIRONMENT_ERRORS = (
    "no space left",
    "disk quota",
    "read-only file system",
    "permission denied",
    "input/output error",
    "too many open files",
    "database is locked",
    "cannot allocate memory",
    "out of memory",
)


def environmental(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in ENVIRONMENT_ERRORS)


def _give_up(path: Path, reason: str, attempts: dict[tuple[str, int, int], int] | None) -> bool:
    """Count a file-specific failure; after MAX_FILE_FAILURES move the file aside with its reason."""
    if attempts is None:
        return False
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    key = (path.name, st.st_size, st.st_mtime_ns)
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] < MAX_FILE_FAILURES:
        return False
    folder = path.parent / "rejected"
    folder.mkdir(exist_ok=True)
    target = _free_name(folder, path.name)
    write_verified(
        target.with_name(target.name + ".reason.txt"),
        (
            f"{path.name} could not be loaded in {attempts[key]} attempts (last at "
            f"{clock.now().isoformat(timespec='seconds')}); nothing of it was loaded.\nLast error: {reason}\n"
            "Check the file (or the log DATA_DIR/logs/scheduler.log) and drop it into the inbox again.\n"
        ).encode(),
    )
    os.replace(path, target)
    del attempts[key]
    return True


def pending_files(folder: Path) -> int:
    """Files waiting in a drop folder (for the health page)."""
    if not folder.is_dir():
        return 0
    return sum(1 for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


# -- HTTP JSON ------------------------------------------------------------------------------------
class SourceFailure(MessageError):
    """The source could not deliver a complete, valid batch; the message is the reason shown."""

    retryable = False


class _Retryable(SourceFailure):
    retryable = True


@dataclass(frozen=True)
class Page:
    records: list[Mapping[str, Any]]
    next_url: str | None
    cursor: str | None
    size: int


@dataclass(frozen=True)
class Pulled:
    records: list[Mapping[str, Any]]
    cursor: str | None
    pages: int
    bytes: int


def _with_params(url: str, params: Mapping[str, Any]) -> str:
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    query.update({k: str(v) for k, v in params.items()})
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def public_url(url: str) -> str:
    """A URL as shown in messages: without credentials or query string."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _headers(spec: HttpSpec, environ: Mapping[str, str]) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": "education-ioc-scheduler"}
    headers.update(dict(spec.headers))
    if spec.token_env:
        token = environ.get(spec.token_env, "")
        if not token:
            raise SourceFailure(msg("source.token_unset", variable=spec.token_env))
        headers[spec.auth_header] = f"{spec.auth_scheme} {token}".strip() if spec.auth_scheme else token
    return headers


def _read_limited(response: http.client.HTTPResponse, spec: HttpSpec, started: float, where: str) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > spec.max_bytes:
        raise SourceFailure(msg("source.too_big", where=where, size=int(declared), limit=spec.max_bytes))
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            chunk = response.read1(CHUNK) if hasattr(response, "read1") else response.read(CHUNK)
        except http.client.IncompleteRead as error:
            raise _Retryable(
                msg("source.truncated", where=where, got=total + len(error.partial), size=declared or "?")
            ) from None
        if not chunk:
            break
        total += len(chunk)
        if total > spec.max_bytes:
            raise SourceFailure(msg("source.body_too_big", where=where, limit=spec.max_bytes))
        if time.monotonic() - started > spec.total_timeout_seconds:
            raise _Retryable(msg("source.slow", where=where, seconds=float(spec.total_timeout_seconds)))
        chunks.append(chunk)
    if declared and declared.isdigit() and total < int(declared):
        raise _Retryable(msg("source.truncated", where=where, got=total, size=int(declared)))
    return b"".join(chunks)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never carry the credential to another host."""

    def __init__(self, auth_header: str) -> None:
        self.auth_header = auth_header.lower()

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if (
            new is not None
            and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc
        ):
            for name in list(new.headers):
                if name.lower() in ("authorization", "cookie", self.auth_header):
                    del new.headers[name]
        return new


def _fetch_once(url: str, headers: Mapping[str, str], spec: HttpSpec) -> tuple[Any, Mapping[str, str], int]:
    where = public_url(url)
    request = urllib.request.Request(url, headers=dict(headers), method="GET")
    opener = urllib.request.build_opener(_Redirects(spec.auth_header))
    started = time.monotonic()
    try:
        with opener.open(request, timeout=spec.timeout_seconds) as response:
            content_type = response.headers.get_content_type()
            body = _read_limited(response, spec, started, where)
            response_headers = dict(response.headers.items())
    except urllib.error.HTTPError as error:
        status = f"{error.code} {error.reason}"  # as the server says it
        error.close()
        if error.code in (401, 403):
            if spec.token_env:
                raise SourceFailure(
                    msg("source.http_token", where=where, status=status, variable=spec.token_env)
                ) from None
            raise SourceFailure(msg("source.http", where=where, status=status)) from None
        if error.code >= 500 or error.code in (408, 429):
            raise _Retryable(msg("source.http", where=where, status=status)) from None
        raise SourceFailure(msg("source.http", where=where, status=status)) from None
    except TimeoutError:
        raise _Retryable(msg("source.timeout", where=where, seconds=float(spec.timeout_seconds))) from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise _Retryable(
                msg("source.timeout", where=where, seconds=float(spec.timeout_seconds))
            ) from None
        raise _Retryable(msg("source.unreachable", where=where, error=str(reason))) from None
    except (ConnectionError, http.client.HTTPException) as error:
        raise _Retryable(msg("source.broken", where=where, error=f"{type(error).__name__} {error}")) from None
    looks_html = body.lstrip()[:15].lower().startswith((b"<!doctype", b"<html")) or content_type in (
        "text/html",
        "application/xhtml+xml",
    )
    if looks_html:
        raise SourceFailure(msg("source.html", where=where, content_type=content_type))
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise SourceFailure(
            msg("source.not_utf8", where=where, error=str(error.reason), byte=str(error.start))
        ) from None
    except json.JSONDecodeError as error:
        raise _Retryable(
            msg(
                "source.bad_json",
                where=where,
                error=error.msg,
                line=str(error.lineno),
                column=str(error.colno),
            )
        ) from None
    return data, response_headers, len(body)


def fetch_json(
    url: str, headers: Mapping[str, str], spec: HttpSpec, *, sleep: Callable[[float], None] = time.sleep
) -> tuple[Any, Mapping[str, str], int]:
    """GET one JSON document, retrying transient failures with exponential backoff."""
    attempts = spec.retries + 1
    for attempt in range(attempts):
        try:
            return _fetch_once(url, headers, spec)
        except _Retryable as error:
            if attempt + 1 >= attempts:
                raise SourceFailure(
                    msg(
                        "source.attempts" if attempts > 1 else "source.attempts_one",
                        text=error.message,
                        n=attempts,
                    )
                ) from None
            delay = spec.backoff_seconds * 2**attempt
            log.warning("%s; retrying in %.1fs", error, delay)
            sleep(delay)
    raise AssertionError("unreachable")


_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?', re.IGNORECASE)


def _page(data: Any, headers: Mapping[str, str], url: str, spec: HttpSpec, number: int, size: int) -> Page:
    where = msg("source.page", url=public_url(url), page=str(number))
    body: Mapping[str, Any]
    if spec.records_key is None or isinstance(data, list):
        records, body = data, {}
    elif isinstance(data, Mapping):
        body = data
        if spec.records_key not in data:
            raise SourceFailure(msg("source.no_records", where=where, key=repr(spec.records_key)))
        records = data[spec.records_key]
    else:
        raise SourceFailure(msg("source.not_object", where=where, kind=type(data).__name__))
    if not isinstance(records, list):
        raise SourceFailure(msg("source.not_list", where=where, key=repr(spec.records_key)))
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise SourceFailure(msg("source.record_not_object", where=where, index=str(index)))
    next_url = body.get(spec.next_key) if spec.next_key else None
    if next_url is None:
        link = next((v for k, v in headers.items() if k.lower() == "link"), "")
        match = _LINK_NEXT.search(link)
        next_url = match.group(1) if match else None
    if next_url is not None and not isinstance(next_url, str):
        raise SourceFailure(msg("source.next_not_url", where=where, key=repr(spec.next_key)))
    cursor = body.get(spec.cursor_key) if spec.cursor_key else None
    return Page(
        records,
        urllib.parse.urljoin(url, next_url) if next_url else None,
        None if cursor is None else str(cursor),
        size,
    )


def _later(a: str | None, b: str | None) -> str | None:
    """The later of two cursor values (timestamps compared as instants when they parse)."""
    if a is None or b is None:
        return a or b
    try:
        return a if datetime.fromisoformat(a) >= datetime.fromisoformat(b) else b
    except (ValueError, TypeError):
        return max(a, b)


def pull(
    spec: HttpSpec,
    cursor: str | None,
    *,
    environ: Mapping[str, str] = os.environ,
    sleep: Callable[[float], None] = time.sleep,
) -> Pulled:
    """Every page since ``cursor``, or :class:`SourceFailure` (nothing partial is returned)."""
    headers = _headers(spec, environ)
    params: dict[str, Any] = {}
    if spec.since_param and cursor:
        params[spec.since_param] = cursor
    if spec.page_param:
        params[spec.page_param] = 1
    if spec.page_size_param and spec.page_size:
        params[spec.page_size_param] = spec.page_size
    url = _with_params(spec.url, params) if params else spec.url
    records: list[Mapping[str, Any]] = []
    visited: set[str] = set()
    new_cursor: str | None = None
    total = 0
    for number in range(1, spec.max_pages + 1):
        visited.add(url)
        data, response_headers, size = fetch_json(url, headers, spec, sleep=sleep)
        page = _page(data, response_headers, url, spec, number, size)
        total += size
        records.extend(page.records)
        if page.cursor is not None:
            new_cursor = page.cursor
        elif spec.cursor_field:
            for record in page.records:
                value = record.get(spec.cursor_field)
                if value not in (None, ""):
                    new_cursor = _later(new_cursor, str(value))
        if page.next_url:
            url = page.next_url
        elif spec.page_param and page.records and (not spec.page_size or len(page.records) >= spec.page_size):
            url = _with_params(url, {spec.page_param: number + 1})
        else:
            return Pulled(records, new_cursor, number, total)
        if url in visited:
            raise SourceFailure(msg("source.loop", where=public_url(url), page=str(number + 1)))
    raise SourceFailure(msg("source.pages", where=public_url(spec.url), limit=str(spec.max_pages)))


def pull_http(
    store: Store,
    job_id: str,
    spec: HttpSpec,
    state: SourceState,
    write_lock: threading.Lock,
    *,
    environ: Mapping[str, str] = os.environ,
    echo: Callable[[str], None] = lambda line: None,
    audit: Auditor | None = None,
) -> tuple[JobOutcome, SourceState]:
    """Pull new records and load them as one batch; the cursor moves only after a commit."""
    started = clock.now()
    try:
        pulled = pull(spec, state.cursor, environ=environ)
    except SourceFailure as failure:
        return JobOutcome("failed", words=failure.message), state.failed(clock.now(), failure.message)
    if not pulled.records:
        cursor = _later(state.cursor, pulled.cursor) if pulled.cursor else state.cursor
        if state.failing:  # recovered: worth recording even with nothing new
            return JobOutcome("success", words=msg("source.answers_again")), state.succeeded(
                started, 0, cursor
            )
        return JobOutcome("idle", words=msg("source.no_new")), replace(
            state, last_attempt=started, cursor=cursor
        )
    echo(f"{job_id}: loading {len(pulled.records):,} records from {pulled.pages} page(s)")
    name = f"{job_id}_{spec.dataset}_{started.strftime('%Y%m%dT%H%M%S')}"
    try:
        with write_lock:
            result = ingest_records(
                store, spec.dataset, pulled.records, source=job_id, name=name, audit=audit
            )
    except Exception as error:
        log.exception("%s: loading %s records failed", job_id, len(pulled.records))
        reason = msg(
            "source.load_failed", count=len(pulled.records), error=f"{type(error).__name__}: {error}"
        )
        return JobOutcome("failed", 1, words=reason), state.failed(clock.now(), reason)
    said = describe_words(result)
    line = str(said)
    if result.ok:
        cursor = _later(state.cursor, pulled.cursor) if pulled.cursor else state.cursor
        outcome = JobOutcome("success", 1, 1, 0, result.rows_loaded, 0, details=(line,), words=said)
        return outcome, state.succeeded(clock.now(), result.rows_loaded, cursor)
    # rejected or failed: the batch stays unloaded and the cursor where it was, so the same records
    # are asked for again once the source has fixed them
    first = result.rejections[0] if result.rejections else None
    if first is not None and first.words is not None and first.message not in line:
        said = msg("source.first", text=said, first=first.words)
    status = "partial" if result.status == "rejected" else "failed"
    outcome = JobOutcome(status, 1, 0, 1, 0, result.rows_rejected, details=(line,), words=said)
    return outcome, state.failed(clock.now(), said)


# -- the source kinds (ingest.kinds: chosen by name in the scheduler's configuration) ----------


@register
class DropFolder(JobKind):
    """Files dropped into a folder (the inbox)."""

    name = "drop_folder"
    source = True
    default_job = {"id": "inbox", "schedule": {"every": "30s"}}

    def parse(self, reader: _Reader, data_dir: Path) -> DropFolderSpec:
        return drop_folder_options(reader, data_dir)

    def describe(self, options: DropFolderSpec) -> tuple[str | None, str | None]:
        return options.dataset, str(options.folder)

    def inbox(self, options: DropFolderSpec) -> Path | None:
        return options.folder

    def run(
        self, runner: Runner, job: JobSpec, state: SourceState | None
    ) -> tuple[JobOutcome, SourceState | None]:
        assert state is not None
        return poll_drop_folder(
            runner.store,
            job.id,
            job.options,
            state,
            runner.write_lock,
            echo=runner.echo,
            attempts=runner.attempts(),
            audit=runner.audit,
        )


@register
class HttpJson(JobKind):
    """JSON records pulled from an HTTP API, page by page, from a cursor."""

    name = "http_json"
    source = True

    def parse(self, reader: _Reader, data_dir: Path) -> HttpSpec:
        return http_options(reader)

    def describe(self, options: HttpSpec) -> tuple[str | None, str | None]:
        return options.dataset, public_url(options.url)

    def run(
        self, runner: Runner, job: JobSpec, state: SourceState | None
    ) -> tuple[JobOutcome, SourceState | None]:
        assert state is not None
        return pull_http(
            runner.store,
            job.id,
            job.options,
            state,
            runner.write_lock,
            environ=runner.environ,
            echo=runner.echo,
            audit=runner.audit,
        )
