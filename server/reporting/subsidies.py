"""Subsidy eligibility lists (clauses 四 and 五): one row per person with the rule met and the
amount, for the one-time subsidies a person gets only once.

Each rule has a *qualifying day*, the day the person first met it: for the transport subsidy the
day three months of work in another province are complete, for the follow-up service subsidy
the day the required months of insurance could first be complete, for the others the first day
of the job. A person is listed when that day is on or before the report day and inside one of
the rule's effective periods, at that period's amount. People already granted the subsidy
(``subsidy_grant`` records) are not listed again; they appear in their own table with the
earlier grant.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from typing import Any

from client_kit.domain import enums

from .labels import label, labels
from .model import Column, Figure, Report, Table, numbered_total
from .policy import Policy, Rule
from .scope import Scope, area_name, village_names
from .sql import add_months, has_any, in_list, periods_cte

NAME = "subsidies"
TITLE = "一次性补贴对象花名册"
KINDS = tuple(enums.SUBSIDY_KIND)


@dataclass(frozen=True)
class _Query:
    qualify: str
    conditions: str
    amount: str
    amount_keys: tuple[str, ...]


def _query(rule: Rule) -> _Query:
    s = rule.settings
    cats = has_any("p.categories", s["categories"])
    if rule.name == "transport":
        return _Query(add_months("e.start_date", s["min_months"]),
                      f"e.destination = 'out_province' AND e.start_date >= :first_day AND {cats}",
                      "r.amount", ("amount",))
    if rule.name == "job_seeking":
        return _Query("e.start_date",
                      "e.organised_export = 1 AND e.destination IN ('in_province', 'out_province')"
                      f" AND {cats}",
                      "CASE e.destination WHEN 'in_province' THEN r.in_province"
                      " ELSE r.out_province END", ("in_province", "out_province"))
    if rule.name == "follow_up":
        return _Query(add_months("e.start_date", s["min_insurance_months"]),
                      "e.organised_export = 1 AND e.long_contract = 1"
                      f" AND e.insurance_months >= {int(s['min_insurance_months'])} AND {cats}",
                      "r.amount", ("amount",))
    if rule.name == "absorption":
        return _Query("e.start_date",
                      f"{in_list('e.work_kind', s['work_kinds'])}"
                      f" AND {in_list('e.destination', s['destinations'])}"
                      f" AND coalesce(e.employer, '') <> '' AND {cats}",
                      "r.amount", ("amount",))
    raise KeyError(rule.name)


def _sql(rule: Rule) -> tuple[str, dict[str, Any]]:
    q = _query(rule)
    cte, params = periods_cte("r", rule.periods, q.amount_keys)
    sql = f"""
WITH {cte}
SELECT e.village_code, p.id, p.name, p.id_number, p.categories, e.destination, e.province,
       e.work_kind, e.employer, e.start_date, e.insurance_months, {q.qualify} AS qualified_on,
       {q.amount} AS amount, g.amount, g.granted_on, g.note
FROM employments e
JOIN persons p ON p.id = e.person_id AND p._deleted = 0
JOIN r ON {q.qualify} BETWEEN r.start AND r.end_
LEFT JOIN subsidy_grants g ON g.person_id = p.id AND g.kind = :kind AND g._deleted = 0
WHERE e._deleted = 0 AND e.village_code BETWEEN :lo AND :hi AND e.status = 'employed'
  AND e.start_date IS NOT NULL AND {q.conditions} AND {q.qualify} <= :on
