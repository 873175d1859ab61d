"""A push forwards the outbox's stored JSON: it must mean exactly the outbox's changes."""

from __future__ import annotations

import json

import pytest

from client_kit import keystore
from client_kit.engine.changes import Change
from client_kit.engine.protocol import decode_push, encode_push, pack_push
from client_kit.errors import Locked
from client_kit.store import DeviceStore

from store_helpers import seed


@pytest.fixture(params=["plain", "sealed"])
def store(request, fresh_store: DeviceStore) -> DeviceStore:  # type: ignore[no-untyped-def]
    if request.param == "sealed":
        fresh_store.install_keys(keystore.generate(), "一二三四五六")
    return fresh_store


def _writes(store: DeviceStore) -> None:
    rows = seed(store)
    store.update("household", rows["household"]["id"], {"note": "引号\"和\\反斜杠", "categories":
                                                        ["tuopin", "banqian"]})
    store.update("person", rows["person"]["id"], {"phone": "13800000000"})
    store.delete("person", rows["person"]["id"])


def test_the_wire_form_of_the_outbox_is_its_changes_encoded(store: DeviceStore) -> None:
    _writes(store)
    changes = store.pending(limit=100)
    wire = store.pending_wire(limit=100)
    assert [seq for seq, _ in wire] == [c.seq for c in changes]
    assert [json.loads(text) for _, text in wire] == [c.to_wire() for c in changes]
    assert [Change.from_wire(json.loads(text)) for _, text in wire] == changes
    body = pack_push([t for _, t in wire], app_version="0.1.0")
    assert decode_push(body) == decode_push(encode_push(changes, app_version="0.1.0"))
    assert store.pending_wire(limit=2) == wire[:2]


def test_a_sealed_outbox_does_not_travel_sealed_and_a_locked_one_not_at_all(
        fresh_store: DeviceStore) -> None:
    fresh_store.install_keys(keystore.generate(), "一二三四五六")
    _writes(fresh_store)
    assert "王大山" in "".join(t for _, t in fresh_store.pending_wire(limit=100))
    fresh_store.lock()
    with pytest.raises(Locked):
        fresh_store.pending_wire(limit=100)


def test_an_outbox_entry_written_by_an_older_version_with_spaced_json_still_travels(
        fresh_store: DeviceStore) -> None:
    rows = seed(fresh_store)
    fresh_store.update("household", rows["household"]["id"], {"note": "新"})
    seq = fresh_store.pending(limit=100)[-1].seq
    base = fresh_store.conn.execute("SELECT base FROM outbox WHERE seq = ?", (seq,)).fetchone()[0]
    fresh_store.conn.execute("UPDATE outbox SET base = ? WHERE seq = ?",
                             (json.dumps(json.loads(base)), seq))
    assert [json.loads(t) for _, t in fresh_store.pending_wire(limit=100)] == [
        c.to_wire() for c in fresh_store.pending(limit=100)]


def test_push_batches_double_on_quick_answers_and_halve_on_slow_ones(tmp_path) -> None:
    from client_kit.sync_client import GROW_WITHIN_S, SHRINK_AFTER_S, SyncClient

    store = DeviceStore.open(tmp_path / "device.sqlite")
    client = SyncClient(store, channel=None, batch_size=100, max_batch_size=1000)  # type: ignore[arg-type]
    quick, middling, slow = GROW_WITHIN_S / 2, (GROW_WITHIN_S + SHRINK_AFTER_S) / 2, \
        SHRINK_AFTER_S * 2
    assert [client._resized(100, quick), client._resized(800, quick)] == [200, 1000]
    assert client._resized(400, middling) == 400
    assert [client._resized(400, slow), client._resized(150, slow)] == [200, 100]
    assert SyncClient(store, channel=None, batch_size=300,  # type: ignore[arg-type]
                      max_batch_size=100).max_batch_size == 300  # never below the first
    store.close()
