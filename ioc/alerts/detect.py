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
        # the tree as arrays: the units of each level in a fixed order, and for each unit below the
        # city the position of its parent in the level above (the roll-up counts with bincount)
        wards, ward_codes = pd.factorize(schools["ward"].astype(str), sort=True)
        district_codes = pd.Index(sorted({str(d) for d in schools["district"]}))
        self.order: dict[str, list[str]] = {
            "school": [str(s) for s in schools.index],
            "ward": list(ward_codes),
            "district": list(district_codes),
            "city": ["all"],
        }
        self.position = {level: {u: i for i, u in enumerate(us)} for level, us in self.order.items()}
        self.parent_index = {
            "school": np.asarray(wards, dtype=np.int64),
            "ward": district_codes.get_indexer([str(self.ward_district[w]) for w in ward_codes]).astype(
                np.int64
            ),
            "district": np.zeros(len(district_codes), dtype=np.int64),
        }

    def ancestor(self, level: str) -> np.ndarray:
        """For each school, the position of its unit at ``level``."""
        if level == "school":
            return np.arange(len(self.order["school"]))
        if level == "ward":
            return self.parent_index["school"]
        if level == "district":
            return self.parent_index["ward"][self.parent_index["school"]]
        return np.zeros(len(self.order["school"]), dtype=np.int64)

    def mask(self, level: str, members: Any) -> np.ndarray:
        """A boolean array over the units of ``level`` marking ``members`` (codes)."""
        out = np.zeros(len(self.order[level]), dtype=bool)
        where = self.position[level]
        out[[where[m] for m in members if m in where]] = True
        return out

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
    flagged: dict[str, np.ndarray],
    lower: dict[str, np.ndarray],
    observed: dict[str, np.ndarray],
    share: float,
    min_count: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Which units of each level get the alert, given for each level (boolean arrays over
    ``units.order[level]``) the units ``flagged`` on their own, the units ``lower`` (hit, if less
    clearly) and the units ``observed`` (with data).

    A unit above schools stands for its children when it is flagged itself (or no test applies to
    it: ``flagged`` lacks the level) and at least ``share`` of its observed children, and at least
    ``min_count``, are lower; then its children's alerts are dropped. Otherwise its children's own
    alerts stand and it has none. Works upwards: schools -> wards -> districts -> city.

    Returns (the alerts per level, the lower units per level -- a unit standing for its children
    counts as lower --, and per level above schools (children lower, children observed) counts)."""
    size = {level: len(units.order[level]) for level in units.order}
    result = {
        level: flagged[level].copy() if level in flagged else np.zeros(size[level], dtype=bool)
        for level in size
    }
    lower = {level: lower.get(level, np.zeros(size[level], dtype=bool)).copy() for level in size}
    observed = dict(observed)
    counts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for level in ("ward", "district", "city"):
        child = CHILD[level]
        parents = units.parent_index[child]
        seen_kids = observed[child]
        seen = np.bincount(parents[seen_kids], minlength=size[level])
        # a child counts as lower when hit itself or when it stands for its own lower children
        hit_kids = seen_kids & (lower[child] | result[child])
        hit = np.bincount(parents[hit_kids], minlength=size[level])
        if level not in observed:  # the units with an observed child are observed
            observed[level] = seen > 0
        candidates = flagged[level] if level in flagged else hit > 0
        stands = candidates & (hit >= min_count) & (hit >= share * seen)
        result[child] &= ~stands[parents]
        result[level] = stands
        lower[level] |= stands
        counts[level] = (hit, seen)
    return result, lower, counts


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
    days, steady even for a small school) plus an offset: for wards and districts their own usual
    offset for the weekday (the median of their same-weekday deviations from their level); for a
    school, whose handful of same-weekday days would make its own offset mostly noise, the city's
    deviation from its level that day (the weekday, and whatever moved the whole city)."""
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
    scores: dict[str, tuple[np.ndarray, ...]] = {}
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
            # a school is judged against its own level moved by the city's move that day (the
            # weekday and whatever moved every school, like the flu season): what fires is what
            # is unusual for the school beyond the whole city (the city's own alert says the rest)
            city_offset = (rates - usual)["all"]
        else:
            rates, base, z = _score(p, e, weeks, city_offset if level == "school" else pd.Series(dtype=float))
        if level == "school":
            # a school's pupils are few: its drop must also be unlikely under the exact binomial
            # law (the normal approximation is far too generous for 25 pupils at 96 %)
            tail = binom.cdf(p.loc[wanted], e.loc[wanted], base.loc[wanted].clip(0, 1))
            exact = pd.DataFrame(norm.isf(tail), index=wanted, columns=p.columns)
            z = np.minimum(z.loc[wanted], exact)
        columns = units.order[level]
        scores[level] = tuple(
            frame.loc[wanted].reindex(columns=columns).to_numpy(dtype=float) for frame in (rates, base, z, e)
        )
    share, min_count = float(rule.param("share")), int(rule.param("min_schools"))
    findings: list[Finding] = []
    for i, day in enumerate(wanted):
        flagged, lower, observed = {}, {}, {}
        for level, (rates, base, z, _) in scores.items():
            r, b, zz = rates[i], base[i], z[i]
            drop = b - r
            seen = ~np.isnan(r) & ~np.isnan(b)
            with np.errstate(invalid="ignore"):
                observed[level] = seen
                flagged[level] = seen & (zz >= zmin) & (drop >= drops[level])
                lower[level] = seen & (zz >= zmin / 2) & (drop >= drops[level] / 2)
        stands, lower, counts = roll_up(units, flagged, lower, observed, share, min_count)
        for level, chosen in stands.items():
            rates, base, z, e = scores[level]
            child = CHILD.get(level)
            for k in np.flatnonzero(chosen):
                unit = units.order[level][k]
                value, expected = float(rates[i, k]), float(base[i, k])
                hit_seen = (int(counts[level][0][k]), int(counts[level][1][k])) if child else None
                decimals = 0 if expected - value >= 0.05 else 1
                messages = {}
                for lang in ("vi", "en"):
                    name = units.name(level, unit, lang)
                    usual = pct(expected, lang, decimals)
                    now = pct(value, lang, decimals)
                    wd = WEEKDAYS[lang][day.weekday()]
                    if lang == "vi":
                        text = f"{name}: {now} so với thường lệ {usual} vào {wd}"
                        if hit_seen and child:
                            text += f"; {hit_seen[0]}/{hit_seen[1]} {UNIT_WORDS[child]['vi']} thấp hơn"
                    else:
                        text = f"{name}: {now} vs usually {usual} on {wd}"
                        if hit_seen and child:
                            text += f"; {hit_seen[0]} of {hit_seen[1]} {UNIT_WORDS[child]['en']} lower"
                    messages[lang] = text
                details: dict[str, Any] = {"z": round(float(z[i, k]), 2), "enrolled": int(e[i, k])}
                if hit_seen:
                    details.update({"lower": hit_seen[0], "of": hit_seen[1], "children": child})
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
        days_index = pd.DatetimeIndex(pd.to_datetime(pd.Series(history))).as_unit("s")
        at = days_index.get_indexer(pd.DatetimeIndex(pd.to_datetime(seen["date"])).as_unit("s"))
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
    at = units.ancestor("school")[[units.position["school"][str(x)] for x in ids]]  # ids -> tree positions
    n_schools = len(units.order["school"])
    findings: list[Finding] = []
    position = {d: i for i, d in enumerate(history)}
    for day in days:
        i = position.get(day, -1)
        if i < 0 or i + 1 < n:
            continue
        # silent on each of the last n school days, after reporting at least once before them
        silent = ~ok[i - n + 1 : i + 1].any(axis=0) & (ever[i - n] if i >= n else False)
        streak = np.zeros(n_schools)
        hit = np.zeros(n_schools, dtype=bool)
        seen = np.zeros(n_schools, dtype=bool)
        seen[at[~excused[i]]] = True
        for col in np.flatnonzero(silent):
            back = ok[: i + 1, col][::-1]
            streak[at[col]] = int(np.argmax(back)) if back.any() else i + 1
            hit[at[col]] = True
        if not hit.any():
            continue
        findings.extend(
            rolled_findings(
                rule, units, day, hit, seen, streak, _silence_text, lambda v: float(v), take=np.minimum
            )
        )
    return findings


