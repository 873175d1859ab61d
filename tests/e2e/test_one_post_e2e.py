"""End to end, over a real server on 127.0.0.1: 一人一岗 on the server. Two tablets offline
appoint one person to two posts with overlapping terms; the server applies the first and holds
the second for a supervisor, who sees both appointments and decides."""

from __future__ import annotations

import re

import pytest

from .conftest import VILLAGE_A
from .test_sync_e2e import api, open_conflicts, seeded  # noqa: F401  (a fixture)


@pytest.fixture
def two_appointments(live_server, three_devices, seeded):  # noqa: F811
    """王大山 (no post yet) appointed 护路员 on tablet a and 保洁员 on tablet b, both offline,
    terms 2026-03-01..2027-02-28 and 2026-04-01..2027-03-31 (overlap 2026-04-01..2027-02-28);
    a syncs first."""
    a, b, c = three_devices
    roads = a.store.create("post", {"village_code": VILLAGE_A, "name": "护路员",
                                    "created_on": "2026-01-01", "monthly_pay": 500})
    clean = a.store.create("post", {"village_code": VILLAGE_A, "name": "保洁员",
                                    "created_on": "2026-01-01", "monthly_pay": 500})
    for device in (a, b, c):
        device.sync()
    head = seeded["head"]["id"]
    first = a.store.create("appointment", {
        "post_id": roads["id"], "person_id": head, "start_date": "2026-03-01",
        "end_date": "2027-02-28", "status": "active", "accident_insurance": True})
    second = b.store.create("appointment", {
        "post_id": clean["id"], "person_id": head, "start_date": "2026-04-01",
        "end_date": "2027-03-31", "status": "active", "accident_insurance": True})
    a.sync()
    b.sync()
    return {"first": first, "second": second, "devices": (a, b, c), "head": head}


def _server_row(live_server, row_id):
    storage = live_server.storage()
    try:
        return storage.load_rows("appointment", [row_id])[row_id].state.values
    finally:
        storage.close()


def _console(live_server):
    client = live_server.app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/login").text)[1]
    client.post("/console/login", data={"name": "jiandu", "password": "correct-horse",
                                        "csrf_token": token})
    return client


def test_a_second_active_appointment_is_held_and_the_supervisor_sees_both(
        live_server, two_appointments):
    first, second = two_appointments["first"], two_appointments["second"]
    assert _server_row(live_server, first["id"])["status"] == "active"
    held = _server_row(live_server, second["id"])
    assert held["status"] is None and held["post_id"] == second["post_id"]  # kept, not in force
    [conflict] = open_conflicts(live_server)
    assert (conflict["record_type"], conflict["field"], conflict["policy"]) == (
        "appointment", "status", "review")
    assert conflict["row_id"] == second["id"] and conflict["incoming_value"] == "active"
    status, detail = api(live_server, "GET", f"/api/v1/conflicts/{conflict['id']}")
    assert status == 200 and [r["id"] for r in detail["rivals"]] == [first["id"]]
    page = _console(live_server).get(f"/console/conflicts/{conflict['id']}").text
    assert "一人一岗：该人员已有在岗的公益性岗位" in page
    assert "保洁员" in page and "2026-04-01至2027-03-31" in page  # the held one
    assert "护路员" in page and "2026-03-01至2027-02-28" in page  # the one in force
    # Every tablet learns the second appointment is not in force, pending review.
    for device in two_appointments["devices"]:
        device.sync()
        row = device.store.get("appointment", second["id"], with_meta=True)
        assert row["status"] is None and row["_disputed"] == ["status"]
    # Until decided, the posts roster lists the person once.
    status, report = api(live_server, "GET",
                         f"/api/v1/reports/posts?village={VILLAGE_A}&on=2026-05-01")
    assert status == 200, report
    roster = next(t for t in report["tables"] if t["key"] == "roster")["rows"]
    assert sorted(r["post"] for r in roster) == ["护林员", "护路员"]


def test_keeping_the_current_state_turns_the_second_appointment_down(
        live_server, two_appointments):
    [conflict] = open_conflicts(live_server)
    status, body = api(live_server, "POST", f"/api/v1/conflicts/{conflict['id']}/resolve",
                       {"action": "current", "comment": "一人一岗，不予聘任"})
    assert status == 200, body
    assert open_conflicts(live_server) == []
    assert _server_row(live_server, two_appointments["second"]["id"])["status"] is None


def test_taking_the_second_after_ending_the_first_puts_it_in_force(
        live_server, two_appointments):
    a, b, _ = two_appointments["devices"]
    first, second = two_appointments["first"], two_appointments["second"]
    a.store.update("appointment", first["id"], {"status": "ended", "ended_on": "2026-03-31",
                                                "end_reason": "转聘保洁员"})
    a.sync()
    [conflict] = open_conflicts(live_server)
    status, body = api(live_server, "POST", f"/api/v1/conflicts/{conflict['id']}/resolve",
                       {"action": "incoming", "comment": "护路员已退岗，改聘保洁员"})
    assert status == 200, body
    assert _server_row(live_server, second["id"])["status"] == "active"
    b.sync()
    assert b.store.get("appointment", second["id"])["status"] == "active"


def test_a_post_over_its_seats_is_flagged_in_the_posts_report(
        live_server, three_devices, seeded):  # noqa: F811
    """护林员 has 1 seat (recorded on tablet a); 李秀英 holds it 2026-01-01..2026-12-31 and
    tablet b, offline, appoints 王大山 to it from 2026-03-01. Two different people: no 一人一岗
    clash, both applied; on 2026-05-01 the post has 2 holders for 1 seat -> flagged; on
    2026-02-01 only 李秀英 -> not flagged."""
    a, b, _ = three_devices
    a.store.update("post", seeded["post"]["id"], {"seats": 1})
    b.store.create("appointment", {
        "post_id": seeded["post"]["id"], "person_id": seeded["head"]["id"],
        "start_date": "2026-03-01", "end_date": "2027-02-28", "status": "active",
        "accident_insurance": True})
    a.sync(), b.sync()
    assert open_conflicts(live_server) == []

    def over_seats(day):
        status, report = api(live_server, "GET",
                             f"/api/v1/reports/posts?village={VILLAGE_A}&on={day}")
        assert status == 200, report
        return next(t for t in report["tables"] if t["key"] == "over_seats")["rows"]

    [row] = over_seats("2026-05-01")
    assert (row["post"], row["seats"], row["holders"]) == ("护林员", 1, 2)
    assert over_seats("2026-02-01") == []
