"""What a panel is: its configuration (from a screen file), its kind (a plug-in class), its output.

A panel kind turns a :class:`PanelConfig` and a :class:`PanelContext` (store, language, theme,
"as of" snapshot, extra filters from the URL) into a :class:`PanelOutput`: a Dash component plus
the state of its data. The control room wraps every output in the same frame, so a panel whose
data is stale, missing or failing says so in place instead of going blank.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from ioc import clock
from ioc.datasets import DATASETS
from ioc.metrics.query import Scope
from ioc.metrics.registry import Kpi, Localized

if TYPE_CHECKING:
    from ioc.metrics.front import Metrics

STATES = ("ok", "stale", "missing", "error")

# How old the newest data of a dataset may be before a panel calls it stale (minutes), as each
# dataset declares it (ioc/datasets.py: attendance is reported once per school day, so a long
# weekend must not raise the flag; probes come every 5 minutes).
DEFAULT_STALE_MINUTES: Mapping[str, int] = {name: d.stale_minutes for name, d in DATASETS.items()}


@dataclass(frozen=True)
class GridPos:
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class PanelConfig:
    id: str
    type: str
    grid: GridPos
    title: Localized | None = None
    kpi: str | None = None
    filters: Scope = field(default_factory=Scope)
    green: float | None = None  # thresholds overriding the KPI's own
    amber: float | None = None
    unit: str | None = None
    decimals: int | None = None
    stale_after_minutes: int | None = None
    options: tuple[tuple[str, Any], ...] = ()

    def option(self, name: str, default: Any = None) -> Any:
        return dict(self.options).get(name, default)


@dataclass(frozen=True)
class PanelContext:
    metrics: Metrics  # the metrics front door of the caller (its access scope)
    lang: str = "vi"
    theme: str = "dark"
    now: datetime = field(default_factory=lambda: clock.now())
    snapshot: int | None = None
    scope: Scope = field(default_factory=Scope)  # filters from the URL, merged with the panel's own
    date_to: date | None = None
    explainable: bool = True
    kiosk: bool = False
    grid_rows: int = 0  # the rows of the wall screen's grid the panel is drawn on (0: not on a wall)


@dataclass(frozen=True)
class PanelOutput:
    body: Any
    state: str = "ok"  # one of STATES
    as_of: datetime | None = None
    message: str = ""
    title: str | None = None  # the title for this drawing, when it depends on the data (None: the usual)


class PanelKind:
    """Base class of panel kinds. Subclasses set ``name`` and implement :meth:`render`."""

    name: ClassVar[str] = ""
    needs_kpi: ClassVar[bool] = True
    # option name -> (type, allowed values or None)
    option_types: ClassVar[Mapping[str, tuple[type, tuple[Any, ...] | None]]] = {}

    def check(self, panel: PanelConfig) -> str | None:
        """A problem with ``panel``'s options (beyond the generic checks), or None."""
        return None

    def render(self, panel: PanelConfig, ctx: PanelContext) -> PanelOutput:
        raise NotImplementedError


def merged_scope(panel: PanelConfig, ctx: PanelContext) -> Scope:
    """The panel's filters, completed by the URL's (the panel's own win: a screen may pin a district)."""
    values = {
        name: getattr(panel.filters, name) or getattr(ctx.scope, name)
        for name in ("district", "ward", "level", "ownership", "school")
    }
    return Scope(**values)


def effective_kpi(panel: PanelConfig, kpi: Kpi) -> Kpi:
    """The KPI with the panel's threshold, unit and decimal overrides applied."""
    changes: dict[str, Any] = {}
    if panel.green is not None:
        changes["green"] = panel.green
    if panel.amber is not None:
        changes["amber"] = panel.amber
    if panel.unit is not None:
        changes["unit"] = panel.unit
    if panel.decimals is not None:
        changes["decimals"] = panel.decimals
    return replace(kpi, **changes) if changes else kpi


def stale_minutes(panel: PanelConfig, kpi: Kpi) -> int:
    """How old the KPI's as-of may be: the panel's setting, else the default of the KPI's main dataset
    (the table its formula reads; e.g. digital readiness is as fresh as its monthly snapshot)."""
    if panel.stale_after_minutes is not None:
        return panel.stale_after_minutes
    dataset = kpi.formula.get("table") or (kpi.datasets[0] if kpi.datasets else "")
    return DEFAULT_STALE_MINUTES.get(dataset, 24 * 60)


def is_stale(as_of: datetime | None, now: datetime, minutes: int) -> bool:
    if as_of is None:
        return False
    if (as_of.tzinfo is None) != (now.tzinfo is None):
        as_of = as_of.replace(tzinfo=None)
        now = now.replace(tzinfo=None)
    return now - as_of > timedelta(minutes=minutes)
