"""Backups and restores end to end: ``cunsync-server backup`` while devices push, ``restore``,
and devices that synced after the backup bringing the restored server up to date."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading

from client_kit.domain import RECORD_TYPES
from client_kit.domain.idcard import make_id_number

from .conftest import VILLAGE_A, VILLAGE_B, seed_village
from .support import LiveServer, enrol, make_app


def _device_state(store):
    state = {}
    for rt in RECORD_TYPES.values():
        for row in store.query(rt.name, include_deleted=True):
            full = store.get(rt.name, row["id"], include_deleted=True, with_meta=True)
            values = {k: full.get(k) for k in ("village_code", *rt.fields)}
            versions = {k: tuple(v) for k, v in full["_versions"].items() if v}
            state[(rt.name, row["id"])] = (values, versions, full["_deleted"])
    return state


def _server_state(server):
    storage = server.storage()
    try:
        state = {}
        for rt in RECORD_TYPES.values():
            ids = [r[0] for r in storage.conn.execute(f"SELECT id FROM {rt.table}")]
            for row_id, stored in storage.load_rows(rt.name, ids).items():
                values = {k: stored.state.values.get(k) for k in ("village_code", *rt.fields)}
                versions = {k: tuple(v) for k, v in stored.state.versions.items() if v}
                state[(rt.name, row_id)] = (values, versions, stored.state.deleted)
        return state
    finally:
        storage.close()


def _cli(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_a_restored_server_gets_back_what_devices_synced_after_the_backup(tmp_path):
    backup = tmp_path / "backup.sqlite"
    server = LiveServer(make_app(tmp_path)).__enter__()
    try:
        a = enrol(server, tmp_path, "a", [VILLAGE_A])
        b = enrol(server, tmp_path, "b", [VILLAGE_A])
        rows = seed_village(a.store)
        a.sync()
        b.sync()
        _cli(server.app, "backup", str(backup), "--no-key")
        # After the backup: A edits, creates and deletes, and syncs; B pulls all of it.
        a.store.update("household", rows["household"]["id"], {"note": "备份后修改"})
        newcomer = a.store.create("household", {"village_code": VILLAGE_A,
                                                "head_name": "赵新户", "categories": []})
        a.store.delete("training_session", rows["session"]["id"])
        assert a.sync().sent == 3
        b.sync()
        assert _device_state(b.store) == _device_state(a.store)
        # And A writes once more, offline: still in its outbox when the server is restored.
        a.store.update("person", rows["head"]["id"], {"note": "未同步"})
        child = a.store.create("person", {"household_id": newcomer["id"], "name": "赵小新",
                                          "relation": "child", "id_number": make_id_number(
                                              "522731", dt.date(2015, 6, 1), 33)})
    finally:
        server.__exit__(None, None, None)

    app = make_app(tmp_path)
    output = _cli(app, "restore", str(backup))
    assert "epoch" in output
    with LiveServer(app) as restored:
        url = restored.url
        assert _server_state(restored) != _device_state(a.store)  # it went back in time
        summary = a.sync(url)
        assert summary.restored and summary.resent == 3 and summary.refused == 0
        assert summary.sent == 5 and summary.repeated == 0 and summary.conflicts == 0
        assert summary.lost_on_server == 0
        assert a.store.pending_count() == 0
        # The server ends with everything A has, with the same versions: nothing doubled.
        assert _server_state(restored) == _device_state(a.store)
        storage = restored.storage()
        assert not any(storage.count_conflicts().values())
        storage.close()
        # A device that only pulled after the backup pulls again and ends equal to it.
        summary = b.sync(url)
        assert summary.restored and summary.resent == 0 and summary.lost_on_server == 0
        assert _device_state(b.store) == _server_state(restored)
        assert newcomer["id"] in {k[1] for k in _device_state(b.store)}
        # Later syncs are ordinary ones: nothing more to send or fetch.
        again = a.sync(url)
        assert (again.restored, again.sent, again.resent) == (False, 0, 0)
        a.store.update("household", newcomer["id"], {"note": "恢复后"})
        assert a.sync(url).sent == 1
        b.sync(url)
        assert _device_state(b.store) == _server_state(restored) == _device_state(a.store)
        assert b.store.get("person", rows["head"]["id"])["note"] == "未同步"
        assert b.store.get("person", child["id"])["household_id"] == newcomer["id"]
    a.store.close()
    b.store.close()


def test_a_device_that_syncs_first_after_a_restore_is_told_of_rows_the_server_lost(tmp_path):
    backup = tmp_path / "backup.sqlite"
    with LiveServer(make_app(tmp_path)) as server:
        a = enrol(server, tmp_path, "a", [VILLAGE_A])
        b = enrol(server, tmp_path, "b", [VILLAGE_A])
        rows = seed_village(a.store)
        a.sync()
        b.sync()
        _cli(server.app, "backup", str(backup), "--no-key")
        newcomer = a.store.create("household", {"village_code": VILLAGE_A,
                                                "head_name": "赵新户", "categories": []})
        a.store.update("person", rows["wife"]["id"], {"note": "备份后修改"})
        a.sync()
        b.sync()
    app = make_app(tmp_path)
    _cli(app, "restore", str(backup))
    with LiveServer(app) as restored:
        url = restored.url
        summary = b.sync(url)
        # B keeps A's row the server lost, and says so (never silently kept or dropped).
        assert summary.restored and summary.lost_on_server == 2
        assert b.store.get("household", newcomer["id"]) is not None
        assert b.store.get("person", rows["wife"]["id"])["note"] == "备份后修改"
        assert sorted(json.loads(b.store.meta("lost_on_server") or "[]")) == sorted(
            [["household", newcomer["id"]], ["person", rows["wife"]["id"]]])
        a.sync(url)
        b.sync(url)
        assert _device_state(b.store) == _server_state(restored) == _device_state(a.store)
    a.store.close()
    b.store.close()


def test_a_backup_taken_while_a_device_pushes_is_consistent(tmp_path):
    with LiveServer(make_app(tmp_path)) as server:
        a = enrol(server, tmp_path, "a", [VILLAGE_A])
        rows = seed_village(a.store)
        a.sync()
        stop = threading.Event()
        errors: list[BaseException] = []

        def keep_pushing() -> None:
            try:
                n = 0
                while not stop.is_set():
                    for _ in range(20):
                        n += 1
                        a.store.update("household", rows["household"]["id"], {"note": f"第{n}次"})
                    a.sync()
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)

        pusher = threading.Thread(target=keep_pushing)
        pusher.start()
        copies = []
        try:
            for i in range(4):
                copies.append(tmp_path / f"copy{i}.sqlite")
                _cli(server.app, "backup", str(copies[-1]), "--no-key")
        finally:
            stop.set()
            pusher.join()
        assert not errors
        for copy in copies:
            conn = sqlite3.connect(copy)
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            # Every acknowledged push is wholly in the copy or wholly out of it.
            last_seq, = conn.execute("SELECT last_seq FROM devices WHERE id = ?",
                                     (a.device_id,)).fetchone()
            top, count = conn.execute("SELECT max(seq), count(*) FROM pushed WHERE device_id = ?",
                                      (a.device_id,)).fetchone()
            logged, = conn.execute("SELECT count(*) FROM change_log WHERE device_id = ?",
                                   (a.device_id,)).fetchone()
            assert top == last_seq and count == last_seq and logged >= count
            conn.close()
    a.store.close()


def _bundle_round_trip(server, device, stick):
    """One USB exchange: the device exports, the county imports, the device reads the reply."""
    from client_kit.bundle import export_bundle, import_reply
    from client_kit.channel import Channel
    from server.bundles import import_bundle
    from server.keyring import Keyring

    export_bundle(device.store, Channel(device.store), stick / "out.bundle")
    storage = server.storage()
    try:
        reply, _ = import_bundle(storage, Keyring(storage, server.app.extensions["cunsync_sealer"]),
                                 (stick / "out.bundle").read_bytes(),
                                 max_ahead_ms=86_400_000, min_schema=3)
    finally:
        storage.close()
    (stick / "out.reply").write_bytes(reply)
    return import_reply(device.store, Channel(device.store), stick / "out.reply")


def test_a_device_that_only_exchanged_usb_bundles_recovers_after_a_restore(tmp_path):
    """A device that synced only by USB bundle learns the epoch from its first reply, so at
    its first network sync after a restore it sends again what the restored server lost."""
    backup = tmp_path / "backup.sqlite"
    stick = tmp_path / "usb"
    stick.mkdir()
    with LiveServer(make_app(tmp_path)) as server:
        a = enrol(server, tmp_path, "a", [VILLAGE_A])
        rows = seed_village(a.store)
        assert _bundle_round_trip(server, a, stick).sent == 8
        _cli(server.app, "backup", str(backup), "--no-key")
        a.store.update("household", rows["household"]["id"], {"note": "备份后修改"})
        newcomer = a.store.create("household", {"village_code": VILLAGE_A,
                                                "head_name": "赵新户", "categories": []})
        assert _bundle_round_trip(server, a, stick).sent == 2
        assert a.store.pending_count() == 0
        assert a.store.meta("epoch") is not None and int(a.store.meta("cursor")) > 0
    app = make_app(tmp_path)
    _cli(app, "restore", str(backup))
    with LiveServer(app) as restored:
        summary = a.sync(restored.url)
        assert summary.restored and summary.resent == 2 and summary.lost_on_server == 0
        assert a.store.meta("epoch") is not None
        assert _server_state(restored) == _device_state(a.store)
        assert ("household", newcomer["id"]) in _server_state(restored)
        again = a.sync(restored.url)
        assert (again.restored, again.sent, again.resent, again.received) == (False, 0, 0, 0)
    a.store.close()


def test_a_device_without_an_epoch_that_lost_nothing_is_told_nothing(tmp_path):
    """A device of a release before epochs (none stored, but it has pulled) checks the server
    once: against a server that lost nothing it queues nothing and reports no restore."""
    with LiveServer(make_app(tmp_path)) as server:
        a = enrol(server, tmp_path, "a", [VILLAGE_A])
        seed_village(a.store)
        a.sync()
        a.store.conn.execute("DELETE FROM meta WHERE key = 'epoch'")
        a.store.conn.commit()
        before = _device_state(a.store)
        summary = a.sync()
        assert (summary.restored, summary.resent, summary.sent, summary.lost_on_server) == (
            False, 0, 0, 0)
        assert a.store.meta("epoch") is not None and a.store.pending_count() == 0
        assert _device_state(a.store) == before == _server_state(server)
    a.store.close()


def test_a_server_back_in_time_without_a_new_epoch_is_recovered_too(tmp_path):
    """A server put back without a new epoch (its database file copied back by hand): the
    hello's head lies below the device's cursor, and the device recovers as after a restore."""
    backup = tmp_path / "backup.sqlite"
    with LiveServer(make_app(tmp_path)) as server:
        a = enrol(server, tmp_path, "a", [VILLAGE_A])
        rows = seed_village(a.store)
        a.sync()
        _cli(server.app, "backup", str(backup), "--no-key")
        a.store.update("person", rows["head"]["id"], {"note": "备份后修改"})
        assert a.sync().sent == 1
    epoch = a.store.meta("epoch")
    app = make_app(tmp_path)
    _cli(app, "restore", str(backup))
    with LiveServer(app) as restored:
        storage = restored.storage()
        with storage.atomic():
            storage.set_setting("epoch", epoch)  # as if no restore had been recorded
        storage.close()
        summary = a.sync(restored.url)
        assert summary.restored and summary.resent == 1
        assert _server_state(restored) == _device_state(a.store)
        person = ("person", rows["head"]["id"])
        assert _server_state(restored)[person][0]["note"] == "备份后修改"
    a.store.close()


def test_a_device_of_a_release_before_epochs_recovers_after_a_restore(tmp_path):
    """A device that knows no epoch (it ran a release before epochs) but synced after the
    backup must not just adopt the restored server's epoch: it sends again what was lost."""
    backup = tmp_path / "backup.sqlite"
    with LiveServer(make_app(tmp_path)) as server:
        a = enrol(server, tmp_path, "a", [VILLAGE_A])
        b = enrol(server, tmp_path, "b", [VILLAGE_A])
        rows = seed_village(a.store)
        a.sync()
        b.sync()
        _cli(server.app, "backup", str(backup), "--no-key")
        a.store.update("household", rows["household"]["id"], {"note": "备份后修改"})
        newcomer = a.store.create("household", {"village_code": VILLAGE_A,
                                                "head_name": "赵新户", "categories": []})
        assert a.sync().sent == 2
    a.store.conn.execute("DELETE FROM meta WHERE key = 'epoch'")  # the release before epochs
    a.store.conn.commit()
    app = make_app(tmp_path)
    _cli(app, "restore", str(backup))
    with LiveServer(app) as restored:
        # Another team syncs first and writes more: the log's head passes A's cursor again,
        # so only A's missing epoch says that it must check.
        for n in range(3):
            b.store.create("household", {"village_code": VILLAGE_A, "head_name": f"孙{n}",
                                         "categories": []})
        b.sync(restored.url)
        storage = restored.storage()
        assert storage.head([VILLAGE_A]) >= int(a.store.meta("cursor"))
        storage.close()
        summary = a.sync(restored.url)
        assert summary.restored and summary.resent == 2 and summary.lost_on_server == 0
        assert _server_state(restored) == _device_state(a.store)
        assert ("household", newcomer["id"]) in _server_state(restored)
    a.store.close()
    b.store.close()


