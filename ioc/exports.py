"""Exports of a KPI answer: the chart as PNG/SVG (server-side, kaleido) and the data as CSV, XLSX
or Parquet. Served by Flask routes ``/export/<fmt>`` with the explore page's query string.

- Charts are titled with the KPI's definition, the filters and the as-of time.
- Unless ``compare=none``, every row carries its previous period (ioc.metrics.compare): the
  previous value, numerator and denominator and the change, drawn as hollow markers on the chart.
- XLSX has a second sheet ("about") describing KPI, filters, period, previous period, as-of and
  source; its header row is in the chosen language, its cells typed (percentages, dates).
- Text cells that start with ``= + - @`` (or tab / carriage return) are neutralised with a leading
  apostrophe in CSV and XLSX, so a school name can never run as a spreadsheet formula.
- kaleido's sync server (one headless Chromium) is started once per process on first use.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import flask
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ioc import clock, figures, i18n
from ioc.export_image import IMAGE_SIZES, SCALES, Canvas, apply, canvas, shorten
from ioc.frontdoor import current_metrics
from ioc.metrics.compare import UNKNOWN, Comparison, key_start, period_keys
from ioc.metrics.front import Metrics
from ioc.metrics.query import BY, FILTERS, TIME_BY, KpiQuery, KpiResult, QueryError, Scope
from ioc.metrics.registry import Kpi, get_kpi
from ioc.panels.common import drill_link

if TYPE_CHECKING:
    import flask

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
    "png": "image/png",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
}
IMAGES = ("png", "svg", "pdf")
CHARTS = ("bar", "histogram", "column", "line")
ORDERS = ("worst", "best")
COMPARES = ("previous", "none")
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
XLSX_DATE_FORMATS = {  # (grouping, Vietnamese?)
    ("date", True): "dd/mm/yyyy",
    ("date", False): "yyyy-mm-dd",
    ("month", True): "mm/yyyy",
    ("month", False): "yyyy-mm",
}
TextSpec = tuple[str, str, float, bool, bool]  # (name, text, size factor, bold, muted): a title block line
_KALEIDO_LOCK = threading.Lock()
KALEIDO_TIMEOUT_SECONDS = 60.0
MAX_IMAGE_PIXELS = 40_000_000  # a 3x A4 is 19 MP; 168 wards 'fit' at 2x 20 MP


def neutralise(value: Any) -> Any:
    """A text that a spreadsheet would run as a formula gets a leading apostrophe; others unchanged."""
    if isinstance(value, str) and value.startswith(DANGEROUS):
        return "'" + value
    return value


@dataclass(frozen=True)
class ExportRequest:
    kpi: str
    by: str = "district"
    scope: Scope = Scope()
    date_from: date | None = None
    date_to: date | None = None
    snapshot: int | None = None
    chart: str = "bar"
    lang: str = "vi"
    order: str = "worst"  # a ranking's order: worst first or best first
    top: int | None = None  # a ranking's first N rows (None: all)
    compare: str = "previous"  # each row beside its previous period, or "none"
    size: str = "slide"  # an image's canvas (export_image.IMAGE_SIZES)
    scale: int = 1  # an image's pixel scale (1, 2 or 3)

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> ExportRequest:
        def day(name: str) -> date | None:
            raw = args.get(name)
            if not raw:
                return None
            try:
                return date.fromisoformat(raw)
            except ValueError:
                raise QueryError(name, f"must be a date YYYY-MM-DD, got {raw!r}") from None

        def choice(name: str, default: str, allowed: Iterable[str]) -> str:
            value = args.get(name) or default
            if value not in allowed:
                raise QueryError(name, f"must be one of {', '.join(allowed)}, got {value!r}")
            return value

        kpi = args.get("kpi") or ""
        get_kpi(kpi)
        by = choice("by", "district", BY)
        chart = choice("chart", "bar", CHARTS)
        asof = args.get("asof")
        if asof and not asof.isdigit():
            raise QueryError("asof", f"must be a data version (integer), got {asof!r}")
        order = choice("order", "worst", ORDERS)
        top = args.get("top") or "all"
        if top != "all" and not (top.isdigit() and int(top) > 0):
            raise QueryError("top", f"must be a positive integer or 'all', got {top!r}")
        compare = choice("compare", "previous", COMPARES)
        size = choice("size", "slide", IMAGE_SIZES)
        scale = choice("scale", "1", [str(n) for n in SCALES])
        return cls(
            kpi=kpi,
            by=by,
            scope=Scope(**{k: args[k] for k in FILTERS if args.get(k)}),
            date_from=day("from"),
            date_to=day("to"),
            snapshot=int(asof) if asof else None,
            chart=chart,
            lang=i18n.lang_of(args.get("lang")),
            order=order,
            top=None if top == "all" else int(top),
            compare=compare,
            size=size,
            scale=int(scale),
        )

    def query(self) -> KpiQuery:
        return KpiQuery(
            kpi=self.kpi,
            by=self.by,
            date_from=self.date_from,
            date_to=self.date_to,
            scope=self.scope,
            snapshot=self.snapshot,
        )


def as_of(res: KpiResult) -> datetime | None:
    return max((r.as_of for r in res.rows if r.as_of), default=None)


COLUMNS = ("key", "label", "value", "numerator", "denominator", "schools_reporting", "status")
PREVIOUS_COLUMNS = ("previous_value", "previous_numerator", "previous_denominator", "change")


def frame(res: KpiResult, lang: str = "vi", comparison: Comparison | None = None) -> pd.DataFrame:
    """The rows of a KPI result as a table (one row per unit), with the SPEC's column names; a
    level or ownership is labelled by its name in ``lang`` (its code stays in ``key``). With a
    ``comparison``, each row's previous period too (and for time groupings that period's key)."""
    records = [
        {
            "key": r.key,
            "label": i18n.group_label(res.by, r.label, lang),
            "value": r.value,
            "numerator": r.numerator,
            "denominator": r.denominator,
            "schools_reporting": r.schools_reporting,
            "status": r.status,
        }
        for r in res.rows
    ]
    columns = list(COLUMNS)
    if comparison is not None:
        columns += (["previous_key"] if res.by in TIME_BY else []) + list(PREVIOUS_COLUMNS)
        for record, change in zip(records, comparison.changes, strict=True):
            before = change.previous
            record.update(
                previous_key=change.previous_key,
                previous_value=before.value if before and before.schools_reporting else None,
                previous_numerator=before.numerator if before else None,
                previous_denominator=before.denominator if before else None,
                change=change.change,
            )
    return pd.DataFrame(records, columns=columns)


def headers(kpi: Kpi, by: str, lang: str) -> dict[str, str]:
    """The columns of an export as a reader of ``lang`` calls them (the XLSX header row)."""
    value = kpi.name.get(lang)
    return {
        "key": i18n.t("table.code", lang),
        "label": i18n.t(f"by.{by}", lang),
        "value": value,
        "numerator": i18n.t("explain.numerator", lang),
        "denominator": i18n.t("explain.denominator", lang),
        "schools_reporting": i18n.t("table.schools_reporting", lang),
        "status": i18n.t("table.status", lang),
        "previous_key": i18n.t("compare.previous_period", lang),
        "previous_value": i18n.t("compare.previous_of", lang, name=value),
        "previous_numerator": i18n.t("compare.previous_of", lang, name=i18n.t("explain.numerator", lang)),
        "previous_denominator": i18n.t("compare.previous_of", lang, name=i18n.t("explain.denominator", lang)),
        "change": i18n.t("compare.change", lang),
    }


def describe(
    kpi: Kpi, req: ExportRequest, res: KpiResult, comparison: Comparison | None = None
) -> list[tuple[str, str]]:
    """(field, text) pairs describing an export: KPI, definition, filters, period, previous
    period (with a comparison), as-of, source."""
    lang = req.lang
    filters = ", ".join(f"{i18n.t('filter.' + k, lang)}: {v}" for k, v in req.scope.items()) or i18n.t(
        "nav.city", lang
    )
    return [
        (i18n.t("export.kpi", lang), f"{kpi.name.get(lang)} ({kpi.id})"),
        (i18n.t("export.definition", lang), kpi.description.get(lang)),
        (i18n.t("export.unit", lang), i18n.t(f"unitname.{kpi.unit}", lang)),
        (i18n.t("export.by", lang), i18n.t(f"by.{res.by}", lang)),
        (i18n.t("export.filters", lang), filters),
        (i18n.t("export.period", lang), period_text(res.date_from, res.date_to, lang)),
        *(
            [(i18n.t("compare.previous_period", lang), previous_text(res.by, comparison, lang))]
            if comparison is not None
            else []
        ),
        (i18n.t("export.as_of", lang), i18n.format_datetime(as_of(res), lang)),
        (i18n.t("export.data_version", lang), str(res.data_version) + (" (as of)" if req.snapshot else "")),
        (i18n.t("export.source", lang), i18n.t("export.source_text", lang)),
    ]


PREVIOUS_MARKS = {"bar": "○", "histogram": "┈"}  # how each chart draws the previous period


def period_text(date_from: date | None, date_to: date | None, lang: str) -> str:
    """A period in the locale: one day once ('23/11/2026'), else 'from – to'."""
    if date_from == date_to:
        return i18n.format_date(date_to, lang)
    return f"{i18n.format_date(date_from, lang)} – {i18n.format_date(date_to, lang)}"


def previous_caption(req: ExportRequest, comparison: Comparison | None) -> str:
    """'Kỳ trước (○): 03/12/2026': the previous period with the mark the chart draws it with."""
    mark = PREVIOUS_MARKS.get(req.chart) if req.by not in TIME_BY else None
    name = i18n.t("compare.previous_period", req.lang) + (f" ({mark})" if mark else "")
    return f"{name}: {previous_text(req.by, comparison, req.lang)}"


def previous_text(by: str, comparison: Comparison | None, lang: str) -> str:
    """What the comparison compares with, in words: the previous period's dates (unit groupings),
    or 'each period with the one before' (time groupings)."""
    if comparison is None or comparison.date_from is None or comparison.date_to is None:
        return "—"
    dates = period_text(comparison.date_from, comparison.date_to, lang)
    if by in TIME_BY:
        return i18n.t(f"compare.each_{by}", lang) + f" ({dates})"
    return dates


def to_csv(res: KpiResult, lang: str = "vi", comparison: Comparison | None = None) -> bytes:
    df = frame(res, lang, comparison)
    for column in ("key", "label", "status"):
        df[column] = df[column].map(neutralise)
    # UTF-8 with BOM so Excel opens Vietnamese names correctly
    return df.to_csv(index=False).encode("utf-8-sig")


def to_xlsx(kpi: Kpi, req: ExportRequest, res: KpiResult, comparison: Comparison | None = None) -> bytes:
    from openpyxl import Workbook  # heavy: openpyxl (~200 modules, 0.3 s) only for an XLSX export

    book = Workbook()
    data = book.active
    data.title = "data"
    df = frame(res, req.lang, comparison)
    df["status"] = [i18n.t(f"status.{s}", req.lang) if s else None for s in df["status"]]
    names = headers(kpi, res.by, req.lang)
    data.append([names[c] for c in df.columns])
    for record in df.itertuples(index=False):
        data.append([neutralise(None if isinstance(v, float) and pd.isna(v) else v) for v in record])
    # typed cells: a ratio is a percentage, counts have thousands separators, a day is a date
    decimals = "." + "0" * kpi.decimals if kpi.decimals else ""
    value_format = {"ratio": f"0{decimals}%", "count": "#,##0"}.get(kpi.unit, f"#,##0{decimals}")
    formats = {
        "value": value_format,
        "numerator": "#,##0.##",
        "denominator": "#,##0.##",
        "schools_reporting": "#,##0",
        "previous_value": value_format,
        "previous_numerator": "#,##0.##",
        "previous_denominator": "#,##0.##",
        # a signed change: "+1.2%" (of a ratio: percentage points)
        "change": f"+{value_format};-{value_format};{value_format}",
    }
    for index, column in enumerate(df.columns, start=1):
        for (cell,) in data.iter_rows(min_row=2, min_col=index, max_col=index):
            if column in formats and isinstance(cell.value, (int, float)):
                cell.number_format = formats[column]
            elif (
                column in ("key", "previous_key")
                and res.by in ("date", "month")
                and isinstance(cell.value, str)
            ):
                # a day is a date; a month the date of its first day, shown as the month
                cell.value = date.fromisoformat(cell.value if res.by == "date" else cell.value + "-01")
                cell.number_format = XLSX_DATE_FORMATS[res.by, req.lang == "vi"]
    data.column_dimensions["B"].width = 40
    about = book.create_sheet("about")
    for name, text in describe(kpi, req, res, comparison):
        about.append([neutralise(name), neutralise(text)])
    about.column_dimensions["A"].width = 24
    about.column_dimensions["B"].width = 100
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_parquet(kpi: Kpi, req: ExportRequest, res: KpiResult, comparison: Comparison | None = None) -> bytes:
    table = pa.Table.from_pandas(frame(res, req.lang, comparison), preserve_index=False)
    meta = {f"ioc.{i}": text for i, (_, text) in enumerate(describe(kpi, req, res, comparison))}
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), **{k.encode(): v.encode() for k, v in meta.items()}}
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def title_texts(
    kpi: Kpi, req: ExportRequest, res: KpiResult, comparison: Comparison | None = None
) -> tuple[list[TextSpec], list[TextSpec]]:
    """The title block of an exported chart (header, footer): the KPI's name; filters, grouping and
    period; the comparison, as-of time and data version; under the plot its definition, and its
    unit and source. All of it is shown as text (export_image.apply escapes it)."""
    lang = req.lang
    field = dict(describe(kpi, req, res, comparison))

    def said(key: str) -> str:
        return f"{i18n.t(key, lang)}: {field[i18n.t(key, lang)]}"

    context = [said("export.as_of"), said("export.data_version")]
    if comparison is not None:
        context.insert(0, previous_caption(req, comparison))
    header = [
        ("title", kpi.name.get(lang), 1.6, True, False),
        (
            "scope",
            " · ".join([said("export.filters"), said("export.by"), said("export.period")]),
            1.0,
            False,
            False,
        ),
        ("context", " · ".join(context), 0.85, False, True),
    ]
    footer = [
        ("definition", kpi.description.get(lang), 0.8, False, True),
        ("source", " · ".join([said("export.unit"), said("export.source")]), 0.8, False, True),
    ]
    return header, footer


def chart(
    kpi: Kpi, req: ExportRequest, res: KpiResult, links: bool = False, comparison: Comparison | None = None
) -> Any:
    rows = [
        (
            r.key,
            i18n.group_label(res.by, r.label, req.lang),
            r.value,
            drill_link(res.by, r.key, req.lang, req.snapshot) if links else None,
        )
        for r in res.rows
    ]
    previous = (
        [
            (c.previous.value if c.previous is not None and c.previous.schools_reporting else None, c.sense)
            for c in comparison.changes
        ]
        if comparison is not None
        else None
    )
    if res.by in ("week", "month") and rows:  # a week or month without data is a gap in the line
        keys = period_keys(res.by, rows[0][0], rows[-1][0])
        have = {row[0]: i for i, row in enumerate(rows)}
        if previous is not None:
            previous = [previous[have[k]] if k in have else (None, UNKNOWN) for k in keys]
        rows = [rows[have[k]] if k in have else (k, k, None, None) for k in keys]
    return figures.explore_chart(
        rows,
        req.chart,
        kpi.unit,
        req.lang,
        decimals=kpi.decimals,
        target=kpi.target,
        time_axis=res.by in TIME_BY,
        grain=res.by,
        higher_better=kpi.direction == "higher",
        green=kpi.green,
        amber=kpi.amber,
        order=req.order,
        top=req.top,
        previous=previous,
        previous_label=i18n.t("compare.previous_period", req.lang),
        partial=partial_words(res, req.lang) if req.chart in ("line", "column") else None,
    )


def partial_words(res: KpiResult, lang: str) -> str | None:
    """The words that mark the last period of a time answer that is not over ("đến nay": this
    month so far; "đến 03/12" when the answer ends on the 3rd of a month), or None when its last
    period is complete. Today itself is never complete (its reports are still coming in)."""
    if res.by not in TIME_BY or not res.rows:
        return None
    today = clock.today()
    start = key_start(res.by, res.rows[-1].key)
    end = {
        "week": start + timedelta(days=6),
        "month": (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1),
    }.get(res.by, start)
    through = min(res.date_to or today, today)
    if through == today and end >= today:
        return i18n.t("chart.to_date", lang)
    if end > through:
        return i18n.t("chart.to_day", lang, day=figures.day_month(through, lang))
    return None


def start_kaleido() -> None:
    """Start kaleido's sync server once per process (a second call is a no-op)."""
    import kaleido  # heavy: kaleido (~60 modules, 0.4 s) only when an image is asked for

    if not kaleido._global_server.is_running():  # noqa: SLF001 - kaleido has no public "is running"
        kaleido.start_sync_server(mathjax=False, silence_warnings=True)


