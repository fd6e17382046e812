"""Messages kept as templates: an id and its parameters, put into words in the reader's language.

Ingestion and the scheduler raise and record a :class:`Message` instead of a finished English
sentence; the run log keeps its id and parameters beside the English text (``message_id``,
``message_params``), and the data-health page, the CLI and the API render it from the catalogs
(``ioc/locales/<lang>.json``, keys ``msg.<id>``) in the language of whoever reads it. English is
the text written to logs and the stored ``message`` column, word for word as before.

A parameter is text (quoted values, file names, an error's own words: shown as given), a whole
number (grouped in the locale: ``3,512`` / ``3.512``), a decimal (``0.5`` / ``0,5``; :class:`Num`
for a fixed count of decimals), another message (a rule inside a rejection) or a tuple of them
(said one after the other, separated by "; ").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ioc import i18n

PREFIX = "msg."


@dataclass(frozen=True)
class Num:
    """A number shown with a fixed count of decimals (``1,234.5 MB`` / ``1.234,5 MB``)."""

    value: float
    decimals: int = 1


@dataclass(frozen=True)
class Message:
    id: str
    params: tuple[tuple[str, Any], ...] = ()

    def text(self, lang: str = "en") -> str:
        """The message in ``lang`` (``en`` is the logged and stored wording)."""
        values = {name: _param_text(value, lang) for name, value in self.params}
        return i18n.catalog(i18n.lang_of(lang))[PREFIX + self.id].format_map(values)

    def __str__(self) -> str:
        return self.text("en")

    def param(self, name: str) -> Any:
        return dict(self.params).get(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "params": {k: _param_to_json(v) for k, v in self.params},
        }

    def dumps(self) -> str:
        """The parameters as stored in ``message_params`` (JSON; nested messages as objects)."""
        return json.dumps(self.to_json()["params"], ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        params = data.get("params") or {}
        return cls(str(data["id"]), tuple(sorted((str(k), _param_from_json(v)) for k, v in params.items())))

    @classmethod
    def stored(cls, message_id: str | None, params: str | None) -> Message | None:
        """The message of a stored row; None for a row written before messages had ids, or for an
        id this version does not know (an older or newer program wrote it): show its text then."""
        if not message_id or PREFIX + message_id not in i18n.catalog("en"):
            return None
        try:
            return cls.from_json({"id": message_id, "params": json.loads(params or "{}")})
        except (ValueError, TypeError, KeyError):
            return None


def msg(message_id: str, **params: Any) -> Message:
    """``msg("limit.rows", row=12, ...)``: a message with its parameters (kept by name)."""
    return Message(message_id, tuple(sorted(params.items())))


def _param_to_json(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_param_to_json(v) for v in value]
    if isinstance(value, Message):
        return value.to_json()
    if isinstance(value, Num):
        return {"number": value.value, "decimals": value.decimals}
    return value


def _param_from_json(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_param_from_json(v) for v in value)
    if isinstance(value, Mapping) and "id" in value:
        return Message.from_json(value)
    if isinstance(value, Mapping) and "number" in value:
        return Num(float(value["number"]), int(value.get("decimals", 1)))
    return value


def _param_text(value: Any, lang: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):  # several messages, as one line
        return "; ".join(_param_text(v, lang) for v in value)
    if isinstance(value, Message):
        return value.text(lang)
    if isinstance(value, Num):
        return i18n.number(value.value, lang, value.decimals)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return i18n.number(value, lang)
    if isinstance(value, float):
        text = f"{value:g}"
        return text.replace(".", ",") if i18n.lang_of(lang) == "vi" else text
    return str(value)


class MessageError(Exception):
    """An error whose words are a :class:`Message` (``str(error)`` is its English text)."""

    def __init__(self, message: Message) -> None:
        super().__init__(str(message))
        self.message = message


def render(message_id: str | None, params: str | None, stored_text: str | None, lang: str) -> str | None:
    """A stored message in ``lang``: from its template when the row has one, else its stored text."""
    found = Message.stored(message_id, params)
    return found.text(lang) if found is not None else stored_text


def said_rows(
    rows: list[dict[str, Any]], lang: str, text: str = "message", key: str = "message"
) -> list[dict[str, Any]]:
    """Rows of the run log whose ``text`` column is said in ``lang`` from the template stored
    beside it (``<key>_id``, ``<key>_params``, which are left out); a row written before messages
    had ids keeps its stored text. A rejection's ``rule`` column is said in ``lang`` too."""
    said = []
    for row in rows:
        row = dict(row)
        words = Message.stored(row.pop(f"{key}_id", None), row.pop(f"{key}_params", None))
        if words is not None:
            row[text] = words.text(lang)
            rule = words.param("rule")
            if "rule" in row and isinstance(rule, Message):
                row["rule"] = rule.text(lang)
        said.append(row)
    return said


def placeholders(message_id: str, lang: str) -> set[str]:
    """The parameter names a template of the catalog uses (a test compares the two languages)."""
    return set(re.findall(r"(?<!{){(\w+)}", i18n.catalog(i18n.lang_of(lang))[PREFIX + message_id]))


__all__ = ["Message", "MessageError", "Num", "msg", "placeholders", "render", "said_rows"]
