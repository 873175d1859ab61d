"""The files the server hands out (CSV ledgers, XLSX workbooks): what a user sees when they open
them in Excel, and what they hand in on paper."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook, load_workbook

from reports_county import COUNTY, V1, V2, County
from server.reporting.cells import FORMULA_START, csv_bytes, xlsx_cell
from server.reporting.files import render

HYPERLINK = '=HYPERLINK("http://e.invalid","点")'
CALC = "+cmd|' /C calc'!A0"
AT = "@SUM(1+1)*cmd|' /C calc'!A0"
MINUS = "-2+3+cmd|' /C calc'!A0"
TAB = "\t=1+1"


@pytest.fixture
def county(tmp_path):
    """A household whose head's name and address are formulas, with nobody at work (so it is
    on the 零就业 list with its head and members), and one with a worker."""
    c = County(tmp_path)
    zero = c.household(V1, HYPERLINK, ["tuopin"], address=AT, household_no="0012")
    c.people = {"head": c.person(zero, CALC, categories=["tuopin"], relation="head"),
                "child": c.person(zero, MINUS, categories=["tuopin"])}
    c.idle(c.people["head"])
    other = c.household(V2, "李四", ["tuopin"])
    c.people["worker"] = c.person(other, TAB, categories=["tuopin"], relation="head")
    c.employed(c.people["worker"])
    yield c
    c.close()


def csv_rows(report):
    body, media_type = render(report, "csv")
    assert media_type == "text/csv; charset=utf-8"
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte-order mark (docs/reports.md)
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def workbook(report):
    body, _ = render(report, "xlsx")
    return load_workbook(io.BytesIO(body))


def cells(book):
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.value is not None:
                    yield sheet, cell


# -- formula injection (issue 13) ------------------------------------------------------------

def test_a_formula_typed_as_a_name_is_a_text_cell_in_the_xlsx(county):
    book = workbook(county.report("household-coverage", "2025-12-31", county=COUNTY))
    found = {cell.value: cell for _, cell in cells(book)}
    for payload in (HYPERLINK, CALC, MINUS):
        assert found[payload].data_type == "s"
    assert not [cell.coordinate for _, cell in cells(book) if cell.data_type == "f"]


def test_every_user_string_in_every_report_is_text_in_the_xlsx(county):
    for name in ("household-coverage", "early-warning", "employment-scale", "posts",
                 "subsidies", "training"):
        book = workbook(county.report(name, "2025-12-31", county=COUNTY))
        assert not [(sheet.title, cell.coordinate) for sheet, cell in cells(book)
                    if cell.data_type == "f"], name


def test_a_formula_typed_as_a_name_is_neutralised_in_the_csv(county):
    rows = csv_rows(county.report("household-coverage", "2025-12-31", county=COUNTY))
    flat = [cell for row in rows for cell in row]
    for payload in (HYPERLINK, CALC, MINUS):
        assert "'" + payload in flat
    live = [cell for cell in flat if cell.startswith(FORMULA_START)
            and not (cell.startswith('="') and cell[2:-1].isdigit())]
    assert live == []


def test_csv_cells_starting_with_at_tab_or_return_are_neutralised():
    body = csv_bytes([[AT, TAB, "\r=1+1", "-", "普通", 3, -5, 2.5, None]])
    (row,) = csv.reader(io.StringIO(body.decode("utf-8-sig")))
    assert row == ["'" + AT, "'" + TAB, "'\r=1+1", "'-", "普通", "3", "-5", "2.5", ""]


def test_numbers_stay_numbers_in_both_formats(county):
    report = county.report("household-coverage", "2025-12-31", county=COUNTY)
    rows = csv_rows(report)
    by_village = next(r for r in rows if r[1:2] == ["青山镇白岩村"])
    assert by_village[2:5] == ["1", "0", "1"]
    book = workbook(report)
    sheet = book["分村统计"]
    row = next(r for r in sheet.iter_rows() if r[1].value == "青山镇白岩村")
    assert [c.value for c in row[2:5]] == [1, 0, 1] and row[2].data_type == "n"


def test_the_xlsx_writer_keeps_error_codes_as_text_and_drops_characters_xml_cannot_hold():
    book = Workbook()
    sheet = book.active
    assert xlsx_cell(sheet, 1, 1, "#N/A").data_type == "s"
    assert xlsx_cell(sheet, 1, 2, "张\x01三").value == "张三"
    out = io.BytesIO()
    book.save(out)
    again = load_workbook(out).active
    assert (again["A1"].value, again["A1"].data_type, again["B1"].value) == ("#N/A", "s", "张三")


# -- CSV ledgers in Excel (issue 12, item 12) ----------------------------------------------

def test_csv_id_numbers_and_codes_keep_every_digit_in_excel(county):
    rows = csv_rows(county.report("household-coverage", "2025-12-31", county=COUNTY))
    header = next(r for r in rows if "身份证号" in r)
    members = rows[rows.index(header) + 1:rows.index(header) + 3]
    column = header.index("身份证号")
    for member in members:
        shown = member[column]
        # Excel evaluates ="…" to the text inside: 18 digits, not 5.22731E+17.
        assert shown.startswith('="') and shown.endswith('"') and len(shown[2:-1]) == 18
        assert shown[2:-1].isdigit() or shown[2:-2].isdigit() and shown[-2] == "X"
    assert members[0][header.index("户编号")] == '="0012"'  # the leading zeros stay


def test_an_empty_table_says_none_under_its_header_and_then_its_total(county):
    rows = csv_rows(county.report("posts", "2025-12-31", county=COUNTY))
    header = next(i for i, r in enumerate(rows) if r[:2] == ["序号", "村"] and "岗位名称" in r)
    assert rows[header - 1] == ["在岗人员花名册（2025-12-31）"]
    assert rows[header + 1][:2] == ["", "（无）"]
    assert rows[header + 2][1] == "合计（0人）"


# -- XLSX ready to hand in (issue 12, item 13) ---------------------------------------------

@pytest.fixture
def posts_county(county):
    """Two posts in V1 with a few days of attendance in March 2026."""
    post = {name: county.add("post", village_code=V1, name=name, monthly_pay=pay,
                             created_on="2025-01-01")
            for name, pay in (("护林员", 600), ("保洁员", 550.5))}
    for who, where in (("head", "护林员"), ("child", "保洁员")):
        county.add("appointment", post_id=post[where], person_id=county.people[who],
                   start_date="2026-01-01", end_date="2026-12-31", accident_insurance=True,
                   status="active")
    for day, head, child in (("2026-03-01", "on_post", "on_post"),
                             ("2026-03-02", "on_post", "absent"),
                             ("2026-03-03", "leave", "on_post")):
        county.add("attendance", post_id=post["护林员"], day=day,
                   person_id=county.people["head"], status=head)
        county.add("attendance", post_id=post["保洁员"], day=day,
                   person_id=county.people["child"], status=child)
    return county


def test_every_sheet_prints_landscape_fitted_to_width_with_its_header_repeated(posts_county):
    book = workbook(posts_county.report("posts", "2026-03-15", county=COUNTY))
    for sheet in book.worksheets:
        assert sheet.page_setup.orientation == "landscape", sheet.title
        assert sheet.page_setup.fitToWidth == 1 and sheet.page_setup.fitToHeight == 0
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert str(sheet.page_setup.paperSize) == sheet.PAPERSIZE_A4
        assert "&P" in sheet.oddFooter.center.text  # numbered pages
        margins = sheet.page_margins
        assert margins.bottom - margins.footer >= 0.4  # room for the page number
    roster = book["花名册"]
    header = next(r[0].row for r in roster.iter_rows() if r[0].value == "序号")
    assert roster.print_title_rows == f"${header}:${header}"
    assert roster.freeze_panes == f"A{header + 1}"


def test_one_font_throughout_and_column_widths_on_the_summary(posts_county):
    book = workbook(posts_county.report("posts", "2026-03-15", county=COUNTY))
    assert {cell.font.name for _, cell in cells(book)} == {"宋体"}
    summary = book["汇总"]
    label_width = summary.column_dimensions["A"].width
    assert label_width >= len("未购买意外伤害保险（人）") * 2 * 0.9


def test_totals_are_numbers_and_money_is_formatted_as_documented(posts_county):
    book = workbook(posts_county.report("posts", "2026-03-15", county=COUNTY))
    roster = book["花名册"]
    header = [c.value for c in next(r for r in roster.iter_rows() if r[0].value == "序号")]
    pay = header.index("月补贴标准（元）")
    total = next(r for r in roster.iter_rows() if str(r[1].value).startswith("合计"))
    assert total[pay].value == 1150.5 and total[pay].number_format == "#,##0.00"
    first = next(r for r in roster.iter_rows() if r[0].value == 1)
    assert first[pay].number_format == "#,##0.00"


def test_the_monthly_sheet_total_row_is_filled(posts_county):
    book = workbook(posts_county.report("posts", "2026-03-15", county=COUNTY))
    sheet = book["月度考勤"]
    header = [c.value for c in next(r for r in sheet.iter_rows() if r[0].value == "序号")]
    total = [c for c in next(r for r in sheet.iter_rows() if r[1].value == "合计")]
    at = {label: total[i] for i, label in enumerate(header)}
    assert [at[f"{d}日"].value for d in (1, 2, 3, 4)] == [2, 1, 1, None]  # on post that day
    assert (at["在岗天数"].value, at["缺勤天数"].value, at["请假天数"].value) == (4, 1, 1)
    assert at["月补贴标准（元）"].value == 1150.5
    assert at["月补贴标准（元）"].number_format == "#,##0.00"


def test_summary_money_is_formatted_and_notes_are_printed_once(county):
    book = workbook(county.report("subsidies", "2026-06-30", county=COUNTY))
    summary = book["汇总"]
    money = [row[1] for row in summary.iter_rows() if str(row[0].value).endswith("（元）")]
    assert money and all(c.number_format == "#,##0.00" and c.data_type == "n" for c in money)
    notes = [(sheet.title, cell.value) for sheet, cell in cells(book)
             if str(cell.value).startswith("说明：")]
    assert notes and {title for title, _ in notes} == {"汇总"}
    assert len(notes) == len({text for _, text in notes})
