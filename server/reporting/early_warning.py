"""就业转失业预警 (clause 十六): members who went from employed to not employed in the last N
days, with no visit to their household recorded since.

The change log tells the switch: the last entry that set the status to 未就业, preceded by an
entry that set it to 已就业. The day it happened is the status date the team recorded
(``status_since``), else the local day the server received the switch. N is the report's
``days`` parameter (default: ``[early_warning] days`` of the policy file); the window is the N
days ending on the report day, both ends included. A member holding a public-welfare post on
the report day is at work (clause 十三, :func:`.sql.on_post`) and is not warned about.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

from client_kit.domain import enums

from .history import local_date
from .labels import label, labels
from .model import Column, Figure, Report, Table
from .policy import Policy
from .scope import Scope, area_name, village_names
from .sql import on_post

NAME = "early-warning"
TITLE = "就业转失业预警名单"

_STATUS = "json_extract({0}.fields, '$.status')"
_WARNINGS = f"""
WITH idle AS (
    SELECT e.id, e.person_id, e.village_code, e.status_since, e.not_working_reason,
           (SELECT max(l.cursor) FROM change_log l
            WHERE l.record_type = 'employment' AND l.row_id = e.id
              AND {_STATUS.format('l')} = 'not_employed') AS switch
    FROM employments e
    WHERE e._deleted = 0 AND e.status = 'not_employed' AND e.village_code BETWEEN :lo AND :hi
      AND (e.status_since IS NULL OR e.status_since BETWEEN :since AND :on)
), switched AS (
    SELECT i.*, coalesce(i.status_since, {local_date('sw.at')}) AS since_day,
           (SELECT coalesce(json_extract(b.fields, '$.employer'), '') || char(31)
                   || coalesce(json_extract(b.fields, '$.destination'), '')
            FROM change_log b
            WHERE b.record_type = 'employment' AND b.row_id = i.id AND b.cursor < i.switch
              AND {_STATUS.format('b')} IS NOT NULL
            ORDER BY b.cursor DESC LIMIT 1) AS before,
           (SELECT {_STATUS.format('b')} FROM change_log b
            WHERE b.record_type = 'employment' AND b.row_id = i.id AND b.cursor < i.switch
              AND {_STATUS.format('b')} IS NOT NULL
            ORDER BY b.cursor DESC LIMIT 1) AS status_before
    FROM idle i JOIN change_log sw ON sw.cursor = i.switch
)
SELECT w.village_code, p.id, p.name, p.id_number, p.categories, h.head_name, h.address,
       w.since_day, w.not_working_reason, w.before,
       (SELECT max(v.visit_date) FROM visits v
        WHERE v.household_id = p.household_id AND v._deleted = 0) AS last_visit
FROM switched w
JOIN persons p ON p.id = w.person_id AND p._deleted = 0
LEFT JOIN households h ON h.id = p.household_id
WHERE w.status_before = 'employed' AND w.since_day BETWEEN :since AND :on
  AND NOT EXISTS (SELECT 1 FROM appointments ap WHERE ap.person_id = p.id
                  AND {on_post("ap")})
  AND NOT EXISTS (SELECT 1 FROM visits v WHERE v.household_id = p.household_id
                  AND v._deleted = 0 AND v.visit_date >= w.since_day)
ORDER BY w.since_day, w.village_code, p.name"""

COLUMNS = [
    Column("village", "村"), Column("name", "姓名"), Column("id_number", "身份证号"),
    Column("categories", "人员类别"), Column("head_name", "户主"), Column("address", "住址"),
    Column("previous", "原就业情况"), Column("since", "转为未就业日期", "date"),
    Column("days_ago", "距今天数", "int"), Column("reason", "未就业原因"),
    Column("last_visit", "最近走访日期", "date"),
]


def build(conn: sqlite3.Connection, scope: Scope, policy: Policy, on: dt.date,
          params: dict[str, Any]) -> Report:
    days = params.get("days") or policy.early_warning_days
    since = on - dt.timedelta(days=days - 1)
    names = village_names(conn, scope)
    rows = []
    for (code, person_id, name, id_number, categories, head, address, since_day, reason,
         before, last_visit) in conn.execute(_WARNINGS, {
             "lo": scope.low, "hi": scope.high, "since": since.isoformat(),
             "on": on.isoformat()}):
        employer, _, destination = (before or "").partition(chr(31))
        previous = "，".join(x for x in (label(enums.DESTINATION, destination or None),
                                         employer) if x)
        rows.append({
            "village_code": code, "village": names.get(code, code), "person_id": person_id,
            "name": name, "id_number": id_number,
            "categories": labels(enums.CATEGORIES, categories), "head_name": head or "",
            "address": address or "", "previous": previous or "已就业", "since": since_day,
            "days_ago": (on - dt.date.fromisoformat(since_day)).days,
            "reason": label(enums.NOT_WORKING_REASON, reason),
            "last_visit": last_visit or "无"})
    return Report(
        NAME, TITLE, scope, area_name(conn, scope), on,
        {"days": days, "since": since.isoformat()},
        summary=[Figure("persons", f"近{days}天就业转失业且未走访（人）", len(rows))],
        tables=[Table("warnings", f"就业转失业预警名单（{since}至{on}）", COLUMNS, rows,
                      sheet="预警名单")],
        notes=["请驻村工作队及时走访，提供职业指导、职业介绍等针对性服务；走访记录同步后自动出列。"])
