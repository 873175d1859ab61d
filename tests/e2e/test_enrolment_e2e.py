"""Enrolment is atomic and never burns a code: everything local is checked first, the server
step can be repeated with the same code until the device confirms, a ghost that never
confirms expires, and a store that already holds records enrols keeping them."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

import migrations
from client_kit.cli import main
from client_kit.enrol import EnrolmentRefused, enrol, enrol_device
from client_kit.errors import ConnectionCut, Offline
from client_kit.keystore import WeakPassphrase, generate
from client_kit.engine.envelope import b64, raw_public
from client_kit.migrator import Migrator, load_migrations
from client_kit.store import DeviceStore, connect
from server import enrolment
from server.enrolment import code_hash, issue_code
from server.errors import Forbidden

from .conftest import VILLAGE_A, seed_village
from .support import PASSPHRASE, CutPlan, CuttingProxy, LiveServer, enrolment_code
from .test_sync_e2e import api

#: The last client migration before the device had keys (0003 brought them).
BEFORE_KEYS = 2


def devices(server: LiveServer) -> list:  # type: ignore[type-arg]
    storage = server.storage()
    try:
        return storage.list_devices()
    finally:
        storage.close()


def code_row(server: LiveServer, code: str) -> dict:  # type: ignore[type-arg]
    storage = server.storage()
    try:
        row = storage.get_enrolment_code(code_hash(code))
        assert row is not None
        return row
    finally:
        storage.close()


def cli(db: Path, *args: str, input: str | None = None, env: dict | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["--db", str(db), *args], input=input, env=env or {})


# -- nothing is sent before everything local is right ---------------------------------------

def test_a_short_passphrase_is_refused_before_the_server_is_asked(live_server, tmp_path):
    code = enrolment_code(live_server, "wangfang", [VILLAGE_A])
    db = tmp_path / "device.sqlite"
    with pytest.raises(WeakPassphrase) as caught:
        enrol_device(db, live_server.url, code, "abc")
    assert "口令太短" in caught.value.message
    assert devices(live_server) == []
    assert code_row(live_server, code)["device_id"] is None
    assert not db.exists()
    # The same code then enrols the device, and nothing from the refusal is in the way.
    store = enrol(db, live_server.url, code, PASSPHRASE)
    assert [d.id for d in devices(live_server)] == [store.device_id]
    store.close()


def test_the_cli_asks_again_in_chinese_for_a_passphrase_too_short_or_not_repeated(
        live_server, tmp_path):
    code = enrolment_code(live_server, "wangfang", [VILLAGE_A])
    db = tmp_path / "device.sqlite"
    typed = "abc\nabc\nlong-enough\nnot-the-same\nlong-enough\nlong-enough\n"
    result = cli(db, "enroll", "--server", live_server.url, "--code", code, input=typed)
    assert result.exit_code == 0, result.output
    assert "口令太短" in result.output and "两次输入的口令不一致" in result.output
    assert "注册成功" in result.output
    for english in ("passphrase", "Repeat", "Error", "confirmation"):
        assert english not in result.output
    assert len(devices(live_server)) == 1
    assert DeviceStore.open(db, passphrase="long-enough").has_keys


def test_a_short_passphrase_given_on_the_command_line_uses_no_code(live_server, tmp_path):
    code = enrolment_code(live_server, "wangfang", [VILLAGE_A])
    result = cli(tmp_path / "d.sqlite", "enroll", "--server", live_server.url, "--code", code,
                 "--passphrase", "abc")
    assert result.exit_code != 0 and "口令太短" in result.output
    assert devices(live_server) == [] and code_row(live_server, code)["device_id"] is None


@pytest.mark.parametrize("server,code,expected", [
    ("10.0.0.5:5000", "K3F9-7QXM-2D4H", "服务器地址不正确"),
    ("http://127.0.0.1:9", "K3F9-7QXM-2D4", "注册码格式不对"),
    ("http://127.0.0.1:9", "K3F9-7QXM-2D4U", "注册码格式不对"),
])
def test_an_address_or_code_that_cannot_be_right_is_refused_on_the_device(
        tmp_path, server, code, expected):
    with pytest.raises(EnrolmentRefused) as caught:
        enrol_device(tmp_path / "d.sqlite", server, code, PASSPHRASE)
    assert expected in caught.value.message


def test_an_enrolled_store_is_refused_before_the_server_is_asked(live_server, tmp_path):
    db = tmp_path / "device.sqlite"
    enrol(db, live_server.url, enrolment_code(live_server, "w", [VILLAGE_A]),
          PASSPHRASE).close()
    second = enrolment_code(live_server, "w", [VILLAGE_A])
    with pytest.raises(Exception, match="本设备已注册为"):
        enrol_device(db, live_server.url, second, PASSPHRASE)
    assert code_row(live_server, second)["device_id"] is None


def test_a_store_left_by_an_older_failed_enrolment_enrols_with_a_fresh_code(
        live_server, tmp_path):
    db = tmp_path / "device.sqlite"
    DeviceStore.open(db, device_id="dev-0123456789ab").close()  # the "ghost" store: no keys
    store = enrol(db, live_server.url, enrolment_code(live_server, "w", [VILLAGE_A]), PASSPHRASE)
    assert store.device_id != "dev-0123456789ab" and store.has_keys
    store.close()


# -- the server step is repeatable until the device confirms ---------------------------------

def test_an_enrolment_whose_reply_was_cut_succeeds_again_with_the_same_code(
        live_server, tmp_path):
    plan = CutPlan(lambda method, path, n: "drop" if path == "/api/v1/enrol" and n == 0
                   else None)
    code = enrolment_code(live_server, "wangfang", [VILLAGE_A])
    db = tmp_path / "device.sqlite"
    with CuttingProxy(live_server.httpd.server_port, plan) as proxy:
        with pytest.raises(Offline) as caught:
            enrol_device(db, proxy.url, code, PASSPHRASE)
        assert "注册码没有用掉" in caught.value.message
        assert "Errno" not in caught.value.message
        [ghost] = devices(live_server)  # the server did its step; the device never heard
        assert not code_row(live_server, code)["used_at"]
        [listed] = api(live_server, "GET", "/api/v1/admin/devices")[1]["devices"]
        assert listed["id"] == ghost.id and listed["confirm_by"]
        enrolled = enrol_device(db, proxy.url, code, PASSPHRASE)
    assert enrolled.confirmed
    assert [d.id for d in devices(live_server)] == [ghost.id] == [enrolled.store.device_id]
    assert code_row(live_server, code)["used_at"]
    assert api(live_server, "GET", "/api/v1/admin/devices")[1]["devices"][0]["confirm_by"] is None
    seed_village(enrolled.store)
    assert enrolled.store.pending_count() == 8
    from client_kit.channel import Channel
    from client_kit.sync_client import SyncClient
    from client_kit.transport import HttpTransport

    SyncClient(enrolled.store, Channel(enrolled.store, HttpTransport(live_server.url))).sync()
    assert enrolled.store.pending_count() == 0
    enrolled.store.close()
    # Confirmed: the code is used now.
    with pytest.raises(Exception, match="注册码无效"):
        enrol_device(tmp_path / "other.sqlite", live_server.url, code, PASSPHRASE)


def test_an_enrolment_whose_confirmation_is_cut_is_confirmed_by_the_next_sync(
        live_server, tmp_path):
    plan = CutPlan(lambda method, path, n: "truncate" if path.endswith("/hello") else None)
    code = enrolment_code(live_server, "wangfang", [VILLAGE_A])
    db = tmp_path / "device.sqlite"
    with CuttingProxy(live_server.httpd.server_port, plan) as proxy:
        enrolled = enrol_device(db, proxy.url, code, PASSPHRASE)
    assert not enrolled.confirmed and isinstance(enrolled.problem, ConnectionCut)
    assert enrolled.confirm_by
    # The hello arrived, though its reply was cut: the server already counts it.
    assert code_row(live_server, code)["used_at"]
    enrolled.store.close()


def test_the_cli_says_when_the_enrolment_still_needs_confirming(live_server, tmp_path):
    plan = CutPlan(lambda method, path, n: "drop" if path.endswith("/hello") else None)
    code = enrolment_code(live_server, "wangfang", [VILLAGE_A])
    with CuttingProxy(live_server.httpd.server_port, plan) as proxy:
        result = cli(tmp_path / "d.sqlite", "enroll", "--server", proxy.url, "--code", code,
                     env={"CUNSYNC_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 0, result.output
    assert "注册已保存在本设备" in result.output and "cunsync sync" in result.output
    assert "连接中断" in result.output and "T" not in result.output.split("之前")[0][-20:]


# -- a ghost that never confirms expires -------------------------------------------------------

def public_keys() -> tuple[str, str]:
    keys = generate()
    return b64(raw_public(keys.sign.public_key())), b64(raw_public(keys.box.public_key()))


def test_a_device_that_never_confirms_expires_with_its_code(live_server):
    t0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone.utc)
    storage = live_server.storage()
    try:
        code, _ = issue_code(storage, "wangfang", [VILLAGE_A], actor="admin", hours=1, now=t0)
        ghost = enrolment.enrol(storage, code, *public_keys(), now=t0 + dt.timedelta(minutes=5))
        again = enrolment.enrol(storage, code, *public_keys(), now=t0 + dt.timedelta(minutes=9))
        assert again.id == ghost.id and again.sign_key != ghost.sign_key
        assert enrolment.expire_unconfirmed(storage, now=t0 + dt.timedelta(minutes=30)) == []
        assert enrolment.expire_unconfirmed(storage, now=t0 + dt.timedelta(hours=2)) == [ghost.id]
        assert storage.get_device(ghost.id).revoked_at
        with pytest.raises(Forbidden) as late:
            enrolment.confirm(storage, storage.get_device(ghost.id),
                              now=t0 + dt.timedelta(hours=2))
        assert late.value.code == "enrolment_expired"
        assert [d.id for d in storage.list_devices()] == [ghost.id]
        actions = [e.action for e in storage.audit_entries()]
        assert "device.enrol_expired" in actions and "device.enrol_retry" in actions
    finally:
        storage.close()


def test_a_device_that_confirms_in_time_stays(live_server):
    t0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone.utc)
    storage = live_server.storage()
    try:
        code, _ = issue_code(storage, "wangfang", [VILLAGE_A], actor="admin", hours=1, now=t0)
        device = enrolment.enrol(storage, code, *public_keys(), now=t0)
        enrolment.confirm(storage, device, now=t0 + dt.timedelta(minutes=1))
        assert enrolment.expire_unconfirmed(storage, now=t0 + dt.timedelta(days=9)) == []
        assert not storage.get_device(device.id).revoked_at
    finally:
        storage.close()


# -- a store made before enrolment existed -----------------------------------------------------

def old_store(tmp_path: Path, version: int = BEFORE_KEYS) -> tuple[Path, dict]:  # type: ignore[type-arg]
    """A device store at migration ``version`` holding a village's records, all pending, as
    software of that time wrote them (no keys: everything plain)."""
    # Named as the county named devices then; it sorts after every id the server makes now,
    # so versions left under it would win over the server's copies of the same writes.
    scratch = DeviceStore.open(tmp_path / "scratch.sqlite", device_id="team-7")
    made = seed_village(scratch)
    scratch.close()
    path = tmp_path / "old.sqlite"
    conn = connect(path)
    Migrator(conn, load_migrations(migrations.directory("client"))).upgrade(target=version)
    conn.execute(f"ATTACH DATABASE '{tmp_path / 'scratch.sqlite'}' AS scratch")
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " AND name != 'schema_migrations'")]
    for table in tables:
        columns = [c[1] for c in conn.execute(f"PRAGMA main.table_info({table})")]
        names = ", ".join(columns)
        conn.execute(f"INSERT INTO main.{table} ({names}) SELECT {names} FROM scratch.{table}")
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('token', 'old-token')")
    conn.execute("DETACH DATABASE scratch")
    conn.close()
    return path, made


def test_an_old_store_finds_people_by_id_number_once_migrated(tmp_path):
    path, made = old_store(tmp_path)
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT count(*) FROM persons").fetchone()[0] == 2
    raw.close()
    store = DeviceStore.open(path)
    try:
        found = store.find_person_by_id_number(made["head"]["id_number"])
        assert found is not None and found["id"] == made["head"]["id"]
    finally:
        store.close()


def test_an_old_store_enrols_keeping_its_outbox_and_sends_it(live_server, tmp_path):
    path, made = old_store(tmp_path)
    code = enrolment_code(live_server, "wangfang", [VILLAGE_A])
    enrolled = enrol_device(path, live_server.url, code, PASSPHRASE)
    assert enrolled.confirmed
    store = enrolled.store
    assert store.pending_count() == 8 and store.device_id != "team-7"
    assert store.meta("token") is None
    store.close()
    # Nothing sensitive stays plain at rest, the outbox included.
    raw = sqlite3.connect(path)
    numbers = [r[0] for r in raw.execute("SELECT id_number FROM persons")]
    outbox = [r[0] for r in raw.execute("SELECT fields FROM outbox")]
    raw.close()
    assert all(n.startswith("enc1:") for n in numbers)
    assert all(f.startswith("enc1:") for f in outbox)
    assert made["head"]["id_number"] not in path.read_bytes().decode("latin-1")
    # Unlocked again: the records read, the ID-number look-up works, the outbox is sent.
    store = DeviceStore.open(path, passphrase=PASSPHRASE)
    try:
        assert store.get("person", made["wife"]["id"])["id_number"] == made["wife"]["id_number"]
        assert store.find_person_by_id_number(made["head"]["id_number"])["id"] == \
            made["head"]["id"]
        # A change on top of a write made before enrolment: its base names that write, which
        # the server will know under the device's new id.
        store.update("employment", made["employment"]["id"], {"monthly_income": 4500})
        from client_kit.channel import Channel
        from client_kit.sync_client import SyncClient
        from client_kit.transport import HttpTransport

        summary = SyncClient(store, Channel(store, HttpTransport(live_server.url))).sync()
        assert summary.sent == 9 and summary.conflicts == 0
        assert store.pending_count() == 0
    finally:
        store.close()
    storage = live_server.storage()
    try:
        assert storage.count_rows("person") == 2 and not storage.count_conflicts()
    finally:
        storage.close()


def test_an_old_store_that_had_an_id_index_gap_is_filled_at_unlock(live_server, tmp_path):
    """Rows without an index entry in a store with keys are indexed when it is unlocked."""
    path, made = old_store(tmp_path)
    enrol(path, live_server.url, enrolment_code(live_server, "w", [VILLAGE_A]),
          PASSPHRASE).close()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE persons SET id_number_bidx = NULL")
    raw.commit()
    raw.close()
    store = DeviceStore.open(path, passphrase=PASSPHRASE)
    try:
        assert store.find_person_by_id_number(made["wife"]["id_number"])["id"] == \
            made["wife"]["id"]
    finally:
        store.close()
