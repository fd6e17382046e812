"""The screens' rules read from the DOM of a real Chromium: a wall legible from 4 m (no text under
20 px at 1920x1080, KPI values of 60 px and more, no panel whose content overflows), no axis that
prints the same tick label twice, no English month or raw code on a Vietnamese page, and no
sideways scrolling on a 390 px phone."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.support.ui import WebDriverWait

from ioc.metrics import dimensions

pytestmark = pytest.mark.browser
WAIT = 60
SHARED_BOUNDARIES = Path(__file__).resolve().parents[3] / "shared" / "data" / "hcmc_legacy_districts.geojson"


def viewport(duo: Any, width: int, height: int, mobile: bool = False) -> None:
    duo.driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )


def drawn(duo: Any, path: str, marker: str) -> None:
    """Open ``path`` and wait until ``marker`` is there, every graph is drawn and nothing is pending."""
    duo.driver.get(duo.server_url + path)
    WebDriverWait(duo.driver, WAIT).until(
        lambda d: d.execute_script(
            """
            const marker = document.querySelector(arguments[0]);
            if (!marker) return false;
            // on a phone a graph is drawn when scrolled near (assets/lazy_graph.js): as a reader would
            const waiting = document.querySelector('.dash-graph--pending');
            if (waiting) waiting.scrollIntoView({block: 'center'});
            const graphs = [...document.querySelectorAll('.dash-graph')];
            const pending = document.querySelector('[data-dash-is-loading="true"]');
            return !pending && graphs.every(g => g.querySelector('.main-svg'));
            """,
            marker,
        )
    )
    duo.driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.8)  # fit.js runs on the next animation frame; Plotly's responsive resize settles


SMALL_TEXT = """
const out = [];
const root = document.querySelector(arguments[0]);
const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const node = walker.currentNode;
  const el = node.parentElement;
  if (!node.textContent.trim() || !el) continue;
  const box = el.getBoundingClientRect();
  if (box.width === 0 || box.height === 0) continue;  // not shown
  if (el.closest('[hidden], [aria-hidden="true"] .hidden')) continue;
  const size = parseFloat(getComputedStyle(el).fontSize);
  if (size < arguments[1]) out.push([size, node.textContent.trim().slice(0, 40), el.className.baseVal ?? el.className]);
}
return out;
"""

OVERFLOWING = """
return [...document.querySelectorAll('.wall .panel, .wall .panel-body')]
  .filter(el => el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1)
  .map(el => [el.closest('.panel').dataset.panel, el.className, el.scrollHeight, el.clientHeight]);
