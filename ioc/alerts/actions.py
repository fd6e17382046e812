"""What people do with an alert: acknowledge, assign, comment, resolve with a reason.

One function for the CLI, the API and the pages: it checks the alert exists and that the actor's
access scope covers it (an officer acts on their district's alerts only), records the action in
the alert's log and in the audit log (who, when, what), and applies its effect.
"""

from __future__ import annotations

from datetime import date

from ioc.alerts import records
from ioc.alerts.output import visible
from ioc.alerts.records import MAX_TEXT, NEEDS_TEXT
from ioc.auth import audit
from ioc.auth.access import AccessScope
from ioc.auth.db import AuthDb


class ActionError(ValueError):
    """An action that cannot be taken: ``status`` is the HTTP status it maps to (400, 403, 404, 409)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def perform(
    db: AuthDb,
    alert_id: int,
    action: str,
    actor: str,
    text: str = "",
    *,
    access: AccessScope | None = None,
    ip: str = "",
    today: date | None = None,
) -> None:
    """Take ``action`` on alert ``alert_id`` as ``actor`` (within ``access``; None: everything)."""
    if action not in records.ACTIONS:
        raise ActionError(f"unknown action {action!r}; one of {', '.join(records.ACTIONS)}")
    text = text or ""
    # judged as sent (the API's schema says the same), then kept without the white space at its ends
    if len(text) > MAX_TEXT:
        raise ActionError(f"{action}: the text has {len(text)} characters; at most {MAX_TEXT}")
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise ActionError(f"{action}: the text holds control characters")
    text = text.strip()
    if action in NEEDS_TEXT and not text:
        raise ActionError(f"{action}: give {NEEDS_TEXT[action]}")
    row = records.get(records.ensure(db), alert_id)
    if row is None or row["state"] == "pending":
        raise ActionError(f"no alert {alert_id}", 404)
    if not visible(row, access):
        audit.record(db, "alert", "denied", actor=actor, target=f"alert:{alert_id}", detail=action, ip=ip)
        raise ActionError(f"alert {alert_id} is outside what you may see", 403)
    if action == "resolve" and row["end_day"] is not None:
        raise ActionError(f"alert {alert_id} is resolved already (ended {row['end_day']})", 409)
    records.act(db, alert_id, action, actor, text, today or date.fromisoformat(row["last_day"]))
    audit.record(
        db, "alert", actor=actor, target=f"alert:{alert_id}", detail=f"{action}: {text}"[:500], ip=ip
    )
