"""The app's secret key: generated on first run, never a default in the code.

With the SQLite accounts database it is a file in the data directory (``DATA_DIR/auth/secret_key``);
with the PostgreSQL accounts database it is a row of ``ioc_auth.meta``, generated once by whichever
node starts first, so every node signs and checks the same values without sharing a folder.
The deployment's key is ``open_db(data_dir).secret_key()`` (ioc.auth.db), whichever it is.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def file_secret_key(data_dir: Path | str) -> str:
    """The key in DATA_DIR/auth/secret_key, created (owner-only, 0600) when missing."""
    folder = Path(data_dir) / "auth"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "secret_key"
    if not path.exists():
        # written to a private temporary file, then linked into place: another worker process
        # either sees no key or the whole key, and the first link wins
        temp = folder / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable secret key; delete it to generate a new one")
    return key
