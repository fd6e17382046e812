"""Filters take a code or a name; unknown ones are errors naming the filter; keys and labels."""

from __future__ import annotations

from datetime import date

import pytest

from ioc.metrics import dimensions, views
from ioc.metrics.engine import compute
from ioc.metrics.errors import QueryError
from ioc.metrics.query import KpiQuery, Scope

TO = date(2026, 11, 20)


def test_code_or_name_resolve_to_the_same_key(seed):
    assert dimensions.resolve_scope(seed, Scope(district="Quận 1")).district == "760"
    assert dimensions.resolve_scope(seed, Scope(district=" quận 1 ")).district == "760"
    assert dimensions.resolve_scope(seed, Scope(ward="phường sài gòn")).ward == "26734"
    assert (
        dimensions.resolve_scope(seed, Scope(ward="Phường Tân Mỹ")).ward == "Phường Tân Mỹ"
    )  # no code: name
    assert dimensions.resolve_scope(seed, Scope(level="Tiểu học", ownership="Tư thục")) == Scope(
        level="primary", ownership="private"
    )
    assert dimensions.resolve_scope(seed, Scope(school="Trường THPT Tân Mỹ")).school == "S4"


@pytest.mark.parametrize("param", ["district", "ward", "level", "ownership", "school"])
def test_unknown_filter_names_the_parameter(seed, param):
    with pytest.raises(QueryError) as error:
        compute(seed, KpiQuery("attendance_rate", scope=Scope(**{param: "Atlantis"})))
    assert error.value.param == param


def test_ward_keys_and_labels(seed):
    result = compute(seed, KpiQuery("bandwidth_coverage", by="ward", date_to=TO))
    assert [(r.key, r.label) for r in result.rows] == [
        ("26734", "Phường Sài Gòn"),
        ("Phường Tân Mỹ", "Phường Tân Mỹ"),
    ]


def test_filters_combine(seed):
    # level primary & district 760: S1, S3 (moved) -> S1 covered, S3 not
    result = compute(
        seed, KpiQuery("bandwidth_coverage", date_to=TO, scope=Scope(district="760", level="primary"))
    )
    assert (result.rows[0].numerator, result.rows[0].denominator) == (1, 2)
    by_level = {r.key: r for r in compute(seed, KpiQuery("bandwidth_coverage", by="level", date_to=TO)).rows}
    assert set(by_level) == {"primary", "lower_secondary", "upper_secondary"}  # inactive S5 adds nothing
    by_owner = {
        r.key: r.value for r in compute(seed, KpiQuery("bandwidth_coverage", by="ownership", date_to=TO)).rows
    }
    assert by_owner == {"private": 1.0, "public": pytest.approx(1 / 3)}


def test_inactive_school_as_filter_gives_null_not_error(seed):
    result = compute(seed, KpiQuery("attendance_rate", scope=Scope(school="S5"), date_to=date(2026, 11, 18)))
    assert result.rows[0].value is None and result.rows[0].denominator == 0


def test_dimensions_listing(seed):
    assert [(d.code, d.name, d.schools) for d in dimensions.districts(seed)] == [
        ("760", "Quận 1", 3),
        ("778", "Quận 7", 1),
    ]
    assert [w.code for w in dimensions.wards(seed, district="Quận 7")] == ["Phường Tân Mỹ"]
    assert [s.school_id for s in dimensions.schools(seed, Scope(district="760"))] == ["S1", "S2", "S3"]
    profile = views.school(seed, "S3")
    assert profile is not None and len(profile.history) == 2 and profile.info.district_code == "760"
    assert views.school(seed, "S9") is None
    assert dimensions.latest_date(seed, "connectivity") == date(2026, 11, 21)  # local date of the UTC probe
