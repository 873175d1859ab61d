"""The area a report covers: one village, a township (9-digit prefix) or a county (6 digits)."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from typing import Callable

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
        raise ScopeError(f"{label}代码应为{length}位数字，而不是“{code}”")
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


@dataclass
class Area:
    """An area one can pick for a report, with its name; a township lists its villages."""

    kind: str
    code: str
    name: str
    #: Whether the user may read the whole area (a township is listed for its villages even
    #: when the user may read only some of them).
    whole: bool = True
    villages: list["Area"] = field(default_factory=list)

    @property
    def value(self) -> str:
        """How the area travels in a form: ``kind:code``."""
        return f"{self.kind}:{self.code}"


def _code_of(text: str, length: int) -> bool:
    return bool(_DIGITS.fullmatch(text)) and len(text) == length


def area_choices(conn: sqlite3.Connection, allowed: Callable[[str], bool],
                 scope_codes: list[str]) -> tuple[list[Area], list[Area]]:
    """What a user may pick: the counties they may read whole, and the townships (each with
    the villages in it they may read), with names from the village rows, sorted by code.
    ``allowed`` tells whether a village code is in the user's scope; ``scope_codes`` (the
    user's scope entries) adds areas that have no village row yet, named by their code."""
    names: dict[str, str] = {}
    villages: dict[str, str] = {}
    for code, county, township, name in conn.execute(
            "SELECT village_code, county, township, name FROM villages WHERE _deleted = 0"
            " ORDER BY village_code"):
        if not _code_of(code or "", 12):
            continue
        names.setdefault(code[:6], county or "")
        names.setdefault(code[:9], township or "")
        if allowed(code):
            villages[code] = name or code
    for code in scope_codes:
        if _code_of(code, 12) and allowed(code):
            villages.setdefault(code, code)

    def whole(code: str) -> bool:
        return allowed(code.ljust(12, "0")) and allowed(code.ljust(12, "9"))

    county_codes = {c[:6] for c in villages} | {c for c in scope_codes if _code_of(c, 6)}
    township_codes = {c[:9] for c in villages} | {c for c in scope_codes if _code_of(c, 9)}
    townships = {code: Area("township", code, names.get(code) or code, whole(code))
                 for code in sorted(township_codes)}
    for code in sorted(villages):
        townships[code[:9]].villages.append(Area("village", code, villages[code]))
    counties = [Area("county", code, names.get(code) or code)
                for code in sorted(county_codes) if whole(code)]
    return counties, [t for t in townships.values() if t.whole or t.villages]
