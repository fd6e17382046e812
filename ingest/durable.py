"""Files written so that a full disk or a killed process never leaves half a file behind.

A file is written to a temporary name beside its target, flushed to the disk (fsync), checked
against the checksum it must have, and only then renamed to its name; on any failure the
temporary file is removed. A full disk (ENOSPC, EDQUOT) is told in one line naming the path.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import duckdb

from ioc.messages import msg

_FULL = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXT = ("no space left on device", "disk quota exceeded", "not enough space")


class DiskFull(OSError):
    """The disk holding ``path`` is full; the message is one line for operators."""

    def __init__(self, path: str | Path, *, store_files: bool = False) -> None:
        # the store's data files, or one file (an archived original)
        self.message = msg("disk_full.store" if store_files else "disk_full.file", path=str(path))
        super().__init__(errno.ENOSPC, str(self.message))
        self.path = str(path)

    def __str__(self) -> str:
        return str(self.strerror)


def is_disk_full(error: BaseException) -> bool:
    """True for an OSError of a full disk and for DuckDB's report of one."""
    if isinstance(error, OSError) and error.errno in _FULL:
        return True
    if isinstance(error, duckdb.Error):
        text = str(error).lower()
        return any(marker in text for marker in _FULL_TEXT)
    return False


def disk_full_line(error: BaseException) -> str:
    """A full disk as one line (DuckDB's report of one runs over several)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if "no space left on device" in text.lower() else f"No space left on device: {text}"


def sha256_of(path: Path) -> str | None:
    """The file's SHA-256, or None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(8 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _temporary(target: Path) -> Path:
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")


def copy_verified(source: Path, target: Path, checksum: str) -> Path:
    """Copy ``source`` to ``target`` unless ``target`` already holds exactly ``checksum``.

    A target with another checksum (a copy cut short before this was written this way) is
    replaced."""

    def fill(writer: BinaryIO) -> None:
        with source.open("rb") as reader:
            shutil.copyfileobj(reader, writer, 8 << 20)

    return _write(target, checksum, fill)


def write_verified(target: Path, payload: bytes) -> Path:
    """Write ``payload`` to ``target`` the same way (kept when it is already there, byte for byte)."""
    return _write(target, hashlib.sha256(payload).hexdigest(), lambda writer: writer.write(payload))


def _write(target: Path, checksum: str, fill: Callable[[BinaryIO], object]) -> Path:
    if target.exists() and sha256_of(target) == checksum:
        return target
    tmp = _temporary(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as writer:
            fill(writer)
            writer.flush()
            os.fsync(writer.fileno())
        _install(tmp, target, checksum)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if is_disk_full(error):
            raise DiskFull(target) from None
        raise
    return target


def _install(tmp: Path, target: Path, checksum: str) -> None:
    """Check the written copy, then give it its name (atomically) and make the rename durable."""
    written = sha256_of(tmp)
    if written != checksum:
        raise OSError(errno.EIO, f"the copy written to {tmp} has SHA-256 {written}, not {checksum}")
    os.replace(tmp, target)
    try:
        folder = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder)
    except OSError:
        pass
    finally:
        os.close(folder)
