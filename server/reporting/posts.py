"""乡村公益性岗位 (clause 十三): the roster on a day, one-person-one-post violations, contracts
longer than a year, holders without accident insurance, and a month's days on post per holder.

A holder is on the roster on a day when the appointment started by then and is active, or ended
on or after that day. Two appointments of one person violate 一人一岗 when their terms (start to
the day they ended, or to the contract's end) overlap. A contract is longer than a year when it
ends after :func:`client_kit.domain.schemas.one_year_end` of its start. A post is over its
seats when more holders are on the roster on the day than the 岗位人数 recorded for it (posts
without one are not checked: the number is the county's, 按需设岗).
"""

from __future__ import annotations

import calendar
import datetime as dt
import sqlite3
from typing import Any

from client_kit.domain import enums

from .labels import label, labels, yes_no
from .model import Column, Figure, Report, Table, numbered_total
from .policy import Policy
from .scope import Scope, area_name, village_names
from .sql import one_year_end

NAME = "posts"
TITLE = "乡村公益性岗位管理台账"
MARKS = {"on_post": "√", "absent": "×", "leave": "假"}

_ROSTER = """
SELECT a.village_code, a.id, po.name, po.duty, po.monthly_pay, p.id, p.name, p.id_number,
       p.labour_capacity, p.categories, a.start_date, a.end_date, a.accident_insurance,
       a.insurance_policy_no
FROM appointments a
JOIN posts po ON po.id = a.post_id AND po._deleted = 0
JOIN persons p ON p.id = a.person_id
WHERE a._deleted = 0 AND a.village_code BETWEEN :lo AND :hi AND a.start_date <= :on
  AND (a.status = 'active' OR a.ended_on >= :on)
ORDER BY a.village_code, po.name, p.name, a.id"""

_TERM_END = "coalesce({0}.ended_on, {0}.end_date)"
_DOUBLE_POSTS = f"""
SELECT a.village_code, p.id, p.name, p.id_number, pa.name, a.start_date,
       {_TERM_END.format('a')},
       b.village_code, coalesce(vb.township, '') || coalesce(vb.name, b.village_code), pb.name,
       b.start_date, {_TERM_END.format('b')},
       max(a.start_date, b.start_date), min({_TERM_END.format('a')}, {_TERM_END.format('b')})
FROM appointments a
JOIN appointments b ON b.person_id = a.person_id AND b.id <> a.id AND b._deleted = 0
JOIN persons p ON p.id = a.person_id
JOIN posts pa ON pa.id = a.post_id
JOIN posts pb ON pb.id = b.post_id
LEFT JOIN villages vb ON vb.village_code = b.village_code AND vb._deleted = 0
WHERE a._deleted = 0 AND a.village_code BETWEEN :lo AND :hi
  AND (a.id < b.id OR b.village_code NOT BETWEEN :lo AND :hi)
  AND a.start_date <= {_TERM_END.format('b')} AND b.start_date <= {_TERM_END.format('a')}
  AND max(a.start_date, b.start_date) <= :on
ORDER BY a.village_code, p.name, a.start_date"""

#: Posts with more holders on the roster on the day than the seats recorded for them.
_OVER_SEATS = """
SELECT po.village_code, po.id, po.name, po.seats, count(*),
       group_concat(p.name, '、')
FROM posts po
JOIN appointments a ON a.post_id = po.id AND a._deleted = 0 AND a.start_date <= :on
  AND (a.status = 'active' OR a.ended_on >= :on)
JOIN persons p ON p.id = a.person_id
WHERE po._deleted = 0 AND po.village_code BETWEEN :lo AND :hi AND po.seats IS NOT NULL
GROUP BY po.id HAVING count(*) > po.seats
ORDER BY po.village_code, po.name"""

_LONG_CONTRACTS = f"""
SELECT a.village_code, po.name, p.id, p.name, p.id_number, a.start_date, a.end_date,
       {one_year_end('a.start_date')} AS last_day,
       julianday(a.end_date) - julianday({one_year_end('a.start_date')})
FROM appointments a
JOIN posts po ON po.id = a.post_id
JOIN persons p ON p.id = a.person_id
WHERE a._deleted = 0 AND a.village_code BETWEEN :lo AND :hi AND a.start_date <= :on
  AND a.end_date > {one_year_end('a.start_date')}
ORDER BY a.village_code, po.name, p.name"""

