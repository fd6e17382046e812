"""What a page loads and how it settles, in a real headless Chromium: Plotly's custom bundle
instead of dcc's full one, AG Grid's code only where a grid is drawn, and no layout shift while
the graphs' and grids' code arrives."""

from __future__ import annotations

import time

import pytest
from plotly.offline import get_plotlyjs_version
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from ioc.metrics import dimensions

pytestmark = pytest.mark.browser
WAIT = 40  # generous: a cold first page on a busy CI machine computes every KPI

# every layout shift not caused by input, with the elements that moved (PerformanceObserver)
RECORD_SHIFTS = """
window.__shifts = [];
new PerformanceObserver(function (list) {
  list.getEntries().forEach(function (e) {
    if (e.hadRecentInput) { return; }
    window.__shifts.push({value: e.value, sources: (e.sources || []).map(function (s) {
      var n = s.node;
      return n && n.nodeType === 1 ? n.tagName + '.' + String(n.className) : String(n && n.nodeName);
    })});
  });
}).observe({type: 'layout-shift', buffered: true});
"""

# drawn: no graph waiting for its code or its figure (and one drawn, where the page has graphs),
# and every grid has its rows
SETTLED = """
return document.querySelector('.page') !== null
  && document.querySelectorAll('.dash-graph--pending').length === 0
  && (document.querySelectorAll('.js-plotly-plot .main-svg').length > 0 || arguments[0] === false)
  && Array.prototype.every.call(document.querySelectorAll('.ag-theme-alpine'), function (g) {
       return g.querySelector('.ag-row') !== null; });
"""

GRID_HEIGHTS = """
return Array.prototype.map.call(document.querySelectorAll('.ag-theme-alpine'), function (g) {
  return [g.style.minHeight, g.firstElementChild.getBoundingClientRect().height]; });
"""


def test_pages_draw_with_the_custom_bundle_and_do_not_shift(start, browser_store) -> None:
    duo = start()
    duo.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_SHIFTS})
    info = dimensions.schools(browser_store)[0]
    for path, grid in (
        ("/", False),
        (f"/district/{info.district_code}", True),
        (f"/ward/{info.ward_code}", True),
        (f"/school/{info.school_id}", False),
        ("/explore", True),
        ("/explore?by=school&lang=en", True),
        ("/data-health", True),  # no graph
    ):
        duo.driver.get(duo.server_url + path)
        graphs = path != "/data-health"
        WebDriverWait(duo.driver, WAIT).until(lambda d, g=graphs: d.execute_script(SETTLED, g))
        if not graphs:
            WebDriverWait(duo.driver, WAIT).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".ag-row"))
        loaded = duo.driver.execute_script(
            "return performance.getEntriesByType('resource').map(function (r) { return r.name; })"
        )
        # loaded once, by dcc.Graph when the page first draws a graph (assets/lazy_plotly.js)
        assert len([u for u in loaded if "/plotly-ioc." in u]) == int(graphs), path
        assert not [u for u in loaded if "plotly.min.js" in u], path  # dcc's full bundle never loads
        if graphs:
            assert duo.driver.execute_script("return window.Plotly.version") == get_plotlyjs_version()
        assert bool([u for u in loaded if "/dash_ag_grid/dash_ag_grid." in u]) == grid, path
        # a grid's reserved height is its drawn height (ioc.pages._common.grid_style), give or take a
        # border, or a horizontal scroll bar when its columns are wider than the window
        for reserved, drawn in duo.driver.execute_script(GRID_HEIGHTS):
            assert -4 <= drawn - float(reserved.removesuffix("px")) <= 20, (path, reserved, drawn)
        shifts = duo.driver.execute_script("return window.__shifts")
        # Lighthouse's bound for a good page is 0.1; the reserved space makes it 0 here
        assert sum(s["value"] for s in shifts) < 0.01, (path, shifts)


def test_a_grid_drawn_after_a_page_without_one_loads_its_code_then(start, browser_store) -> None:
    """From the school page (no grid) to its district through the breadcrumb, in the same page:
    the district's table arrives with AG Grid's code, and clicking its value explains it."""
    duo = start()
    info = dimensions.schools(browser_store)[0]
    duo.driver.get(duo.server_url + f"/school/{info.school_id}")
    WebDriverWait(duo.driver, WAIT).until(lambda d: d.execute_script(SETTLED))
    grid_code = "return performance.getEntriesByType('resource').filter(function (r) { return r.name.indexOf('/dash_ag_grid/dash_ag_grid.') >= 0; }).length"
    assert duo.driver.execute_script(grid_code) == 0  # the school page has no grid: no grid code yet
    duo.driver.execute_script("window.__same_page = true")
    link = duo.driver.find_element(By.CSS_SELECTOR, f".breadcrumbs a[href^='/district/{info.district_code}']")
    link.click()
    WebDriverWait(duo.driver, WAIT).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f".unit-page[data-unit='{info.district_code}'] .ag-row")
    )
    assert duo.driver.execute_script("return window.__same_page") is True  # no reload: Dash's own navigation
    assert duo.driver.execute_script(grid_code) == 1
    cell = WebDriverWait(duo.driver, WAIT).until(
        EC.element_to_be_clickable(
            (By.CSS_SELECTOR, ".units-table .ag-center-cols-container .ag-row [col-id='shown']")
        )
    )
    cell.click()
    WebDriverWait(duo.driver, WAIT).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".explain:not(.hidden) .explain-content")
    )
    assert [e for e in duo.get_logs() if "favicon" not in e.get("message", "")] == []