"""

TICKS = r"""
const out = [];
document.querySelectorAll('.js-plotly-plot').forEach((plot, i) => {
  const axes = {};
  plot.querySelectorAll('g[class$="tick"] text, g[class$="tick2"] text').forEach(t => {
    const kind = t.parentElement.getAttribute('class');
    const label = t.textContent.trim();
    if (!label) return;
    (axes[kind] = axes[kind] || []).push(label);
  });
  Object.entries(axes).forEach(([kind, labels]) => {
    // value axes only: an axis of row names (a ranking's units, a category) may repeat a name
    const m = kind.match(/^([xy])(\d*)tick/);
    const axis = m ? (plot._fullLayout || {})[m[1] + 'axis' + m[2]] || {} : {};  // else a colour bar
    if (axis.type === 'category') return;
    // ticks given as values and texts: value axes print numbers (percentages are written by
    // i18n.percent), a ranking's rows print names, which may repeat
    if (axis.tickmode === 'array' && !labels.every(l => /\d/.test(l) && !/\p{L}/u.test(l))) return;
    if (new Set(labels).size !== labels.length) out.push([i, kind, labels]);
  });
});
return out;
"""


def test_the_wall_at_1080p_is_legible_from_4_m_and_no_panel_clips(start) -> None:
    duo = start()
    viewport(duo, 1920, 1080)
    for path in ("/?kiosk=1", "/screen/connectivity?kiosk=1"):
        drawn(duo, path, ".wall .panel[data-panel]")
        small = duo.driver.execute_script(SMALL_TEXT, ".wall", 20)
        assert small == [], (path, small)
        values = duo.driver.execute_script(
            "return [...document.querySelectorAll('.wall .tile-value')].map(v => parseFloat(getComputedStyle(v).fontSize));"
        )
        assert values and min(values) >= 60, (path, values)
        assert duo.driver.execute_script(OVERFLOWING) == [], path
    viewport(duo, 3840, 2160)
    for path in ("/?kiosk=1", "/screen/connectivity?kiosk=1"):
        drawn(duo, path, ".wall .panel[data-panel]")
        title = duo.driver.execute_script(
            "return parseFloat(getComputedStyle(document.querySelector('.wall .panel-title')).fontSize);"
        )
        assert title >= 40, path  # at 4K everything scales with the screen
        assert duo.driver.execute_script(OVERFLOWING) == [], path


def test_a_list_longer_than_its_panel_says_how_many_it_hides(start) -> None:
    duo = start()
    viewport(duo, 1920, 1080)
    drawn(duo, "/?kiosk=1", ".wall .panel[data-panel='not_reported'] .panel-body")
    count, text, fits = duo.driver.execute_script(
        """
        const body = document.querySelector('.wall .panel[data-panel="not_reported"] .panel-body');
        const list = document.createElement('ul');  // far more schools than the panel can show
        for (let i = 0; i < 40; i++) {
          const li = document.createElement('li');
          li.textContent = 'Trường ' + i;
          list.appendChild(li);
        }
        body.appendChild(list);
        return new Promise(resolve => setTimeout(() => resolve([
          body.dataset.fitHidden, (body.querySelector('.fit-more') || {}).textContent,
          body.scrollHeight <= body.clientHeight + 1]), 500));
        """
    )
    assert int(count) > 0 and text == f"+ {count} mục không đủ chỗ hiển thị" and fits


def test_no_axis_prints_the_same_tick_label_twice(start, browser_store) -> None:
    duo = start()
    info = dimensions.schools(browser_store)[0]
    pages = [
        ("/?kiosk=1", ".wall .panel[data-panel]"),
        ("/screen/connectivity?kiosk=1", ".wall .panel[data-panel]"),
        (f"/district/{info.district_code}", ".unit-page .units-table"),
        (f"/school/{info.school_id}", ".school-page .profile"),
        ("/explore?kpi=uptime&by=date", ".explore-page .export-bar"),
        ("/explore?kpi=attendance_rate&by=month", ".explore-page .export-bar"),
        ("/explore?kpi=attendance_rate&by=school", ".explore-page .export-bar"),
    ]
    for path, marker in pages:
        drawn(duo, path, marker)
        assert duo.driver.execute_script(TICKS) == [], path


ENGLISH_MONTH = re.compile(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\b")
RAW_CODE = re.compile(
    r"\b(preschool|primary|lower_secondary|upper_secondary|continuing|multi_level|public|private"
    r"|green|amber|red|no_data|ratio|index|critical|warning)\b"
)


def test_a_vietnamese_page_shows_no_english_month_and_no_raw_code(start, browser_store) -> None:
    duo = start()
    info = dimensions.schools(browser_store)[0]
    pages = [
        ("/", ".wall .panel[data-panel]"),
        (f"/district/{info.district_code}", ".unit-page .units-table"),
        (f"/ward/{info.ward_code}", ".unit-page .units-table"),
        (f"/school/{info.school_id}", ".school-page .profile"),
        ("/explore?kpi=uptime&by=date", ".explore-page .export-bar"),
        ("/explore?kpi=attendance_rate&by=level", ".explore-page .export-bar"),
        ("/kpi", ".kpi-index"),
        ("/kpi/attendance_rate", ".kpi-card"),
        ("/screen/connectivity", ".wall .panel[data-panel]"),
        ("/alerts?status=all", ".alerts-page"),
        ("/data-health", ".health-page .fresh-cards"),
        ("/no-such-page", ".not-found-page"),
    ]
    for path, marker in pages:
        drawn(duo, path, marker)
        text = duo.driver.execute_script(
            "return document.body.innerText + '\\n' + [...document.querySelectorAll('svg text')].map(t => t.textContent).join('\\n');"
        )
        assert not ENGLISH_MONTH.findall(text), (path, ENGLISH_MONTH.findall(text)[:5])
        assert not RAW_CODE.findall(text), (path, RAW_CODE.findall(text)[:5])
        assert duo.driver.execute_script("return document.documentElement.lang") == "vi", path
        assert "not found" not in text.lower(), path  # Dash's own 404 page is English
    # the browser tab names the page in the page's language too
    WebDriverWait(duo.driver, WAIT).until(lambda d: d.title == "IOC · Không tìm thấy trang (404)")
    drawn(duo, "/data-health", ".health-page .fresh-cards")
    WebDriverWait(duo.driver, WAIT).until(lambda d: d.title == "IOC · Chất lượng dữ liệu")


GRAPH_LOCALES = (
    "return [...document.querySelectorAll('.js-plotly-plot')].map(g => g._context && g._context.locale);"
)
# the date axis of the explore chart asked for month names, as Plotly's automatic date ticks and
# hover dates may print them: the labels it draws
MONTH_TICKS = """
const done = arguments[arguments.length - 1];
const gd = document.querySelector('.explore-page .js-plotly-plot');
Plotly.relayout(gd, {'xaxis.tickformat': '%B %Y', 'xaxis.tickformatstops': [], 'xaxis.dtick': 'M1'})
  .then(() => done([...gd.querySelectorAll('g.xtick text')].map(t => t.textContent)));
