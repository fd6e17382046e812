"""The store on a PostgreSQL catalog (a real server, tests/servers.py): the golden KPI answers are
the ones of the embedded store, writers and readers in several processes, data versions,
`ioc store migrate`, and clear errors for a bad IOC_CATALOG_URL.

The hand-checked golden tests of tests/unit/metrics (test_known_answers.py, test_scope.py) run
here again, unchanged, with their ``seed`` fixture replaced by the same seed built on PostgreSQL.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from ioc.cli import main
from ioc.metrics.engine import compute
from ioc.metrics.query import KpiQuery
from ioc.store import Store, StoreError, mask_url, store_exists
from tests.integration.cluster.store_answers import answers, assert_same_answers, seed_module

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = [
    ROOT / "tests" / "unit" / "metrics" / "test_known_answers.py",
    ROOT / "tests" / "unit" / "metrics" / "test_scope.py",
]


def _import_golden_tests() -> int:
    """Collect every test of the golden modules that reads the ``seed`` store into this module."""
    count = 0
    for path in GOLDEN:
        spec = importlib.util.spec_from_file_location(f"golden_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, fn in vars(module).items():
            if name.startswith("test_") and "seed" in inspect.signature(fn).parameters:
                globals()[f"{name}__on_postgres"] = fn
                count += 1
    return count


GOLDEN_TESTS = _import_golden_tests()


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pg_seed(postgres_server, tmp_path_factory):
    """The metrics seed built through the real ingestion path into a DuckLake on PostgreSQL."""
    url = postgres_server.create_database("golden_seed")
    store = seed_module().build(tmp_path_factory.mktemp("pg-seed") / "data", catalog_url=url)
    yield store
    store.close()


@pytest.fixture(scope="module")
def seed(pg_seed):
    """The golden tests imported above read this store (the PostgreSQL one)."""
    return pg_seed


@pytest.fixture(scope="module")
def embedded_seed(tmp_path_factory):
    store = seed_module().build(tmp_path_factory.mktemp("embedded-seed") / "data")
    yield store
    store.close()


@pytest.fixture(scope="module")
def embedded_answers(embedded_seed):
    return answers(embedded_seed)


def test_the_golden_tests_were_imported():
    assert GOLDEN_TESTS >= 30


# -- the same answers -------------------------------------------------------------------------------
def test_the_seed_is_on_postgres(pg_seed, postgres_server):
    assert pg_seed.location.is_postgres
    assert not pg_seed.layout.catalog.exists()  # no SQLite catalog was made
    tables = postgres_server.psql(
        "golden_seed", "SELECT count(*) FROM ducklake_table WHERE end_snapshot IS NULL"
    )
    assert int(tables) >= 12
    assert pg_seed.identity.startswith("postgres://127.0.0.1:")
    loaded = {
        r[0] for r in pg_seed.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").rows
    }
    assert {"ducklake", "postgres_scanner"} <= loaded
    assert not {"sqlite_scanner", "httpfs"} & loaded  # only what this configuration needs


def test_every_kpi_answer_equals_the_embedded_store(pg_seed, embedded_answers):
    # equal up to the last bit of a float sum (DuckDB adds in parallel, in no fixed order)
    assert_same_answers(embedded_answers, answers(pg_seed), rel=1e-12)


def test_time_travel_on_postgres(pg_seed):
    history = [row[0] for row in pg_seed.snapshots().rows]
    now = compute(pg_seed, KpiQuery("attendance_rate", by="district"))

    # the last data version before the first attendance file: schools loaded, no attendance yet
    def counts(version):
        try:
            return tuple(
                pg_seed.execute(f"SELECT count(*) FROM {t} AT (VERSION => {version})").scalar()  # noqa: S608
                for t in ("schools", "attendance")
            )
        except duckdb.Error:  # before the tables existed
            return (0, 0)

    early = max(v for v in history if counts(v)[0] > 0 and counts(v)[1] == 0)
    past = compute(pg_seed, KpiQuery("attendance_rate", snapshot=early))
    assert past.data_version == early
    assert now.data_version == pg_seed.data_version() > early
    assert all(row.value is None for row in past.rows)


# -- data versions ----------------------------------------------------------------------------------
def test_data_version_increases_on_commit_and_other_stores_see_it(postgres_server, tmp_path):
    url = postgres_server.create_database("versions")
    writer = Store(tmp_path / "a", catalog_url=url)
    reader = Store(tmp_path / "b", catalog_url=url, read_only=True)  # another node: its own data dir
    try:
        before = writer.data_version()
        assert reader.data_version() == before
        writer.write(lambda cur: cur.execute("CREATE TABLE scratch (i INTEGER)"))
        writer.write(lambda cur: cur.execute("INSERT INTO scratch VALUES (1), (2)"))
        after = writer.data_version()
        assert after == before + 2
        assert reader.data_version() == after  # no caching between nodes
        assert reader.execute("SELECT count(*) FROM scratch").scalar() == 2
        assert reader.ping() == after
        assert reader.data_path == writer.data_path == f"{tmp_path / 'a' / 'lake' / 'files'}/"
    finally:
        writer.close()
        reader.close()


def test_data_version_is_cheap_on_postgres(pg_seed):
    """It is asked on every cached answer: one indexed query on this thread's own connection,
    several times cheaper than asking DuckDB for the current snapshot."""

    def mean_ms(fn, n=200):
        fn()
        started = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - started) / n * 1000

    direct = mean_ms(pg_seed.data_version)
    via_duckdb = mean_ms(lambda: pg_seed.execute("SELECT id FROM lake.current_snapshot()").scalar())
    assert pg_seed.data_version() == pg_seed.execute("SELECT id FROM lake.current_snapshot()").scalar()
    assert direct * 3 < via_duckdb, (direct, via_duckdb)


def test_a_fresh_postgres_store_is_migrated_on_first_open(postgres_server, tmp_path):
    from ioc import migrations

    url = postgres_server.create_database("fresh")
    assert not store_exists(tmp_path, catalog_url=url)
    with Store(tmp_path, catalog_url=url) as store:
        assert migrations.current_version(store) == migrations.LATEST
        assert store.has_table("connectivity_daily")
    assert store_exists(tmp_path, catalog_url=url)
    with Store(tmp_path, catalog_url=url, read_only=True) as again:  # opens without migrating again
        assert migrations.current_version(again) == migrations.LATEST


def test_data_version_reconnects_after_its_connection_is_killed(postgres_server, tmp_path):
    url = postgres_server.create_database("reconnect")
    with Store(tmp_path, catalog_url=url) as store:
        version = store.data_version()
        postgres_server.psql(
            "postgres",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = 'reconnect' AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
        )
        assert store.data_version() == version


def test_ping_names_the_setting_when_the_catalog_is_gone(postgres_server, tmp_path):
    url = postgres_server.create_database("gone")
    store = Store(tmp_path, catalog_url=url)
    try:
        assert store.ping() >= 1
        postgres_server.psql("postgres", "DROP DATABASE gone WITH (FORCE)")
        with pytest.raises(StoreError, match="IOC_CATALOG_URL: .*database does not exist"):
            store.ping()
    finally:
        store.close()


# -- a writer and readers in separate processes ---------------------------------------------------
WRITER = """
import sys, time
from ioc.store import Store
store = Store(sys.argv[1], catalog_url=sys.argv[2])
store.write(lambda cur: cur.execute("CREATE TABLE IF NOT EXISTS batches (batch INTEGER, i INTEGER, payload VARCHAR)"))
for batch in range(int(sys.argv[3])):
    # one transaction = one Parquet file of 5000 rows; readers must see all of it or none of it
    store.write(lambda cur, b=batch: cur.execute(
        "INSERT INTO batches SELECT ?, range, repeat('x', 50) FROM range(5000)", [b]))
    time.sleep(0.2)
