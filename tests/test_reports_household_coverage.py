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


@pytest.fixture
def forester(tmp_path):
    """One 脱贫户 whose only worker, 林, is 未就业 in the employment records but is appointed
    护林员 from 2025-03-01 to 2026-02-28 (contract end), and left the post on 2025-12-15."""
    c = County(tmp_path)
    h = c.household(V1, "林", ["tuopin"])
    worker = c.person(h, "林", relation="head", labour="weak")
    c.idle(worker)
    c.person(h, "林小", labour="none")
    post = c.add("post", village_code=V1, name="护林员", monthly_pay=600, created_on="2025-01-01")
    c.appointment = c.add("appointment", post_id=post, person_id=worker,
                          start_date="2025-03-01", end_date="2026-02-28",
                          accident_insurance=True, status="active")
    c.worker = worker
    yield c
    c.close()


def _coverage(county, day):
    report = county.report("household-coverage", day, village=V1)
    summary = report.to_json()["summary"]
    return summary["covered"], summary["zero"], names(report.table("zero_employment"))


def test_a_public_welfare_post_is_work_for_one_person_per_household(forester):
    """Clause 十三 (在岗领补: the holder is paid for being on the post) and clause 二 (一户一人):
    the post is the household's work on every day of its term.

    Hand count: 1 household with labour (林, 弱劳动力). Term 2025-03-01..2026-02-28, active.
    - 2025-02-28: before the term, 林 未就业 -> covered 0, zero 1, listed 林 and 林小.
    - 2025-03-01: first day of the term -> covered 1, zero 0, nobody listed.
    - 2026-02-28: last day of the term -> covered 1.
    - 2026-03-01: term over (not renewed) -> covered 0, zero 1.
    """
    assert _coverage(forester, "2025-02-28") == (0, 1, ["林", "林小"])
    assert _coverage(forester, "2025-03-01") == (1, 0, [])
    assert _coverage(forester, "2026-02-28") == (1, 0, [])
    assert _coverage(forester, "2026-03-01") == (0, 1, ["林", "林小"])


def test_a_holder_who_left_the_post_no_longer_covers_the_household(forester):
    """退岗 on 2025-12-15 (status ended, ended_on 2025-12-15): the last day on post counts.

    Hand count: 2025-12-15 -> covered 1; 2025-12-16 -> covered 0, zero 1 (林 and 林小 listed).
    """
    forester.update("appointment", forester.appointment, at="2025-12-15", status="ended",
                    ended_on="2025-12-15", end_reason="resigned")
    assert _coverage(forester, "2025-12-15") == (1, 0, [])
    assert _coverage(forester, "2025-12-16") == (0, 1, ["林", "林小"])
