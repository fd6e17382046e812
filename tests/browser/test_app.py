"""The app in a real headless Chromium: pages, drill-down, kiosk mode, exports, stale panels."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from ioc.metrics import dimensions
from ioc.metrics.cache import cached_compute
from ioc.metrics.query import KpiQuery
from tests.clock import last_school_afternoon, set_clock

pytestmark = pytest.mark.browser
SHARED_BOUNDARIES = Path(__file__).resolve().parents[3] / "shared" / "data" / "hcmc_legacy_districts.geojson"
WAIT = 40  # generous: a cold first page on a busy CI machine computes every KPI


def wait_for(duo: Any, css: str, timeout: float = WAIT) -> Any:
    return WebDriverWait(duo.driver, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def wait_path(duo: Any, path: str, timeout: float = WAIT) -> None:
    WebDriverWait(duo.driver, timeout).until(lambda d: d.current_url.split("?")[0].endswith(path))


def severe(duo: Any) -> list[dict[str, Any]]:
    return [e for e in duo.get_logs() if "favicon" not in e.get("message", "")]


def test_every_page_renders_without_console_errors(start, browser_store) -> None:
    duo = start()
    info = dimensions.schools(browser_store)[0]
    pages = [
        ("/", ".wall .panel[data-panel='attendance']"),
        ("/screen/connectivity", ".wall .panel[data-panel='uptime']"),
        (f"/district/{info.district_code}", ".unit-page .units-table"),
        (f"/ward/{info.ward_code}", ".unit-page .units-table"),
        (f"/school/{info.school_id}", ".school-page .profile"),
        ("/explore?kpi=uptime&by=ward", ".explore-page .export-bar"),
        ("/data-health", ".health-page .fresh-cards"),
        ("/kpi/attendance_rate", ".kpi-card"),
        ("/kpi", ".kpi-index"),
        ("/?lang=en", ".wall .panel"),
    ]
    for path, marker in pages:
        duo.driver.get(duo.server_url + path)
        wait_for(duo, marker)
        time.sleep(0.3)  # let late callbacks report their errors, if any
        assert severe(duo) == [], path
        assert not duo.driver.find_elements(By.CSS_SELECTOR, ".panel[data-state='error']"), path
    assert duo.find_element(".app-header .nav-link").text == "Control room"  # ?lang=en switched the words


def unit_page(duo: Any) -> str:
    """Wait until the page of the URL's unit is drawn (not the previous page's table); its code."""
    code = duo.driver.current_url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    wait_for(duo, f".unit-page[data-unit='{code}'] .units-table .ag-row")
    return code


def click_first_row(duo: Any) -> None:
    code = unit_page(duo)
    cell = WebDriverWait(duo.driver, WAIT).until(
        EC.element_to_be_clickable(
            (
                By.CSS_SELECTOR,
                f".unit-page[data-unit='{code}'] .units-table .ag-center-cols-container .ag-row .ag-cell",
            )
        )
    )
    cell.click()


def test_drill_down_city_district_ward_school_and_back(start) -> None:
    duo = start(boundaries_file=str(SHARED_BOUNDARIES))
    duo.driver.get(duo.server_url + "/")
    wait_for(duo, ".panel[data-panel='map'] .scatterlayer")
    # the map: each area's centre marker carries its link (the only markers drawn on the map: the
    # areas are fills, the names text, the legend's entries have no point); click the first one
    marker = WebDriverWait(duo.driver, WAIT).until(
        EC.presence_of_element_located(
            (By.CSS_SELECTOR, ".panel[data-panel='map'] .scatterlayer .trace .points path")
        )
    )
    duo.driver.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "const o = {bubbles: true, clientX: r.x + r.width / 2, clientY: r.y + r.height / 2};"
        "const el = document.elementFromPoint(o.clientX, o.clientY);"
        "['mousemove', 'mousedown', 'mouseup', 'click'].forEach(t => el.dispatchEvent(new MouseEvent(t, o)));",
        marker,
    )
    WebDriverWait(duo.driver, WAIT).until(lambda d: "/district/" in d.current_url)
    district_url = duo.driver.current_url
    unit_page(duo)
    crumbs = [e.text for e in duo.driver.find_elements(By.CSS_SELECTOR, ".breadcrumbs .crumb")]
    assert crumbs[0] == "Toàn thành phố"
    click_first_row(duo)
    WebDriverWait(duo.driver, WAIT).until(lambda d: "/ward/" in d.current_url)
    ward_url = duo.driver.current_url
    click_first_row(duo)
    WebDriverWait(duo.driver, WAIT).until(lambda d: "/school/" in d.current_url)
    wait_for(duo, ".school-page .profile")
    assert len(duo.driver.find_elements(By.CSS_SELECTOR, ".breadcrumbs .crumb")) == 4
    # back up: the breadcrumb to the ward, then the browser's back button
    duo.driver.find_elements(By.CSS_SELECTOR, ".breadcrumbs a.crumb")[-1].click()
    WebDriverWait(duo.driver, WAIT).until(lambda d: d.current_url == ward_url)
    duo.driver.back()
    WebDriverWait(duo.driver, WAIT).until(lambda d: "/school/" in d.current_url)
    duo.driver.back()
    WebDriverWait(duo.driver, WAIT).until(lambda d: d.current_url == ward_url)
    duo.driver.back()
    WebDriverWait(duo.driver, WAIT).until(lambda d: d.current_url == district_url)
    unit_page(duo)
    assert severe(duo) == []


def test_what_is_this_number(start, browser_store) -> None:
    duo = start()
    duo.driver.get(duo.server_url + "/?lang=en")
    value = WebDriverWait(duo.driver, WAIT).until(
        EC.element_to_be_clickable((By.CSS_SELECTOR, ".panel[data-panel='attendance'] button.explainable"))
    )
    shown = value.text
    value.click()
    wait_for(duo, ".explain:not(.hidden) .explain-content[data-kpi='attendance_rate']")
    fields = {
        e.get_attribute("data-field"): e.text
        for e in duo.driver.find_elements(By.CSS_SELECTOR, ".explain-table td[data-field]")
    }
    assert fields["value"] == shown
    row = cached_compute(browser_store, KpiQuery("attendance_rate")).rows[0]
    assert (
        fields["numerator"] == f"{round(row.numerator):,}"
        and fields["denominator"] == f"{round(row.denominator):,}"
    )
    duo.find_element(".explain-close").click()
    wait_for(duo, ".explain.hidden")


def test_kiosk_mode_rotates_screens_and_refreshes_in_place(start) -> None:
    duo = start(refresh_seconds="2")
    duo.driver.get(duo.server_url + "/?kiosk=1&rotate=12")
    wait_for(duo, ".wall.kiosk .panel[data-panel='attendance']")
    assert not duo.driver.find_elements(By.CSS_SELECTOR, ".app-header .nav-link")  # no navigation chrome
    assert not duo.driver.find_elements(By.CSS_SELECTOR, ".screen-tabs")
    duo.driver.execute_script("window.__not_reloaded = true;")
    first = duo.find_element("#wall-refreshed").text
    WebDriverWait(duo.driver, WAIT).until(lambda d: d.find_element(By.ID, "wall-refreshed").text != first)
    # refreshed in place: the same panels, none failing (rotation comes later, after 12 s)
    assert duo.driver.find_elements(By.CSS_SELECTOR, ".wall .panel[data-panel='attendance'] .tile-value")
    assert not duo.driver.find_elements(By.CSS_SELECTOR, ".panel[data-state='error']")
    WebDriverWait(duo.driver, 2 * WAIT).until(lambda d: "/screen/connectivity" in d.current_url)
    wait_for(duo, ".wall.kiosk .panel[data-panel='uptime']")
    assert "kiosk=1" in duo.driver.current_url
    WebDriverWait(duo.driver, 2 * WAIT).until(
        lambda d: d.current_url.split("?")[0].rstrip("/") == duo.server_url.rstrip("/")
    )
    assert duo.driver.execute_script("return window.__not_reloaded === true;")  # rotation without a page load
    assert severe(duo) == []


def wait_download(folder: Path, suffix: str, timeout: float = 40) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(f"*{suffix}") if p.stat().st_size > 0]
        if done and not list(folder.glob("*.crdownload")):
            return done[0]
        time.sleep(0.2)
    raise AssertionError(f"no {suffix} file downloaded into {folder}: {list(folder.iterdir())}")


def test_exports_download_valid_files_with_the_right_numbers(start, browser_store) -> None:
    duo = start()
    duo.driver.get(duo.server_url + "/explore?kpi=attendance_rate&by=district")
    wait_for(duo, ".export-bar")
    folder = Path(duo.download_path)
    expected = {
        r.key: r for r in cached_compute(browser_store, KpiQuery("attendance_rate", by="district")).rows
    }
    duo.find_element("#explore-export-csv").click()
    rows = list(csv.DictReader(io.StringIO(wait_download(folder, ".csv").read_text(encoding="utf-8-sig"))))
    assert {r["key"]: float(r["numerator"]) for r in rows} == {k: r.numerator for k, r in expected.items()}
    duo.find_element("#explore-export-xlsx").click()
    from openpyxl import load_workbook

    book = load_workbook(wait_download(folder, ".xlsx"))
    values = {r[0]: r[2] for r in book["data"].iter_rows(min_row=2, values_only=True)}
    assert values == {k: r.value for k, r in expected.items()}
    assert "about" in book.sheetnames
    duo.find_element("#explore-export-png").click()
    assert wait_download(folder, ".png").read_bytes().startswith(b"\x89PNG")
    duo.find_element("#explore-export-svg").click()
    svg = wait_download(folder, ".svg").read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<svg") and "Tỷ lệ chuyên cần" in svg
    assert severe(duo) == []


def test_a_stale_panel_shows_its_warning(start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_clock(monkeypatch, last_school_afternoon())  # attendance fresh on any day the test runs
    screen = {
        "schema_version": 1,
        "title": "Stale test",
        "columns": 2,
        "rows": 1,
        "panels": [
            {
                "id": "fresh",
                "type": "kpi_tile",
                "kpi": "attendance_rate",
                "grid": {"x": 0, "y": 0, "w": 1, "h": 1},
            },
            {
                "id": "old",
                "type": "kpi_tile",
                "kpi": "digital_readiness",
                "grid": {"x": 1, "y": 0, "w": 1, "h": 1},
                "stale_after_minutes": 60,
            },
        ],
    }
    (tmp_path / "control_room.json").write_text(json.dumps(screen), encoding="utf-8")
    duo = start(screens_dir=str(tmp_path))
    duo.driver.get(duo.server_url + "/?kiosk=1&lang=en")
    banner = wait_for(duo, ".panel[data-panel='old'][data-state='stale'] .banner-stale")
    sign = banner.find_element(By.CSS_SELECTOR, ".banner-icon")
    assert sign.text == "!" and sign.get_attribute("aria-hidden") == "true"  # a sign every font has
    assert banner.text.removeprefix("!").strip().startswith("Stale data: last updated")
    assert duo.find_element(".panel[data-panel='old'] .tile-value").text  # the value is still shown
    assert duo.driver.find_elements(By.CSS_SELECTOR, ".panel[data-panel='fresh'][data-state='ok']")
    assert severe(duo) == []
