"""Small Dash components shared by panels and pages: clickable numbers, status lights, frames."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlencode

from dash import html

from ioc import i18n, ids
from ioc.metrics.query import FILTERS, Scope
from ioc.metrics.registry import Kpi

CITY = Scope()  # no filter: the whole city


# every graph: no mode bar, and Plotly's locale of the page's language (graph_config)
GRAPH_CONFIG: dict[str, Any] = {"displayModeBar": False, "displaylogo": False}


def graph_config(lang: str, **extra: Any) -> Any:  # dcc.Graph's Config, a TypedDict
    """The config of every graph of the app: no mode bar, and Plotly's locale of the page's
    language (month and day names of dates, hover dates), so a Vietnamese chart never says "Nov"."""
    return {**GRAPH_CONFIG, **i18n.plotly_config(lang), **extra}


def explain_ref(
    kpi: str,
    scope: Scope = CITY,
    date_to: date | None = None,
    snapshot: int | None = None,
    date_from: date | None = None,
) -> str:
    """Encode the question behind a number so the "what is this number?" box can ask it again."""
    parts: list[tuple[str, str]] = [("kpi", kpi), *scope.items()]
    if date_from:
        parts.append(("from", date_from.isoformat()))
    if date_to:
        parts.append(("to", date_to.isoformat()))
    if snapshot is not None:
        parts.append(("asof", str(snapshot)))
    return urlencode(parts)


def parse_explain_ref(ref: str) -> dict[str, Any]:
    """The inverse of :func:`explain_ref`: {'kpi', 'scope', 'date_from', 'date_to', 'snapshot'}."""
    values = dict(parse_qsl(ref))
    return {
        "kpi": values.get("kpi", ""),
        "scope": Scope(**{k: values[k] for k in FILTERS if k in values}),
        "date_from": date.fromisoformat(values["from"]) if "from" in values else None,
        "date_to": date.fromisoformat(values["to"]) if "to" in values else None,
        "snapshot": int(values["asof"]) if "asof" in values else None,
    }


def attrs(values: dict[str, Any]) -> dict[str, Any]:
    """HTML attributes Dash accepts but does not type (``data-*``, ``aria-*``): ``**attrs({...})``."""
    return values


def _with_unit(text: str) -> Any:
    """A value whose unit is a word ("0,071 Mbps/HS") as the number and its unit in a smaller
    span: the unit no longer pushes a long value out of its tile; a percentage stays as it is."""
    number, space, unit = text.partition(i18n.NBSP)
    if space and any(c.isalpha() for c in unit):
        return [number + space, html.Span(unit, className="unit")]
    return text


def value_button(text: str, ref: str | None, lang: str, class_name: str = "value") -> Any:
    """A number that opens "what is this number?" when clicked (plain text when ``ref`` is None)."""
    if ref is None:
        return html.Span(_with_unit(text), className=class_name)
    return html.Button(
        _with_unit(text),
        id=ids.explain(ref),
        className=f"{class_name} explainable",
        n_clicks=0,
        title=i18n.t("explain.hint", lang),
    )


def status_light(status: str, lang: str) -> Any:
    return html.Span(
        className=f"light light-{status}",
        title=i18n.t(f"status.{status}", lang),
        role="img",  # an aria-label needs a role that takes a name
        **attrs({"aria-label": i18n.t(f"status.{status}", lang)}),
    )


def with_query(path: str, **params: Any) -> str:
    """``path`` with the non-empty ``params`` as its query string."""
    kept = [(k, str(v)) for k, v in params.items() if v not in (None, "", False)]
    return f"{path}?{urlencode(kept)}" if kept else path


DRILL_PATHS = {"district": "/district/{}", "ward": "/ward/{}", "school": "/school/{}"}


def drill_link(by: str, key: str, lang: str, snapshot: int | None = None) -> str | None:
    """Where a click on a unit of kind ``by`` goes (None for kinds without a page, e.g. dates)."""
    template = DRILL_PATHS.get(by)
    if template is None or not key:
        return None
    return with_query(template.format(key), lang=None if lang == "vi" else lang, asof=snapshot)


def series_grain(kpi: Kpi) -> str:
    """'month' for a KPI of the monthly digital snapshots (drawn one point per month), else 'day'."""
    return "month" if kpi.formula.get("table") == "digital" else "day"
