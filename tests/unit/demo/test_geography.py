"""The city's reference units as the project loads them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ioc import geography

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"


def test_168_current_units_grouped_by_38_former_districts() -> None:
    units = geography.units()
    assert len(units) == 168
    assert len({u.code for u in units}) == 168
    assert len(geography.districts()) == 38
    assert sum(len(d.unit_codes) for d in geography.districts()) == 168
    kinds = {u.kind for u in units}
    assert kinds == {"phường", "xã", "đặc khu"}


def test_units_match_the_shared_register() -> None:
    shared = json.loads((SHARED / "hcmc_units_2025.json").read_text("utf-8"))["units"]
    mine = {u.code: (u.name, u.district_code, u.district_name) for u in geography.units()}
    assert mine == {
        u["code"]: (u["name"], u["legacy_district_code"], u["legacy_district_name"]) for u in shared
    }


def test_lookups_by_code_and_name() -> None:
    saigon = geography.unit("Phường Sài Gòn")
    assert geography.unit(saigon.code) == saigon
    assert geography.unit("  phường sài gòn ") == saigon
    assert saigon.district_name == "Quận 1"
    assert saigon.short_name == "Sài Gòn"
    assert geography.ward_to_district()[saigon.code] == "760"
    assert geography.district("Quận 1").code == "760"
    assert saigon.code in geography.district("760").unit_codes
    assert {u.code for u in geography.units_in("760")} == set(geography.district("760").unit_codes)


def test_unknown_names_are_errors() -> None:
    with pytest.raises(geography.UnknownUnitError, match="Phường 99"):
        geography.unit("Phường 99")
    with pytest.raises(geography.UnknownUnitError):
        geography.district("Quận 99")


def test_former_wards_keep_their_districts() -> None:
    wards = geography.former_wards()
    assert len({w.code for w in wards}) == len(wards)
    ben_nghe = next(w for w in wards if w.name == "Phường Bến Nghé")
    assert ben_nghe.district_name == "Quận 1"
    assert len(geography.former_hcmc_districts()) == 22


def test_district_centres_lie_inside_their_province_area() -> None:
    for d in geography.districts():
        assert 8.5 < d.latitude < 11.6 and 106.2 < d.longitude < 107.6, d
        assert d.radius_km > 0
    q1 = geography.district("Quận 1")
    assert abs(q1.latitude - 10.776) < 0.02 and abs(q1.longitude - 106.70) < 0.02


def test_centres_file_is_derived_from_the_shared_boundaries() -> None:
    sys.path.insert(0, str(geography.REFERENCE))
    try:
        import derive  # ioc/reference/derive.py, a developer script
    finally:
        sys.path.remove(str(geography.REFERENCE))
    derived = derive.derive(SHARED / "hcmc_legacy_districts.geojson")
    kept = json.loads(geography.CENTRES_FILE.read_text("utf-8"))
    assert derived == kept