GRAPHS = """
return [document.querySelectorAll('.dash-graph--pending').length,
        document.querySelectorAll('.js-plotly-plot').length];
"""


def test_a_phone_draws_a_graph_when_it_is_scrolled_near_a_desk_draws_them_all(start, browser_store) -> None:
    """assets/lazy_graph.js: one graph at a time after the first paint; on a narrow window the
    graphs below the first screens wait until the reader scrolls near them. A district page's
    first screen on a phone is its tiles, whose sparklines are images: it loads no Plotly code."""
    duo = start()
    info = dimensions.schools(browser_store)[0]
    path = f"/district/{info.district_code}"
    duo.driver.set_window_size(412, 860)
    duo.driver.get(duo.server_url + path)
    WebDriverWait(duo.driver, WAIT).until(lambda d: d.execute_script(GRAPHS)[0] > 0)
    time.sleep(1.0)  # what is near the first screen has had its turn
    waiting, drawn = duo.driver.execute_script(GRAPHS)
    assert waiting > 0 and drawn == 0, (waiting, drawn)
    plotly_code = (
        "return performance.getEntriesByType('resource').filter(r => r.name.includes('/plotly-ioc.')).length"
    )
    assert duo.driver.execute_script(plotly_code) == 0
    # the renderer's first answers were asked for with the page (ioc.delivery.FIRST_FETCHES) and
    # read from there: no second request for them
    first = duo.driver.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter(r => /[/]_dash-(layout|dependencies)$/.test(r.name)).map(r => r.initiatorType);"
    )
    assert first == ["link", "link"], first
    sparklines = duo.driver.execute_script(
        "return [...document.querySelectorAll('.tile-spark img')].map(i => [i.complete, i.naturalWidth > 0, i.alt]);"
    )
    assert sparklines and all(done and shown and alt for done, shown, alt in sparklines), sparklines
    # the table a phone hides (it shows the list of units) loads no AG Grid code (assets/lazy_grid.js)
    grid_code = "return performance.getEntriesByType('resource').filter(r => r.name.includes('/dash_ag_grid/')).length"
    assert duo.driver.execute_script(grid_code) == 0
    duo.driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    WebDriverWait(duo.driver, WAIT).until(lambda d: d.execute_script(GRAPHS)[1] > 0)
    # a desk-sized window draws every graph, those out of the window when the browser is idle
    duo.driver.set_window_size(1600, 1000)  # the table is shown: its code loads and it is drawn
    WebDriverWait(duo.driver, WAIT).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".units-table .ag-row"))
    duo.driver.get(duo.server_url + path)
    WebDriverWait(duo.driver, WAIT).until(lambda d: d.execute_script(SETTLED))
    assert duo.driver.execute_script(GRAPHS) == [0, waiting + drawn]
    assert duo.driver.execute_script(plotly_code) == 1
    assert [e for e in duo.get_logs() if "favicon" not in e.get("message", "")] == []


MARGINS = """
var gd = document.querySelector('.explore-page .js-plotly-plot');
var box = gd.getBoundingClientRect();
var labels = Array.prototype.map.call(gd.querySelectorAll('.ytick text, .y2tick text'), function (t) {
  var r = t.getBoundingClientRect(); return [r.left - box.left, box.right - r.right]; });
return [gd.layout.margin.l, gd.layout.margin.r, gd._fullLayout._size.l, gd._fullLayout._size.r, labels];
"""


def test_a_ranking_starts_with_room_for_its_labels_and_is_drawn_once(start, browser_store) -> None:
    """assets/lazy_graph.js measures a ranking's names and values before the first draw: the margins
    Plotly draws with are the ones it would have grown to (automargin adds nothing, so it does not
    draw the graph a second time), and every label is whole inside the graph."""
    duo = start()
    for lang in ("vi", "en"):
        duo.driver.get(duo.server_url + f"/explore?lang={lang}")
        WebDriverWait(duo.driver, WAIT).until(lambda d: d.execute_script(SETTLED))
        left, right, drawn_left, drawn_right, labels = duo.driver.execute_script(MARGINS)
        assert left > 8 and right > 8, (left, right)  # the figure asks for 8 px: the labels were measured
        assert (drawn_left, drawn_right) == (left, right), (lang, left, right, drawn_left, drawn_right)
        assert len(labels) > 2 and all(a >= 0 and b >= 0 for a, b in labels), labels
