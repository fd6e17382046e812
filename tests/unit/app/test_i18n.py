"""Formatting per locale and the completeness of the two word lists."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from ioc import i18n

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("value", "lang", "decimals", "expected"),
    [
        (3512, "vi", 0, "3.512"),
        (3512, "en", 0, "3,512"),
        (1234567.891, "vi", 2, "1.234.567,89"),
        (1234567.891, "en", 2, "1,234,567.89"),
        (72.5, "vi", 1, "72,5"),
        (-1500.26, "vi", 1, "-1.500,3"),
        (0, "vi", 0, "0"),
        (None, "vi", 1, "—"),
        (float("nan"), "en", 1, "—"),
    ],
)
def test_number(value, lang, decimals, expected) -> None:
    assert i18n.number(value, lang, decimals) == expected


def test_percent_follows_the_locale() -> None:
    assert i18n.percent(0.954, "vi") == "95,4\u00a0%"
    assert i18n.percent(0.954, "en") == "95.4%"
    assert i18n.percent(1.0, "vi", 0) == "100\u00a0%"
    assert i18n.percent(None, "vi") == "—"


def test_dates_are_day_first_in_vietnamese_and_iso_in_english() -> None:
    assert i18n.format_date(date(2026, 11, 23), "vi") == "23/11/2026"
    assert i18n.format_date(date(2026, 11, 23), "en") == "2026-11-23"
    assert i18n.format_datetime(datetime(2026, 11, 23, 9, 5), "vi") == "23/11/2026 09:05"
    assert i18n.format_datetime(datetime(2026, 11, 23, 9, 5), "en") == "2026-11-23 09:05"


def test_ago() -> None:
    now = datetime(2026, 11, 23, 12, 0)
    assert i18n.ago(now - timedelta(minutes=3), now, "vi") == "cập nhật 3 phút trước"
    assert i18n.ago(now - timedelta(minutes=3), now, "en") == "updated 3 minutes ago"
    assert i18n.ago(now - timedelta(hours=5, minutes=59), now, "vi") == "cập nhật 5 giờ trước"
    assert i18n.ago(now - timedelta(days=2), now, "en") == "updated 2 days ago"
    assert i18n.ago(now - timedelta(seconds=20), now, "vi") == "vừa cập nhật"
    assert i18n.ago(None, now, "en") == "no data yet"


def test_kpi_values_in_their_unit() -> None:
    assert i18n.kpi_value(0.9612, "ratio", "vi", 1) == "96,1\u00a0%"
    assert i18n.kpi_value(72.46, "index", "en", 1) == "72.5"
    assert i18n.kpi_value(1234, "count", "vi") == "1.234"
    assert i18n.kpi_value(45.26, "mbps", "vi", 1) == "45,3\u00a0Mbps"
    assert i18n.kpi_value(0.125, "mbps_per_student", "en", 3) == "0.125\u00a0Mbps/student"


def test_deltas_never_show_a_sign_that_rounding_hides() -> None:
    assert i18n.kpi_delta(0.012, "ratio", "vi", 1) == "+1,2\u00a0điểm\u00a0%"
    assert i18n.kpi_delta(-0.012, "ratio", "en", 1) == "−1.2\u00a0pts"
    assert i18n.kpi_delta(-0.00001, "ratio", "vi", 1) == "±0,0\u00a0điểm\u00a0%"
    assert i18n.kpi_delta(-2.5, "index", "en", 1) == "−2.5"
    assert i18n.kpi_delta(None, "ratio", "vi") == "—"


def test_unknown_language_falls_back_to_vietnamese() -> None:
    assert i18n.lang_of("fr") == "vi"
    assert i18n.t("nav.explore", "fr") == i18n.t("nav.explore", "vi")


def test_both_locales_have_the_same_keys_and_placeholders() -> None:
    vi, en = i18n.catalog("vi"), i18n.catalog("en")
    assert set(vi) == set(en)
    for key in vi:
        assert set(re.findall(r"{(\w+)}", vi[key])) == set(re.findall(r"{(\w+)}", en[key])), key
        assert vi[key].strip() and en[key].strip(), key


def test_every_literal_key_used_by_the_app_exists() -> None:
    """Literal keys in the app's code ('nav.explore', line('explain.value', ...)) are all translated."""
    vi = i18n.catalog("vi")
    prefixes = {key.split(".")[0] for key in vi}
    sources = [ROOT / "ioc" / name for name in ("app.py", "exports.py", "figures.py")]
    sources += list((ROOT / "ioc" / "pages").glob("*.py")) + list((ROOT / "ioc" / "panels").glob("*.py"))
    used: set[str] = set()
    for path in sources:
        for key in re.findall(r"[\"']([a-z_]+\.[a-zA-Z_]+)[\"']", path.read_text(encoding="utf-8")):
            if key.split(".")[0] in prefixes:
                used.add(key)
    assert used, "the scan found no keys"
    assert sorted(used - set(vi)) == []


def test_locale_files_are_valid_utf8_json() -> None:
    for lang in i18n.LANGS:
        data = json.loads((ROOT / "ioc" / "locales" / f"{lang}.json").read_text(encoding="utf-8"))
        assert all(isinstance(v, str) for v in data.values())


def test_two_counts_in_one_sentence_each_take_their_plural() -> None:
    def outages(n: int, hours: int, lang: str) -> str:
        return i18n.t(
            "school.outages",
            lang,
            outages=i18n.plural("school.outage_count", n, lang),
            hours=i18n.plural("school.outage_hours", hours, lang),
        )

    assert outages(1, 1, "en") == "1 full outage, 1 hour in total"
    assert outages(2, 1, "en") == "2 full outages, 1 hour in total"
    assert outages(1, 3, "en") == "1 full outage, 3 hours in total"
    assert outages(1, 1, "vi") == "1 lần mất kết nối hoàn toàn, tổng 1 giờ"


def test_an_alerts_severity_is_shown_by_its_name() -> None:
    assert i18n.severity_name("warning", "vi") == "Cần chú ý"
    assert i18n.severity_name("critical", "en") == "Critical"
    assert i18n.severity_name("unheard_of", "vi") == "unheard_of"  # a new code still shows, as it is


def test_a_pages_title_is_in_the_language_of_its_address() -> None:
    from flask import Flask

    from ioc.pages._common import page_title

    title = page_title("nav.data_health")
    assert title() == "IOC · Chất lượng dữ liệu"  # no request: the default language
    with Flask(__name__).test_request_context("/data-health?lang=en"):
        assert title() == "IOC · Data health"
    with Flask(__name__).test_request_context("/data-health?lang=vi"):
        assert title(code="718") == "IOC · Chất lượng dữ liệu"


def test_a_tile_value_keeps_its_word_unit_in_a_smaller_span() -> None:
    """ "0,071 Mbps/HS" is the number and a smaller unit (it was cut to "0,071 Mbp" in a tile); a
    percentage stays one text. The words read the same either way."""
    from ioc.panels.common import value_button

    speed = value_button(i18n.kpi_value(0.071, "mbps_per_student", "vi", 3), None, "vi", "tile-value")
    number, unit = speed.children
    assert number == "0,071\u00a0" and unit.className == "unit" and unit.children == "Mbps/HS"
    share = value_button(i18n.kpi_value(0.954, "ratio", "vi"), "kpi=x", "vi", "tile-value")
    assert share.children == "95,4\u00a0%"
