"""End to end: devices sync through a real server on 127.0.0.1 with real SQLite files."""

from __future__ import annotations

import base64
import datetime as dt
import gc
import json
import sqlite3
import time
import urllib.request

import pytest

from client_kit.engine.changes import Change, PulledEntry
from client_kit.engine.protocol import (SCHEMA_VERSION, decode_pull_page, encode_push, pack,
                                        unpack)
from client_kit.errors import Offline, OutOfScope, SyncError
from client_kit.sync_client import FIRST_PAGE

from .conftest import VILLAGE_A, VILLAGE_B, seed_village
from .support import CutPlan, CuttingProxy, enrol


def api(server, method, path, body=None, user=("jiandu", "correct-horse")):
    """Call the supervisor API; returns (status, json)."""
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if user:
        token = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def open_conflicts(server, **query):
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    status, body = api(server, "GET", f"/api/v1/conflicts?{qs}")
    assert status == 200, body
    return body["conflicts"]


@pytest.fixture
def seeded(three_devices):
    a, b, c = three_devices
    rows = seed_village(a.store)
    for device in (a, b, c):
        device.sync()
    return rows


def test_a_second_device_receives_what_the_first_recorded(three_devices):
    a, b, _ = three_devices
    seeded = seed_village(a.store)
    written = a.store.pending_count()
    summary = a.sync()
    assert summary.sent == written == 8
    assert a.store.pending_count() == 0
    b.sync()
    assert b.store.get("person", seeded["head"]["id"])["name"] == "王大山"
    assert b.store.get("employment", seeded["employment"]["id"])["monthly_income"] == 4000


def test_concurrent_edits_to_different_fields_both_apply(live_server, three_devices, seeded):
    a, b, c = three_devices
    employment_id = seeded["employment"]["id"]
    a.store.update("employment", employment_id, {"employer": "广州服装厂"})
    b.store.update("employment", employment_id, {"insurance_months": 6})
    a.sync(), b.sync(), a.sync(), c.sync()
    for device in (a, b, c):
        row = device.store.get("employment", employment_id)
        assert (row["employer"], row["insurance_months"]) == ("广州服装厂", 6)
    assert open_conflicts(live_server) == []


def test_same_field_review_conflict_is_kept_resolved_and_reaches_every_device(
        live_server, three_devices, seeded):
    a, b, c = three_devices
    employment_id = seeded["employment"]["id"]
    a.store.update("employment", employment_id, {"monthly_income": 4500})
    b.store.update("employment", employment_id, {"monthly_income": 3800})
    a.sync()
    summary = b.sync()
    assert summary.conflicts == 1
    # The server kept the first value; the second device now shows it, marked under review.
    row = b.store.get("employment", employment_id, with_meta=True)
    assert row["monthly_income"] == 4500 and row["_disputed"] == ["monthly_income"]
    [conflict] = open_conflicts(live_server)
    assert (conflict["current_value"], conflict["incoming_value"]) == (4500, 3800)
    assert conflict["incoming_device"] == b.device_id
    assert conflict["current_user_name"] == a.user and conflict["incoming_user_name"] == b.user
    assert conflict["field_label"] == "月收入"

    status, body = api(live_server, "POST", f"/api/v1/conflicts/{conflict['id']}/resolve",
                       {"action": "corrected", "value": 4100, "comment": "电话核实为4100元"})
    assert status == 200, body
    assert body["status"] == "resolved" and body["resolved_value"] == 4100
    for device in (a, b, c):
        device.sync()
        row = device.store.get("employment", employment_id, with_meta=True)
        assert row["monthly_income"] == 4100 and row["_disputed"] == []
    assert open_conflicts(live_server) == []
    # The overwritten values stay findable.
    status, history = api(live_server, "GET",
                          f"/api/v1/records/employment/{employment_id}/history")
    seen = {json.dumps(c["fields"].get("monthly_income")) for c in history["changes"]}
    assert {"4000", "4500", "4100"} <= seen
    assert history["conflicts"][0]["incoming_value"] == 3800


