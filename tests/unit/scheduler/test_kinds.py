"""Job kinds are plug-ins chosen by name: a module named in IOC_SOURCE_PLUGINS registers a source
kind the way the built-in ones are registered, and the scheduler runs it from its configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.health_record import load_source_state
from ingest.jobs import ConfigError, parse_config
from ingest.kinds import job_kinds
from ingest.scheduler import JobRunner
from ioc import jobs as product_jobs  # registers notify and reports, as `ioc scheduler` does

GOOD = Path(__file__).resolve().parents[2] / "fixtures" / "ingest" / "good"

PLUGIN = '''
from dataclasses import replace

from ingest.kinds import JobKind, register
from ingest.jobs import JobOutcome
from ingest.load import ingest_records


@register
class Fixed(JobKind):
    """A source of fixed attendance records (a stand-in for, say, a ministry's export)."""

    name = "fixed_attendance"
    source = True

    def parse(self, reader, data_dir):
        return {"day": reader.require("day"), "present": reader.get("present", 90, kind=int)}

    def describe(self, options):
        return "attendance", "fixed://" + options["day"]

    def run(self, runner, job, state):
        records = [
            {"date": job.options["day"], "school_id": s, "enrolled": 100, "present": job.options["present"]}
            for s in ("S001", "S002", "S003")
        ]
        with runner.write_lock:
            result = ingest_records(runner.store, "attendance", records, source=job.id, name="fixed")
        outcome = JobOutcome("success", items_seen=1, items_loaded=1, rows_loaded=result.rows_loaded)
        return outcome, replace(state, cursor=job.options["day"])  # the day is loaded: the source's cursor
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "fixed_source_plugin.py").write_text(PLUGIN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("IOC_SOURCE_PLUGINS", "fixed_source_plugin")
    return "fixed_attendance"


def test_the_built_in_kinds_are_registered_by_name() -> None:
    kinds = job_kinds()
    assert {"drop_folder", "http_json", "maintenance", "notify", "reports"} <= set(kinds)
    assert type(kinds["notify"]) is product_jobs.Notify and type(kinds["reports"]) is product_jobs.Reports
    assert {name for name, k in kinds.items() if k.source} >= {"drop_folder", "http_json"}
    assert not kinds["maintenance"].source and not kinds["maintenance"].run_at_start


def test_a_plug_in_source_is_chosen_by_name_and_run_by_the_scheduler(store, plugin: str) -> None:
    from ingest.load import ingest_file

    assert ingest_file(store, GOOD / "schools_2025-07-01.csv").status == "loaded"
    config = parse_config(
        {"jobs": [{"id": "ministry", "kind": plugin, "schedule": "1h", "day": "2026-11-25", "present": 80}]},
        store.layout.root,
    )
    outcome = JobRunner(store, config, echo=lambda line: None).run_job("ministry")
    assert (outcome.status, outcome.rows_loaded) == ("success", 3)
    assert store.execute("SELECT count(*), sum(present) FROM attendance").rows == [(3, 240)]
    state = load_source_state(store, "ministry")
    assert state is not None
    assert (state.kind, state.dataset, state.location, state.cursor) == (
        plugin,
        "attendance",
        "fixed://2026-11-25",
        "2026-11-25",
    )


def test_an_unknown_option_of_a_plug_in_kind_is_an_error(tmp_path: Path, plugin: str) -> None:
    with pytest.raises(ConfigError, match="job 'ministry'.*'colour'"):
        parse_config(
            {
                "jobs": [
                    {"id": "ministry", "kind": plugin, "schedule": "1h", "day": "2026-11-25", "colour": 1}
                ]
            },
            tmp_path,
        )


def test_a_job_whose_kind_is_gone_fails_with_its_reason_in_both_languages(store, plugin: str) -> None:
    """A configuration read while the plug-in was loaded, run after its kind is gone."""
    from dataclasses import replace

    from ioc.messages import Message

    config = parse_config(
        {"jobs": [{"id": "ministry", "kind": plugin, "schedule": "1h", "day": "2026-11-25"}]},
        store.layout.root,
    )
    gone = replace(config, jobs=(replace(config.jobs[0], kind="retired_kind"),))
    outcome = JobRunner(store, gone, echo=lambda line: None).run_job("ministry")
    assert outcome.status == "failed"
    assert outcome.message.startswith("no job kind named retired_kind is registered")
    row = store.execute("SELECT message, message_id, message_params FROM job_runs").rows[-1]
    words = Message.stored(row[1], row[2])
    assert words is not None and words.text("en") == row[0] == outcome.message
    assert words.text("vi").startswith("không có loại tác vụ nào tên retired_kind")
