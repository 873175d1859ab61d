"""The device store's set-aside list: changes the county refused one by one (docs/merge-rules.md
D9-D11, S0)."""

from __future__ import annotations

import json

import pytest

from client_kit.engine.protocol import Refused
from client_kit.errors import NotFound, OutOfScope, RuleViolation
from store_helpers import OTHER_VILLAGE, VILLAGE

REFUSED = "本设备无权写入村 522731100202 的数据"


def test_an_acknowledgement_sets_refused_changes_aside_and_drops_the_rest(fresh_store, seeded):
    household = seeded["household"]["id"]
    fresh_store.update("household", household, {"phone": "13800000000"})
    seqs = [c.seq for c in fresh_store.pending(limit=100)]
    dropped = fresh_store.acknowledge(seqs[-1], [Refused(seqs[1], "out_of_scope", REFUSED,
                                                         {"field": "village_code"})])
    assert dropped == len(seqs) and fresh_store.pending_count() == 0
    [aside] = fresh_store.set_aside()
    assert (aside.seq, aside.code, aside.message, aside.details) == (
        seqs[1], "out_of_scope", REFUSED, {"field": "village_code"})
    assert aside.record_type == "household" and aside.creates_row
    assert aside.fields["head_name"] == "王大山"
    assert fresh_store.set_aside(with_fields=False)[0].fields == {}
    # A refusal beyond what was acknowledged is not set aside (it is still in flight).
    fresh_store.update("household", household, {"phone": "13900000000"})
    [last] = fresh_store.pending(limit=10)
    fresh_store.acknowledge(last.seq - 1, [Refused(last.seq, "invalid_record", "x")])
    assert fresh_store.pending_count() == 1 and fresh_store.set_aside_count() == 1


def test_resending_queues_a_new_change_and_moves_the_rows_versions(fresh_store, seeded):
    household = seeded["household"]["id"]
    fresh_store.update("household", household, {"phone": "13800000000"})
    [*_, change] = fresh_store.pending(limit=100)
    fresh_store.acknowledge(change.seq, [Refused(change.seq, "invalid_record", "数据不合格")])
    new_seq = fresh_store.resend(change.seq)
    [again] = fresh_store.pending(limit=100)
    assert again.seq == new_seq > change.seq and again.hlc > change.hlc
    assert (again.fields, again.base) == (change.fields, change.base)
    row = fresh_store.get("household", household, with_meta=True)
    assert row["_versions"]["phone"] == (again.hlc, "dev-a")
    assert fresh_store.set_aside() == []
    with pytest.raises(NotFound):
        fresh_store.resend(change.seq)


def test_a_write_outside_the_known_villages_is_refused_before_anything_is_written(fresh_store,
                                                                                 seeded):
    fresh_store.set_meta("villages", json.dumps([VILLAGE]))
    before = fresh_store.pending_count()
    with pytest.raises(OutOfScope) as refused:
        fresh_store.create("household", {"village_code": OTHER_VILLAGE, "head_name": "外村户"})
    assert refused.value.code == "out_of_scope" and OTHER_VILLAGE in refused.value.message
    assert fresh_store.pending_count() == before
    assert fresh_store.query("household", village_code=OTHER_VILLAGE) == []


def test_a_wipe_forgets_the_set_aside_changes(tmp_path, fresh_store, seeded):
    [*_, last] = fresh_store.pending(limit=100)
    fresh_store.acknowledge(last.seq, [Refused(last.seq, "invalid_record", "x")])
    path = tmp_path / "device.sqlite"
    fresh_store.destroy()
    assert not path.exists()


# -- review: a first value of a field is not a new row; re-sending never undoes later fixes ---


def _ack_all(store):
    [*_, last] = store.pending(limit=1000)
    store.acknowledge(last.seq)


def _refuse_last(store):
    [change] = store.pending(limit=10)
    store.acknowledge(change.seq, [Refused(change.seq, "invalid_record", "数据不合格")])
    return change


def test_discarding_a_refused_first_value_keeps_the_row_and_empties_the_field(fresh_store,
                                                                             seeded):
    household = seeded["household"]["id"]
    _ack_all(fresh_store)                       # the seed reached the county
    fresh_store.set_meta("cursor", "500")
    assert fresh_store.get("household", household)["phone"] is None
    fresh_store.update("household", household, {"phone": "13800000000"})   # first phone
    change = _refuse_last(fresh_store)
    assert change.base == {"phone": None}       # looks like a creation's base, but is not one
    [aside] = fresh_store.set_aside()
    assert not aside.creates_row
    # Before: the row was deleted here and, with the cursor kept, never came back.
    assert fresh_store.discard(change.seq) == "restored"
    row = fresh_store.get("household", household, with_meta=True)
    assert row is not None and row["head_name"] == "王大山"
    # The refused value is not shown; the county's values come back from the start.
    assert row["phone"] is None and "phone" not in row["_versions"]
    assert fresh_store.meta("cursor") == "0"