def test_a_corrected_value_that_fails_the_schema_is_refused_with_the_field_named(
        live_server, three_devices, seeded):
    a, b, _ = three_devices
    employment_id = seeded["employment"]["id"]
    a.store.update("employment", employment_id, {"monthly_income": 4500})
    b.store.update("employment", employment_id, {"monthly_income": 3800})
    a.sync(), b.sync()
    [conflict] = open_conflicts(live_server)
    status, body = api(live_server, "POST", f"/api/v1/conflicts/{conflict['id']}/resolve",
                       {"action": "corrected", "value": -5, "comment": "录错"})
    assert status == 422
    assert body["error"]["code"] == "invalid_record"
    assert "月收入" in json.dumps(body, ensure_ascii=False)
    assert len(open_conflicts(live_server)) == 1


def test_last_writer_wins_on_free_text_and_the_loser_is_recorded(live_server, three_devices,
                                                                 seeded):
    a, b, c = three_devices
    household_id = seeded["household"]["id"]
    a.store.update("household", household_id, {"note": "已电话回访"})
    time.sleep(0.005)  # clocks tick in milliseconds: make b's write clearly the later one
    b.store.update("household", household_id, {"note": "户主外出，未见到本人"})
    b.sync(), a.sync(), b.sync(), c.sync()
    for device in (a, b, c):
        assert device.store.get("household", household_id)["note"] == "户主外出，未见到本人"
    assert open_conflicts(live_server) == []
    [auto] = open_conflicts(live_server, status="auto")
    assert auto["policy"] == "lww" and "已电话回访" in (auto["current_value"],
                                                        auto["incoming_value"])


def test_update_against_delete_is_a_review_conflict(live_server, three_devices, seeded):
    a, b, c = three_devices
    household_id = seeded["household"]["id"]
    visit = a.store.create("visit", {"household_id": household_id, "visit_date": "2026-11-20",
                                     "visitors": "张队长"})
    a.sync(), b.sync()
    a.store.delete("visit", visit["id"])
    b.store.update("visit", visit["id"], {"findings": "已落实就业岗位"})
    a.sync()
    assert b.sync().conflicts == 1
    [conflict] = open_conflicts(live_server)
    assert conflict["field"] == "_deleted" and conflict["current_value"] is True
    # Until a supervisor decides, the row stays deleted everywhere.
    b.sync(), c.sync()
    for device in (a, b, c):
        assert device.store.get("visit", visit["id"]) is None
    status, _ = api(live_server, "POST", f"/api/v1/conflicts/{conflict['id']}/resolve",
                    {"action": "incoming", "comment": "走访记录有效，恢复"})
    assert status == 200
    for device in (a, b, c):
        device.sync()
        assert device.store.get("visit", visit["id"])["findings"] == "已落实就业岗位"


def test_delete_against_a_concurrent_update_keeps_the_row_for_review(live_server,
                                                                      three_devices, seeded):
    a, b, _ = three_devices
    household_id = seeded["household"]["id"]
    visit = a.store.create("visit", {"household_id": household_id, "visit_date": "2026-11-20",
                                     "visitors": "张队长"})
    a.sync(), b.sync()
    a.store.update("visit", visit["id"], {"follow_up": "下周回访"})
    b.store.delete("visit", visit["id"])
    a.sync()
    assert b.sync().conflicts == 1
    assert b.store.get("visit", visit["id"])["follow_up"] == "下周回访"
    [conflict] = open_conflicts(live_server)
    assert conflict["field"] == "_deleted" and conflict["incoming_value"] is True
    api(live_server, "POST", f"/api/v1/conflicts/{conflict['id']}/resolve",
        {"action": "incoming", "comment": "重复录入，删除"})
    a.sync()
    assert a.store.get("visit", visit["id"]) is None


def test_the_same_attendance_recorded_on_two_devices_becomes_one_row(live_server,
                                                                     three_devices, seeded):
    a, b, c = three_devices
    fact = {"post_id": seeded["post"]["id"], "day": "2026-11-20",
            "person_id": seeded["wife"]["id"], "status": "on_post"}
    row_a = a.store.create("attendance", fact)
    row_b = b.store.create("attendance", dict(fact))
    assert row_a["id"] == row_b["id"]
    a.sync(), b.sync(), c.sync()
    for device in (a, b, c):
        rows = device.store.query("attendance", post_id=seeded["post"]["id"])
        assert [r["status"] for r in rows] == ["on_post"]
    assert open_conflicts(live_server) == []
    storage = live_server.storage()
    assert storage.count_rows("attendance") == 1
    storage.close()


