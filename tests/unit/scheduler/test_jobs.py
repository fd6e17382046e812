"""Job configuration: the sample file parses; every kind of mistake is an error naming the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.jobs import (
    ConfigError,
    DropFolderSpec,
    HttpSpec,
    MaintenanceSpec,
    load_config,
    parse_config,
    parse_duration,
    prune_files,
)

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "config" / "scheduler.example.toml"


def test_sample_configuration_parses(tmp_path: Path) -> None:
    config = load_config(SAMPLE, tmp_path)
    assert [j.id for j in config.jobs] == ["inbox", "sector-api-connectivity", "maintenance"]
    assert config.timezone == "Asia/Ho_Chi_Minh"
    inbox, api, maintenance = config.jobs
    assert isinstance(inbox.options, DropFolderSpec) and inbox.options.folder == tmp_path / "inbox"
    assert inbox.schedule.every_seconds == 30 and inbox.run_at_start
    assert isinstance(api.options, HttpSpec)
    assert api.options.token_env == "IOC_SECTOR_API_TOKEN" and api.options.max_bytes == 50_000_000
    assert api.schedule.cron == "*/5 * * * *" and api.options.backoff_seconds == 2
    assert isinstance(maintenance.options, MaintenanceSpec) and not maintenance.run_at_start
    assert maintenance.options.archive_retention_days == 180


def test_json_configuration_and_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    assert load_config(None, data_dir).origin == "built-in defaults"
    (data_dir / "scheduler.toml").write_text(
        '[[jobs]]\nid = "drop"\nkind = "drop_folder"\nschedule = "10s"\n', encoding="utf-8"
    )
    assert [j.id for j in load_config(None, data_dir).jobs] == ["drop"]
    other = tmp_path / "jobs.json"
    other.write_text(json.dumps({"jobs": [{"id": "m", "kind": "maintenance", "schedule": "0 3 * * *"}]}))
    monkeypatch.setenv("IOC_SCHEDULER_CONFIG", str(other))
    assert [j.id for j in load_config(None, data_dir).jobs] == ["m"]


def _ioc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ioc.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_default_configuration(tmp_path: Path) -> None:
    """`ioc scheduler` registers the product's kinds (ioc/jobs.py), whose jobs join ingestion's."""
    result = _ioc("scheduler", "--check", "--data-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = [line.split()[:2] for line in result.stdout.splitlines()[1:]]
    assert result.stdout.startswith("configuration built-in defaults: 4 job(s)")
    assert listed == [
        ["inbox", "drop_folder"],
        ["maintenance", "maintenance"],
        ["notify", "notify"],
        ["reports", "reports"],
    ]


def test_ingestion_alone_knows_only_its_own_kinds(tmp_path: Path) -> None:
    """Without the product (no ioc.jobs imported) the built-in jobs are ingestion's, and a file
    naming a product kind is refused with the kinds it may name."""
    code = (
        "import sys; from pathlib import Path; from ingest.jobs import default_config; "
        "print([(j.id, j.kind) for j in default_config(Path(sys.argv[1])).jobs]); "
        "print('ioc.jobs' in sys.modules, 'ioc.notify' in sys.modules, 'ioc.auth.db' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.splitlines() == [
        "[('inbox', 'drop_folder'), ('maintenance', 'maintenance')]",
        "False False False",
    ]


def test_a_file_naming_the_product_kinds_still_parses(tmp_path: Path) -> None:
    (tmp_path / "scheduler.toml").write_text(
        '[[jobs]]\nid = "mail"\nkind = "notify"\nschedule = "1m"\n\n'
        '[[jobs]]\nid = "pdf"\nkind = "reports"\nschedule = "0 7 * * mon"\n',
        encoding="utf-8",
    )
    result = _ioc("scheduler", "--check", "--data-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [line.split()[:2] for line in result.stdout.splitlines()[1:]] == [
        ["mail", "notify"],
        ["pdf", "reports"],
    ]


def _job(**fields: object) -> dict:
    return {"jobs": [{"id": "j", "kind": "drop_folder", "schedule": {"every": "30s"}, **fields}]}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"jobs": []}, "no [[jobs]] configured"),
        (_job(folder_name="x"), "job 'j': unknown key 'folder_name'"),
        (_job(schedule={"every": "30s", "cron": "* * * * *"}), "exactly one of 'cron'"),
        (_job(schedule={"cron": "61 * * * *"}), "not a valid crontab expression"),
        (_job(schedule={"every": "soon"}), "expected a duration like '30s'"),
        (_job(kind="ftp"), "'kind' must be one of drop_folder, http_json, maintenance"),
        (_job(id="bad id"), "'id' may hold letters"),
        (_job(settle=True), "expected a duration"),
        ({"jobs": [{"kind": "maintenance", "schedule": "1h"}]}, "jobs[0]: 'id' is required"),
        (
            {
                "jobs": [
                    {"id": "a", "kind": "maintenance", "schedule": "1h"},
                    {"id": "a", "kind": "maintenance", "schedule": "1h"},
                ]
            },
            "job 'a': the id is used by another job",
        ),
        (
            {"scheduler": {"timezone": "Mars/Olympus"}, **_job()},
            "timezone 'Mars/Olympus' is not a known time zone",
        ),
        ({"scheduler": {"workers": "four"}, **_job()}, "'workers' must be int"),
    ],
)
def test_configuration_errors_name_the_key(tmp_path: Path, raw: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(raw, tmp_path, "jobs.toml")
    assert expected in str(error.value)
    assert str(error.value).startswith("jobs.toml")


def _http(**fields: object) -> dict:
    job = {
        "id": "api",
        "kind": "http_json",
        "schedule": "5m",
        "url": "http://127.0.0.1:9/x",
        "dataset": "connectivity",
    }
    return {"jobs": [{**job, **fields}]}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (_http(token="s3cret"), "never write a secret into the configuration"),
        (_http(headers={"Authorization": "Bearer x"}), "header 'Authorization' cannot be set"),
        (_http(url="ftp://x"), "'url' must start with http:// or https://"),
        (_http(dataset="grades"), "'dataset' must be one of schools, attendance, digital, connectivity"),
        (_http(token_env="MY-TOKEN"), "'token_env' must name an environment variable"),
        (_http(max_bytes=0), "'max_bytes' and 'max_pages' >= 1"),
        (
            {"jobs": [{"id": "api", "kind": "http_json", "schedule": "5m", "dataset": "connectivity"}]},
            "'url' is required",
        ),
    ],
)
def test_http_source_errors(tmp_path: Path, raw: dict, expected: str) -> None:
    with pytest.raises(ConfigError, match=None) as error:
        parse_config(raw, tmp_path, "jobs.toml")
    assert expected in str(error.value)


def test_two_jobs_cannot_watch_one_folder(tmp_path: Path) -> None:
    raw = {
        "jobs": [
            {"id": "a", "kind": "drop_folder", "schedule": "1m"},
            {"id": "b", "kind": "drop_folder", "schedule": "1m", "folder": str(tmp_path / "inbox")},
        ]
    }
    with pytest.raises(ConfigError, match="two drop_folder jobs watch the same folder"):
        parse_config(raw, tmp_path)


def test_unreadable_or_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the scheduler configuration"):
        load_config(tmp_path / "missing.toml", tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("[[jobs]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, tmp_path)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (30, 30.0),
        ("30s", 30.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("250ms", 0.25),
        ("1.5 m", 90.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text, "x") == seconds


def test_schedule_periods(tmp_path: Path) -> None:
    config = load_config(SAMPLE, tmp_path)
    assert config.job("inbox").schedule.period_seconds(config.timezone) == 30
    assert config.job("sector-api-connectivity").schedule.period_seconds(config.timezone) == 300
    assert config.job("maintenance").schedule.period_seconds(config.timezone) == 86400


def test_prune_files_removes_only_old_files(tmp_path: Path) -> None:
    old = tmp_path / "a" / "old.csv"
    old.parent.mkdir()
    old.write_text("x")
    new = tmp_path / "new.csv"
    new.write_text("y")
    ten_days = time.time() - 10 * 86400
    os.utime(old, (ten_days, ten_days))
    assert prune_files(tmp_path, 5) == 1
    assert not old.exists() and new.exists()
    assert prune_files(tmp_path / "missing", 5) == 0
