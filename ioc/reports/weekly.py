"""The weekly report: a page of the app printed to PDF in Vietnamese, with its period and as-of
time, emailed on a schedule to its subscribers.

Reports are the ``[[reports]]`` of the notification configuration (:mod:`ioc.notify.config`).
The scheduler's ``reports`` job (every minute) sends each report whose schedule fired within the
last :data:`CATCH_UP` and was not sent yet; a run is recorded per (report, fire time) in the app
database, so it is sent once even with several schedulers, and a failed email is sent again with
backoff. The PDF is kept in ``DATA_DIR/reports/<name>/``.
"""

from __future__ import annotations

import html
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from ioc import clock, geography, settings
from ioc.auth import accounts, audit, sessions
from ioc.auth.db import AuthDb
from ioc.auth.web import SESSION_COOKIE
from ioc.i18n import format_date, format_datetime
from ioc.notify.channels import DeliveryError, email, send_mail
from ioc.notify.config import NotifyConfig, Report
from ioc.notify.worker import backoff, base_url
from ioc.reports.render import Cookie, RenderError, print_pdf

log = logging.getLogger("ioc.reports")

CATCH_UP = timedelta(hours=6)  # a fire time missed by longer than this (scheduler down) is skipped
SESSION_SECONDS = 600.0

WORDS = {
    "vi": {
        "report": "Báo cáo định kỳ",
        "period": "Kỳ báo cáo",
        "asof": "Số liệu lúc",
        "page./": "Màn hình điều hành",
        "page.screen": "Màn hình {name}",
        "page.district": "Quận/huyện {name}",
        "page.ward": "Phường/xã {name}",
        "page.school": "Trường {name}",
        "body": (
            "Kính gửi anh/chị,\n\nĐính kèm là {title} — {what}, kỳ {start} – {end} "
            "(số liệu lúc {asof}).\nXem trực tuyến: {url}\n\n--\n"
            "Trung tâm điều hành giáo dục (IOC) · Sở Giáo dục và Đào tạo TP.HCM"
        ),
    },
    "en": {
        "report": "Periodic report",
        "period": "Period",
        "asof": "Data as of",
        "page./": "Control room",
        "page.screen": "Screen {name}",
        "page.district": "District {name}",
        "page.ward": "Ward {name}",
        "page.school": "School {name}",
        "body": (
            "Hello,\n\nAttached is the {title} — {what}, {start} – {end} (data as of {asof}).\n"
            "Online: {url}\n\n--\nEducation Intelligent Operations Center (IOC) · HCMC Department of Education"
        ),
    },
}


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @classmethod
    def before(cls, due: datetime, days: int) -> Period:
        """The ``days`` whole days that ended before ``due`` (a Monday 07:00 report: Monday to Sunday)."""
        end = due.date() - timedelta(days=1)
        return cls(end - timedelta(days=days - 1), end)


def zone() -> ZoneInfo:
    return ZoneInfo(str(settings.get("timezone")))


def what(report: Report, lang: str) -> str:
    """What the report shows: its title, else a name made from its page (a district's own name)."""
    if report.title:
        return report.title
    parts = [p for p in urlsplit(report.page).path.split("/") if p]
    if not parts:
        return WORDS[lang]["page./"]
    key = f"page.{parts[0]}"
    if key not in WORDS[lang] or len(parts) < 2:
        return report.page
    name = parts[1]
    try:
        if parts[0] == "district":
            name = geography.district(name).name
        elif parts[0] == "ward":
            name = geography.unit(name).name
    except geography.UnknownUnitError:
        pass  # a department's own cluster code: printed as it is
    return WORDS[lang][key].format(name=name)


def page_url(report: Report) -> str:
    """The report's page on the app, in its language and (for paper) the light theme unless the
    page says otherwise. It shows the latest data, which for a report sent when its period ends
    is the period's last school day; the trend charts show the weeks before."""
    parts = urlsplit(report.page)
    query = dict(parse_qsl(parts.query))
    query["lang"] = report.language
    query.setdefault("theme", "light")
    return base_url().rstrip("/") + parts.path + "?" + urlencode(query)


def header(report: Report, period: Period, as_of: datetime) -> str:
    """The line printed at the top of every page: report, period, as-of time."""
    lang = report.language
    words = WORDS[lang]
    text = (
        f"<b>{html.escape(words['report'])} · {html.escape(what(report, lang))}</b> · "
        f"{words['period']}: {format_date(period.start, lang)} – {format_date(period.end, lang)} · "
        f"{words['asof']} {format_datetime(as_of, lang)}"
    )
    return f'<div style="font-size:10px;width:100%;padding:0 20px;font-family:sans-serif">{text}</div>'