def test_the_same_sign_in_on_two_devices_is_counted_once(live_server, three_devices, seeded):
    a, b, _ = three_devices
    fact = {"session_id": seeded["session"]["id"], "person_id": seeded["head"]["id"],
            "day": "2026-11-03"}
    a.store.create("signin", fact)
    b.store.create("signin", dict(fact))
    a.sync(), b.sync(), a.sync()
    assert len(a.store.query("signin")) == len(b.store.query("signin")) == 1


def test_a_push_whose_answer_is_lost_is_not_applied_twice(live_server, three_devices, seeded):
    a, b, _ = three_devices
    for day in range(1, 11):
        a.store.create("attendance", {"post_id": seeded["post"]["id"],
                                      "day": f"2026-11-{day:02d}",
                                      "person_id": seeded["wife"]["id"], "status": "on_post"})
    a.store.update("employment", seeded["employment"]["id"], {"monthly_income": 4200})
    # The server commits the push, then the connection dies before the device reads the ack.
    plan = CutPlan(lambda method, path, n: "drop" if path.endswith("/push") else None)
    with CuttingProxy(live_server.httpd.server_port, plan) as proxy:
        with pytest.raises(Offline):
            a.sync(url=proxy.url)
    assert a.store.pending_count() == 11  # kept: the device never saw the acknowledgement
    summary = a.sync()
    assert summary.sent == 0 and summary.repeated == 11
    assert a.store.pending_count() == 0
    storage = live_server.storage()
    assert storage.count_rows("attendance") == 10
    history = storage.history("employment", seeded["employment"]["id"])
    assert [h["fields"].get("monthly_income") for h in history].count(4200) == 1
    storage.close()
    b.sync()
    assert len(b.store.query("attendance")) == 10


def test_a_push_cut_at_its_second_batch_keeps_the_rest_and_sends_nothing_twice(
        live_server, three_devices, seeded):
    """The device packs the next batch while the server works on one; a cut loses neither."""
    a, b, _ = three_devices
    for day in range(1, 13):
        a.store.create("attendance", {"post_id": seeded["post"]["id"],
                                      "day": f"2026-09-{day:02d}",
                                      "person_id": seeded["wife"]["id"], "status": "on_post"})
    pushes: list[int] = []

    def second_push_dropped(method: str, path: str, n: int) -> str | None:
        if path.endswith("/push"):
            pushes.append(n)
            return "drop" if len(pushes) == 2 else None
        return None

    with CuttingProxy(live_server.httpd.server_port, CutPlan(second_push_dropped)) as proxy:
        with pytest.raises(Offline):
            a.client(proxy.url, batch_size=5).sync()
    assert len(pushes) == 2  # nothing was sent after the batch whose answer was lost
    assert a.store.pending_count() == 7  # the first batch acknowledged, the rest kept
    summary = a.client(batch_size=5).sync()
    assert summary.repeated == 5 and summary.sent == 2 and a.store.pending_count() == 0
    storage = live_server.storage()
    assert storage.count_rows("attendance") == 12
    storage.close()
    b.sync()
    assert len(b.store.query("attendance")) == 12


def test_push_batches_grow_while_the_server_answers_quickly(live_server, three_devices,
                                                          seeded, monkeypatch):
    """A long outbox goes in fewer, larger batches once the link proves fast, and every
    change arrives once."""
    # "Quickly" is generous here, so a loaded test machine does not stall the growth.
    monkeypatch.setattr("client_kit.sync_client.GROW_WITHIN_S", 30.0)
    a, b, _ = three_devices
    start = dt.date(2026, 1, 1)
    for day in range(70):
        a.store.create("attendance", {"post_id": seeded["post"]["id"],
                                      "day": (start + dt.timedelta(days=day)).isoformat(),
                                      "person_id": seeded["wife"]["id"], "status": "on_post"})
    done: list[int] = []
    summary = a.client(batch_size=5, max_batch_size=20).sync(
        lambda stage, n, total: done.append(n) if stage == "push" else None)
    sizes = [n - m for m, n in zip([0, *done], done)]
    # The second batch is packed before the first answer is in; then the size doubles.
    assert sizes == [5, 5, 10, 20, 20, 10]
    assert summary.sent == 70 and summary.repeated == 0 and a.store.pending_count() == 0
    b.sync()
    assert len(b.store.query("attendance")) == 70


