"""The server's one-step path for a new row does exactly what the general merge does."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from client_kit.domain import RECORD_TYPES
from client_kit.engine.changes import DELETED, Change
from client_kit.engine.merge import RowState, merge_change
from client_kit.store import DeviceStore
from server.storage import DeviceRecord, StoredRow
from server.sync_service import SyncService, _Batch, _new_row
from store_helpers import VILLAGE, add_post, add_session, seed

DEVICE = DeviceRecord(id="dev-a", user_name="wangfang", villages=[VILLAGE], created_at="")


def _pushed_changes(tmp_path_factory) -> list[Change]:  # type: ignore[no-untyped-def]
    """New rows of every kind a village has, as a device pushes them."""
    store = DeviceStore.open(tmp_path_factory.mktemp("new-rows") / "device.sqlite")
    rows = seed(store)
    post, session = add_post(store), add_session(store)
    person = rows["person"]["id"]
    store.create("employment", {"person_id": person, "status": "employed",
                                "destination": "in_county", "work_kind": "wugong",
                                "status_since": "2026-02-01", "monthly_income": 2800})
    store.create("appointment", {"post_id": post["id"], "person_id": person,
                                 "start_date": "2026-03-01", "end_date": "2026-12-31",
                                 "status": "active"})
    store.create("attendance", {"post_id": post["id"], "day": "2026-03-02",
                                "person_id": person, "status": "on_post", "note": "巡山"})
    store.create("signin", {"session_id": session["id"], "person_id": person,
                            "day": "2026-03-02"})
    changes = store.pending(limit=100)
    store.close()
    return changes


def _general(rt, change: Change) -> _Batch:  # type: ignore[no-untyped-def]
    batch = _Batch(rows={rt.name: {}})
    state = RowState()
    outcome = merge_change(state, change, DEVICE.id, rt.policies)
    stored = StoredRow(change.row_id, change.village, state)
    batch.rows[rt.name][change.row_id] = stored
    service = SyncService.__new__(SyncService)
    service._apply_outcome(rt, stored, change, outcome, DEVICE, None, batch)  # type: ignore[arg-type]
    return batch


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_a_new_row_is_applied_as_the_general_merge_applies_it(tmp_path_factory, data) -> None:  # type: ignore[no-untyped-def]
    changes = _pushed_changes(tmp_path_factory)
    change = data.draw(st.sampled_from(changes))
    rt = RECORD_TYPES[change.record_type]
    names = data.draw(st.sets(st.sampled_from(sorted(change.fields)), min_size=1))
    fields = {k: change.fields[k] for k in change.fields if k in names}
    if data.draw(st.booleans()):
        fields[DELETED] = False  # a device bringing back a row the server never had
    change = dataclasses.replace(change, fields=fields)

    fast = _Batch(rows={rt.name: {}})
    assert _new_row(rt, change, DEVICE, fast)
    general = _general(rt, change)

    assert fast.rows == general.rows
    assert fast.dirty == general.dirty
    assert fast.log == general.log
    # The log entry does not share its dicts with the row, which later changes update.
    assert fast.log[0].fields is not fast.rows[rt.name][change.row_id].state.values


def test_a_change_without_values_is_left_to_the_general_merge(tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    change = _pushed_changes(tmp_path_factory)[0]
    only_revive = dataclasses.replace(change, fields={DELETED: False})
    batch = _Batch(rows={change.record_type: {}})
    assert not _new_row(RECORD_TYPES[change.record_type], only_revive, DEVICE, batch)
    assert batch == _Batch(rows={change.record_type: {}})
