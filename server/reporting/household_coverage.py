"""一户一人 (clause 二): every household with labour that was lifted out of poverty or
relocated has at least one member employed; the 零就业家庭 are listed with their members.

A household counts when it, or one of its members, carries 脱贫人口 or 易地搬迁人口, or it is
marked relocated; it has labour when a member's capacity is 普通, 弱 or 半劳动力; it is covered
when, on the report day, any member's employment status is 已就业 or a member holds a
乡村公益性岗位 (clause 十三: the holder is paid for being on the post, 在岗领补, so a post is
work; see :func:`.sql.on_post`). The member list shows such a member as 公益性岗位.
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
from .sql import has_any, in_list, on_post

NAME = "household-coverage"
TITLE = "“一户一人”就业情况统计表"
#: Households of these categories are the goal's (脱贫家庭、易地搬迁家庭).
TARGET_CATEGORIES = ("tuopin", "banqian")

_HOUSEHOLDS = f"""
WITH members AS (
    SELECT m.household_id,
           max({in_list("m.labour_capacity", enums.HAS_LABOUR)}) AS has_labour,
           max({has_any("m.categories", TARGET_CATEGORIES)}) AS member_target,
           coalesce(max(e.status = 'employed' OR ap.id IS NOT NULL), 0) AS employed
    FROM persons m
    LEFT JOIN employments e ON e.person_id = m.id AND e._deleted = 0
    LEFT JOIN appointments ap ON ap.person_id = m.id AND {on_post("ap")}
    WHERE m._deleted = 0 AND m.village_code BETWEEN :lo AND :hi
    GROUP BY m.household_id
), target AS (
    SELECT h.id, h.village_code, mb.employed
    FROM households h JOIN members mb ON mb.household_id = h.id
    WHERE h._deleted = 0 AND h.village_code BETWEEN :lo AND :hi AND mb.has_labour
      AND (h.relocated = 1 OR {has_any("h.categories", TARGET_CATEGORIES)} OR mb.member_target)
)"""

_BY_VILLAGE = _HOUSEHOLDS + """
SELECT village_code, count(*), sum(employed) FROM target GROUP BY village_code
ORDER BY village_code"""

_ZERO_MEMBERS = _HOUSEHOLDS + """
SELECT h.village_code, h.id, h.household_no, h.head_name, h.categories, h.address,
       m.id, m.name, m.relation, m.id_number, m.labour_capacity, e.status, e.not_working_reason
FROM target t
JOIN households h ON h.id = t.id
JOIN persons m ON m.household_id = h.id AND m._deleted = 0
LEFT JOIN employments e ON e.person_id = m.id AND e._deleted = 0
WHERE t.employed = 0
ORDER BY h.village_code, h.household_no, h.head_name, h.id, m.relation <> 'head', m.name"""

BY_VILLAGE_COLUMNS = [
    Column("village", "村"),
    Column("households", "有劳动力的脱贫户和搬迁户（户）", "int"),
    Column("covered", "已实现“一户一人”就业（户）", "int"),
    Column("zero", "零就业家庭（户）", "int"),
    Column("rate", "覆盖率（%）", "percent"),
]
ZERO_COLUMNS = [
    Column("village", "村"),
    Column("household_no", "户编号"),
    Column("head_name", "户主"),
    Column("household_categories", "户类别"),
    Column("name", "家庭成员"),
    Column("relation", "与户主关系"),
    Column("id_number", "身份证号"),
    Column("labour_capacity", "劳动能力"),
    Column("status", "就业状态"),
    Column("not_working_reason", "未就业原因"),
]


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def build(conn: sqlite3.Connection, scope: Scope, policy: Policy, on: dt.date,
          params: dict[str, Any]) -> Report:
    names = village_names(conn, scope)
    area = {"lo": scope.low, "hi": scope.high, "on": on.isoformat()}
    by_village = []
    for code, households, covered in conn.execute(_BY_VILLAGE, area):
        by_village.append({"village_code": code, "village": names.get(code, code),
                           "households": households, "covered": covered,
                           "zero": households - covered, "rate": _rate(covered, households)})
    total = numbered_total(by_village, BY_VILLAGE_COLUMNS, "village")
    total["rate"] = _rate(total["covered"], total["households"])
    members = []
    for (code, household_id, household_no, head, categories, address, person_id, name,
         relation, id_number, capacity, status, reason) in conn.execute(_ZERO_MEMBERS, area):
        members.append({
            "village_code": code, "village": names.get(code, code),
            "household_id": household_id, "household_no": household_no or "",
            "head_name": head, "household_categories": labels(enums.CATEGORIES, categories),
            "address": address, "person_id": person_id, "name": name,
            "relation": label(enums.RELATION, relation),
            "id_number": id_number, "labour_capacity": label(enums.LABOUR_CAPACITY, capacity),
            "status": label(enums.EMPLOYMENT_STATUS, status) or "未登记",
            "not_working_reason": label(enums.NOT_WORKING_REASON, reason)})
    return Report(
        NAME, TITLE, scope, area_name(conn, scope), on, {},
        summary=[
            Figure("households", "有劳动力的脱贫户和搬迁户（户）", total["households"]),
            Figure("covered", "已实现“一户一人”就业（户）", total["covered"]),
            Figure("zero", "零就业家庭（户）", total["zero"]),
            Figure("rate", "覆盖率（%）", total["rate"], "percent"),
        ],
        tables=[
            Table("by_village", "分村统计", BY_VILLAGE_COLUMNS, by_village, total, "分村统计"),
            Table("zero_employment", "零就业家庭及成员名单", ZERO_COLUMNS, members,
                  sheet="零就业家庭"),
        ],
        notes=["统计对象：脱贫户、易地搬迁户（户或成员为脱贫人口、易地搬迁人口，或标记为搬迁户）"
               "中有普通、弱或半劳动力的家庭；有一名以上成员已就业即为实现“一户一人”就业。"])
