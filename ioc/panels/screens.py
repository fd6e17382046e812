"""Control-room screens: JSON files in the folder named by the ``screens_dir`` setting.

Each file ``<name>.json`` is one wall screen (docs/screens.md has the schema)::

    {"schema_version": 1, "title": {"vi": "...", "en": "..."}, "columns": 12, "rows": 6,
     "panels": [{"id": "att", "type": "kpi_tile", "kpi": "attendance_rate",
                 "grid": {"x": 0, "y": 0, "w": 3, "h": 2}, "filters": {"level": "primary"},
                 "thresholds": {"green": 0.95, "amber": 0.9}, "options": {...}}]}

:func:`load_screens` validates every file and raises :class:`ScreenConfigError` whose message
names the file, the panel (index and id) and the problem.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ioc import settings
from ioc.metrics.query import FILTERS, Scope
from ioc.metrics.registry import KPIS, UNITS, Localized
from ioc.panels import load_plugins
from ioc.panels.base import GridPos, PanelConfig

SCHEMA_VERSION = 1
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "screens"
DEFAULT_SCREEN = "control_room"
SCREEN_KEYS = {
    "schema_version",
    "title",
    "columns",
    "rows",
    "panels",
    "refresh_seconds",
    "description",
    "density",
}
# how much a wall screen puts on its panels: 'normal' (legible from 4 m at 1920x1080: no text under
# 20 px, KPI values 60 px and more) or 'compact' (a screen read from a desk's distance)
DENSITIES = ("normal", "compact")
PANEL_KEYS = {
    "id",
    "type",
    "title",
    "kpi",
    "filters",
    "grid",
    "thresholds",
    "unit",
    "decimals",
    "stale_after_minutes",
    "options",
}


class ScreenConfigError(ValueError):
    """A screen file breaks the schema; the message names the file and the panel."""


@dataclass(frozen=True)
class Screen:
    name: str
    title: Localized
    columns: int
    rows: int
    panels: tuple[PanelConfig, ...]
    refresh_seconds: int | None = None
    source: str = ""
    density: str = "normal"


def screens_dir(override: str | Path | None = None) -> Path:
    configured = settings.get("screens_dir", override)
    return Path(configured).expanduser() if configured else BUILTIN_DIR


def _localized(raw: Any, where: str) -> Localized:
    if isinstance(raw, str):
        return Localized(raw, raw)
    if (
        isinstance(raw, Mapping)
        and set(raw) == {"vi", "en"}
        and all(isinstance(v, str) for v in raw.values())
    ):
        return Localized(raw["vi"], raw["en"])
    raise ScreenConfigError(f'{where}: title must be a text or {{"vi": ..., "en": ...}}, got {raw!r}')


def _int(raw: Any, where: str, name: str, minimum: int = 0) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum:
        raise ScreenConfigError(f"{where}: {name} must be an integer >= {minimum}, got {raw!r}")
    return raw


def _number(raw: Any, where: str, name: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ScreenConfigError(f"{where}: {name} must be a number, got {raw!r}")
    return float(raw)


def parse_panel(raw: Any, where: str, columns: int, rows: int) -> PanelConfig:
    kinds = load_plugins()
    if not isinstance(raw, Mapping):
        raise ScreenConfigError(f"{where}: a panel must be an object, got {type(raw).__name__}")
    pid = raw.get("id")
    if not isinstance(pid, str) or not pid.strip():
        raise ScreenConfigError(f"{where}: id is required (a non-empty text)")
    where = f"{where} ({pid!r})"
    unknown = set(raw) - PANEL_KEYS
    if unknown:
        raise ScreenConfigError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(PANEL_KEYS)}")
    ptype = raw.get("type")
    if ptype not in kinds:
        raise ScreenConfigError(f"{where}: unknown type {ptype!r}; known: {', '.join(sorted(kinds))}")
    ptype = str(ptype)
    kind = kinds[ptype]
    kpi = raw.get("kpi")
    if kpi is not None and kpi not in KPIS:
        raise ScreenConfigError(f"{where}: unknown kpi {kpi!r}; known: {', '.join(KPIS)}")
    if kind.needs_kpi and kpi is None:
        raise ScreenConfigError(f"{where}: type {ptype!r} needs a kpi")
    grid = raw.get("grid")
    if not isinstance(grid, Mapping) or set(grid) != {"x", "y", "w", "h"}:
        raise ScreenConfigError(f'{where}: grid must be {{"x", "y", "w", "h"}}, got {grid!r}')
    pos = GridPos(*(_int(grid[k], where, f"grid.{k}", 1 if k in "wh" else 0) for k in ("x", "y", "w", "h")))
    if pos.x + pos.w > columns or pos.y + pos.h > rows:
        raise ScreenConfigError(
            f"{where}: grid x={pos.x} w={pos.w} y={pos.y} h={pos.h} does not fit the screen's {columns}x{rows} grid"
        )
    filters = raw.get("filters") or {}
    if not isinstance(filters, Mapping) or set(filters) - set(FILTERS):
        raise ScreenConfigError(f"{where}: filters may only name {', '.join(FILTERS)}, got {filters!r}")
    thresholds = raw.get("thresholds") or {}
    if not isinstance(thresholds, Mapping) or set(thresholds) - {"green", "amber"}:
        raise ScreenConfigError(f"{where}: thresholds may only set green and amber, got {thresholds!r}")
    green = _number(thresholds["green"], where, "thresholds.green") if "green" in thresholds else None
    amber = _number(thresholds["amber"], where, "thresholds.amber") if "amber" in thresholds else None
    if green is not None and amber is not None and kpi is not None:
        higher = KPIS[kpi].direction == "higher"
        if (higher and green < amber) or (not higher and green > amber):
            raise ScreenConfigError(
                f"{where}: thresholds green {green:g} must be at least as good as amber {amber:g} "
                f"(kpi {kpi} is better when {KPIS[kpi].direction})"
            )
    unit = raw.get("unit")
    if unit is not None and unit not in UNITS:
        raise ScreenConfigError(f"{where}: unit {unit!r} is not one of {', '.join(UNITS)}")
    decimals = raw.get("decimals")
    if decimals is not None and (_int(decimals, where, "decimals") > 4):
        raise ScreenConfigError(f"{where}: decimals must be 0..4, got {decimals}")
    stale = raw.get("stale_after_minutes")
    if stale is not None:
        _int(stale, where, "stale_after_minutes", 1)
    options = raw.get("options") or {}
    if not isinstance(options, Mapping):
        raise ScreenConfigError(f"{where}: options must be an object, got {options!r}")
    for name, value in options.items():
        spec = kind.option_types.get(name)
        if spec is None:
            allowed = ", ".join(sorted(kind.option_types)) or "none"
            raise ScreenConfigError(
                f"{where}: unknown option {name!r} for type {ptype!r}; allowed: {allowed}"
            )
        typ, choices = spec
        if not isinstance(value, typ) or isinstance(value, bool) and typ is not bool:
            raise ScreenConfigError(f"{where}: option {name} must be {typ.__name__}, got {value!r}")
        if choices is not None and value not in choices:
            raise ScreenConfigError(
                f"{where}: option {name} must be one of {', '.join(map(str, choices))}, got {value!r}"
            )
        if isinstance(value, list) and any(k not in KPIS for k in value):
            raise ScreenConfigError(
                f"{where}: option {name} names unknown KPIs {[k for k in value if k not in KPIS]}"
            )
    panel = PanelConfig(
        id=pid,
        type=ptype,
        grid=pos,
        title=_localized(raw["title"], where) if "title" in raw else None,
        kpi=kpi,
        filters=Scope(**{k: str(v) for k, v in filters.items() if v is not None}),
        green=green,
        amber=amber,
        unit=unit,
        decimals=decimals,
        stale_after_minutes=stale,
        options=tuple(sorted(options.items())),
    )
    problem = kind.check(panel)
    if problem:
        raise ScreenConfigError(f"{where}: {problem}")
    return panel


def parse_screen(raw: Any, name: str, source: str = "") -> Screen:
    where = source or f"{name}.json"
    if not isinstance(raw, Mapping):
        raise ScreenConfigError(f"{where}: a screen must be a JSON object")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ScreenConfigError(f"{where}: schema_version must be {SCHEMA_VERSION}, got {version!r}")
    unknown = set(raw) - SCREEN_KEYS
    if unknown:
        raise ScreenConfigError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(SCREEN_KEYS)}")
    columns = _int(raw.get("columns", 12), where, "columns", 1)
    rows = _int(raw.get("rows", 6), where, "rows", 1)
    panels_raw = raw.get("panels")
    if not isinstance(panels_raw, list) or not panels_raw:
        raise ScreenConfigError(f"{where}: panels must be a non-empty list")
    panels = tuple(parse_panel(p, f"{where}: panel {i}", columns, rows) for i, p in enumerate(panels_raw))
    seen: dict[str, int] = {}
    cells: dict[tuple[int, int], str] = {}
    for i, panel in enumerate(panels):
        if panel.id in seen:
            raise ScreenConfigError(
                f"{where}: panel {i} ({panel.id!r}): id already used by panel {seen[panel.id]}"
            )
        seen[panel.id] = i
        g = panel.grid
        for x in range(g.x, g.x + g.w):
            for y in range(g.y, g.y + g.h):
                if (x, y) in cells:
                    raise ScreenConfigError(
                        f"{where}: panel {i} ({panel.id!r}): overlaps panel {cells[(x, y)]!r} at column {x}, row {y}"
                    )
                cells[(x, y)] = panel.id
    refresh = raw.get("refresh_seconds")
    density = raw.get("density", "normal")
    if density not in DENSITIES:
        raise ScreenConfigError(f"{where}: density must be one of {', '.join(DENSITIES)}, got {density!r}")
    return Screen(
        name=name,
        title=_localized(raw.get("title", name), where),
        columns=columns,
        rows=rows,
        panels=panels,
        refresh_seconds=None if refresh is None else _int(refresh, where, "refresh_seconds", 5),
        source=where,
        density=density,
    )


def load_screen_file(path: Path) -> Screen:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ScreenConfigError(f"{path.name}: not valid JSON: {error.msg} at line {error.lineno}") from None
    return parse_screen(raw, path.stem, path.name)


def load_screens(folder: str | Path | None = None) -> dict[str, Screen]:
    """Every screen of the folder, by name (the file name without .json), in file-name order."""
    base = Path(folder) if folder is not None else screens_dir()
    if not base.is_dir():
        raise ScreenConfigError(
            f"screens folder {base} does not exist (setting screens_dir / IOC_SCREENS_DIR)"
        )
    screens = {path.stem: load_screen_file(path) for path in sorted(base.glob("*.json"))}
    if not screens:
        raise ScreenConfigError(f"screens folder {base} holds no *.json screen")
    return screens


def playlist(screens: Mapping[str, Screen], configured: str | None = None) -> list[str]:
    """The order kiosk mode rotates through: the ``screen_playlist`` setting, else every screen."""
    text = settings.get("screen_playlist", configured) or ""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in screens]
    if unknown:
        raise ScreenConfigError(
            f"screen_playlist names unknown screens {unknown}; known: {', '.join(screens)}"
        )
    if not names:
        names = list(screens)
        if DEFAULT_SCREEN in names:  # the default screen opens the playlist
            names.remove(DEFAULT_SCREEN)
            names.insert(0, DEFAULT_SCREEN)
    return names
