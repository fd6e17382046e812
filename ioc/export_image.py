"""The canvas of an exported chart (PNG, SVG, PDF): its size and the title block around the plot.

A size is a preset (a slide, A4 landscape, a square for social posts, or as tall as a ranking's
rows need) times a pixel scale (1x-3x: the same layout, sharper). The title block is laid out in
pixels, top to bottom, from the canvas edge: the KPI's name, then scope · grouping · period, then
the comparison and the as-of time; under the plot the definition and the unit and source line.
Every block is wrapped to the canvas width and stacked with a gap, and the plot area gets what is
left, so no two texts overlap at any size (tests/unit/app/test_export_image.py measures it).
Margins are set, not grown by Plotly (automargin off): the blocks' pixel positions are then exact;
axis labels are given the room their text needs, long unit names shortened with an ellipsis.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from ioc.figures import THEMES, plain

CHAR_WIDTH = 0.6  # of the font size: a generous mean glyph width (DejaVu Sans, Chromium's fallback)
LINE_HEIGHT = 1.3  # Plotly's line spacing, in font sizes
LABEL_SHARE = 0.35  # the most of the width a ranking's names may take


@dataclass(frozen=True)
class ImageSize:
    name: str
    width: int
    height: int | None  # None: as tall as the chart's rows need
    font: int  # the base font size in pixels at scale 1


IMAGE_SIZES = {
    "slide": ImageSize("slide", 1920, 1080, 18),
    "a4": ImageSize("a4", 1754, 1240, 17),  # A4 landscape at 150 dpi
    "square": ImageSize("square", 1080, 1080, 16),
    "fit": ImageSize("fit", 1400, None, 14),
}
SCALES = (1, 2, 3)
FIT_MAX_HEIGHT = 8000


@dataclass(frozen=True)
class Block:
    """Text laid out on the canvas: ``lines`` (already wrapped) at ``top`` px from the canvas's
    top, in ``size`` px; ``height`` is what the lines take."""

    name: str
    lines: tuple[str, ...]
    size: int
    top: int
    bold: bool = False
    muted: bool = False

    @property
    def height(self) -> int:
        return round(len(self.lines) * self.size * LINE_HEIGHT)

    @property
    def bottom(self) -> int:
        return self.top + self.height


@dataclass(frozen=True)
class Canvas:
    """Where everything goes: the canvas, the plot area's margins, the text blocks."""

    width: int
    height: int
    margin: dict[str, int]
    blocks: tuple[Block, ...]
    font: int
    rows: int | None  # the most ranking rows the plot holds legibly (None: not a ranking)


def wrap(text: str, size: int, width: int) -> tuple[str, ...]:
    """``text`` in lines no wider than ``width`` px at ``size`` px (a long word is cut)."""
    chars = max(10, int(width / (size * CHAR_WIDTH)))
    return tuple(textwrap.wrap(text, chars, break_long_words=True, break_on_hyphens=False)) or ("",)


def text_width(text: str, size: int) -> int:
    return round(len(text) * size * CHAR_WIDTH)


def shorten(text: str, size: int, width: int) -> str:
    """``text`` cut with an ellipsis to fit ``width`` px."""
    chars = max(4, int(width / (size * CHAR_WIDTH)))
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"


def _stack(
    texts: list[tuple[str, str, float, bool, bool]], font: int, width: int, pad: int, top: int
) -> tuple[list[Block], int]:
    """Blocks one under the other from ``top``; returns them and the px below the last."""
    blocks = []
    for name, text, factor, bold, muted in texts:
        if not text:
            continue
        size = round(font * factor)
        block = Block(name, wrap(text, size, width - 2 * pad), size, top, bold, muted)
        blocks.append(block)
        top = block.bottom + round(font * 0.45)
    return blocks, top


def canvas(
    size: ImageSize,
    header: list[tuple[str, str, float, bool, bool]],
    footer: list[tuple[str, str, float, bool, bool]],
    *,
    ranking_rows: int | None = None,
    left_labels: list[str] | None = None,
    right_labels: list[str] | None = None,
) -> Canvas:
    """The layout of a chart of ``size``: ``header`` and ``footer`` are (name, text, size factor,
    bold, muted) blocks; a ranking of ``ranking_rows`` rows sizes a 'fit' canvas to its rows and
    says how many rows a fixed canvas holds; its ``left_labels`` and ``right_labels`` get room."""
    font = size.font
    pad = round(size.width * 0.025)
    head, below = _stack(header, font, size.width, pad, pad)
    notes = round(font * 1.8)  # the chart's own notes above the plot (target, 'n of m', legend)
    top = below + notes
    axis = round(font * 5)  # tick labels and the axis title under the plot
    foot_height = sum(b.height + round(font * 0.45) for b in _stack(footer, font, size.width, pad, 0)[0])
    bottom = axis + foot_height + pad
    row_px = round(font * 1.45)
    if size.height is None:
        plot = max(ranking_rows or 0, 1) * row_px if ranking_rows else round(size.width * 0.45)
        height = min(FIT_MAX_HEIGHT, top + bottom + plot)
    else:
        height = size.height
    plot = height - top - bottom
    foot, _ = _stack(footer, font, size.width, pad, height - pad - foot_height)
    label_room = round(size.width * LABEL_SHARE)
    left = pad + min(label_room, max((text_width(t, font) for t in left_labels or []), default=0) + font)
    right = pad + min(label_room, max((text_width(t, font) for t in right_labels or []), default=0) + font)
    if not left_labels:
        left = pad + round(font * 5)  # value ticks ('99,25 %')
    return Canvas(
        width=size.width,
        height=height,
        margin={"t": top, "b": bottom, "l": left, "r": right, "pad": 4},
        blocks=(*head, *foot),
        font=font,
        rows=max(1, plot // row_px) if ranking_rows is not None else None,
    )


def apply(fig: Any, layout: Canvas) -> None:
    """Put ``layout`` on ``fig``: its size, margins (not grown by Plotly), fonts and text blocks
    as annotations placed in pixels from the plot area's known edges."""
    theme = THEMES["light"]
    plot_top, plot_bottom = layout.margin["t"], layout.height - layout.margin["b"]
    annotations = list(fig.layout.annotations or ())
    for block in layout.blocks:
        at_top = block.top < plot_top
        text = "<br>".join(plain(line) for line in block.lines)
        annotations.append(
            {
                "text": f"<b>{text}</b>" if block.bold else text,
                "name": block.name,
                "xref": "paper",
                "x": 0,
                "xanchor": "left",
                "xshift": -(layout.margin["l"] - round(layout.width * 0.025)),
                "yref": "paper",
                "y": 1 if at_top else 0,
                "yanchor": "top",
                "yshift": plot_top - block.top if at_top else plot_bottom - block.top,
                "align": "left",
                "showarrow": False,
                "font": {"size": block.size, "color": theme.muted if block.muted else theme.text},
            }
        )
    fig.update_layout(
        width=layout.width,
        height=layout.height,
        margin=layout.margin,
        title=None,
        paper_bgcolor="white",
        plot_bgcolor="white",
        font={"size": layout.font},
        annotations=annotations,
    )
    fig.update_xaxes(automargin=False, title_font_size=layout.font, title_standoff=round(layout.font * 0.6))
    fig.update_yaxes(automargin=False)
