"""Checksums and text-encoding checks: UTF-8 only, and no legacy Vietnamese text hidden inside it.

A file is read once in large chunks to compute its SHA-256 and to check that it decodes as UTF-8,
so a 10-million-row file is never held in memory. Text that decodes fine but was typed in a legacy
Vietnamese font encoding (TCVN3/ABC, VNI) shows characters that are not Vietnamese letters, such
as ``¸ µ ¶ · ¹ ­`` (TCVN3) or ``ö ø ñ ï`` (VNI "Tröôøng"); :data:`NOT_VIETNAMESE_CLASS` finds them.
"""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass
from pathlib import Path

from ioc.messages import Message, msg

CHUNK = 8 * 1024 * 1024

# Vietnamese letters outside ASCII, precomposed (NFC) — every other Latin-1 / Latin Extended
# character in a name is a sign of legacy-encoded text.
_VIETNAMESE_UPPER = "ÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝĂĐĨŨƠƯ"
VIETNAMESE_LETTERS = frozenset(
    _VIETNAMESE_UPPER + _VIETNAMESE_UPPER.lower() + "".join(chr(c) for c in range(0x1EA0, 0x1EFA))
)
# VNI writes a tone or hat as a separate character after the vowel ("Tröôøng" = Trường); these
# marks are never Vietnamese letters. Other odd characters point to TCVN3 (ABC): "Tr\xadêng häc".
VNI_MARKERS = "øûïöñ"


def _not_vietnamese_class() -> str:
    chars = [
        chr(c) for c in list(range(0x80, 0x250)) if chr(c) not in VIETNAMESE_LETTERS and c not in (0xA0,)
    ]
    # RE2 character class; escape the few characters that are special inside a class
    return "[" + "".join("\\" + ch if ch in "]\\^-[" else ch for ch in chars) + "]"


NOT_VIETNAMESE_CLASS = _not_vietnamese_class()


@dataclass(frozen=True)
class FileCheck:
    checksum: str
    size: int
    utf8_error: Message | None  # None when the bytes are valid UTF-8


def check_file(path: Path, *, require_utf8: bool) -> FileCheck:
    """SHA-256 of the file and, for text formats, whether it is valid UTF-8."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = 0
    error: Message | None = None
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            if require_utf8 and error is None:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    error = _describe_legacy(chunk, size + exc.start, exc.start)
            size += len(chunk)
    if require_utf8 and error is None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            error = msg("encoding.cut_short")
    return FileCheck(digest.hexdigest(), size, error)


def _describe_legacy(chunk: bytes, offset: int, start: int) -> Message:
    line_start = chunk.rfind(b"\n", 0, start) + 1
    line_end = chunk.find(b"\n", start)
    line = chunk[line_start : line_end if line_end >= 0 else len(chunk)][:120]
    byte, where = f"0x{chunk[start]:02X}", str(offset)  # offsets as programs print them, ungrouped
    try:
        says = repr(line.decode("cp1258").strip())
    except UnicodeDecodeError:
        return msg("encoding.not_utf8", byte=byte, offset=where)
    return msg("encoding.not_utf8_line", byte=byte, offset=where, line=says)


def describe_mojibake(text: str) -> Message:
    """Why a text looks like a legacy encoding, for a rejection message."""
    odd = "".join(sorted({ch for ch in text if ch not in VIETNAMESE_LETTERS and ord(ch) >= 0x80}))
    kind = "VNI" if any(ch in VNI_MARKERS for ch in odd) else "TCVN3 (ABC)"
    return msg("encoding.mojibake", chars=" ".join(repr(ch) for ch in odd), kind=kind)
