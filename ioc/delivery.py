"""How pages reach the browser: Plotly's custom bundle, regenerator-runtime instead of Dash's
polyfill (``POLYFILL_SCRIPT``), compressed and cached responses, and the document's language.

Plotly: the product draws three SVG trace types only (scatter, bar, heatmap; a histogram is
drawn as bars), so pages load a custom plotly.js bundle with just those (``PLOTLY_BUNDLE``, built
by ``scripts/build_plotly_bundle.sh`` from plotly.js's own ``lib/`` modules of the plotly.js
version the installed plotly package bundles; 1.18 MB, 0.41 MB gzipped, instead of the cartesian
partial bundle's 1.5 MB or the full 4.6 MB; no WebGL, no maps, no 3D, no world calendars)
vendored in this package with its MIT licence. It is registered as a script of the ioc
package (served fingerprinted and cached like Dash's bundles) but left out of the page: dcc.Graph
loads it when a page first draws a graph, after Dash's renderer has drawn the page's first
content (``lazy_script`` and assets/lazy_plotly.js); dcc never loads its own full bundle.
``trace_types()`` names the traces it can draw (a test walks the pages' figures).

Compile hints: the scripts a page runs almost whole while it loads (Plotly's bundle, Dash's
renderer, React DOM, AG Grid) start with V8's ``//# allFunctionsCalledOnLoad``, so Chromium
compiles their functions while they download, off the main thread, instead of one by one on the
main thread when each is first called (explore's first chart paid that in one long task). Plotly's
bundle carries it from its build; the others get it as they are served (``compile_eagerly``).
Other browsers read it as a comment.

Compression (Flask-Compress): JavaScript, CSS, JSON (callback answers, the API) and HTML are sent
brotli- or gzip-compressed, whichever the browser prefers. Dash's component bundles and the
assets are the same bytes for the life of a process (their URLs carry the package version or
the file's modification time), so each is compressed once per algorithm and kept in memory
(a few MB in all); every other answer is compressed as it is sent.

Caching: a component bundle whose URL carries Dash's fingerprint (``.v4_4_1m1733400000.js``: the
package version and the file's modification time) and an asset asked for with the ``?m=`` of its
current modification time are sent ``Cache-Control: public, max-age=31536000, immutable``: a new
version has a new URL, so browsers never ask again. Resources asked for without their version
(dcc's async chunks, an asset without ``?m=`` or with an old one) are ``no-cache``: kept, but
revalidated with their ETag each time (a 304 when unchanged). Pages and answers stay ``no-store``
(ioc.auth.web).
"""

from __future__ import annotations

import re
import threading
from functools import cache
from pathlib import Path
from typing import Any

import dash
import flask
from dash.fingerprint import check_fingerprint
from flask_compress import Compress
from werkzeug.security import safe_join

from ioc import i18n

# plotly.js with the product's trace types only, relative to the ioc package (see the module docstring)
PLOTLY_BUNDLE = "static/vendor/plotly-ioc.min.js"
PLOTLY_BUNDLE_PATH = Path(__file__).resolve().parent / PLOTLY_BUNDLE

# the URL prefixes whose answers never change while the process runs (see the module docstring)
IMMUTABLE_PREFIXES = ("/_dash-component-suites/", "/assets/")
COMPRESSED_TYPES = [
    "text/html",
    "text/css",
    "text/plain",
    "text/csv",
    "text/javascript",
    "application/javascript",
    "application/json",
    "image/svg+xml",
]


class StaticCache:
    """Flask-Compress's cache of compressed bodies, holding only the immutable resources' bodies
    (their key starts with ``static;``): a callback's answer is never cached."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def set(self, key: str, value: bytes) -> None:
        if key.split(";", 2)[1] == "static":
            self.data[key] = value


def cache_key(request: flask.Request) -> str:
    if request.method == "GET" and request.path.startswith(IMMUTABLE_PREFIXES):
        return "static;" + request.full_path
    return "live;"


def install_compression(server: flask.Flask) -> Compress:
    """Compress the server's answers (brotli preferred, gzip for the others)."""
    server.config.update(
        COMPRESS_ALGORITHM=["br", "gzip"],
        COMPRESS_STREAMS=False,  # the app streams nothing large; assets are read whole below
        COMPRESS_BR_LEVEL=5,  # ~1 MB for Plotly's 4.6 MB bundle in about half a second, once per process
        COMPRESS_LEVEL=6,
        COMPRESS_MIMETYPES=COMPRESSED_TYPES,
        COMPRESS_MIN_SIZE=500,
        COMPRESS_CACHE_BACKEND=StaticCache,
        COMPRESS_CACHE_KEY=cache_key,
    )
    compress = Compress(server)
    # run before Compress's hook (Flask runs after_request hooks last registered first)
    server.after_request(read_whole)
    server.after_request(compile_eagerly)
    return compress