def _silence_text(
    units: Units, level: str, unit: str, value: float, counts: tuple[int, int] | None
) -> tuple[dict[str, str], dict[str, Any]]:
    days_silent = int(value)
    messages = {
        "vi": f"{units.name(level, unit, 'vi')}: không báo cáo điểm danh {days_silent} ngày học liên tiếp",
        "en": f"{units.name(level, unit, 'en')}: no attendance report for {days_silent} school days",
    }
    details: dict[str, Any] = {"days": days_silent}
    if counts:
        messages["vi"] += f"; {counts[0]}/{counts[1]} trường"
        messages["en"] += f"; {counts[0]} of {counts[1]} schools"
        details.update({"schools": counts[0], "of": counts[1]})
    return messages, details


def rolled_findings(
    rule: Rule,
    units: Units,
    day: date,
    hit: np.ndarray,
    seen: np.ndarray,
    value: np.ndarray,
    text: Callable[..., tuple[dict[str, str], dict[str, Any]]],
    as_value: Callable[[float], float],
    take: Any = np.maximum,
) -> list[Finding]:
    """The findings of a day when schools (``hit`` among ``seen``, arrays over ``units.order
    ['school']``) are hit, rolled up to wards, districts and the city (:func:`roll_up`); a rolled-up
    unit's value is the ``take`` (max or min) of its hit schools' ``value``, its message counts them."""
    size = {level: len(units.order[level]) for level in units.order}
    stands, _, _ = roll_up(
        units,
        {"school": hit},
        {"school": hit},
        {"school": seen},
        float(rule.param("share")),
        int(rule.param("min_schools")),
    )
    out = []
    for level, chosen in stands.items():
        if not chosen.any():
            continue
        anc = units.ancestor(level)
        n_hit = np.bincount(anc[hit], minlength=size[level])
        n_seen = np.bincount(anc[seen], minlength=size[level])
        best = np.full(size[level], np.nan)
        for k in np.flatnonzero(hit):  # few schools are hit on a day
            a = anc[k]
            best[a] = value[k] if np.isnan(best[a]) else take(best[a], value[k])
        for k in np.flatnonzero(chosen):
            unit = units.order[level][k]
            counts = None if level == "school" else (int(n_hit[k]), int(n_seen[k]))
            messages, details = text(units, level, unit, float(best[k]), counts)
            out.append(
                units.finding(rule, level, unit, day, as_value(float(best[k])), 0.0, messages, details)
            )
    return out


