"""The KPI registry: declarations in ``kpis.toml`` parsed into frozen, validated objects.

A KPI is data, declared once (``ioc/metrics/kpis.toml``). Each declaration is parsed into a
:class:`Kpi` and checked by the small named rules of :data:`RULES` when this module is imported,
so a bad declaration stops the program at start-up with a message naming the KPI and the rule.
Targets and thresholds may be overridden per KPI by a TOML file named by the ``kpi_config``
setting (``IOC_KPI_CONFIG``)::

    [attendance_rate]
    target = 0.96
    green = 0.96
    amber = 0.92
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ioc import settings
from ioc.datasets import DATASETS
from ioc.metrics.errors import QueryError

DECLARATIONS = Path(__file__).with_name("kpis.toml")

UNITS = ("ratio", "index", "count", "mbps", "mbps_per_student")
DIRECTIONS = ("higher", "lower")
STATUSES = ("green", "amber", "red", "no_data")

# The columns of the datasets a formula may name (declared once in ioc/datasets.py).
DATASET_COLUMNS: Mapping[str, frozenset[str]] = MappingProxyType(
    {name: frozenset(dataset.stored_columns) for name, dataset in DATASETS.items()}
)


@dataclass(frozen=True)
class FormulaKind:
    """A family of KPI formulas: which parts a declaration must give, and which of them are columns."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    # part -> the dataset whose column it names ("table" means the declaration's own table)
    columns: tuple[tuple[str, str], ...] = ()
    # the time grain of the formula: 'row' (facts per date), 'window' (probes over [from, to]),
    # 'point' (evaluated at the end of the period or of each time bucket)
    grain: str = "row"


FORMULA_KINDS: Mapping[str, FormulaKind] = MappingProxyType(
    {
        k.name: k
        for k in (
            FormulaKind(
                "row_ratio",
                ("table", "date_column", "numerator", "denominator"),
                ("only_given",),
                (
                    ("date_column", "table"),
                    ("numerator", "table"),
                    ("denominator", "table"),
                    ("only_given", "table"),
                ),
            ),
            FormulaKind("reporting", ("table", "date_column"), (), (("date_column", "table"),)),
            FormulaKind("probe_coverage", ("table",), (), (), "window"),
            FormulaKind("probe_ratio", ("table", "numerator"), (), (("numerator", "table"),), "window"),
            FormulaKind("probe_median", ("table", "column"), (), (("column", "table"),), "window"),
            FormulaKind("probe_per_student", ("table", "column"), (), (("column", "table"),), "window"),
            FormulaKind("offline_now", ("table", "minutes"), (), (), "point"),
            FormulaKind(
                "chronic_absence",
                ("table", "date_column", "school_days", "below"),
                (),
                (("date_column", "table"),),
                "point",
            ),
            FormulaKind("readiness_index", ("table", "coverage_days"), (), (), "point"),
            FormulaKind(
                "snapshot_ratio",
                ("table", "numerator"),
                ("denominator",),
                (("numerator", "table"), ("denominator", "schools")),
                "point",
            ),
        )
    }
)


@dataclass(frozen=True)
class Localized:
    vi: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.vi


@dataclass(frozen=True)
class Formula:
    """The kind of a KPI's formula and its parts (table and column names, constants)."""

    kind: str
    parts: tuple[tuple[str, Any], ...]

    def get(self, name: str, default: Any = None) -> Any:
        return dict(self.parts).get(name, default)

    @property
    def grain(self) -> str:
        return FORMULA_KINDS[self.kind].grain


@dataclass(frozen=True)
class Kpi:
    id: str
    name: Localized
    description: Localized
    unit: str
    direction: str
    target: float | None
    green: float
    amber: float
    datasets: tuple[str, ...]
    window_days: int | None
    decimals: int
    owner: str
    action: Localized
    formula: Formula = Formula("row_ratio", ())

    def meets(self, value: float, threshold: float) -> bool:
        return value >= threshold if self.direction == "higher" else value <= threshold

    def status(self, value: float | None) -> str:
        """'green' | 'amber' | 'red' | 'no_data', direction-aware."""
        return self.statuses([value])[0]

    def statuses(self, values: list[float | None]) -> list[str]:
        """The status of each value (one pass; a by-school answer has 50,000 values)."""
        green, amber = self.green, self.amber
        if self.direction == "higher":
            return [
                "no_data" if v is None else "green" if v >= green else "amber" if v >= amber else "red"
                for v in values
            ]
        return [
            "no_data" if v is None else "green" if v <= green else "amber" if v <= amber else "red"
            for v in values
        ]

    def to_json(self, lang: str | None = None) -> dict[str, Any]:
        def text(loc: Localized) -> Any:
            return loc.get(lang) if lang else {"vi": loc.vi, "en": loc.en}

        return {
            "id": self.id,
            "name": text(self.name),
            "description": text(self.description),
            "unit": self.unit,
            "direction": self.direction,
            "target": self.target,
            "green": self.green,
            "amber": self.amber,
            "datasets": list(self.datasets),
            "window_days": self.window_days,
            "decimals": self.decimals,
            "owner": self.owner,
            "action": text(self.action),
            "formula": {"kind": self.formula.kind, **dict(self.formula.parts)},
        }


