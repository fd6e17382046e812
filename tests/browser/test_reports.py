"""The weekly report end to end: the app served on 127.0.0.1 with sign-in on, its pages printed to
PDF by headless Chromium as the report's account, emailed through a local SMTP server (aiosmtpd)
on the schedule, and read back: the period and the as-of time are on the page, in Vietnamese."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from werkzeug.serving import make_server

from ioc.auth import accounts
from ioc.auth.db import open_db
from ioc.notify import config as notify_config
from ioc.reports.weekly import run_due, zone
from tests.receivers import Mailbox

pytestmark = pytest.mark.browser

TODAY = date(2026, 12, 4)  # the demo's Friday; the report goes out on Monday 7 December, 07:00
DUE = datetime(2026, 12, 7, 7, 0, tzinfo=zone())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from ioc.app import create_app
    from ioc.demo import build_demo
    from ioc.store import Store

    folder = tmp_path_factory.mktemp("report-demo")
    build_demo(
        folder,
        schools=60,
        attendance_days=15,
        probe_days=1,
        today=TODAY,
        now=datetime(2026, 12, 4, 16, 0, tzinfo=zone()),
    )
    store = Store(folder)
    districts = [r[0] for r in store.execute("SELECT DISTINCT district_code FROM schools ORDER BY 1").rows]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IOC_AUTH_REQUIRED", "true")
        patch.setenv("IOC_CACHE_WARM", "false")
        db = open_db(folder)
        accounts.add(db, "bao-cao-so", "leadership", None)
        accounts.add(db, "bao-cao-quan", "district_officer", None, districts=[districts[0]])
        app = create_app(store=store)
        server = make_server("127.0.0.1", 0, app.server, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield {
            "folder": folder,
            "db": db,
            "url": f"http://127.0.0.1:{server.server_port}",
            "districts": districts,
        }
        server.shutdown()
    store.close()


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch, served: dict[str, Any]) -> Iterator[Mailbox]:
    box = Mailbox().start()
    for name, value in {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(box.port),
        "SMTP_SECURITY": "none",
        "SMTP_FROM": "IOC <ioc@sgddt.example.vn>",
        "AUTH_REQUIRED": "true",
        "BASE_URL": served["url"],
    }.items():
        monkeypatch.setenv("IOC_" + name, value)
    yield box
    box.stop()


def config(served: dict[str, Any], *entries: str) -> notify_config.NotifyConfig:
    file = Path(served["folder"]) / "notify.toml"
    file.write_text("\n".join(entries), encoding="utf-8")
    return notify_config.load(served["folder"], file)


def pdf_text(mail: Any) -> tuple[str, int]:
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    reader = PdfReader(io.BytesIO(attachment.get_content()))
    return "\n".join(page.extract_text() for page in reader.pages), len(reader.pages)


def test_weekly_reports_are_printed_and_emailed_on_schedule(served: dict[str, Any], smtp: Mailbox) -> None:
    district = served["districts"][0]
    cfg = config(
        served,
        '[[reports]]\nname = "tuan-thanh-pho"\npage = "/"\nto = ["lanh-dao@sgddt.example.vn"]\n'
        'schedule = "0 7 * * mon"\nrender_as = "bao-cao-so"\n',
        f'[[reports]]\nname = "tuan-quan"\npage = "/district/{district}"\nto = ["phong-gd@example.vn"]\n'
        'schedule = "0 7 * * mon"\nrender_as = "bao-cao-quan"\n',
    )
    db = served["db"]
    before = run_due(db, cfg, served["folder"], now=DUE.timestamp() - 60)  # Monday 06:59
    assert before.sent == [] and before.failed == []

    smtp.stop()  # the mail server is down at 07:00: printed, kept, sent at the next try
    down = run_due(db, cfg, served["folder"], now=DUE.timestamp() + 20)
    assert down.sent == [] and len(down.failed) == 2 and "SMTP server 127.0.0.1" in down.failed[0]
    smtp.start()
    up = run_due(db, cfg, served["folder"], now=DUE.timestamp() + 80)
    assert sorted(up.sent) == ["tuan-quan", "tuan-thanh-pho"]
    assert run_due(db, cfg, served["folder"], now=DUE.timestamp() + 140).sent == []  # once per week
    assert len(smtp.mails) == 2

    city = next(m for m in smtp.mails if "lanh-dao@" in str(m["To"]))
    assert str(city["Subject"]) == "[IOC] Báo cáo định kỳ: Màn hình điều hành (30/11/2026 – 06/12/2026)"
    text, pages = pdf_text(city)
    assert pages >= 1
    assert "Kỳ báo cáo: 30/11/2026 – 06/12/2026" in text
    assert "Số liệu lúc" in text
    # the wall's own tiles, in Vietnamese (pypdf spaces the page's stacked diacritics apart)
    assert "Tỷlệchuyêncần" in "".join(text.split())
    body = city.get_body(preferencelist=("plain",)).get_content()
    assert f"{served['url']}/?lang=vi&theme=light" in body

    officer = next(m for m in smtp.mails if "phong-gd@" in str(m["To"]))
    text, _ = pdf_text(officer)
    assert "Kỳ báo cáo: 30/11/2026 – 06/12/2026" in text
    assert "Quận/huyện" in str(officer["Subject"]) or district in str(officer["Subject"])


def test_a_report_of_a_page_its_account_may_not_see_is_refused(served: dict[str, Any], smtp: Mailbox) -> None:
    other = served["districts"][1]
    cfg = config(
        served,
        f'[[reports]]\nname = "sai-quan"\npage = "/district/{other}"\nto = ["phong-gd@example.vn"]\n'
        'schedule = "0 7 * * mon"\nrender_as = "bao-cao-quan"\n',
    )
    done = run_due(served["db"], cfg, served["folder"], now=DUE.timestamp() + 20)
    assert done.sent == [] and "the app answered HTTP 403" in done.failed[0]
    assert not smtp.mails
