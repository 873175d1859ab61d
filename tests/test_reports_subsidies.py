"""Subsidy eligibility lists: each rule, its boundaries, its effective period, and people
already granted shown apart (never listed twice)."""

from __future__ import annotations

import pytest

from reports_county import COUNTY, V1, County, names


def employed(c, h, name, categories, start, **values):
    person = c.person(h, name, categories=categories)
    c.employed(person, start_date=start, **values)
    return person


@pytest.fixture
def county(tmp_path):
    c = County(tmp_path)
    h = c.household(V1, "甲", ["tuopin"])
    out = {"destination": "out_province", "province": "广东"}
    c.people = {
        "甲": employed(c, h, "甲", ["tuopin"], "2025-06-15", **out),
        "乙": employed(c, h, "乙", ["jiance_bianyuan"], "2025-08-31", **out),
        "丙": employed(c, h, "丙", ["dibao"], "2025-01-10", **out),  # not 脱贫/监测
        "丁": employed(c, h, "丁", ["tuopin"], "2020-06-01", **out),  # not new
        "戊": employed(c, h, "戊", ["tuopin"], "2025-09-30", **out),
        "己": employed(c, h, "己", ["tuopin"], "2025-10-01", **out),  # 3 months on 2026-01-01
        "庚": employed(c, h, "庚", ["banqian"], "2025-12-31", organised_export=True,
                      destination="out_province", province="浙江"),
        "辛": employed(c, h, "辛", ["tekun"], "2026-01-01", organised_export=True,
                      destination="in_province"),
        "壬": employed(c, h, "壬", ["tuopin"], "2025-03-01", organised_export=True,
                      destination="in_province", long_contract=True, insurance_months=3,
                      employer="贵阳某物流公司"),
        "癸": employed(c, h, "癸", ["tuopin"], "2025-03-01", organised_export=True,
                      destination="in_province", long_contract=True, insurance_months=2),
        "子": employed(c, h, "子", ["dibao"], "2025-05-01", work_kind="workshop",
                      employer="镇就业帮扶车间"),
        "丑": employed(c, h, "丑", ["tuopin"], "2025-05-01", work_kind="workshop",
                      employer="深圳某厂", **out),
        "寅": employed(c, h, "寅", [], "2025-05-01", work_kind="workshop", employer="镇车间"),
    }
    c.add("subsidy_grant", person_id=c.people["甲"], kind="transport", amount=500,
          granted_on="2025-10-10", note="第一批")
    c.add("subsidy_grant", person_id=c.people["壬"], kind="job_seeking", amount=500,
          granted_on="2025-04-20")
    yield c
    c.close()


def test_each_rule_lists_who_meets_it_with_the_amount(county):
    report = county.report("subsidies", "2025-12-31", county=COUNTY)
    transport = report.table("transport")
    assert sorted(names(transport)) == sorted(["乙", "戊", "丑"])
    assert {r["name"]: r["qualified_on"] for r in transport.rows} == {
        "乙": "2025-11-30",  # 31 August + 3 months: the month's last day
        "戊": "2025-12-30", "丑": "2025-08-01"}
    assert transport.total["amount"] == 1500
    job = {r["name"]: r["amount"] for r in report.table("job_seeking").rows}
    assert job == {"庚": 1000, "癸": 500}  # 壬 was granted it already
    assert names(report.table("follow_up")) == ["壬"]
    absorption = report.table("absorption")
    assert sorted(names(absorption)) == sorted(["壬", "子"])
    assert {r["employer"]: r["amount"] for r in report.table("absorption_by_employer").rows} \
        == {"贵阳某物流公司": 500, "镇就业帮扶车间": 500}
    summary = report.to_json()["summary"]
    assert (summary["transport_amount"], summary["job_seeking_amount"],
            summary["follow_up_amount"], summary["absorption_amount"]) == (1500, 1500, 500, 1000)


def test_people_already_granted_are_shown_apart_with_the_earlier_grant(county):
    report = county.report("subsidies", "2025-12-31", county=COUNTY)
    granted = {(r["name"], r["kind"]): r for r in report.table("granted").rows}
    assert set(granted) == {("甲", "transport"), ("壬", "job_seeking")}
    assert (granted["甲", "transport"]["granted_on"], granted["甲", "transport"]["granted_amount"],
            granted["甲", "transport"]["grant_note"]) == ("2025-10-10", 500, "第一批")
    assert "甲" not in names(report.table("transport"))
    assert "壬" in names(report.table("follow_up"))  # a grant of another kind excludes nothing


def test_exactly_three_months_of_work_in_another_province_qualifies(county):
    person = county.people["甲"]
    county.delete("subsidy_grant", county.storage.conn.execute(
        "SELECT id FROM subsidy_grants WHERE person_id = ?", (person,)).fetchone()[0],
        at="2025-12-01")
    day_before = county.report("subsidies", "2025-09-14", county=COUNTY, kind="transport")
    assert "甲" not in names(day_before.table("transport"))
    on_the_day = county.report("subsidies", "2025-09-15", county=COUNTY, kind="transport")
    assert "甲" in names(on_the_day.table("transport"))
    assert [t.key for t in on_the_day.tables] == ["transport", "granted"]


def test_follow_up_needs_three_months_of_insurance(county):
    report = county.report("subsidies", "2025-12-31", county=COUNTY, kind="follow_up")
    assert names(report.table("follow_up")) == ["壬"]  # 癸 has 2 months


def test_a_rule_applies_on_the_last_day_of_its_period_and_not_the_day_after(county):
    report = county.report("subsidies", "2026-03-01", county=COUNTY)
    # 庚 placed on 2025-12-31 (the last day); 辛 on 2026-01-01; 己 completes 3 months then.
    assert "庚" in names(report.table("job_seeking"))
    assert "辛" not in names(report.table("job_seeking"))
    assert "己" not in names(report.table("transport"))
    assert any("2021-01-01至2025-12-31" in note for note in report.notes)


def test_a_locality_extends_a_rule_with_its_own_amounts(county, tmp_path):
    local = tmp_path / "local.toml"
    local.write_text(
        "[rules.transport]\n"
        "periods = [{ to = 2025-12-31, amount = 500 }, "
        "{ from = 2026-01-01, to = 2026-12-31, amount = 300 }]\n"
        "[rules.job_seeking]\n"
        "periods = [{ in_province = 500, out_province = 1000 }, "
        "{ from = 2026-01-01, to = 2026-12-31, in_province = 800, out_province = 1200 }]\n",
        encoding="utf-8")
    report = county.report("subsidies", "2026-03-01", county=COUNTY, policy_file=local)
    transport = {r["name"]: r["amount"] for r in report.table("transport").rows}
    assert transport["己"] == 300 and transport["戊"] == 500
    assert {r["name"]: r["amount"] for r in report.table("job_seeking").rows}["辛"] == 800
