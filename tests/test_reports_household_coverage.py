"""一户一人: households with labour lifted out of poverty or relocated, and the 零就业家庭."""

from __future__ import annotations

import pytest

from reports_county import COUNTY, TOWNSHIP_A, V1, V2, V3, County, names


@pytest.fixture
def county(tmp_path):
    c = County(tmp_path)
    h1 = c.household(V1, "甲", ["tuopin"])
    c.employed(c.person(h1, "甲", relation="head"))
    c.person(h1, "乙", labour="none")
    h2 = c.household(V1, "丙", ["tuopin"])
    c.idle(c.person(h2, "丙", relation="head"))
    c.idle(c.person(h2, "丁", labour="weak"))
    h3 = c.household(V1, "戊")  # no flags of its own: its member is relocated
    c.idle(c.person(h3, "戊", categories=["banqian"], relation="head"))
    h4 = c.household(V1, "己", ["tuopin"])  # no labour: not counted
    c.person(h4, "己", labour="lost", relation="head")
    h5 = c.household(V1, "庚", relocated=True)
    c.employed(c.person(h5, "庚", relation="head"), destination="out_province")
    h6 = c.household(V2, "辛", ["dibao"])  # low-income only: not the goal's households
    c.idle(c.person(h6, "辛", relation="head"))
    h7 = c.household(V3, "壬", ["banqian"])
    c.person(h7, "壬", labour="half", relation="head")  # no employment recorded
    yield c
    c.close()


def test_the_county_counts_households_with_labour_lifted_or_relocated(county):
    report = county.report("household-coverage", "2026-03-01", county=COUNTY)
    # 甲, 丙, 戊 (member relocated), 庚 (relocated flag), 壬; not 己 (no labour), 辛 (低保).
    assert report.to_json()["summary"] == {"households": 5, "covered": 2, "zero": 3,
                                           "rate": 40.0}
    by_village = {r["village_code"]: r for r in report.table("by_village").rows}
    assert (by_village[V1]["households"], by_village[V1]["covered"]) == (4, 2)
    assert (by_village[V3]["households"], by_village[V3]["zero"]) == (1, 1)
    assert V2 not in by_village


def test_zero_employment_households_are_listed_with_every_member(county):
    table = county.report("household-coverage", "2026-03-01", county=COUNTY).table(
        "zero_employment")
    assert names(table) == ["丙", "丁", "戊", "壬"]
    assert [r["head_name"] for r in table.rows] == ["丙", "丙", "戊", "壬"]
    assert table.rows[-1]["status"] == "未登记" and table.rows[-1]["labour_capacity"] == "半劳动力"


def test_a_township_and_a_village_see_only_their_households(county):
    township = county.report("household-coverage", "2026-03-01", township=TOWNSHIP_A)
    assert township.to_json()["summary"]["rate"] == 50.0
    assert township.area == "长顺坝县青山镇"
    village = county.report("household-coverage", "2026-03-01", village=V3)
    assert village.to_json()["summary"] == {"households": 1, "covered": 0, "zero": 1,
                                            "rate": 0.0}


def test_a_member_finding_work_covers_the_household(county):
    head = county.storage.conn.execute(
        "SELECT id FROM persons WHERE name = '壬'").fetchone()[0]
    county.employed(head)
    summary = county.report("household-coverage", "2026-03-01", county=COUNTY).to_json()[
        "summary"]
    assert (summary["covered"], summary["zero"]) == (3, 2)
