"""Security end to end: tampering, replays, wrong recipients, revocation, wipe, key rotation,
USB bundles, passphrases, and a lost tablet that leaks nothing."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from client_kit.bundle import export_bundle, import_reply
from client_kit.channel import Channel
from client_kit.engine.envelope import seal
from client_kit.enrol import enrol as enrol_device
from client_kit.engine.protocol import SCHEMA_VERSION, pack
from client_kit.errors import SyncError
from client_kit.keystore import WrongPassphrase
from client_kit.store import DeviceStore
from client_kit.sync_client import Wiped
from server.accounts import revoke_device
from server.bundles import import_bundle
from server.data_key import FieldCipher, load_data_key
from server.keyring import Keyring

from .conftest import VILLAGE_A, VILLAGE_B, seed_village
from .support import PASSPHRASE, enrol, enrolment_code
from .test_api_errors import ENVELOPE, error_of, raw, server_state


def hello_envelope(device):
    return device.channel().seal("hello", 0, pack({"schema_version": SCHEMA_VERSION}))


@pytest.fixture
def device(live_server, tmp_path):
    dev = enrol(live_server, tmp_path, "a", [VILLAGE_A])
    seed_village(dev.store)
    yield dev
    if dev.path.exists():
        dev.store.close()


def keyring(server, storage):
    return Keyring(storage, server.app.extensions["cunsync_sealer"])


@pytest.mark.parametrize("offset", [10, 200, -70, -3])
def test_a_flipped_byte_on_the_wire_is_refused_and_nothing_is_stored(live_server, device,
                                                                     offset):
    changes = device.store.pending()
    from client_kit.engine.protocol import encode_push

    envelope = bytearray(device.channel().seal("push", changes[0].seq,
                                               encode_push(changes, app_version="t")))
    envelope[offset] ^= 0x40
    before = server_state(live_server)
    status, answer = raw(live_server, "POST", "/api/v1/sync/push", bytes(envelope), ENVELOPE)
    assert status in (400, 401)
    assert error_of(answer)["code"] in ("bad_signature", "bad_envelope", "unknown_device",
                                        "unknown_sender", "wrong_recipient", "wrong_purpose")
    assert server_state(live_server) == before


def test_a_replayed_push_envelope_is_refused_and_a_refused_push_leaves_nothing(live_server,
                                                                              device):
    from client_kit.engine.protocol import encode_push

    changes = device.store.pending()
    envelope = device.channel().seal("push", changes[0].seq,
                                     encode_push(changes, app_version="t"))
    assert raw(live_server, "POST", "/api/v1/sync/push", envelope, ENVELOPE)[0] == 200
    applied = server_state(live_server)
    status, answer = raw(live_server, "POST", "/api/v1/sync/push", envelope, ENVELOPE)
    assert status == 409 and error_of(answer)["code"] == "replayed_envelope"
    assert server_state(live_server) == applied
    # A push refused as a whole: no batch, no device progress, no note of the envelope. (A
    # change refused for its own content is refused alone inside a 200 answer now.)
    forged = [type(c)(2 ** 53 + 1, c.record_type, c.row_id, c.village, c.hlc, c.op,
                      c.fields, c.base) for c in changes[:1]]
    refused = device.channel().seal("push", 1, encode_push(forged, app_version="t"))
    status, answer = raw(live_server, "POST", "/api/v1/sync/push", refused, ENVELOPE)
    assert status == 400 and error_of(answer)["code"] == "seq_out_of_range"
    assert server_state(live_server) == applied
    storage = live_server.storage()
    seen = storage.conn.execute("SELECT count(*) FROM envelopes_seen WHERE purpose = 'push'"
                                ).fetchone()[0]
    storage.close()
    assert seen == 1


def test_a_replayed_envelope_is_refused(live_server, device):
    envelope = hello_envelope(device)
    assert raw(live_server, "POST", "/api/v1/sync/hello", envelope, ENVELOPE)[0] == 200
    status, answer = raw(live_server, "POST", "/api/v1/sync/hello", envelope, ENVELOPE)
    assert (status, error_of(answer)["code"]) == (409, "replayed_envelope")


def test_an_envelope_sealed_for_another_recipient_is_refused(live_server, device):
    stranger = X25519PrivateKey.generate().public_key()
    envelope = seal(pack({"schema_version": 1}), sender=device.device_id,
                    signing_key=device.store.keys.sign, recipient_key=stranger,
                    purpose="hello", counter=0, now_ms=1, random=os.urandom)
    status, answer = raw(live_server, "POST", "/api/v1/sync/hello", envelope, ENVELOPE)
    assert (status, error_of(answer)["code"]) == (400, "wrong_recipient")


def test_a_device_that_never_enrolled_is_refused(live_server, device):
    server_box = device.channel().server_keys()[0]
    from client_kit.engine.envelope import unb64
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    envelope = seal(pack({"schema_version": 1}), sender="dev-intruder",
                    signing_key=Ed25519PrivateKey.generate(),
                    recipient_key=X25519PublicKey.from_public_bytes(unb64(server_box["box"])),
                    purpose="hello", counter=0, now_ms=1, random=os.urandom)
    status, answer = raw(live_server, "POST", "/api/v1/sync/hello", envelope, ENVELOPE)
    assert (status, error_of(answer)["code"]) == (401, "unknown_device")


def test_a_device_signing_as_another_is_refused(live_server, device, tmp_path):
    other = enrol(live_server, tmp_path, "b", [VILLAGE_A])
    envelope = seal(pack({"schema_version": 1}), sender=other.device_id,
                    signing_key=device.store.keys.sign,
                    recipient_key=_server_box(device), purpose="hello", counter=0, now_ms=1,
                    random=os.urandom)
    status, answer = raw(live_server, "POST", "/api/v1/sync/hello", envelope, ENVELOPE)
    assert (status, error_of(answer)["code"]) == (401, "unknown_sender")
    other.store.close()


def _server_box(device):
    from client_kit.engine.envelope import unb64
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    return X25519PublicKey.from_public_bytes(unb64(device.channel().server_keys()[0]["box"]))


def test_a_revoked_device_is_stopped_at_its_next_request(live_server, device):
    device.sync()
    storage = live_server.storage()
    revoke_device(storage, device.device_id)
    storage.close()
    device.store.update("household", device.store.query("household")[0]["id"],
                        {"note": "撤销后写的"})
    with pytest.raises(SyncError) as refused:
        device.sync()
    assert (refused.value.status, refused.value.code) == (403, "device_revoked")
    assert device.store.pending_count() == 1


def test_a_wipe_order_destroys_the_keys_and_data_on_next_contact(live_server, device):
    device.sync()
    storage = live_server.storage()
    revoke_device(storage, device.device_id, wipe=True)
    storage.close()
    with pytest.raises(Wiped):
        device.sync()
    assert not device.path.exists()
    assert not os.path.exists(str(device.path) + "-wal")
    storage = live_server.storage()
    assert storage.get_device(device.device_id).wiped_at
    storage.close()


def test_a_worker_of_village_a_cannot_pull_village_b(live_server, device, tmp_path):
    other = enrol(live_server, tmp_path, "b", [VILLAGE_B])
    seed_village(other.store, VILLAGE_B)
    other.sync()
    device.sync()
    assert {r["village_code"] for r in device.store.query("household")} == {VILLAGE_A}
    other.store.close()


def test_a_wrong_passphrase_is_a_clear_error_and_changes_nothing(device):
    device.store.close()
    before = device.path.read_bytes()
    with pytest.raises(WrongPassphrase) as refused:
        DeviceStore.open(device.path, passphrase="不是这个口令")
    assert "口令错误" in refused.value.message
    assert device.path.read_bytes() == before
    device.store = DeviceStore.open(device.path, passphrase=PASSPHRASE)


def test_a_locked_store_reads_nothing(device):
    device.store.lock()
    from client_kit.errors import Locked

    with pytest.raises(Locked):
        device.store.query("person")
    device.store.unlock(PASSPHRASE)
    assert len(device.store.query("person")) == 2


def test_changing_the_passphrase_rewraps_without_rewriting_rows(device):
    rows_before = device.store.conn.execute("SELECT * FROM persons ORDER BY id").fetchall()
    device.store.change_passphrase(PASSPHRASE, "新的口令新的口令")
    device.store.close()
    with pytest.raises(WrongPassphrase):
        DeviceStore.open(device.path, passphrase=PASSPHRASE)
    device.store = DeviceStore.open(device.path, passphrase="新的口令新的口令")
    assert device.store.conn.execute("SELECT * FROM persons ORDER BY id").fetchall() == rows_before


def test_exact_look_up_by_id_number_through_the_blind_index(device):
    head = device.store.query("person")[0]
    found = device.store.find_person_by_id_number(head["id_number"].lower())
    assert found["id"] == head["id"]
    assert device.store.find_person_by_id_number("110101199003070000") is None


def test_a_lost_tablet_leaks_no_id_numbers_phones_or_incomes(live_server, device):
    rows = device.store.query("person")
    household = device.store.query("household")[0]
    device.store.update("household", household["id"], {"phone": "13987654321",
                                                       "bank_account": "6228480012345678"})
    employment = device.store.query("employment")[0]
    device.store.update("employment", employment["id"], {"monthly_income": 4321.57})
    device.sync()  # pulled copies are stored too
    secrets_written = [r["id_number"] for r in rows] + ["13987654321", "6228480012345678",
                                                        "4321.57"]
    device.store.close()
    from pathlib import Path

    blob = b"".join(Path(p).read_bytes() for p in (device.path, str(device.path) + "-wal")
                    if os.path.exists(p))
    for secret in secrets_written:
        assert secret.encode() not in blob, secret
    assert "王大山".encode() in blob  # names are not sensitive: the test reads the real file
    device.store = DeviceStore.open(device.path, passphrase=PASSPHRASE)


def test_key_rotation_keeps_devices_syncing_through_the_overlap(live_server, device):
    device.sync()
    storage = live_server.storage()
    ring = keyring(live_server, storage)
    old = ring.active.key_id
    new = ring.rotate()
    storage.close()
    # A device that still seals to the old key is accepted while it is retiring.
    device.store.update("household", device.store.query("household")[0]["id"], {"note": "一"})
    device.sync()
    assert device.channel().server_keys()[0]["key_id"] == new.key_id
    storage = live_server.storage()
    keyring(live_server, storage).retire(old)
    storage.close()
    device.store.update("household", device.store.query("household")[0]["id"], {"note": "二"})
    device.sync()
    assert device.store.pending_count() == 0


def test_after_retirement_an_envelope_to_the_old_key_is_refused(live_server, device):
    stale = hello_envelope(device)
    storage = live_server.storage()
    ring = keyring(live_server, storage)
    old = ring.active.key_id
    ring.rotate()
    keyring(live_server, storage).retire(old)
    storage.close()
    status, answer = raw(live_server, "POST", "/api/v1/sync/hello", stale, ENVELOPE)
    assert (status, error_of(answer)["code"]) == (400, "wrong_recipient")


def import_at_county(live_server, data):
    storage = live_server.storage()
    try:
        return import_bundle(storage, keyring(live_server, storage), data,
                             max_ahead_ms=86_400_000, min_schema=1)
    finally:
        storage.close()


def test_a_usb_bundle_round_trip_imported_twice_changes_nothing_the_second_time(
        live_server, device, tmp_path):
    other = enrol(live_server, tmp_path, "b", [VILLAGE_A])
    other.store.create("village", {"village_code": VILLAGE_A, "name": "白岩村",
                                   "township": "青山镇", "county": "长顺坝县"})
    other.sync()
    stick = tmp_path / "usb"
    stick.mkdir()
    assert export_bundle(device.store, Channel(device.store), stick / "a.bundle") == 8
    data = (stick / "a.bundle").read_bytes()
    for secret in [p["id_number"] for p in device.store.query("person")] + ["王大山"]:
        assert secret.encode() not in data
    reply, summary = import_at_county(live_server, data)
    assert "applied 8" in summary
    before = server_state(live_server)
    reply_again, summary_again = import_at_county(live_server, data)
    assert "applied 0, repeated 8" in summary_again
    assert server_state(live_server) == before
    (stick / "a.reply").write_bytes(reply)
    result = import_reply(device.store, Channel(device.store), stick / "a.reply")
    assert result.sent == 8 and device.store.pending_count() == 0
    assert len(device.store.query("village")) == 1
    snapshot = device.store.conn.execute("SELECT * FROM households").fetchall()
    again = import_reply(device.store, Channel(device.store), stick / "a.reply")
    assert again.received == 0
    assert device.store.conn.execute("SELECT * FROM households").fetchall() == snapshot
    # Another team's device cannot read the reply.
    with pytest.raises(SyncError) as refused:
        import_reply(other.store, Channel(other.store), stick / "a.reply")
    assert refused.value.code == "wrong_recipient"
    other.store.close()


def test_a_bundle_from_a_revoked_device_is_refused(live_server, device, tmp_path):
    path = tmp_path / "a.bundle"
    export_bundle(device.store, Channel(device.store), path)
    storage = live_server.storage()
    revoke_device(storage, device.device_id)
    storage.close()
    from server.errors import ApiError

    with pytest.raises(ApiError) as refused:
        import_at_county(live_server, path.read_bytes())
    assert refused.value.code == "device_revoked"


@pytest.mark.parametrize("how", ["reused", "expired", "withdrawn", "made-up"])
def test_enrolment_codes_work_once_and_only_while_valid(live_server, tmp_path, how):
    import json

    from server.enrolment import withdraw_code

    code = enrolment_code(live_server, "wangfang", [VILLAGE_A])
    storage = live_server.storage()
    if how == "reused":
        # A code is used once the device that enrolled with it has confirmed (its hello).
        enrol_device(tmp_path / "first.sqlite", live_server.url, code, PASSPHRASE).close()
    elif how == "expired":
        from server.enrolment import code_hash

        with storage.atomic():
            storage.update_enrolment_code(code_hash(code), expires_at=(
                dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)).isoformat())
    elif how == "withdrawn":
        withdraw_code(storage, code[:4], actor="test")
    else:
        code = "0000-0000-0000"
    storage.close()
    body = {"code": code, "sign_key": "A" * 43, "box_key": "A" * 43}
    status, answer = raw(live_server, "POST", "/api/v1/enrol", json.dumps(body).encode(),
                         {"Content-Type": "application/json"})
    assert (status, error_of(answer)["code"]) == (403, "bad_enrolment_code")


def test_an_admin_issues_codes_over_the_api_within_scope(live_server):
    from .support import add_user
    from .test_sync_e2e import api

    add_user(live_server, "county-admin", "admin", ["522731"])
    status, body = api(live_server, "POST", "/api/v1/admin/enrolment-codes",
                       {"user": "wangfang", "villages": [VILLAGE_A]},
                       user=("county-admin", "correct-horse"))
    assert status == 201 and len(body["code"]) == 14
    status, body = api(live_server, "POST", "/api/v1/admin/enrolment-codes",
                       {"user": "wangfang", "villages": ["522800100201"]},
                       user=("county-admin", "correct-horse"))
    assert (status, body["error"]["code"]) == (403, "out_of_scope")
    status, body = api(live_server, "POST", "/api/v1/admin/enrolment-codes",
                       {"user": "wangfang", "villages": [VILLAGE_A]})
    assert (status, body["error"]["code"]) == (403, "wrong_role")


def test_the_server_data_key_comes_from_config_or_a_private_file(tmp_path):
    from server.data_key import DataKeyError

    key = load_data_key(None, str(tmp_path))
    assert oct((tmp_path / "data.key").stat().st_mode)[-3:] == "600"
    assert load_data_key(None, str(tmp_path)) == key
    with pytest.raises(DataKeyError):
        load_data_key("c2hvcnQ", str(tmp_path))
    FieldCipher(key)  # usable




def test_the_server_keeps_sensitive_fields_sealed_at_rest(live_server, device, tmp_path):
    from .test_sync_e2e import api

    other = enrol(live_server, tmp_path, "b", [VILLAGE_A])
    device.sync()
    other.sync()
    employment = device.store.query("employment")[0]
    device.store.update("employment", employment["id"], {"monthly_income": 4321.57})
    other.store.update("employment", employment["id"], {"monthly_income": 3876.25})
    household = device.store.query("household")[0]
    device.store.update("household", household["id"], {"phone": "13987654321"})
    device.sync()
    other.sync()
    # The supervisor reads the values through the API...
    status, body = api(live_server, "GET", "/api/v1/conflicts")
    assert status == 200
    assert {body["conflicts"][0]["current_value"], body["conflicts"][0]["incoming_value"]} == {
        4321.57, 3876.25}
    status, resolved = api(live_server, "POST",
                           f"/api/v1/conflicts/{body['conflicts'][0]['id']}/resolve",
                           {"action": "corrected", "value": 4000.5, "comment": "核实"})
    assert status == 200 and resolved["resolved_value"] == 4000.5
    # ...but the database file holds none of them in the clear.
    storage = live_server.storage()
    storage.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    storage.close()
    from pathlib import Path

    path = Path(live_server.app.config["STORAGE_URL"][len("sqlite:///"):])
    blob = b"".join(Path(p).read_bytes() for p in (path, Path(str(path) + "-wal"))
                    if p.exists())
    secrets = [p["id_number"] for p in device.store.query("person")]
    secrets += ["13987654321", "4321.57", "3876.25", "4000.5"]
    for secret in secrets:
        assert secret.encode() not in blob, secret
    other.store.close()
