"""End to end, over a real server on 127.0.0.1: how conflicts reach a supervisor and how she
settles them. A later change to a disputed field joins that field's open conflict as one more
candidate (rule M4); a resolution may set the row's related fields in the same change (R5)."""

from __future__ import annotations

import time

from .conftest import VILLAGE_A
from .test_sync_e2e import api, open_conflicts, seeded  # noqa: F401  (a fixture)


def test_later_changes_to_a_disputed_field_join_its_conflict_as_candidates(
        live_server, three_devices, seeded):  # noqa: F811
    a, b, c = three_devices
    employment_id = seeded["employment"]["id"]
    a.store.update("employment", employment_id, {"monthly_income": 4500})
    b.store.update("employment", employment_id, {"monthly_income": 3800})
    a.sync(), b.sync(), c.sync()
    # Every team keeps correcting the disputed income: 3 devices, 5 more writes.
    for device, income in ((c, 4200), (a, 4600), (b, 3900), (c, 4300), (a, 4700)):
        time.sleep(0.002)
        device.store.update("employment", employment_id, {"monthly_income": income})
        device.sync()
    [conflict] = open_conflicts(live_server)  # one disputed field, one entry in the queue
    assert conflict["field"] == "monthly_income"
    status, detail = api(live_server, "GET", f"/api/v1/conflicts/{conflict['id']}")
    assert status == 200, detail
    offered = [(x["value"], x["device"]) for x in detail["candidates"]]
    assert offered == [(4700, a.device_id), (4300, c.device_id), (3900, b.device_id),
                       (4600, a.device_id), (4200, c.device_id), (3800, b.device_id)]
    assert all(x["user_name"] and x["created_at"] and x["version"] for x in detail["candidates"])
    # The queue counts disputed fields, not writes.
    status, listing = api(live_server, "GET", "/api/v1/conflicts")
    assert listing["total"] == 1
    status, joined = api(live_server, "GET", "/api/v1/conflicts?status=candidate")
    assert len(joined["conflicts"]) == 5
    # A candidate is settled through its conflict, not on its own.
    other = joined["conflicts"][0]["id"]
    status, body = api(live_server, "POST", f"/api/v1/conflicts/{other}/resolve",
                       {"action": "incoming", "comment": "核实"})
    assert status == 409 and body["error"]["code"] == "conflict_joined"
    assert body["error"]["details"]["conflict"] == conflict["id"]

    chosen = next(x for x in detail["candidates"] if x["value"] == 4300)
    status, body = api(live_server, "POST", f"/api/v1/conflicts/{conflict['id']}/resolve",
                       {"action": "incoming", "candidate": chosen["id"],
                        "comment": "电话核实为4300元"})
    assert status == 200, body
    assert body["status"] == "resolved" and body["resolved_value"] == 4300
    assert open_conflicts(live_server) == []
    # Settled with its conflict: a candidate is no longer offered as waiting elsewhere.
    status, body = api(live_server, "POST", f"/api/v1/conflicts/{other}/resolve",
                       {"action": "incoming", "comment": "核实"})
    assert status == 409 and body["error"]["code"] == "conflict_not_open"
    assert body["error"]["details"]["conflict"] == conflict["id"]
    for device in (a, b, c):
        device.sync()
        row = device.store.get("employment", employment_id, with_meta=True)
        assert row["monthly_income"] == 4300 and row["_disputed"] == []
    status, history = api(live_server, "GET",
                          f"/api/v1/records/employment/{employment_id}/history")
    kept = {x["incoming_value"] for x in history["conflicts"]}
    assert {3800, 4200, 4600, 3900, 4300, 4700} <= kept  # nothing offered is lost
    audit = live_server.storage()
    try:
        [entry] = [e for e in audit.audit_entries() if e.action == "conflict.resolve"]
    finally:
        audit.close()
    assert entry.detail["candidate"] == chosen["id"]


def test_a_candidate_not_of_this_conflict_is_refused_and_changes_nothing(
        live_server, three_devices, seeded):  # noqa: F811
    a, b, _ = three_devices
    employment_id = seeded["employment"]["id"]
    a.store.update("employment", employment_id, {"monthly_income": 4500})
    b.store.update("employment", employment_id, {"monthly_income": 3800})
    a.sync(), b.sync()
    [conflict] = open_conflicts(live_server)
    for candidate, action in ((conflict["id"] + 1000, "incoming"), (conflict["id"], "current")):
        body = {"action": action, "candidate": candidate, "comment": "核实"}
        if candidate == conflict["id"]:
            body["candidate"] = conflict["id"] + 1000
        status, answer = api(live_server, "POST",
                             f"/api/v1/conflicts/{conflict['id']}/resolve", body)
        assert status == 400 and answer["error"]["code"] == "bad_candidate", answer
    assert [c["id"] for c in open_conflicts(live_server)] == [conflict["id"]]