# V8's compile hint, the first line of a script: compile every function while the script
# downloads, off the main thread, instead of each on the main thread when it is first called
COMPILE_HINT = b"//# allFunctionsCalledOnLoad\n"
# the code a page runs almost whole as it loads: Dash's renderer, React DOM, AG Grid and its
# community modules (Plotly's bundle carries the hint itself: scripts/build_plotly_bundle.sh)
EAGER_SCRIPTS = re.compile(
    r"/_dash-component-suites/(dash/dash-renderer/build/dash_renderer\.|dash/deps/react-dom@"
    r"|dash_ag_grid/dash_ag_grid\.|dash_ag_grid/async-community\.js)"
)


def compile_eagerly(response: flask.Response) -> flask.Response:
    """The compile hint at the top of the scripts in ``EAGER_SCRIPTS``."""
    if (
        response.status_code == 200
        and flask.request.method == "GET"
        and EAGER_SCRIPTS.search(flask.request.path)
    ):
        response.direct_passthrough = False
        response.set_data(COMPILE_HINT + response.get_data())
    return response


def read_whole(response: flask.Response) -> flask.Response:
    """An asset file is sent as a stream of the file; read it (a few kB) so it is compressed and
    its compressed copy kept like the bundles'."""
    if (
        response.direct_passthrough
        and response.status_code == 200
        and flask.request.path.startswith("/assets/")
    ):
        response.direct_passthrough = False
        response.set_data(response.get_data())
    return response


@cache
def trace_types() -> frozenset[str]:
    """The trace types the served Plotly bundle registers (read from the bundle itself)."""
    text = PLOTLY_BUNDLE_PATH.read_text(encoding="utf-8")
    return frozenset(re.findall(r'moduleType:"trace",name:"(\w+)"', text))


def plotly_version() -> str:
    """The plotly.js version of the served bundle (its banner)."""
    with PLOTLY_BUNDLE_PATH.open(encoding="utf-8") as bundle:
        head = bundle.read(200)
    found = re.search(r"plotly\.js \([^)]*\) v(\S+)", head)
    if found is None:
        raise ValueError(f"{PLOTLY_BUNDLE_PATH}: no plotly.js version in its banner")
    return found.group(1)


IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def install_caching(app: dash.Dash) -> None:
    """Cache-Control for the component bundles and assets (see the module docstring)."""
    assets = str(app.config.assets_folder)
    suites = app.config.requests_pathname_prefix + "_dash-component-suites/"
    assets_prefix = app.config.requests_pathname_prefix + str(app.config.assets_url_path).strip("/") + "/"

    def cache_control(response: flask.Response) -> flask.Response:
        path = flask.request.path
        if response.status_code not in (200, 304) or flask.request.method not in ("GET", "HEAD"):
            return response
        if path.startswith(suites):
            versioned = check_fingerprint(path)[1]
        elif path.startswith(assets_prefix):
            versioned = _asset_is_current(assets, path[len(assets_prefix) :], flask.request.args.get("m"))
        else:
            return response
        response.headers["Cache-Control"] = IMMUTABLE if versioned else REVALIDATE
        return response

    app.server.after_request(cache_control)


def _asset_is_current(folder: str, name: str, stamp: str | None) -> bool:
    """Is ``stamp`` the modification time Dash puts in the URL of asset ``name`` today?"""
    file = safe_join(folder, name)
    if stamp is None or file is None:
        return False
    try:
        return str(Path(file).stat().st_mtime) == stamp
    except OSError:
        return False


# dash_ag_grid's and Plotly's bundles in a page's scripts (Dash's fingerprinted URLs)
GRID_SCRIPT = re.compile(
    r'<script src="([^"]*/_dash-component-suites/dash_ag_grid/dash_ag_grid\.[^"]*\.js)"></script>\n?'
)
PLOTLY_SCRIPT = re.compile(
    r'<script src="([^"]*/_dash-component-suites/ioc/static/vendor/plotly-ioc\.[^"]*\.js)"></script>\n?'
)
# the <meta> naming each bundle left out of the page, read by its stand-in in assets/
LAZY_BUNDLES = ((GRID_SCRIPT, "ioc-grid-bundle"), (PLOTLY_SCRIPT, "ioc-plotly-bundle"))
# Dash's DataTable bundle (33 kB): Dash names it in every page whether or not a component of it is
# drawn (``dash.dash_table`` is imported by ``dash`` itself, and ``_generate_scripts_html`` lists
# its ``_js_dist`` unconditionally); the product draws its tables with AG Grid and has no DataTable
UNUSED_SCRIPTS = (
    re.compile(r'<script src="[^"]*/_dash-component-suites/dash/dash_table/bundle\.[^"]*\.js"></script>\n?'),
)
# Dash's first script, @babel/polyfill 7.12 (99 kB, 33 kB compressed): core-js 2, the ES2015-2017
# library every browser the product supports has built in, and regenerator-runtime, which Dash's
# renderer and dcc do need (their async functions are compiled to generators that call the global
# ``regeneratorRuntime``). The page gets regenerator-runtime alone (25 kB, 7 kB compressed,
# vendored with its MIT licence) in the polyfill's place, so it runs before them as before; on a
# phone the 26 kB less is on the way to the page's first content, and core-js's set-up is not run
POLYFILL_SCRIPT = re.compile(
    r'<script src="[^"]*/_dash-component-suites/dash/deps/polyfill@[^"]*\.js"></script>\n?'
)
REGENERATOR = "static/vendor/regenerator-runtime.js"
# what Dash's renderer asks for first, once its scripts have run: asked for with the page instead
# (<link rel=preload as=fetch>), so the answers are there when the renderer asks
FIRST_FETCHES = ("_dash-layout", "_dash-dependencies")
REGENERATOR_SCRIPT = re.compile(
    r'<script src="[^"]*/_dash-component-suites/ioc/static/vendor/regenerator-runtime\.[^"]*\.js"></script>\n?'
)


