"""Words and number formats of the app in Vietnamese (default) and English.

Every visible string comes from ``ioc/locales/<lang>.json`` through :func:`t`; a test checks that
both files hold the same keys and that every key used in the code exists.

Formats (documented in docs/app.md):

=========  =====================  =====================
           vi                     en
=========  =====================  =====================
number     ``3.512`` / ``72,5``   ``3,512`` / ``72.5``
percent    ``95,4 %``             ``95.4%``
date       ``23/11/2026``         ``2026-11-23`` (ISO 8601, unambiguous)
date-time  ``23/11/2026 09:05``   ``2026-11-23 09:05``
=========  =====================  =====================

A number and its unit (``%``, ``Mbps``, ``điểm %``) are joined by a no-break space.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

LANGS = ("vi", "en")
DEFAULT_LANG = "vi"
LOCALES = Path(__file__).resolve().parent / "locales"
# between a number and its unit ("95,4 %", "0,8 Mbps"): a line never breaks there (a tile once
# printed "(99,1" with "%)" alone on the next line)
NBSP = "\u00a0"


def lang_of(value: Any) -> str:
    """A supported language code from a URL parameter (anything else -> Vietnamese)."""
    return value if value in LANGS else DEFAULT_LANG


@cache
def catalog(lang: str) -> dict[str, str]:
    with (LOCALES / f"{lang}.json").open(encoding="utf-8") as handle:
        return json.load(handle)


def t(key: str, lang: str = DEFAULT_LANG, **values: Any) -> str:
    """The text of ``key`` in ``lang`` with ``{name}`` placeholders filled; KeyError if missing."""
    text = catalog(lang_of(lang))[key]
    return text.format(**values) if values else text


# -- charts ----------------------------------------------------------------------------------
@cache
def _plotly_locale(lang: str) -> dict[str, Any]:
    """Plotly.js's locale of ``lang`` (``ioc/locales/plotly.<lang>.json``: the ``dictionary`` and
    ``format`` of plotly.js's ``dist/plotly-locale-vi.js``, its dictionary filled in, with the
    locale's decimal point and thousands separator)."""
    with (LOCALES / f"plotly.{lang}.json").open(encoding="utf-8") as handle:
        return json.load(handle)


def plotly_config(lang: str = DEFAULT_LANG) -> dict[str, Any]:
    """The part of a Plotly config that speaks ``lang``: month and day names in dates, hover and
    axis date formats, the mode bar's words. Every graph (``ioc.panels.charts.graph_config``) and
    every image export passes it; English is Plotly's own (``en-US``)."""
    if lang_of(lang) == "en":
        return {"locale": "en-US"}
    return {"locale": lang_of(lang), "locales": {lang_of(lang): _plotly_locale(lang_of(lang))}}


def plotly_separators(lang: str = DEFAULT_LANG) -> str:
    """Plotly's ``separators`` layout attribute: decimal point then thousands (vi ``,.``, en ``.,``)."""
    return ",." if lang_of(lang) == "vi" else ".,"


# -- numbers ---------------------------------------------------------------------------------
def _group(text: str, sep: str) -> str:
    sign = "-" if text.startswith("-") else ""
    digits = text.lstrip("-")
    groups: list[str] = []
    while len(digits) > 3:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    groups.insert(0, digits)
    return sign + sep.join(groups)


