"""The KPI registry: the shipped declarations are valid, and each rule catches what it is for."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ioc.metrics import registry
from ioc.metrics.errors import QueryError
from ioc.metrics.registry import KPIS, Kpi, RegistryError, get_kpi, load, validate

SPEC_KPIS = (
    "attendance_rate",
    "unexcused_absence_rate",
    "reporting_rate",
    "bandwidth_coverage",
    "uptime",
    "digital_readiness",
)
EXTRA_KPIS = (
    "chronic_absence_risk",
    "schools_offline_now",
    "median_download_mbps",
    "mbps_per_student",
    "e_transcript_adoption",
    "cashless_share",
    "smart_classroom_share",
    "teachers_trained_share",
)


def test_shipped_registry_is_valid_and_complete():
    validate(tuple(KPIS.values()))
    assert set(SPEC_KPIS + EXTRA_KPIS) <= set(KPIS)
    assert list(KPIS)[:6] == list(SPEC_KPIS)  # display order: SPEC's six first


def test_spec_targets():
    assert get_kpi("attendance_rate").target == 0.95
    assert get_kpi("reporting_rate").target == 1.0
    assert get_kpi("bandwidth_coverage").target == 1.0
    assert get_kpi("uptime").target == 0.99
    assert get_kpi("digital_readiness").target == 80
    assert get_kpi("bandwidth_coverage").window_days == 7
    assert get_kpi("uptime").window_days == 7


def test_unknown_kpi_names_the_parameter():
    with pytest.raises(QueryError) as error:
        get_kpi("attendance")
    assert error.value.param == "kpi"


def test_status_is_direction_aware():
    att = get_kpi("attendance_rate")  # higher: green >= .95, amber >= .90
    assert [att.status(v) for v in (0.96, 0.95, 0.92, 0.5, None)] == [
        "green",
        "green",
        "amber",
        "red",
        "no_data",
    ]
    unexcused = get_kpi("unexcused_absence_rate")  # lower: green <= .01, amber <= .03
    assert [unexcused.status(v) for v in (0.0, 0.02, 0.05)] == ["green", "amber", "red"]


def _broken(**changes) -> Kpi:
    return replace(get_kpi("attendance_rate"), **changes)


@pytest.mark.parametrize(
    "changes, rule",
    [
        ({"id": "Attendance-Rate"}, "id_is_snake_case"),
        ({"name": registry.Localized("", "x")}, "names_are_given"),
        ({"unit": "percent"}, "unit_is_known"),
        ({"direction": "up"}, "direction_is_known"),
        ({"green": 0.8, "amber": 0.9}, "thresholds_are_ordered"),
        ({"target": 95.0}, "values_fit_unit"),
        ({"datasets": ("weather",)}, "datasets_are_known"),
        ({"formula": registry.Formula("magic", (("table", "attendance"),))}, "formula_kind_is_known"),
        (
            {
                "formula": registry.Formula(
                    "row_ratio",
                    (
                        ("table", "attendance"),
                        ("date_column", "date"),
                        ("numerator", "presnt"),
                        ("denominator", "enrolled"),
                    ),
                )
            },
            "formula_columns_exist",
        ),
        ({"window_days": 7}, "window_matches_grain"),
        ({"decimals": 9}, "decimals_are_sane"),
    ],
)
def test_each_rule_catches_its_problem(changes, rule):
    with pytest.raises(RegistryError, match=rule):
        validate((_broken(**changes),))


def test_duplicate_ids_are_rejected():
    kpi = get_kpi("uptime")
    with pytest.raises(RegistryError, match="ids_are_unique"):
        validate((kpi, kpi))


def test_threshold_overrides_from_config(tmp_path: Path):
    config = tmp_path / "kpis.toml"
    config.write_text("[attendance_rate]\ntarget = 0.97\ngreen = 0.97\namber = 0.93\n", encoding="utf-8")
    kpis = {k.id: k for k in load(config=config)}
    assert (kpis["attendance_rate"].target, kpis["attendance_rate"].amber) == (0.97, 0.93)
    config.write_text("[attendance]\ntarget = 0.9\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="unknown KPI 'attendance'"):
        load(config=config)
    config.write_text("[uptime]\nunit = 'count'\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="only target, green and amber"):
        load(config=config)
    config.write_text("[uptime]\ngreen = 0.5\namber = 0.9\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="thresholds_are_ordered"):
        load(config=config)


def test_adding_a_kpi_is_one_declaration(tmp_path: Path):
    # the docs' example: one more [[kpi]] table is all it takes
    extra = """
[[kpi]]
id = "excused_absence_rate"
name = { vi = "Tỷ lệ vắng có phép", en = "Excused absence rate" }
description = { vi = "Vắng có phép / sĩ số.", en = "Excused absences / enrolled." }
unit = "ratio"
direction = "lower"
green = 0.03
amber = 0.05
datasets = ["attendance"]
formula = { kind = "row_ratio", table = "attendance", date_column = "date", numerator = "absent_excused", denominator = "enrolled", only_given = "absent_excused" }
"""
    file = tmp_path / "kpis.toml"
    file.write_text(registry.DECLARATIONS.read_text(encoding="utf-8") + extra, encoding="utf-8")
    kpis = {k.id: k for k in load(file, config="")}
    assert kpis["excused_absence_rate"].formula.get("numerator") == "absent_excused"