def test_a_usb_reply_does_not_hide_a_restore_from_a_device_without_an_epoch(tmp_path):
    """A bundle reply's epoch is adopted only by a device that had pulled nothing: a device
    without an epoch that pulled before keeps none, so its next network sync still checks."""
    stick = tmp_path / "usb"
    stick.mkdir()
    with LiveServer(make_app(tmp_path)) as server:
        a = enrol(server, tmp_path, "a", [VILLAGE_A])
        seed_village(a.store)
        a.sync()
        a.store.conn.execute("DELETE FROM meta WHERE key = 'epoch'")
        a.store.conn.commit()
        _bundle_round_trip(server, a, stick)
        assert a.store.meta("epoch") is None
        summary = a.sync()
        assert (summary.restored, summary.resent) == (False, 0)
        assert a.store.meta("epoch") is not None
    a.store.close()


def test_a_device_without_an_epoch_given_a_new_village_after_a_restore_still_recovers(
        tmp_path):
    """The hello that brings a new village starts the device's pull over from 0; that must
    not make a device that knows no epoch but synced after the backup look brand new."""
    backup = tmp_path / "backup.sqlite"
    with LiveServer(make_app(tmp_path)) as server:
        a = enrol(server, tmp_path, "a", [VILLAGE_A])
        b = enrol(server, tmp_path, "b", [VILLAGE_A])
        rows = seed_village(a.store)
        a.sync()
        b.sync()
        _cli(server.app, "backup", str(backup), "--no-key")
        a.store.update("household", rows["household"]["id"], {"note": "备份后修改"})
        assert a.sync().sent == 1
    a.store.conn.execute("DELETE FROM meta WHERE key = 'epoch'")  # the release before epochs
    a.store.conn.commit()
    app = make_app(tmp_path)
    _cli(app, "restore", str(backup))
    with LiveServer(app) as restored:
        for n in range(3):
            b.store.create("household", {"village_code": VILLAGE_A, "head_name": f"孙{n}",
                                         "categories": []})
        b.sync(restored.url)
        storage = restored.storage()
        with storage.atomic():
            storage.update_device(a.device_id, villages=[VILLAGE_A, VILLAGE_B])
        assert storage.head([VILLAGE_A, VILLAGE_B]) >= int(a.store.meta("cursor"))
        storage.close()
        summary = a.sync(restored.url)
        assert summary.restored and summary.resent == 1
        household = ("household", rows["household"]["id"])
        assert _server_state(restored)[household][0]["note"] == "备份后修改"
        assert _server_state(restored) == _device_state(a.store)
    a.store.close()
    b.store.close()