def test_a_device_that_fails_to_drop_acknowledged_entries_resends_them_harmlessly(
        live_server, three_devices, seeded, monkeypatch):
    """The next batch is already on its way when the device drops the acknowledged one: if
    that drop fails (a full disk, a crash), both batches are simply acknowledged again."""
    a, b, _ = three_devices
    for day in range(1, 9):
        a.store.create("attendance", {"post_id": seeded["post"]["id"],
                                      "day": f"2026-08-{day:02d}",
                                      "person_id": seeded["wife"]["id"], "status": "on_post"})
    real = a.store.acknowledge

    def disk_full(through_seq: int, refused=()) -> int:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(a.store, "acknowledge", disk_full)
    with pytest.raises(sqlite3.OperationalError):
        a.client(batch_size=5).sync()
    monkeypatch.setattr(a.store, "acknowledge", real)
    assert a.store.pending_count() == 8
    summary = a.client(batch_size=5).sync()
    assert summary.sent == 0 and summary.repeated == 8 and a.store.pending_count() == 0
    storage = live_server.storage()
    assert storage.count_rows("attendance") == 8
    storage.close()


def test_a_pull_starts_with_a_small_page_then_takes_full_ones(live_server, three_devices,
                                                               seeded, tmp_path):
    a, _, _ = three_devices
    with a.store.transaction():
        for day in range(FIRST_PAGE + 30):
            a.store.create("attendance", {
                "post_id": seeded["post"]["id"],
                "day": (dt.date(2025, 1, 1) + dt.timedelta(days=day)).isoformat(),
                "person_id": seeded["wife"]["id"], "status": "on_post"})
    a.sync()
    fresh = enrol(live_server, tmp_path, "fresh", [VILLAGE_A])
    plan = CutPlan(lambda method, path, n: None)
    with CuttingProxy(live_server.httpd.server_port, plan) as proxy:
        summary = fresh.client(proxy.url, page_size=1000).sync()
    assert [p for _, p, _ in plan.seen].count("/api/v1/sync/pull") == 2
    assert summary.received > FIRST_PAGE
    assert len(fresh.store.query("attendance")) == FIRST_PAGE + 30
    fresh.store.close()


@pytest.mark.parametrize("cut", ["drop", "truncate"])
def test_a_pull_cut_mid_page_resumes_with_nothing_missing(live_server, three_devices, seeded,
                                                          tmp_path, cut):
    a, _, _ = three_devices
    for day in range(1, 31):
        a.store.create("attendance", {"post_id": seeded["post"]["id"],
                                      "day": f"2026-10-{day:02d}",
                                      "person_id": seeded["wife"]["id"], "status": "on_post"})
    a.sync()
    fresh = enrol(live_server, tmp_path, "fresh", [VILLAGE_A])
    # Cut the third page of pulls (pages of 7 entries).
    plan = CutPlan(lambda method, path, n: cut if "/pull" in path and n == 3 else None)
    with CuttingProxy(live_server.httpd.server_port, plan) as proxy:
        with pytest.raises(Offline):
            fresh.client(proxy.url, page_size=7).sync()
    assert gc.isenabled()  # paused only while a page is decoded and applied
    cursor_after_cut = int(fresh.store.meta("cursor"))
    # Exactly the two pages before the cut were stored, though the third was already asked
    # for while the second was being applied.
    storage = live_server.storage()
    assert cursor_after_cut == storage.pull([VILLAGE_A], 0, 14)[-1].cursor
    storage.close()
    fresh.client(page_size=7).sync()
    assert len(fresh.store.query("attendance")) == 30
    assert fresh.store.get("person", seeded["wife"]["id"])["name"] == "李秀英"
    fresh.store.close()


