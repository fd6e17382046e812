"""Screen files: the built-in ones are valid; each kind of mistake gets an exact, named message."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ioc.panels import load_plugins, register
from ioc.panels.base import PanelKind
from ioc.panels.screens import ScreenConfigError, load_screens, parse_screen, playlist

GOOD: dict[str, Any] = {
    "schema_version": 1,
    "title": {"vi": "Thử", "en": "Test"},
    "columns": 4,
    "rows": 2,
    "panels": [
        {"id": "att", "type": "kpi_tile", "kpi": "attendance_rate", "grid": {"x": 0, "y": 0, "w": 2, "h": 1}},
        {
            "id": "rank",
            "type": "ranking",
            "kpi": "reporting_rate",
            "grid": {"x": 2, "y": 0, "w": 2, "h": 2},
            "options": {"by": "ward", "order": "worst", "limit": 5},
            "thresholds": {"green": 0.99, "amber": 0.9},
        },
        {"id": "alerts", "type": "alerts", "grid": {"x": 0, "y": 1, "w": 2, "h": 1}},
    ],
}


def broken(change) -> dict[str, Any]:
    raw = copy.deepcopy(GOOD)
    change(raw)
    return raw


def test_builtin_screens_are_valid() -> None:
    screens = load_screens()
    assert {"control_room", "connectivity"} <= set(screens)
    assert playlist(screens)[0] == "control_room"
    kinds = {p.type for s in screens.values() for p in s.panels}
    assert kinds == {
        "kpi_tile",
        "map",
        "trend",
        "ranking",
        "alerts",
        "freshness",
        "not_reported",
        "offline_now",
    }


def test_a_good_screen_parses_into_panels() -> None:
    screen = parse_screen(GOOD, "test")
    assert [p.id for p in screen.panels] == ["att", "rank", "alerts"]
    rank = screen.panels[1]
    assert (rank.grid.x, rank.grid.y, rank.grid.w, rank.grid.h) == (2, 0, 2, 2)
    assert rank.option("by") == "ward" and rank.green == 0.99 and rank.amber == 0.9
    assert screen.title.get("en") == "Test"


def _set(path: list[Any], value: Any):
    def change(raw: dict[str, Any]) -> None:
        target = raw
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set(["schema_version"], 2), "test.json: schema_version must be 1, got 2"),
        (_set(["panels"], []), "test.json: panels must be a non-empty list"),
        (
            _set(["colour"], "red"),
            "test.json: unknown keys ['colour']; allowed: ['columns', 'density', 'description', "
            "'panels', 'refresh_seconds', 'rows', 'schema_version', 'title']",
        ),
        (_set(["density"], "tiny"), "test.json: density must be one of normal, compact, got 'tiny'"),
        (
            _set(["panels", 0, "type"], "kpi_tyle"),
            "test.json: panel 0 ('att'): unknown type 'kpi_tyle'; known: alerts, freshness, kpi_tile, map, not_reported, offline_now, ranking, trend",
        ),
        (
            _set(["panels", 0, "kpi"], "attendance"),
            "test.json: panel 0 ('att'): unknown kpi 'attendance'; known: ",
        ),
        (
            _set(["panels", 1, "grid"], {"x": 3, "y": 0, "w": 2, "h": 1}),
            "test.json: panel 1 ('rank'): grid x=3 w=2 y=0 h=1 does not fit the screen's 4x2 grid",
        ),
        (
            _set(["panels", 2, "grid"], {"x": 1, "y": 0, "w": 1, "h": 1}),
            "test.json: panel 2 ('alerts'): overlaps panel 'att' at column 1, row 0",
        ),
        (_set(["panels", 2, "id"], "att"), "test.json: panel 2 ('att'): id already used by panel 0"),
        (
            _set(["panels", 1, "thresholds"], {"green": 0.8, "amber": 0.9}),
            "test.json: panel 1 ('rank'): thresholds green 0.8 must be at least as good as amber 0.9 "
            "(kpi reporting_rate is better when higher)",
        ),
        (
            _set(["panels", 1, "options", "order"], "middle"),
            "test.json: panel 1 ('rank'): option order must be one of worst, best, got 'middle'",
        ),
        (
            _set(["panels", 1, "options", "colour"], "red"),
            "test.json: panel 1 ('rank'): unknown option 'colour' for type 'ranking'; allowed: by, limit, order",
        ),
        (
            _set(["panels", 0, "filters"], {"province": "79"}),
            "test.json: panel 0 ('att'): filters may only name district, ward, level, ownership, school, got {'province': '79'}",
        ),
        (
            _set(["panels", 0, "grid"], {"x": 0, "y": 0, "w": 0, "h": 1}),
            "test.json: panel 0 ('att'): grid.w must be an integer >= 1, got 0",
        ),
        (
            _set(["panels", 0, "unit"], "percent"),
            "test.json: panel 0 ('att'): unit 'percent' is not one of ratio, index, count, mbps, mbps_per_student",
        ),
        (_set(["panels", 1, "kpi"], None), "test.json: panel 1 ('rank'): type 'ranking' needs a kpi"),
        (_set(["panels", 0, "id"], ""), "test.json: panel 0: id is required (a non-empty text)"),
    ],
)
def test_mistakes_name_the_file_the_panel_and_the_problem(change, message: str) -> None:
    with pytest.raises(ScreenConfigError) as error:
        parse_screen(broken(change), "test", "test.json")
    assert str(error.value).startswith(message)


def test_the_folder_comes_from_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lobby.json").write_text(json.dumps(GOOD), encoding="utf-8")
    monkeypatch.setenv("IOC_SCREENS_DIR", str(tmp_path))
    assert list(load_screens()) == ["lobby"]
    (tmp_path / "broken.json").write_text('{"schema_version": 1,', encoding="utf-8")
    with pytest.raises(ScreenConfigError, match=r"^broken.json: not valid JSON: Expecting"):
        load_screens()


def test_an_empty_or_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ScreenConfigError, match="holds no \\*.json screen"):
        load_screens(tmp_path)
    with pytest.raises(ScreenConfigError, match="does not exist"):
        load_screens(tmp_path / "nope")


def test_playlist_setting_orders_and_checks_names(monkeypatch: pytest.MonkeyPatch) -> None:
    screens = load_screens()
    assert playlist(screens, "connectivity,control_room") == ["connectivity", "control_room"]
    with pytest.raises(ScreenConfigError, match=r"screen_playlist names unknown screens \['lobby'\]"):
        playlist(screens, "lobby")


def test_a_plugin_panel_kind_is_usable_in_a_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    from ioc import panels

    monkeypatch.setattr(panels, "_KINDS", dict(panels._KINDS))  # registered for this test only

    @register
    class Clock(PanelKind):
        name = "test_clock"
        needs_kpi = False

    assert "test_clock" in load_plugins()
    raw = broken(_set(["panels", 2, "type"], "test_clock"))
    assert parse_screen(raw, "test").panels[2].type == "test_clock"


def test_two_kinds_with_one_name_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from ioc import panels

    monkeypatch.setattr(panels, "_KINDS", dict(panels._KINDS))

    class OtherTile(PanelKind):
        name = "kpi_tile"

    with pytest.raises(ValueError, match="panel type 'kpi_tile' is registered twice"):
        register(OtherTile)
