"""Early warning: employed to not employed in the last N days, and no visit since."""

from __future__ import annotations

import pytest

from reports_county import COUNTY, V1, County, names


@pytest.fixture
def county(tmp_path):
    c = County(tmp_path)
    households = {n: c.household(V1, n, ["tuopin"]) for n in ("一", "二", "三", "四")}

    def lost_job(household, name, at, since=None):
        person = c.person(households[household], name, categories=["tuopin"])
        row = c.employed(person, at="2025-06-01", employer="东莞电子厂",
                         destination="out_province")
        c.update("employment", row, at=at, status="not_employed", not_working_reason="willing",
                 destination=None, province=None, work_kind=None, status_since=since)
        return row

    lost_job("一", "甲", "2026-03-10", "2026-03-10")
    lost_job("二", "乙", "2026-03-15", "2026-03-15")
    c.add("visit", household_id=households["二"], visit_date="2026-03-20", visitors="工作队")
    lost_job("三", "丙", "2026-03-12", "2026-03-02")  # exactly 30 days before, counting both
    lost_job("三", "丁", "2026-03-12", "2026-03-01")  # 31 days
    c.idle(c.person(households["三"], "戊", categories=["tuopin"]), status_since="2026-03-10")
    lost_job("四", "己", "2026-03-20")  # no status date: the day the server heard of it
    c.add("visit", household_id=households["四"], visit_date="2026-03-19", visitors="工作队")
    again = lost_job("三", "庚", "2026-03-05", "2026-03-05")
    c.update("employment", again, at="2026-03-20", status="employed", not_working_reason=None,
             destination="in_county", work_kind="wugong", status_since="2026-03-20")
    yield c
    c.close()


def test_members_who_lost_work_lately_and_were_not_visited_since(county):
    report = county.report("early-warning", "2026-03-31", county=COUNTY)
    table = report.table("warnings")
    assert names(table) == ["丙", "甲", "己"]
    rows = {r["name"]: r for r in table.rows}
    assert (rows["甲"]["since"], rows["甲"]["days_ago"]) == ("2026-03-10", 21)
    assert rows["甲"]["previous"] == "省外，东莞电子厂"
    assert (rows["己"]["since"], rows["己"]["last_visit"]) == ("2026-03-20", "2026-03-19")
    assert report.parameters == {"days": 30, "since": "2026-03-02"}


def test_the_window_is_the_days_parameter_or_the_policy_file(county, tmp_path):
    assert names(county.report("early-warning", "2026-03-31", county=COUNTY,
                               days="12").table("warnings")) == ["己"]
    local = tmp_path / "local.toml"
    local.write_text("[early_warning]\ndays = 10\n", encoding="utf-8")
    assert names(county.report("early-warning", "2026-03-31", county=COUNTY,
                               policy_file=local).table("warnings")) == []


def test_a_visit_takes_the_member_off_the_list(county):
    household = county.storage.conn.execute(
        "SELECT household_id FROM persons WHERE name = '甲'").fetchone()[0]
    county.add("visit", household_id=household, visit_date="2026-03-10", visitors="工作队")
    assert names(county.report("early-warning", "2026-03-31", county=COUNTY).table(
        "warnings")) == ["丙", "己"]


def test_a_member_appointed_to_a_post_is_at_work_and_not_warned_about(county):
    """甲 lost his factory job on 2026-03-10 (listed on 2026-03-31). Appointed 护路员 from
    2026-03-25 (clause 十三: a post is work), he is off the list on 2026-03-31; on 2026-03-24,
    before the term, he is still on it."""
    person = county.storage.conn.execute("SELECT id FROM persons WHERE name = '甲'").fetchone()[0]
    post = county.add("post", village_code=V1, name="护路员", monthly_pay=500,
                      created_on="2026-01-01")
    county.add("appointment", post_id=post, person_id=person, start_date="2026-03-25",
               end_date="2027-03-24", accident_insurance=True, status="active")
    assert "甲" not in names(county.report("early-warning", "2026-03-31", county=COUNTY)
                             .table("warnings"))
    assert "甲" in names(county.report("early-warning", "2026-03-24", county=COUNTY)
                         .table("warnings"))
