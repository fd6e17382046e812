"""Rejection messages and scheduler failure reasons are templates: an id and its parameters.

Every message id ingestion and the scheduler use exists in both catalogs with the same
parameters; every error class raised in ingest/ carries one; a stored message says itself again in
English word for word and in Vietnamese from the same parameters.
"""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest import encoding, jobs, limits, readers, sources
from ingest.durable import DiskFull
from ingest.health_record import SourceState
from ioc import i18n
from ioc.datasets import DATASETS, TYPES
from ioc.messages import PREFIX, Message, MessageError, Num, msg, placeholders, render, said_rows

from .conftest import BAD

ROOT = Path(__file__).resolve().parents[3]
SOURCES = sorted((ROOT / "ingest").glob("*.py")) + [
    ROOT / "ioc" / "metrics" / "health.py",
    ROOT / "ioc" / "pages" / "data_health.py",
]
# parameters a template may leave out of its sentence: a whole-file rejection carries the rule it
# breaks for the rule column, which its sentence does not repeat
UNSAID = {"rejection.file": {"rule"}}


def _msg_calls() -> list[tuple[Path, int, str, set[str]]]:
    """Every ``msg("id", name=...)`` with a literal id in ingestion, data health and the scheduler."""
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "msg"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names = {k.arg for k in node.keywords if k.arg is not None}
                found.append((path, node.lineno, str(node.args[0].value), names))
    return found


def test_the_scan_finds_the_messages() -> None:
    ids = {found[2] for found in _msg_calls()}
    assert {"rejection.value_detail", "read.csv", "limit.rows", "source.timeout", "job.error"} <= ids


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_every_message_used_exists_with_the_parameters_given(lang: str) -> None:
    catalog = i18n.catalog(lang)
    for path, line, message_id, names in _msg_calls():
        where = f"{path.name}:{line} {message_id}"
        assert PREFIX + message_id in catalog, where
        assert placeholders(message_id, lang) == names - UNSAID.get(message_id, set()), where


def test_message_ids_built_from_declarations_exist() -> None:
    """Ids made from the contract: a type's rule, each cross-column rule and its explanation."""
    for lang in i18n.LANGS:
        for kind in TYPES:
            assert placeholders(f"rule.type_{kind}", lang) == set()
        for dataset in DATASETS.values():
            for rule in dataset.rules:
                assert rule.id, rule.name
                assert placeholders(f"rule.{rule.id}", lang) == set()
                assert placeholders(f"detail.{rule.id}", lang) == {name for name, _ in rule.detail}
                # the English rule is the name stored in the rule column
                assert msg(f"rule.{rule.id}").text("en") == rule.name


def test_both_catalogs_hold_the_same_messages_with_the_same_parameters() -> None:
    vi = {k for k in i18n.catalog("vi") if k.startswith(PREFIX)}
    en = {k for k in i18n.catalog("en") if k.startswith(PREFIX)}
    assert vi == en and len(en) > 100
    for key in en:
        message_id = key[len(PREFIX) :]
        assert placeholders(message_id, "vi") == placeholders(message_id, "en"), key


def _raised_classes() -> dict[str, type]:
    """The exception classes ingest/ defines, by name."""
    classes: dict[str, type] = {}
    for module in (limits, readers, sources, encoding, jobs):
        for name, value in vars(module).items():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__.startswith("ingest")
            ):
                classes[name] = value
    classes["DiskFull"] = DiskFull
    return classes


def test_every_error_class_of_ingest_carries_a_message() -> None:
    classes = _raised_classes()
    assert {"LimitExceeded", "ReadError", "SourceFailure", "DiskFull", "ConfigError"} <= set(classes)
    for name, cls in classes.items():
        assert issubclass(cls, MessageError) or cls is DiskFull, name
    assert isinstance(DiskFull("/data/x").message, Message)


