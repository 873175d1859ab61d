"""A retried push is recognised by its content's digest, also one stored before orjson."""

from __future__ import annotations

import pytest

from client_kit.engine.changes import Change
from server.accounts import add_device_record, create_user
from server.errors import Conflict
from server.storage.sqlite import SQLiteStorage
from server.sync_service import SyncService

VILLAGE = "522731100201"


@pytest.fixture
def server(tmp_path):  # type: ignore[no-untyped-def]
    storage = SQLiteStorage(str(tmp_path / "server.sqlite"))
    storage.upgrade()
    with storage.atomic():
        create_user(storage, "wangfang", "worker", [VILLAGE], "correct-horse-battery")
        device = add_device_record(storage, "wangfang", [VILLAGE], device_id="dev-a")
    yield SyncService(storage), device
    storage.close()


def _change(note: object) -> Change:
    # A float this small is written 1e-05 by the standard library and 1e-5 by orjson.
    return Change(1, "attendance", "att-1", VILLAGE, 1_772_323_200_000 << 16,
                  fields={"note": note}, base={"note": None})


def test_the_two_digests_differ_only_where_the_encoders_do() -> None:
    assert _change("巡山").digest() == _change("巡山").legacy_digest()
    assert _change(1e-5).digest() != _change(1e-5).legacy_digest()


def test_a_change_pushed_before_the_upgrade_is_acknowledged_after_it(server) -> None:  # type: ignore[no-untyped-def]
    sync, device = server
    change = _change(1e-5)
    with sync.storage.atomic():  # what a server before orjson stored for this sequence
        sync.storage.record_pushed(device.id, [(1, change.legacy_digest())])
    result = sync.push(device, [change])
    assert (result.repeated, result.applied, result.acked_through) == (1, 0, 1)
    with pytest.raises(Conflict) as refused:
        sync.push(device, [_change(2e-5)])
    assert refused.value.code == "replay_mismatch"
