"""What a contact point reads: one message for a group of alert events, in its language.

A message is made once, when its group is due, and stored in the outbox as it will be sent
(subject, plain text, HTML and the webhook's JSON), so every retry sends exactly the same.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from ioc.alerts.events import AlertEvent
from ioc.i18n import format_date, format_datetime, percent

ALERT_PATH = "/alerts/{alert_id}"  # the alert's page on the app: why it fired, owner, action log

WORDS: dict[str, dict[str, str]] = {
    "vi": {
        "firing": "Cảnh báo mới",
        "repeat": "Vẫn đang cảnh báo",
        "resolved": "Đã hết cảnh báo",
        "kind.threshold": "Chỉ số dưới ngưỡng",
        "kind.anomaly": "Chuyên cần giảm bất thường",
        "kind.missing_report": "Trường không báo cáo chuyên cần",
        "kind.outage": "Trường mất kết nối",
        "level.city": "toàn thành phố",
        "level.district": "quận/huyện",
        "level.ward": "phường/xã",
        "level.school": "trường",
        "severity.critical": "Khẩn",
        "severity.warning": "Cảnh báo",
        "severity.info": "Thông tin",
        "since": "từ {date}",
        "until": "{start} – {end}",
        "value": "giá trị {value}, thường {expected}",
        "units": "{count} đơn vị",
        "open": "Mở cảnh báo",
        "footer": "Trung tâm điều hành giáo dục (IOC) · Sở Giáo dục và Đào tạo TP.HCM · gửi lúc {at}",
        "why": "Bạn nhận thư này vì là điểm liên hệ {name}.",
    },
    "en": {
        "firing": "New alert",
        "repeat": "Still firing",
        "resolved": "Resolved",
        "kind.threshold": "KPI below threshold",
        "kind.anomaly": "Unusual drop in attendance",
        "kind.missing_report": "School not reporting attendance",
        "kind.outage": "School offline",
        "level.city": "city",
        "level.district": "district",
        "level.ward": "ward",
        "level.school": "school",
        "severity.critical": "Critical",
        "severity.warning": "Warning",
        "severity.info": "Info",
        "since": "since {date}",
        "until": "{start} – {end}",
        "value": "value {value}, usually {expected}",
        "units": "{count} units",
        "open": "Open the alert",
        "footer": "Education Intelligent Operations Center (IOC) · HCMC Department of Education · sent {at}",
        "why": "You receive this as contact point {name}.",
    },
}
ORDER = ("firing", "repeat", "resolved")


def word(lang: str, key: str, **values: Any) -> str:
    text = WORDS[lang][key]
    return text.format(**values) if values else text


def alert_url(base_url: str, alert_id: int, lang: str) -> str:
    return base_url.rstrip("/") + ALERT_PATH.format(alert_id=alert_id) + f"?lang={lang}"


def _number(value: float | None, lang: str, kind: str) -> str:
    if value is None:
        return "—"
    # attendance, reporting and uptime are ratios; a readiness index or a count is printed as is
    if kind in {"anomaly", "threshold"} and 0 <= value <= 1:
        return percent(value, lang)
    return f"{value:g}" if lang == "en" else f"{value:g}".replace(".", ",")


def _line(event: AlertEvent, lang: str, base_url: str) -> dict[str, str]:
    when = (
        word(lang, "until", start=format_date(event.start, lang), end=format_date(event.end, lang))
        if event.end
        else word(lang, "since", date=format_date(event.start, lang))
    )
    head = (
        f"[{word(lang, 'severity.' + event.severity)}] {event.unit_name} "
        f"({word(lang, 'level.' + event.level)}), {when}"
    )
    text = event.message(lang)
    if not text and event.value is not None:
        text = word(
            lang,
            "value",
            value=_number(event.value, lang, event.kind),
            expected=_number(event.expected, lang, event.kind),
        )
    return {"head": head, "text": text, "url": alert_url(base_url, event.alert_id, lang)}


def _subject(events: Sequence[AlertEvent], lang: str) -> str:
    kinds = sorted({e.kind for e in events})
    title = " · ".join(word(lang, "kind." + k) for k in kinds)
    units = sorted({e.unit_name for e in events})
    where = units[0] if len(units) == 1 else word(lang, "units", count=len(units))
    counts = [f"{word(lang, t)}: {n}" for t in ORDER if (n := sum(1 for e in events if e.transition == t))]
    # names come from the data: one line, whatever a school's name holds (a header cannot break)
    return " ".join(f"[IOC] {title} — {where} ({', '.join(counts)})".split())[:300]


def event_json(event: AlertEvent) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        return value.isoformat() if isinstance(value, (date, datetime)) else value

    return {key: plain(value) for key, value in asdict(event).items()}


def compose(
    events: Sequence[AlertEvent],
    *,
    contact_point: str,
    lang: str,
    group_key: str,
    base_url: str,
    now: datetime,
) -> dict[str, Any]:
    """The message for a group of events (newest state per alert), as stored in the outbox."""
    ordered = sorted(events, key=lambda e: (ORDER.index(e.transition), e.severity != "critical", e.unit_name))
    sections: list[tuple[str, list[dict[str, str]]]] = []
    for transition in ORDER:
        lines = [_line(e, lang, base_url) for e in ordered if e.transition == transition]
        if lines:
            sections.append((word(lang, transition), lines))
    footer = word(lang, "footer", at=format_datetime(now, lang))
    why = word(lang, "why", name=contact_point)
    text_parts = []
    html_parts = []
    for title, lines in sections:
        text_parts.append(f"{title} ({len(lines)})")
        html_parts.append(f"<h3>{html.escape(title)} ({len(lines)})</h3><ul>")
        for line in lines:
            text_parts.append(f"• {line['head']}\n  {line['text']}\n  {line['url']}")
            html_parts.append(
                f'<li style="margin-bottom:10px"><b>{html.escape(line["head"])}</b><br>{html.escape(line["text"])}<br>'
                f'<a href="{html.escape(line["url"])}">{html.escape(word(lang, "open"))}</a></li>'
            )
        text_parts.append("")
        html_parts.append("</ul>")
    text_parts += ["--", footer, why]
    html_parts.append(f'<p style="color:#666">{html.escape(footer)}<br>{html.escape(why)}</p>')
    subject = _subject(ordered, lang)
    alerts = [
        {**event_json(e), "message": e.message(lang), "url": alert_url(base_url, e.alert_id, lang)}
        for e in ordered
    ]
    status = "firing" if any(e.transition != "resolved" for e in ordered) else "resolved"
    return {
        "subject": subject,
        "text": "\n".join(text_parts),
        "html": f'<html><body lang="{lang}" style="font-family:Arial,sans-serif;font-size:14px">'
        + "".join(html_parts)
        + "</body></html>",
        "payload": {
            "version": 1,
            "contact_point": contact_point,
            "group_key": group_key,
            "status": status,
            "language": lang,
            "title": subject,
            "text": "\n".join(text_parts),
            "alerts": alerts,
            "created_at": now.isoformat(timespec="seconds"),
        },
    }
