"""The exported chart's canvas: every size and language lays its title block out without overlap,
inside the canvas and clear of the plot; rankings longer than the canvas say how many they show."""

from __future__ import annotations

import html
from dataclasses import replace
from datetime import date, datetime

import pytest

from ioc import export_image, exports
from ioc.metrics.compare import UNKNOWN, Change, Comparison
from ioc.metrics.query import KpiResult, KpiRow, QueryError, Scope
from ioc.metrics.registry import get_kpi

AT = datetime(2026, 12, 4, 16, 30)
WARDS = KpiResult(
    "bandwidth_coverage",
    "ratio",
    date(2026, 11, 28),
    date(2026, 12, 4),
    "ward",
    tuple(
        KpiRow(
            f"W{i}",
            f"Phường Trường Thọ Hiệp Bình Chánh Linh Xuân số {i}",
            0.5 + i / 400,
            i,
            200,
            200,
            AT,
            "red",
        )
        for i in range(168)
    ),
    45,
)
BEFORE = Comparison(
    WARDS, date(2026, 11, 21), date(2026, 11, 27), tuple(Change(None, None, UNKNOWN) for _ in WARDS.rows)
)


def boxes(fig, layout: export_image.Canvas) -> list[tuple[str, int, int, int]]:
    """(name, top, bottom, widest line in px) of each title block, measured from the figure's own
    annotations: where Plotly will put them (y=1 is the plot's top, y=0 its bottom; yshift up)."""
    plot_top, plot_bottom = layout.margin["t"], layout.height - layout.margin["b"]
    found = []
    for note in fig.layout.annotations:
        if not note.name:
            continue
        edge = plot_top if note.y == 1 else plot_bottom
        top = edge - note.yshift
        lines = [html.unescape(t) for t in note.text.removeprefix("<b>").removesuffix("</b>").split("<br>")]
        height = round(len(lines) * note.font.size * export_image.LINE_HEIGHT)
        widest = max(export_image.text_width(line, note.font.size) for line in lines)
        found.append((note.name, top, top + height, widest))
    return found


@pytest.mark.parametrize("size", list(export_image.IMAGE_SIZES))
@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("scope", [Scope(), Scope(district="Thành phố Thủ Đức " * 6)])  # a long filter wraps
def test_the_title_block_never_overlaps(size, lang, scope) -> None:
    kpi = get_kpi("bandwidth_coverage")  # the longest definition
    req = exports.ExportRequest("bandwidth_coverage", "ward", scope=scope, lang=lang, size=size, top=None)
    fig, layout = exports.image_figure(kpi, req, WARDS, BEFORE)
    found = boxes(fig, layout)
    assert [b[0] for b in found] == ["title", "scope", "context", "definition", "source"]
    pad = round(layout.width * 0.025)
    for (name, top, bottom, widest), following in zip(found, found[1:] + [None], strict=True):
        assert 0 <= top < bottom <= layout.height, name
        assert widest <= layout.width - 2 * pad, name  # wrapped to the canvas
        if following is not None:
            assert bottom <= following[1], (name, following[0])  # stacked, never overlapping
    plot_top, plot_bottom = layout.margin["t"], layout.height - layout.margin["b"]
    header_bottom = max(b[2] for b in found if b[1] < plot_top)
    footer_top = min(b[1] for b in found if b[1] >= plot_top)
    assert header_bottom + layout.font <= plot_top  # room for the chart's notes (target, 'n of m')
    assert plot_bottom + 3 * layout.font <= footer_top  # room for the ticks and the axis title
    assert plot_bottom - plot_top >= layout.height * 0.3
    if export_image.IMAGE_SIZES[size].height is not None:
        assert (fig.layout.width, fig.layout.height) == (
            export_image.IMAGE_SIZES[size].width,
            export_image.IMAGE_SIZES[size].height,
        )


