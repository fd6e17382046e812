"""The access rule (ioc/access.py) has two implementations made from one definition, the Python
predicate and the SQL filter: they agree on every school of a demo city for many scopes; the
metrics layer applies the filter in today's hierarchy, whatever hierarchy date or data version an
answer is grouped by."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ioc.access import EVERYTHING, NOTHING, RULES, AccessScope, Place
from ioc.metrics import dimensions, engine
from ioc.metrics.formulas import allowed_sql
from ioc.metrics.front import Metrics, OutsideAccess
from ioc.metrics.query import KpiQuery, Scope

DEMO_DAY = date(2026, 11, 20)  # a Friday: the demo's data ends here, whatever day the test runs


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A demo city of 400 schools (every former district, most wards), one school day."""
    from ioc.demo import build_demo
    from ioc.store import Store

    folder = tmp_path_factory.mktemp("access-demo")
    build_demo(folder, schools=400, attendance_days=1, probe_days=1, today=DEMO_DAY)
    store = Store(folder)
    yield store
    store.close()


def _places(store: Any) -> dict[str, Place]:
    return engine.places(store, store.data_version())


def _by_sql(store: Any, scope: AccessScope) -> set[str]:
    rows = store.execute(f"SELECT school_id FROM ({allowed_sql('lake.schools')})", scope.sql_params()).rows  # noqa: S608 - fixed SQL text
    return {str(r[0]) for r in rows}


def test_the_predicate_reads_each_level_as_a_whole() -> None:
    officer = AccessScope.limited(["760"], ["26740"], ["S9"])
    assert officer.allows(Place("760")) and officer.allows(Place("760", "26734", "S1"))
    assert not officer.allows(Place("761"))  # another district
    assert officer.allows(Place("761", "26740")) and officer.allows(Place("761", "26740", "S2"))
    assert not officer.allows(Place("761", "26743"))
    assert officer.allows(Place("761", "26743", "S9")) and not officer.allows(Place("761", "26743", "S8"))
    # a ward or school named does not open the district it lies in
    assert not AccessScope.limited((), ["26740"]).allows(Place("761"))
    assert EVERYTHING.allows(Place("anything")) and not NOTHING.allows(Place("760", "26734", "S1"))
    assert NOTHING.empty and not officer.empty and not EVERYTHING.restricted
    assert not NOTHING.allows(Place())  # a unit nobody can place is nobody's


def test_the_sql_condition_names_every_rule_once() -> None:
    condition = AccessScope.sql_condition("s")
    for rule in RULES:
        assert condition.count(f"${rule.param}") == 1 and f"s.{rule.column}" in condition
    assert set(AccessScope.limited(["1"]).sql_params()) == {rule.param for rule in RULES}


def test_keys_differ_whenever_the_scope_does() -> None:
    scopes = [
        EVERYTHING,
        NOTHING,
        AccessScope.limited(["760"]),
        AccessScope.limited((), ["760"]),
        AccessScope.limited((), (), ["760"]),
        AccessScope.limited(["760", "761"]),
    ]
    assert len({s.key() for s in scopes}) == len(scopes)
    assert AccessScope.limited(["761", "760"]).key() == AccessScope.limited(["760", "761"]).key()
    assert AccessScope.limited(["760"]).with_screens(["network"]).key() == AccessScope.limited(["760"]).key()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_predicate_and_sql_filter_agree_on_every_school_of_the_demo(demo: Any, data: Any) -> None:
    places = _places(demo)
    districts = sorted({p.district for p in places.values() if p.district})
    wards = sorted({p.ward for p in places.values() if p.ward})
    schools = sorted(places)
    assert len(schools) == 400 and len(districts) > 10 and len(wards) > 50
    unknown = st.sampled_from(["", "000", "S-none", "760'--"])
    scope = AccessScope.limited(
        data.draw(st.frozensets(st.sampled_from(districts) | unknown, max_size=3), "districts"),
        data.draw(st.frozensets(st.sampled_from(wards) | unknown, max_size=4), "wards"),
        data.draw(st.frozensets(st.sampled_from(schools) | unknown, max_size=5), "schools"),
    )
    allowed = _by_sql(demo, scope)
    assert allowed == {sid for sid, place in places.items() if scope.allows(place)}
    # a district or ward the predicate opens as a whole has every one of its schools in the filter
    for place in {Place(p.district) for p in places.values()} | {
        Place(p.district, p.ward) for p in places.values()
    }:
        if scope.allows(place):
            members = {
                sid
                for sid, p in places.items()
                if p.district == place.district and place.ward in (None, p.ward)
            }
            assert members <= allowed, place


