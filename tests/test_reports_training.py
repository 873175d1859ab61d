"""Training: sign-in sheets, days per trainee and the living-cost subsidy per day attended."""

from __future__ import annotations

import pytest

from reports_county import COUNTY, V1, V3, County

PERIOD = {"start": "2025-01-01", "end": "2026-01-10"}


@pytest.fixture
def county(tmp_path):
    c = County(tmp_path)
    h = c.household(V1, "甲", ["tuopin"])
    h3 = c.household(V3, "丁", ["dibao"])
    who = {"甲": c.person(h, "甲", categories=["tuopin"]),
           "乙": c.person(h, "乙", categories=["tuopin"]),
           "丙": c.person(h, "丙"),  # not one of the three categories
           "丁": c.person(h3, "丁", categories=["dibao"])}

    def session(village, title, kind, start, end):
        return c.add("training_session", village_code=village, title=title, kind=kind,
                     start_date=start, end_date=end)

    # Runs across the day the subsidy's period ends (2025-12-31).
    s1 = session(V1, "电工培训班", "skills", "2025-12-29", "2026-01-02")
    s2 = session(V1, "以工代训", "yigong_daixun", "2025-12-01", "2025-12-05")
    s3 = session(V3, "茶叶种植培训班", "skills", "2025-11-03", "2025-11-04")
    s4 = session(V3, "厨师培训班", "skills", "2025-11-03", "2025-11-03")
    for person, s, days in (("甲", s1, ["2025-12-30", "2025-12-31", "2026-01-01"]),
                            ("甲", s2, ["2025-12-01"]),
                            ("乙", s1, ["2025-12-31"]),  # a single day
                            ("丙", s1, ["2025-12-30", "2025-12-31"]),
                            ("丁", s3, ["2025-11-03", "2025-11-04"]),
                            ("丁", s4, ["2025-11-03"])):  # the same day twice counts once
        for day in days:
            c.add("signin", session_id=s, person_id=who[person], day=day)
    yield c
    c.close()


def trainees(report):
    return {r["name"]: (r["days"], r["paid_days"], r["amount"])
            for r in report.table("trainees").rows}


def test_days_attended_and_forty_yuan_a_day_inside_the_period(county):
    report = county.report("training", "2026-01-10", county=COUNTY, **PERIOD)
    assert trainees(report) == {
        "甲": (4, 2, 80),  # 1 January is after the period; 以工代训 days are not paid
        "乙": (1, 1, 40),
        "丙": (2, 0, 0),
        "丁": (2, 2, 80),
    }
    assert report.to_json()["summary"] == {"sessions": 4, "trainees": 4, "days": 9,
                                           "paid_days": 5, "amount": 200}
    assert report.table("trainees").total["amount"] == 200


def test_each_session_has_a_sign_in_sheet_with_a_column_a_day(county):
    report = county.report("training", "2026-01-10", county=COUNTY, **PERIOD)
    sheet = next(t for t in report.tables if t.title.startswith("电工培训班"))
    assert [c.label for c in sheet.columns if c.key.startswith("d2")] == [
        "12月29日", "12月30日", "12月31日", "1月1日", "1月2日"]
    row = {r["name"]: r for r in sheet.rows}["甲"]
    assert (row["d2025-12-30"], row["d2026-01-01"], row["days"]) == ("√", "√", 3)
    assert "d2025-12-29" not in row and sheet.total["days"] == 6


def test_a_village_sees_its_own_sessions(county):
    report = county.report("training", "2026-01-10", village=V3, **PERIOD)
    assert trainees(report) == {"丁": (2, 2, 80)}


def test_a_locality_sets_the_rate_for_the_next_year(county, tmp_path):
    local = tmp_path / "local.toml"
    local.write_text("[rules.training_living]\nperiods = [{ per_day = 40 }, "
                     "{ from = 2026-01-01, to = 2026-12-31, per_day = 50 }]\n", encoding="utf-8")
    report = county.report("training", "2026-01-10", county=COUNTY, policy_file=local, **PERIOD)
    assert trainees(report)["甲"] == (4, 3, 130)
    assert {r["name"]: r["rate"] for r in report.table("trainees").rows}["甲"] in ("40、50",
                                                                                  "50、40")
