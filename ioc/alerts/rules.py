"""Alert rules: declarations in ``rules.toml`` parsed into frozen, validated objects.

Like the KPI registry (ioc/metrics/registry.py): each ``[[rule]]`` becomes a :class:`Rule`, checked
by the small named rules of :data:`CHECKS`; a bad declaration stops the program with a message
naming the rule and what is wrong. The ``alert_rules`` setting names a file replacing the built-in.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ioc import settings
from ioc.metrics.registry import KPIS

DECLARATIONS = Path(__file__).with_name("rules.toml")

KINDS = ("threshold", "anomaly", "missing_report", "outage")
LEVELS = ("city", "district", "ward", "school")
SEVERITIES = ("critical", "warning", "info")

# every kind's parameters and their defaults (a rule's `params` may set any of them, nothing else)
DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "threshold": {"status": "red"},
        "anomaly": {
            "z": 4.0,  # how many standard deviations below the unit's own baseline
            "weeks": 6,  # the baseline: the same weekday over this many previous weeks
            "share": 0.5,  # share of a unit's schools (wards, districts) lower for one alert above them
            "min_schools": 2,  # ... and at least this many of them
            "min_drop": {"school": 0.10, "ward": 0.05, "district": 0.03, "city": 0.015},
        },
        "missing_report": {"days": 2, "share": 0.5, "min_schools": 2},
        "outage": {"hours": 2.0, "share": 0.5, "min_schools": 2},
    }
)
# which datasets each kind reads (an evaluation after a load runs the rules whose data changed)
READS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "anomaly": ("attendance", "schools"),
        "missing_report": ("attendance", "schools"),
        "outage": ("connectivity", "schools"),
    }
)


class RuleError(ValueError):
    """A rule declaration that cannot be used."""


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    level: str
    severity: str
    owner: str
    name: dict[str, str]
    action: dict[str, str]
    kpi: str | None = None
    pending: int = 0
    repeat: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> Any:
        return self.params[name]

    def datasets(self) -> tuple[str, ...]:
        if self.kind == "threshold" and self.kpi is not None and self.kpi in KPIS:
            return tuple(KPIS[self.kpi].datasets) + ("schools",)
        return READS.get(self.kind, ())

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "kpi": self.kpi,
            "level": self.level,
            "severity": self.severity,
            "owner": self.owner,
            "name": self.name,
            "action": self.action,
            "pending": self.pending,
            "repeat": self.repeat,
            "params": dict(self.params),
        }


def _text(raw: Any, where: str) -> dict[str, str]:
    if isinstance(raw, str):
        return {"vi": raw, "en": raw}
    if isinstance(raw, Mapping) and all(isinstance(raw.get(k), str) and raw[k].strip() for k in ("vi", "en")):
        return {"vi": raw["vi"], "en": raw["en"]}
    raise RuleError(f"{where}: expected {{ vi = ..., en = ... }}")


def parse(raw: Mapping[str, Any], where: str) -> Rule:
    known = {
        "id",
        "kind",
        "kpi",
        "level",
        "severity",
        "owner",
        "name",
        "action",
        "pending",
        "repeat",
        "params",
    }
    unknown = sorted(set(raw) - known)
    rid = str(raw.get("id", "?"))
    if unknown:
        raise RuleError(f"{where} rule {rid!r}: unknown key(s) {', '.join(unknown)}")
    kind = str(raw.get("kind", ""))
    params = dict(DEFAULTS.get(kind, {}))
    given = raw.get("params") or {}
    if not isinstance(given, Mapping):
        raise RuleError(f"{where} rule {rid!r}: params must be a table")
    extra = sorted(set(given) - set(params))
    if extra and kind in DEFAULTS:
        raise RuleError(
            f"{where} rule {rid!r}: unknown parameter(s) {', '.join(extra)} for kind {kind} "
            f"(known: {', '.join(params)})"
        )
    for key, value in given.items():
        params[key] = {**params[key], **value} if isinstance(params.get(key), dict) else value
    for name in ("pending", "repeat"):
        if not isinstance(raw.get(name, 0), int) or isinstance(raw.get(name, 0), bool):
            raise RuleError(f"{where} rule {rid!r}: {name} must be a whole number of school days")
    return Rule(
        id=rid,
        kind=kind,
        level=str(raw.get("level", "")),
        severity=str(raw.get("severity", "")),
        owner=str(raw.get("owner", "")),
        name=_text(raw.get("name", rid), f"{where} rule {rid!r}: name"),
        action=_text(raw.get("action", ""), f"{where} rule {rid!r}: action"),
        kpi=str(raw["kpi"]) if raw.get("kpi") is not None else None,
        pending=int(raw.get("pending", 2 if kind == "threshold" else 0)),
        repeat=int(raw.get("repeat", 0)),
        params=MappingProxyType(params),
    )


# -- the checks: each returns None when the rule is fine, else what is wrong ------------------------------


def id_is_snake_case(r: Rule) -> str | None:
    return None if re.fullmatch(r"[a-z][a-z0-9_]*", r.id) else "id must be snake_case"


def kind_is_known(r: Rule) -> str | None:
    return None if r.kind in KINDS else f"kind {r.kind!r} is not one of {', '.join(KINDS)}"


def level_is_known(r: Rule) -> str | None:
    return None if r.level in LEVELS else f"level {r.level!r} is not one of {', '.join(LEVELS)}"


def severity_is_known(r: Rule) -> str | None:
    return (
        None if r.severity in SEVERITIES else f"severity {r.severity!r} is not one of {', '.join(SEVERITIES)}"
    )


def owner_and_action_given(r: Rule) -> str | None:
    return None if r.owner.strip() and r.action["vi"].strip() else "every rule names its owner and action"


def threshold_names_a_kpi(r: Rule) -> str | None:
    if r.kind != "threshold":
        return None
    if r.kpi not in KPIS:
        return f"kpi {r.kpi!r} is not a KPI of the registry"
    if r.params["status"] not in ("red", "amber"):
        return "params.status must be 'red' (red only) or 'amber' (amber and red)"
    return None


def school_kinds_start_at_schools(r: Rule) -> str | None:
    if r.kind in ("missing_report", "outage") and r.level != "school":
        return f"a {r.kind} rule looks at schools (level = 'school'); it rolls up to wards and districts"
    return None


def counts_are_sane(r: Rule) -> str | None:
    if not 0 <= r.pending <= 20 or not 0 <= r.repeat <= 60:
        return "pending must be 0-20 and repeat 0-60 school days"
    p = r.params
    if r.kind == "missing_report" and not (isinstance(p["days"], int) and 1 <= p["days"] <= 30):
        return "params.days must be a whole number from 1 to 30"
    if r.kind == "outage" and not (isinstance(p["hours"], (int, float)) and 0 < p["hours"] <= 12):
        return "params.hours must be more than 0 and at most 12"
    if r.kind == "anomaly":
        if not (isinstance(p["z"], (int, float)) and p["z"] >= 1):
            return "params.z must be at least 1"
        if not (isinstance(p["weeks"], int) and 2 <= p["weeks"] <= 26):
            return "params.weeks must be a whole number from 2 to 26"
        drops = p["min_drop"]
        if set(drops) != set(LEVELS) or not all(
            isinstance(v, (int, float)) and 0 < v < 1 for v in drops.values()
        ):
            return "params.min_drop gives a drop between 0 and 1 for each of city, district, ward, school"
    if r.kind != "threshold":
        if not (isinstance(p["share"], (int, float)) and 0 < p["share"] <= 1):
            return "params.share must be more than 0 and at most 1"
        if not (isinstance(p["min_schools"], int) and p["min_schools"] >= 1):
            return "params.min_schools must be a whole number of at least 1"
    return None


CHECKS: tuple[Callable[[Rule], str | None], ...] = (
    id_is_snake_case,
    kind_is_known,
    level_is_known,
    severity_is_known,
    owner_and_action_given,
    threshold_names_a_kpi,
    school_kinds_start_at_schools,
    counts_are_sane,
)


def validate(rules: tuple[Rule, ...], where: str) -> None:
    seen: set[str] = set()
    for r in rules:
        if r.id in seen:
            raise RuleError(f"{where}: rule id {r.id!r} is declared twice")
        seen.add(r.id)
        for check in CHECKS:
            problem = check(r)
            if problem:
                raise RuleError(f"{where} rule {r.id!r}: {problem} ({check.__name__})")


def load(path: str | Path | None = None) -> tuple[Rule, ...]:
    """The rules of ``path`` (default: the ``alert_rules`` setting, else the built-in file), validated."""
    path = Path(path or settings.get("alert_rules") or DECLARATIONS)
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except OSError as error:
        raise RuleError(f"alert rules {path}: cannot be read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise RuleError(f"alert rules {path}: not valid TOML: {error}") from None
    entries = raw.get("rule")
    if not isinstance(entries, list) or not entries:
        raise RuleError(f"alert rules {path}: expected one or more [[rule]] tables")
    rules = tuple(parse(entry, str(path)) for entry in entries)
    validate(rules, str(path))
    return rules


@lru_cache(maxsize=4)
def _cached(path: str) -> tuple[Rule, ...]:
    return load(path or None)


def current() -> tuple[Rule, ...]:
    """The rules in force (read and validated once per file per process)."""
    return _cached(str(settings.get("alert_rules") or ""))


def get_rule(rule_id: str) -> Rule:
    for r in current():
        if r.id == rule_id:
            return r
    raise KeyError(rule_id)
