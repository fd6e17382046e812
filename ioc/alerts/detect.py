"""The detectors: from the data of some school days to the findings of one rule on each of them.

A :class:`Finding` says "this unit met this rule's condition on this school day". Findings are
pure values; the lifecycle (ioc/alerts/lifecycle.py) turns runs of them into alerts.

- ``anomaly``: each unit's attendance (school, ward, district, city) against its own baseline: the
  median of the same weekday over the previous weeks (so a normal Friday or a chronically low
  school is its own normal, and the season moves the baseline along). The noise allowed is the
  larger of the binomial noise of the day's enrolment (small schools wobble more) and the unit's
  own usual deviation from its baseline (a robust spread of the previous school days). A unit is
  *unusual* when it is at least ``z`` of those below its baseline and at least ``min_drop`` of its
  level below it. Rolled up: when at least ``share`` (and ``min_schools``) of a ward's schools are
  lower together, the ward gets one alert instead of one per school; likewise wards into their
  district and districts into the city.
- ``missing_report``: a school (active, with pupils, that has reported before) without attendance
  on each of its last ``days`` school days (days its district or ward was closed do not count).
  Rolled up the same way.
- ``outage``: a school offline (or silent while other probes come in) for ``hours`` within school
  hours of a school day. Rolled up the same way: a power cut over a district is one alert.
- ``threshold``: a KPI below its red (or amber) threshold for a unit at the rule's level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binom, norm

from ioc.alerts.rules import Rule
from ioc.calendar import SchoolCalendar

CHILD = {"city": "district", "district": "ward", "ward": "school"}
WEEKDAYS = {
    "vi": ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật"),
    "en": ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"),
}
UNIT_WORDS = {
    "school": {"vi": "trường", "en": "schools"},
    "ward": {"vi": "phường/xã", "en": "wards"},
    "district": {"vi": "quận/huyện", "en": "districts"},
}
CITY_NAME = {"vi": "Toàn thành phố", "en": "Whole city"}
NOISE_DAYS = 30  # school days of history the usual spread is measured on
NOISE_FLOOR = 0.003  # no unit is trusted to be steadier than 0.3 points


@dataclass(frozen=True)
class Finding:
    rule: str
    level: str
    unit: str
    unit_name: str
    district: str | None
    ward: str | None
    day: date
    value: float | None
    expected: float | None
    messages: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def pct(value: float, lang: str, decimals: int = 0) -> str:
    text = f"{value * 100:.{decimals}f}"
    return (text.replace(".", ",") if lang == "vi" else text) + " %"


# -- the hierarchy: units and their names --------------------------------------------------------------


class Units:
    """Names and parents of the units of the schools in ``schools`` (ioc.alerts.data.hierarchy)."""

    def __init__(self, schools: pd.DataFrame) -> None:
        self.schools = schools
        self.ward_of = schools["ward"].to_dict()
        self.district_of = schools["district"].to_dict()
        self.ward_district = dict(zip(schools["ward"], schools["district"], strict=False))
        self.names = {
            "school": schools["school_name"].to_dict(),
            "ward": dict(zip(schools["ward"], schools["ward_name"], strict=False)),
            "district": dict(zip(schools["district"], schools["district_name"], strict=False)),
        }

    def key_of(self, level: str) -> Callable[[str], str]:
        """school_id -> the code of its unit at ``level``."""
        if level == "school":
            return lambda s: s
        if level == "ward":
            return lambda s: self.ward_of.get(s, "?")
        if level == "district":
            return lambda s: self.district_of.get(s, "?")
        return lambda s: "all"

    def parent(self, level: str, unit: str) -> str:
        if level == "school":
            return self.ward_of.get(unit, "?")
        if level == "ward":
            return self.ward_district.get(unit, "?")
        return "all"

    def name(self, level: str, unit: str, lang: str = "vi") -> str:
        if level == "city":
            return CITY_NAME[lang]
        return str(self.names[level].get(unit, unit))

    def place(self, level: str, unit: str) -> tuple[str | None, str | None]:
        """(district, ward) codes a unit lies in: who may see its alerts."""
        if level == "school":
            return self.district_of.get(unit), self.ward_of.get(unit)
        if level == "ward":
            return self.ward_district.get(unit), unit
        if level == "district":
            return unit, None
        return None, None

    def finding(
        self,
        rule: Rule,
        level: str,
        unit: str,
        day: date,
        value: float | None,
        expected: float | None,
        messages: dict[str, str],
        details: dict[str, Any],
    ) -> Finding:
        district, ward = self.place(level, unit)
        return Finding(
            rule.id,
            level,
            unit,
            self.name(level, unit),
            district,
            ward,
            day,
            value,
            expected,
            messages,
            details,
        )


def roll_up(
    units: Units,
    flagged: dict[str, set[str]],
    lower: dict[str, set[str]],
    observed: dict[str, set[str]],
    share: float,
    min_count: int,
) -> dict[str, set[str]]:
    """Which units of each level get the alert, given for each level the units ``flagged`` on their
    own, the units ``lower`` (hit, if less clearly) and the units ``observed`` (with data).

    A unit above schools stands for its children when it is flagged itself (or no test applies to
    it: ``flagged`` lacks the level) and at least ``share`` of its observed children, and at least
    ``min_count``, are lower; then its children's alerts are dropped. Otherwise its children's own
    alerts stand and it has none. Works upwards: schools -> wards -> districts -> city."""
    result = {level: set(flagged.get(level, set())) for level in ("school", "ward", "district", "city")}
    observed = dict(observed)
    for level in ("ward", "district", "city"):
        child = CHILD[level]
        if level not in observed:  # the units with an observed child are observed
            observed[level] = {units.parent(child, kid) for kid in observed.get(child, set())}
        kids_lower: dict[str, set[str]] = {}
        kids_seen: dict[str, int] = {}
        for kid in observed.get(child, set()):
            parent = units.parent(child, kid)
            kids_seen[parent] = kids_seen.get(parent, 0) + 1
            # a child counts as lower when hit itself or when it stands for its own lower children
            if kid in lower.get(child, set()) or kid in result[child]:
                kids_lower.setdefault(parent, set()).add(kid)
        candidates = flagged[level] if level in flagged else set(kids_lower)
        stands = set()
        for unit in candidates:
            hit = kids_lower.get(unit, set())
            if len(hit) >= min_count and len(hit) >= share * kids_seen.get(unit, 0):
                stands.add(unit)
                result[child] -= hit
        result[level] = stands
        # what a unit stands for is lower at its level
        lower[level] = set(lower.get(level, set())) | stands
    return result


# -- anomaly ----------------------------------------------------------------------------------------------


def _baseline(rates: pd.DataFrame, weeks: int) -> pd.DataFrame:
    """For each day (row) and unit (column), the median of the same weekday on up to ``weeks``
    previous school days of that weekday (at least 3 of them), NaN without enough history."""
    out = pd.DataFrame(np.nan, index=rates.index, columns=rates.columns)
    weekday = pd.Index([d.weekday() for d in rates.index])
    for w in range(7):
        rows = rates[weekday == w]
        if len(rows):
            out.loc[rows.index] = rows.shift(1).rolling(weeks, min_periods=3).median().to_numpy()
    return out


def _spread(rates: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """The unit's usual deviation from its baseline: 1.4826 x the median absolute deviation over
    the previous NOISE_DAYS school days (robust to the odd unusual day)."""
    return 1.4826 * (rates - base).abs().shift(1).rolling(NOISE_DAYS, min_periods=5).median()


@dataclass(frozen=True)
class UnitDay:
    value: float
    expected: float
    z: float


def _score(
    present: pd.DataFrame, enrolled: pd.DataFrame, weeks: int, weekday_offset: pd.Series | None
) -> tuple[pd.DataFrame, ...]:
    """(rates, baselines, z) of each unit (column) on each day (row).

    The city's baseline is the median of the same weekday over the previous ``weeks``. Below the
    city, a unit's baseline is its own usual level (the median of its previous NOISE_DAYS school
    days, steady even for a small school) plus the weekday's usual offset: the unit's own (the
    median of its same-weekday deviations from its level) for wards and districts, the city's for
    a school, whose handful of same-weekday days would make its own offset mostly noise."""
    rates = present / enrolled.where(enrolled > 0)
    if weekday_offset is None:
        base = _baseline(rates, weeks)
    else:
        level = rates.shift(1).rolling(NOISE_DAYS, min_periods=10).median()
        offset = _baseline(rates - level, weeks) if weekday_offset.empty else None
        base = level + offset if offset is not None else level.add(weekday_offset, axis=0)
    binomial = np.sqrt((base * (1 - base)).clip(lower=0) / enrolled.where(enrolled > 0))
    sd = np.maximum(np.maximum(_spread(rates, base).fillna(0), binomial.fillna(0)), NOISE_FLOOR)
    z = (base - rates) / sd
    return rates, base, z


def anomalies(rule: Rule, units: Units, rows: pd.DataFrame, days: list[date]) -> list[Finding]:
    """The ``anomaly`` findings of ``rule`` on each of ``days``; ``rows`` holds attendance (date,
    school_id, enrolled, present) from well before the first day (the baseline needs history)."""
    if rows.empty or not days:
        return []
    weeks, zmin, drops = int(rule.param("weeks")), float(rule.param("z")), rule.param("min_drop")
    rows = rows[rows["school_id"].isin(units.schools.index)]
    present = rows.pivot_table(index="date", columns="school_id", values="present", aggfunc="sum")
    enrolled = rows.pivot_table(index="date", columns="school_id", values="enrolled", aggfunc="sum")
    present.index = pd.Index([pd.Timestamp(d).date() for d in present.index])
    enrolled.index = present.index
    wanted = [d for d in days if d in present.index]
    if not wanted:
        return []
    scores: dict[str, tuple[pd.DataFrame, ...]] = {}
    city_offset = pd.Series(dtype=float)
    for level in ("city", "district", "ward", "school"):
        if level == "school":
            p, e = present, enrolled
        else:
            key = units.key_of(level)
            groups = [key(s) for s in present.columns]
            p = present.T.groupby(groups).sum(min_count=1).T
            e = enrolled.T.groupby(groups).sum(min_count=1).T
        if level == "city":
            rates, base, z = _score(p, e, weeks, None)
            usual = rates.shift(1).rolling(NOISE_DAYS, min_periods=10).median()
            city_offset = (base - usual)["all"]
        else:
            rates, base, z = _score(p, e, weeks, city_offset if level == "school" else pd.Series(dtype=float))
        if level == "school":
            # a school's pupils are few: its drop must also be unlikely under the exact binomial
            # law (the normal approximation is far too generous for 25 pupils at 96 %)
            tail = binom.cdf(p.loc[wanted], e.loc[wanted], base.loc[wanted].clip(0, 1))
            exact = pd.DataFrame(norm.isf(tail), index=wanted, columns=p.columns)
            z = np.minimum(z.loc[wanted], exact)
        scores[level] = (rates.loc[wanted], base.loc[wanted], z.loc[wanted], e.loc[wanted])
    findings: list[Finding] = []
    for day in wanted:
        flagged: dict[str, set[str]] = {}
        lower: dict[str, set[str]] = {}
        observed: dict[str, set[str]] = {}
        for level, (rates, base, z, _) in scores.items():
            r, b, zz = rates.loc[day], base.loc[day], z.loc[day]
            drop = b - r
            seen = r.notna() & b.notna()
            observed[level] = set(r.index[seen])
            flagged[level] = set(r.index[seen & (zz >= zmin) & (drop >= drops[level])])
            lower[level] = set(r.index[seen & (zz >= zmin / 2) & (drop >= drops[level] / 2)])
        stands = roll_up(
            units, flagged, lower, observed, float(rule.param("share")), int(rule.param("min_schools"))
        )
        for level, chosen in stands.items():
            rates, base, z, e = scores[level]
            for unit in sorted(chosen):
                value, expected = float(rates.at[day, unit]), float(base.at[day, unit])
                child = CHILD.get(level)
                counts: tuple[int, int] | None = None
                if child:
                    kids = [k for k in observed[child] if units.parent(child, k) == unit or level == "city"]
                    hit = [k for k in kids if k in lower[child]]
                    counts = (len(hit), len(kids))
                decimals = 0 if expected - value >= 0.05 else 1
                messages = {}
                for lang in ("vi", "en"):
                    name = units.name(level, unit, lang)
                    usual = pct(expected, lang, decimals)
                    now = pct(value, lang, decimals)
                    wd = WEEKDAYS[lang][day.weekday()]
                    if lang == "vi":
                        text = f"{name}: {now} so với thường lệ {usual} vào {wd}"
                        if counts and child:
                            text += f"; {counts[0]}/{counts[1]} {UNIT_WORDS[child]['vi']} thấp hơn"
                    else:
                        text = f"{name}: {now} vs usually {usual} on {wd}"
                        if counts and child:
                            text += f"; {counts[0]} of {counts[1]} {UNIT_WORDS[child]['en']} lower"
                    messages[lang] = text
                details: dict[str, Any] = {
                    "z": round(float(z.at[day, unit]), 2),
                    "enrolled": int(e.at[day, unit]),
                }
                if counts:
                    details.update({"lower": counts[0], "of": counts[1], "children": child})
                findings.append(units.finding(rule, level, unit, day, value, expected, messages, details))
    return findings


# -- missing reports -------------------------------------------------------------------------------------


def missing_reports(
    rule: Rule, units: Units, rows: pd.DataFrame, history: list[date], days: list[date], cal: SchoolCalendar
) -> list[Finding]:
    """The ``missing_report`` findings on each of ``days``; ``history`` is every school day from
    well before the first of ``days`` (oldest first), ``rows`` the attendance rows over them."""
    n = int(rule.param("days"))
    schools = units.schools
    expected = schools[schools["active"] & (schools["students"] > 0)]
    ids = expected.index
    reported = np.zeros((len(history), len(ids)), dtype=bool)
    if not rows.empty:
        seen = rows[rows["school_id"].isin(ids)]
        at = pd.Index(history).get_indexer(pd.Index([pd.Timestamp(d).date() for d in seen["date"]]))
        ok_rows = at >= 0
        reported[at[ok_rows], ids.get_indexer(seen["school_id"])[ok_rows]] = True
    # days a school was not expected: before it was known, or its district or ward was closed
    known = pd.to_datetime(expected["known_from"]).dt.date.to_numpy()
    excused = np.zeros_like(reported)
    for i, day in enumerate(history):
        excused[i] = known > day
        for closure in cal.closures_on(day):
            excused[i] |= (
                expected["district"].isin(closure.districts) | expected["ward"].isin(closure.wards)
            ).to_numpy()
    ok = reported | excused
    ever = np.cumsum(reported, axis=0) > 0  # has reported on some school day up to then
    findings: list[Finding] = []
    position = {d: i for i, d in enumerate(history)}
    for day in days:
        i = position.get(day, -1)
        if i < 0 or i + 1 < n:
            continue
        # silent on each of the last n school days, after reporting at least once before them
        silent = ~ok[i - n + 1 : i + 1].any(axis=0) & (ever[i - n] if i >= n else False)
        streak = {}
        for col in np.flatnonzero(silent):
            back = ok[: i + 1, col][::-1]
            streak[str(ids[col])] = int(np.argmax(back)) if back.any() else i + 1
        flagged = {"school": set(streak)}
        observed = {"school": set(ids[~excused[i]])}
        stands = roll_up(
            units,
            flagged,
            {"school": set(streak)},
            observed,
            float(rule.param("share")),
            int(rule.param("min_schools")),
        )
        findings.extend(_silence_findings(rule, units, stands, streak, observed, day))
    return findings


def _silence_findings(
    rule: Rule,
    units: Units,
    stands: dict[str, set[str]],
    streak: dict[str, int],
    observed: dict[str, set[str]],
    day: date,
) -> list[Finding]:
    out = []
    for level, chosen in stands.items():
        for unit in sorted(chosen):
            if level == "school":
                days_silent = streak[unit]
                counts = None
            else:
                members = [s for s in observed["school"] if unit == "all" or units.key_of(level)(s) == unit]
                silent = [s for s in members if s in streak]
                days_silent = min(streak[s] for s in silent)
                counts = (len(silent), len(members))
            messages = {
                "vi": f"{units.name(level, unit, 'vi')}: không báo cáo điểm danh {days_silent} ngày học liên tiếp",
                "en": f"{units.name(level, unit, 'en')}: no attendance report for {days_silent} school days",
            }
            if counts:
                messages["vi"] += f"; {counts[0]}/{counts[1]} trường"
                messages["en"] += f"; {counts[0]} of {counts[1]} schools"
            details = {"days": days_silent} | ({"silent": counts[0], "of": counts[1]} if counts else {})
            out.append(units.finding(rule, level, unit, day, float(days_silent), 0.0, messages, details))
    return out


# -- outages ---------------------------------------------------------------------------------------------


def outages(
    rule: Rule, units: Units, down: pd.DataFrame, probed: pd.DataFrame, days: list[date]
) -> list[Finding]:
    """The ``outage`` findings on each of ``days`` from the stretches of ``down`` (ioc.alerts.data
    .downtimes) and the schools with a probe on each day (``probed``: day, school_id)."""
    findings: list[Finding] = []
    for day in days:
        today = down[down["day"] == day]
        today = today[today["school_id"].isin(units.schools.index)]
        if today.empty:
            continue
        hit = today.set_index("school_id")
        seen = set(probed.loc[probed["day"] == day, "school_id"]) & set(units.schools.index)
        flagged = {"school": set(hit.index)}
        stands = roll_up(
            units,
            flagged,
            {"school": set(hit.index)},
            {"school": seen},
            float(rule.param("share")),
            int(rule.param("min_schools")),
        )
        for level, chosen in stands.items():
            for unit in sorted(chosen):
                members = (
                    hit if level == "school" else hit[[units.key_of(level)(s) == unit for s in hit.index]]
                )
                members = members.loc[[unit]] if level == "school" else members
                first, last = members["first"].min(), members["last"].max()
                minutes = int(members["minutes"].max())
                span = f"{first:%H:%M}–{(last + pd.Timedelta(minutes=5)):%H:%M}"
                hours = f"{minutes // 60} h {minutes % 60:02d}"
                how = (
                    {"vi": "không có tín hiệu", "en": "no probe"}
                    if bool(members["silent"].all())
                    else {"vi": "mất kết nối", "en": "offline"}
                )
                messages = {
                    "vi": f"{units.name(level, unit, 'vi')}: {how['vi']} {hours} trong giờ học ({span})",
                    "en": f"{units.name(level, unit, 'en')}: {how['en']} for {hours} in school hours ({span})",
                }
                details = {"first": f"{first:%H:%M}", "last": f"{last:%H:%M}", "minutes": minutes}
                if level != "school":
                    total = sum(1 for s in seen if unit == "all" or units.key_of(level)(s) == unit)
                    messages["vi"] += f"; {len(members)}/{total} trường"
                    messages["en"] += f"; {len(members)} of {total} schools"
                    details.update({"schools": len(members), "of": total})
                findings.append(units.finding(rule, level, unit, day, minutes / 60, 0.0, messages, details))
    return findings
