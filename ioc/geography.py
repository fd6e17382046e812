"""The city's administrative units, from the project's own reference files.

Since 2025-07-01 Ho Chi Minh City has 168 commune-level units (phường, xã, one đặc khu) and no
district level. The department still groups schools by the *former* district each unit came from
(``district_code``/``district_name`` in ``reference/hcmc_units_2025.json``). This module loads
those files once and answers questions about them; it never touches the store.

- :func:`units` the 168 current units; :func:`unit` one by code or name.
- :func:`districts` the former districts the units are grouped by (38, incl. those that came
  from Bình Dương and Bà Rịa - Vũng Tàu), with an approximate centre.
- :func:`ward_to_district` unit code -> district code.
- :func:`former_wards` the wards before the reorganisation, each with its district.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

REFERENCE = Path(__file__).resolve().parent / "reference"
UNITS_FILE = REFERENCE / "hcmc_units_2025.json"
FORMER_FILE = REFERENCE / "hcmc_units_2025-03.json"
CENTRES_FILE = REFERENCE / "hcmc_district_centres.json"

# The day the district level was abolished and the 168 units came into force.
REORGANISED_ON = date(2025, 7, 1)

# Districts merged before the 2025 reorganisation that older boundary files still draw apart:
# old code -> the code the units are grouped by. Huyện Long Điền (752) and Huyện Đất Đỏ (753)
# became Huyện Long Đất (753) in 2020 (Resolution 1121/NQ-UBTVQH14).
MERGED_DISTRICTS = {"752": "753"}


class UnknownUnitError(LookupError):
    """A code or name that is not a unit of the city."""


@dataclass(frozen=True)
class FormerWard:
    """A ward (or commune, township) as it was before 2025-07-01."""

    code: str
    name: str
    district_code: str
    district_name: str
    share: str = "full"  # 'full' or 'partial': how much of it went into the current unit


@dataclass(frozen=True)
class Unit:
    """A current commune-level unit and the former district it is grouped by."""

    code: str
    name: str
    district_code: str
    district_name: str
    legacy_province_code: str
    legacy_province_name: str
    formed_from: tuple[FormerWard, ...]

    @property
    def kind(self) -> str:
        """'phường' (urban ward), 'xã' (rural commune) or 'đặc khu' (special zone)."""
        for prefix in ("Đặc khu", "Phường", "Xã"):
            if self.name.startswith(prefix + " "):
                return prefix.lower()
        return "xã"

    @property
    def short_name(self) -> str:
        """The name without its kind: 'Phường Tân Định' -> 'Tân Định'."""
        for prefix in ("Đặc khu ", "Phường ", "Xã "):
            if self.name.startswith(prefix):
                return self.name[len(prefix) :]
        return self.name

    @property
    def urban(self) -> bool:
        return self.kind == "phường"


@dataclass(frozen=True)
class District:
    """A former district (quận, huyện, thị xã, thành phố thuộc tỉnh) used to group units."""

    code: str
    name: str
    legacy_province_code: str
    legacy_province_name: str
    latitude: float
    longitude: float
    radius_km: float  # radius of a circle with the district's area: how far its wards spread
    unit_codes: tuple[str, ...]


def _read(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


def _key(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().casefold()


@lru_cache(maxsize=1)
def units() -> tuple[Unit, ...]:
    """The 168 current units, in the order of the reference file."""
    out = []
    for raw in _read(UNITS_FILE)["units"]:
        formed = tuple(
            FormerWard(
                code=f["old_code"],
                name=f["old_name"],
                district_code=f["old_district_code"],
                district_name=f["old_district_name"],
                share=f.get("type", "full"),
            )
            for f in raw.get("formed_from", ())
        )
        out.append(
            Unit(
                code=raw["code"],
                name=unicodedata.normalize("NFC", raw["name"]),
                district_code=raw["district_code"],
                district_name=unicodedata.normalize("NFC", raw["district_name"]),
                legacy_province_code=raw["legacy_province_code"],
                legacy_province_name=raw["legacy_province_name"],
                formed_from=formed,
            )
        )
    return tuple(out)


@lru_cache(maxsize=1)
def _unit_index() -> dict[str, Unit]:
    index: dict[str, Unit] = {}
    for u in units():
        index[u.code] = u
        index[_key(u.name)] = u
    return index


def unit(code_or_name: str) -> Unit:
    """The current unit with this statistics-office code or (full) name."""
    found = _unit_index().get(code_or_name.strip()) or _unit_index().get(_key(code_or_name))
    if found is None:
        raise UnknownUnitError(f"{code_or_name!r} is not one of the city's 168 wards/communes")
    return found


@lru_cache(maxsize=1)
def districts() -> tuple[District, ...]:
    """The former districts the current units are grouped by, ordered by code."""
    centres = {c["code"]: c for c in _read(CENTRES_FILE)["districts"]}
    grouped: dict[str, list[Unit]] = {}
    for u in units():
        grouped.setdefault(u.district_code, []).append(u)
    out = []
    for code in sorted(grouped):
        first = grouped[code][0]
        centre = centres[code]
        out.append(
            District(
                code=code,
                name=first.district_name,
                legacy_province_code=first.legacy_province_code,
                legacy_province_name=first.legacy_province_name,
                latitude=float(centre["latitude"]),
                longitude=float(centre["longitude"]),
                radius_km=float(centre["radius_km"]),
                unit_codes=tuple(u.code for u in grouped[code]),
            )
        )
    return tuple(out)


def district(code_or_name: str) -> District:
    """The former district with this code or name."""
    wanted = _key(code_or_name)
    for d in districts():
        if d.code == code_or_name.strip() or _key(d.name) == wanted:
            return d
    raise UnknownUnitError(f"{code_or_name!r} is not one of the city's former districts")


def units_in(district_code: str) -> tuple[Unit, ...]:
    """The current units grouped under a former district."""
    return tuple(u for u in units() if u.district_code == district_code)


def ward_to_district() -> dict[str, str]:
    """Current unit code -> former district code."""
    return {u.code: u.district_code for u in units()}


@lru_cache(maxsize=1)
def former_wards() -> tuple[FormerWard, ...]:
    """Every ward that went into a current unit, as it was before 2025-07-01 (one row per code).

    A ward split between several current units ('partial') is listed once.
    """
    seen: dict[str, FormerWard] = {}
    for u in units():
        for w in u.formed_from:
            seen.setdefault(w.code, FormerWard(w.code, w.name, w.district_code, w.district_name))
    return tuple(seen.values())


@lru_cache(maxsize=1)
def former_hcmc_districts() -> tuple[dict[str, Any], ...]:
    """The 22 districts of the city before the merger with their 273 wards (as of 2025-03-01)."""
    return tuple(_read(FORMER_FILE)["districts"])


__all__ = [
    "REORGANISED_ON",
    "District",
    "FormerWard",
    "Unit",
    "UnknownUnitError",
    "district",
    "districts",
    "former_hcmc_districts",
    "former_wards",
    "unit",
    "units",
    "units_in",
    "ward_to_district",
]