"""


def test_vietnamese_charts_use_plotlys_vietnamese_locale(start, browser_store) -> None:
    duo = start()
    info = dimensions.schools(browser_store)[0]
    for path, marker in [
        ("/", ".wall .panel[data-panel]"),
        (f"/district/{info.district_code}", ".unit-page .units-table"),
        (f"/school/{info.school_id}", ".school-page .profile"),
    ]:
        drawn(duo, path, marker)
        locales = duo.driver.execute_script(GRAPH_LOCALES)
        assert locales and set(locales) == {"vi"}, (path, locales)
    months = {}
    for lang in ("vi", "en"):
        drawn(duo, f"/explore?kpi=attendance_rate&by=date&lang={lang}", ".explore-page .export-bar")
        assert set(duo.driver.execute_script(GRAPH_LOCALES)) == {"vi" if lang == "vi" else "en-US"}
        months[lang] = duo.driver.execute_async_script(MONTH_TICKS)
    assert months["vi"] and all(label.startswith("Tháng ") for label in months["vi"]), months
    assert not ENGLISH_MONTH.findall(" ".join(months["vi"])), months
    # the same chart in English names the months in English: the check above can fail
    assert ENGLISH_MONTH.findall(" ".join(months["en"])), months


ABOVE_THE_HEADING = """
const page = document.querySelector('.page');
const h1 = [...page.querySelectorAll('h1')].find(h => h.getBoundingClientRect().height > 0);
if (!h1) return ['no heading'];
const top = h1.getBoundingClientRect().top, out = [];
const walker = document.createTreeWalker(page, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const el = walker.currentNode.parentElement;
  if (!walker.currentNode.textContent.trim() || h1.contains(el) || el.closest('.breadcrumbs')) continue;
  const box = el.getBoundingClientRect();
  if (box.width > 0 && box.height > 0 && box.bottom <= top + 1) out.push(walker.currentNode.textContent.trim().slice(0, 40));
}
return out;
"""


def test_a_phone_never_scrolls_sideways(start, browser_store) -> None:
    duo = start()
    viewport(duo, 390, 844, mobile=True)
    info = dimensions.schools(browser_store)[0]
    pages = [
        (f"/district/{info.district_code}", ".unit-page .unit-list"),
        (f"/ward/{info.ward_code}", ".unit-page .unit-list"),
        (f"/school/{info.school_id}", ".school-page .profile"),
        ("/explore?kpi=attendance_rate&by=district", ".explore-page .export-bar"),
        ("/kpi", ".kpi-list"),
        ("/kpi/attendance_rate", ".kpi-card"),
        ("/", ".wall .panel[data-panel]"),
        ("/data-health", ".health-page .fresh-cards"),
        ("/alerts?status=all", ".alerts-page"),  # last: its list is read below
    ]
    for path, marker in pages:
        drawn(duo, path, marker)
        width = duo.driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
        # the page's heading comes first: nothing but the breadcrumbs above it (the KPI index
        # once put its list of every KPI above its heading)
        above = duo.driver.execute_script(ABOVE_THE_HEADING)
        assert above == [], (path, above)
        # every tile's value whole inside its tile ("0,071 Mbps/HS" was cut to "0,071 Mbp")
        cut = duo.driver.execute_script(
            "return [...document.querySelectorAll('.tile-value')].filter(v => v.getBoundingClientRect().right"
            " > (v.closest('.panel') || v.parentElement).getBoundingClientRect().right + 1).map(v => v.textContent);"
        )
        assert cut == [], (path, cut)
        # each linked crumb on one line (they were squeezed into columns of one word each)
        broken = duo.driver.execute_script(
            "return [...document.querySelectorAll('.breadcrumbs a.crumb')]"
            ".filter(a => a.getClientRects().length > 1).map(a => a.textContent);"
        )
        assert broken == [], (path, broken)
    # the alerts are a list, one block each, their dates in the page's language (not 2026-12-04)
    head, rows = duo.driver.execute_script(
        """return [getComputedStyle(document.querySelector('.alert-table thead')).display,
                   [...document.querySelectorAll('.alert-table tr.alert-row')].map(r => [getComputedStyle(r).display, r.innerText])];"""
    )
    assert head == "none" and all(display == "block" for display, _ in rows), rows
    assert not [text for _, text in rows if re.search(r"\b20\d\d-\d\d-\d\d\b", text)], rows
    drawn(duo, f"/district/{info.district_code}", ".unit-page .unit-list")
    # the schools that did not report come before the tiles, the table is a list
    order = duo.driver.execute_script(
        """
        const top = s => document.querySelector(s).getBoundingClientRect().top;
        return [top('.not-reporting'), top('.tile-row'),
                getComputedStyle(document.querySelector('.unit-page .grid-frame')).display,  // its grid never drawn
                getComputedStyle(document.querySelector('.unit-list')).display];
        """
    )
    assert order[0] < order[1] and order[2] == "none" and order[3] == "block"
    # and nothing of the table's height is kept above the list (an empty box once stood there)
    gap = duo.driver.execute_script(
        """const list = document.querySelector('.unit-list');
           const head = list.closest('section').querySelector('h2');
           return list.getBoundingClientRect().top - head.getBoundingClientRect().bottom;"""
    )
    assert gap < 60, gap


def test_desk_tiles_have_the_same_layout_in_both_languages(start, browser_store) -> None:
    duo = start()
    viewport(duo, 1440, 900)
    district = dimensions.schools(browser_store)[0].district_code
    heights = {}
    for lang in ("vi", "en"):
        drawn(duo, f"/district/{district}?lang={lang}", ".unit-page .units-table")
        heights[lang] = duo.driver.execute_script(
            "return [...document.querySelectorAll('.tile-row .tile-spark')]"
            ".map(s => Math.round(s.getBoundingClientRect().height));"
        )
    # the Vietnamese tiles once drew 480 px sparklines (English: 30 px)
    assert heights["vi"] and heights["vi"] == heights["en"] and max(heights["vi"]) <= 60, heights


LABELS = r"""
// every text of every chart: none cut by the chart's edge, none over another, none turned on end,
// and keys and notes (legend, annotations) outside the plot area, where they cover no data
const out = [];
const inside = (a, b) => a.left >= b.left - 1 && a.right <= b.right + 1 && a.top >= b.top - 1 && a.bottom <= b.bottom + 1;
const meet = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1
                    && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
