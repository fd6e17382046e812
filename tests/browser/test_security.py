"""Access control in a real browser (headless Chromium): sign in through the form, pages render
under the Content-Security-Policy with no console errors, a school named like an HTML tag is
shown as text, another district is refused, and sign-out ends the session."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from ioc.demo.build import local_now

pytestmark = pytest.mark.browser
WAIT = 20
XSS_NAME = "<img src=x onerror=alert(1)>"
PASSWORD = "a long passphrase 2026"


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from ingest.load import ingest_paths
    from ioc.demo import build_demo
    from ioc.store import Store

    folder: Path = tmp_path_factory.mktemp("security-demo")
    build_demo(folder, schools=60, attendance_days=30, probe_days=2, today=local_now().date())
    store = Store(folder)
    source = sorted((folder / "demo_source").glob("schools_*.csv"))[-1]
    with source.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[0]["school_name"] = XSS_NAME
    renamed = tmp_path_factory.mktemp("security-renamed") / f"schools_{local_now().date().isoformat()}.csv"
    with renamed.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert ingest_paths(store, [renamed])[0].status == "loaded"
    yield store
    store.close()


def wait_for(duo: Any, css: str) -> Any:
    return WebDriverWait(duo.driver, WAIT).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def severe(duo: Any) -> list[dict[str, Any]]:
    return [e for e in duo.get_logs() if "favicon" not in e.get("message", "")]


def test_signed_in_officer_in_the_browser(dash_duo: Any, hostile_store: Any) -> None:
    from ioc.app import create_app
    from ioc.auth import accounts
    from ioc.auth.db import open_db
    from ioc.auth.web import install
    from ioc.metrics import dimensions

    schools = dimensions.schools(hostile_store)
    mine = schools[0]
    other = next(s for s in schools if s.district_code != mine.district_code)
    db = open_db(hostile_store.layout.root)
    accounts.add(db, "officer", "district_officer", PASSWORD, districts=[mine.district_code])
    app = create_app(store=hostile_store)
    # dash_duo waits for the app's page when it starts the server: switch sign-in on after that
    install(app, hostile_store.layout.root, store_factory=lambda: hostile_store, required=False)
    dash_duo.start_server(app)
    install(app, hostile_store.layout.root, required=True)
    driver = dash_duo.driver
    driver.delete_all_cookies()

    driver.get(dash_duo.server_url + "/explore?kpi=attendance_rate&by=school")
    WebDriverWait(driver, WAIT).until(lambda d: "/login" in d.current_url)
    driver.find_element(By.ID, "username").send_keys("officer")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, WAIT).until(lambda d: "/explore" in d.current_url)
    wait_for(dash_duo, ".explore-page .export-bar")
    dash_duo.get_logs()  # forget the 401s of the start-up page's timers from before signing in

    pages = [
        ("/screen/control_room", ".wall .panel[data-panel='attendance']"),  # "/" leads officers home
        (f"/district/{mine.district_code}", ".unit-page .units-table"),
        (f"/school/{mine.school_id}", ".school-page .profile"),
        ("/explore?kpi=uptime&by=ward", ".explore-page .export-bar"),
        ("/kpi/attendance_rate", ".kpi-card"),
    ]
    for path, marker in pages:
        driver.get(dash_duo.server_url + path)
        wait_for(dash_duo, marker)
        time.sleep(0.3)  # let late callbacks report their errors (a CSP violation is one), if any
        assert severe(dash_duo) == [], path
        assert not driver.find_elements(By.CSS_SELECTOR, ".panel[data-state='error']"), path

    # the officer's home is their district; its header links the wall by its URL
    driver.get(dash_duo.server_url + "/")
    wait_for(dash_duo, ".unit-page .units-table")
    assert urlsplit(driver.current_url).path == f"/district/{mine.district_code}"
    brand = driver.find_element(By.CSS_SELECTOR, ".app-header .brand").get_attribute("href")
    assert urlsplit(brand).path == f"/district/{mine.district_code}"
    hrefs = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, ".app-header .nav-link")]
    assert any(urlsplit(h).path == "/screen/control_room" for h in hrefs)

    # every in-app link labelled city leads home too, without drawing the city wall on the way
    # (Dash's links change pages in the browser, where the guard's redirect of "/" never runs)
    driver.get(dash_duo.server_url + f"/school/{mine.school_id}")
    wait_for(dash_duo, ".school-page .profile")
    driver.execute_script(
        "window.walls = 0; new MutationObserver(() => { if (document.querySelector('.wall')) window.walls++; })"
        ".observe(document.body, {childList: true, subtree: true});"
    )
    city = driver.find_element(By.CSS_SELECTOR, ".breadcrumbs a.crumb")
    assert urlsplit(city.get_attribute("href")).path == f"/district/{mine.district_code}"
    city.click()
    wait_for(dash_duo, ".unit-page .units-table")
    assert urlsplit(driver.current_url).path == f"/district/{mine.district_code}"
    assert driver.execute_script("return window.walls") == 0
    # "/" reached inside the app all the same (an old link): their home is loaded, not the wall
    driver.execute_script(
        "window.history.pushState({}, '', '/'); window.dispatchEvent(new CustomEvent('_dashprivate_pushstate'));"
    )
    WebDriverWait(driver, WAIT).until(
        lambda d: urlsplit(d.current_url).path == f"/district/{mine.district_code}"
    )
    wait_for(dash_duo, ".unit-page .units-table")
    driver.get(dash_duo.server_url + "/screen/connectivity")
    wait_for(dash_duo, ".wall .screen-tabs")
    tabs = [
        urlsplit(a.get_attribute("href")).path for a in driver.find_elements(By.CSS_SELECTOR, ".screen-tab")
    ]
    assert "/" not in tabs and "/screen/control_room" in tabs

    # the hostile school name is text on its page, never an element
    driver.get(dash_duo.server_url + f"/school/{mine.school_id}")
    wait_for(dash_duo, ".school-page .profile")
    WebDriverWait(driver, WAIT).until(
        lambda d: XSS_NAME in d.find_element(By.CSS_SELECTOR, ".school-page").text
    )
    assert driver.find_elements(By.CSS_SELECTOR, "img[src='x']") == []
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 - raises when no alert() ran

    # another district: refused
    driver.get(dash_duo.server_url + f"/district/{other.district_code}")
    wait_for(dash_duo, "main h1")
    assert "Không có quyền truy cập" in driver.find_element(By.TAG_NAME, "main").text

    # sign out: the form, then the app asks to sign in again
    driver.get(dash_duo.server_url + "/logout")
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, WAIT).until(lambda d: "/login" in d.current_url)
    driver.get(dash_duo.server_url + "/explore")
    WebDriverWait(driver, WAIT).until(lambda d: "/login" in d.current_url)