def test_changes_a_device_pushes_in_one_batch_to_a_disputed_field_join_one_conflict(
        live_server, three_devices, seeded):  # noqa: F811
    a, b, _ = three_devices
    employment_id = seeded["employment"]["id"]
    a.store.update("employment", employment_id, {"monthly_income": 4500})
    a.sync()
    for income in (3800, 3700, 3600):  # offline, then one push
        b.store.update("employment", employment_id, {"monthly_income": income})
    assert b.sync().conflicts == 3  # each of b's values waits for a supervisor
    [conflict] = open_conflicts(live_server)
    status, detail = api(live_server, "GET", f"/api/v1/conflicts/{conflict['id']}")
    assert [x["value"] for x in detail["candidates"]] == [3600, 3700, 3800]


def test_follow_up_conflicts_of_an_older_server_become_candidates_of_the_oldest(
        live_server, three_devices, seeded):  # noqa: F811
    a, b, c = three_devices
    employment_id = seeded["employment"]["id"]
    a.store.update("employment", employment_id, {"monthly_income": 4500})
    b.store.update("employment", employment_id, {"monthly_income": 3800})
    a.sync(), b.sync(), c.sync()
    c.store.update("employment", employment_id, {"monthly_income": 4200})
    c.sync()
    storage = live_server.storage()
    try:
        # What a server before candidates stored: each follow-up an open conflict of its own.
        storage.conn.execute("UPDATE conflicts SET status = 'open'")
        assert len(open_conflicts(live_server)) == 2
        storage.upgrade()
    finally:
        storage.close()
    [conflict] = open_conflicts(live_server)
    status, detail = api(live_server, "GET", f"/api/v1/conflicts/{conflict['id']}")
    assert [x["value"] for x in detail["candidates"]] == [4200, 3800]


# -- settling a rule that spans fields (R5) --------------------------------------------------

def _reason_dispute(live_server, a, b, seeded):  # type: ignore[no-untyped-def]
    """The wife is recorded not employed (willing); a and b then record different reasons."""
    job = a.store.create("employment", {"person_id": seeded["wife"]["id"],
                                        "status": "not_employed",
                                        "not_working_reason": "willing"})
    a.sync(), b.sync()
    a.store.update("employment", job["id"], {"not_working_reason": "unable"})
    b.store.update("employment", job["id"], {"not_working_reason": "studying"})
    a.sync(), b.sync()
    [conflict] = open_conflicts(live_server)
    assert conflict["field"] == "not_working_reason"
    return job["id"], conflict


def test_a_supervisor_resolves_an_employment_conflict_to_employed_in_one_change(
        live_server, three_devices, seeded):  # noqa: F811
    a, b, c = three_devices
    job_id, conflict = _reason_dispute(live_server, a, b, seeded)
    url = f"/api/v1/conflicts/{conflict['id']}/resolve"
    # Alone, clearing the reason leaves a row the rules refuse: the fields are named.
    status, body = api(live_server, "POST", url, {
        "action": "corrected", "values": {"not_working_reason": None}, "comment": "已就业"})
    assert status == 422 and body["error"]["code"] == "invalid_record"
    assert body["error"]["details"]["fields"]["not_working_reason"] == [
        "未就业原因：未就业时必填"]
    status, body = api(live_server, "POST", url, {
        "action": "corrected", "values": {"not_working_reason": None, "status": "employed"},
        "comment": "已就业"})
    assert status == 422
    assert body["error"]["details"]["fields"]["work_kind"] == ["就业方式：已就业时必填"]
    storage = live_server.storage()
    head_before = storage.head([VILLAGE_A])
    audits_before = len(storage.audit_entries(limit=1000))
    storage.close()

    status, body = api(live_server, "POST", url, {
        "action": "corrected", "comment": "入户核实：11月起在镇帮扶车间上班",
        "values": {"not_working_reason": None, "status": "employed",
                   "destination": "in_county", "work_kind": "workshop",
                   "start_date": "2026-11-01"}})
    assert status == 200, body
    assert body["status"] == "resolved" and body["resolved_value"] is None
    assert open_conflicts(live_server) == []
    storage = live_server.storage()
    try:
        # One change: one log entry, every field with the same new server version.
        [entry] = [e for e in storage.history("employment", job_id)
                   if e["device_id"] == "server"]
        assert set(entry["fields"]) == {"not_working_reason", "status", "destination",
                                        "work_kind", "start_date"}
        assert len({tuple(v) for v in entry["versions"].values()}) == 1
        assert storage.head([VILLAGE_A]) == head_before + 1
        assert len(storage.audit_entries(limit=1000)) == audits_before + 1
        [audit] = [e for e in storage.audit_entries() if e.action == "conflict.resolve"]
        assert audit.detail["after"]["status"] == "employed"
    finally:
        storage.close()
    for device in (a, b, c):
        device.sync()
        row = device.store.get("employment", job_id, with_meta=True)
        assert (row["status"], row["not_working_reason"], row["work_kind"],
                row["start_date"], row["_disputed"]) == (
            "employed", None, "workshop", "2026-11-01", [])
    # The row is valid: a device edits it again without complaint.
    a.store.update("employment", job_id, {"employer": "镇就业帮扶车间"})
    assert a.sync().conflicts == 0


