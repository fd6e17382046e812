"""Text is text: a label, hover or title built from data never becomes Plotly markup.

Plotly renders a subset of HTML in every label, tick, hover and title (``<a href>``, ``<b>``,
``<br>``, ``<span style>``...): a school named ``<a href="http://...">`` would be a live link in the
explore chart and in an SVG export (issue 12, Why 5)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from ioc import exports, figures
from ioc.metrics.query import Scope
from ioc.metrics.registry import get_kpi

from .test_exports import RES as EXPORTED

HOSTILE = '<a href="http://evil.example/">click</a> <b>Trường</b> &amp; <span style="font-size:90px">x</span>'
# what a reader must see: the name's characters, Plotly entities for '<', '>' and '&'
SHOWN = '&lt;a href="http://evil.example/"&gt;click&lt;/a&gt; &lt;b&gt;Trường&lt;/b&gt; &amp;amp;'
MARKUP = ("<a ", "</a>", "<b>Trường", "<span")


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from strings(value)


def assert_plain(fig: Any) -> None:
    texts = list(strings(fig.to_plotly_json()))
    for text in texts:
        assert not any(m in text for m in MARKUP), text
    assert any(SHOWN in t for t in texts), "the hostile name is not shown at all"


def test_plain_escapes_what_plotly_reads_as_markup() -> None:
    assert figures.plain("<br>a & b > c") == "&lt;br&gt;a &amp; b &gt; c"
    assert figures.plain("Trường Lê Lợi") == "Trường Lê Lợi"


def test_ranking() -> None:
    bars = [
        figures.Bar("S1", HOSTILE, 0.9, "amber", "/school/S1"),
        figures.Bar("S2", "B", 0.97, "green", None),
    ]
    assert_plain(figures.ranking(bars, "ratio", "vi", target=0.95))


@pytest.mark.parametrize("chart", ["bar", "line", "column"])
def test_explore_chart(chart: str) -> None:
    rows = [("S1", HOSTILE, 0.9, "/school/S1"), ("S2", "B", 0.97, None)]
    assert_plain(figures.explore_chart(rows, chart, "ratio", "en", target=0.95, green=0.95, amber=0.9))


def test_school_points() -> None:
    points = [(10.77, 106.70, HOSTILE, 0.9, "/school/S1"), (10.78, 106.71, "B", None, None)]
    assert_plain(figures.school_points(points, "ratio", "vi", green=0.95, amber=0.9))


def test_choropleth() -> None:
    square = [[[106.6, 10.7], [106.7, 10.7], [106.7, 10.8], [106.6, 10.8], [106.6, 10.7]]]
    geojson = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"district_code": "760", "name": HOSTILE},
                "geometry": {"type": "Polygon", "coordinates": square},
            }
        ],
    }
    fig = figures.choropleth(
        geojson, [("760", HOSTILE, 0.9, "/district/760")], "ratio", "vi", green=0.95, amber=0.9
    )
    assert_plain(fig)


KPI = get_kpi("attendance_rate")
# the export tests' answer, its first school renamed
RES = replace(EXPORTED, rows=(replace(EXPORTED.rows[0], label=HOSTILE), *EXPORTED.rows[1:]))
# a filter named by its name, as a user may type it: it reaches the chart's title
REQ = exports.ExportRequest(kpi="attendance_rate", by="school", scope=Scope(ward=HOSTILE), lang="vi")


def test_the_export_title_keeps_its_own_markup_only() -> None:
    fig, _ = exports.image_figure(KPI, REQ, RES)
    blocks = {note.name: note.text for note in fig.layout.annotations if note.name}
    assert blocks["title"].startswith("<b>")  # the title block's own markup
    for text in blocks.values():
        assert not any(m in text for m in MARKUP), text
    assert "&lt;a href" in blocks["scope"]  # the hostile filter, as characters


def test_an_svg_export_holds_no_link_from_data() -> None:
    svg = exports.to_image(KPI, REQ, RES, "svg")
    text = svg.decode("utf-8") if isinstance(svg, bytes) else svg
    assert text.lstrip().startswith("<svg")
    # Plotly draws <a href> as an SVG link (<a xlink:href=...>); as text it is escaped XML
    assert "<a " not in text and 'evil.example/">' not in text
    assert '&#60;a href="http://evil.example/"&#62;click' in text  # the name, as characters