def test_a_replayed_batch_with_altered_content_is_refused(live_server, three_devices, seeded):
    a, b, _ = three_devices
    a.store.update("employment", seeded["employment"]["id"], {"monthly_income": 4200})
    changes = a.store.pending()
    a.sync()
    forged = [Change(c.seq, c.record_type, c.row_id, c.village, c.hlc, c.op,
                     {"monthly_income": 99999}, c.base) for c in changes]
    channel = a.channel()
    with pytest.raises(SyncError) as refused:
        channel.request("push", forged[0].seq, encode_push(forged, app_version="test"))
    assert refused.value.status == 409 and refused.value.code == "replay_mismatch"
    # The honest replay is simply acknowledged again.
    ack = json.loads(channel.request("push", changes[0].seq,
                                     encode_push(changes, app_version="test")))
    assert ack["repeated"] == 1 and ack["applied"] == 0
    b.sync()
    assert b.store.get("employment", seeded["employment"]["id"])["monthly_income"] == 4200


def test_rows_of_another_village_are_refused_and_never_served(live_server, three_devices,
                                                              seeded, tmp_path):
    a, _, _ = three_devices
    other = enrol(live_server, tmp_path, "other", [VILLAGE_B])
    seed_village(other.store, VILLAGE_B)
    other.sync()
    # A village-A device refuses to write a village-B row; one that gets through anyway (an
    # older or tampered device) is refused by the county alone, and set aside on the device.
    intruder = enrol(live_server, tmp_path, "intruder", [VILLAGE_A])
    village_b = {"village_code": VILLAGE_B, "name": "龙井村", "township": "青山镇",
                 "county": "长顺坝县"}
    with pytest.raises(OutOfScope):
        intruder.store.create("village", village_b)
    assert intruder.store.pending_count() == 0
    intruder.store.set_meta("villages", "[]")
    intruder.store.create("village", village_b)
    assert intruder.sync().refused == 1
    [aside] = intruder.store.set_aside()
    assert aside.code == "out_of_scope" and intruder.store.pending_count() == 0
    # And nothing of village B reaches a village-A device.
    a.sync()
    villages = {r["village_code"] for name in ("village", "household", "person")
                for r in a.store.query(name)}
    assert villages == {VILLAGE_A}
    page = decode_pull_page(a.channel().request("pull", 0, pack({
        "after": 0, "limit": 5000, "schema_version": SCHEMA_VERSION})))
    assert {e.village for e in page.entries} == {VILLAGE_A}
    other.store.close()
    intruder.store.close()


def test_an_outdated_client_is_told_to_upgrade_and_keeps_its_outbox(tmp_path, three_devices,
                                                                    live_server):
    a, _, _ = three_devices
    seed_village(a.store)
    live_server.app.config["MIN_CLIENT_SCHEMA"] = 99
    with pytest.raises(SyncError) as refused:
        a.sync()
    assert refused.value.code == "upgrade_required"
    assert a.store.pending_count() == 8


def test_a_losing_write_is_replaced_even_on_a_device_that_pulled_the_winner_first(
        live_server, three_devices, seeded):
    a, b, _ = three_devices
    household_id = seeded["household"]["id"]
    employment_id = seeded["employment"]["id"]
    a.store.update("household", household_id, {"note": "甲的备注"})       # older (lww)
    a.store.update("employment", employment_id, {"monthly_income": 4400})  # (review)
    time.sleep(0.005)
    b.store.update("household", household_id, {"note": "乙的备注"})       # newer
    b.store.update("employment", employment_id, {"monthly_income": 3900})
    b.sync()
    # a pulls b's values while its own edits are still pending: it keeps its own for now.
    a.client().pull(type("Summary", (), {"received": 0})())
    assert a.store.get("household", household_id)["note"] == "甲的备注"
    a.sync()
    row = a.store.get("household", household_id)
    assert row["note"] == "乙的备注"
    employment = a.store.get("employment", employment_id, with_meta=True)
    assert employment["monthly_income"] == 3900
    assert employment["_disputed"] == ["monthly_income"]


