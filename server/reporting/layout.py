"""A report as the lines of a county ledger: title, area and date, headers with 序号, rows, a
合计 row, notes and the signature line. The CSV and XLSX writers share it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from client_kit.domain import enums

from .model import Column, Report, Table

PARAMETER_LABELS = {"base": "基期", "kind": "补贴类型", "month": "考勤月份",
                    "start": "签到起始日期", "end": "签到截止日期", "days": "预警天数",
                    "since": "起算日期"}
SCOPE_LABELS = {"village": "村", "township": "乡镇", "county": "县"}


@dataclass(frozen=True)
class Line:
    #: title, meta, summary, section, header, row, empty (a table without rows), total, note,
    #: blank or footer
    kind: str
    cells: list[Any]
    columns: list[Column] | None = None


def heading(report: Report) -> list[Line]:
    meta = [f"统计范围：{report.area}（{SCOPE_LABELS[report.scope.kind]}，{report.scope.code}）",
            f"统计日期：{report.on.isoformat()}"]
    for key, value in report.parameters.items():
        if value is not None:
            shown = enums.SUBSIDY_KIND.get(value, value) if key == "kind" else value
            meta.append(f"{PARAMETER_LABELS.get(key, key)}：{shown}")
    # The policy's end comes right under the title: the first thing a reader sees.
    end = [Line("meta", [report.policy_end["message"]])] if report.policy_end else []
    return [Line("title", [report.heading]), *end, Line("meta", meta)]


def summary(report: Report) -> list[Line]:
    return [Line("summary", [f.label, f.value]) for f in report.summary]


def table_lines(table: Table) -> list[Line]:
    columns = [Column("_no", "序号", "int"), *table.columns]
    lines = [Line("section", [table.title]),
             Line("header", [c.label for c in columns], columns)]
    for number, row in enumerate(table.rows, 1):
        lines.append(Line("row", [number, *(_cell(row.get(c.key)) for c in table.columns)],
                          columns))
    if not table.rows:
        lines.append(Line("empty", ["", "（无）"], columns))
    if table.total is not None:
        lines.append(Line("total", ["", *(_cell(table.total.get(c.key))
                                          for c in table.columns)], columns))
    return lines


def notes(report: Report) -> list[Line]:
    return [Line("note", [f"说明：{note}"]) for note in report.notes]


def signature(today: dt.date | None = None) -> Line:
    filled = (today or dt.date.today()).isoformat()
    return Line("footer", ["填表人：", "", "审核人：", "", f"填报日期：{filled}"])


def footer(report: Report, today: dt.date | None = None) -> list[Line]:
    """The notes, then the signature line."""
    return [*notes(report), signature(today)]


def _cell(value: Any) -> Any:
    return "" if value is None else value