document.querySelectorAll('.js-plotly-plot').forEach(plot => {
  const name = (plot.closest('[data-panel]') || {dataset: {}}).dataset.panel || plot.id || plot.className;
  const svg = plot.querySelector('.main-svg').getBoundingClientRect();
  const area = plot.querySelector('.nsewdrag');
  const texts = [...plot.querySelectorAll('g[class*="tick"] text, .textpoint text, .legendtext, .annotation-text')]
    .filter(t => t.textContent.trim() && t.getBoundingClientRect().width > 0);
  const boxes = texts.map(t => [t, t.getBoundingClientRect()]);
  boxes.forEach(([t, box], i) => {
    const label = t.textContent.trim();
    if (!inside(box, svg)) out.push([name, 'cut', label]);
    if (/rotate\(-?[1-9]/.test(t.getAttribute('transform') || '')) out.push([name, 'turned', label]);
    boxes.slice(i + 1).forEach(([u, other]) => { if (meet(box, other)) out.push([name, 'overlap', label, u.textContent.trim()]); });
    if (area && t.matches('.legendtext, .annotation-text') && meet(box, area.getBoundingClientRect()))
      out.push([name, 'on the plot', label]);
  });
  // no data point drawn over an axis's labels (a ranking's dot once covered its unit's value)
  const ticks = boxes.filter(([t]) => t.closest('g[class*="tick"]'));
  plot.querySelectorAll('.scatterlayer .points path').forEach(p => {
    const dot = p.getBoundingClientRect();
    ticks.forEach(([t, box]) => { if (dot.width > 0 && meet(dot, box)) out.push([name, 'dot over', t.textContent.trim()]); });
  });
});
return out;
"""


def test_chart_labels_are_whole_apart_upright_and_off_the_data(start, browser_store) -> None:
    duo = start(boundaries_file=str(SHARED_BOUNDARIES))
    info = dimensions.schools(browser_store)[0]
    views = [
        (1920, 1080, "/?kiosk=1", ".wall .panel[data-panel]"),  # the map's names, the ranking's rows
        (1920, 1080, "/screen/connectivity?kiosk=1", ".wall .panel[data-panel]"),
        (3840, 2160, "/?kiosk=1", ".wall .panel[data-panel]"),
        (1920, 1080, f"/district/{info.district_code}", ".unit-page .units-table"),
        (390, 844, f"/district/{info.district_code}", ".unit-page .unit-list"),  # ticks once turned on end
        (390, 844, f"/school/{info.school_id}", ".school-page .profile"),
    ]
    for width, height, path, marker in views:
        viewport(duo, width, height, mobile=width < 600)
        for lang in ("vi", "en"):
            drawn(duo, path + ("&" if "?" in path else "?") + f"lang={lang}", marker)
            assert duo.driver.execute_script(LABELS) == [], (width, path, lang)


MISSING_GLYPHS = r"""
// characters that no font of the page has: drawn as the same empty box as a code point that is
// not a character at all (U+0378); checked in each text's own font, Plotly's included
const canvas = document.createElement('canvas');
canvas.width = canvas.height = 80;
const g = canvas.getContext('2d', {willReadFrequently: true});
const ink = (ch, font) => { g.clearRect(0, 0, 80, 80); g.font = '48px ' + font; g.fillText(ch, 8, 60);
                            return g.getImageData(0, 0, 80, 80).data.join(''); };
const seen = new Map(), out = new Set(), boxes = {};
const check = (text, font) => {
  boxes[font] = boxes[font] || ink('\u0378', font);
  for (const ch of text) {
    if (/\s/.test(ch) || seen.has(ch + font)) continue;
    seen.set(ch + font, true);
    if (ink(ch, font) === boxes[font]) out.add(ch);
  }
};
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const el = walker.currentNode.parentElement;
  if (el && walker.currentNode.textContent.trim()) check(walker.currentNode.textContent, getComputedStyle(el).fontFamily);
}
const body = getComputedStyle(document.body).fontFamily;
arguments[0].forEach(text => check(text, body));
return [...out];
"""


def test_no_character_is_missing_from_the_fonts(start, browser_store) -> None:
    """No tofu: every character of the pages, of every message in the catalogs (both languages)
    and of the panels' banner signs is in a font the page can use (a "ⓘ" once showed as a box)."""
    from ioc import i18n
    from ioc.pages._common import BANNER_ICONS

    duo = start()
    info = dimensions.schools(browser_store)[0]
    strings = [*i18n.catalog("vi").values(), *i18n.catalog("en").values(), *BANNER_ICONS.values()]
    pages = [
        ("/", ".wall .panel[data-panel]"),
        (f"/school/{info.school_id}", ".school-page .profile"),
        (f"/district/{info.district_code}", ".unit-page .units-table"),
        ("/alerts", ".alerts-page"),
    ]
    for path, marker in pages:
        drawn(duo, path, marker)
        assert duo.driver.execute_script(MISSING_GLYPHS, strings if path == "/" else []) == [], path
    # the check finds a missing glyph when there is one
    assert duo.driver.execute_script(MISSING_GLYPHS, ["\u24d8"]) == ["\u24d8"]