def test_a_fact_deleted_and_recorded_again_on_the_same_device_comes_back_without_review(
        live_server, three_devices, seeded):
    a, b, _ = three_devices
    fact = {"session_id": seeded["session"]["id"], "person_id": seeded["head"]["id"],
            "day": "2026-11-03"}
    row = a.store.create("signin", fact)
    a.sync()
    a.store.delete("signin", row["id"])
    a.sync(), b.sync()
    assert b.store.get("signin", row["id"]) is None
    a.store.create("signin", dict(fact))  # the worker ticks the box again
    assert a.sync().conflicts == 0
    b.sync()
    assert b.store.get("signin", row["id"]) is not None
    assert open_conflicts(live_server) == []


def test_a_fact_recorded_again_by_a_device_that_never_saw_the_deletion_goes_to_review(
        live_server, three_devices, seeded):
    a, b, _ = three_devices
    fact = {"session_id": seeded["session"]["id"], "person_id": seeded["head"]["id"],
            "day": "2026-11-03"}
    row = a.store.create("signin", fact)
    a.sync(), b.sync()
    a.store.delete("signin", row["id"])
    a.sync()
    b.store.update("signin", row["id"], {"note": "补签"})
    assert b.sync().conflicts == 1
    assert b.store.get("signin", row["id"]) is None  # deleted until a supervisor decides


def test_concurrent_edits_that_together_break_a_rule_are_held_for_review_whole(
        live_server, three_devices, seeded):
    a, b, c = three_devices
    wife = seeded["wife"]
    employment = a.store.create("employment", {"person_id": wife["id"],
                                               "status": "not_employed",
                                               "not_working_reason": "willing"})
    a.sync(), b.sync()
    # a: still not employed, but now unable; b: found her a job at the workshop.
    a.store.update("employment", employment["id"], {"not_working_reason": "unable"})
    b.store.update("employment", employment["id"], {
        "status": "employed", "not_working_reason": None, "destination": "in_county",
        "work_kind": "workshop", "employer": "镇就业帮扶车间"})
    a.sync()
    assert b.sync().conflicts >= 4  # the whole change waits for a supervisor
    c.sync()
    for device in (a, b, c):
        row = device.store.get("employment", employment["id"])
        assert (row["status"], row["not_working_reason"]) == ("not_employed", "unable")
    conflicts = open_conflicts(live_server)
    status_conflict = next(x for x in conflicts if x["field"] == "status")
    # Taking the incoming change takes all of it, and the row stays valid.
    status, body = api(live_server, "POST",
                       f"/api/v1/conflicts/{status_conflict['id']}/resolve",
                       {"action": "incoming", "comment": "已核实在帮扶车间上班"})
    assert status == 200, body
    assert open_conflicts(live_server) == []
    for device in (a, b, c):
        device.sync()
        row = device.store.get("employment", employment["id"], with_meta=True)
        assert (row["status"], row["work_kind"], row["not_working_reason"]) == (
            "employed", "workshop", None)
        assert row["_disputed"] == []


def test_ending_an_appointment_field_by_field_syncs(live_server, three_devices, seeded):
    a, b, _ = three_devices
    appointment = seeded["appointment"]["id"]
    a.store.update("appointment", appointment, {"ended_on": "2026-06-30",
                                                "end_reason": "外出务工"})
    a.sync()
    a.store.update("appointment", appointment, {"status": "ended"})
    summary = a.sync()
    assert a.store.pending_count() == 0 and summary.conflicts == 0
    b.sync()
    assert b.store.get("appointment", appointment)["status"] == "ended"


def test_writes_made_with_a_clock_months_ahead_are_restamped_and_sync(live_server,
                                                                      three_devices, seeded):
    a, b, _ = three_devices
    wrong = lambda: time.time_ns() // 1_000_000 + 200 * 86_400_000  # noqa: E731
    a.store.clock_ms = wrong
    employment_id = seeded["employment"]["id"]
    a.store.update("employment", employment_id, {"employer": "时钟超前时写的"})
    a.store.update("employment", employment_id, {"insurance_months": 4})
    client = a.client()
    client.sync()
    assert client.clock_repaired and a.store.pending_count() == 0
    b.sync()
    row = b.store.get("employment", employment_id, with_meta=True)
    assert (row["employer"], row["insurance_months"]) == ("时钟超前时写的", 4)
    # Versions now sit near real time, not 200 days ahead.
    assert row["_versions"]["employer"][0] >> 16 < time.time_ns() // 1_000_000 + 60_000


