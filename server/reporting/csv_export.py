"""A report as one CSV ledger: UTF-8 with a byte-order mark, so Excel opens the Chinese right;
cells written by :mod:`.cells` (text stays text, ID numbers keep their digits)."""

from __future__ import annotations

import datetime as dt

from .cells import CSV_MEDIA_TYPE, csv_bytes
from .layout import Line, footer, heading, summary, table_lines
from .model import Report

MEDIA_TYPE = CSV_MEDIA_TYPE


def to_csv(report: Report, today: dt.date | None = None) -> bytes:
    lines: list[Line] = [*heading(report), *summary(report)]
    for table in report.tables:
        lines += [Line("blank", []), *table_lines(table)]
    lines += [Line("blank", []), *footer(report, today)]
    return csv_bytes(line.cells for line in lines)
