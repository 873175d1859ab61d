"""Training (clause 十七): a sign-in sheet per session, days attended per trainee, and the
living-cost subsidy per day attended.

A day counts once per person however many sessions they signed in to that day. A day is paid
when it falls inside one of the subsidy's effective periods (at that period's rate), the
session is of a subsidised kind (vocational skills training by default) and the trainee carries
one of the rule's categories.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

from client_kit.domain import enums

from .labels import label, labels
from .model import Column, Figure, Report, Table, numbered_total
from .policy import Policy
from .scope import Scope, area_name, village_names
from .sql import has_any, in_list, periods_cte

NAME = "training"
TITLE = "职业技能培训签到及生活费补贴台账"
#: Longer sessions list their days instead of one column per day.
MAX_DAY_COLUMNS = 31

_JOIN = """
FROM training_sessions ts
JOIN signins s ON s.session_id = ts.id AND s._deleted = 0"""
_WHERE = """
WHERE ts._deleted = 0 AND ts.village_code BETWEEN :lo AND :hi
  AND ts.start_date <= :end AND ts.end_date >= :start
  AND s.day BETWEEN :start AND :end AND s.day BETWEEN ts.start_date AND ts.end_date"""

_SHEETS = f"""
SELECT ts.id, ts.village_code, ts.title, ts.kind, ts.organiser, ts.location, ts.start_date,
       ts.end_date, p.id, p.name, p.id_number, p.categories, group_concat(s.day), count(*)
{_JOIN}
JOIN persons p ON p.id = s.person_id{_WHERE}
GROUP BY ts.id, p.id
ORDER BY ts.start_date, ts.id, p.name, p.id"""


def _per_trainee_sql(policy: Policy) -> tuple[str, dict[str, Any]]:
    rule = policy.rule("training_living")
    cte, params = periods_cte("r", rule.periods, ("per_day",))
    cats = has_any("p.categories", rule.settings["categories"])
    sql = f"""
WITH {cte}, person_days AS (
    SELECT s.person_id, s.day, max({in_list("ts.kind", rule.settings["session_kinds"])}) AS paid
    {_JOIN}{_WHERE}
    GROUP BY s.person_id, s.day
)
SELECT p.village_code, p.id, p.name, p.id_number, p.categories, count(*), min(d.day),
       max(d.day), coalesce(sum(d.paid AND r.per_day IS NOT NULL AND {cats}), 0),
       coalesce(sum(CASE WHEN d.paid AND {cats} THEN r.per_day END), 0),
       group_concat(DISTINCT CASE WHEN d.paid AND {cats} THEN r.per_day END)
FROM person_days d
JOIN persons p ON p.id = d.person_id
LEFT JOIN r ON d.day BETWEEN r.start AND r.end_
GROUP BY d.person_id
ORDER BY p.village_code, p.name, p.id"""
    return sql, params


TRAINEE_COLUMNS = [
    Column("village", "村"), Column("name", "姓名"), Column("id_number", "身份证号"),
    Column("categories", "人员类别"), Column("first_day", "首次签到", "date"),
    Column("last_day", "末次签到", "date"), Column("days", "参训天数", "int"),
    Column("paid_days", "补贴天数", "int"), Column("rate", "补贴标准（元/天）"),
    Column("amount", "生活费补贴（元）", "money"),
]


def _period(params: dict[str, Any], on: dt.date) -> tuple[dt.date, dt.date]:
    return params.get("start") or on.replace(month=1, day=1), params.get("end") or on


def build(conn: sqlite3.Connection, scope: Scope, policy: Policy, on: dt.date,
          params: dict[str, Any]) -> Report:
    start, end = _period(params, on)
    names = village_names(conn, scope)
    area = {"lo": scope.low, "hi": scope.high, "start": start.isoformat(),
            "end": end.isoformat()}
    report = Report(NAME, TITLE, scope, area_name(conn, scope), on,
                    {"start": start.isoformat(), "end": end.isoformat()})
    sql, periods = _per_trainee_sql(policy)
    trainees = []
    for (code, person_id, name, id_number, categories, days, first, last, paid_days, amount,
         rates) in conn.execute(sql, {**area, **periods}):
        trainees.append({
            "village_code": code, "village": names.get(code, code), "person_id": person_id,
            "name": name, "id_number": id_number,
            "categories": labels(enums.CATEGORIES, categories), "first_day": first,
            "last_day": last, "days": days, "paid_days": paid_days,
            "rate": "、".join(_number(r) for r in str(rates).split(",")) if rates else "",
            "amount": amount})
    sessions = _sign_in_sheets(conn, area, names)
    rule = policy.rule("training_living")
    report.summary = [
        Figure("sessions", "培训班（期）", len(sessions)),
        Figure("trainees", "参训人数", len(trainees)),
        Figure("days", "参训人天数", sum(t["days"] for t in trainees)),
        Figure("paid_days", "补贴人天数", sum(t["paid_days"] for t in trainees)),
        Figure("amount", "生活费补贴合计（元）", sum(t["amount"] for t in trainees),
               "money"),
    ]
    report.tables = [Table("trainees", "参训人员天数及生活费补贴", TRAINEE_COLUMNS, trainees,
                           numbered_total(trainees, TRAINEE_COLUMNS, "village"),
                           sheet="生活费补贴"), *sessions]
    report.notes.append(
        f"{rule.label}：{'、'.join(label(enums.TRAINING_KIND, k) for k in rule.settings['session_kinds'])}"
        f"，三类人员每人每天按执行期限内的标准计发（执行期限：{rule.describe_periods()}）；"
        "同一天签到多个培训班只计一天。")
    return report


def _number(text: str) -> str:
    value = float(text)
    return str(int(value)) if value.is_integer() else str(value)


def _sign_in_sheets(conn: sqlite3.Connection, area: dict[str, Any],
                    names: dict[str, str]) -> list[Table]:
    sheets: dict[str, Table] = {}
    for (session_id, code, title, kind, organiser, location, first, last, person_id, name,
         id_number, categories, days, count) in conn.execute(_SHEETS, area):
        table = sheets.get(session_id)
        if table is None:
            table = sheets[session_id] = _sheet(session_id, code, title, kind, organiser,
                                                location, first, last, names)
        row = {"person_id": person_id, "name": name, "id_number": id_number,
               "categories": labels(enums.CATEGORIES, categories), "days": count}
        signed = days.split(",")
        if any(c.key == "signed" for c in table.columns):
            row["signed"] = "、".join(sorted(signed))
        else:
            row.update({"d" + day: "√" for day in signed})
        table.rows.append(row)
    for table in sheets.values():
        table.total = numbered_total(table.rows, table.columns, "name")
    return list(sheets.values())


def _sheet(session_id: str, code: str, title: str, kind: str, organiser: str | None,
           location: str | None, first: str, last: str, names: dict[str, str]) -> Table:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    span = (end - start).days + 1
    columns = [Column("name", "姓名"), Column("id_number", "身份证号"),
               Column("categories", "人员类别")]
    if span <= MAX_DAY_COLUMNS:
        for offset in range(span):
            day = start + dt.timedelta(days=offset)
            columns.append(Column(f"d{day.isoformat()}", f"{day.month}月{day.day}日"))
    else:
        columns.append(Column("signed", "签到日期"))
    columns.append(Column("days", "签到天数", "int"))
    where = "，".join(x for x in (names.get(code, code), organiser, location) if x)
    return Table(f"session:{session_id}",
                 f"{title}（{label(enums.TRAINING_KIND, kind)}，{first}至{last}，{where}）签到表",
                 columns, [], sheet="签到表")
