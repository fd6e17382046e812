"""Alerts pushed to people and systems: contact points, the outbox, email and signed webhooks.

Evaluation calls :func:`enqueue` with the :class:`~ioc.alerts.events.AlertEvent` values of a run;
the delivery worker (:func:`deliver`, a scheduler job and ``ioc notify deliver``) groups them per
contact point and sends them, retrying with backoff. docs/notifications.md is the user's reference.
"""

from __future__ import annotations

from ioc.notify.config import ConfigError, ContactPoint, NotifyConfig, load
from ioc.notify.outbox import enqueue
from ioc.notify.worker import Delivery, deliver

__all__ = ["ConfigError", "ContactPoint", "Delivery", "NotifyConfig", "deliver", "enqueue", "load"]