_MONTH = """
SELECT t.village_code, po.name, p.id, p.name, p.id_number, po.monthly_pay,
       sum(t.status = 'on_post'), sum(t.status = 'absent'), sum(t.status = 'leave'),
       group_concat(substr(t.day, 9, 2) || t.status)
FROM attendance t
JOIN posts po ON po.id = t.post_id
JOIN persons p ON p.id = t.person_id
WHERE t._deleted = 0 AND t.day BETWEEN :first AND :last AND t.village_code BETWEEN :lo AND :hi
GROUP BY t.village_code, t.post_id, t.person_id
ORDER BY t.village_code, po.name, p.name"""

ROSTER_COLUMNS = [
    Column("village", "村"), Column("post", "岗位名称"), Column("duty", "岗位类别"),
    Column("name", "姓名"), Column("id_number", "身份证号"),
    Column("labour_capacity", "劳动能力"), Column("categories", "人员类别"),
    Column("start_date", "聘期开始", "date"), Column("end_date", "聘期结束", "date"),
    Column("monthly_pay", "月补贴标准（元）", "money"),
    Column("insured", "意外伤害保险"), Column("policy_no", "保单号"), Column("remark", "备注"),
]
DOUBLE_COLUMNS = [
    Column("village", "村"), Column("name", "姓名"), Column("id_number", "身份证号"),
    Column("post_a", "岗位一"), Column("term_a", "岗位一聘期"),
    Column("post_b", "岗位二"), Column("term_b", "岗位二聘期"), Column("overlap", "重叠期间"),
]
OVER_SEATS_COLUMNS = [
    Column("village", "村"), Column("post", "岗位名称"), Column("seats", "岗位人数", "int"),
    Column("holders", "在岗人数", "int"), Column("excess", "超出人数", "int"),
    Column("names", "在岗人员"),
]
LONG_COLUMNS = [
    Column("village", "村"), Column("post", "岗位名称"), Column("name", "姓名"),
    Column("id_number", "身份证号"), Column("start_date", "聘期开始", "date"),
    Column("end_date", "聘期结束", "date"), Column("last_day", "一年期满日", "date"),
    Column("excess_days", "超出天数", "int"),
]