def test_no_error_of_ingest_is_raised_with_finished_text() -> None:
    """``raise ReadError(msg(...))``, never ``raise ReadError(f"...")`` (nor a string built by hand)."""
    ours = set(_raised_classes())
    for path in sorted((ROOT / "ingest").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            func = node.exc.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ours and node.exc.args:
                first = node.exc.args[0]
                assert not isinstance(first, (ast.Constant, ast.JoinedStr, ast.BinOp)), (
                    f"{path.name}:{node.lineno}"
                )


def test_a_message_round_trips_through_its_stored_form() -> None:
    words = msg(
        "rejection.value_detail",
        file="attendance_2026-11-23.csv",
        where=msg("where.row_column", row="7", column="present"),
        value="'120'",
        rule=msg("rule.present_le_enrolled"),
        detail=msg("detail.present_le_enrolled", enrolled="110"),
    )
    again = Message.stored(words.id, words.dumps())
    assert again == words
    assert again.text("en") == (
        "attendance_2026-11-23.csv: row 7, column present: value '120' breaks rule present <= enrolled "
        "(enrolled is 110)"
    )
    assert again.text("vi") == (
        "attendance_2026-11-23.csv: dòng 7, cột present: giá trị '120' vi phạm quy tắc: "
        "có mặt (present) <= sĩ số (enrolled) (sĩ số là 110)"
    )


def test_numbers_follow_the_reader_and_lists_read_as_one_line() -> None:
    over = msg("limit.rows", row=1_000_002, found=msg("limit.data_rows", count=1_500_000), limit=1_000_000)
    assert over.text("en") == (
        "row 1,000,002: the file has 1,500,000 data rows, over the limit of 1,000,000 rows per file (IOC_MAX_ROWS)"
    )
    assert over.text("vi").startswith("dòng 1.000.002: tệp có 1.500.000 dòng dữ liệu")
    size = msg("size.mb", mb=Num(1234.56, 1))
    assert (size.text("en"), size.text("vi")) == ("1,234.6 MB", "1.234,6 MB")
    both = msg("list", items=(msg("source.no_new"), msg("result.unchanged", file="a.csv")))
    assert both.text("en") == "no new records; a.csv: unchanged (the same file was loaded before)"
    assert Message.stored(both.id, both.dumps()) == both


def test_rows_without_an_id_keep_their_stored_text() -> None:
    assert render(None, None, "an old message", "vi") == "an old message"
    assert render("no.such.id", "{}", "from a newer program", "vi") == "from a newer program"
    assert render("run.unchanged", "not json", "kept", "vi") == "kept"
    assert (
        render("run.unchanged", "{}", "the same file was loaded before", "vi")
        == "tệp này đã được nạp trước đây"
    )


def test_a_failing_source_keeps_its_reason_as_a_template() -> None:
    failure = sources.SourceFailure(msg("source.timeout", where="https://sis.example/api", seconds=30.0))
    assert str(failure) == "https://sis.example/api: timed out after 30s without an answer"
    state = SourceState("sis", "http").failed(datetime(2026, 12, 4, 9, 0, tzinfo=UTC), failure.message)
    assert state.reason == str(failure) and state.reason_words == failure.message
    assert state.reason_words.text("vi") == (
        "https://sis.example/api: hết thời gian chờ sau 30 giây mà không có phản hồi"
    )
    assert json.loads(state.reason_words.dumps()) == {"where": "https://sis.example/api", "seconds": 30.0}


def test_data_health_says_a_rejection_in_the_readers_language(schools_store) -> None:
    """What the data-health page shows: a stored rejection, its run and the dataset's last failure,
    in Vietnamese from the stored template, in English word for word as ingestion wrote it."""
    from ingest.load import ingest_file
    from ioc.metrics import health

    result = ingest_file(schools_store, BAD / "attendance_present_over_enrolled.csv")
    english = result.rejections[0].message
    rows = health.rejections(schools_store, result.run_id)
    assert said_rows(rows, "en")[0]["message"] == english
    shown = said_rows(rows, "vi")[0]
    assert shown["message"] == (
        "attendance_present_over_enrolled.csv: dòng 3, cột present: giá trị '120' vi phạm quy tắc: "
        "có mặt (present) <= sĩ số (enrolled) (sĩ số là 110)"
    )
    assert shown["rule"] == "có mặt (present) <= sĩ số (enrolled)"
    assert "message_id" not in shown and "message_params" not in shown
    run = next(r for r in health.runs(schools_store) if r["run_id"] == result.run_id)
    assert said_rows([run], "en")[0]["message"] == "1 problem(s) in 1 row(s)" == run["message"]
    assert said_rows([run], "vi")[0]["message"] == "1 lỗi trong 1 dòng"
    attendance = next(f for f in health.freshness(schools_store) if f.dataset == "attendance")
    assert attendance.reason_words is not None
    assert attendance.reason_words.text("en") == attendance.reason
    assert attendance.reason_words.text("vi").startswith("attendance_present_over_enrolled.csv: ")


def test_a_whole_file_rejection_names_its_rule_in_the_readers_language(schools_store, tmp_path) -> None:
    from ingest.load import ingest_file
    from ioc.metrics import health

    empty = tmp_path / "attendance_2026-11-23.csv"
    empty.write_text("", encoding="utf-8")
    result = ingest_file(schools_store, empty)
    assert result.rejections[0].message == "attendance_2026-11-23.csv: the file is empty (no header row)"
    shown = said_rows(health.rejections(schools_store, result.run_id), "vi")[0]
    assert shown["message"] == "attendance_2026-11-23.csv: tệp trống (không có dòng tiêu đề)"
    assert shown["rule"] == "tệp đọc được"


def test_the_cli_says_rejections_in_vietnamese_when_asked(schools_store, tmp_path) -> None:
    import argparse
    import io

    from ingest import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args([str(BAD / "attendance_present_over_enrolled.csv"), "--lang", "vi"])
    args.data_dir = schools_store.layout.root
    out = io.StringIO()
    assert cli.run(args, out) == 1
    assert "giá trị '120' vi phạm quy tắc" in out.getvalue()
    assert "bị từ chối, không nạp gì (1 lỗi trong 1 dòng)" in out.getvalue()
    assert (
        out.getvalue()
        .rstrip()
        .endswith("1 tệp: 0 đã nạp, 0 không đổi, 1 bị từ chối, 0 thất bại; đã nạp 0 dòng (0 dòng thay thế)")
    )


def test_a_configuration_error_is_said_in_both_languages(tmp_path) -> None:
    config = tmp_path / "scheduler.toml"
    config.write_text('[[jobs]]\nid = "inbox"\nkind = "ftp"\nschedule = {every = "30s"}\n', encoding="utf-8")
    with pytest.raises(jobs.ConfigError) as raised:
        jobs.load_config(config, tmp_path)
    assert str(raised.value).startswith(f"{config}: job 'inbox': 'kind' must be one of ")
    assert str(raised.value).endswith(", got 'ftp'")
    assert raised.value.message.text("vi").endswith(", nhận được 'ftp'")


def test_the_cli_summary_stays_english_by_default(schools_store) -> None:
    import argparse
    import io

    from ingest import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args([str(BAD / "attendance_present_over_enrolled.csv")])
    args.data_dir = schools_store.layout.root
    out = io.StringIO()
    assert cli.run(args, out) == 1
    assert (
        out.getvalue()
        .rstrip()
        .endswith("1 file(s): 0 loaded, 0 unchanged, 1 rejected, 0 failed; 0 rows loaded (0 replaced)")
    )