def number(value: float | int | None, lang: str = DEFAULT_LANG, decimals: int = 0) -> str:
    """``3512.5`` -> vi ``3.512,5`` / en ``3,512.5``; None or NaN -> an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{float(value):.{decimals}f}" if decimals else str(round(float(value)))
    whole, _, frac = text.partition(".")
    if whole in ("-0",) and not frac.strip("0"):
        whole = "0"
    thousands, point = (".", ",") if lang_of(lang) == "vi" else (",", ".")
    out = _group(whole, thousands)
    return f"{out}{point}{frac}" if frac else out


def percent(ratio: float | None, lang: str = DEFAULT_LANG, decimals: int = 1) -> str:
    """A ratio 0..1 as a percentage: vi ``95,4 %``, en ``95.4%``."""
    if ratio is None or (isinstance(ratio, float) and math.isnan(ratio)):
        return "—"
    text = number(ratio * 100, lang, decimals)
    return f"{text}{NBSP}%" if lang_of(lang) == "vi" else f"{text}%"


def format_date(value: date | datetime | None, lang: str = DEFAULT_LANG) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.date()
    return value.strftime("%d/%m/%Y") if lang_of(lang) == "vi" else value.isoformat()


def format_datetime(value: datetime | None, lang: str = DEFAULT_LANG) -> str:
    if value is None:
        return "—"
    return f"{format_date(value, lang)} {value.strftime('%H:%M')}"


def ago(moment: datetime | None, now: datetime, lang: str = DEFAULT_LANG) -> str:
    """'cập nhật 3 phút trước' / 'updated 3 minutes ago' (moment and now both aware or both naive)."""
    if moment is None:
        return t("fresh.never", lang)
    seconds = max(0.0, (now - moment).total_seconds())
    if seconds < 60:
        return t("fresh.just_now", lang)
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return plural(f"fresh.{unit}_ago", int(seconds // size), lang)
    return t("fresh.just_now", lang)  # pragma: no cover - loop always returns


def duration(delta: timedelta, lang: str = DEFAULT_LANG) -> str:
    return ago(datetime(2000, 1, 1), datetime(2000, 1, 1) + delta, lang)


UNIT_SUFFIX = {"mbps": "unit.mbps", "mbps_per_student": "unit.mbps_per_student"}


def kpi_value(value: float | None, unit: str, lang: str = DEFAULT_LANG, decimals: int = 1) -> str:
    """A KPI value in its unit: ratio -> percent, index -> number, count -> integer, mbps -> 'x Mbps'."""
    if value is None:
        return "—"
    if unit == "ratio":
        return percent(value, lang, decimals)
    if unit == "count":
        return number(value, lang, 0)
    text = number(value, lang, decimals)
    suffix = UNIT_SUFFIX.get(unit)
    return f"{text}{NBSP}{t(suffix, lang)}" if suffix else text


def kpi_delta(delta: float | None, unit: str, lang: str = DEFAULT_LANG, decimals: int = 1) -> str:
    """A change between periods: ratios in percentage points ('+1,2 đ.%'), others in the unit."""
    if delta is None:
        return "—"
    scale = 100 if unit == "ratio" else 1
    shown = 0 if unit == "count" else decimals
    if round(abs(delta) * scale, shown) == 0:  # "−0,0" would claim a fall that rounding hides
        delta = 0.0
    sign = "+" if delta > 0 else ("−" if delta < 0 else "±")
    if unit == "ratio":
        return f"{sign}{number(abs(delta) * 100, lang, decimals)}{NBSP}{t('unit.points', lang)}"
    return f"{sign}{kpi_value(abs(delta), unit, lang, decimals)}"


def plural(key: str, n: int, lang: str = DEFAULT_LANG, **values: Any) -> str:
    """``key`` for the count ``n`` (formatted in the locale): English says "1 day" with the key's
    ``_one`` form and "2 days" with the key itself; Vietnamese nouns do not change ("1 ngày")."""
    lang = lang_of(lang)
    form = f"{key}_one" if n == 1 and f"{key}_one" in catalog(lang) else key
    return t(form, lang, n=number(n, lang), **values)


def level_name(level: str | None, lang: str = DEFAULT_LANG) -> str:
    return t(f"level.{level}", lang) if level else "—"


def ownership_name(ownership: str | None, lang: str = DEFAULT_LANG) -> str:
    return t(f"ownership.{ownership}", lang) if ownership else "—"


def severity_name(severity: str | None, lang: str = DEFAULT_LANG) -> str:
    """An alert's severity by its name ('Nghiêm trọng'), not its code ('critical')."""
    key = f"severity.{severity}"
    return t(key, lang) if key in catalog(lang_of(lang)) else (severity or "—")


def group_label(by: str, label: str, lang: str = DEFAULT_LANG) -> str:
    """The name of a group of an answer: a level or an ownership by its name, not its code."""
    if by == "level":
        return level_name(label, lang) if f"level.{label}" in catalog(lang_of(lang)) else label
    if by == "ownership":
        return ownership_name(label, lang) if f"ownership.{label}" in catalog(lang_of(lang)) else label
    return label


__all__ = [
    "group_label",
    "LANGS",
    "DEFAULT_LANG",
    "ago",
    "catalog",
    "duration",
    "format_date",
    "format_datetime",
    "kpi_delta",
    "kpi_value",
    "lang_of",
    "level_name",
    "number",
    "ownership_name",
    "severity_name",
    "percent",
    "plotly_config",
    "plotly_separators",
    "plural",
    "t",
]
