"""The device store applies pulled pages: never older than what it holds (rules D3-D5)."""

from __future__ import annotations

from typing import Any

import pytest

from client_kit.engine.changes import DELETED, PulledEntry, Version
from client_kit.engine.hlc import pack
from client_kit.store import DeviceStore
from store_helpers import VILLAGE

OTHER: Version = (1, "dev-b")


def pushed(store: DeviceStore) -> None:
    """The server acknowledged everything the store wrote."""
    store.acknowledge(10**9)


def versions(store: DeviceStore, type_name: str, row_id: str) -> dict[str, Any]:
    row = store.get(type_name, row_id, include_deleted=True, with_meta=True)
    assert row is not None
    return dict(row["_versions"])


def pull(store: DeviceStore, *entries: PulledEntry) -> None:
    cursor = int(store.meta("cursor", "0") or 0)
    numbered = [PulledEntry(cursor + i, e.record_type, e.row_id, e.village, e.fields,
                            e.versions, e.deleted, e.disputed)
                for i, e in enumerate(entries, 1)]
    store.apply_pulled(numbered, cursor + len(entries))


def entry(row_id: str, fields: dict[str, Any], version: Version, *,
          deleted: bool | None = None, disputed: tuple[str, ...] = (),
          type_name: str = "household") -> PulledEntry:
    names = [*fields, *([DELETED] if deleted is not None else [])]
    return PulledEntry(0, type_name, row_id, VILLAGE, fields, dict.fromkeys(names, version),
                       deleted, disputed)