class RegistryError(ValueError):
    """A KPI declaration breaks a rule."""


# -- parsing -------------------------------------------------------------------------------
def _localized(raw: Any, where: str) -> Localized:
    if not isinstance(raw, Mapping) or set(raw) != {"vi", "en"}:
        raise RegistryError(f"{where}: expected a table with exactly 'vi' and 'en', got {raw!r}")
    return Localized(vi=str(raw["vi"]), en=str(raw["en"]))


FIELDS = (
    "id",
    "name",
    "description",
    "unit",
    "direction",
    "target",
    "green",
    "amber",
    "datasets",
    "window_days",
    "decimals",
    "owner",
    "action",
    "formula",
)


def parse(raw: Mapping[str, Any]) -> Kpi:
    """One declaration (a TOML table) -> a Kpi; unknown or missing fields are errors."""
    kid = str(raw.get("id", "?"))
    unknown = set(raw) - set(FIELDS)
    if unknown:
        raise RegistryError(f"KPI {kid}: unknown fields {sorted(unknown)}")
    missing = {
        "id",
        "name",
        "description",
        "unit",
        "direction",
        "green",
        "amber",
        "datasets",
        "formula",
    } - set(raw)
    if missing:
        raise RegistryError(f"KPI {kid}: missing fields {sorted(missing)}")
    formula = raw["formula"]
    if not isinstance(formula, Mapping) or "kind" not in formula:
        raise RegistryError(f"KPI {kid}: formula must be a table with a 'kind'")
    target = raw.get("target")
    window = raw.get("window_days")
    return Kpi(
        id=kid,
        name=_localized(raw["name"], f"KPI {kid} name"),
        description=_localized(raw["description"], f"KPI {kid} description"),
        unit=str(raw["unit"]),
        direction=str(raw["direction"]),
        target=None if target is None else float(target),
        green=float(raw["green"]),
        amber=float(raw["amber"]),
        datasets=tuple(str(d) for d in raw["datasets"]),
        window_days=None if window is None else int(window),
        decimals=int(raw.get("decimals", 1)),
        owner=str(raw.get("owner", "")),
        action=_localized(raw.get("action", {"vi": "", "en": ""}), f"KPI {kid} action"),
        formula=Formula(str(formula["kind"]), tuple((k, v) for k, v in formula.items() if k != "kind")),
    )


# -- validation rules: each returns a problem or None ----------------------------------------
Rule = Callable[[Kpi], "str | None"]


def id_is_snake_case(k: Kpi) -> str | None:
    return None if re.fullmatch(r"[a-z][a-z0-9_]*", k.id) else "id must be snake_case ([a-z][a-z0-9_]*)"


def names_are_given(k: Kpi) -> str | None:
    for label, loc in (("name", k.name), ("description", k.description)):
        if not loc.vi.strip() or not loc.en.strip():
            return f"{label} needs both a Vietnamese and an English text"
    return None


def unit_is_known(k: Kpi) -> str | None:
    return None if k.unit in UNITS else f"unit {k.unit!r} is not one of {UNITS}"


def direction_is_known(k: Kpi) -> str | None:
    return None if k.direction in DIRECTIONS else f"direction {k.direction!r} is not one of {DIRECTIONS}"


def thresholds_are_ordered(k: Kpi) -> str | None:
    # green must be at least as demanding as amber in the KPI's direction
    if k.direction in DIRECTIONS and not k.meets(k.green, k.amber):
        return f"green {k.green} must be at least as good as amber {k.amber} for direction {k.direction!r}"
    return None


def values_fit_unit(k: Kpi) -> str | None:
    bounds = {"ratio": (0.0, 1.0), "index": (0.0, 100.0)}.get(k.unit, (0.0, float("inf")))
    for label, value in (("target", k.target), ("green", k.green), ("amber", k.amber)):
        if value is not None and not bounds[0] <= value <= bounds[1]:
            return f"{label} {value} is outside {bounds} for unit {k.unit!r} (ratios are 0..1, not percent)"
    return None