def in_place_of(scripts: str, replaced: re.Pattern[str], script: re.Pattern[str]) -> str:
    """``scripts`` with the tag ``script`` finds moved to where ``replaced`` finds one (which is
    dropped); unchanged unless both are there."""
    new, old = script.search(scripts), replaced.search(scripts)
    if new is None or old is None:
        return scripts
    tag = new.group(0)
    scripts = scripts[: new.start()] + scripts[new.end() :]
    return replaced.sub(lambda _: tag, scripts, count=1)


def lazy_script(scripts: str, metas: str, script: re.Pattern[str], name: str) -> tuple[str, str]:
    """The bundle ``script`` finds out of the page's scripts, its URL in ``<meta name="{name}">``.

    AG Grid (1.3 MB, 0.3 MB compressed; most pages have no grid): assets/lazy_grid.js stands in
    for ``dash_ag_grid.AgGrid`` and loads the bundle when a page first draws a grid. Plotly
    (1.2 MB, 0.4 MB compressed): a script of the page would be downloaded and run before Dash's
    renderer starts, holding up the page's first content; dcc.Graph loads Plotly by itself when
    it first draws and ``window.Plotly`` is not defined, from ``window._dashPlotlyJSURL``, which
    assets/lazy_plotly.js fixes to this bundle (Dash's renderer would name dcc's full one)."""
    found = script.search(scripts)
    if found is None:
        return scripts, metas
    meta = f'<meta name="{name}" content="{found.group(1)}">'
    return scripts[: found.start()] + scripts[found.end() :], metas + meta


class App(dash.Dash):
    """Dash with Plotly's custom bundle on every page (see the module docstring), without
    DataTable's bundle (``UNUSED_SCRIPTS``), regenerator-runtime instead of Dash's polyfill
    (``POLYFILL_SCRIPT``), and ``lang`` on ``<html>``: the page's language from ``?lang=`` (screen readers pronounce the page in it,
    browsers offer no wrong translation)."""

    # Dash marks its one-time set-up done before doing it, so requests arriving meanwhile on other
    # threads find no bundle registered (a 500 for React on a fresh gunicorn worker); see _setup_server
    _setup_lock = threading.Lock()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # a component-suite resource of the ioc package: served from the package, its URL
        # fingerprinted with the package's version and the file's modification time
        self.scripts.append_script({"relative_package_path": PLOTLY_BUNDLE, "namespace": "ioc"})
        self.scripts.append_script({"relative_package_path": REGENERATOR, "namespace": "ioc"})

    def _setup_server(self) -> None:
        """Dash's set-up before the first request, done once while the other requests wait."""
        with self._setup_lock:
            super()._setup_server()  # type: ignore[no-untyped-call]

    def interpolate_index(
        self,
        metas: str = "",
        title: str = "",
        css: str = "",
        config: str = "",
        scripts: str = "",
        app_entry: str = "",
        favicon: str = "",
        renderer: str = "",
    ) -> str:
        for script, name in LAZY_BUNDLES:
            scripts, metas = lazy_script(scripts, metas, script, name)
        for unused in UNUSED_SCRIPTS:
            scripts = unused.sub("", scripts, count=1)
        scripts = in_place_of(scripts, POLYFILL_SCRIPT, REGENERATOR_SCRIPT)
        prefix = self.config.requests_pathname_prefix
        metas += "".join(
            f'<link rel="preload" href="{prefix}{name}" as="fetch" crossorigin>' for name in FIRST_FETCHES
        )
        page = super().interpolate_index(metas, title, css, config, scripts, app_entry, favicon, renderer)
        lang = i18n.lang_of(flask.request.args.get("lang")) if flask.has_request_context() else "vi"
        return page.replace("<html>", f'<html lang="{lang}">', 1)