# -- outages ---------------------------------------------------------------------------------------------


def outages(
    rule: Rule, units: Units, down: pd.DataFrame, probed: pd.DataFrame, days: list[date]
) -> list[Finding]:
    """The ``outage`` findings on each of ``days`` from the stretches of ``down`` (ioc.alerts.data
    .downtimes) and the schools with a probe on each day (``probed``: day, school_id)."""
    findings: list[Finding] = []
    n_schools = len(units.order["school"])
    where = units.position["school"]
    by_day = {day: frame for day, frame in down.groupby("day")} if len(down) else {}
    for day in days:
        today = by_day.get(day)
        if today is None:
            continue
        today = today[[str(x) in where for x in today["school_id"]]]
        if today.empty:
            continue
        rows = [where[str(x)] for x in today["school_id"]]
        hit = np.zeros(n_schools, dtype=bool)
        hit[rows] = True
        seen = units.mask("school", probed.loc[probed["day"] == day, "school_id"]) | hit
        minutes = np.zeros(n_schools)
        minutes[rows] = today["minutes"].to_numpy(dtype=float)
        spans = {
            where[str(x)]: (f, la, si)
            for x, f, la, si in zip(
                today["school_id"], today["first"], today["last"], today["silent"], strict=True
            )
        }

        def text(
            units: Units,
            level: str,
            unit: str,
            value: float,
            counts: tuple[int, int] | None,
            spans: dict = spans,
        ) -> tuple[dict[str, str], dict[str, Any]]:
            anc = units.ancestor(level)
            k = units.position[level][unit]
            mine = [spans[i] for i in spans if anc[i] == k]
            first, last = min(m[0] for m in mine), max(m[1] for m in mine)
            minutes = int(value)
            span = f"{first:%H:%M}–{(last + pd.Timedelta(minutes=5)):%H:%M}"
            hours = f"{minutes // 60} h {minutes % 60:02d}"
            how = (
                {"vi": "không có tín hiệu", "en": "no probe"}
                if all(m[2] for m in mine)
                else {"vi": "mất kết nối", "en": "offline"}
            )
            messages = {
                "vi": f"{units.name(level, unit, 'vi')}: {how['vi']} {hours} trong giờ học ({span})",
                "en": f"{units.name(level, unit, 'en')}: {how['en']} for {hours} in school hours ({span})",
            }
            details: dict[str, Any] = {"first": f"{first:%H:%M}", "last": f"{last:%H:%M}", "minutes": minutes}
            if counts:
                messages["vi"] += f"; {counts[0]}/{counts[1]} trường"
                messages["en"] += f"; {counts[0]} of {counts[1]} schools"
                details.update({"schools": counts[0], "of": counts[1]})
            return messages, details

        findings.extend(rolled_findings(rule, units, day, hit, seen, minutes, text, lambda v: v / 60))
    return findings
