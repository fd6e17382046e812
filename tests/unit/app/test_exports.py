"""Export files: valid CSV / XLSX / Parquet / PNG / SVG with the right numbers, formulas neutralised."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import date, datetime

import pyarrow.parquet as pq
import pytest

from ioc import exports
from ioc.metrics.compare import BETTER, SAME, UNKNOWN, WORSE, Change, Comparison
from ioc.metrics.query import KpiResult, KpiRow, QueryError, Scope
from ioc.metrics.registry import get_kpi

KPI = get_kpi("attendance_rate")
RES = KpiResult(
    kpi="attendance_rate",
    unit="ratio",
    date_from=date(2026, 11, 23),
    date_to=date(2026, 11, 23),
    by="school",
    rows=(
        KpiRow("S1", '=HYPERLINK("http://x")', 0.95, 95.0, 100.0, 1, datetime(2026, 11, 23, 9), "green"),
        KpiRow("S2", "Trường Tiểu học Lê Lợi", 0.8, 80.0, 100.0, 1, datetime(2026, 11, 23, 9), "red"),
        KpiRow("@S3", "-cmd", None, None, 0.0, 0, None, "no_data"),
    ),
    data_version=42,
)
REQ = exports.ExportRequest(kpi="attendance_rate", by="school", scope=Scope(district="760"), lang="vi")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+84 90", "'+84 90"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("Trường A", "Trường A"),
        (-2.5, -2.5),
        (None, None),
    ],
)
def test_neutralise(value, expected) -> None:
    assert exports.neutralise(value) == expected


def test_csv_has_the_numbers_and_no_live_formula() -> None:
    content = exports.to_csv(RES)
    assert content.startswith("\ufeff".encode())  # BOM: Excel reads the Vietnamese names right
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert [r["key"] for r in rows] == ["S1", "S2", "'@S3"]
    assert rows[0]["label"] == '\'=HYPERLINK("http://x")' and rows[2]["label"] == "'-cmd"
    assert float(rows[1]["value"]) == 0.8 and float(rows[1]["numerator"]) == 80 and rows[2]["value"] == ""


def test_xlsx_has_data_and_about_sheets() -> None:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(exports.to_xlsx(KPI, REQ, RES)))
    assert book.sheetnames == ["data", "about"]
    data = list(book["data"].iter_rows(values_only=True))
    # the header row in the reader's language (CSV and Parquet keep the API's column names)
    assert data[0] == (
        "Mã",
        "Trường",
        "Tỷ lệ chuyên cần",
        "Tử số",
        "Mẫu số",
        "Trường báo cáo",
        "Trạng thái",
    )
    assert data[1][1] == '\'=HYPERLINK("http://x")' and book["data"]["B2"].data_type == "s"
    assert data[2][2] == 0.8 and data[3][2] is None
    about = dict(book["about"].iter_rows(values_only=True))
    assert about["Chỉ số"] == "Tỷ lệ chuyên cần (attendance_rate)"
    assert about["Bộ lọc"] == "Quận/huyện cũ: 760"
    assert about["Kỳ"] == "23/11/2026"  # one day once
    assert about["Dữ liệu tính đến"] == "23/11/2026 09:00"
    assert about["Phiên bản dữ liệu"] == "42"
    assert about["Định nghĩa"] == KPI.description.vi
    assert about["Đơn vị"] == "tỷ lệ (%)"  # the unit by its name, not 'ratio'
    assert "Nguồn" in about


def test_xlsx_cells_are_typed_and_codes_are_names() -> None:
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(exports.to_xlsx(KPI, REQ, RES)))["data"]
    assert sheet["C3"].value == 0.8 and sheet["C3"].number_format == "0.0%"  # 80.0 % in Excel
    assert sheet["D3"].number_format == "#,##0.##" and sheet["F3"].number_format == "#,##0"
    assert sheet["G3"].value == "Chưa đạt"  # the status by its name
    by_level = replace(RES, by="level", rows=(replace(RES.rows[1], key="primary", label="primary"),))
    sheet = load_workbook(io.BytesIO(exports.to_xlsx(KPI, replace(REQ, by="level"), by_level)))["data"]
    assert (sheet["A2"].value, sheet["B2"].value) == ("primary", "Tiểu học")
    by_date = replace(RES, by="date", rows=(replace(RES.rows[1], key="2026-11-23", label="2026-11-23"),))
    sheet = load_workbook(io.BytesIO(exports.to_xlsx(KPI, replace(REQ, by="date"), by_date)))["data"]
    assert sheet["A2"].value == datetime(2026, 11, 23) and sheet["A2"].number_format == "dd/mm/yyyy"


PREVIOUS = Comparison(
    RES,
    date(2026, 11, 20),
    date(2026, 11, 20),
    (
        Change(replace(RES.rows[0], value=0.9, numerator=90.0), 0.95 - 0.9, BETTER),
        Change(replace(RES.rows[1], value=0.8, numerator=80.0), 0.0, SAME),
        Change(None, None, UNKNOWN),
    ),
)


def test_exports_carry_the_previous_period() -> None:
    from openpyxl import load_workbook

    rows = list(csv.DictReader(io.StringIO(exports.to_csv(RES, "vi", PREVIOUS).decode("utf-8-sig"))))
    assert list(rows[0])[-4:] == ["previous_value", "previous_numerator", "previous_denominator", "change"]
    assert float(rows[0]["previous_value"]) == 0.9 and float(rows[0]["change"]) == pytest.approx(0.05)
    assert rows[2]["previous_value"] == "" and rows[2]["change"] == ""
    book = load_workbook(io.BytesIO(exports.to_xlsx(KPI, REQ, RES, PREVIOUS)))
    sheet = book["data"]
    header = [c.value for c in sheet[1]]
    assert header[-4:] == ["Tỷ lệ chuyên cần, kỳ trước", "Tử số, kỳ trước", "Mẫu số, kỳ trước", "Thay đổi"]
    assert sheet["H2"].value == 0.9 and sheet["H2"].number_format == "0.0%"
    assert sheet["K2"].value == pytest.approx(0.05) and sheet["K2"].number_format == "+0.0%;-0.0%;0.0%"
    assert dict(book["about"].iter_rows(values_only=True))["Kỳ trước"] == "20/11/2026"
    en = load_workbook(io.BytesIO(exports.to_xlsx(KPI, replace(REQ, lang="en"), RES, PREVIOUS)))["data"]
    assert [c.value for c in en[1]][-1] == "Change" and en["C1"].value == "Attendance rate"
    table = pq.read_table(io.BytesIO(exports.to_parquet(KPI, REQ, RES, PREVIOUS)))
    assert table.column("previous_value").to_pylist() == [0.9, 0.8, None]
    assert table.column("change").to_pylist()[1] == 0.0


def test_time_exports_name_each_rows_previous_period() -> None:
    from openpyxl import load_workbook

    days = replace(RES, by="date", rows=(replace(RES.rows[1], key="2026-11-23", label="2026-11-23"),))
    before = replace(RES.rows[1], key="2026-11-20", value=0.85)
    comparison = Comparison(
        days, date(2026, 11, 20), date(2026, 11, 20), (Change(before, -0.05, WORSE, "2026-11-20"),)
    )
    sheet = load_workbook(io.BytesIO(exports.to_xlsx(KPI, replace(REQ, by="date"), days, comparison)))["data"]
    assert sheet["H1"].value == "Kỳ trước" and sheet["H2"].value == datetime(2026, 11, 20)
    assert sheet["H2"].number_format == "dd/mm/yyyy" and sheet["I2"].value == 0.85
    assert exports.previous_text("date", comparison, "en") == (
        "each school day with the school day before (2026-11-20)"
    )


def test_xlsx_months_are_dates_and_percentages_keep_the_kpis_decimals() -> None:
    from openpyxl import load_workbook

    months = replace(RES, by="month", rows=(replace(RES.rows[1], key="2026-11", label="2026-11"),))
    before = Comparison(
        months, date(2026, 10, 1), date(2026, 10, 31), (Change(None, None, UNKNOWN, "2026-10"),)
    )
    sheet = load_workbook(io.BytesIO(exports.to_xlsx(KPI, replace(REQ, by="month"), months, before)))["data"]
    assert sheet["A2"].value == datetime(2026, 11, 1) and sheet["A2"].number_format == "mm/yyyy"
    assert sheet["H2"].value == datetime(2026, 10, 1) and sheet["H2"].number_format == "mm/yyyy"
    uptime = get_kpi("uptime")  # two decimals: 99.25 % stays 99.25 %, not 99.3 %
    sheet = load_workbook(io.BytesIO(exports.to_xlsx(uptime, replace(REQ, kpi="uptime"), RES)))["data"]
    assert sheet["C2"].number_format == "0.00%"
    speed = get_kpi("median_download_mbps")
    sheet = load_workbook(io.BytesIO(exports.to_xlsx(speed, replace(REQ, kpi="median_download_mbps"), RES)))[
        "data"
    ]
    assert sheet["C2"].number_format == "#,##0.0"


def test_parquet_keeps_numbers_and_describes_itself() -> None:
    table = pq.read_table(io.BytesIO(exports.to_parquet(KPI, REQ, RES)))
    assert table.column("value").to_pylist() == [0.95, 0.8, None]
    assert table.column("label").to_pylist()[0] == '=HYPERLINK("http://x")'  # not a spreadsheet: kept as is
    meta = {k.decode(): v.decode() for k, v in table.schema.metadata.items() if k.startswith(b"ioc.")}
    assert "Tỷ lệ chuyên cần (attendance_rate)" in meta.values()


def test_request_from_url_arguments_and_bad_ones() -> None:
    req = exports.ExportRequest.from_args(
        {
            "kpi": "uptime",
            "by": "ward",
            "district": "760",
            "to": "2026-11-23",
            "asof": "7",
            "chart": "line",
            "lang": "en",
        }
    )
    assert req.scope == Scope(district="760") and req.date_to == date(2026, 11, 23) and req.snapshot == 7
    assert req.query().kpi == "uptime" and req.lang == "en"
    for args, param in (
        ({"kpi": "nope"}, "kpi"),
        ({"kpi": "uptime", "by": "province"}, "by"),
        ({"kpi": "uptime", "to": "23/11/2026"}, "to"),
        ({"kpi": "uptime", "chart": "pie"}, "chart"),
        ({"kpi": "uptime", "asof": "nine"}, "asof"),
        ({"kpi": "uptime", "order": "random"}, "order"),
        ({"kpi": "uptime", "top": "-3"}, "top"),
    ):
        with pytest.raises(QueryError) as error:
            exports.ExportRequest.from_args(args)
        assert error.value.param == param


def test_png_and_svg_are_rendered_by_kaleido() -> None:
    png = exports.to_image(KPI, REQ, RES, "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    svg = exports.to_image(KPI, REQ, RES, "svg")
    text = svg.decode("utf-8") if isinstance(svg, bytes) else svg
    assert text.lstrip().startswith("<svg") and "Tỷ lệ chuyên cần" in text


def test_a_renderer_that_stops_answering_is_replaced(monkeypatch) -> None:
    """kaleido's sync server waits forever; a hung call is abandoned and tried on a fresh server."""
    import threading

    import kaleido

    from ioc import exports

    calls = []
    hang = threading.Event()

    def fake_calc(fig, opts=None):
        calls.append(opts)
        if len(calls) == 1:
            hang.wait(5)  # the first server never answers (within the test's short timeout)
        return b"\x89PNG fake"

    monkeypatch.setattr(kaleido, "calc_fig_sync", fake_calc)
    monkeypatch.setattr(exports, "start_kaleido", lambda: None)
    abandoned = []
    monkeypatch.setattr(exports, "_abandon_kaleido", lambda: abandoned.append(True))
    assert exports.render_image({}, {"format": "png"}, timeout=0.3) == b"\x89PNG fake"
    assert len(calls) == 2 and abandoned == [True]
    hang.set()


def test_a_renderer_that_never_answers_gives_a_clear_error(monkeypatch) -> None:
    import threading

    import kaleido

    from ioc import exports

    never = threading.Event()
    monkeypatch.setattr(kaleido, "calc_fig_sync", lambda fig, opts=None: never.wait(5))
    monkeypatch.setattr(exports, "start_kaleido", lambda: None)
    monkeypatch.setattr(exports, "_abandon_kaleido", lambda: None)
    with pytest.raises(RuntimeError, match="did not answer within 0 s, twice"):
        exports.render_image({}, {"format": "png"}, timeout=0.2)
    never.set()
