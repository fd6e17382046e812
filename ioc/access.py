"""Who may see what, as a value: :class:`AccessScope` and the one rule that reads it.

A scope is either everything or a set of districts, wards and schools, each as of today's
hierarchy (the latest version of the school list: an older ``hierarchy_date`` regroups answers but
never widens what a caller may read), plus, for kiosk devices, the wall screens they may show: a
scope with ``screens`` draws those screens and no other page (:meth:`AccessScope.allows_screen` is
the one rule the router guard, the wall's refresh callback and its playlist ask).

The rule "may this caller see this unit" is written once, as :data:`RULES`: a school is readable
when one of its units of today (district, ward, the school itself) is in the matching set of the
scope. Both implementations come from it and are tested against each other:

- :meth:`AccessScope.allows`: the Python predicate (the sign-in guard, dimension lists, the warmer);
- :meth:`AccessScope.sql_condition` with :meth:`AccessScope.sql_params`: the SQL filter the
  metrics layer puts in every query of a restricted caller.

This module imports nothing of the product: the metrics layer, the auth package and the web layer
all read it, and none of them has to import another to know who may see what.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

LEVELS = ("district", "ward", "school")


@dataclass(frozen=True)
class Rule:
    """One way of being readable: the unit of ``level`` holding the school is in the scope's set
    ``level + 's'``. ``column`` is that unit's key in the school rows the SQL filters (the
    metrics layer's ``district_key``, ``ward_key``, ``school_id``)."""

    level: str
    column: str

    @property
    def param(self) -> str:
        return f"access_{self.level}s"


RULES = (
    Rule("district", "district_key"),
    Rule("ward", "ward_key"),
    Rule("school", "school_id"),
)


@dataclass(frozen=True)
class Place:
    """Where a unit lies in today's hierarchy: a district (``ward`` and ``school`` None), a ward
    (``school`` None) or a school."""

    district: str | None = None
    ward: str | None = None
    school: str | None = None

    def get(self, level: str) -> str | None:
        return getattr(self, level)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class AccessScope:
    """The schools a principal may read: all (``districts is None``) or those in ``districts``,
    ``wards`` or ``schools`` (codes of today's hierarchy). An empty restricted scope allows nothing.
    ``screens``: the wall screens a kiosk device may show, and then no other page (None: any
    screen, and the other pages as the units allow)."""

    districts: frozenset[str] | None = None
    wards: frozenset[str] = frozenset()
    schools: frozenset[str] = frozenset()
    screens: frozenset[str] | None = None

    @classmethod
    def everything(cls) -> AccessScope:
        return cls()

    @classmethod
    def limited(
        cls, districts: Iterable[str] = (), wards: Iterable[str] = (), schools: Iterable[str] = ()
    ) -> AccessScope:
        return cls(frozenset(districts), frozenset(wards), frozenset(schools))

    def with_screens(self, screens: Iterable[str]) -> AccessScope:
        return AccessScope(self.districts, self.wards, self.schools, frozenset(screens))

    @property
    def restricted(self) -> bool:
        return self.districts is not None

    @property
    def empty(self) -> bool:
        return self.restricted and not any(self.codes(r.level) for r in RULES)

    def codes(self, level: str) -> frozenset[str]:
        """The codes of ``level`` ('district', 'ward', 'school') this scope names."""
        if level == "district":
            return self.districts or frozenset()
        return frozenset(getattr(self, level + "s"))

    # -- the predicate ----------------------------------------------------------------------------
    def allows(self, place: Place) -> bool:
        """Whether the whole unit at ``place`` is readable: one of its units (itself or a unit
        above it) is in the scope. A district is readable only as a whole district, a ward when
        its district or itself is named, a school when any of its three units is."""
        if not self.restricted:
            return True
        return any(
            (code := place.get(rule.level)) is not None and code in self.codes(rule.level) for rule in RULES
        )

    def allows_district(self, district: str | None) -> bool:
        return self.allows(Place(district=district))

    def allows_ward(self, ward: str | None, district: str | None) -> bool:
        return self.allows(Place(district=district, ward=ward))

    def allows_school(self, school: str | None, ward: str | None, district: str | None) -> bool:
        return self.allows(Place(district=district, ward=ward, school=school))

    @property
    def screens_only(self) -> bool:
        """A wall device: it may draw the screens it was given and no other page."""
        return self.screens is not None

    def allows_screen(self, name: object) -> bool:
        """May this caller draw wall screen ``name`` (anything else than a known name: no)."""
        return self.screens is None or (isinstance(name, str) and name in self.screens)

    # -- the SQL filter ---------------------------------------------------------------------------
    @staticmethod
    def sql_condition(alias: str = "") -> str:
        """The condition on a row of today's school list (``alias``: its table alias) that holds
        exactly when :meth:`allows` holds for the row's school; its values: :meth:`sql_params`."""
        prefix = f"{alias}." if alias else ""
        return (
            "("
            + " OR ".join(f"list_contains(${r.param}::VARCHAR[], {prefix}{r.column})" for r in RULES)
            + ")"
        )

    def sql_params(self) -> dict[str, list[str]]:
        """The bound values of :meth:`sql_condition` (sorted: the same scope, the same values)."""
        return {r.param: sorted(self.codes(r.level)) for r in RULES}

    # -- identity ---------------------------------------------------------------------------------
    def key(self) -> str:
        """A stable text for cache keys: the same scope always gives the same key. Screens are
        not part of it (they change which screens are drawn, not any answer)."""
        if not self.restricted:
            return "all"
        return ";".join(f"{r.level[0]}=" + ",".join(sorted(self.codes(r.level))) for r in RULES)


EVERYTHING = AccessScope.everything()
NOTHING = AccessScope.limited().with_screens(())