def _abandon_kaleido() -> None:
    """Forget a sync server that stopped answering, so the next call starts a fresh one.

    kaleido's server waits without a time limit; its Chromium can stop answering (seen when an
    earlier browser session in the same process was torn down). Its thread is a daemon and is
    left behind; a new server gets new queues.
    """
    import kaleido  # heavy: kaleido (~60 modules, 0.4 s) only when an image is asked for

    kaleido._global_server._initialized = False  # noqa: SLF001


def render_image(fig: Any, opts: dict[str, Any], timeout: float = KALEIDO_TIMEOUT_SECONDS) -> bytes:
    """``fig`` as image bytes through kaleido, bounded in time, one call at a time per process.

    The sync server has one task queue and one answer queue, so two threads calling it at once
    could receive each other's images: calls are serialised. A call that does not answer within
    ``timeout`` abandons the server and is tried once more on a fresh one.
    """
    import kaleido  # heavy: kaleido (~60 modules, 0.4 s) only when an image is asked for

    with _KALEIDO_LOCK:
        for _attempt in range(2):
            start_kaleido()
            box: dict[str, Any] = {}

            def call(box: dict[str, Any] = box) -> None:
                try:
                    box["image"] = kaleido.calc_fig_sync(fig, opts=opts)
                except BaseException as error:  # noqa: BLE001 - handed to the caller below
                    box["error"] = error

            worker = threading.Thread(target=call, name="kaleido-call", daemon=True)
            worker.start()
            worker.join(timeout)
            if not worker.is_alive():
                if "error" in box:
                    raise box["error"]
                return bytes(box["image"])
            _abandon_kaleido()
    raise RuntimeError(f"the chart renderer (kaleido) did not answer within {timeout:.0f} s, twice")


