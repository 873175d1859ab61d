"""A report as an XLSX workbook laid out like the county's ledgers (openpyxl writes the file).

The first sheet is the summary; each table goes on the sheet it names (tables sharing a sheet
are stacked). Every sheet opens with the report's title merged across the table, the area and
date beneath, bold bordered headers frozen in place, and ends with the signature line.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from .layout import Line, footer, heading, summary, table_lines
from .model import Report, Table

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_THIN = Side(style="thin", color="000000")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_FORMATS = {"money": "#,##0.00", "int": "0", "percent": "0.0"}
_FONT = "宋体"
_INVALID = set('[]:*?/\\')


def _styles(book: Workbook) -> None:
    """Named styles for the table cells: assigning a name is far cheaper than styling each
    cell attribute by attribute (a county's list has tens of thousands of rows)."""
    for bold in (False, True):
        for kind in ("text", *_FORMATS):
            style = NamedStyle(f"ledger_{kind}{'_bold' if bold else ''}",
                               font=Font(name=_FONT, bold=bold), border=_BOX,
                               number_format=_FORMATS.get(kind, "General"))
            book.add_named_style(style)
    book.add_named_style(NamedStyle(
        "ledger_header", font=Font(name=_FONT, bold=True), border=_BOX,
        fill=PatternFill("solid", fgColor="DDDDDD"),
        alignment=Alignment(horizontal="center", vertical="center", wrap_text=True)))


def to_xlsx(report: Report, today: dt.date | None = None) -> bytes:
    book = Workbook()
    _styles(book)
    first = book.active
    assert first is not None
    first.title = "汇总"
    _write(first, [*heading(report), Line("blank", []), *summary(report), Line("blank", []),
                   *footer(report, today)], width=2)
    sheets: dict[str, list[Table]] = {}
    for table in report.tables:
        sheets.setdefault(_sheet_name(table.sheet or table.title), []).append(table)
    for name, tables in sheets.items():
        lines: list[Line] = heading(report)
        for table in tables:
            lines += [Line("blank", []), *table_lines(table)]
        lines += [Line("blank", []), *footer(report, today)]
        width = max(len(t.columns) + 1 for t in tables)
        _write(book.create_sheet(name), lines, width)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_name(title: str) -> str:
    return "".join(ch for ch in title if ch not in _INVALID)[:31] or "表"


def _write(sheet: Worksheet, lines: list[Line], width: int) -> None:
    widths: dict[int, int] = {}
    frozen = False
    for r, line in enumerate(lines, 1):
        if line.kind in ("title", "section", "meta"):
            text = "    ".join(line.cells) if line.kind == "meta" else line.cells[0]
            cell = sheet.cell(r, 1, text)
            cell.font = Font(name=_FONT, bold=line.kind != "meta",
                             size={"title": 16, "section": 12}.get(line.kind, 11))
            if line.kind == "title":
                cell.alignment = Alignment(horizontal="center")
            if width > 1 and line.kind != "section":
                sheet.merge_cells(start_row=r, start_column=1, end_row=r, end_column=width)
            continue
        for c, value in enumerate(line.cells, 1):
            cell = sheet.cell(r, c, value)
            if line.columns is None:
                continue
            if line.kind == "header":
                cell.style = "ledger_header"
            else:
                kind = line.columns[c - 1].kind if c <= len(line.columns) else "text"
                kind = kind if kind in _FORMATS and isinstance(value, (int, float)) else "text"
                cell.style = f"ledger_{kind}{'_bold' if line.kind == 'total' else ''}"
            widths[c] = max(widths.get(c, 4), _display_width(value))
        if line.kind == "header" and not frozen:
            sheet.freeze_panes = sheet.cell(r + 1, 1)
            frozen = True
    for c, w in widths.items():
        sheet.column_dimensions[get_column_letter(c)].width = min(max(w + 2, 6), 40)


def _display_width(value: Any) -> int:
    """Columns fit their text: a Chinese character is about two Latin ones wide."""
    text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