@pytest.fixture
def household(fresh_store, seeded, clock) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The seeded household, whose note the device wrote twice and pushed (acknowledged)."""
    row_id = seeded["household"]["id"]
    fresh_store.update("household", row_id, {"note": "第一次"})
    first = versions(fresh_store, "household", row_id)["note"]
    clock.advance(1000)
    fresh_store.update("household", row_id, {"note": "第二次"})
    pushed(fresh_store)
    return {"id": row_id, "first": first,
            "second": versions(fresh_store, "household", row_id)["note"]}


def test_a_pulled_value_older_than_the_devices_own_is_skipped(fresh_store, household):
    # rule D3: the pull reached the log entry of the first write, not yet that of the second.
    before = versions(fresh_store, "household", household["id"])
    pull(fresh_store, entry(household["id"], {"note": "第一次"}, household["first"]))
    assert fresh_store.get("household", household["id"])["note"] == "第二次"
    assert versions(fresh_store, "household", household["id"]) == before
    assert fresh_store.meta("cursor") == "1"


def test_the_same_version_and_newer_ones_apply(fresh_store, household):
    pull(fresh_store, entry(household["id"], {"note": "第二次"}, household["second"]))
    assert fresh_store.get("household", household["id"])["note"] == "第二次"
    newer = (household["second"][0] + 1, "dev-b")
    pull(fresh_store, entry(household["id"], {"note": "乙的备注"}, newer))
    assert fresh_store.get("household", household["id"])["note"] == "乙的备注"
    assert versions(fresh_store, "household", household["id"])["note"] == newer


def test_only_the_older_fields_of_an_entry_are_skipped(fresh_store, household):
    later = (household["second"][0] + 1, "dev-b")
    mixed = PulledEntry(0, "household", household["id"], VILLAGE,
                        {"note": "第一次", "address": "白岩村三组"},
                        {"note": household["first"], "address": later})
    pull(fresh_store, mixed)
    row = fresh_store.get("household", household["id"], with_meta=True)
    assert (row["note"], row["address"]) == ("第二次", "白岩村三组")
    assert row["_versions"]["address"] == later


def test_an_older_entry_then_a_newer_one_in_one_page_ends_with_the_newer(fresh_store,
                                                                         household):
    newer = (household["second"][0] + 5, "dev-b")
    pull(fresh_store, entry(household["id"], {"note": "第一次"}, household["first"]),
         entry(household["id"], {"note": "乙的备注"}, newer))
    assert fresh_store.get("household", household["id"])["note"] == "乙的备注"


def test_a_value_the_server_holds_under_review_applies_even_when_older(fresh_store,
                                                                       household):
    # rule D3: the server kept its value and disputed the field, refusing the device's write.
    pull(fresh_store, entry(household["id"], {"note": "服务器的值"}, OTHER,
                            disputed=("note",)))
    row = fresh_store.get("household", household["id"], with_meta=True)
    assert (row["note"], row["_disputed"]) == ("服务器的值", ["note"])
    assert row["_versions"]["note"] == OTHER


def test_the_disputed_set_follows_the_log_even_when_the_values_are_older(fresh_store,
                                                                         household):
    # rule D5
    pull(fresh_store, entry(household["id"], {"note": "第一次"}, household["first"],
                            disputed=("head_name",)))
    row = fresh_store.get("household", household["id"], with_meta=True)
    assert (row["note"], row["_disputed"]) == ("第二次", ["head_name"])


def test_an_older_pulled_undeletion_does_not_bring_back_a_row_the_device_deleted(
        fresh_store, household):
    # rule D4: the log's entry for a revival before the device's own (acknowledged) delete.
    fresh_store.delete("household", household["id"])
    pushed(fresh_store)
    pull(fresh_store, entry(household["id"], {"note": "第一次"}, household["first"],
                            deleted=False))
    assert fresh_store.get("household", household["id"]) is None
    hidden = fresh_store.get("household", household["id"], include_deleted=True)
    assert hidden["note"] == "第二次"


def test_an_older_pulled_deletion_does_not_delete_a_row_the_device_brought_back(
        fresh_store, seeded, clock):
    person = seeded["person"]["id"]
    fact = {"person_id": person, "status": "not_employed", "not_working_reason": "willing"}
    row = fresh_store.create("employment", fact)
    fresh_store.delete("employment", row["id"])
    deleted_at = versions(fresh_store, "employment", row["id"])[DELETED]
    clock.advance(1000)
    fresh_store.create("employment", fact)  # recorded again: the row comes back
    pushed(fresh_store)
    pull(fresh_store, PulledEntry(0, "employment", row["id"], VILLAGE, {},
                                  {DELETED: deleted_at}, True))
    assert fresh_store.get("employment", row["id"]) is not None
    newer = (versions(fresh_store, "employment", row["id"])[DELETED][0] + 1, "dev-b")
    pull(fresh_store, PulledEntry(0, "employment", row["id"], VILLAGE, {}, {DELETED: newer},
                                  True))
    assert fresh_store.get("employment", row["id"]) is None


def test_a_row_kept_for_review_against_the_devices_delete_comes_back_whole(fresh_store,
                                                                          household):
    # rule D4: the server held the delete (the tombstone is disputed); the row stays, with the
    # server's values, whatever their versions.
    fresh_store.delete("household", household["id"])
    pushed(fresh_store)
    pull(fresh_store, PulledEntry(0, "household", household["id"], VILLAGE,
                                  {"note": "乙的备注"}, {"note": OTHER}, False, (DELETED,)))
    row = fresh_store.get("household", household["id"], with_meta=True)
    assert row is not None
    assert (row["note"], row["_disputed"]) == ("乙的备注", [DELETED])


def test_a_restamped_write_still_comes_after_the_version_it_was_based_on(fresh_store, seeded,
                                                                         clock):
    # rule V6: re-stamping (a clock far ahead) never takes a field's version back.
    row_id = seeded["household"]["id"]
    pushed(fresh_store)
    theirs = (pack(clock() + 600_000), "dev-b")  # another device, ten minutes ahead
    pull(fresh_store, entry(row_id, {"note": "乙的备注"}, theirs))
    clock.advance(2 * 3600_000)
    fresh_store.update("household", row_id, {"note": "甲在乙之后改的"})
    fresh_store.restamp_outbox(clock() - 2 * 3600_000)
    [change] = fresh_store.pending()
    assert change.base == {"note": theirs}
    assert (change.hlc, "dev-a") > theirs
    assert versions(fresh_store, "household", row_id)["note"] == (change.hlc, "dev-a")
