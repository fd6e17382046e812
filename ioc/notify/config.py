"""Who is told what: contact points and report subscriptions, a validated TOML file.

The file is named by the ``notify_config`` setting (``IOC_NOTIFY_CONFIG``), else
``DATA_DIR/notify.toml`` when it exists. docs/notifications.md is the reference::

    [[contact_points]]
    name = "so-gddt"                  # letters, digits, . _ -
    type = "email"                    # email | webhook
    to = ["truc-ban@sgddt.example.vn"]
    language = "vi"                   # vi | en
    rules = []                        # rule ids; empty = every rule
    districts = []                    # district codes; empty = the whole city
    severities = ["critical", "warning"]
    group_by = ["rule"]               # rule, kind, district, level, severity
    group_wait = "30s"
    repeat_interval = "4h"
    send_resolved = true

    [[contact_points]]
    name = "quan-8-webhook"
    type = "webhook"
    url = "https://chat.example.vn/hooks/ioc"
    secret_env = "IOC_WEBHOOK_SECRET_Q8"   # the HMAC key, from the environment, never in the file
    districts = ["776"]

    [[reports]]
    name = "tuan-toan-thanh-pho"
    title = "Toàn thành phố"          # what the report is about (default: from the page)
    page = "/"                        # any page of the app: /, /screen/<name>, /district/<code>, ...
    to = ["lanh-dao@sgddt.example.vn"]
    schedule = "0 7 * * mon"          # cron, in the scheduler's time zone
    render_as = "bao-cao"             # the account whose view is printed (its scope applies)

Unknown keys are errors, so a typo never silently falls back to a default; every error names the
file, the entry and the key.
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ioc import settings

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


class ConfigError(ValueError):
    """The notification configuration is invalid; the message names the file, the entry and the key."""


def seconds(value: str | int | float) -> float:
    """Seconds from ``30``, ``"30s"``, ``"5m"``, ``"4h"`` or ``"1d"``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '30s', '5m', '4h' or '1d', got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"expected a duration like '30s', '5m', '4h' or '1d', got {value!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]


