"""A report as one CSV ledger: UTF-8 with a byte-order mark, so Excel opens the Chinese right."""

from __future__ import annotations

import csv
import datetime as dt
import io

from .layout import Line, footer, heading, summary, table_lines
from .model import Report

MEDIA_TYPE = "text/csv; charset=utf-8"


def to_csv(report: Report, today: dt.date | None = None) -> bytes:
    lines: list[Line] = [*heading(report), *summary(report)]
    for table in report.tables:
        lines += [Line("blank", []), *table_lines(table)]
    lines += [Line("blank", []), *footer(report, today)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for line in lines:
        writer.writerow(line.cells)
    return ("\ufeff" + out.getvalue()).encode("utf-8")
