"""The wall's district map is built once per (boundary file, values, KPI, language, theme): a wall
refresh with the same data gets the figure already made, and what it gets is what the figure
builder makes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ioc import figures
from ioc.access import EVERYTHING
from ioc.metrics.front import Metrics
from ioc.panels import maps
from ioc.panels.base import PanelContext
from ioc.panels.screens import load_screens

BOUNDARIES = Path(__file__).resolve().parents[4] / "shared" / "data" / "hcmc_legacy_districts.geojson"


def test_the_district_map_is_built_once_per_data_language_and_theme(
    demo_store: Any, request_context: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IOC_BOUNDARIES_FILE", str(BOUNDARIES))
    maps.map_figure.cache_clear()
    built: list[str] = []
    choropleth = figures.choropleth

    def counted(*args: Any, **kwargs: Any) -> Any:
        built.append(args[3])  # the language
        return choropleth(*args, **kwargs)

    monkeypatch.setattr(figures, "choropleth", counted)
    panel = next(p for p in load_screens()["control_room"].panels if p.type == "map")
    kind = maps.DistrictMap()

    def draw(lang: str = "vi", theme: str = "dark") -> Any:
        output = kind.render(
            panel, PanelContext(metrics=Metrics(demo_store, EVERYTHING), lang=lang, theme=theme)
        )
        assert output.state in ("ok", "stale"), output
        return output.body.figure

    first = draw()
    assert draw() is first and built == ["vi"]  # the second refresh builds nothing
    english, light = draw("en"), draw("vi", "light")
    assert built == ["vi", "en", "vi"]
    assert english is not first and light is not first
    assert (
        english["layout"]["meta"] == {"kpi": "Attendance rate"}
        and first["layout"]["meta"]["kpi"] != "Attendance rate"
    )
    assert {t.get("fillcolor") for t in first["data"]} == {t.get("fillcolor") for t in light["data"]}
    edges = {
        theme: {t["line"]["color"] for t in fig["data"] if t.get("fill")}
        for theme, fig in (("dark", first), ("light", light))
    }
    assert edges == {"dark": {"#0b0f14"}, "light": {"#ffffff"}}
    info = maps.map_figure.cache_info()
    assert (info.hits, info.currsize) == (1, 3)
    # every district of the boundary file is drawn, as plain data (Dash sends it as it is)
    geo = maps.boundaries()
    assert geo is not None
    drawn = {t.get("name") for t in first["data"] if t.get("fill")}
    assert len(drawn) == len(geo["features"])
    assert isinstance(first, dict) and isinstance(first["data"][0]["x"], (list, dict))


def test_the_school_points_map_is_built_once_per_data_language_and_theme(
    demo_store: Any, request_context: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IOC_BOUNDARIES_FILE", raising=False)
    maps.map_figure.cache_clear()
    built: list[int] = []
    school_points = figures.school_points

    def counted(points: Any, *args: Any, **kwargs: Any) -> Any:
        built.append(len(points))
        return school_points(points, *args, **kwargs)

    monkeypatch.setattr(figures, "school_points", counted)
    panel = next(p for p in load_screens()["control_room"].panels if p.type == "map")
    ctx = PanelContext(metrics=Metrics(demo_store, EVERYTHING), lang="vi", theme="dark")
    first = maps.DistrictMap().render(panel, ctx).body.figure
    assert maps.DistrictMap().render(panel, ctx).body.figure is first
    schools = [s for s in Metrics(demo_store, EVERYTHING).schools() if s.latitude is not None]
    assert built == [len(schools)] and built[0] > 0
    assert all(t["type"] == "scatter" for t in first["data"])  # SVG, never WebGL (the CSP)
    assert first["layout"]["meta"]["kpi"] == "Tỷ lệ chuyên cần"