ORDER BY e.village_code, p.name, p.id"""
    return sql, params


def _met(rule: Rule, row: dict[str, Any]) -> str:
    s = rule.settings
    if rule.name == "transport":
        return f"新跨省务工（{row['province_label'] or '省外'}）稳定就业满{s['min_months']}个月"
    if rule.name == "job_seeking":
        where = "省外" if row["destination_code"] == "out_province" else "省内县外"
        return f"首次通过有组织劳务输出到{where}就业"
    if rule.name == "follow_up":
        return (f"有组织就业，签订1年以上劳动合同，"
                f"已缴社保{row['insurance_months']}个月（≥{s['min_insurance_months']}）")
    return f"被{row['employer']}吸纳就业"


ELIGIBLE_COLUMNS = [
    Column("village", "村"), Column("name", "姓名"), Column("id_number", "身份证号"),
    Column("categories", "人员类别"), Column("destination", "就业地域"),
    Column("province_label", "务工省份"), Column("employer", "就业单位"),
    Column("start_date", "就业开始日期", "date"), Column("rule_met", "符合条件"),
    Column("qualified_on", "达到条件日期", "date"), Column("amount", "补贴金额（元）", "money"),
]
GRANTED_COLUMNS = [
    Column("village", "村"), Column("name", "姓名"), Column("id_number", "身份证号"),
    Column("subsidy", "补贴类型"), Column("rule_met", "本次符合条件"),
    Column("granted_on", "已发放日期", "date"), Column("granted_amount", "已发放金额（元）", "money"),
    Column("grant_note", "发放备注"),
]
EMPLOYER_COLUMNS = [Column("employer", "用人单位"), Column("persons", "吸纳人数", "int"),
                    Column("amount", "补贴金额（元）", "money")]


def collect(conn: sqlite3.Connection, scope: Scope, rule: Rule, on: dt.date,
            names: dict[str, str]) -> list[dict[str, Any]]:
    """Everyone meeting ``rule`` by ``on`` in ``scope``, granted before or not."""
    sql, periods = _sql(rule)
    params = {**periods, "kind": rule.name, "lo": scope.low, "hi": scope.high,
              "first_day": rule.first_day.isoformat(), "on": on.isoformat()}
    out = []
    for (code, person_id, name, id_number, categories, destination, province, kind, employer,
         start, insurance, qualified, amount, granted_amount, granted_on, grant_note
         ) in conn.execute(sql, params):
        row = {"village_code": code, "village": names.get(code, code), "person_id": person_id,
               "name": name, "id_number": id_number,
               "categories": labels(enums.CATEGORIES, categories),
               "destination_code": destination,
               "destination": label(enums.DESTINATION, destination),
               "province_label": province or "", "work_kind": label(enums.WORK_KIND, kind),
               "employer": employer or "", "start_date": start, "insurance_months": insurance,
               "qualified_on": qualified, "amount": amount,
               "subsidy": rule.label, "kind": rule.name,
               "granted_on": granted_on, "granted_amount": granted_amount,
               "grant_note": grant_note or ""}
        row["rule_met"] = _met(rule, row)
        out.append(row)
    return out


def build(conn: sqlite3.Connection, scope: Scope, policy: Policy, on: dt.date,
          params: dict[str, Any]) -> Report:
    kinds = [params["kind"]] if params.get("kind") else list(KINDS)
    names = village_names(conn, scope)
    report = Report(NAME, TITLE, scope, area_name(conn, scope), on,
                    {"kind": params.get("kind")})
    granted_rows: list[dict[str, Any]] = []
    for kind in kinds:
        rule = policy.rule(kind)
        rows = collect(conn, scope, rule, on, names)
        eligible = [r for r in rows if r["granted_on"] is None]
        granted_rows += [r for r in rows if r["granted_on"] is not None]
        report.tables.append(Table(
            kind, f"{rule.label}（第{rule.clause}条）", ELIGIBLE_COLUMNS, eligible,
            numbered_total(eligible, ELIGIBLE_COLUMNS, "village"), sheet=rule.label))
        report.summary += [
            Figure(f"{kind}_persons", f"{rule.label}：应发人数", len(eligible)),
            Figure(f"{kind}_amount", f"{rule.label}：应发金额（元）",
                   sum(r["amount"] for r in eligible), "money"),
        ]
        if kind == "absorption":
            report.tables.append(_by_employer(eligible, rule))
        if on > rule.periods[-1].end:
            report.notes.append(f"{rule.label}的执行期限为{rule.describe_periods()}；"
                                "此后才达到条件的人员不列入。")
    report.tables.append(Table("granted", "已享受过的人员（不再重复发放）", GRANTED_COLUMNS,
                               granted_rows, sheet="已享受人员"))
    report.summary.append(Figure("granted_persons", "已享受过、不再重复发放（人次）",
                                 len(granted_rows)))
    return report


def _by_employer(rows: list[dict[str, Any]], rule: Rule) -> Table:
    totals: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = totals.setdefault(row["employer"], {"employer": row["employer"], "persons": 0,
                                                     "amount": 0})
        entry["persons"] += 1
        entry["amount"] += row["amount"]
    out = sorted(totals.values(), key=lambda r: (-r["persons"], r["employer"]))
    return Table("absorption_by_employer", f"{rule.label}按用人单位汇总", EMPLOYER_COLUMNS, out,
                 numbered_total(out, EMPLOYER_COLUMNS, "employer"), sheet="按用人单位汇总")
