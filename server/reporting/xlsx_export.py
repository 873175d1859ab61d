"""A report as an XLSX workbook laid out like the county's ledgers, ready to print and hand in
(openpyxl writes the file; every cell through :func:`.cells.xlsx_cell`).

The first sheet is the summary (its figures, the notes, the signature line); each table goes
on the sheet it names (tables sharing a sheet are stacked). Every sheet opens with the report's
title merged across the table and the area and date beneath; headers are bold, boxed and
frozen; money is ``#,##0.00``; the whole book is in one font (宋体). Every sheet prints
landscape on A4, fitted to the page's width, with a table's header row repeated on each page.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.utils.indexed_list import IndexedList
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from .cells import xlsx_cell
from .layout import Line, heading, notes, signature, summary, table_lines
from .model import Report, Table

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_THIN = Side(style="thin", color="000000")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
#: Number formats by column kind (docs/reports.md).
FORMATS = {"money": "#,##0.00", "int": "0", "percent": "0.0"}
FONT = "宋体"
_BASE_FONT = Font(name=FONT, sz=11, family=3, charset=134)  # charset 134: GB2312
_INVALID = set('[]:*?/\\')
_SIZES = {"title": 16, "section": 12}


def _styles(book: Workbook) -> None:
    """One font for the whole book, and named styles for the cells: assigning a name is far
    cheaper than styling each cell attribute by attribute (a county's list has tens of
    thousands of rows)."""
    # The book's default font (empty cells, column width units) is 宋体 too, not Calibri.
    book._fonts = IndexedList([_BASE_FONT])  # noqa: SLF001  (openpyxl has no public setter)
    book._named_styles["Normal"].font = _BASE_FONT  # noqa: SLF001
    for bold in (False, True):
        suffix = "_bold" if bold else ""
        for kind in ("text", *FORMATS):
            book.add_named_style(NamedStyle(
                f"ledger_{kind}{suffix}", font=Font(name=FONT, bold=bold), border=_BOX,
                number_format=FORMATS.get(kind, "General"),
                alignment=Alignment(vertical="center", wrap_text=kind == "text")))
            book.add_named_style(NamedStyle(
                f"plain_{kind}{suffix}", font=Font(name=FONT, bold=bold),
                number_format=FORMATS.get(kind, "General"),
                alignment=Alignment(horizontal="left") if kind != "text" else Alignment()))
    book.add_named_style(NamedStyle(
        "ledger_header", font=Font(name=FONT, bold=True), border=_BOX,
        fill=PatternFill("solid", fgColor="DDDDDD"),
        alignment=Alignment(horizontal="center", vertical="center", wrap_text=True)))
    book.add_named_style(NamedStyle(
        "ledger_empty", font=Font(name=FONT), border=_BOX,
        alignment=Alignment(horizontal="center")))
    book.add_named_style(NamedStyle(
        "ledger_title", font=Font(name=FONT, bold=True, size=_SIZES["title"]),
        alignment=Alignment(horizontal="center", vertical="center")))
    book.add_named_style(NamedStyle(
        "ledger_section", font=Font(name=FONT, bold=True, size=_SIZES["section"])))


def to_xlsx(report: Report, today: dt.date | None = None) -> bytes:
    book = Workbook()
    _styles(book)
    first = book.active
    assert first is not None
    first.title = "汇总"
    _write(first, [*heading(report), Line("blank", []), *summary(report), Line("blank", []),
                   *notes(report), signature(today)],
           width=len(signature(today).cells), kinds=[f.kind for f in report.summary])
    sheets: dict[str, list[Table]] = {}
    for table in report.tables:
        sheets.setdefault(_sheet_name(table.sheet or table.title), []).append(table)
    for name, tables in sheets.items():
        lines: list[Line] = heading(report)
        for table in tables:
            lines += [Line("blank", []), *table_lines(table)]
        lines += [Line("blank", []), signature(today)]
        width = max(len(t.columns) + 1 for t in tables)
        _write(book.create_sheet(name), lines, width, repeat_header=len(tables) == 1)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_name(title: str) -> str:
    return "".join(ch for ch in title if ch not in _INVALID)[:31] or "表"


def _write(sheet: Worksheet, lines: list[Line], width: int, *, kinds: list[str] | None = None,
           repeat_header: bool = False) -> None:
    """Lay ``lines`` out on ``sheet`` (``width`` columns wide); ``kinds`` are the number kinds
    of the summary lines, in order."""
    widths: dict[int, int] = {}
    wrapped: list[tuple[int, int]] = []  # merged lines of text: row, display width
    header_rows: list[tuple[int, list[Any]]] = []
    header_row = 0
    figure_kinds = iter(kinds or [])
    for r, line in enumerate(lines, 1):
        if line.kind in ("title", "section", "meta", "note"):
            text = "    ".join(line.cells) if line.kind == "meta" else line.cells[0]
            cell = xlsx_cell(sheet, r, 1, text)
            cell.style = {"title": "ledger_title", "section": "ledger_section"}.get(
                line.kind, "plain_text")
            if line.kind == "title":
                sheet.row_dimensions[r].height = 26  # room for the larger font
            if width > 1 and line.kind != "section":
                sheet.merge_cells(start_row=r, start_column=1, end_row=r, end_column=width)
            if line.kind in ("meta", "note"):
                wrapped.append((r, _display_width(text)))
            continue
        if line.kind == "empty" and line.columns is not None:
            for c in range(1, len(line.columns) + 1):
                xlsx_cell(sheet, r, c, line.cells[c - 1] if c <= len(line.cells) else None
                          ).style = "ledger_empty"
            sheet.merge_cells(start_row=r, start_column=2, end_row=r,
                              end_column=len(line.columns))
            continue
        figure_kind = next(figure_kinds, "text") if line.kind == "summary" else "text"
        for c, value in enumerate(line.cells, 1):
            cell = xlsx_cell(sheet, r, c, value)
            kind = figure_kind if c == 2 else "text"
            if line.columns is None:
                number = kind in FORMATS and isinstance(value, (int, float))
                cell.style = f"plain_{kind if number else 'text'}"
            elif line.kind == "header":
                cell.style = "ledger_header"
            else:
                kind = line.columns[c - 1].kind if c <= len(line.columns) else "text"
                kind = kind if kind in FORMATS and isinstance(value, (int, float)) else "text"
                cell.style = f"ledger_{kind}{'_bold' if line.kind == 'total' else ''}"
            if line.kind != "footer" or line.columns is None and kinds is not None:
                wide = (_header_width(value) if line.kind == "header"
                        else _display_width(value, kind))
                widths[c] = max(widths.get(c, 4), wide)
        if line.kind == "header":
            header_rows.append((r, line.cells))
            if not header_row:
                header_row = r
                sheet.freeze_panes = sheet.cell(r + 1, 1)
    for c, w in widths.items():
        sheet.column_dimensions[get_column_letter(c)].width = _column_width(w)
    across = sum(_column_width(widths.get(c, 8)) for c in range(1, width + 1))
    for r, text_width in wrapped:
        _fit_height(sheet, r, text_width, across)
    for r, labels in header_rows:
        # Headers wrap inside their column; the row grows to the tallest (spreadsheets read
        # from a file do not always grow it themselves).
        tallest = max(-(-_display_width(label) * 11 // 10
                        // max(_column_width(widths.get(c, 4)) - 1, 1))
                      for c, label in enumerate(labels, 1))
        sheet.row_dimensions[r].height = 15 * max(tallest, 1)
    _print_setup(sheet, header_row if repeat_header else 0)


def _print_setup(sheet: Worksheet, header_row: int) -> None:
    """Landscape A4 fitted to the page's width (as many pages down as it takes), centred, with
    the header row repeated on every page."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.4
    sheet.page_margins.top = sheet.page_margins.bottom = 0.75  # inches; the page number
    sheet.page_margins.header = sheet.page_margins.footer = 0.3  # sits in the bottom margin
    sheet.oddFooter.center.text = "第 &P 页，共 &N 页"
    if header_row:
        sheet.print_title_rows = f"{header_row}:{header_row}"


def _column_width(text_width: int) -> int:
    return min(max(text_width + 2, 4), 40)


def _fit_height(sheet: Worksheet, row: int, text_width: int, sheet_width: int) -> None:
    """A merged line of text wraps to as many lines as it needs (spreadsheets do not grow a
    merged row by themselves)."""
    lines = max(1, -(-text_width // max(sheet_width - 2, 1)))
    if lines > 1:
        cell = sheet.cell(row, 1)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        sheet.row_dimensions[row].height = 15 * lines


def _header_width(label: Any) -> int:
    """A header may wrap onto two lines: its column needs about half its width (and a
    little more, so that a line does not break before a lone closing bracket)."""
    return -(-_display_width(label) // 2) + 2


def _display_width(value: Any, kind: str = "text") -> int:
    """Columns fit their text: a Chinese character is about two Latin ones wide; money shows
    its thousands separator and two decimals."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,.2f}" if kind == "money" else str(value)
    elif isinstance(value, float):
        text = f"{value:,.2f}" if kind == "money" else f"{value:.1f}"
    else:
        text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
