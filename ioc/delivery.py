"""How pages reach the browser: compressed responses and the document's language.

Compression (Flask-Compress): JavaScript, CSS, JSON (callback answers, the API) and HTML are sent
brotli- or gzip-compressed, whichever the browser prefers. Dash's component bundles and the
assets are the same bytes for the life of a process (their URLs carry the package version or
the file's modification time), so each is compressed once per algorithm and kept in memory
(a few MB in all); every other answer is compressed as it is sent.
"""

from __future__ import annotations

import dash
import flask
from flask_compress import Compress

from ioc import i18n

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
    # runs before Compress's hook (Flask runs after_request hooks last registered first)
    server.after_request(read_whole)
    return compress


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


class App(dash.Dash):
    """Dash with ``lang`` on ``<html>``: the page's language from ``?lang=`` (screen readers
    pronounce the page in it, browsers offer no wrong translation)."""

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
        page = super().interpolate_index(metas, title, css, config, scripts, app_entry, favicon, renderer)
        lang = i18n.lang_of(flask.request.args.get("lang")) if flask.has_request_context() else "vi"
        return page.replace("<html>", f'<html lang="{lang}">', 1)
