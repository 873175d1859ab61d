"""Public-welfare posts: roster, 一人一岗 violations, contracts over a year, insurance, and the
month's days on post."""

from __future__ import annotations

import datetime as dt

import pytest

from client_kit.domain.schemas import one_year_end
from reports_county import COUNTY, V1, V2, County, names
from server.reporting.sql import add_months, one_year_end as sql_one_year_end


@pytest.fixture
def county(tmp_path):
    c = County(tmp_path)
    h = c.household(V1, "甲", ["tuopin"])
    people = {n: c.person(h, n, labour="weak") for n in "甲乙丙丁"}
    post = {name: c.add("post", village_code=village, name=name, monthly_pay=600,
                        created_on="2025-01-01")
            for name, village in (("护林员", V1), ("保洁员", V1), ("护路员", V2), ("水管员", V1))}

    def appoint(who, where, start, end, insured=True, **values):
        return c.add("appointment", post_id=post[where], person_id=people[who],
                     start_date=start, end_date=end, accident_insurance=insured,
                     status=values.pop("status", "active"), **values)

    appoint("甲", "护林员", "2026-01-01", "2026-12-31")  # exactly one year
    long = appoint("乙", "保洁员", "2026-01-01", "2026-12-31", insured=False)
    # Lengthened in the database itself: sync refuses it today, but older servers let such
    # an update through, and the county's imported rosters never passed the schema.
    stored = c.storage.load_rows("appointment", [long])[long]
    stored.state.values["end_date"] = "2027-01-01"
    with c.storage.atomic():
        c.storage.save_rows("appointment", [stored])
    # Two posts at once, as two offline tablets could record before the server checked it;
    # one of them in another village.
    # Sync refuses a village-B appointment of a village-A person now (a reference must stay in
    # its village), but older servers let it through: recorded for a stand-in of village B,
    # then pointed at 丙 in the database itself.
    stand_in = c.person(c.household(V2, "戊", ["tuopin"]), "戊", labour="weak")
    cross = c.add("appointment", post_id=post["护路员"], person_id=stand_in,
                  start_date="2026-02-01", end_date="2027-01-31", accident_insurance=True,
                  status="active")
    stored = c.storage.load_rows("appointment", [cross])[cross]
    stored.state.values["person_id"] = people["丙"]
    with c.storage.atomic():
        c.storage.save_rows("appointment", [stored])
    # Sync holds a second active appointment for review now (tests/e2e/test_one_post_e2e.py);
    # older data holds such pairs: recorded for a stand-in, then pointed at 丙 in the database.
    second = c.add("appointment", post_id=post["水管员"], person_id=c.person(h, "替", labour="weak"),
                   start_date="2026-03-01", end_date="2027-02-28", accident_insurance=True,
                   status="active")
    stored = c.storage.load_rows("appointment", [second])[second]
    stored.state.values["person_id"] = people["丙"]
    with c.storage.atomic():
        c.storage.save_rows("appointment", [stored])
    appoint("丁", "护林员", "2025-01-01", "2025-12-31", status="ended", ended_on="2025-12-31")
    for day, status in (("2026-02-28", "on_post"), ("2026-03-01", "on_post"),
                        ("2026-03-02", "on_post"), ("2026-03-03", "absent"),
                        ("2026-03-04", "leave")):
        c.add("attendance", post_id=post["护林员"], day=day, person_id=people["甲"],
              status=status)
    c.add("attendance", post_id=post["保洁员"], day="2026-03-01", person_id=people["乙"],
          status="on_post")
    yield c
    c.close()


def test_the_roster_on_a_day_and_holders_without_insurance(county):
    report = county.report("posts", "2026-03-15", county=COUNTY)
    assert sorted(names(report.table("roster"))) == sorted(["甲", "乙", "丙", "丙"])
    assert names(report.table("uninsured")) == ["乙"]
    earlier = county.report("posts", "2025-12-31", county=COUNTY)
    assert names(earlier.table("roster")) == ["丁"]  # ended on that day: still on post