print("written", store.data_version())
"""

READER = """
import json, sys, time
from ioc.store import Store
store = Store(sys.argv[1], catalog_url=sys.argv[2], read_only=True)
open(sys.argv[5], "w").close()  # ready: the store is open
deadline = time.monotonic() + float(sys.argv[3])
seen, last_version, last_rows, partial, backwards = set(), 0, 0, 0, 0
while time.monotonic() < deadline:
    version = store.data_version()
    if version < last_version:
        backwards += 1
    last_version = version
    if not store.has_table("batches"):
        continue
    rows = store.execute("SELECT batch, count(*), count(DISTINCT i) FROM batches GROUP BY batch").rows
    partial += sum(1 for _, n, distinct in rows if n != 5000 or distinct != 5000)
    total = sum(n for _, n, _ in rows)
    if total < last_rows:
        backwards += 1
    last_rows = total
    seen.add(len(rows))
    if len(rows) == int(sys.argv[4]):
        break
print(json.dumps({"states": sorted(seen), "partial": partial, "backwards": backwards, "version": last_version}))
"""


def test_one_writer_and_readers_in_other_processes(postgres_server, tmp_path):
    url = postgres_server.create_database("concurrent")
    Store(tmp_path / "w", catalog_url=url).close()  # create and migrate the lake first
    batches = 12
    readers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(READER),
                str(tmp_path / f"r{i}"),
                url,
                "120",
                str(batches),
                str(tmp_path / f"ready{i}"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for i in range(2)
    ]
    deadline = time.monotonic() + 120  # both readers have opened the store before the writer starts
    while not all((tmp_path / f"ready{i}").exists() for i in range(2)):
        assert time.monotonic() < deadline and all(p.poll() is None for p in readers), (
            "a reader did not start"
        )
        time.sleep(0.1)
    writer = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(WRITER), str(tmp_path / "w"), url, str(batches)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert writer.returncode == 0, writer.stderr
    for proc in readers:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        report = json.loads(out)
        assert report["partial"] == 0, report  # never part of a commit
        assert report["backwards"] == 0, report  # versions and row counts never go back
        assert report["states"][-1] == batches  # the reader saw the last commit
        assert len(report["states"]) >= 3, report  # and read while the writer was writing


# -- ioc store migrate ------------------------------------------------------------------------------
def test_migrate_the_embedded_store_to_postgres(
    embedded_seed, embedded_answers, postgres_server, tmp_path, capsys
):
    url = postgres_server.create_database("moved")
    target_files = tmp_path / "shared" / "files"
    data_dir = str(embedded_seed.layout.root)
    source_counts = {
        name: embedded_seed.execute(f'SELECT count(*) FROM "{name}"').scalar()  # noqa: S608
        for (name,) in embedded_seed.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake'"
        ).rows
    }
    secret_url = url.replace("ioc@", "ioc:s3cr3t-pw@")  # a password (trust auth ignores it) never printed
    code = main(
        ["store", "migrate", "--data-dir", data_dir, "--to", secret_url, "--data-path", str(target_files)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "s3cr3t-pw" not in out and "ioc:***@" in out
    assert f"IOC_DATA_PATH={target_files}/" in out
    assert "ioc users copy-to-postgres --to postgresql://ioc:***@" in out  # the accounts step, named
    assert "row counts verified" in out
    for name, n in source_counts.items():
        assert f"{name} " in out and f" {n} rows  ok" in out
    assert list(target_files.rglob("*.parquet"))  # the data files were written to the new path
    with Store(data_dir, catalog_url=url) as moved:  # IOC_DATA_PATH may stay empty: the catalog knows it
        assert moved.data_path == f"{target_files}/"
        for name, n in source_counts.items():
            assert moved.execute(f'SELECT count(*) FROM "{name}"').scalar() == n  # noqa: S608
        # the copy's files are laid out anew, so float sums may differ in the last bit
        assert_same_answers(embedded_answers, answers(moved), rel=1e-12)

    # a target that already holds a lake is refused ...
    code = None
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "store",
                "migrate",
                "--data-dir",
                data_dir,
                "--to",
                secret_url,
                "--data-path",
                str(tmp_path / "x"),
            ]
        )
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert "--to:" in err and "already holds a DuckLake catalog" in err and "--force" in err
    assert "s3cr3t-pw" not in err
    # ... unless --force
    code = main(
        [
            "store",
            "migrate",
            "--data-dir",
            data_dir,
            "--to",
            url,
            "--data-path",
            str(tmp_path / "x"),
            "--force",
        ]
    )
    assert code == 0
    with Store(data_dir, catalog_url=url, read_only=True) as replaced:
        assert replaced.data_path == f"{tmp_path / 'x'}/"
        assert replaced.execute("SELECT count(*) FROM schools").scalar() == source_counts["schools"]


def test_migrate_refuses_the_source_files_folder_and_a_bad_url(embedded_seed, postgres_server):
    from ioc.storemove import migrate_store

    url = postgres_server.create_database("refused")
    with pytest.raises(StoreError, match="--data-path: .* holds the source store's files"):
        migrate_store(embedded_seed, url, str(embedded_seed.layout.files))
    with pytest.raises(StoreError, match="--to: the catalog must be a postgresql://"):
        migrate_store(embedded_seed, "mysql://u:p@h/db")
    assert (
        postgres_server.psql(
            "refused", "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'ducklake%'"
        ).strip()
        == "0"
    )


# -- bad configuration ------------------------------------------------------------------------------
# a password with what needs quoting in a URL, a libpq string and a SQL literal
RIGHT_PASSWORD = "it's the r1ght one @/:% \\"


def _password_role(postgres_server, role: str, password: str = RIGHT_PASSWORD) -> None:
    """A role that must give its password (the test server trusts everyone else)."""
    hba = postgres_server.folder / "pgdata" / "pg_hba.conf"
    line = f"host all {role} 127.0.0.1/32 scram-sha-256\n"
    text = hba.read_text()
    if line not in text:
        hba.write_text(line + text)
        quoted = password.replace("'", "''")
        postgres_server.psql("postgres", f"CREATE ROLE {role} LOGIN PASSWORD '{quoted}'")
        postgres_server.psql("postgres", "SELECT pg_reload_conf()")
    import psycopg

    deadline = time.monotonic() + 10  # the postmaster reloads pg_hba.conf asynchronously
    while True:
        try:
            psycopg.connect(postgres_server.url("postgres").replace("ioc@", f"{role}:not-it@")).close()
        except psycopg.OperationalError as error:
            if "password authentication failed" in str(error):
                return
        assert time.monotonic() < deadline, "pg_hba.conf was not reloaded"
        time.sleep(0.1)


def test_wrong_password_names_the_setting_and_hides_the_password(postgres_server, tmp_path):
    _password_role(postgres_server, "ioc_pw")
    url = postgres_server.url("ioc").replace("ioc@", "ioc_pw:wrong-one@")
    with pytest.raises(StoreError) as error:
        Store(tmp_path, catalog_url=url)
    text = str(error.value)
    assert text.startswith("IOC_CATALOG_URL: cannot connect")
    assert "wrong user name or password" in text
    assert "wrong-one" not in text and "ioc_pw:***@" in text


def test_the_right_password_opens_the_store(postgres_server, tmp_path):
    from urllib.parse import quote

    _password_role(postgres_server, "ioc_pw")
    postgres_server.psql("postgres", 'CREATE DATABASE "with_password" OWNER ioc_pw')
    url = postgres_server.url("with_password").replace("ioc@", f"ioc_pw:{quote(RIGHT_PASSWORD, safe='')}@")
    with Store(tmp_path, catalog_url=url) as store:
        store.write(lambda cur: cur.execute("CREATE TABLE t AS SELECT 1 AS one"))
        assert store.execute("SELECT one FROM t").scalar() == 1
        assert store.data_version() == store.ping() >= 1
        assert "r1ght" not in store.describe() and "r1ght" not in store.identity
        assert "ioc_pw:***@" in store.describe()
        # the password is passed as a DuckDB secret, never in the ATTACH string
        paths = " ".join(str(r[0]) for r in store.execute("SELECT path FROM duckdb_databases()").rows)
        assert "r1ght" not in paths


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:pw@127.0.0.1/ioc", "IOC_CATALOG_URL: the catalog must be a postgresql://"),
        ("postgresql://u:pw@127.0.0.1:5432", "IOC_CATALOG_URL: name the catalog database"),
        ("postgresql://u:pw@127.0.0.1:99999/ioc", "IOC_CATALOG_URL: not a valid URL"),
        ("sqlite:///tmp/x.sqlite", "IOC_CATALOG_URL: the catalog must be a postgresql://"),
    ],
)
def test_bad_catalog_urls(tmp_path, url, message):
    with pytest.raises(StoreError, match=message) as error:
        Store(tmp_path, catalog_url=url)
    assert ":pw@" not in str(error.value)


def test_unreachable_server_and_missing_database(postgres_server, tmp_path):
    from tests.servers import free_port

    with pytest.raises(StoreError, match=r"IOC_CATALOG_URL: .*the server is unreachable") as error:
        Store(tmp_path, catalog_url=f"postgresql://ioc:hidden@127.0.0.1:{free_port()}/ioc")
    assert "hidden" not in str(error.value)
    with pytest.raises(StoreError, match="IOC_CATALOG_URL: .*the database does not exist"):
        Store(tmp_path, catalog_url=postgres_server.url("no_such_database"))


def test_ioc_kpi_reports_a_bad_catalog_without_a_traceback(postgres_server, tmp_path, monkeypatch):
    from tests.servers import free_port

    monkeypatch.setenv("IOC_CATALOG_URL", f"postgresql://ioc:hidden@127.0.0.1:{free_port()}/ioc")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ioc"), "kpi", "attendance_rate", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "IOC_CATALOG_URL" in result.stderr and "unreachable" in result.stderr
    assert "Traceback" not in result.stderr and "hidden" not in result.stderr
    monkeypatch.setenv("IOC_CATALOG_URL", postgres_server.create_database("empty_for_kpi"))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ioc"), "kpi", "attendance_rate", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2 and "IOC_CATALOG_URL: no store in the PostgreSQL catalog" in result.stderr
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ioc"), "maintain", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**__import__("os").environ, "IOC_CATALOG_URL": "mysql://u:hidden@h/db"},
    )
    assert result.returncode == 1 and "ioc maintain: error: IOC_CATALOG_URL" in result.stderr
    assert "Traceback" not in result.stderr and "hidden" not in result.stderr


def test_a_second_data_path_is_refused(postgres_server, tmp_path):
    url = postgres_server.create_database("one_path")
    Store(tmp_path / "a", catalog_url=url, data_path=str(tmp_path / "shared")).close()
    with Store(tmp_path / "b", catalog_url=url) as node:  # empty IOC_DATA_PATH: the stored one
        assert node.data_path == f"{tmp_path / 'shared'}/"
    with pytest.raises(StoreError, match="IOC_DATA_PATH: the catalog .* keeps its data files in"):
        Store(tmp_path / "c", catalog_url=url, data_path=str(tmp_path / "elsewhere"))
    assert not (tmp_path / "elsewhere").exists()


def test_mask_url():
    assert (
        mask_url("postgresql://u:p%40ss@h:5/db?sslmode=require")
        == "postgresql://u:***@h:5/db?sslmode=require"
    )
    assert mask_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_url("postgresql://h/db") == "postgresql://h/db"


def test_a_location_never_shows_its_password(tmp_path):
    from ioc.store import Layout, Location

    location = Location.from_settings(Layout(tmp_path), "postgresql://u:hunter2@h:5432/db", "")
    for text in (repr(location), str(location), location.describe(), location.catalog_text):
        assert "hunter2" not in text and "u:***@h:5432/db" in text
