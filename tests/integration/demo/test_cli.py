"""`ioc demo` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ioc.cli import main


def test_ioc_demo_builds_a_store_and_prints_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    argv = ["demo", "--data-dir", str(data_dir), "--schools", "40", "--attendance-days", "5"]
    code = main([*argv, "--probe-days", "1", "--seed", "3", "--today", "2026-03-10"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0].startswith("schools       40 schools")
    assert "demo ready in" in out and "0 rejected" in out
    assert (data_dir / "demo_source" / "connectivity_2026-03-10.parquet").exists()
    assert (data_dir / "lake" / "catalog.sqlite").exists()
    # the alert rules ran over the demo's school days, so the wall and /alerts show them at once
    assert "alerts evaluated over 5 school days" in out
    # --data-dir after a nested command (`ioc alerts list`), as after `ioc kpi`
    assert main(["alerts", "list", "--status", "all", "--data-dir", str(data_dir)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert isinstance(listed["alerts"], list)
    assert main(["alerts", "evaluate", "--no-notify", "--data-dir", str(data_dir)]) == 0
    assert "evaluated 1 school day(s) 2026-03-10 .. 2026-03-10" in capsys.readouterr().out


def test_settings_give_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("IOC_DEMO_SCHOOLS", "25")
    monkeypatch.setenv("IOC_DEMO_PROBE_DAYS", "0")
    code = main(["demo", "--data-dir", str(tmp_path), "--attendance-days", "2", "--today", "2026-03-10"])
    out = capsys.readouterr().out
    assert code == 0
    assert "25 schools" in out and "0 probes over 0 days" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--today", "10/03/2026"], "not a date as YYYY-MM-DD"),
        (["--today", "2025-01-15"], "today must be >= 2025-07-01"),
        (["--schools", "0"], "--schools must be >= 1"),
    ],
)
def test_bad_arguments_exit_2_with_a_reason(tmp_path: Path, capsys, argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--data-dir", str(tmp_path), *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