def test_sync_health_shows_what_a_device_still_has_to_send(live_server, three_devices, seeded):
    a, _, _ = three_devices
    a.store.update("household", seeded["household"]["id"], {"note": "待上传"})
    a.client().hello()
    storage = live_server.storage()
    device = storage.get_device(a.device_id)
    storage.close()
    assert device.pending == 1 and device.pull_cursor > 0
    status, body = api(live_server, "GET", "/api/v1/admin/devices")
    assert status == 200
    assert next(d for d in body["devices"] if d["id"] == a.device_id)["pending"] == 1


def test_a_client_of_schema_1_or_2_is_told_to_upgrade_even_when_it_only_pulls(
        live_server, three_devices, seeded):
    """Rule changed with schema 3: a server whose acknowledgements may list refused changes
    serves no device older than schema 3 (a schema-2 device cannot read such an answer), so
    pulls of schema 1 and 2, which used to get the object form of versions, are refused too.
    The object form itself is still what ``compact=False`` makes, and means the same versions
    (checked below through the server's own page builder)."""
    from server.api.sync import pull_page
    from server.db import get_sync

    a, b, _ = three_devices
    for old_schema in (1, 2):
        with pytest.raises(SyncError) as refused:
            a.channel().request("pull", 0, pack({
                "after": 0, "limit": 5000, "schema_version": old_schema}))
        assert (refused.value.code, refused.value.status) == ("upgrade_required", 426)
        assert "请升级" in str(refused.value)
    new = unpack(a.channel().request("pull", 0, pack({
        "after": 0, "limit": 5000, "schema_version": SCHEMA_VERSION})))["entries"]
    assert any(isinstance(e[5], list) for e in new)
    with live_server.app.app_context():
        from server.db import get_storage
        record = get_storage().get_device(a.device_id)
        old = unpack(pull_page(get_sync(), record, 0, 5000, schema_version=1))["entries"]
    assert len(old) == len(new) > 0
    assert all(isinstance(e[5], dict) for e in old)
    # Both forms mean the same versions.
    assert [PulledEntry.from_wire(e) for e in old] == [PulledEntry.from_wire(e) for e in new]
    assert b.store.get("person", seeded["head"]["id"], with_meta=True)["_versions"] == \
        a.store.get("person", seeded["head"]["id"], with_meta=True)["_versions"]


def test_a_device_of_schema_2_is_told_to_upgrade_and_loses_nothing(three_devices,
                                                                     monkeypatch):
    """A device of the release before refusals in acknowledgements (schema 2) cannot read a
    push answer that lists a refused change: the server tells it, in Chinese, to upgrade
    before anything is pushed, and its outbox waits intact for the upgraded software."""
    import client_kit.sync_client as sync_client

    a, b, _ = three_devices
    rows = seed_village(a.store)
    pending = a.store.pending_wire(limit=100, after_seq=0)
    monkeypatch.setattr(sync_client, "SCHEMA_VERSION", 2)
    with pytest.raises(SyncError) as refused:
        a.sync()
    assert (refused.value.code, refused.value.status) == ("upgrade_required", 426)
    assert "请升级" in str(refused.value) and "保留" in str(refused.value)
    assert a.store.pending_wire(limit=100, after_seq=0) == pending
    monkeypatch.setattr(sync_client, "SCHEMA_VERSION", SCHEMA_VERSION)  # upgraded
    b.sync()
    assert b.store.get("person", rows["head"]["id"]) is None  # nothing reached the server
    assert a.sync().sent == len(pending)
    assert a.store.pending_count() == 0
    b.sync()
    assert b.store.get("person", rows["head"]["id"])["name"] == rows["head"]["name"]