def image_figure(
    kpi: Kpi, req: ExportRequest, res: KpiResult, comparison: Comparison | None = None
) -> tuple[Any, Canvas]:
    """The chart of ``req`` on a canvas of ``req.size``, with its title block (export_image). A
    ranking longer than the canvas holds legibly shows its first rows and says 'n of m'; the
    'fit' size grows with the rows instead."""
    size = IMAGE_SIZES[req.size]
    header, footer = title_texts(kpi, req, res, comparison)
    ranking = req.chart == "bar" and res.by not in TIME_BY
    rows = min(len(res.rows), req.top or len(res.rows)) if ranking else None
    room = canvas(size, header, footer, ranking_rows=rows).rows
    if rows is not None and room is not None and rows > room:
        req = replace(req, top=room)
        rows = room
    fig = chart(kpi, req, res, comparison=comparison)
    labels: dict[str, list[str]] = {}
    if ranking:
        labels = {
            "left_labels": list(fig.layout.yaxis.ticktext or ()),
            "right_labels": list(fig.layout.yaxis2.ticktext or ()),
        }
    layout = canvas(size, header, footer, ranking_rows=rows, **labels)
    if ranking:  # a name longer than its room is cut with an ellipsis, not over the title's edge
        room_px = layout.margin["l"] - round(size.width * 0.025)
        fig.layout.yaxis.ticktext = [shorten(t, layout.font, room_px) for t in labels["left_labels"]]
    apply(fig, layout)
    return fig, layout


