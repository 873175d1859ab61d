"""SQL pieces the reports share: date arithmetic that matches the domain's, category tests,
policy periods as a table, and the read-only connection the reports run on.

Dates are ISO text, so they compare and index as text. SQLite's own ``'+N months'`` rolls an
overflowing day into the next month (30 November + 3 months = 2 March); months here clamp to
the month's last day instead, as the civil code counts periods (and as
``client_kit.domain.schemas.add_years`` does).
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable

from .policy import Period


def add_months(expr: str, months: int) -> str:
    """SQL for the date ``months`` after the date ``expr``, clamped to the month's last day."""
    n = int(months)
    return (f"(CASE WHEN strftime('%d', date({expr}, '+{n} months')) = strftime('%d', {expr})"
            f" THEN date({expr}, '+{n} months')"
            f" ELSE date({expr}, 'start of month', '+{n + 1} months', '-1 day') END)")


def one_year_end(expr: str) -> str:
    """SQL for :func:`client_kit.domain.schemas.one_year_end`: the last day of a contract of
    exactly one year starting on ``expr`` (from 29 February, the next 28 February: SQLite's
    own year step rolls it to 1 March, and the day before is that)."""
    return f"date({expr}, '+1 year', '-1 day')"


def has_any(column: str, codes: Iterable[str]) -> str:
    """SQL true when the JSON code list in ``column`` holds one of ``codes``.

    Code lists are stored as JSON arrays of ASCII codes, so a quoted code found in the text is
    an exact match; ``instr`` is much cheaper than ``json_each`` on every row.
    """
    tests = [f"instr({column}, '\"{_code(c)}\"') > 0" for c in codes]
    return "(" + " OR ".join(tests or ["0"]) + ")"


def in_list(column: str, codes: Iterable[str]) -> str:
    """SQL ``column IN (...)`` for codes from configuration (validated against the enums)."""
    return f"{column} IN ({', '.join(repr(_code(c)) for c in codes) or 'NULL'})"


def _code(code: str) -> str:
    if not code.replace("_", "").isalnum() or not code.isascii():
        raise ValueError(f"not a code: {code!r}")
    return code


def periods_cte(name: str, periods: Iterable[Period], amount_keys: tuple[str, ...]
                ) -> tuple[str, dict[str, Any]]:
    """A ``WITH`` table ``name(start, end_, <amount keys>)`` of a rule's effective periods, and
    its named parameters."""
    values, params = [], {}
    for i, p in enumerate(periods):
        cells = {"start": p.start.isoformat(), "end": p.end.isoformat(),
                 **{k: p.amounts[k] for k in amount_keys}}
        values.append("(" + ", ".join(f":{name}{i}_{k}" for k in cells) + ")")
        params.update({f"{name}{i}_{k}": v for k, v in cells.items()})
    columns = ", ".join(("start", "end_", *amount_keys))
    return f"{name}({columns}) AS (VALUES {', '.join(values)})", params


def open_reader(storage_url: str) -> sqlite3.Connection:
    """A read-only connection to the server database named by ``storage_url``."""
    prefix = "sqlite:///"
    if not storage_url.startswith(prefix):
        raise ValueError(f"reports need the SQLite backend, not {storage_url!r}")
    return reader(sqlite3.connect(storage_url[len(prefix):], isolation_level=None,
                                  check_same_thread=False))


def reader(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Make ``conn`` refuse writes: a report can never change the data it reads."""
    conn.execute("PRAGMA query_only = ON")
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def on_post(alias: str, day: str = ":on") -> str:
    """SQL true when appointment ``alias`` holds its public-welfare post on ``day``: its term
    has started, has not run past its last day (the day the holder left, else the contract's
    end), and it is active or ended on or after that day. A post is work (clause 十三,
    在岗领补), so every employment count counts such a holder as employed."""
    a = alias
    return (f"({a}._deleted = 0 AND {a}.start_date <= {day}"
            f" AND coalesce({a}.ended_on, {a}.end_date) >= {day}"
            f" AND ({a}.status = 'active' OR {a}.ended_on >= {day}))")