def test_one_person_holding_two_posts_is_a_violation(county):
    table = county.report("posts", "2026-03-15", county=COUNTY).table("one_person_one_post")
    assert len(table.rows) == 1
    row = table.rows[0]
    assert row["name"] == "丙" and row["overlap"] == "2026-03-01至2027-01-31"
    assert {row["post_a"], row["post_b"]} == {"护路员", "青山镇白岩村水管员"}
    for village, other in ((V2, "青山镇白岩村水管员"), (V1, "青山镇龙井村护路员")):
        table = county.report("posts", "2026-03-15", village=village).table(
            "one_person_one_post")
        assert [r["post_b"] for r in table.rows] == [other]


def test_a_contract_of_exactly_one_year_is_allowed_and_a_day_more_is_not(county):
    table = county.report("posts", "2026-03-15", county=COUNTY).table("long_contracts")
    assert [(r["name"], r["last_day"], r["excess_days"]) for r in table.rows] == \
        [("乙", "2026-12-31", 1)]


def test_the_monthly_sheet_counts_days_on_post_per_holder(county):
    table = county.report("posts", "2026-03-15", county=COUNTY).table("attendance")
    rows = {r["name"]: r for r in table.rows}
    assert (rows["甲"]["on_post"], rows["甲"]["absent"], rows["甲"]["leave"]) == (2, 1, 1)
    assert (rows["甲"]["d01"], rows["甲"]["d03"], rows["甲"]["d04"]) == ("√", "×", "假")
    assert "d05" not in rows["甲"] and rows["乙"]["on_post"] == 1
    assert [c.label for c in table.columns if c.label.endswith("日")][-1] == "31日"
    february = county.report("posts", "2026-03-15", county=COUNTY, month="2026-02")
    assert [(r["name"], r["on_post"]) for r in february.table("attendance").rows] == [("甲", 1)]
    assert february.table("attendance").columns[-5].label == "28日"


@pytest.mark.parametrize("start", ["2024-02-29", "2025-01-31", "2025-03-01", "2023-12-31",
                                   "2025-06-15", "2028-02-28"])
def test_the_sql_one_year_end_is_the_domain_one(start):
    import sqlite3

    conn = sqlite3.connect(":memory:")
    got = conn.execute(f"SELECT {sql_one_year_end(':d')}", {"d": start}).fetchone()[0]
    assert got == one_year_end(dt.date.fromisoformat(start)).isoformat()
    months = conn.execute(f"SELECT {add_months(':d', 3)}", {"d": "2025-11-30"}).fetchone()[0]
    assert months == "2026-02-28"


def test_a_post_with_more_holders_than_seats_is_flagged(tmp_path):
    """按需设岗: a post has the seats the county recorded. 护林员 has 2 seats: holders 甲
    (2026-01-01..2026-12-31), 乙 (2026-02-01..2027-01-31) and 丙 (2026-03-01..2027-02-28,
    left 2026-03-20). Hand count on 2026-03-15: 3 on the roster > 2 seats -> flagged, excess 1;
    on 2026-02-15: 2 holders = 2 seats -> not flagged; on 2026-03-21 (丙 left): 2 -> not flagged.
    保洁员 has no seats recorded: never checked."""
    c = County(tmp_path)
    try:
        h = c.household(V1, "甲", ["tuopin"])
        people = {n: c.person(h, n, labour="weak") for n in "甲乙丙丁"}
        forest = c.add("post", village_code=V1, name="护林员", seats=2, created_on="2025-01-01")
        clean = c.add("post", village_code=V1, name="保洁员", created_on="2025-01-01")
        for who, start, end, extra in (
                ("甲", "2026-01-01", "2026-12-31", {}),
                ("乙", "2026-02-01", "2027-01-31", {}),
                ("丙", "2026-03-01", "2027-02-28", {"status": "ended", "ended_on": "2026-03-20"})):
            c.add("appointment", post_id=forest, person_id=people[who], start_date=start,
                  end_date=end, accident_insurance=True, **{"status": "active", **extra})
        c.add("appointment", post_id=clean, person_id=people["丁"], start_date="2026-01-01",
              end_date="2026-12-31", accident_insurance=True, status="active")
        report = c.report("posts", "2026-03-15", county=COUNTY)
        [row] = report.table("over_seats").rows
        assert (row["post"], row["seats"], row["holders"], row["excess"]) == ("护林员", 2, 3, 1)
        assert row["names"].count("、") == 2
        assert report.to_json()["summary"]["over_seats"] == 1
        for day in ("2026-02-15", "2026-03-21"):
            assert c.report("posts", day, county=COUNTY).table("over_seats").rows == []
    finally:
        c.close()
