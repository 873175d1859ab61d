"""Property: random interleavings of offline edits and syncs across three devices converge to
one state, identical on every device and the server, and every value any device wrote is
still findable in the row's history or in a conflict.

Syncs may be cut between pull pages (small pages, the connection lost at the second or third
pull request), and devices go on writing in that window: no conflict ever has the same device
on both sides (merge rules D3, D4, M1b)."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import pytest
from hypothesis import given, strategies as st

from client_kit.channel import Channel
from client_kit.errors import CunsyncError, Offline
from client_kit.sync_client import SyncClient
from client_kit.transport import HttpTransport

from .conftest import seed_village
from .support import LiveServer, enrol, make_app

_villages = itertools.count()


def _fresh_village() -> str:
    """A new village for each example, so examples share one server yet never meet."""
    n = next(_villages)
    return f"522731{100 + n // 900:03d}{100 + n % 900:03d}"


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    with LiveServer(make_app(tmp_path_factory.mktemp("server"))) as server:
        yield server

DAYS = ["2026-11-02", "2026-11-03", "2026-11-04"]

edit = st.one_of(
    st.tuples(st.just("income"), st.integers(0, 2), st.sampled_from([3000, 3500, 4000, 4800])),
    st.tuples(st.just("insurance"), st.integers(0, 2), st.integers(0, 12)),
    st.tuples(st.just("note"), st.integers(0, 2), st.sampled_from(["已回访", "外出务工", "在家"])),
    st.tuples(st.just("attendance"), st.integers(0, 2),
              st.tuples(st.sampled_from(DAYS), st.sampled_from(["on_post", "absent", "leave"]))),
    st.tuples(st.just("visit"), st.integers(0, 2), st.sampled_from(["走访一", "走访二"])),
    st.tuples(st.just("visit_edit"), st.integers(0, 2), st.sampled_from(["已落实", "待跟进"])),
    st.tuples(st.just("visit_delete"), st.integers(0, 2), st.just(None)),
    st.tuples(st.just("sync"), st.integers(0, 2), st.just(None)),
    st.tuples(st.just("push"), st.integers(0, 2), st.just(None)),
    st.tuples(st.just("pull"), st.integers(0, 2), st.just(None)),
    # A sync whose pull, in pages of 1-3 entries, loses the connection at its 2nd or 3rd page.
    st.tuples(st.just("cut_sync"), st.integers(0, 2),
              st.tuples(st.integers(1, 3), st.integers(2, 3))),
    st.tuples(st.just("delete_visit_of"), st.integers(0, 2), st.just(None)),
    # One field written twice with other rows between: the two values land in different pages.
    st.tuples(st.just("twice"), st.integers(0, 2),
              st.tuples(st.sampled_from(["income", "note", "visit_edit"]),
                        st.integers(0, 3))),
)


class _PullsCutAt:
    """A transport that loses the connection at the ``n``-th pull request."""

    def __init__(self, inner: HttpTransport, n: int) -> None:
        self.inner = inner
        self.n = n
        self.pulls = 0

    def exchange(self, purpose: str, envelope: bytes) -> bytes:
        if purpose == "pull":
            self.pulls += 1
            if self.pulls == self.n:
                raise Offline("无法连接服务器（测试中断）")
        return self.inner.exchange(purpose, envelope)


def _apply(op, device, rows, written):
    kind, _, value = op
    store = device.store
    employment_id, household_id = rows["employment"]["id"], rows["household"]["id"]
    if kind == "income":
        store.update("employment", employment_id, {"monthly_income": value})
        written.append(("employment", employment_id, "monthly_income", value))
    elif kind == "insurance":
        store.update("employment", employment_id, {"insurance_months": value})
        written.append(("employment", employment_id, "insurance_months", value))
    elif kind == "note":
        store.update("household", household_id, {"note": value})
        written.append(("household", household_id, "note", value))
    elif kind == "attendance":
        day, status = value
        row = store.create("attendance", {"post_id": rows["post"]["id"], "day": day,
                                          "person_id": rows["wife"]["id"], "status": status})
        written.append(("attendance", row["id"], "status", status))
    elif kind == "visit":
        row = store.create("visit", {"household_id": household_id, "visit_date": "2026-11-20",
                                     "visitors": value})
        written.append(("visit", row["id"], "visitors", value))
    elif kind in ("visit_edit", "visit_delete"):
        visits = store.query("visit")
        if not visits:
            return
        if kind == "visit_edit":
            store.update("visit", visits[0]["id"], {"findings": value})
            written.append(("visit", visits[0]["id"], "findings", value))
        else:
            store.delete("visit", visits[0]["id"])
    elif kind == "twice":
        what, between = value
        first, second = {"income": (3100, 3200), "note": ("第一次", "第二次"),
                          "visit_edit": ("初访", "复访")}[what]
        _apply((what, 0, first), device, rows, written)
        for n in range(between):
            _apply(("visit", 0, f"走访{n}"), device, rows, written)
        _apply((what, 0, second), device, rows, written)
    elif kind == "delete_visit_of":
        # The newest visit this device wrote: a delete right after its own edits.
        mine = [w for w in written if w[0] == "visit" and store.get("visit", w[1])]
        if mine:
            store.delete("visit", mine[-1][1])
    elif kind == "sync":
        device.sync()
    elif kind == "push":
        client = device.client()
        client.push(_Summary())
    elif kind == "pull":
        client = device.client()
        client.pull(_Summary())
    elif kind == "cut_sync":
        page_size, cut_at = value
        channel = Channel(store, _PullsCutAt(HttpTransport(device.url, timeout=10), cut_at))
        try:
            SyncClient(store, channel, page_size=page_size).sync()
        except Offline:
            pass


class _Summary:
    sent = received = conflicts = repeated = refused = 0


def _snapshot(store):
    state = {}
    for name in ("employment", "household", "attendance", "visit"):
        for row in store.query(name, include_deleted=True):
            meta = store.get(name, row["id"], include_deleted=True, with_meta=True)
            state[(name, row["id"])] = (json.dumps(row, sort_keys=True, ensure_ascii=False),
                                        meta["_deleted"], tuple(meta["_disputed"]))
    return state


def _server_snapshot(storage, keys):
    state = {}
    for name, row_id in keys:
        stored = storage.load_rows(name, [row_id])[row_id]
        values = {"id": row_id, **{k: stored.state.values.get(k) for k in
                                   _columns(name) if k != "id"}}
        state[(name, row_id)] = (json.dumps(values, sort_keys=True, ensure_ascii=False),
                                 stored.state.deleted, tuple(sorted(stored.state.disputed)))
    return state


def _columns(name):
    from client_kit.domain import record_type

    return ("id", "village_code", *record_type(name).fields)


def _findable(storage, record_type, row_id, field, value):
    for entry in storage.history(record_type, row_id):
        if field in entry["fields"] and entry["fields"][field] == value:
            return True
    for conflict in storage.list_conflicts(
            record_type=record_type, row_id=row_id, limit=1000,
            statuses=("open", "auto", "resolved", "acknowledged", "superseded", "candidate")):
        for seen in (conflict.incoming_value, conflict.current_value):
            if seen == value or (isinstance(seen, dict) and seen.get(field) == value):
                return True
    return False


@given(ops=st.lists(edit, min_size=1, max_size=25))
def test_random_edits_and_syncs_converge_and_lose_nothing(shared_server, tmp_path_factory,
                                                         ops):
    tmp = tmp_path_factory.mktemp("converge")
    village = _fresh_village()
    server = shared_server
    devices = [enrol(server, tmp, f"{name}{village}", [village]) for name in "abc"]
    try:
        rows = seed_village(devices[0].store, village)
        for device in devices:
            device.sync()
        written: list[tuple[str, str, str, object]] = []
        for op in ops:
            try:
                _apply(op, devices[op[1]], rows, written)
            except CunsyncError:
                pass  # a row deleted meanwhile: the worker would be told, nothing written
        for _ in range(2):
            for device in devices:
                device.sync()
        snapshots = [_snapshot(d.store) for d in devices]
        assert snapshots[0] == snapshots[1] == snapshots[2]
        storage = server.storage()
        try:
            assert _server_snapshot(storage, snapshots[0]) == snapshots[0]
            lost = [w for w in written if not _findable(storage, *w)]
            assert lost == []
            # rule M4: a disputed field has one open conflict; later changes are its candidates.
            open_per_field = Counter((c.record_type, c.row_id, c.field) for c in
                                     storage.list_conflicts(villages=[village], limit=10_000))
            assert all(n == 1 for n in open_per_field.values()), open_per_field
            disputed = {(name, row_id, field) for (name, row_id), (_, _, fields)
                        in snapshots[0].items() for field in fields}
            assert set(open_per_field) == disputed
            with_itself = [
                (c.field, c.current_device, c.current_value, c.incoming_value)
                for c in storage.list_conflicts(
                    villages=[village], limit=1000,
                    statuses=("open", "auto", "resolved", "acknowledged", "superseded",
                              "candidate"))
                if c.current_device == c.incoming_device]
            assert with_itself == []
        finally:
            storage.close()
    finally:
        for device in devices:
            device.store.close()
