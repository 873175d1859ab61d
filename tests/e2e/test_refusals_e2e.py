"""End to end: a change the county refuses is refused alone, set aside on the device, shown to
the worker and the supervisor, and resolvable; nothing stuck, nothing leaked across villages.
(Issue 12 item 1, issue 13 item 1.)"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3

import pytest

from client_kit.domain.idcard import make_id_number
from client_kit.engine.changes import Change
from client_kit.engine.ids import natural_id
from client_kit.errors import Offline, OutOfScope

from .conftest import VILLAGE_A, VILLAGE_B, seed_village
from .support import PASSPHRASE, CutPlan, CuttingProxy, add_user, enrol
from .test_api_errors import push_ack
from .test_sync_e2e import api

PHONE = "13800000000"


def now_hlc() -> int:
    return int(dt.datetime.now().timestamp() * 1000) << 16


def forged(seq, record_type, row_id, fields, village=VILLAGE_A):
    """A change as a tampered or older device could push it."""
    return Change(seq, record_type, row_id, village, now_hlc(), "upsert",
                  {"village_code": village, **fields}, {k: None for k in fields})


def write_outside_scope(device, type_name, values):
    """What an older device (one that did not check its scope) put in its outbox."""
    scope = device.store.meta("villages")
    device.store.set_meta("villages", "[]")
    try:
        return device.store.create(type_name, values)
    finally:
        device.store.set_meta("villages", scope)


def server_rows(server, type_name, ids):
    storage = server.storage()
    try:
        return storage.load_rows(type_name, ids)
    finally:
        storage.close()


def refused_list(server, **query):
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    status, body = api(server, "GET", f"/api/v1/refused-changes?{qs}")
    assert status == 200, body
    return body


@pytest.fixture
def team_a(live_server, tmp_path):
    """Two devices of village A; the first recorded the village and synced, the second pulled."""
    a = enrol(live_server, tmp_path, "a", [VILLAGE_A])
    watcher = enrol(live_server, tmp_path, "watcher", [VILLAGE_A])
    rows = seed_village(a.store)
    a.sync()
    watcher.sync()
    yield a, watcher, rows
    a.store.close()
    watcher.store.close()


@pytest.fixture
def village_b(live_server, tmp_path):
    """A device of village B with its own village recorded and synced."""
    b = enrol(live_server, tmp_path, "b", [VILLAGE_B])
    rows = seed_village(b.store, VILLAGE_B)
    b.sync()
    yield b, rows
    b.store.close()


# -- nothing stuck ------------------------------------------------------------------------


def test_a_refused_change_in_the_middle_of_the_outbox_does_not_block_the_ones_behind_it(
        live_server, team_a):
    a, watcher, rows = team_a
    a.store.update("household", rows["household"]["id"], {"phone": PHONE})
    stray = write_outside_scope(a, "household", {"village_code": VILLAGE_B,
                                                 "head_name": "外村户"})
    a.store.update("employment", rows["employment"]["id"], {"monthly_income": 4800})
    assert a.store.pending_count() == 3

    summary = a.sync()
    # Before: every sync was refused 403 out_of_scope and the two good changes never left.
    assert (summary.sent, summary.refused) == (2, 1)
    assert a.store.pending_count() == 0
    [aside] = a.store.set_aside()
    assert (aside.row_id, aside.code, aside.village_code) == (stray["id"], "out_of_scope",
                                                              VILLAGE_B)
    assert VILLAGE_B in aside.message and aside.creates_row
    watcher.sync()
    assert watcher.store.get("household", rows["household"]["id"])["phone"] == PHONE
    assert watcher.store.get("employment", rows["employment"]["id"])["monthly_income"] == 4800
    assert server_rows(live_server, "household", [stray["id"]]) == {}

    # Later writes flow too; the refused change stays set aside, not sent again.
    a.store.update("employment", rows["employment"]["id"], {"monthly_income": 5000})
    assert a.sync().sent == 1 and len(a.store.set_aside()) == 1

    # The supervisor sees it on the sync-health API with device, user, reason and time.
    body = refused_list(live_server)
    assert body["total"] == 1
    [seen] = body["refused"]
    assert (seen["device_id"], seen["user_name"], seen["code"], seen["row_id"]) == (
        a.device_id, a.user, "out_of_scope", stray["id"])
    assert seen["message"] == aside.message and seen["created_at"]
    assert seen["code_label"] == "村不在本设备范围内" and seen["record_label"] == "农户"
    # A supervisor of another county neither sees nor settles it.
    add_user(live_server, "other-county", "supervisor", ["522732"])
    other = ("other-county", "correct-horse")
    status, body = api(live_server, "GET", "/api/v1/refused-changes", user=other)
    assert (status, body["total"], body["refused"]) == (200, 0, [])
    status, body = api(live_server, "POST", f"/api/v1/refused-changes/{seen['id']}/resolve",
                       {"comment": "不是我的"}, user=other)
    assert status == 404

    # The worker discards it: the county never had the row, so it leaves the device too.
    assert a.store.discard(aside.seq) == "removed"
    assert a.store.set_aside() == [] and a.store.get("household", stray["id"]) is None
    assert a.sync().refused == 0

    # The supervisor marks it resolved; it is audited and leaves the open list.
    status, resolved = api(live_server, "POST",
                           f"/api/v1/refused-changes/{seen['id']}/resolve",
                           {"comment": "已电话告知工作队，外村户由龙井村录入"})
    assert status == 200 and resolved["status"] == "resolved"
    assert resolved["resolved_by"] == "jiandu"
    assert refused_list(live_server)["total"] == 0
    assert refused_list(live_server, status="resolved")["total"] == 1
    status, again = api(live_server, "POST", f"/api/v1/refused-changes/{seen['id']}/resolve",
                        {"comment": "再次"})
    assert (status, again["error"]["code"]) == (409, "refusal_not_open")
    storage = live_server.storage()
    try:
        assert storage.audit_entries(limit=1)[0].action == "refusal.resolve"
    finally:
        storage.close()


def test_a_refused_change_is_sent_again_once_the_county_widens_the_scope(live_server, team_a,
                                                                         village_b):
    a, _, _ = team_a
    b, b_rows = village_b
    stray = write_outside_scope(a, "household", {"village_code": VILLAGE_B,
                                                 "head_name": "外村户"})
    assert a.sync().refused == 1
    [aside] = a.store.set_aside()
    with pytest.raises(OutOfScope):  # still outside the device's villages: said at once
        a.store.resend(aside.seq)
    storage = live_server.storage()
    try:
        with storage.atomic():
            storage.update_device(a.device_id, villages=[VILLAGE_A, VILLAGE_B])
    finally:
        storage.close()
    a.sync()  # the device learns its new villages
    new_seq = a.store.resend(aside.seq)
    assert new_seq > aside.seq and a.store.pending_count() == 1 and a.store.set_aside() == []
    summary = a.sync()
    assert (summary.sent, summary.refused) == (1, 0)
    assert server_rows(live_server, "household", [stray["id"]])[stray["id"]].village_code == \
        VILLAGE_B
    b.sync()
    assert b.store.get("household", stray["id"])["head_name"] == "外村户"


def test_discarding_a_refused_change_to_a_known_row_shows_the_countys_value_again(
        live_server, team_a):
    a, _, rows = team_a
    employment_id = rows["employment"]["id"]
    a.store.update("employment", employment_id, {"monthly_income": 9999})
    # A device fault tags the change with another village: the county refuses it alone.
    conn = sqlite3.connect(a.path)
    with conn:
        conn.execute("UPDATE outbox SET village_code = ?", (VILLAGE_B,))
    conn.close()
    assert a.sync().refused == 1
    [aside] = a.store.set_aside()
    assert not aside.creates_row
    assert a.store.get("employment", employment_id)["monthly_income"] == 9999
    assert a.store.discard(aside.seq) == "restored"
    a.sync()
    # The row shows what the county holds, not the refused value.
    assert a.store.get("employment", employment_id)["monthly_income"] == 4000
    a.store.update("employment", employment_id, {"monthly_income": 4100})
    assert a.sync().sent == 1
    assert server_rows(live_server, "employment", [employment_id])[
        employment_id].state.values["monthly_income"] == 4100


def test_discarding_a_refused_first_value_keeps_the_row_with_exactly_the_countys_values(
        live_server, team_a):
    a, watcher, rows = team_a
    household = rows["household"]["id"]
    assert a.store.get("household", household)["phone"] is None
    a.store.update("household", household, {"phone": PHONE})   # the household's first phone
    conn = sqlite3.connect(a.path)
    with conn:
        conn.execute("UPDATE outbox SET village_code = ?", (VILLAGE_B,))
    conn.close()
    assert a.sync().refused == 1
    [aside] = a.store.set_aside()
    assert not aside.creates_row
    # Before: the household was deleted here (taken for a refused new record) and never came
    # back, though the county has it.
    assert a.store.discard(aside.seq) == "restored"
    assert a.store.get("household", household) is not None
    a.sync()
    mine = a.store.get("household", household)
    county = server_rows(live_server, "household", [household])[household].state.values
    assert mine["phone"] is None and county.get("phone") is None
    assert {k: v for k, v in mine.items() if k != "id"} == {
        k: v for k, v in county.items() if k in mine and k != "id"}
    # Another device's later value arrives as usual.
    watcher.store.update("household", household, {"phone": "13900000000"})
    watcher.sync()
    a.sync()
    assert a.store.get("household", household)["phone"] == "13900000000"


def test_a_retried_push_after_a_cut_gets_the_same_answer(live_server, team_a):
    a, _, rows = team_a
    a.store.update("household", rows["household"]["id"], {"phone": PHONE})
    write_outside_scope(a, "household", {"village_code": VILLAGE_B, "head_name": "外村户"})
    a.store.update("employment", rows["employment"]["id"], {"monthly_income": 4800})
    # The server commits the push, then the connection dies before the device reads the ack.
    plan = CutPlan(lambda method, path, n: "drop" if path.endswith("/push") else None)
    with CuttingProxy(live_server.httpd.server_port, plan) as proxy:
        with pytest.raises(Offline):
            a.sync(url=proxy.url)
    assert a.store.pending_count() == 3 and a.store.set_aside() == []
    first = refused_list(live_server)["refused"]
    summary = a.sync()
    assert (summary.sent, summary.repeated, summary.refused) == (0, 3, 1)
    [aside] = a.store.set_aside()
    assert (aside.code, aside.message) == (first[0]["code"], first[0]["message"])
    # Refused once, recorded once; the good changes applied once.
    assert refused_list(live_server)["total"] == 1
    storage = live_server.storage()
    try:
        history = storage.history("employment", rows["employment"]["id"])
    finally:
        storage.close()
    assert [h["fields"].get("monthly_income") for h in history].count(4800) == 1


def test_a_device_refuses_writes_outside_its_villages(live_server, team_a):
    a, _, rows = team_a
    before = a.store.pending_count()
    with pytest.raises(OutOfScope) as refused:
        a.store.create("household", {"village_code": VILLAGE_B, "head_name": "外村户"})
    assert VILLAGE_B in refused.value.message and "本设备" in refused.value.message
    stray = write_outside_scope(a, "household", {"village_code": VILLAGE_B,
                                                 "head_name": "外村户"})
    a.store.acknowledge(a.store.pending(limit=1000)[-1].seq)  # as if long since settled
    with pytest.raises(OutOfScope):
        a.store.update("household", stray["id"], {"phone": PHONE})
    with pytest.raises(OutOfScope):
        a.store.delete("household", stray["id"])
    with pytest.raises(OutOfScope):  # a child inherits its household's village
        a.store.create("person", {
            "household_id": stray["id"], "name": "外村人", "relation": "head",
            "id_number": make_id_number("522731", dt.date(1980, 1, 1), 7),
            "labour_capacity": "normal"})
    assert a.store.pending_count() == before
    a.store.update("household", rows["household"]["id"], {"phone": PHONE})  # in scope: fine
    assert a.store.pending_count() == before + 1


def test_the_field_app_shows_set_aside_changes_and_resolves_them(live_server, team_a):
    from client_kit.app import create_app

    a, _, rows = team_a
    stray = write_outside_scope(a, "household", {"village_code": VILLAGE_B,
                                                 "head_name": "外村户"})
    a.store.update("household", rows["household"]["id"], {"phone": PHONE})
    assert a.sync().refused == 1
    [aside] = a.store.set_aside()
    app = create_app({"DB": str(a.path), "TESTING": True, "IDLE_MINUTES": 10,
                      "SERVER_URL": live_server.url})
    client = app.test_client()

    def csrf() -> str:
        client.get("/unlock")
        with client.session_transaction() as session:
            return str(session["csrf"])

    assert client.post("/unlock", data={"csrf_token": csrf(),
                                        "passphrase": PASSPHRASE}).status_code == 302
    page = client.get("/sync").text
    assert "被退回的变更（1 条）" in page and aside.message in page
    assert f'data-seq="{aside.seq}"' in page and "重新上传" in page and "放弃" in page
    answer = client.post(f"/sync/set-aside/{aside.seq}/resend", data={"csrf_token": csrf()},
                         follow_redirects=True).text
    assert "无法重新上传" in answer and VILLAGE_B in answer  # still outside the scope
    answer = client.post(f"/sync/set-aside/{aside.seq}/discard", data={"csrf_token": csrf()},
                         follow_redirects=True).text
    assert "县里从未收到这条新记录，已从本设备删除" in answer
    assert "被退回的变更" not in answer
    assert a.store.get("household", stray["id"]) is None


def test_cunsync_status_lists_set_aside_changes(live_server, team_a):
    from click.testing import CliRunner

    from client_kit.cli import main

    a, _, _ = team_a
    write_outside_scope(a, "household", {"village_code": VILLAGE_B, "head_name": "外村户"})
    a.sync()
    [aside] = a.store.set_aside()
    result = CliRunner().invoke(main, ["--db", str(a.path), "status"])
    assert result.exit_code == 0, result.output
    assert "县里退回：1 条" in result.output and aside.message in result.output
    assert f"第 {aside.seq} 号" in result.output and "cunsync set-aside resend" in result.output
    result = CliRunner().invoke(main, ["--db", str(a.path), "status", "--json"])
    [listed] = json.loads(result.output)["set_aside"]
    assert (listed["seq"], listed["code"]) == (aside.seq, "out_of_scope")
    result = CliRunner().invoke(main, ["--db", str(a.path), "set-aside", "discard",
                                       str(aside.seq)], env={"CUNSYNC_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 0 and "已从本设备删除" in result.output


def test_the_console_lists_refused_changes_and_marks_them_resolved(live_server, team_a):
    a, _, _ = team_a
    write_outside_scope(a, "household", {"village_code": VILLAGE_B, "head_name": "外村户"})
    a.sync()
    client = live_server.app.test_client()
    login_page = client.get("/console/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page)[1]
    client.post("/console/login", data={"name": "jiandu", "password": "correct-horse",
                                        "csrf_token": token})
    page = client.get("/console/refused-changes")
    assert page.status_code == 200
    assert "被退回的变更" in page.text and a.device_id in page.text and a.user in page.text
    assert "村不在本设备范围内" in page.text and "待处理（1）" in page.text
    refusal_id = re.search(r'data-refusal="(\d+)"', page.text)[1]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]
    done = client.post(f"/console/refused-changes/{refusal_id}/resolve",
                       data={"csrf_token": token, "comment": "已核实"}, follow_redirects=True)
    assert "已将第" in done.text and "待处理（0）" in done.text
    resolved = client.get("/console/refused-changes?status=resolved").text
    assert "jiandu" in resolved and "已核实" in resolved
    assert "被退回的变更" in client.get("/console/conflicts").text  # linked from the nav


# -- nothing leaked across villages -------------------------------------------------------


def test_references_to_rows_of_another_village_are_refused_alone(live_server, team_a,
                                                                village_b):
    a, _, rows = team_a
    b, b_rows = village_b
    day = "2026-11-20"
    b_post, b_household = b_rows["post"]["id"], b_rows["household"]["id"]
    b_person, b_session = b_rows["head"]["id"], b_rows["session"]["id"]
    intruder = "01900000-0000-7000-8000-0000000000a1"
    good_day = natural_id("attendance", rows["post"]["id"], day)
    batch = [
        # Attendance tagged A on B's post and day: the natural id of B's fact.
        forged(100, "attendance", natural_id("attendance", b_post, day),
               {"post_id": b_post, "day": day, "person_id": rows["wife"]["id"],
                "status": "on_post"}),
        # A person tagged A in B's household, and "employed" for B's person.
        forged(101, "person", intruder, {
            "household_id": b_household, "name": "外来人", "relation": "child",
            "id_number": make_id_number("522731", dt.date(1995, 5, 5), 77),
            "labour_capacity": "normal"}),
        forged(102, "employment", natural_id("employment", b_rows["wife"]["id"]), {
            "person_id": b_rows["wife"]["id"], "status": "employed",
            "destination": "in_county", "work_kind": "wugong"}),
        # B's head's own employment, changed under A's name.
        forged(106, "employment", natural_id("employment", b_person), {"monthly_income": 1}),
        # A sign-in to B's training, and A's own attendance naming B's person.
        forged(103, "signin", natural_id("signin", b_session, rows["head"]["id"], "2026-11-03"),
               {"session_id": b_session, "person_id": rows["head"]["id"],
                "day": "2026-11-03"}),
        forged(104, "attendance", good_day, {"post_id": rows["post"]["id"], "day": day,
                                             "person_id": b_person, "status": "on_post"}),
        # And a change of A's own that is fine: it applies.
        forged(105, "attendance", good_day, {"post_id": rows["post"]["id"], "day": day,
                                             "person_id": rows["wife"]["id"],
                                             "status": "on_post"}),
    ]
    batch = sorted(batch, key=lambda c: c.seq)
    ack = push_ack(a, batch)
    assert ack.acked_through == 106 and ack.applied == 1
    assert [(r.seq, r.code, (r.details or {}).get("field")) for r in ack.refused] == [
        (100, "reference_out_of_village", "post_id"),
        (101, "reference_out_of_village", "household_id"),
        (102, "reference_out_of_village", "person_id"),
        (103, "reference_out_of_village", "session_id"),
        (104, "reference_out_of_village", "person_id"),
        (106, "row_of_other_village", None)]
    assert all(VILLAGE_B in r.message for r in ack.refused)
    assert server_rows(live_server, "person", [intruder]) == {}
    assert list(server_rows(live_server, "attendance", [good_day])) == [good_day]

    # B's own device records that day on its post: nothing of A's is in the way.
    b.store.create("attendance", {"post_id": b_post, "day": day,
                                  "person_id": b_rows["wife"]["id"], "status": "on_post"})
    summary = b.sync()
    assert (summary.sent, summary.refused) == (1, 0)
    a.sync()
    assert {r["village_code"] for r in a.store.query("attendance")} == {VILLAGE_A}


def test_a_reference_resolves_to_a_row_made_earlier_in_the_batch_but_not_a_refused_one(
        live_server, team_a):
    a, _, _ = team_a
    household = "01900000-0000-7000-8000-0000000000b1"
    stray = "01900000-0000-7000-8000-0000000000b2"
    person = {"name": "新成员", "relation": "head", "labour_capacity": "normal"}
    batch = [
        forged(100, "household", household, {"head_name": "新户"}),
        forged(101, "person", "01900000-0000-7000-8000-0000000000b3", {
            **person, "household_id": household,
            "id_number": make_id_number("522731", dt.date(1991, 1, 1), 5)}),
        forged(102, "household", stray, {"head_name": "外村户"}, village=VILLAGE_B),
        forged(103, "person", "01900000-0000-7000-8000-0000000000b4", {
            **person, "household_id": stray,
            "id_number": make_id_number("522731", dt.date(1992, 1, 1), 6)}),
        forged(104, "person", "01900000-0000-7000-8000-0000000000b5", {
            **person, "household_id": "01900000-0000-7000-8000-00000000ffff",
            "id_number": make_id_number("522731", dt.date(1993, 1, 1), 8)}),
    ]
    ack = push_ack(a, batch)
    assert ack.applied == 2
    assert [(r.seq, r.code) for r in ack.refused] == [
        (102, "out_of_scope"), (103, "reference_not_found"), (104, "reference_not_found")]


def test_a_row_of_another_village_is_refused_alone_not_the_batch(live_server, team_a,
                                                                village_b):
    a, _, rows = team_a
    _, b_rows = village_b
    ack = push_ack(a, [
        forged(100, "household", b_rows["household"]["id"], {"head_name": "改名"}),
        forged(101, "household", rows["household"]["id"], {"phone": PHONE}),
    ])
    assert [(r.seq, r.code) for r in ack.refused] == [(100, "row_of_other_village")]
    assert ack.applied == 1
    household = server_rows(live_server, "household", [b_rows["household"]["id"]])
    assert household[b_rows["household"]["id"]].state.values["head_name"] == "王大山"


# -- integers beyond 64 bits and sequences with no room after them (issue 12 item 4a) -----

BIG = [2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1]


@pytest.mark.parametrize("seq", [2 ** 53 + 1, *BIG])
def test_a_push_with_a_sequence_beyond_the_maximum_is_refused_and_the_device_goes_on(
        live_server, team_a, seq):
    from client_kit.engine.protocol import encode_push

    from .test_api_errors import error_of, post_sealed

    a, watcher, rows = team_a
    batch = [forged(seq, "household", rows["household"]["id"], {"phone": PHONE})]
    status, answer = post_sealed(live_server, a, "push", encode_push(batch, app_version="t"),
                                 counter=1)
    assert (status, error_of(answer)["code"]) == (400, "seq_out_of_range")
    # Before: 2^63-1 was accepted and every later push was sequence_out_of_order for good.
    a.store.update("household", rows["household"]["id"], {"phone": "13900000000"})
    assert a.sync().sent == 1
    watcher.sync()
    assert watcher.store.get("household", rows["household"]["id"])["phone"] == "13900000000"


@pytest.mark.parametrize("after", BIG)
def test_a_pull_after_a_cursor_beyond_the_maximum_is_a_bad_request(live_server, team_a, after):
    from client_kit.engine.protocol import SCHEMA_VERSION, pack

    from .test_api_errors import error_of, post_sealed

    a, _, _ = team_a
    status, answer = post_sealed(live_server, a, "pull", pack(
        {"after": after, "limit": 10, "schema_version": SCHEMA_VERSION}))
    assert (status, error_of(answer)["code"]) == (400, "bad_request")


@pytest.mark.parametrize("big", BIG)
def test_a_hello_with_figures_beyond_the_maximum_is_answered_and_records_none(live_server,
                                                                             team_a, big):
    from client_kit.engine.protocol import SCHEMA_VERSION, pack

    from .test_api_errors import post_sealed

    a, _, _ = team_a
    status, _ = post_sealed(live_server, a, "hello", pack(
        {"schema_version": SCHEMA_VERSION, "pending": big, "cursor": big}))
    assert status == 200
    storage = live_server.storage()
    try:
        device = storage.get_device(a.device_id)
    finally:
        storage.close()
    assert device.pending != big and device.pull_cursor != big
    status, _ = post_sealed(live_server, a, "hello", pack({"schema_version": big}))
    assert status == 400


@pytest.mark.parametrize("big", BIG)
def test_the_api_answers_integers_beyond_64_bits_with_4xx(live_server, team_a, big):
    for path, expected in [
            (f"/api/v1/conflicts/{big}", 404),
            (f"/api/v1/conflicts?offset={big}", 400),
            (f"/api/v1/conflicts?limit={big}", 400),
            ("/api/v1/conflicts?min_age_days=1000000000", 400),
            (f"/api/v1/refused-changes?offset={big}", 400)]:
        status, body = api(live_server, "GET", path)
        assert status == expected, (path, body)
    status, body = api(live_server, "POST", "/api/v1/conflicts/acknowledge", {"ids": [big]})
    assert (status, body["error"]["code"]) == (400, "bad_request")
    for path in (f"/api/v1/conflicts/{big}/resolve",):
        status, body = api(live_server, "POST", path, {"action": "current", "comment": "x"})
        assert status == 404, body
    status, body = api(live_server, "POST", f"/api/v1/refused-changes/{big}/resolve",
                       {"comment": "x"})
    assert status == 404, body


@pytest.mark.parametrize("big", BIG)
def test_the_console_answers_integers_beyond_64_bits_without_a_server_error(live_server,
                                                                           team_a, big):
    client = live_server.app.test_client()
    login_page = client.get("/console/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page)[1]
    client.post("/console/login", data={"name": "jiandu", "password": "correct-horse",
                                        "csrf_token": token})
    assert client.get(f"/console/conflicts/{big}").status_code == 404
    for path in (f"/console/conflicts?page={big}", "/console/conflicts?min_age_days=1000000000",
                 f"/console/refused-changes?page={big}"):
        assert client.get(path).status_code == 200, path
    page = client.get("/console/conflicts?status=auto").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    answer = client.post("/console/conflicts/acknowledge",
                         data={"csrf_token": token, "ids": str(big)})
    assert answer.status_code == 302


def test_a_device_never_makes_a_sequence_beyond_the_maximum(live_server, team_a):
    from client_kit.engine.protocol import MAX_SEQ
    from client_kit.errors import RuleViolation

    a, _, rows = team_a
    with a.store.transaction():
        a.store.conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'outbox'",
                             (MAX_SEQ,))
    with pytest.raises(RuleViolation):
        a.store.update("household", rows["household"]["id"], {"phone": PHONE})
    assert a.store.pending_count() == 0
    assert a.store.get("household", rows["household"]["id"])["phone"] != PHONE
