"""就业规模 (clauses 二, 四, 十六): employed members of each category by destination, province
and kind of work, against the same figures at an earlier date. A holder of a public-welfare post on the day
counts as employed in the county, under 公益性岗位, unless their employment record already
counts them (clause 十三: a post is work).

Both dates are rebuilt from the change log (:mod:`.history`), so the two columns are computed
the same way and the earlier one is what the report would have said on that day. A person
counts under every category they carry; 三类人员合计 counts each person once. Categories are
the person's current ones.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections import Counter
from typing import Any, Iterable

from client_kit.domain import enums

from .history import end_of_day, state_at
from .model import Column, Figure, Report, Table
from .policy import Policy
from .scope import Scope, area_name
from .sql import on_post

NAME = "employment-scale"
TITLE = "三类人员就业规模统计表"

LOW_INCOME = ("dibao", "tekun", "jiance_buwending", "jiance_bianyuan", "jiance_tufa")
#: Ledger rows: (key, label, the category codes any of which puts a person in the row).
ROWS: list[tuple[str, str, tuple[str, ...]]] = [
    ("tuopin", "脱贫人口", ("tuopin",)),
    ("low_income", "农村低收入人口", LOW_INCOME),
    *[(code, "　其中：" + enums.CATEGORIES[code], (code,)) for code in LOW_INCOME],
    ("banqian", "易地搬迁人口", ("banqian",)),
    ("all", "三类人员合计（去重）", tuple(enums.CATEGORIES)),
]

_COUNTS = """
WITH state AS ({state})
SELECT s.destination, s.province, s.work_kind, p.categories, count(*)
FROM state s JOIN persons p ON p.id = s.person_id AND p._deleted = 0
WHERE s.status = 'employed' AND coalesce(s.deleted, '0') = '0'
GROUP BY 1, 2, 3, 4""".format(state=state_at(
    "employment", ("person_id", "status", "destination", "province", "work_kind")))

#: Holders of a public-welfare post on the day whose employment record does not say 已就业
#: that day: a post is work (clause 十三), in their own county, of its own kind.
_POST_HOLDERS = """
WITH state AS ({state})
SELECT p.categories, count(DISTINCT p.id)
FROM appointments ap JOIN persons p ON p.id = ap.person_id AND p._deleted = 0
WHERE ap.village_code BETWEEN :lo AND :hi AND {on_post}
  AND NOT EXISTS (SELECT 1 FROM state s WHERE s.person_id = p.id AND s.status = 'employed'
                  AND coalesce(s.deleted, '0') = '0')
GROUP BY 1""".format(state=state_at("employment", ("person_id", "status")),
                     on_post=on_post("ap", ":day"))

Cells = Counter[tuple[str, str]]


def default_base(on: dt.date) -> dt.date:
    """The last day of the year before ``on`` (年初基数)."""
    return dt.date(on.year - 1, 12, 31)


def _counts(conn: sqlite3.Connection, scope: Scope, day: dt.date) -> tuple[Cells, Cells, Cells]:
    """(row, destination), (row, work kind) and province counts of employed people on ``day``."""
    by_destination: Cells = Counter()
    by_kind: Cells = Counter()
    by_province: Cells = Counter()
    row_sets: dict[str, list[str]] = {}
    area = {"lo": scope.low, "hi": scope.high, "cutoff": end_of_day(day),
            "day": day.isoformat()}
    posts = [("in_county", None, "gongyi_post", categories, n)
             for categories, n in conn.execute(_POST_HOLDERS, area)]
    for destination, province, kind, categories, n in [*conn.execute(_COUNTS, area), *posts]:
        if categories not in row_sets:
            carried = set(json.loads(categories or "[]"))
            row_sets[categories] = [key for key, _, codes in ROWS if carried & set(codes)]
        rows = row_sets[categories]
        for row in rows:
            by_destination[row, destination or ""] += n
            by_kind[row, kind or ""] += n
        if rows and destination == "out_province":
            by_province["all", province or "未填"] += n
    return by_destination, by_kind, by_province


def _pivot(now: Cells, base: Cells, codes: dict[str, str], rows: Iterable[tuple[str, str]]
           ) -> tuple[list[Column], list[dict[str, Any]]]:
    columns = [Column("category", "类别")]
    for code, name in codes.items():
        columns += [Column(f"{code}_now", f"{name}（本期）", "int"),
                    Column(f"{code}_base", f"{name}（基期）", "int")]
    columns += [Column("total_now", "合计（本期）", "int"), Column("total_base", "合计（基期）", "int"),
                Column("change", "增减", "int")]
    out = []
    for key, name in rows:
        row: dict[str, Any] = {"key": key, "category": name}
        for code in codes:
            row[f"{code}_now"] = now[key, code]
            row[f"{code}_base"] = base[key, code]
        row["total_now"] = sum(row[f"{c}_now"] for c in codes)
        row["total_base"] = sum(row[f"{c}_base"] for c in codes)
        row["change"] = row["total_now"] - row["total_base"]
        out.append(row)
    return columns, out


def build(conn: sqlite3.Connection, scope: Scope, policy: Policy, on: dt.date,
          params: dict[str, Any]) -> Report:
    base_day = params.get("base") or default_base(on)
    now_dest, now_kind, now_prov = _counts(conn, scope, on)
    base_dest, base_kind, base_prov = _counts(conn, scope, base_day)
    row_names = [(key, name) for key, name, _ in ROWS]
    dest_columns, dest_rows = _pivot(now_dest, base_dest, enums.DESTINATION, row_names)
    kind_columns, kind_rows = _pivot(now_kind, base_kind, enums.WORK_KIND, row_names)
    provinces = sorted(set(p for _, p in now_prov) | set(p for _, p in base_prov),
                       key=lambda p: (-now_prov["all", p], p))
    province_rows = [{"province": p, "now": now_prov["all", p], "base": base_prov["all", p],
                      "change": now_prov["all", p] - base_prov["all", p]} for p in provinces]
    province_columns = [Column("province", "务工省份"), Column("now", "本期（人）", "int"),
                        Column("base", "基期（人）", "int"), Column("change", "增减", "int")]
    province_total = {"province": "合计", **{k: sum(r[k] for r in province_rows)
                                             for k in ("now", "base", "change")}}
    everyone = dest_rows[-1]
    return Report(
        NAME, TITLE, scope, area_name(conn, scope), on, {"base": base_day.isoformat()},
        summary=[
            Figure("employed_now", f"三类人员已就业（{on}）", everyone["total_now"]),
            Figure("employed_base", f"三类人员已就业（{base_day}）", everyone["total_base"]),
            Figure("change", "增减", everyone["change"]),
            Figure("out_province_now", "其中省外务工（本期）", everyone["out_province_now"]),
        ],
        tables=[
            Table("by_destination", "按就业地域", dest_columns, dest_rows, sheet="按就业地域"),
            Table("by_province", "省外务工按省份（三类人员合计）", province_columns, province_rows,
                  province_total, sheet="按省份"),
            Table("by_work_kind", "按就业方式", kind_columns, kind_rows, sheet="按就业方式"),
        ],
        notes=[f"本期为 {on} 日终、基期为 {base_day} 日终服务器已收到的数据；一人有多个类别时"
               "分别计入各类别，合计行每人只计一次。"])
