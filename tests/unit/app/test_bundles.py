"""What the pages load: Plotly's custom bundle (and every figure drawable by it), cache headers."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.basedatatypes import BaseTraceType
from plotly.offline import get_plotlyjs_version

from ioc import delivery, exports
from ioc.metrics import dimensions
from ioc.metrics.registry import KPIS
from ioc.pages._common import UrlState
from ioc.panels.screens import load_screens
from tests.unit.app.test_pages import walk


def trace_types(layout: Any) -> set[str]:
    """The trace types of every graph of a layout (a trace without a type is a scatter)."""
    found: set[str] = set()
    for c in walk(layout):
        if type(c).__name__ != "Graph" or getattr(c, "figure", None) is None:
            continue
        figure = c.figure
        traces = figure.data if isinstance(figure, go.Figure) else figure.get("data", [])
        for trace in traces:
            found.add(trace.type if isinstance(trace, BaseTraceType) else trace.get("type", "scatter"))
    return found


def _scripts(client: Any, path: str) -> list[str]:
    return re.findall(r'<script src="([^"]+)"', client.get(path).get_data(as_text=True))


def test_the_vendored_bundle_is_the_plotly_js_of_the_installed_plotly_package() -> None:
    # upgrading plotly without rebuilding ioc/static/vendor/plotly-ioc.min.js fails here
    # (scripts/build_plotly_bundle.sh)
    assert delivery.plotly_version() == get_plotlyjs_version()
    assert delivery.trace_types() == {"scatter", "bar", "heatmap"}
    assert (delivery.PLOTLY_BUNDLE_PATH.parent / "plotly-LICENSE").read_text().startswith("MIT License")


def test_pages_name_the_custom_bundle_for_dcc_and_never_load_the_full_one(app: Any) -> None:
    client = app.server.test_client()
    for path in ("/", "/district/760", "/explore", "/school/x"):
        page = client.get(path).get_data(as_text=True)
        scripts = _scripts(client, path)
        # not a script of the page (it would hold up the renderer): dcc.Graph loads it when it draws
        assert not [s for s in scripts if "plotly-ioc" in s or "plotly.min" in s], (path, scripts)
        url = re.search(r'<meta name="ioc-plotly-bundle" content="([^"]+)">', page).group(1)
        assert "/assets/lazy_plotly.js?m=" in page
    served = client.get(url, headers={"Accept-Encoding": "identity"})
    assert served.status_code == 200 and served.data == delivery.PLOTLY_BUNDLE_PATH.read_bytes()
    assert served.headers["Cache-Control"] == delivery.IMMUTABLE


def page_layouts(demo_store: Any) -> dict[str, Any]:
    """The layout of every page, every screen, and explore's groupings and charts."""
    from ioc.pages import _unit, _wall, data_health, explore, kpi, school  # after the app exists

    info = dimensions.schools(demo_store)[0]
    layouts: dict[str, Any] = {}
    for name, screen in load_screens().items():
        for theme in ("dark", "light"):
            layouts[f"screen {name} {theme}"] = _wall.grid(screen, UrlState(), theme)
    for kind, code in (("district", info.district_code), ("ward", info.ward_code)):
        layouts[kind] = _unit.unit_layout(kind, kind, code, {})
    layouts["school"] = school.layout(info.school_id)
    layouts["data health"] = data_health.layout()
    layouts["kpi"] = kpi.layout(next(iter(KPIS)))
    for by in ("district", "school", "level", "date", "month"):
        for chart in exports.CHARTS:
            layouts[f"explore {by} {chart}"] = explore.layout(kpi="attendance_rate", by=by, chart=chart)
    for k in KPIS:
        layouts[f"explore {k}"] = explore.layout(kpi=k)
    layouts["explore by school, city-wide"] = explore.layout(kpi="attendance_rate", by="school")
    return layouts


def figures_of(layout: Any) -> list[Any]:
    return [
        c.figure
        for c in walk(layout)
        if type(c).__name__ == "Graph" and getattr(c, "figure", None) is not None
    ]


def test_every_figure_of_every_page_is_drawn_by_the_served_bundle(request_context, demo_store) -> None:
    layouts = page_layouts(demo_store)
    drawn = {name: trace_types(layout) for name, layout in layouts.items()}
    assert {"scatter", "bar", "heatmap"} <= set().union(*drawn.values())  # the walk finds the figures
    served = delivery.trace_types()
    missing = {name: types - served for name, types in drawn.items() if types - served}
    assert not missing, f"trace types the served Plotly bundle cannot draw: {missing}"