def test_a_refused_new_row_is_removed_on_discard(fresh_store, seeded):
    _ack_all(fresh_store)
    row = fresh_store.create("household", {"village_code": VILLAGE, "head_name": "新户"})
    change = _refuse_last(fresh_store)
    [aside] = fresh_store.set_aside()
    assert aside.creates_row
    assert fresh_store.discard(change.seq) == "removed"
    assert fresh_store.get("household", row["id"]) is None


def test_resending_an_old_refusal_never_undoes_a_later_accepted_fix(fresh_store, seeded):
    household = seeded["household"]["id"]
    _ack_all(fresh_store)
    fresh_store.update("household", household, {"phone": "13800000000"})   # refused
    bad = _refuse_last(fresh_store)
    fresh_store.update("household", household, {"phone": "13900000000"})   # the fix, accepted
    _ack_all(fresh_store)
    # Before: the old value went out again with a fresh time and replaced the fix.
    with pytest.raises(RuleViolation) as refused:
        fresh_store.resend(bad.seq)
    assert "已被之后的修改取代" in refused.value.message
    assert fresh_store.pending_count() == 0 and fresh_store.set_aside_count() == 1
    assert fresh_store.get("household", household)["phone"] == "13900000000"
    # It can still be discarded; the fix stays.
    assert fresh_store.discard(bad.seq) == "restored"
    assert fresh_store.get("household", household)["phone"] == "13900000000"


def test_resending_sends_only_the_fields_the_refused_change_still_decides(fresh_store, seeded):
    household = seeded["household"]["id"]
    _ack_all(fresh_store)
    fresh_store.update("household", household, {"phone": "13800000000", "head_name": "王大三"})
    bad = _refuse_last(fresh_store)
    fresh_store.update("household", household, {"phone": "13900000000"})
    _ack_all(fresh_store)
    fresh_store.resend(bad.seq)
    [again] = fresh_store.pending(limit=10)
    assert again.fields == {"head_name": "王大三"} and set(again.base) == {"head_name"}
    row = fresh_store.get("household", household, with_meta=True)
    assert (row["phone"], row["head_name"]) == ("13900000000", "王大三")
    assert row["_versions"]["head_name"] == (again.hlc, "dev-a")


def test_discarding_a_refused_update_empties_only_the_fields_it_still_decides(fresh_store,
                                                                             seeded):
    household = seeded["household"]["id"]
    _ack_all(fresh_store)
    fresh_store.update("household", household, {"phone": "13800000000", "head_name": "王大三"})
    bad = _refuse_last(fresh_store)
    fresh_store.update("household", household, {"phone": "13900000000"})
    _ack_all(fresh_store)
    assert fresh_store.discard(bad.seq) == "restored"
    row = fresh_store.get("household", household, with_meta=True)
    assert (row["phone"], row["head_name"]) == ("13900000000", None)
    assert "head_name" not in row["_versions"] and "phone" in row["_versions"]


def test_migration_0008_marks_only_real_creations_of_earlier_entries(tmp_path):
    import migrations
    from client_kit.migrator import Migrator, load_migrations
    from client_kit.store import DeviceStore, connect

    path = tmp_path / "device.sqlite"
    conn = connect(path)
    found = load_migrations(migrations.directory("client"))
    Migrator(conn, found).upgrade(target=7)
    entry = ("household", "h1", VILLAGE, 1, "upsert", "{}", "", "2026-01-01T00:00:00+00:00")
    made = '{"village_code": null, "head_name": null}'
    first_phone = '{"phone": null}'
    with conn:
        conn.executemany(
            "INSERT INTO outbox (record_type, row_id, village_code, hlc, op, fields, base,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [entry[:6] + (made, entry[7]), entry[:6] + (first_phone, entry[7])])
        conn.executemany(
            "INSERT INTO set_aside (seq, record_type, row_id, village_code, hlc, op, fields,"
            " base, created_at, code, message, refused_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " 'x', 'x', 'x')",
            [(10,) + entry[:6] + (made, entry[7]), (11,) + entry[:6] + (first_phone, entry[7]),
             (12, "household", "h1", VILLAGE, 1, "delete", "{}", '{"_deleted": null}',
              entry[7])])
    conn.close()
    store = DeviceStore.open(path, device_id="dev-a")
    try:
        assert [s.creates_row for s in store.set_aside(with_fields=False)] == [
            True, False, False]
        assert [c for (c,) in store.conn.execute(
            "SELECT creates_row FROM outbox ORDER BY seq")] == [1, 0]
    finally:
        store.close()


def test_a_waiting_creation_stays_one_through_a_recovery_after_a_restore(fresh_store, seeded):
    _ack_all(fresh_store)
    row = fresh_store.create("household", {"village_code": VILLAGE, "head_name": "新户"})
    fresh_store.resend_after_restore({}, "epoch-2")
    change = _refuse_last(fresh_store)
    assert change.row_id == row["id"]
    [aside] = fresh_store.set_aside()
    assert aside.creates_row
    assert fresh_store.discard(change.seq) == "removed"