def render(db: AuthDb, report: Report, due: datetime, data_dir: Path) -> tuple[Path, Period, datetime]:
    """Print the report for the schedule's fire time ``due``: (PDF file, period, as-of time)."""
    period = Period.before(due, report.period_days)
    as_of = clock.now()
    folder = data_dir / "reports" / report.name
    out = folder / f"{report.name}_{period.start.isoformat()}_{period.end.isoformat()}.pdf"
    url = page_url(report)
    cookies: tuple[Cookie, ...] = ()
    value = None
    if report.render_as:
        account = accounts.get(db, report.render_as)
        if account is None or account.disabled:
            raise RenderError(
                f"report {report.name!r}: the account {report.render_as!r} it is rendered as "
                f"{'is disabled' if account else 'does not exist'} (ioc users list)"
            )
        value, _ = sessions.create(db, username=account.username, lifetime=SESSION_SECONDS, ip="report")
        audit.record(
            db,
            "sign_in",
            actor=account.username,
            target=report.page,
            detail=f"session of the scheduled report {report.name!r} to print its page",
        )
        cookies = (Cookie(SESSION_COOKIE, value),)
    elif settings.get("auth_required"):
        raise RenderError(
            f"report {report.name!r}: sign-in is required (IOC_AUTH_REQUIRED): name the account whose "
            "view is printed with render_as"
        )
    try:
        print_pdf(url, out, cookies=cookies, header=header(report, period, as_of))
    finally:
        if value is not None:
            sessions.revoke(db, value)
    return out, period, as_of


def send(report: Report, file: Path, period: Period, as_of: datetime, to: list[str] | None = None) -> None:
    lang = report.language
    words = WORDS[lang]
    title = words["report"].lower()
    subject = (
        f"[IOC] {words['report']}: {what(report, lang)} "
        f"({format_date(period.start, lang)} – {format_date(period.end, lang)})"
    )
    body = words["body"].format(
        title=title,
        what=what(report, lang),
        start=format_date(period.start, lang),
        end=format_date(period.end, lang),
        asof=format_datetime(as_of, lang),
        url=page_url(report),
    )
    mail = email(list(to or report.to), subject, body)
    mail.add_attachment(file.read_bytes(), maintype="application", subtype="pdf", filename=file.name)
    send_mail(mail)


def last_fire_time(report: Report, now: datetime) -> datetime | None:
    """The schedule's latest fire time in (now - CATCH_UP, now], in the scheduler's zone."""
    trigger = CronTrigger.from_crontab(report.schedule, timezone=zone())
    fire = trigger.get_next_fire_time(None, now - CATCH_UP)
    last = None
    while fire is not None and fire <= now:
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return last


@dataclass
class ReportsRun:
    sent: list[str]
    failed: list[str]


def run_due(db: AuthDb, config: NotifyConfig, data_dir: Path, now: float | None = None) -> ReportsRun:
    """Send every report whose schedule fired and that is not sent yet (the scheduler's job)."""
    now = time.time() if now is None else now
    moment = datetime.fromtimestamp(now, zone())
    done = ReportsRun([], [])
    give_up = float(settings.get("notify_give_up_hours")) * 3600
    for report in config.reports:
        due = last_fire_time(report, moment)
        if due is None:
            continue
        key = due.isoformat()
        with db.connect() as con:
            con.execute(
                "INSERT INTO report_runs (report, due, status, next_attempt_at, created_at)"
                " VALUES (?, ?, 'pending', ?, ?) ON CONFLICT (report, due) DO NOTHING",
                (report.name, key, now, now),
            )
            claimed = con.execute(
                "UPDATE report_runs SET claimed_until = ? WHERE report = ? AND due = ? AND status = 'pending'"
                " AND next_attempt_at <= ? AND claimed_until <= ?",
                (now + SESSION_SECONDS, report.name, key, now, now),
            ).rowcount
        if claimed != 1:
            continue
        row = db.query(
            "SELECT attempts, file, created_at FROM report_runs WHERE report = ? AND due = ?",
            (report.name, key),
        )[0]
        try:
            file = Path(row["file"]) if row["file"] and Path(row["file"]).exists() else None
            if file is None:
                file, period, as_of = render(db, report, due, data_dir)
            else:
                period = Period.before(due, report.period_days)
                as_of = datetime.fromtimestamp(file.stat().st_mtime, zone())
            with db.connect() as con:
                con.execute(
                    "UPDATE report_runs SET file = ? WHERE report = ? AND due = ?",
                    (str(file), report.name, key),
                )
            send(report, file, period, as_of)
        except Exception as error:  # noqa: BLE001 - one report's failure never stops the others
            if not isinstance(error, (RenderError, DeliveryError, OSError)):
                log.exception("report %s (%s) failed", report.name, key)
            attempts = int(row["attempts"]) + 1
            late = now + backoff(attempts) - float(row["created_at"]) > give_up
            with db.connect() as con:
                con.execute(
                    "UPDATE report_runs SET attempts = ?, last_error = ?, claimed_until = 0, status = ?,"
                    " next_attempt_at = ? WHERE report = ? AND due = ?",
                    (
                        attempts,
                        str(error)[:1000],
                        "failed" if late else "pending",
                        now + backoff(attempts),
                        report.name,
                        key,
                    ),
                )
            log.warning("report %s (%s): attempt %d failed: %s", report.name, key, attempts, error)
            done.failed.append(f"{report.name}: {error}")
            continue
        with db.connect() as con:
            con.execute(
                "UPDATE report_runs SET status = 'sent', sent_at = ?, attempts = attempts + 1, claimed_until = 0,"
                " last_error = '' WHERE report = ? AND due = ?",
                (now, report.name, key),
            )
        log.info("report %s (%s) sent to %s", report.name, key, ", ".join(report.to))
        done.sent.append(report.name)
    return done
