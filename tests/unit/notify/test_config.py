"""The notification configuration: a bad file is refused with a message naming the entry and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ioc.notify.config import ConfigError, load, parse, seconds

EMAIL = {"name": "so", "type": "email", "to": ["so@sgddt.example.vn"]}
HOOK = {"name": "q8", "type": "webhook", "url": "https://chat.example.vn/h", "secret_env": "IOC_Q8_KEY"}


def test_a_valid_file_with_defaults(tmp_path: Path) -> None:
    file = tmp_path / "notify.toml"
    file.write_text(
        '[[contact_points]]\nname = "so"\ntype = "email"\nto = ["so@sgddt.example.vn"]\n'
        'group_wait = "2m"\nrepeat_interval = "1d"\n\n'
        '[[reports]]\nname = "tuan"\nto = ["ld@sgddt.example.vn"]\n',
        encoding="utf-8",
    )
    config = load(tmp_path, file)
    point = config.contact_points[0]
    assert (point.language, point.group_wait, point.repeat_interval, point.group_by) == (
        "vi",
        120,
        86400,
        ["rule"],
    )
    assert point.wants("any_rule", "776", "critical") and point.wants("any_rule", None, "warning")
    report = config.report("tuan")
    assert (report.page, report.schedule, report.period_days) == ("/", "0 7 * * mon", 7)


def test_no_file_means_nothing_is_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IOC_NOTIFY_CONFIG", raising=False)
    assert load(tmp_path).contact_points == ()


def test_routing_by_rule_district_and_severity() -> None:
    point = parse(
        {"contact_points": [{**EMAIL, "rules": ["r1"], "districts": ["776"], "severities": ["critical"]}]},
        "f",
    ).contact_points[0]
    assert point.wants("r1", "776", "critical")
    assert not point.wants("r2", "776", "critical")
    assert not point.wants("r1", "778", "critical")
    assert not point.wants("r1", None, "critical")  # a city-wide alert is not a district's
    assert not point.wants("r1", "776", "warning")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"contact_points": [{**EMAIL, "too": ["x@y.vn"]}]},
            "f: contact_points[0] ('so'): 'too': unknown key",
        ),
        (
            {"contact_points": [{**EMAIL, "type": "sms"}]},
            "f: contact_points[0] ('so'): 'type': Input should be 'email' or 'webhook'",
        ),
        (
            {"contact_points": [{**EMAIL, "to": ["not an address"]}]},
            "f: contact_points[0] ('so'): 'to': not an email address: 'not an address'",
        ),
        (
            {"contact_points": [{**EMAIL, "to": []}]},
            "f: contact_points[0] ('so'): an email contact point needs 'to'",
        ),
        (
            {"contact_points": [{**EMAIL, "group_wait": "soon"}]},
            "f: contact_points[0] ('so'): 'group_wait': expected a duration like '30s'",
        ),
        (
            {"contact_points": [{**EMAIL, "language": "fr"}]},
            "f: contact_points[0] ('so'): 'language': Input should be 'vi' or 'en'",
        ),
        (
            {"contact_points": [{**EMAIL, "group_by": ["ward"]}]},
            "f: contact_points[0] ('so'): 'group_by.0': Input should be 'rule'",
        ),
        (
            {"contact_points": [{**HOOK, "secret_env": None}]},
            "f: contact_points[0] ('q8'): a webhook needs 'secret_env'",
        ),
        (
            {"contact_points": [{**HOOK, "secret": "abc"}]},
            "f: contact_points[0] ('q8'): 'secret': unknown key",
        ),
        (
            {"contact_points": [{**HOOK, "url": "ftp://x"}]},
            "f: contact_points[0] ('q8'): a webhook needs 'url' starting with http",
        ),
        ({"contact_points": [EMAIL, EMAIL]}, "f: two contact points are named 'so'"),
        ({"contact_points": [EMAIL], "report": []}, "f: 'report': unknown key"),
        (
            {"reports": [{"name": "w", "to": ["a@b.vn"], "schedule": "every monday"}]},
            "f: reports[0] ('w'): 'schedule': not a crontab expression",
        ),
        (
            {"reports": [{"name": "w", "to": ["a@b.vn"], "page": "district/776"}]},
            "f: reports[0] ('w'): 'page': String should match pattern",
        ),
        (
            {"reports": [{"name": "w", "to": []}]},
            "f: reports[0] ('w'): 'to': List should have at least 1 item",
        ),
    ],
)
def test_bad_configuration_names_the_entry_and_the_key(raw: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(raw, "f")
    assert str(caught.value).startswith(expected), str(caught.value)


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    file = tmp_path / "notify.toml"
    file.write_text("[[contact_points]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"notify.toml: not valid TOML"):
        load(tmp_path, file)
    with pytest.raises(ConfigError, match=r"cannot read the notification configuration .*missing.toml"):
        load(tmp_path, tmp_path / "missing.toml")


def test_durations() -> None:
    assert [seconds(v) for v in ("30s", "5m", "4h", "1d", 45, "90")] == [30, 300, 14400, 86400, 45, 90]
    with pytest.raises(ValueError):
        seconds("4 hours")