def _month(params: dict[str, Any], on: dt.date) -> tuple[dt.date, dt.date]:
    first = params.get("month") or on.replace(day=1)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def build(conn: sqlite3.Connection, scope: Scope, policy: Policy, on: dt.date,
          params: dict[str, Any]) -> Report:
    names = village_names(conn, scope)
    area = {"lo": scope.low, "hi": scope.high, "on": on.isoformat()}
    roster = []
    for (code, appointment_id, post, duty, pay, person_id, name, id_number, capacity,
         categories, start, end, insured, policy_no) in conn.execute(_ROSTER, area):
        roster.append({
            "village_code": code, "village": names.get(code, code),
            "appointment_id": appointment_id, "person_id": person_id, "post": post,
            "duty": duty or "", "monthly_pay": pay, "name": name, "id_number": id_number,
            "labour_capacity": label(enums.LABOUR_CAPACITY, capacity),
            "categories": labels(enums.CATEGORIES, categories), "start_date": start,
            "end_date": end, "insured": yes_no(insured), "policy_no": policy_no or "",
            "remark": "聘期已满，未办理续聘或退岗" if end < on.isoformat() else ""})
    uninsured = [r for r in roster if r["insured"] == "否"]
    doubles = [{
        "village_code": code, "village": names.get(code, code), "person_id": person_id,
        "name": name, "id_number": id_number, "post_a": post_a, "term_a": f"{a_start}至{a_end}",
        "post_b": post_b if b_code == code else f"{b_village}{post_b}",
        "term_b": f"{b_start}至{b_end}", "overlap": f"{o_start}至{o_end}"}
        for (code, person_id, name, id_number, post_a, a_start, a_end, b_code, b_village, post_b,
             b_start, b_end, o_start, o_end) in conn.execute(_DOUBLE_POSTS, area)]
    long_contracts = [{
        "village_code": code, "village": names.get(code, code), "post": post,
        "person_id": person_id, "name": name, "id_number": id_number, "start_date": start,
        "end_date": end, "last_day": last, "excess_days": int(excess)}
        for code, post, person_id, name, id_number, start, end, last, excess
        in conn.execute(_LONG_CONTRACTS, area)]
    over_seats = [{
        "village_code": code, "village": names.get(code, code), "post_id": post_id,
        "post": post, "seats": seats, "holders": holders, "excess": holders - seats,
        "names": holder_names or ""}
        for code, post_id, post, seats, holders, holder_names in conn.execute(_OVER_SEATS, area)]
    first, last = _month(params, on)
    sheet_columns, sheet = _month_sheet(conn, scope, names, first, last)
    return Report(
        NAME, TITLE, scope, area_name(conn, scope), on, {"month": first.strftime("%Y-%m")},
        summary=[
            Figure("holders", f"在岗人员（{on}）", len(roster)),
            Figure("one_person_one_post", "一人多岗（起）", len(doubles)),
            Figure("over_seats", "在岗人数超过岗位人数（个）", len(over_seats)),
            Figure("long_contracts", "聘用期限超过一年（份）", len(long_contracts)),
            Figure("uninsured", "未购买意外伤害保险（人）", len(uninsured)),
        ],
        tables=[
            Table("roster", f"在岗人员花名册（{on}）", ROSTER_COLUMNS, roster,
                  {**numbered_total(roster, ROSTER_COLUMNS, "village"),
                   "village": f"合计（{len(roster)}人）"}, sheet="花名册"),
            Table("one_person_one_post", "一人多岗（违反“一人一岗一补贴”）", DOUBLE_COLUMNS, doubles,
                  sheet="问题清单"),
            Table("over_seats", f"在岗人数超过岗位人数的岗位（{on}）", OVER_SEATS_COLUMNS,
                  over_seats, sheet="问题清单"),
            Table("long_contracts", "聘用协议期限超过一年", LONG_COLUMNS, long_contracts,
                  sheet="问题清单"),
            Table("uninsured", "未购买意外伤害保险的在岗人员", ROSTER_COLUMNS, uninsured,
                  sheet="问题清单"),
            Table("attendance", f"{first.year}年{first.month}月在岗天数统计表", sheet_columns,
                  sheet, _month_total(sheet, sheet_columns), sheet="月度考勤"),
        ])


def _month_total(rows: list[dict[str, Any]], columns: list[Column]) -> dict[str, Any]:
    """The 合计 row: the days and pay summed, and under each day the holders on post (blank
    for a day nobody recorded)."""
    total = numbered_total(rows, columns, "village")
    for column in columns:
        if column.key.startswith("d") and column.key[1:].isdigit():
            marks = [row[column.key] for row in rows if row.get(column.key)]
            total[column.key] = marks.count(MARKS["on_post"]) if marks else None
    return total


def _month_sheet(conn: sqlite3.Connection, scope: Scope, names: dict[str, str],
                 first: dt.date, last: dt.date) -> tuple[list[Column], list[dict[str, Any]]]:
    days = [f"{d:02d}" for d in range(1, last.day + 1)]
    columns = [Column("village", "村"), Column("post", "岗位名称"), Column("name", "姓名"),
               Column("id_number", "身份证号"),
               *[Column(f"d{d}", f"{int(d)}日") for d in days],
               Column("on_post", "在岗天数", "int"), Column("absent", "缺勤天数", "int"),
               Column("leave", "请假天数", "int"),
               Column("monthly_pay", "月补贴标准（元）", "money")]
    rows = []
    for code, post, person_id, name, id_number, pay, on_post, absent, leave, marks in conn.execute(
            _MONTH, {"lo": scope.low, "hi": scope.high, "first": first.isoformat(),
                     "last": last.isoformat()}):
        row = {"village_code": code, "village": names.get(code, code), "post": post,
               "person_id": person_id, "name": name, "id_number": id_number,
               "on_post": on_post, "absent": absent,
               "leave": leave, "monthly_pay": pay}
        for mark in (marks or "").split(","):
            row[f"d{mark[:2]}"] = MARKS.get(mark[2:], mark[2:])
        rows.append(row)
    return columns, rows