def datasets_are_known(k: Kpi) -> str | None:
    bad = [d for d in k.datasets if d not in DATASET_COLUMNS]
    if bad or not k.datasets:
        return f"datasets {bad or '[]'} must be non-empty names of {sorted(DATASET_COLUMNS)}"
    if k.formula.get("table") not in k.datasets:
        return f"formula table {k.formula.get('table')!r} must be one of the KPI's datasets"
    return None


def formula_kind_is_known(k: Kpi) -> str | None:
    kind = FORMULA_KINDS.get(k.formula.kind)
    if kind is None:
        return f"formula kind {k.formula.kind!r} is not one of {sorted(FORMULA_KINDS)}"
    given = {name for name, _ in k.formula.parts}
    missing = set(kind.required) - given
    extra = given - set(kind.required) - set(kind.optional)
    if missing or extra:
        return f"formula {kind.name!r} is missing {sorted(missing)} / has unknown parts {sorted(extra)}"
    return None


def formula_columns_exist(k: Kpi) -> str | None:
    kind = FORMULA_KINDS.get(k.formula.kind)
    if kind is None:
        return None
    for part, dataset in kind.columns:
        column = k.formula.get(part)
        if column is None:
            continue
        table = k.formula.get("table") if dataset == "table" else dataset
        if column not in DATASET_COLUMNS.get(table, frozenset()):
            return f"formula part {part}={column!r} is not a column of {table!r}"
    return None


def window_matches_grain(k: Kpi) -> str | None:
    kind = FORMULA_KINDS.get(k.formula.kind)
    if kind is None:
        return None
    if kind.grain == "window" and not (k.window_days and k.window_days > 0):
        return "a window formula needs a positive window_days"
    if kind.grain != "window" and k.window_days is not None:
        return "only window formulas (probe_*) take window_days"
    return None


def decimals_are_sane(k: Kpi) -> str | None:
    return None if 0 <= k.decimals <= 4 else "decimals must be 0..4"


RULES: tuple[Rule, ...] = (
    id_is_snake_case,
    names_are_given,
    unit_is_known,
    direction_is_known,
    thresholds_are_ordered,
    values_fit_unit,
    datasets_are_known,
    formula_kind_is_known,
    formula_columns_exist,
    window_matches_grain,
    decimals_are_sane,
)


def validate(kpis: tuple[Kpi, ...]) -> None:
    """Apply every rule to every KPI; raise one error listing all problems."""
    problems = [f"KPI {k.id}: {rule.__name__}: {p}" for k in kpis for rule in RULES if (p := rule(k))]
    seen: set[str] = set()
    for k in kpis:
        if k.id in seen:
            problems.append(f"KPI {k.id}: ids_are_unique: declared twice")
        seen.add(k.id)
    if problems:
        raise RegistryError("invalid KPI declarations:\n  " + "\n  ".join(problems))


def _overrides(path: str | Path | None) -> Mapping[str, Mapping[str, Any]]:
    if not path:
        return {}
    file = Path(path)
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise RegistryError(f"KPI config {file}: {error}") from error


def load(declarations: Path = DECLARATIONS, config: str | Path | None = None) -> tuple[Kpi, ...]:
    """Parse, apply the threshold overrides of ``config`` (default: the kpi_config setting), validate."""
    with declarations.open("rb") as handle:
        raw = tomllib.load(handle)
    kpis = tuple(parse(entry) for entry in raw.get("kpi", ()))
    overrides = _overrides(config if config is not None else settings.get("kpi_config"))
    by_id = {k.id for k in kpis}
    for kid, change in overrides.items():
        if kid not in by_id:
            raise RegistryError(f"KPI config: unknown KPI {kid!r}")
        bad = set(change) - {"target", "green", "amber"}
        if bad:
            raise RegistryError(
                f"KPI config [{kid}]: only target, green and amber may be set, not {sorted(bad)}"
            )

    def override(k: Kpi) -> Kpi:
        change = overrides.get(k.id, {})
        target = change.get("target", k.target)
        return replace(
            k,
            target=None if target is None else float(target),
            green=float(change.get("green", k.green)),
            amber=float(change.get("amber", k.amber)),
        )

    kpis = tuple(override(k) for k in kpis)
    validate(kpis)
    return kpis


KPIS: Mapping[str, Kpi] = MappingProxyType({k.id: k for k in load()})


def get_kpi(kpi_id: str) -> Kpi:
    try:
        return KPIS[kpi_id]
    except KeyError:
        raise QueryError("kpi", f"unknown KPI {kpi_id!r}; known: {', '.join(KPIS)}") from None
