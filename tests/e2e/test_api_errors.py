"""Bad input of every kind gets a clear 4xx with a stable code and changes nothing."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import urllib.request

import pytest

from client_kit.domain.idcard import make_id_number
from client_kit.engine.changes import Change
from client_kit.engine.protocol import SCHEMA_VERSION, decode_ack, encode_push, pack
from client_kit.engine.ids import natural_id

from .conftest import VILLAGE_A, seed_village
from .support import enrol
from .test_sync_e2e import api


def raw(server, method, path, body=None, headers=None):
    request = urllib.request.Request(server.url + path, data=body, method=method,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def error_of(body: bytes) -> dict:
    payload = json.loads(body)
    assert set(payload) == {"error"}
    assert {"code", "message"} <= set(payload["error"]) <= {"code", "message", "details"}
    assert isinstance(payload["error"]["code"], str) and payload["error"]["message"]
    return payload["error"]


@pytest.fixture
def device(live_server, tmp_path):
    dev = enrol(live_server, tmp_path, "a", [VILLAGE_A])
    seed_village(dev.store)
    dev.sync()
    yield dev
    dev.store.close()


ENVELOPE = {"Content-Type": "application/x-cunsync-envelope"}


def post_sealed(server, device, purpose, payload, counter=0):
    """Seal ``payload`` as the device would and post it."""
    envelope = device.channel().seal(purpose, counter, payload)
    return raw(server, "POST", f"/api/v1/sync/{purpose}", envelope, ENVELOPE)


def push_raw(server, device, body):
    return post_sealed(server, device, "push", body)


def push_ack(device, batch):
    """Push ``batch`` as the device would (sealed, over HTTP); the opened acknowledgement."""
    return decode_ack(device.channel().request(
        "push", batch[0].seq, encode_push(batch, app_version="t")))


def refusals_on_server(server):
    storage = server.storage()
    try:
        return storage.list_refusals(statuses=("open", "resolved"), limit=1000)
    finally:
        storage.close()


def server_state(server):
    storage = server.storage()
    try:
        return (storage.head([VILLAGE_A]), storage.count_rows("person"),
                sum(storage.count_conflicts().values()),
                storage.conn.execute("SELECT count(*) FROM pushed").fetchone()[0])
    finally:
        storage.close()


def change(seq, record_type, row_id, fields, hlc=None, base=None, op="upsert"):
    hlc = hlc or (int(dt.datetime.now().timestamp() * 1000) << 16)
    return Change(seq, record_type, row_id, VILLAGE_A, hlc, op, fields,
                  base or {k: None for k in fields})


PERSON_ID = "01900000-0000-7000-8000-000000000001"


def person_fields(device, **overrides):
    household = device.store.query("household")[0]
    fields = {"village_code": VILLAGE_A, "household_id": household["id"], "name": "张三",
              "id_number": make_id_number("522731", dt.date(1990, 1, 1), 101)}
    fields.update(overrides)
    return fields


@pytest.mark.parametrize("body", [
    b"not gzip at all",
    gzip.compress(b"{not json"),
    gzip.compress(b"[1, 2, 3]"),
    gzip.compress("{\"schema_version\": 1, \"changes\": []}".encode("utf-16")),
    pack({"schema_version": "1", "changes": []}),
    pack({"schema_version": 1, "changes": [["x"]]}),
    pack({"schema_version": 1, "changes": [[1, "person", "id", VILLAGE_A, "soon", "upsert",
                                             {}, None]]}),
    pack({"schema_version": 1}),
    pack({"schema_version": 1, "changes": [{"seq": 1, "record_type": "person"}]}),
    pack({"schema_version": 1, "changes": "all of them"}),
    # Not strict JSON (decision 0007): NaN, a lone surrogate, a sequence beyond 64 bits.
    gzip.compress(b'{"schema_version":2,"changes":[[1,"person","id","522731100201",5,'
                  b'"upsert",{"name":NaN},null]]}'),
    gzip.compress(b'{"schema_version":2,"changes":[[1,"person","id","522731100201",5,'
                  b'"upsert",{"name":"\\ud800"},null]]}'),
    gzip.compress(b'{"schema_version":2,"changes":[[1180591620717411303424,"person","id",'
                  b'"522731100201",5,"upsert",{"name":"x"},null]]}'),
], ids=["not-gzip", "not-json", "array", "utf16", "string-version", "short-change",
        "hlc-string", "no-changes", "change-object", "changes-string", "nan",
        "lone-surrogate", "huge-seq"])
def test_malformed_push_bodies_are_refused_and_change_nothing(live_server, device, body):
    before = server_state(live_server)
    status, answer = push_raw(live_server, device, body)
    assert status == 400
    assert error_of(answer)["code"] == "bad_message"
    assert server_state(live_server) == before


def test_a_person_with_a_wrong_id_check_digit_is_refused_naming_the_field(live_server, device):
    before = server_state(live_server)
    fields = person_fields(device)
    fields["id_number"] = fields["id_number"][:17] + ("0" if fields["id_number"][17] != "0"
                                                      else "1")
    ack = push_ack(device, [change(100, "person", PERSON_ID, fields)])
    # Refused alone: its sequence is consumed, nothing of it is stored.
    assert (ack.acked_through, ack.applied) == (100, 0)
    [refused] = ack.refused
    assert (refused.seq, refused.code) == (100, "invalid_record")
    assert "身份证号" in json.dumps(refused.details, ensure_ascii=False)
    assert server_state(live_server)[:3] == before[:3]
    [kept] = refusals_on_server(live_server)
    assert (kept.device_id, kept.seq, kept.code, kept.status) == (
        device.device_id, 100, "invalid_record", "open")


def test_one_bad_change_is_refused_alone_and_the_rest_of_its_batch_applies(live_server,
                                                                           device):
    # Before: one bad change refused its whole batch, and every retry, for good.
    before = server_state(live_server)
    good = change(100, "person", PERSON_ID, person_fields(device))
    bad = change(101, "employment", natural_id("employment", PERSON_ID),
                 {"village_code": VILLAGE_A, "person_id": PERSON_ID, "status": "retired"})
    after = change(102, "person", PERSON_ID, {"phone": "13800000000"},
                   base={"phone": None})
    ack = push_ack(device, [good, bad, after])
    assert (ack.acked_through, ack.applied) == (102, 2)
    assert [(r.seq, r.code) for r in ack.refused] == [(101, "invalid_record")]
    assert server_state(live_server)[1] == before[1] + 1
    # The same batch again (its answer lost) is answered the same, and applies nothing twice.
    again = push_ack(device, [good, bad, after])
    assert (again.acked_through, again.repeated, again.refused) == (102, 3, ack.refused)
    assert server_state(live_server)[1] == before[1] + 1


@pytest.mark.parametrize("record_type,fields,code", [
    ("alien", {"x": 1}, "unknown_record_type"),
    ("person", {"salary": 1}, "invalid_record"),
    ("person", {"village_code": "522731100209"}, "village_mismatch"),
])
def test_unknown_types_fields_and_villages_are_refused(live_server, device, record_type, fields,
                                                       code):
    before = server_state(live_server)
    ack = push_ack(device, [change(100, record_type, PERSON_ID, fields)])
    assert [(r.seq, r.code) for r in ack.refused] == [(100, code)]
    assert server_state(live_server)[:3] == before[:3]


def test_a_natural_key_fact_under_a_made_up_id_is_refused(live_server, device):
    post = device.store.query("post")[0]
    wife = device.store.query("person")[1]
    fields = {"village_code": VILLAGE_A, "post_id": post["id"], "day": "2026-11-20",
              "person_id": wife["id"], "status": "on_post"}
    ack = push_ack(device, [change(100, "attendance", PERSON_ID, fields)])
    assert [(r.seq, r.code) for r in ack.refused] == [(100, "natural_key_mismatch")]


def test_a_device_clock_far_ahead_is_refused_until_fixed(live_server, device):
    before = server_state(live_server)
    ahead = int((dt.datetime.now() + dt.timedelta(days=90)).timestamp() * 1000) << 16
    batch = [change(100, "person", PERSON_ID, person_fields(device), hlc=ahead)]
    status, answer = push_raw(live_server, device, encode_push(batch, app_version="t"))
    err = error_of(answer)
    assert (status, err["code"]) == (409, "clock_ahead")
    assert "时间" in err["message"]
    assert server_state(live_server) == before


def test_an_old_schema_version_gets_upgrade_required(live_server, device):
    live_server.app.config["MIN_CLIENT_SCHEMA"] = SCHEMA_VERSION + 1
    status, answer = push_raw(live_server, device, encode_push([], app_version="t"))
    assert (status, error_of(answer)["code"]) == (426, "upgrade_required")


def test_a_schema_2_push_is_refused_even_when_the_operator_allows_older_devices(live_server,
                                                                               device):
    """A schema-2 device cannot read an acknowledgement listing a refused change, so the
    server serves none, whatever ``MIN_CLIENT_SCHEMA`` says: it is told to upgrade, and
    nothing of its push is applied."""
    live_server.app.config["MIN_CLIENT_SCHEMA"] = 1
    batch = [change(1, "person", PERSON_ID, person_fields(device))]
    before = server_state(live_server)
    status, answer = push_raw(live_server, device,
                              encode_push(batch, app_version="t", schema_version=2))
    err = error_of(answer)
    assert (status, err["code"]) == (426, "upgrade_required")
    assert "请升级" in err["message"]
    assert err["details"]["minimum"] == SCHEMA_VERSION == 3
    assert server_state(live_server) == before


def test_a_huge_body_is_refused(live_server, device):
    live_server.app.config["MAX_CONTENT_LENGTH"] = 1024
    status, answer = raw(live_server, "POST", "/api/v1/sync/push", b"x" * 4096, ENVELOPE)
    assert (status, error_of(answer)["code"]) == (413, "body_too_large")


def test_a_zip_bomb_is_refused(live_server, device, monkeypatch):
    import client_kit.engine.protocol as protocol

    monkeypatch.setattr(protocol, "MAX_MESSAGE_BYTES", 1024 * 1024)
    bomb = gzip.compress(b'{"schema_version":1,"changes":[],"pad":"' + b"a" * 4_000_000 + b'"}')
    status, answer = push_raw(live_server, device, bomb)
    assert (status, error_of(answer)["code"]) == (400, "bad_message")


@pytest.mark.parametrize("query", [{"after": -1, "limit": 10}, {"after": "abc", "limit": 10},
                                   {"after": 0, "limit": 0}, {"after": 2**70, "limit": 10}])
def test_bad_pull_parameters_are_refused(live_server, device, query):
    status, answer = post_sealed(live_server, device, "pull",
                                 pack({**query, "schema_version": SCHEMA_VERSION}))
    assert (status, error_of(answer)["code"]) == (400, "bad_request")


def test_a_wrong_password_is_refused(live_server, device):
    status, body = api(live_server, "GET", "/api/v1/conflicts", user=("jiandu", "wrong"))
    assert (status, body["error"]["code"]) == (401, "bad_credentials")
    assert body["error"]["message"] == "用户名或密码错误"


def test_a_worker_cannot_use_the_supervisor_api(live_server, device):
    from .support import add_user

    add_user(live_server, "worker1", "worker", [VILLAGE_A])
    status, body = api(live_server, "GET", "/api/v1/conflicts",
                       user=("worker1", "correct-horse"))
    assert (status, body["error"]["code"]) == (403, "wrong_role")


def test_resolving_needs_a_valid_body(live_server, device):
    for body in ({}, {"action": "maybe", "comment": "x"}, {"action": "current"},
                 {"action": "current", "comment": ""}):
        status, answer = api(live_server, "POST", "/api/v1/conflicts/1/resolve", body)
        assert status == 400 and answer["error"]["code"] == "bad_request"
    status, answer = raw(live_server, "POST", "/api/v1/conflicts/1/resolve", b"{oops",
                         {"Content-Type": "application/json", "Authorization": "Basic " +
                          base64.b64encode(b"jiandu:correct-horse").decode()})
    assert status == 400 and error_of(answer)["code"] == "bad_json"


def test_a_conflict_outside_the_supervisors_scope_is_not_found(live_server, device):
    from .support import add_user

    add_user(live_server, "other-county", "supervisor", ["522732"])
    status, body = api(live_server, "GET", "/api/v1/conflicts/1",
                       user=("other-county", "correct-horse"))
    assert (status, body["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize("method,path,status,code", [
    ("GET", "/api/v1/nowhere", 404, "not_found"),
    ("DELETE", "/api/v1/sync/push", 405, "method_not_allowed"),
])
def test_unknown_routes_answer_in_the_same_shape(live_server, method, path, status, code):
    got, answer = raw(live_server, method, path)
    assert (got, error_of(answer)["code"]) == (status, code)


def test_every_api_route_is_in_the_openapi_document(live_server):
    status, body = raw(live_server, "GET", "/api/v1/openapi.json")
    spec = json.loads(body)
    documented = set(spec["paths"])
    for rule in live_server.app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
            assert path in documented, path


@pytest.mark.parametrize("value", [["on_post"], {"code": "on_post"}, [["x"]], 7])
def test_a_value_of_the_wrong_json_type_is_refused_not_a_server_error(live_server, device,
                                                                      value):
    post = device.store.query("post")[0]
    wife = device.store.query("person")[1]
    fields = {"village_code": VILLAGE_A, "post_id": post["id"], "day": "2026-11-20",
              "person_id": wife["id"], "status": value}
    row_id = natural_id("attendance", post["id"], "2026-11-20")
    before = server_state(live_server)
    ack = push_ack(device, [change(100, "attendance", row_id, fields)])
    [refused] = ack.refused
    assert refused.code == "invalid_record"
    assert "考勤" in refused.message
    assert server_state(live_server)[:3] == before[:3]


def test_a_hello_with_nonsense_progress_figures_is_answered_and_records_none(live_server,
                                                                           device):
    storage = live_server.storage()
    before = storage.get_device(device.device_id)
    storage.close()
    status, _ = post_sealed(live_server, device, "hello",
                            pack({"schema_version": SCHEMA_VERSION, "pending": "lots",
                                  "cursor": -3}))
    assert status == 200
    storage = live_server.storage()
    after = storage.get_device(device.device_id)
    storage.close()
    assert (after.pending, after.pull_cursor) == (before.pending, before.pull_cursor)
