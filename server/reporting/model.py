"""What a report is: a title, its area and date, a summary and tables with Chinese headers.

Reports are computed into this shape once; the JSON API, CSV and XLSX writers only lay it out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .scope import Scope


@dataclass(frozen=True)
class Column:
    """One column: the row key, its Chinese header and how to format it."""

    key: str
    label: str
    #: ``text``, ``int``, ``money`` (yuan, two decimals), ``date`` or ``percent``.
    kind: str = "text"


@dataclass
class Table:
    key: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    #: The 合计 row, when summing the table means something.
    total: dict[str, Any] | None = None
    #: The XLSX sheet it goes on; tables naming the same sheet are stacked on it.
    sheet: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key, "title": self.title,
            "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in self.columns],
            "rows": self.rows}
        if self.total is not None:
            out["total"] = self.total
        return out


@dataclass(frozen=True)
class Figure:
    """One headline number of the summary."""

    key: str
    label: str
    value: Any
    #: How the XLSX summary formats it: ``int``, ``money`` or ``percent`` (as :class:`Column`).
    kind: str = "int"


@dataclass
class Report:
    name: str
    title: str
    scope: Scope
    area: str
    on: dt.date
    parameters: dict[str, Any]
    summary: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Set when ``on`` is after the policy's last day in force: ``last_day``, ``key`` (the
    #: configuration key that would extend it) and ``message``, shown at the top of every page
    #: and export (:meth:`.policy.Policy.end_notice`).
    policy_end: dict[str, str] | None = None

    @property
    def heading(self) -> str:
        return f"{self.area}{self.title}"

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)

    def to_json(self) -> dict[str, Any]:
        return {
            "report": self.name, "title": self.title, "heading": self.heading,
            "policy_end": self.policy_end,
            "scope": {**self.scope.to_json(), "name": self.area}, "on": self.on.isoformat(),
            "parameters": self.parameters,
            "summary": {f.key: f.value for f in self.summary},
            "summary_labels": {f.key: f.label for f in self.summary},
            "tables": [t.to_json() for t in self.tables], "notes": self.notes,
        }


def numbered_total(rows: list[dict[str, Any]], columns: list[Column],
                   label_key: str) -> dict[str, Any]:
    """A 合计 row summing the ``int`` and ``money`` columns of ``rows``."""
    total: dict[str, Any] = {label_key: "合计"}
    for column in columns:
        if column.kind in ("int", "money"):
            total[column.key] = sum(row.get(column.key) or 0 for row in rows)
    return total