def test_tick_labels_that_make_room_for_themselves_are_not_measured_one_by_one(
    request_context, demo_store
) -> None:
    # Plotly's default for a numeric axis measures every tick label on every draw to hide those
    # past the graph's edge; an axis whose margin grows to hold its labels has none there
    # (ioc.figures.FITTED_TICKS: half the time of drawing explore's first chart)
    measured: dict[str, list[str]] = {}
    axes = 0
    for name, layout in page_layouts(demo_store).items():
        for figure in figures_of(layout):
            plot = figure.to_plotly_json()["layout"] if isinstance(figure, go.Figure) else figure["layout"]
            for key, axis in plot.items():
                if key.startswith(("xaxis", "yaxis")) and axis.get("automargin"):
                    axes += 1
                    if axis.get("ticklabeloverflow") != "allow":
                        measured.setdefault(name, []).append(key)
    assert axes > 50  # the walk finds the axes
    assert not measured, measured


def test_versioned_bundles_and_assets_are_cached_for_a_year_the_rest_revalidated(app: Any) -> None:
    client = app.server.test_client()
    page = client.get("/")
    assert page.headers["Cache-Control"] == "no-store"
    scripts = _scripts(client, "/")
    links = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.get_data(as_text=True))
    assets = [s for s in scripts + links if s.startswith("/assets/")]
    suites = [s for s in scripts if s.startswith("/_dash-component-suites/")]
    assert assets and suites
    for src in assets + suites:
        response = client.get(src)
        assert response.status_code == 200, src
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable", src
    # the same files without their version, or with an old one: kept but revalidated (ETag, 304)
    bare = assets[0].split("?")[0]
    for src in (bare, bare + "?m=1", "/_dash-component-suites/dash/dcc/async-graph.js"):
        response = client.get(src)
        assert response.status_code == 200, src
        assert response.headers["Cache-Control"] == "no-cache", src
        etag = response.headers["ETag"]
        again = client.get(src, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.headers["Cache-Control"] == "no-cache", src
    assert client.get("/assets/../pyproject.toml?m=1").status_code == 404
    assert client.get("/assets/nothing.js").status_code == 404


def test_an_asset_is_versioned_by_its_current_modification_time(tmp_path: Path) -> None:
    asset = tmp_path / "a.js"
    asset.write_text("1")
    stamp = str(asset.stat().st_mtime)
    assert delivery._asset_is_current(str(tmp_path), "a.js", stamp)
    os.utime(asset, (1.0, 1.0))
    assert not delivery._asset_is_current(str(tmp_path), "a.js", stamp)
    assert not delivery._asset_is_current(str(tmp_path), "a.js", None)
    assert not delivery._asset_is_current(str(tmp_path), "../a.js", "1.0")
    assert not delivery._asset_is_current(str(tmp_path), "gone.js", "1.0")


def test_answers_are_never_cached(app: Any) -> None:
    client = app.server.test_client()
    for path in ("/_dash-layout", "/_dash-dependencies", "/explore"):
        assert client.get(path).headers["Cache-Control"] == "no-store", path


def test_requests_arriving_during_dash_s_first_set_up_wait_for_it(demo_store: Any, monkeypatch: Any) -> None:
    """A fresh worker's first requests come together (the page's bundles): Dash marks its set-up
    done before registering the bundles, so without the wait a bundle was a 500."""
    import dash

    from ioc.app import create_app

    fresh = create_app(store=demo_store)
    entered, release = threading.Event(), threading.Event()
    original = dash.Dash._generate_scripts_html

    def slow(self: Any) -> str:
        entered.set()
        release.wait(10)
        return original(self)

    monkeypatch.setattr(dash.Dash, "_generate_scripts_html", slow)
    client = fresh.server.test_client()
    bundle = "/_dash-component-suites/dash/dash-renderer/build/dash_renderer.v1_0_0m1.min.js"
    answers: dict[str, int] = {}
    first = threading.Thread(target=lambda: answers.update(page=client.get("/").status_code))
    second = threading.Thread(target=lambda: answers.update(bundle=client.get(bundle).status_code))
    first.start()
    assert entered.wait(10)
    second.start()
    second.join(0.5)  # still waiting for the set-up (without the lock: answered, a 500)
    release.set()
    first.join(30)
    second.join(30)
    assert answers == {"page": 200, "bundle": 200}


def test_ag_grid_s_code_is_left_out_of_every_page_and_named_for_the_stand_in(app: Any) -> None:
    client = app.server.test_client()
    for path in ("/", "/district/760", "/explore", "/school/x"):
        page = client.get(path).get_data(as_text=True)
        assert "/dash_ag_grid/dash_ag_grid." not in "".join(re.findall(r"<script[^>]*>", page)), path
        url = re.search(r'<meta name="ioc-grid-bundle" content="([^"]+)">', page).group(1)
        assert "/assets/lazy_grid.js?m=" in page
        answer = client.get(url)
        assert answer.status_code == 200 and b"window.dash_ag_grid=" in answer.data
        assert answer.headers["Cache-Control"] == delivery.IMMUTABLE
    # a page whose scripts hold no AG Grid (Dash's dev bundles, another version's naming) is left as it is
    for script, name in delivery.LAZY_BUNDLES:
        assert delivery.lazy_script('<script src="/x.js"></script>', "", script, name) == (
            '<script src="/x.js"></script>',
            "",
        )


def test_no_page_loads_dash_s_datatable_bundle_and_no_page_draws_a_datatable(app: Any) -> None:
    # Dash names dash_table's bundle in every page (dash imports it itself); ioc.delivery drops it
    client = app.server.test_client()
    for path in ("/", "/district/760", "/explore", "/school/x", "/data-health", "/kpi"):
        scripts = _scripts(client, path)
        assert not [s for s in scripts if "/dash_table/" in s], (path, scripts)
        assert [s for s in scripts if "/dash_renderer." in s], (path, scripts)  # the rest stays
    # which holds only while the product draws no DataTable (its tables are AG Grid's)
    package = Path(delivery.__file__).parent
    users = [
        f.relative_to(package)
        for f in package.rglob("*.py")
        if f.name != "delivery.py" and re.search(r"\bdash_table\b|\bDataTable\(", f.read_text("utf-8"))
    ]
    assert users == []


def test_pages_load_regenerator_runtime_first_instead_of_dash_s_polyfill(app: Any) -> None:
    # core-js is built into every browser the product supports; Dash's renderer and dcc still
    # call the global regeneratorRuntime (their async functions), so it runs before them
    client = app.server.test_client()
    for path in ("/", "/district/760", "/explore", "/school/x", "/data-health", "/kpi"):
        scripts = _scripts(client, path)
        assert not [s for s in scripts if "/polyfill@" in s], (path, scripts)
        assert "/ioc/static/vendor/regenerator-runtime." in scripts[0], (path, scripts)
        assert len([s for s in scripts if "regenerator-runtime" in s]) == 1, (path, scripts)
    served = client.get(scripts[0], headers={"Accept-Encoding": "identity"})
    assert (
        served.status_code == 200
        and served.data == (delivery.PLOTLY_BUNDLE_PATH.parent / "regenerator-runtime.js").read_bytes()
    )
    assert served.headers["Cache-Control"] == delivery.IMMUTABLE
    assert b"regeneratorRuntime = runtime" in served.data
    assert (
        (delivery.PLOTLY_BUNDLE_PATH.parent / "regenerator-runtime-LICENSE")
        .read_text()
        .startswith("MIT License")
    )
    renderer = client.get(next(s for s in scripts if "/dash_renderer." in s)).data
    assert b"regeneratorRuntime.mark" in renderer  # what it is there for
    # either tag missing: the page's scripts as Dash wrote them
    both = '<script src="/p/dash/deps/polyfill@7.js"></script>\n<script src="/r.js"></script>'
    assert delivery.in_place_of(both, delivery.POLYFILL_SCRIPT, delivery.REGENERATOR_SCRIPT) == both


def test_pages_ask_for_the_renderer_s_first_answers_with_the_page(app: Any) -> None:
    # the layout and the callbacks' list are asked for as the page arrives, not after its scripts
    client = app.server.test_client()
    for path in ("/", "/district/760", "/explore"):
        page = client.get(path).get_data(as_text=True)
        head = page[: page.index("</head>")]
        for name in ("_dash-layout", "_dash-dependencies"):
            assert f'<link rel="preload" href="/{name}" as="fetch" crossorigin>' in head, path
            assert client.get("/" + name).status_code == 200  # what the renderer then reads


def test_the_scripts_a_page_runs_as_it_loads_carry_v8_s_compile_hint(app: Any) -> None:
    # compiled while they download, off the main thread (ioc.delivery: compile hints)
    client = app.server.test_client()
    page = client.get("/explore").get_data(as_text=True)
    scripts = _scripts(client, "/explore")
    hinted = [s for s in scripts if delivery.EAGER_SCRIPTS.search(s)]
    assert len(hinted) == 2, scripts  # Dash's renderer and React DOM (AG Grid is not a script of the page)
    grid = re.search(r'<meta name="ioc-grid-bundle" content="([^"]+)">', page).group(1)
    plotly = re.search(r'<meta name="ioc-plotly-bundle" content="([^"]+)">', page).group(1)
    for url in [*hinted, grid, "/_dash-component-suites/dash_ag_grid/async-community.js", plotly]:
        answer = client.get(url, headers={"Accept-Encoding": "identity"})
        assert answer.status_code == 200, url
        assert answer.data.startswith(delivery.COMPILE_HINT), url
        assert answer.data.count(delivery.COMPILE_HINT) == 1, url  # once, however often it is asked
        assert answer.data == client.get(url, headers={"Accept-Encoding": "identity"}).data
    # the rest is served as it is
    html_components = next(s for s in scripts if "/dash_html_components." in s)
    assert not client.get(html_components).data.startswith(b"//#")
