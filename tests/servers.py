"""Real servers for the multi-node tests: PostgreSQL, Redis and an S3-compatible object store.

Each is started by the test suite on 127.0.0.1 on a free port, in a folder of its own, and
stopped at the end of the session. PostgreSQL and Redis come from Debian's packages (installed
by `make cluster-deps`, which `make test` runs); the object store is moto's S3 server (PyPI).
A missing binary is an error naming the package, never a skip.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    """End a server the tests started: politely, then for good after 15 s."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def stop_group(proc: subprocess.Popen, timeout: float = 30) -> None:
    """End a server started with ``start_new_session=True`` (gunicorn, `ioc serve`) and its children."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=10)


def wait_until_answers(
    proc: subprocess.Popen, url: str, log: Path, timeout: float, stop_timeout: float = 30
) -> None:
    """Wait until ``url`` answers 200; a server that exits or stays silent is an error with its log."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=10).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or a busy machine
            pass
        time.sleep(0.3)
    stop_group(proc, stop_timeout)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _pg_tool(name: str) -> str:
    for folder in PG_BIN_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(
        f"PostgreSQL's {name} is not installed: apt-get install -y postgresql (make cluster-deps)"
    )


@dataclass(frozen=True)
class Postgres:
    """A running PostgreSQL cluster; ``url`` points at database ``ioc`` as the trusted user ``ioc``."""

    port: int
    folder: Path

    def url(self, database: str = "ioc") -> str:
        return f"postgresql://ioc@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database (a test's own catalog); returns its URL."""
        self.psql("postgres", f'CREATE DATABASE "{name}" OWNER ioc')
        return self.url(name)

    def psql(self, database: str, sql: str) -> str:
        result = subprocess.run(
            [
                _pg_tool("psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "ioc",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout


def _as_postgres_user() -> tuple[list[str], int | None, int | None]:
    """initdb/postgres refuse to run as root: run them as the `postgres` system user then."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError as error:
        raise RuntimeError(
            "running as root needs the `postgres` user: apt-get install -y postgresql"
        ) from error
    return ["runuser", "-u", "postgres", "--"], user.pw_uid, user.pw_gid


@contextmanager
def postgres(folder: Path) -> Iterator[Postgres]:
    prefix, uid, gid = _as_postgres_user()
    folder.mkdir(parents=True, exist_ok=True)
    own_folder = None
    log = folder / "postgres.log"  # written by this process, so it may stay in pytest's folder
    if uid is not None:
        # As root the server runs as `postgres`, which must reach its folder: not inside pytest's
        # temporary tree, which is 0700 for root and which every pytest run sets to 0700 again
        # (a second run would lock a running server out of its own files). A folder of its own
        # under /tmp instead, named in `folder` for whoever looks.
        own_folder = Path(tempfile.mkdtemp(prefix="ioc-postgres-"))
        os.chmod(own_folder, 0o700)
        os.chown(own_folder, uid, gid)
        (folder / "server-folder.txt").write_text(str(own_folder) + "\n")
        folder = own_folder
    data = folder / "pgdata"
    subprocess.run(
        [
            *prefix,
            _pg_tool("initdb"),
            "-D",
            str(data),
            "-U",
            "ioc",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            *prefix,
            _pg_tool("postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(folder),
            "-c",
            "fsync=off",
            "-c",
            "max_connections=300",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),  # noqa: SIM115 - lives as long as the server
    )
    try:
        wait_for_port(port, proc=proc)
        server = Postgres(port, folder)
        for _ in range(50):
            try:
                server.psql("postgres", "CREATE DATABASE ioc OWNER ioc")
                break
            except RuntimeError as error:  # still starting up
                if "starting up" not in str(error):
                    raise
                time.sleep(0.2)
        yield server
    finally:
        stop(proc)
        if own_folder is not None:
            shutil.rmtree(own_folder, ignore_errors=True)


@dataclass(frozen=True)
class Redis:
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@contextmanager
def redis(folder: Path, port: int | None = None) -> Iterator[Redis]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "redis-server is not installed: apt-get install -y redis-server (make cluster-deps)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()  # a given port: the same server again after a stop
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=open(folder / "redis.log", "wb"),
        stderr=subprocess.STDOUT,  # noqa: SIM115
    )
    try:
        wait_for_port(port, proc=proc)
        yield Redis(port)
    finally:
        stop(proc)


@dataclass(frozen=True)
class ObjectStore:
    """moto's S3 server: an S3-compatible endpoint with any key pair accepted."""

    port: int
    access_key_id: str = "ioc-test"
    secret_access_key: str = "ioc-test-secret"
    region: str = "us-east-1"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def create_bucket(self, name: str) -> None:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=f"http://{self.endpoint}",
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        ).create_bucket(Bucket=name)


@contextmanager
def object_store(folder: Path) -> Iterator[ObjectStore]:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=open(folder / "moto.log", "wb"),
        stderr=subprocess.STDOUT,  # noqa: SIM115
    )
    try:
        wait_for_port(port, proc=proc)
        yield ObjectStore(port)
    finally:
        stop(proc)


# -- a conforming OpenID provider: panva's oidc-provider (npm), tests/oidc/provider.js ----------

OIDC_DIR = Path(__file__).resolve().parent / "oidc"


def install_oidc_provider() -> None:
    """``npm ci`` in tests/oidc when its packages are missing or older than the lock file (what
    `make oidc-deps` does). A missing node or npm is an error naming them, never a skip."""
    marker = OIDC_DIR / "node_modules" / ".package-lock.json"
    lock = OIDC_DIR / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError(
            "the OpenID Connect tests need Node.js 18+ and npm (Debian: apt-get install nodejs npm)"
        )
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=OIDC_DIR, check=True, capture_output=True)


@dataclass
class OpenIdProvider:
    """oidc-provider on 127.0.0.1, configured by a JSON file; ``restart`` keeps the port (and so
    the issuer) and takes a new configuration, e.g. other signing keys."""

    folder: Path
    config: dict
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import json

        path = self.folder / "provider.json"
        path.write_text(json.dumps({**self.config, "port": self.port}), encoding="utf-8")
        self.proc = subprocess.Popen(
            ["node", str(OIDC_DIR / "provider.js"), str(path)],
            cwd=OIDC_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"oidc-provider did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop(self.proc)
        self.proc = None

    def restart(self, **changes: object) -> None:
        self.stop()
        self.config = {**self.config, **changes}
        self.start()


@contextmanager
def openid_provider(folder: Path, config: dict) -> Iterator[OpenIdProvider]:
    install_oidc_provider()
    provider = OpenIdProvider(folder, config)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()
