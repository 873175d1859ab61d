"""The contract every server storage backend must honour (one suite, one-line subclasses).

A backend's test module subclasses :class:`StorageConformance` and provides a ``storage``
fixture returning a fresh, upgraded, empty backend.
"""

from __future__ import annotations

import itertools
import json

import pytest

from client_kit.engine.merge import RowState
from server.storage import (AuditEntry, ConflictRecord, DeviceRecord, LogDraft, RefusalRecord,
                            StoredRow, UserRecord)
from server.storage.base import LoginFailures

V1, V2 = "522731100201", "522731100202"


def log(row_id: str, village: str = V1, **fields):  # type: ignore[no-untyped-def]
    return LogDraft("household", row_id, village, fields or {"note": "x"},
                    {k: (1 << 16, "dev-a") for k in (fields or {"note": 1})}, None, (), "dev-a",
                    1, "worker")


def conflict(row_id: str = "r1", village: str = V1, status: str = "open",
             created_at: str = "2026-11-01T00:00:00+00:00") -> ConflictRecord:
    return ConflictRecord("employment", row_id, village, "monthly_income", "review", status,
                          (1, "dev-a"), 4000, (2, "dev-a"), "dev-a", "甲", 3800, (3, "dev-b"),
                          "dev-b", "乙", 7, created_at)