def test_the_title_block_says_what_where_when() -> None:
    kpi = get_kpi("bandwidth_coverage")
    req = exports.ExportRequest("bandwidth_coverage", "ward", scope=Scope(district="760"), lang="vi")
    fig, _ = exports.image_figure(kpi, req, WARDS, BEFORE)
    texts = {n.name: n.text for n in fig.layout.annotations if n.name}
    assert texts["title"] == f"<b>{kpi.name.vi}</b>"
    assert "Quận/huyện cũ: 760" in texts["scope"] and "28/11/2026 – 04/12/2026" in texts["scope"]
    assert "Kỳ trước (○): 21/11/2026 – 27/11/2026" in texts["context"]
    assert "04/12/2026 16:30" in texts["context"] and "45" in texts["context"]
    assert texts["definition"].replace("<br>", " ").startswith(kpi.description.vi[:40])
    assert "Nguồn" in texts["source"] and "tỷ lệ (%)" in texts["source"]
    assert fig.layout.title.text is None  # no Plotly title crowding a subtitle


def test_a_long_ranking_shows_what_the_canvas_holds_and_says_so() -> None:
    kpi = get_kpi("bandwidth_coverage")
    req = exports.ExportRequest("bandwidth_coverage", "ward", lang="en", size="slide", top=None)
    fig, layout = exports.image_figure(kpi, req, WARDS)
    shown = len(fig.layout.yaxis.ticktext)
    assert shown == layout.rows < 168
    assert f"{shown} of 168" in [a.text for a in fig.layout.annotations]
    # each row at least the font's height: names are legible, not a solid wall
    assert (layout.height - layout.margin["t"] - layout.margin["b"]) / shown >= layout.font
    # a long name is shortened to its room, never drawn over the canvas edge
    assert all(
        export_image.text_width(t, layout.font) <= layout.margin["l"] for t in fig.layout.yaxis.ticktext
    )
    tall, tall_layout = exports.image_figure(kpi, replace(req, size="fit"), WARDS)
    assert len(tall.layout.yaxis.ticktext) == 168 and tall_layout.height > 168 * layout.font


def test_sizes_and_scales_are_checked() -> None:
    req = exports.ExportRequest.from_args({"kpi": "uptime", "size": "a4", "scale": "3"})
    assert (req.size, req.scale) == ("a4", 3)
    for args, param in (
        ({"kpi": "uptime", "size": "poster"}, "size"),
        ({"kpi": "uptime", "scale": "4"}, "scale"),
    ):
        with pytest.raises(QueryError) as error:
            exports.ExportRequest.from_args(args)
        assert error.value.param == param


@pytest.mark.parametrize(("size", "scale"), [("square", 2), ("a4", 1)])
def test_an_image_is_drawn_at_its_size_and_scale(size, scale) -> None:
    import struct

    kpi = get_kpi("bandwidth_coverage")
    req = exports.ExportRequest("bandwidth_coverage", "ward", lang="vi", size=size, scale=scale)
    png = exports.to_image(kpi, req, WARDS, "png", BEFORE)
    preset = export_image.IMAGE_SIZES[size]
    assert struct.unpack(">II", png[16:24]) == (preset.width * scale, preset.height * scale)  # IHDR
    pdf = exports.to_image(kpi, replace(req, scale=1), WARDS, "pdf", BEFORE)
    assert pdf.startswith(b"%PDF")


def test_an_image_too_large_to_draw_is_refused_with_its_reason() -> None:
    kpi = get_kpi("bandwidth_coverage")
    many = replace(WARDS, rows=WARDS.rows * 3)  # 504 rows as tall as they need, three times over
    req = exports.ExportRequest("bandwidth_coverage", "ward", size="fit", scale=3, top=None)
    with pytest.raises(QueryError) as error:
        exports.to_image(kpi, req, many, "png")
    assert error.value.param == "scale" and "over the export limit of 40 megapixels" in str(error.value)