def test_taking_the_incoming_value_with_related_fields_set_together(
        live_server, three_devices, seeded):  # noqa: F811
    a, b, _ = three_devices
    job = a.store.create("employment", {"person_id": seeded["wife"]["id"],
                                        "status": "not_employed",
                                        "not_working_reason": "willing"})
    a.sync(), b.sync()
    # a: she found work; b, not knowing: she went back to school.
    a.store.update("employment", job["id"], {
        "status": "employed", "not_working_reason": None, "destination": "in_county",
        "work_kind": "workshop"})
    b.store.update("employment", job["id"], {"not_working_reason": "studying"})
    a.sync(), b.sync()
    [conflict] = open_conflicts(live_server)
    url = f"/api/v1/conflicts/{conflict['id']}/resolve"
    status, body = api(live_server, "POST", url, {"action": "incoming", "comment": "在校"})
    assert status == 422
    assert "未就业原因：已就业时不应填写" in body["error"]["details"]["fields"][
        "not_working_reason"]
    status, body = api(live_server, "POST", url, {
        "action": "incoming", "values": {"not_working_reason": "unable"}, "comment": "x"})
    assert status == 400 and body["error"]["code"] == "bad_values"
    status, body = api(live_server, "POST", url, {
        "action": "incoming", "values": {"status": "not_employed", "destination": None,
                                         "work_kind": None},
        "comment": "核实：已返校读书"})
    assert status == 200, body
    a.sync()
    row = a.store.get("employment", job["id"])
    assert (row["status"], row["not_working_reason"], row["work_kind"]) == (
        "not_employed", "studying", None)


def test_a_related_field_under_dispute_is_settled_with_the_resolution(
        live_server, three_devices, seeded):  # noqa: F811
    a, b, _ = three_devices
    employment_id = seeded["employment"]["id"]
    a.store.update("employment", employment_id, {"monthly_income": 4500, "employer": "甲厂"})
    b.store.update("employment", employment_id, {"monthly_income": 3800, "employer": "乙厂"})
    a.sync(), b.sync()
    conflicts = {c["field"]: c for c in open_conflicts(live_server)}
    assert set(conflicts) == {"monthly_income", "employer"}
    status, body = api(live_server, "POST",
                       f"/api/v1/conflicts/{conflicts['monthly_income']['id']}/resolve",
                       {"action": "corrected", "value": 4100, "values": {"employer": "丙厂"},
                        "comment": "电话核实"})
    assert status == 200, body
    assert open_conflicts(live_server) == []
    status, detail = api(live_server, "GET",
                         f"/api/v1/conflicts/{conflicts['employer']['id']}")
    assert (detail["status"], detail["resolved_value"], detail["resolution"]) == (
        "resolved", "丙厂", "corrected")
    b.sync()
    row = b.store.get("employment", employment_id, with_meta=True)
    assert (row["monthly_income"], row["employer"], row["_disputed"]) == (4100, "丙厂", [])


def test_keys_references_and_unknown_fields_cannot_be_set_by_a_resolution(
        live_server, three_devices, seeded):  # noqa: F811
    a, b, _ = three_devices
    employment_id = seeded["employment"]["id"]
    a.store.update("employment", employment_id, {"monthly_income": 4500})
    b.store.update("employment", employment_id, {"monthly_income": 3800})
    a.sync(), b.sync()
    [conflict] = open_conflicts(live_server)
    url = f"/api/v1/conflicts/{conflict['id']}/resolve"
    for field, message in (("person_id", "不能在冲突处理中修改"),
                           ("village_code", "不能在冲突处理中修改"), ("nonsense", "未知字段")):
        status, body = api(live_server, "POST", url, {
            "action": "current", "values": {field: "x"}, "comment": "核实"})
        assert status == 422, body
        assert body["error"]["details"]["fields"][field] == [message]
    status, body = api(live_server, "POST", url, {
        "action": "corrected", "value": 4100, "values": {"monthly_income": 4200},
        "comment": "核实"})
    assert status == 400 and body["error"]["code"] == "bad_values"
    assert [c["id"] for c in open_conflicts(live_server)] == [conflict["id"]]