def test_an_officers_answers_hold_only_the_schools_the_predicate_allows(demo: Any) -> None:
    places = _places(demo)
    district = sorted({p.district for p in places.values() if p.district})[0]
    officer = Metrics(demo, AccessScope.limited([district]), cached=False)
    rows = officer.result("attendance_rate", "school", date_to=DEMO_DAY).rows
    assert rows and {r.key for r in rows} == {
        sid for sid, p in places.items() if p.district == district and sid in {r.key for r in rows}
    }
    assert all(places[r.key].district == district for r in rows)
    assert {u.code for u in officer.districts()} == {district}
    assert all(s.district_code == district for s in officer.schools())
    city = Metrics(demo, EVERYTHING, cached=False).result("attendance_rate", "district", date_to=DEMO_DAY)
    own = next(r for r in city.rows if r.key == district)
    total = officer.result("attendance_rate", date_to=DEMO_DAY).rows[0]
    assert (total.numerator, total.denominator) == (own.numerator, own.denominator)


def test_an_older_hierarchy_or_snapshot_never_widens_an_officers_schools(seed: Any) -> None:
    """S3 was in Quận 7 (778) until 2026-11-19 and is in Quận 1 (760) today."""
    before = date(2026, 10, 1)
    q7 = Metrics(seed, AccessScope.limited(["778"]), cached=False)
    q1 = Metrics(seed, AccessScope.limited(["760"]), cached=False)
    everybody = Metrics(seed, EVERYTHING, cached=False)
    wide = everybody.result("digital_readiness", "school", hierarchy_date=before)
    assert "S3" in {r.key for r in wide.rows}
    then = q7.result("digital_readiness", "school", hierarchy_date=before)
    assert "S3" not in {r.key for r in then.rows}  # grouped under 778 then, but 760's today
    assert "S3" in {r.key for r in q1.result("digital_readiness", "school", hierarchy_date=before).rows}
    # grouped by the old districts: Quận 1's officer sees S3 under 778, nothing else of 778
    grouped = q1.result("digital_readiness", "district", hierarchy_date=before)
    assert {r.key: r.schools_reporting for r in grouped.rows}.get("778") == 1
    assert q7.moved_away(before, None) == 1 and q1.moved_away(before, None) == 0
    assert q7.moved_away(None, None) == 0 and everybody.moved_away(before, None) == 0
    # a data version from before the move: the filter still reads today's hierarchy
    first, last = everybody.readable_versions()
    before_move = [
        v
        for v in range(first, last + 1)
        if any(
            s.school_id == "S3" and s.district_code == "778" for s in engine.school_versions(seed, None, v, v)
        )
        and "S3" in {r.key for r in everybody.answer(KpiQuery("attendance_rate", "school", snapshot=v)).rows}
    ]
    assert before_move, "the seed should have a data version with S3 in Quận 7 and its attendance"
    old = q7.answer(KpiQuery("attendance_rate", "school", snapshot=before_move[-1]))
    assert "S3" not in {r.key for r in old.rows}


def test_a_school_outside_the_callers_access_has_no_views(seed: Any) -> None:
    q7 = Metrics(seed, AccessScope.limited(["778"]), cached=False)
    assert q7.school("S3") is None and q7.school("no such school") is None
    assert Metrics(seed, cached=False).school("S3") is not None
    with pytest.raises(OutsideAccess):
        q7.attendance_calendar("S3")
    with pytest.raises(OutsideAccess):
        q7.connectivity_timeline("S3")
    assert q7.allows("school", "S4") and not q7.allows("school", "S3") and not q7.allows("district", "760")
    assert q7.locate("school", "S3") == Place("760", "26734", "S3")
    assert [s.school_id for s in q7.schools(Scope(school="S3"))] == []
    assert dimensions.place(None) == Place()
