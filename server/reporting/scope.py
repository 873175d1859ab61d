"""The area a report covers: one village, a township (9-digit prefix) or a county (6 digits)."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

KINDS = {"village": (12, "村"), "township": (9, "乡镇"), "county": (6, "县")}
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: \d also matches full-width digits


class ScopeError(ValueError):
    """The area is not given as exactly one well-formed code."""


@dataclass(frozen=True)
class Scope:
    kind: str
    code: str

    @property
    def low(self) -> str:
        """The first 12-digit village code inside the area (for an indexed range)."""
        return self.code.ljust(12, "0")

    @property
    def high(self) -> str:
        return self.code.ljust(12, "9")

    def contains(self, village_code: str) -> bool:
        return village_code.startswith(self.code)

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "code": self.code}


def parse_scope(village: str | None = None, township: str | None = None,
                county: str | None = None) -> Scope:
    """The one area given; :class:`ScopeError` unless exactly one code of the right length."""
    given = [(kind, code) for kind, code in
             (("village", village), ("township", township), ("county", county)) if code]
    if len(given) != 1:
        raise ScopeError("请指定一个统计范围：village（12位村代码）、township（9位乡镇代码）"
                         "或 county（6位县代码）之一")
    kind, code = given[0]
    length, label = KINDS[kind]
    if not _DIGITS.fullmatch(code) or len(code) != length:
        raise ScopeError(f"{label}代码应为{length}位数字，而不是 {code!r}")
    return Scope(kind, code)


def is_known(conn: sqlite3.Connection, scope: Scope) -> bool:
    """Whether the server knows a village inside the area (an unknown code is a typo, not an
    area without data)."""
    return conn.execute(
        "SELECT 1 FROM villages WHERE _deleted = 0 AND village_code BETWEEN ? AND ? LIMIT 1",
        (scope.low, scope.high)).fetchone() is not None


def area_name(conn: sqlite3.Connection, scope: Scope) -> str:
    """The area's Chinese name, from the village rows in it (the code when none is known)."""
    row = conn.execute(
        "SELECT county, township, name FROM villages WHERE _deleted = 0"
        " AND village_code BETWEEN ? AND ? ORDER BY village_code LIMIT 1",
        (scope.low, scope.high)).fetchone()
    if row is None:
        return scope.code
    county, township, village = row
    parts = {"county": [county], "township": [county, township],
             "village": [county, township, village]}[scope.kind]
    return "".join(p for p in parts if p) or scope.code


def village_names(conn: sqlite3.Connection, scope: Scope) -> dict[str, str]:
    """Village code to name (乡镇 + 村) for the villages in the area."""
    return {code: f"{township or ''}{name or ''}" or code for code, township, name in conn.execute(
        "SELECT village_code, township, name FROM villages WHERE _deleted = 0"
        " AND village_code BETWEEN ? AND ?", (scope.low, scope.high))}
