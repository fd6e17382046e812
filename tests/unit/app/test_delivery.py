"""How pages reach the browser: compressed bundles and answers, the document's language."""

from __future__ import annotations

import gzip
import json
import re
from typing import Any

import brotli
import flask

from ioc.delivery import StaticCache, cache_key


def _scripts(client: Any, path: str) -> list[str]:
    page = client.get(path, headers={"Accept-Encoding": "identity"}).get_data(as_text=True)
    return re.findall(r'<script src="([^"]+)"', page)


def test_bundles_are_sent_brotli_or_gzip_compressed_and_decode_to_the_same_bytes(app: Any) -> None:
    client = app.server.test_client()
    scripts = _scripts(client, "/")
    assert any("dash_renderer" in s for s in scripts), scripts
    for src in scripts:
        plain = client.get(src, headers={"Accept-Encoding": "identity"})
        assert plain.headers.get("Content-Encoding") is None
        br = client.get(src, headers={"Accept-Encoding": "gzip, deflate, br"})
        gz = client.get(src, headers={"Accept-Encoding": "gzip"})
        if len(plain.data) < 500:
            continue  # too small to be worth it
        assert br.headers["Content-Encoding"] == "br", src
        assert gz.headers["Content-Encoding"] == "gzip", src
        assert brotli.decompress(br.data) == plain.data
        assert gzip.decompress(gz.data) == plain.data
        assert "Accept-Encoding" in br.headers["Vary"]
        # the second answer comes from the compressed copy kept in memory, and is the same
        assert client.get(src, headers={"Accept-Encoding": "br"}).data == br.data


def test_callback_answers_are_compressed_and_never_served_from_the_static_copy(app: Any) -> None:
    client = app.server.test_client()
    layout = client.get("/_dash-layout", headers={"Accept-Encoding": "gzip"})
    assert layout.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(layout.data))
    deps = client.get("/_dash-dependencies", headers={"Accept-Encoding": "br"})
    assert deps.headers.get("Content-Encoding") == "br"
    assert isinstance(json.loads(brotli.decompress(deps.data)), list)
    with app.server.test_request_context("/_dash-update-component", method="POST"):
        assert cache_key(flask.request) == "live;"
    cache = StaticCache()
    cache.set("br;live;", b"x")
    assert cache.get("br;live;") is None


def test_the_document_says_its_language(app: Any) -> None:
    client = app.server.test_client()
    for query, lang in (("", "vi"), ("?lang=en", "en"), ("?lang=vi", "vi"), ("?lang=xx", "vi")):
        page = client.get("/district/760" + query).get_data(as_text=True)
        assert re.search(r"<html[^>]*>", page).group(0) == f'<html lang="{lang}">', query
