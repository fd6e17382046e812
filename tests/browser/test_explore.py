"""Explore in Chromium: an officer picks a grouping and sees each unit beside its previous period
(hollow markers at the API's numbers for that period, the change coloured in the table); no
sideways scroll on a phone."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from ioc.metrics.cache import cached_compute
from ioc.metrics.query import KpiQuery

pytestmark = pytest.mark.browser
WAIT = 40

FIGURE = """
const graph = document.querySelector('.explore-page .drill-graph .js-plotly-plot');
if (!graph || !graph.data || document.querySelector('[data-dash-is-loading="true"]')) return null;
return {
  data: graph.data.map(t => ({symbol: t.marker && t.marker.symbol, x: t.x, y: t.y, mode: t.mode,
                              colour: t.line && t.line.color})),
  labels: graph.layout.yaxis.ticktext,
  drawn: graph.querySelectorAll('.scatterlayer .trace .points path').length,
};
"""


def figure_when(duo: Any, ready: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def check(driver: Any) -> bool:
        fig = driver.execute_script(FIGURE)
        if fig and ready(fig):
            found.update(fig)
            return True
        return False

    WebDriverWait(duo.driver, WAIT).until(check)
    return found


def test_picking_a_grouping_draws_the_previous_period(start, browser_store) -> None:
    duo = start()
    duo.driver.get(duo.server_url + "/explore?kpi=attendance_rate&by=district&lang=en")
    figure_when(duo, lambda fig: True)
    duo.select_dcc_dropdown("#explore-by", value="Level")
    WebDriverWait(duo.driver, WAIT).until(lambda d: "by=level" in d.current_url)
    fig = figure_when(duo, lambda fig: any(t["symbol"] == "circle-open" for t in fig["data"]))

    # the numbers: the front door's answer for this period and for the one before it
    day = cached_compute(browser_store, KpiQuery("attendance_rate", by="level")).date_from
    days = cached_compute(
        browser_store, KpiQuery("attendance_rate", by="date", date_from=day - timedelta(days=30), date_to=day)
    )
    before_day = max(r.key for r in days.rows if r.key < day.isoformat() and r.schools_reporting)
    on = date.fromisoformat(before_day)  # the school day before: what `ioc kpi --from --to` answers
    previous = cached_compute(
        browser_store, KpiQuery("attendance_rate", by="level", date_from=on, date_to=on)
    )
    names = {"primary": "Primary", "lower_secondary": "Lower secondary", "upper_secondary": "Upper secondary"}
    (hollow,) = [t for t in fig["data"] if t["symbol"] == "circle-open"]
    drawn = {fig["labels"][round(y)]: x for x, y in zip(hollow["x"], hollow["y"], strict=True)}
    checked = [row for row in previous.rows if row.key in names and row.value is not None]
    assert checked
    for row in checked:
        assert drawn[names[row.key]] == pytest.approx(row.value)
    assert fig["drawn"] >= len(drawn) * 2  # the SVG holds the dots and the hollow markers

    # the table: the previous value and the change, coloured by the KPI's direction
    header = [h.text for h in duo.driver.find_elements(By.CSS_SELECTOR, ".ag-header-cell-text")]
    assert "Previous period" in header and "Change" in header
    changes = duo.driver.find_elements(By.CSS_SELECTOR, ".ag-cell.delta")
    assert changes and all(c.text.startswith(("+", "−", "±", "—")) for c in changes)
    for cell in changes:
        assert ("delta-bad" in cell.get_attribute("class")) == cell.text.startswith("−")
    summary = duo.find_element(".explore-summary").text
    assert f"Previous period (○): {before_day}" in summary


def test_explore_on_a_phone_does_not_scroll_sideways(start) -> None:
    duo = start()
    duo.driver.set_window_size(390, 844)
    for query in (
        "kpi=attendance_rate&by=ward",
        "kpi=uptime&by=school&lang=en",
        "kpi=attendance_rate&by=month",
    ):
        duo.driver.get(duo.server_url + "/explore?" + query)
        # on a phone a graph is drawn when scrolled near (assets/lazy_graph.js)
        WebDriverWait(duo.driver, WAIT).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".drill-graph"))
        duo.driver.execute_script("document.querySelector('.drill-graph').scrollIntoView()")
        figure_when(duo, lambda fig: True)
        time.sleep(0.3)
        width = duo.driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], query
