"""Derive ``hcmc_district_centres.json`` from the shared boundary file (run by a developer only).

The product never reads ``../shared`` at run time; this script turns the legacy district
boundaries into a small table the project keeps as its own data: for each former district the
area-weighted centroid (lat/lon, WGS84) and the radius of a circle of the same area, which the
demo uses to place wards and schools near where they really are.

Usage (from the repository root)::

    .venv/bin/python ioc/reference/derive.py [PATH/TO/hcmc_legacy_districts.geojson]
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parents[2] / "shared" / "data" / "hcmc_legacy_districts.geojson"
TARGET = HERE / "hcmc_district_centres.json"
UNITS = HERE / "hcmc_units_2025.json"

# Districts of the unit register that the boundary file splits: Huyện Long Đất (753) was
# re-formed from Long Điền (752) and Đất Đỏ (753), so its centre is that of both together.
MERGED: dict[str, tuple[str, ...]] = {"753": ("752", "753")}

KM_PER_DEGREE = 111.32


def _ring_moments(ring: list[list[float]]) -> tuple[float, float, float]:
    """Signed area and first moments of one ring (shoelace formula, planar lon/lat)."""
    area = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        cross = x0 * y1 - x1 * y0
        area += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    return area / 2, cx / 6, cy / 6


def _moments(geometry: dict[str, Any]) -> tuple[float, float, float]:
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    area = mx = my = 0.0
    for polygon in polygons:
        for index, ring in enumerate(polygon):
            a, x, y = _ring_moments([p[:2] for p in ring])
            # The outer ring adds, holes subtract, whatever their winding order.
            sign = 1.0 if index == 0 else -1.0
            flip = 1.0 if a >= 0 else -1.0
            area += sign * flip * a
            mx += sign * flip * x
            my += sign * flip * y
    return area, mx, my


def derive(source: Path) -> dict[str, Any]:
    features = {
        f["properties"]["district_code"]: f for f in json.loads(source.read_text("utf-8"))["features"]
    }
    units = json.loads(UNITS.read_text("utf-8"))["units"]
    wanted = sorted({(u["district_code"], u["district_name"]) for u in units})
    centres = []
    for code, name in wanted:
        area = mx = my = 0.0
        for part in MERGED.get(code, (code,)):
            a, x, y = _moments(features[part]["geometry"])
            area, mx, my = area + a, mx + x, my + y
        lon, lat = mx / area, my / area
        km2 = area * KM_PER_DEGREE**2 * math.cos(math.radians(lat))
        centres.append(
            {
                "code": code,
                "name": name,
                "latitude": round(lat, 5),
                "longitude": round(lon, 5),
                "area_km2": round(km2, 1),
                "radius_km": round(math.sqrt(km2 / math.pi), 2),
            }
        )
    return {
        "source": (
            "Derived by ioc/reference/derive.py from hcmc_legacy_districts.geojson (boundaries of the "
            "districts before 2025-07-01): area-weighted centroid and equal-area radius of each former "
            "district that the current units are grouped by"
        ),
        "districts": centres,
    }


def main(argv: list[str]) -> int:
    source = Path(argv[0]) if argv else DEFAULT_SOURCE
    TARGET.write_text(json.dumps(derive(source), ensure_ascii=False, indent=1) + "\n", "utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
