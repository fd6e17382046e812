"""Data files on S3-compatible object storage (moto's server on 127.0.0.1, tests/servers.py), with
the PostgreSQL catalog and with the embedded SQLite catalog: ingestion writes the Parquet files
to the bucket and the KPI answers are the embedded store's; a missing bucket or a bad data path
is a clear error that never shows the secret key."""

from __future__ import annotations

import boto3
import pytest

from ioc.cli import main
from ioc.metrics.engine import compute
from ioc.metrics.query import KpiQuery
from ioc.store import Store, StoreError
from tests.integration.cluster.store_answers import answers, assert_same_answers, seed_module

SECRET_KEY = "ioc-test-secret"  # tests/servers.py ObjectStore.secret_access_key


@pytest.fixture(scope="module")
def s3_env(s3_server):
    """The IOC_S3_* settings pointing at the test server (for the whole module)."""
    assert s3_server.secret_access_key == SECRET_KEY
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IOC_S3_ENDPOINT", s3_server.endpoint)
        mp.setenv("IOC_S3_REGION", s3_server.region)
        mp.setenv("IOC_S3_ACCESS_KEY_ID", s3_server.access_key_id)
        mp.setenv("IOC_S3_SECRET_ACCESS_KEY", s3_server.secret_access_key)
        mp.setenv("IOC_S3_URL_STYLE", "path")
        mp.setenv("IOC_S3_USE_SSL", "false")
        yield s3_server


def _keys(s3_server, bucket: str, prefix: str) -> list[str]:
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{s3_server.endpoint}",
        region_name=s3_server.region,
        aws_access_key_id=s3_server.access_key_id,
        aws_secret_access_key=s3_server.secret_access_key,
    )
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.fixture(scope="module")
def embedded_answers(tmp_path_factory):
    store = seed_module().build(tmp_path_factory.mktemp("s3-embedded") / "data")
    try:
        yield answers(store)
    finally:
        store.close()


@pytest.fixture(scope="module", params=["postgres", "sqlite"])
def s3_seed(request, s3_env, postgres_server, tmp_path_factory):
    """The metrics seed ingested with its data files in a bucket, on either catalog."""
    bucket = f"lake-{request.param}"
    s3_env.create_bucket(bucket)
    catalog_url = postgres_server.create_database("s3_seed") if request.param == "postgres" else ""
    data_dir = tmp_path_factory.mktemp(f"s3-{request.param}") / "data"
    store = seed_module().build(data_dir, catalog_url=catalog_url, data_path=f"s3://{bucket}/ioc")
    yield store, bucket
    store.close()


def test_ingestion_writes_the_files_to_the_bucket(s3_seed, s3_env):
    store, bucket = s3_seed
    assert store.data_path == f"s3://{bucket}/ioc/"
    keys = _keys(s3_env, bucket, "ioc/")
    # (DuckLake keeps very small inserts inline in the catalog; the probes make a Parquet file)
    assert any(k.startswith("ioc/main/connectivity/") and k.endswith(".parquet") for k in keys), keys
    assert not list(store.layout.files.rglob("*.parquet"))  # nothing written locally
    loaded = {r[0] for r in store.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").rows}
    assert {"ducklake", "httpfs"} <= loaded
    # the hand-checked answer of the seed (tests/unit/metrics/test_known_answers.py): 230 / 300
    row = compute(store, KpiQuery("attendance_rate")).rows[0]
    assert (row.numerator, row.denominator, row.schools_reporting) == (230, 300, 2)


def test_every_kpi_answer_equals_the_embedded_store(s3_seed, embedded_answers):
    store, _ = s3_seed
    # equal up to the last bit of a float sum (DuckDB adds in parallel, in no fixed order)
    assert_same_answers(embedded_answers, answers(store), rel=1e-12)


def test_another_node_reads_the_bucket(s3_seed, tmp_path):
    store, bucket = s3_seed
    other = Store(
        tmp_path if store.location.is_postgres else store.layout.root,
        catalog_url=store.location.catalog_url,
        data_path=f"s3://{bucket}/ioc/",
        read_only=True,
    )
    try:
        assert other.data_version() == store.data_version()
        assert other.execute("SELECT count(*) FROM connectivity").scalar() == 14
    finally:
        other.close()


def test_maintenance_on_the_bucket(s3_seed):
    store, bucket = s3_seed
    before = compute(store, KpiQuery("bandwidth_coverage", by="district")).to_json()["rows"]
    store.maintain()  # merge, expire, cleanup and orphan removal all work on object storage
    after = compute(store, KpiQuery("bandwidth_coverage", by="district")).to_json()["rows"]
    assert after == before


def test_missing_bucket_names_the_setting_and_hides_the_secret(s3_env, tmp_path):
    with pytest.raises(StoreError) as error:
        Store(tmp_path, data_path="s3://no-such-bucket/ioc/")
    text = str(error.value)
    assert text.startswith("IOC_DATA_PATH: cannot use s3://no-such-bucket/ioc/ on 127.0.0.1:")
    assert "NoSuchBucket" in text or "404" in text
    assert SECRET_KEY not in text


@pytest.mark.parametrize(
    ("data_path", "message"),
    [
        ("gs://bucket/x/", "IOC_DATA_PATH: a folder or s3://bucket/prefix/ is supported, got scheme 'gs'"),
        ("s3:///x/", "IOC_DATA_PATH: name the bucket"),
    ],
)
def test_bad_data_paths(tmp_path, data_path, message):
    with pytest.raises(StoreError, match=message):
        Store(tmp_path, data_path=data_path)


def test_unreachable_endpoint(s3_env, tmp_path, monkeypatch):
    from tests.servers import free_port

    monkeypatch.setenv("IOC_S3_ENDPOINT", f"127.0.0.1:{free_port()}")
    with pytest.raises(StoreError, match="IOC_DATA_PATH: cannot use s3://any/ioc/") as error:
        Store(tmp_path, data_path="s3://any/ioc")
    assert SECRET_KEY not in str(error.value)


def test_migrate_an_embedded_store_to_postgres_and_the_bucket(s3_env, postgres_server, tmp_path, capsys):
    source = seed_module().build(tmp_path / "data")
    try:
        expected = answers(source, kpis=["attendance_rate", "bandwidth_coverage", "digital_readiness"])
    finally:
        source.close()
    s3_env.create_bucket("moved")
    url = postgres_server.create_database("s3_moved")
    code = main(
        [
            "store",
            "migrate",
            "--data-dir",
            str(tmp_path / "data"),
            "--to",
            url,
            "--data-path",
            "s3://moved/lake",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "row counts verified" in out and "IOC_DATA_PATH=s3://moved/lake/" in out
    assert any(k.endswith(".parquet") for k in _keys(s3_env, "moved", "lake/main/"))
    with Store(tmp_path / "node2", catalog_url=url, read_only=True) as moved:
        assert moved.data_path == "s3://moved/lake/"
        got = answers(moved, kpis=["attendance_rate", "bandwidth_coverage", "digital_readiness"])
    assert_same_answers(expected, got, rel=1e-12)
