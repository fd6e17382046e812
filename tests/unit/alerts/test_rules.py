"""The alert rules are data: the built-in file validates, and each broken declaration is refused
with a message naming the rule and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from ioc.alerts import rules

GOOD = """
[[rule]]
id = "drop"
kind = "anomaly"
level = "school"
severity = "critical"
owner = "Schools Division"
name = { vi = "Giảm", en = "Drop" }
action = { vi = "Gọi trường", en = "Call the school" }
"""


def test_built_in_rules_validate_and_cover_every_kind():
    loaded = rules.load(rules.DECLARATIONS)
    assert {r.kind for r in loaded} == set(rules.KINDS)
    for r in loaded:
        assert r.owner and r.action["vi"] and r.action["en"]
    missing = next(r for r in loaded if r.kind == "missing_report")
    assert missing.param("days") == 2
    outage = next(r for r in loaded if r.kind == "outage")
    assert outage.param("hours") == 2


def test_defaults_fill_parameters(tmp_path: Path):
    path = tmp_path / "rules.toml"
    path.write_text(GOOD, encoding="utf-8")
    (rule,) = rules.load(path)
    assert rule.param("z") == 4.0 and rule.param("min_drop")["school"] == 0.10
    assert rule.pending == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('kind = "anomaly"', 'kind = "magic"'), "kind 'magic' is not one of"),
        (('level = "school"', 'level = "street"'), "level 'street' is not one of"),
        (('severity = "critical"', 'severity = "panic"'), "severity 'panic'"),
        (('id = "drop"', 'id = "Drop-1"'), "snake_case"),
        (('owner = "Schools Division"', 'owner = ""'), "owner and action"),
        (('level = "school"', 'level = "school"\nparams = { z = 0.5 }'), "params.z must be at least 1"),
        (('level = "school"', 'level = "school"\nparams = { speed = 3 }'), "unknown parameter(s) speed"),
        (('level = "school"', 'level = "school"\ncolour = "red"'), "unknown key(s) colour"),
        (('kind = "anomaly"', 'kind = "threshold"\nkpi = "happiness"'), "kpi 'happiness' is not a KPI"),
        (('kind = "anomaly"\nlevel = "school"', 'kind = "outage"\nlevel = "ward"'), "looks at schools"),
    ],
)
def test_a_broken_rule_is_refused_by_name(tmp_path: Path, change, message):
    path = tmp_path / "rules.toml"
    path.write_text(GOOD.replace(*change), encoding="utf-8")
    with pytest.raises(rules.RuleError) as error:
        rules.load(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_duplicate_ids_and_bad_toml_are_refused(tmp_path: Path):
    path = tmp_path / "rules.toml"
    path.write_text(GOOD + GOOD, encoding="utf-8")
    with pytest.raises(rules.RuleError, match="declared twice"):
        rules.load(path)
    path.write_text("[[rule]\n", encoding="utf-8")
    with pytest.raises(rules.RuleError, match="not valid TOML"):
        rules.load(path)
    with pytest.raises(rules.RuleError, match="cannot be read"):
        rules.load(tmp_path / "absent.toml")