class StorageConformance:
    """Subclass and provide a ``storage`` fixture."""

    def test_a_block_that_raises_leaves_no_trace(self, storage):
        with pytest.raises(RuntimeError):
            with storage.atomic():
                storage.append_log([log("r1")])
                raise RuntimeError("boom")
        assert storage.head([V1]) == 0

    def test_nested_blocks_join_the_outer_transaction(self, storage):
        with pytest.raises(RuntimeError):
            with storage.atomic():
                with storage.atomic():
                    storage.append_log([log("r1")])
                raise RuntimeError("boom")
        assert storage.pull([V1], 0, 10) == []

    def test_rows_round_trip_with_their_merge_state(self, storage):
        state = RowState({"village_code": V1, "head_name": "王大山", "categories": ["tuopin"],
                          "relocated": True, "note": None},
                         {"head_name": (5, "dev-a"), "_deleted": (6, "dev-b")}, True,
                         {"head_name"}, True)
        with storage.atomic():
            storage.save_rows("household", [StoredRow("h1", V1, state)])
        loaded = storage.load_rows("household", ["h1", "missing"])
        assert set(loaded) == {"h1"}
        got = loaded["h1"].state
        assert got.values["head_name"] == "王大山" and got.values["categories"] == ["tuopin"]
        assert got.values["relocated"] is True
        assert got.versions == {"head_name": (5, "dev-a"), "_deleted": (6, "dev-b")}
        assert got.deleted and got.disputed == {"head_name"} and got.exists

    def test_log_cursors_increase_and_pull_serves_only_the_villages_asked(self, storage):
        with storage.atomic():
            first = storage.append_log([log("r1"), log("r2", V2)])
        with storage.atomic():
            second = storage.append_log([log("r3")])
        assert first[0] < first[1] < second[0]
        entries = storage.pull([V1], 0, 10)
        assert [e.row_id for e in entries] == ["r1", "r3"]
        assert storage.pull([V1], entries[0].cursor, 10)[0].row_id == "r3"
        assert storage.pull([V1], 0, 1)[0].row_id == "r1"
        assert storage.head([V1]) == second[0] and storage.head([V2]) == first[1]
        assert storage.pull([], 0, 10) == [] and storage.head([]) == 0

    def test_pull_wire_is_pull_encoded_for_the_wire(self, storage):
        person = LogDraft("person", "p1", V1, {"name": "李秀英", "id_number": "52273119900101001X",
                                               "phone": None},
                          {"name": (7 << 16, "dev-a"), "id_number": (7 << 16, "dev-a"),
                           "phone": (7 << 16, "dev-a")}, False, ("name",), "dev-a", 2, "worker")
        gone = LogDraft("household", "r9", V1, {}, {"_deleted": (8 << 16, "dev-b")}, True, (),
                        "dev-b", 3, None)
        with storage.atomic():
            storage.append_log([log("r1", note="引号\"和\\反斜杠"), person, gone, log("r2", V2)])
        for (after, limit), compact in itertools.product(((0, 10), (0, 2), (1, 10)),
                                                        (True, False)):
            entries = storage.pull([V1], after, limit)
            wire = storage.pull_wire([V1], after, limit, compact=compact)
            assert [c for c, _ in wire] == [e.cursor for e in entries]
            assert [json.loads(t) for _, t in wire] == [e.to_wire(compact) for e in entries]
        assert [e.versions for e in storage.pull([V1], 0, 10)] == [
            {"note": (1 << 16, "dev-a")}, person.versions, gone.versions]
        assert storage.pull_wire([], 0, 10) == []

    def test_history_lists_every_entry_of_a_row(self, storage):
        with storage.atomic():
            storage.append_log([log("r1", note="一"), log("r2"), log("r1", note="二")])
        assert [h["fields"]["note"] for h in storage.history("household", "r1")] == ["一", "二"]

    def test_pushed_sequences_are_remembered_per_device(self, storage):
        with storage.atomic():
            storage.record_pushed("dev-a", [(1, "d1"), (2, "d2")])
        assert storage.pushed_digests("dev-a", [1, 2, 3]) == {1: "d1", 2: "d2"}
        assert storage.pushed_digests("dev-b", [1]) == {}
        with pytest.raises(Exception):
            with storage.atomic():
                storage.record_pushed("dev-a", [(1, "other")])

    def test_conflicts_are_listed_oldest_first_filtered_and_settled(self, storage):
        with storage.atomic():
            ids = storage.add_conflicts([
                conflict("r2", created_at="2026-11-02T00:00:00+00:00"),
                conflict("r1", created_at="2026-11-01T00:00:00+00:00"),
                conflict("r3", V2), conflict("r4", status="auto")])
        assert [c.row_id for c in storage.list_conflicts()] == ["r1", "r3", "r2"]
        assert [c.row_id for c in storage.list_conflicts(villages=[V2])] == ["r3"]
        assert storage.list_conflicts(villages=[]) == []
        assert storage.count_conflicts() == {"employment": 3}
        got = storage.get_conflict(ids[0])
        assert (got.current_value, got.incoming_value, got.incoming_version) == (
            4000, 3800, (3, "dev-b"))
        assert storage.open_conflict_ids("employment", "r2", "monthly_income") == [ids[0]]
        with storage.atomic():
            storage.settle_conflicts([ids[0]], status="resolved", resolved_at="t",
                                     resolved_by="jiandu", resolution="corrected",
                                     resolved_value=4100, comment="核实")
        settled = storage.get_conflict(ids[0])
        assert (settled.status, settled.resolved_value, settled.comment) == (
            "resolved", 4100, "核实")
        assert storage.get_conflict(9999) is None

    def test_candidates_belong_to_the_conflict_before_them_on_their_field(self, storage):
        with storage.atomic():
            first, c1, other, c2 = storage.add_conflicts([
                conflict("r1"), conflict("r1", status="candidate"), conflict("r2"),
                conflict("r1", status="candidate")])
        assert [c.id for c in storage.conflict_candidates(first)] == [c1, c2]
        assert storage.conflict_candidates(other) == []
        assert storage.conflict_candidates(c1) == []
        assert storage.conflict_candidates(9999) == []
        assert storage.conflict_head(c2).id == first
        assert storage.conflict_head(first) is None and storage.conflict_head(9999) is None
        assert storage.count_conflicts() == {"employment": 2}
        with storage.atomic():  # settled; the field's next conflict takes its own candidates
            storage.settle_conflicts([first], status="resolved", resolved_at="t",
                                     resolved_by="jiandu", resolution="current",
                                     resolved_value=4000, comment="核实")
            second, c3 = storage.add_conflicts([conflict("r1"),
                                                conflict("r1", status="candidate")])
        assert [c.id for c in storage.conflict_candidates(first)] == [c1, c2]
        assert [c.id for c in storage.conflict_candidates(second)] == [c3]
        assert storage.conflict_head(c3).id == second

    def test_devices_and_users_round_trip(self, storage):
        with storage.atomic():
            storage.add_device(DeviceRecord("dev-a", "wang", [V1], "t0", "hash-a"))
            storage.add_user(UserRecord("wang", "worker", [V1], "t0", "王", "scrypt$x"))
            storage.update_device("dev-a", last_seq=5, revoked_at="t1")
        device = storage.get_device("dev-a")
        assert (device.id, device.villages, device.last_seq, device.revoked_at) == (
            "dev-a", [V1], 5, "t1")
        assert storage.get_device("nope") is None
        assert [d.id for d in storage.list_devices()] == ["dev-a"]
        assert storage.get_user("wang").scope == [V1]
        with pytest.raises(ValueError):
            storage.update_device("dev-a", no_such_column=1)

    def test_audit_entries_come_back_newest_first(self, storage):
        with storage.atomic():
            storage.append_audit(AuditEntry("t1", "cli", "device.add", "dev-a", {"n": 1}))
            storage.append_audit(AuditEntry("t2", "jiandu", "conflict.resolve", "x", {}))
        assert [e.action for e in storage.audit_entries()] == ["conflict.resolve", "device.add"]

    def test_settings_and_village_codes(self, storage):
        with storage.atomic():
            storage.set_setting("hlc", "42")
            storage.set_setting("hlc", "43")
            storage.save_rows("village", [StoredRow("v1", V1, RowState(
                {"village_code": V1, "name": "白岩村"}, {}, False, set(), True))])
        assert storage.get_setting("hlc") == "43" and storage.get_setting("nope") is None
        assert storage.village_codes() == [V1]
        with storage.atomic():
            storage.add_conflicts([conflict("r9", V2)])
        assert storage.village_codes() == [V1, V2]  # a conflict's village, with no village row
        assert storage.count_rows("village") == 1 and storage.count_rows("village", [V2]) == 0

    def test_api_tokens_are_stored_listed_and_updated(self, storage):
        row = {"id": "3f2a9c01", "user_name": "jiandu", "label": "导出", "secret_hash": "ab" * 32,
               "created_at": "2026-03-01T08:00:00+00:00", "created_by": "cli",
               "expires_at": "2027-03-01T08:00:00+00:00", "revoked_at": None,
               "last_used_at": None}
        with storage.atomic():
            storage.add_api_token({**row, "id": "00aa00aa",
                                   "created_at": "2026-02-01T08:00:00+00:00"})
            storage.add_api_token(row)
            storage.set_setting("api_tokenz", "not a token")
        assert storage.get_api_token("3f2a9c01") == row
        assert storage.get_api_token("nope") is None
        assert [t["id"] for t in storage.list_api_tokens()] == ["00aa00aa", "3f2a9c01"]
        with storage.atomic():
            storage.update_api_token("3f2a9c01", revoked_at="2026-03-02T08:00:00+00:00")
        assert storage.get_api_token("3f2a9c01") == {
            **row, "revoked_at": "2026-03-02T08:00:00+00:00"}

    def test_login_failures_are_recorded_replaced_cleared_and_pruned(self, storage):
        old = LoginFailures("guess", 1, "2026-03-01T08:00:00+00:00")
        locked = LoginFailures("jiandu", 5, "2026-03-01T08:00:00+00:00",
                               "2026-03-01T08:15:00+00:00")
        with storage.atomic():
            storage.put_login_failures(old)
            storage.put_login_failures(LoginFailures("jiandu", 4, "2026-03-01T07:59:00+00:00"))
            storage.put_login_failures(locked)
        assert storage.get_login_failures("jiandu") == locked
        assert storage.get_login_failures("nobody") is None
        with storage.atomic():
            # Only streaks neither recent nor still locked are forgotten.
            assert storage.prune_login_failures("2026-03-01T08:10:00+00:00") == 1
        assert storage.get_login_failures("guess") is None
        assert storage.get_login_failures("jiandu") == locked
        with storage.atomic():
            storage.clear_login_failures("jiandu")
            storage.clear_login_failures("jiandu")
        assert storage.get_login_failures("jiandu") is None

    def test_refused_changes_are_kept_listed_in_scope_and_resolved(self, storage):
        def refusal(seq: int, village: str, device_villages: list[str],
                    at: str) -> RefusalRecord:
            return RefusalRecord("dev-a", "worker", device_villages, seq, "household",
                                 f"h{seq}", village, "out_of_scope", "本设备无权写入",
                                 {"field": "village_code"}, at)

        with storage.atomic():
            ids = storage.add_refusals([
                refusal(3, V2, [V1], "2026-11-01T00:00:00+00:00"),
                refusal(5, V1, [V1], "2026-11-02T00:00:00+00:00")])
        first = storage.get_refusal(ids[0])
        assert first is not None and first.status == "open" and first.id == ids[0]
        assert (first.details, first.device_villages) == ({"field": "village_code"}, [V1])
        assert storage.get_refusal(2 ** 63) is None and storage.get_refusal(999) is None
        assert sorted(storage.refusals_for("dev-a", [3, 4, 5, 6])) == [3, 5]
        assert storage.refusals_for("dev-b", [3]) == {} and storage.refusals_for("dev-a", []) == {}
        # Newest first; a supervisor of V1 sees the V2 one too (its device works in V1).
        assert [r.seq for r in storage.list_refusals()] == [5, 3]
        assert [r.seq for r in storage.list_refusals(scope=[V1])] == [5, 3]
        assert [r.seq for r in storage.list_refusals(scope=[V2])] == [3]
        assert [r.seq for r in storage.list_refusals(scope=[V2[:9]])] == [5, 3]  # township
        assert storage.list_refusals(scope=["522732"]) == []
        assert storage.list_refusals(scope=[]) == [] and storage.count_refusals() == 2
        assert storage.count_refusals(scope=[V2]) == 1
        assert [r.seq for r in storage.list_refusals(limit=1, offset=1)] == [3]
        with storage.atomic():
            storage.settle_refusals([ids[0]], resolved_at="2026-11-03T00:00:00+00:00",
                                    resolved_by="jiandu", comment="已核实")
        assert [r.seq for r in storage.list_refusals()] == [5]
        [done] = storage.list_refusals(statuses=("resolved",))
        assert (done.resolved_by, done.comment, done.status) == ("jiandu", "已核实", "resolved")
        assert storage.count_refusals(statuses=("open", "resolved")) == 2

    def test_referring_rows_finds_the_rows_naming_a_row(self, storage):
        def appointment(row_id, person, deleted=False):
            return StoredRow(row_id, V1, RowState({"village_code": V1, "person_id": person,
                                                   "post_id": "post"}, {}, deleted, set(), True))
        with storage.atomic():
            storage.save_rows("appointment", [appointment("a1", "p1"), appointment("a2", "p2"),
                                              appointment("a3", "p1", deleted=True)])
        found = storage.referring_rows("appointment", "person_id", ["p1", "nobody"])
        assert sorted(found) == ["a1", "a3"] and found["a3"].state.deleted
        assert storage.referring_rows("appointment", "person_id", []) == {}

    def test_row_villages_names_the_village_of_each_stored_row(self, storage):
        with storage.atomic():
            storage.save_rows("household", [
                StoredRow("h1", V1, RowState({"village_code": V1, "head_name": "甲"}, {},
                                             False, set(), True)),
                StoredRow("h2", V2, RowState({"village_code": V2, "head_name": "乙"}, {},
                                             True, set(), True))])
        assert storage.row_villages("household", ["h1", "h2", "nope"]) == {"h1": V1, "h2": V2}
        assert storage.row_villages("household", []) == {}
