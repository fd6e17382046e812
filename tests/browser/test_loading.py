"""What a page loads and how it settles, in a real headless Chromium: Plotly's cartesian bundle
instead of dcc's full one, and no layout shift while the graphs' and grids' code arrives."""

from __future__ import annotations

import pytest
from plotly.offline import get_plotlyjs_version
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

# drawn: no graph waiting for its code or its figure, and every grid has its rows
SETTLED = """
return document.querySelector('.page') !== null
  && document.querySelectorAll('.dash-graph--pending').length === 0
  && document.querySelectorAll('.js-plotly-plot .main-svg').length > 0
  && Array.prototype.every.call(document.querySelectorAll('.ag-theme-alpine'), function (g) {
       return g.querySelector('.ag-row') !== null; });
"""


def test_pages_draw_with_the_cartesian_bundle_and_do_not_shift(start, browser_store) -> None:
    duo = start()
    duo.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_SHIFTS})
    info = dimensions.schools(browser_store)[0]
    for path in (
        "/",
        f"/district/{info.district_code}",
        f"/ward/{info.ward_code}",
        f"/school/{info.school_id}",
        "/explore",
        "/explore?by=school&lang=en",
    ):
        duo.driver.get(duo.server_url + path)
        WebDriverWait(duo.driver, WAIT).until(lambda d: d.execute_script(SETTLED))
        loaded = duo.driver.execute_script(
            "return performance.getEntriesByType('resource').map(function (r) { return r.name; })"
        )
        assert [u for u in loaded if "plotly-cartesian" in u], path
        assert not [u for u in loaded if "plotly.min.js" in u], path  # dcc's full bundle never loads
        assert duo.driver.execute_script("return window.Plotly.version") == get_plotlyjs_version()
        shifts = duo.driver.execute_script("return window.__shifts")
        # Lighthouse's bound for a good page is 0.1; the reserved space makes it 0 here
        assert sum(s["value"] for s in shifts) < 0.01, (path, shifts)
