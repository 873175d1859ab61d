"""The policy reports: six ledgers computed in SQL over the server database (docs/reports.md).

:func:`run_report` computes one into a :class:`Report`; :mod:`.csv_export` and
:mod:`.xlsx_export` lay it out as the county's ledgers, the API and the command line serve it.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from types import ModuleType
from typing import Any

from client_kit.field_cipher import FieldCipher

from . import (early_warning, employment_scale, household_coverage, posts, subsidies,
               training)
from .model import Column, Figure, Report, Table
from .params import ReportInputError, parse_params
from .policy import Policy, PolicyError, load_policy
from .scope import Scope, ScopeError, parse_scope
from .sealed import open_id_numbers

_MODULES: tuple[ModuleType, ...] = (household_coverage, employment_scale, subsidies, posts,
                                    training, early_warning)
#: Report name to its title.
REPORTS: dict[str, str] = {m.NAME: m.TITLE for m in _MODULES}


def run_report(conn: sqlite3.Connection, name: str, scope: Scope, policy: Policy,
               on: dt.date, params: dict[str, Any] | None = None,
               cipher: FieldCipher | None = None) -> Report:
    """Compute report ``name`` for ``scope`` as of ``on``, in one read snapshot; ``cipher``
    (the server's data key) opens the ID numbers it prints."""
    module = next((m for m in _MODULES if m.NAME == name), None)
    if module is None:
        raise KeyError(name)
    conn.execute("BEGIN")
    try:
        report: Report = module.build(conn, scope, policy, on, dict(params or {}))
    finally:
        conn.execute("ROLLBACK")
    report.policy_end = policy.end_notice(on)
    return open_id_numbers(report, cipher)


__all__ = ["Column", "Figure", "Policy", "PolicyError", "REPORTS", "Report",
           "ReportInputError", "Scope", "ScopeError", "Table", "load_policy", "parse_params",
           "parse_scope", "run_report"]