Duration = Annotated[float, Field(ge=0)]
Names = list[Annotated[str, Field(min_length=1)]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _emails(values: list[str]) -> list[str]:
    bad = [v for v in values if not _EMAIL.match(v)]
    if bad:
        raise ValueError(f"not an email address: {', '.join(map(repr, bad))}")
    return values


class ContactPoint(_Strict):
    name: Annotated[str, Field(pattern=NAME)]
    type: Literal["email", "webhook"]
    language: Literal["vi", "en"] = "vi"
    to: list[str] = []
    url: str | None = None
    secret_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None
    rules: Names = []
    districts: Names = []
    severities: list[Literal["critical", "warning", "info"]] = ["critical", "warning", "info"]
    group_by: list[Literal["rule", "kind", "district", "level", "severity"]] = ["rule"]
    group_wait: Duration = 30.0
    repeat_interval: Duration = 4 * 3600.0
    send_resolved: bool = True

    _durations = field_validator("group_wait", "repeat_interval", mode="before")(lambda value: seconds(value))
    _to = field_validator("to")(lambda values: _emails(values))

    @model_validator(mode="after")
    def _by_type(self) -> ContactPoint:
        if self.type == "email":
            if not self.to:
                raise ValueError("an email contact point needs 'to' (one or more addresses)")
            if self.url or self.secret_env:
                raise ValueError("'url' and 'secret_env' belong to webhook contact points")
        else:
            if not self.url or not re.match(r"^https?://[^\s/]+", self.url):
                raise ValueError(f"a webhook needs 'url' starting with http:// or https://, got {self.url!r}")
            if not self.secret_env:
                raise ValueError(
                    "a webhook needs 'secret_env': the environment variable holding its signing key"
                )
            if self.to:
                raise ValueError("'to' belongs to email contact points")
        return self

    def wants(self, rule: str, district: str | None, severity: str) -> bool:
        """Whether an alert of this rule, district (None: the city) and severity is told here."""
        if self.rules and rule not in self.rules:
            return False
        if self.districts and district not in self.districts:
            return False
        return severity in self.severities

    def secret(self) -> bytes:
        """The webhook's signing key, read from the environment when it is used."""
        value = os.environ.get(self.secret_env or "", "")
        if not value:
            raise ConfigError(
                f"contact point {self.name!r}: the environment variable {self.secret_env} (its signing key) is empty"
            )
        return value.encode("utf-8")


class Report(_Strict):
    name: Annotated[str, Field(pattern=NAME)]
    title: str = ""
    page: Annotated[str, Field(pattern=r"^/[^\s]*$")] = "/"
    to: Annotated[list[str], Field(min_length=1)]
    language: Literal["vi", "en"] = "vi"
    schedule: str = "0 7 * * mon"
    period_days: Annotated[int, Field(ge=1, le=92)] = 7
    render_as: str | None = None

    _to = field_validator("to")(lambda values: _emails(values))

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        # APScheduler (~50 modules) only for a report's schedule: `ioc notify` and the alert
        # evaluation read this file too
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as error:
            raise ValueError(f"not a crontab expression (minute hour day month weekday): {error}") from None
        return value


class _File(_Strict):
    contact_points: list[ContactPoint] = []
    reports: list[Report] = []


@dataclass(frozen=True)
class NotifyConfig:
    contact_points: tuple[ContactPoint, ...] = ()
    reports: tuple[Report, ...] = ()
    origin: str = "no configuration"

    def contact_point(self, name: str) -> ContactPoint | None:
        return next((c for c in self.contact_points if c.name == name), None)

    def report(self, name: str) -> Report:
        for report in self.reports:
            if report.name == name:
                return report
        raise ConfigError(f"{self.origin}: no report named {name!r}")


def parse(raw: object, origin: str) -> NotifyConfig:
    """Validate a mapping (a parsed TOML file) into a :class:`NotifyConfig`."""
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, raw, origin)) from None
    for kind, entries in (("contact point", parsed.contact_points), ("report", parsed.reports)):
        names = [e.name for e in entries]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigError(f"{origin}: two {kind}s are named {', '.join(map(repr, twice))}")
    return NotifyConfig(tuple(parsed.contact_points), tuple(parsed.reports), origin)


def _describe(error: ValidationError, raw: object, origin: str) -> str:
    lines = []
    for item in error.errors():
        loc = list(item["loc"])
        where = origin
        if len(loc) >= 2 and isinstance(loc[1], int):
            section, index = str(loc[0]), loc[1]
            entries = raw.get(section) if isinstance(raw, dict) else None
            entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
            name = entry.get("name") if isinstance(entry, dict) else None
            where += f": {section}[{index}]" + (f" ({name!r})" if name else "")
            loc = loc[2:]
        key = ".".join(str(p) for p in loc)
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{where}: {repr(key) + ': ' if key else ''}{message}")
    return "\n".join(lines)


def config_path(data_dir: Path) -> Path | None:
    chosen = settings.get("notify_config") or None
    if chosen:
        return Path(chosen).expanduser()
    default = data_dir / "notify.toml"
    return default if default.exists() else None


def load(data_dir: Path, path: Path | str | None = None) -> NotifyConfig:
    """The configuration at ``path``, else the notify_config setting, else DATA_DIR/notify.toml,
    else an empty one (nothing is sent; events wait in the outbox)."""
    file = Path(path) if path else config_path(data_dir)
    if file is None:
        return NotifyConfig()
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(
            f"cannot read the notification configuration {file}: {error.strerror or error}"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{file}: not valid TOML: {error}") from None
    return parse(raw, str(file))


def load_for_command(data_dir: Path, path: Path | str | None, command: str) -> NotifyConfig | None:
    """:func:`load` for a command: None after printing the error (the command exits 2)."""
    try:
        return load(data_dir, path)
    except ConfigError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return None