def to_image(
    kpi: Kpi, req: ExportRequest, res: KpiResult, fmt: str, comparison: Comparison | None = None
) -> bytes:
    """``image_figure`` drawn as ``fmt`` (png, svg, pdf) at ``req.scale``."""
    fig, layout = image_figure(kpi, req, res, comparison)
    pixels = layout.width * layout.height * req.scale**2
    if pixels > MAX_IMAGE_PIXELS:  # a tall 'fit' at 3x would hold one Chromium for minutes
        raise QueryError(
            "scale",
            f"{layout.width * req.scale}x{layout.height * req.scale} px is over the export limit of "
            f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels: choose a smaller scale or size, or fewer rows",
        )
    spec = fig.to_dict()
    spec["config"] = i18n.plotly_config(req.lang)  # kaleido passes it on: dates in the export's language
    return render_image(
        spec, {"format": fmt, "width": layout.width, "height": layout.height, "scale": req.scale}
    )


def export(metrics: Metrics, req: ExportRequest, fmt: str) -> tuple[bytes, str, str]:
    """(content, mimetype, file name) of ``req`` in format ``fmt``, as the caller of ``metrics`` may see it."""
    if fmt not in FORMATS:
        raise QueryError("format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")
    kpi = get_kpi(req.kpi)
    res = metrics.answer(req.query())
    comparison = metrics.compare(req.query(), res) if req.compare == "previous" else None
    if fmt == "csv":
        content = to_csv(res, req.lang, comparison)
    elif fmt == "xlsx":
        content = to_xlsx(kpi, req, res, comparison)
    elif fmt == "parquet":
        content = to_parquet(kpi, req, res, comparison)
    else:
        content = to_image(kpi, req, res, fmt, comparison)
    stamp = (res.date_to or clock.today()).isoformat()
    return content, FORMATS[fmt], f"{req.kpi}_{req.by}_{stamp}.{fmt}"


def register_routes(server: flask.Flask) -> None:
    """``GET /export/<fmt>?kpi=&by=&from=&to=&district=&ward=&level=&ownership=&asof=&chart=&lang=``."""

    def download(fmt: str) -> flask.Response:
        try:
            req = ExportRequest.from_args(flask.request.args)
            content, mimetype, name = export(current_metrics(), req, fmt)
        except QueryError as error:
            return flask.Response(f"{error}\n", status=400, mimetype="text/plain")
        response = flask.Response(content, mimetype=mimetype)
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    server.add_url_rule("/export/<fmt>", "ioc_export", download)
