"""The device store's set-aside list: changes the county refused one by one (docs/merge-rules.md
D9-D11, S0)."""

from __future__ import annotations

import json

import pytest

from client_kit.engine.protocol import Refused
from client_kit.errors import NotFound, OutOfScope
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
