"""Employment scale by category, destination, province and kind, now and at an earlier date
(rebuilt from the change log)."""

from __future__ import annotations

import pytest

from reports_county import COUNTY, V1, V3, County


@pytest.fixture
def county(tmp_path):
    c = County(tmp_path)
    h = c.household(V1, "甲", ["tuopin"])
    c.employed(c.person(h, "甲", categories=["tuopin"]), at="2024-06-01")
    p2 = c.person(h, "乙", categories=["tuopin", "dibao"])
    e2 = c.employed(p2, at="2024-06-01", destination="out_province", province="广东",
                    work_kind="workshop")
    c.update("employment", e2, at="2025-03-01", destination="in_province", province="贵州")
    # Recorded the day after the base date: not in the base figures.
    c.employed(c.person(h, "丙", categories=["banqian"]), at="2025-01-01",
               destination="out_province", province="浙江")
    e4 = c.employed(c.person(h, "丁", categories=["jiance_tufa"]), at="2024-03-01")
    c.update("employment", e4, at="2025-05-01", status="not_employed",
             not_working_reason="willing", destination=None, work_kind=None)
    c.employed(c.person(h, "戊"), at="2024-03-01")  # no category: not in the figures
    h3 = c.household(V3, "己", ["tuopin"])
    # Recorded on the base date itself (counted then), deleted since.
    e6 = c.employed(c.person(h3, "己", categories=["tuopin"]), at="2024-12-31",
                    work_kind="flexible")
    c.delete("employment", e6, at="2025-04-01")
    yield c
    c.close()


def rows(report, table):
    return {r["key"]: r for r in report.table(table).rows}


def test_each_category_by_destination_now_and_at_the_base_date(county):
    report = county.report("employment-scale", "2025-12-31", county=COUNTY)
    assert report.parameters == {"base": "2024-12-31"}  # default: the end of last year
    by = rows(report, "by_destination")
    tuopin, low, banqian, everyone = by["tuopin"], by["low_income"], by["banqian"], by["all"]
    assert (tuopin["in_county_now"], tuopin["in_province_now"], tuopin["total_now"]) == (1, 1, 2)
    assert (tuopin["in_county_base"], tuopin["out_province_base"], tuopin["total_base"]) == \
        (2, 1, 3)
    assert (low["in_province_now"], low["out_province_base"], low["in_county_base"]) == (1, 1, 1)
    assert (by["dibao"]["total_now"], by["jiance_tufa"]["total_now"],
            by["jiance_tufa"]["total_base"]) == (1, 0, 1)
    assert (banqian["out_province_now"], banqian["total_base"]) == (1, 0)
    assert (everyone["in_county_now"], everyone["in_province_now"],
            everyone["out_province_now"], everyone["total_now"]) == (1, 1, 1, 3)
    assert (everyone["in_county_base"], everyone["out_province_base"],
            everyone["total_base"], everyone["change"]) == (3, 1, 4, -1)
    assert report.to_json()["summary"]["employed_now"] == 3


def test_provinces_and_kinds_of_work(county):
    report = county.report("employment-scale", "2025-12-31", county=COUNTY)
    assert [(r["province"], r["now"], r["base"]) for r in report.table("by_province").rows] == \
        [("浙江", 1, 0), ("广东", 0, 1)]
    everyone = rows(report, "by_work_kind")["all"]
    assert (everyone["wugong_now"], everyone["workshop_now"], everyone["flexible_now"]) == \
        (2, 1, 0)
    assert (everyone["wugong_base"], everyone["workshop_base"], everyone["flexible_base"]) == \
        (2, 1, 1)


def test_an_explicit_base_date_and_a_village(county):
    report = county.report("employment-scale", "2025-12-31", county=COUNTY, base="2024-12-30")
    assert rows(report, "by_destination")["all"]["total_base"] == 3  # 己 not recorded yet
    village = county.report("employment-scale", "2025-12-31", village=V3, base="2025-01-01")
    assert rows(village, "by_destination")["all"]["total_base"] == 1
    assert rows(village, "by_destination")["all"]["total_now"] == 0  # deleted since


def test_a_public_welfare_post_counts_as_work_of_its_own_kind(county):
    """Clause 十三: a post is work. 庚 (脱贫人口) is 未就业 in the records but holds a post
    2025-03-01..2026-02-28; 甲 already counted as 务工 also holds one and is counted once.

    Hand count, tuopin row, 公益性岗位 column: on 2025-06-30 庚 -> 1 (甲 stays under 务工);
    at the base 2024-12-31, before the term -> 0. 县内 grows by exactly 1 against the same
    report without 庚's post (甲 乙 丙 are counted either way).
    """
    before = rows(county.report("employment-scale", "2025-06-30", county=COUNTY),
                  "by_destination")["tuopin"]["in_county_now"]
    h = county.household(V1, "庚", ["tuopin"])
    geng = county.person(h, "庚", categories=["tuopin"], labour="weak")
    county.idle(geng, at="2024-03-01")
    jia = county.storage.conn.execute("SELECT id FROM persons WHERE name = '甲'").fetchone()[0]
    post = county.add("post", village_code=V1, name="护林员", monthly_pay=600,
                      created_on="2025-01-01")
    post2 = county.add("post", village_code=V1, name="护路员", monthly_pay=600,
                       created_on="2025-01-01")
    for person, where in ((geng, post), (jia, post2)):
        county.add("appointment", post_id=where, person_id=person, start_date="2025-03-01",
                   end_date="2026-02-28", accident_insurance=True, status="active")
    report = county.report("employment-scale", "2025-06-30", county=COUNTY)
    kinds = rows(report, "by_work_kind")["tuopin"]
    assert (kinds["gongyi_post_now"], kinds["gongyi_post_base"]) == (1, 0)
    assert rows(report, "by_destination")["tuopin"]["in_county_now"] == before + 1
    assert report.table("by_work_kind").columns[3].label == "公益性岗位（本期）"
    after_term = rows(county.report("employment-scale", "2026-03-01", county=COUNTY),
                      "by_work_kind")["tuopin"]
    assert after_term["gongyi_post_now"] == 0
