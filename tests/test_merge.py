"""Field-level merge rules (client_kit.engine.merge), one rule at a time."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from client_kit.engine.changes import DELETE, DELETED, UPSERT, Change, Version
from client_kit.engine.merge import (LWW, REVIEW, MergeOutcome, RowState, _merge_field,
                                     apply_pulled, merge_change, pulled_held,
                                     pulled_tombstone_applies)

POLICIES = {"note": LWW, "status": REVIEW, "name": REVIEW}
ROW = "0196f3b0-0000-7000-8000-000000000001"
VILLAGE = "522731100201"

V1: Version = (100, "dev-a")
V2: Version = (200, "dev-b")


def state(values: dict[str, Any], versions: dict[str, Version], *, deleted: bool = False,
          disputed: set[str] | None = None) -> RowState:
    return RowState(values=dict(values), versions=dict(versions), deleted=deleted,
                    disputed=set(disputed or ()), exists=True)


def change(fields: dict[str, Any], base: dict[str, Version | None], *, hlc: int = 300,
           op: str = UPSERT) -> Change:
    return Change(1, "household", ROW, VILLAGE, hlc, op, fields, base)


def test_a_new_row_applies_every_field():
    out = merge_change(RowState(), change({"name": "王大山", "note": "x"},
                                          {"name": None, "note": None}), "dev-c", POLICIES)
    assert out.writes == {"name": ("王大山", (300, "dev-c")), "note": ("x", (300, "dev-c"))}
    assert not out.conflicts and not out.disputed_added and out.deleted is None


def test_a_field_based_on_the_current_version_fast_forwards():
    current = state({"status": "employed"}, {"status": V1})
    out = merge_change(current, change({"status": "not_employed"}, {"status": V1}), "dev-c",
                       POLICIES)
    assert out.writes == {"status": ("not_employed", (300, "dev-c"))}
    assert not out.conflicts and not out.reannounce


def test_a_fast_forward_applies_even_with_an_older_clock():
    # The base decides, not the clock: a device with a slow clock still updates what it saw.
    current = state({"note": "a"}, {"note": V2})
    out = merge_change(current, change({"note": "b"}, {"note": V2}, hlc=50), "dev-c", POLICIES)
    assert out.writes == {"note": ("b", (50, "dev-c"))}


def test_a_later_write_of_the_device_that_wrote_the_current_value_fast_forwards():
    # rule M1b: dev-a's base is its own older version (a pull cut showed it an older value).
    current = state({"status": "employed"}, {"status": (250, "dev-a")})
    out = merge_change(current, change({"status": "not_employed"}, {"status": V1}), "dev-a",
                       POLICIES)
    assert out.writes == {"status": ("not_employed", (300, "dev-a"))}
    assert not out.conflicts and not out.disputed_added and not out.reannounce


def test_a_stale_base_against_another_devices_value_is_still_reviewed():
    # rule M1b cannot skip review: the current value is dev-b's, not the pushing device's.
    current = state({"status": "employed"}, {"status": V2})
    out = merge_change(current, change({"status": "not_employed"}, {"status": V1}), "dev-a",
                       POLICIES)
    assert out.writes == {} and out.disputed_added == {"status"}
    [conflict] = out.conflicts
    assert (conflict.current_version, conflict.incoming_version) == (V2, (300, "dev-a"))


def test_an_own_write_older_than_the_current_own_value_is_merged_as_concurrent():
    current = state({"status": "employed"}, {"status": (400, "dev-a")})
    out = merge_change(current, change({"status": "not_employed"}, {"status": V1}), "dev-a",
                       POLICIES)
    assert out.writes == {} and out.disputed_added == {"status"}


def test_an_own_later_write_to_a_disputed_field_still_opens_a_conflict():
    current = state({"status": "employed"}, {"status": (250, "dev-a")}, disputed={"status"})
    out = merge_change(current, change({"status": "not_employed"}, {"status": V1}), "dev-a",
                       POLICIES)
    assert out.writes == {} and out.conflicts[0].status == "open"


def test_a_delete_after_own_later_writes_is_not_concurrent_with_them():
    # rule M5c: fields the deleting device itself wrote last do not hold its delete.
    current = state({"name": "x", "note": "mine"}, {"name": V1, "note": (250, "dev-a")})
    out = merge_change(current, change({}, {"name": V1, "note": V1, DELETED: None}, op=DELETE),
                       "dev-a", POLICIES)
    assert out.deleted is True and not out.conflicts


def test_a_delete_with_a_stale_base_against_another_devices_field_is_reviewed():
    current = state({"name": "x", "note": "theirs"}, {"name": (250, "dev-a"), "note": V2})
    out = merge_change(current, change({}, {"name": V1, "note": V1, DELETED: None}, op=DELETE),
                       "dev-a", POLICIES)
    assert out.deleted is None and out.disputed_added == {DELETED}
    assert out.conflicts[0].current_value == {"note": "theirs"}


def test_a_revival_by_the_device_that_deleted_the_row_brings_it_back():
    # rule M5b: its tombstone base is stale, but the tombstone is its own.
    current = state({"name": "x"}, {"name": V1, DELETED: (250, "dev-a")}, deleted=True)
    out = merge_change(current, change({"name": "y", DELETED: False},
                                       {"name": V1, DELETED: (150, "dev-a")}), "dev-a",
                       POLICIES)
    assert out.deleted is False and not out.conflicts
    assert out.writes == {"name": ("y", (300, "dev-a"))}


def test_different_fields_of_one_row_both_apply():
    current = state({"name": "王大山", "note": "old"}, {"name": V2, "note": V1})
    out = merge_change(current, change({"note": "new"}, {"note": V1}), "dev-c", POLICIES)
    assert out.writes == {"note": ("new", (300, "dev-c"))}
    assert not out.conflicts


def test_a_concurrent_change_to_the_same_value_is_no_conflict_and_takes_the_later_version():
    current = state({"status": "employed"}, {"status": V1})
    out = merge_change(current, change({"status": "employed"}, {"status": None}, hlc=300),
                       "dev-c", POLICIES)
    assert out.writes == {"status": ("employed", (300, "dev-c"))}
    assert not out.conflicts and not out.disputed_added


def test_a_concurrent_same_value_with_an_older_version_keeps_the_current_one_and_reannounces():
    current = state({"status": "employed"}, {"status": V2})
    out = merge_change(current, change({"status": "employed"}, {"status": V1}, hlc=150),
                       "dev-c", POLICIES)
    assert out.writes == {}
    assert out.reannounce == {"status"}
    assert not out.conflicts


def test_lww_a_later_concurrent_write_wins_and_the_loser_is_kept_in_an_auto_conflict():
    current = state({"note": "mine"}, {"note": V2})
    out = merge_change(current, change({"note": "theirs"}, {"note": V1}, hlc=300), "dev-c",
                       POLICIES)
    assert out.writes == {"note": ("theirs", (300, "dev-c"))}
    [conflict] = out.conflicts
    assert (conflict.field, conflict.policy, conflict.status) == ("note", LWW, "auto")
    assert (conflict.current_value, conflict.current_version) == ("mine", V2)
    assert (conflict.incoming_value, conflict.incoming_version) == ("theirs", (300, "dev-c"))
    assert conflict.base == V1
    assert not out.disputed_added


def test_lww_an_earlier_concurrent_write_loses_and_is_kept_in_an_auto_conflict():
    current = state({"note": "mine"}, {"note": V2})
    out = merge_change(current, change({"note": "theirs"}, {"note": V1}, hlc=150), "dev-c",
                       POLICIES)
    assert "note" not in out.writes
    [conflict] = out.conflicts
    assert (conflict.policy, conflict.status) == (LWW, "auto")
    assert (conflict.incoming_value, conflict.incoming_version) == ("theirs", (150, "dev-c"))
    assert conflict.current_value == "mine"
    assert not out.disputed_added


def test_lww_ties_on_the_clock_are_broken_by_device_id():
    current = state({"note": "b"}, {"note": (300, "dev-b")})
    wins = merge_change(current, change({"note": "c"}, {"note": V1}, hlc=300), "dev-c", POLICIES)
    loses = merge_change(current, change({"note": "a"}, {"note": V1}, hlc=300), "dev-a",
                         POLICIES)
    assert wins.writes == {"note": ("c", (300, "dev-c"))}
    assert loses.writes == {}


def test_review_a_concurrent_different_value_keeps_the_current_value_and_opens_a_conflict():
    current = state({"status": "employed"}, {"status": V2})
    out = merge_change(current, change({"status": "not_employed"}, {"status": V1}, hlc=300),
                       "dev-c", POLICIES)
    assert out.writes == {}
    [conflict] = out.conflicts
    assert (conflict.field, conflict.policy, conflict.status) == ("status", REVIEW, "open")
    assert (conflict.current_value, conflict.incoming_value) == ("employed", "not_employed")
    assert out.disputed_added == {"status"}
    assert out.reannounce == {"status"}


def test_review_is_the_policy_even_when_the_incoming_write_is_later():
    current = state({"status": "employed"}, {"status": V1})
    out = merge_change(current, change({"status": "not_employed"}, {"status": None},
                                       hlc=10**9), "dev-c", POLICIES)
    assert out.writes == {} and out.disputed_added == {"status"}


def test_a_field_without_a_declared_policy_is_reviewed():
    current = state({"mystery": 1}, {"mystery": V2})
    out = merge_change(current, change({"mystery": 2}, {"mystery": V1}), "dev-c", POLICIES)
    assert out.writes == {} and out.disputed_added == {"mystery"}


def test_review_conflict_on_one_field_lets_other_fields_of_the_change_apply():
    current = state({"status": "employed", "note": "n"}, {"status": V2, "note": V1})
    out = merge_change(current, change({"status": "not_employed", "note": "m"},
                                       {"status": V1, "note": V1}), "dev-c", POLICIES)
    assert out.writes == {"note": ("m", (300, "dev-c"))}
    assert out.disputed_added == {"status"}


def test_a_disputed_field_takes_no_new_value_even_a_fast_forward():
    current = state({"status": "employed"}, {"status": V2}, disputed={"status"})
    out = merge_change(current, change({"status": "not_employed"}, {"status": V2}), "dev-c",
                       POLICIES)
    assert out.writes == {}
    [conflict] = out.conflicts
    assert (conflict.field, conflict.status) == ("status", "open")
    assert out.reannounce == {"status"}


def test_a_disputed_lww_field_takes_no_new_value_either():
    current = state({"note": "a"}, {"note": V2}, disputed={"note"})
    out = merge_change(current, change({"note": "b"}, {"note": V2}, hlc=10**9), "dev-c",
                       POLICIES)
    assert out.writes == {} and out.conflicts[0].status == "open"


def test_a_delete_based_on_every_current_version_deletes():
    current = state({"name": "x", "note": "y"}, {"name": V1, "note": V2})
    out = merge_change(current, change({}, {"name": V1, "note": V2, DELETED: None},
                                       op=DELETE), "dev-c", POLICIES)
    assert out.deleted is True and out.deleted_version == (300, "dev-c")
    assert not out.conflicts


def test_a_delete_against_a_concurrent_update_is_a_review_conflict_on_deleted():
    current = state({"name": "x", "note": "changed"}, {"name": V1, "note": V2})
    out = merge_change(current, change({}, {"name": V1, "note": V1, DELETED: None}, op=DELETE),
                       "dev-c", POLICIES)
    assert out.deleted is None
    [conflict] = out.conflicts
    assert (conflict.field, conflict.policy, conflict.status) == (DELETED, REVIEW, "open")
    assert conflict.current_value == {"note": "changed"}
    assert conflict.current_version == V2
    assert conflict.incoming_value is True
    assert out.disputed_added == {DELETED}


def test_a_delete_of_a_row_with_a_disputed_field_goes_to_review():
    current = state({"name": "x"}, {"name": V1}, disputed={"name"})
    out = merge_change(current, change({}, {"name": V1}, op=DELETE), "dev-c", POLICIES)
    assert out.deleted is None and out.disputed_added == {DELETED}


def test_an_update_against_a_delete_is_a_review_conflict_on_deleted():
    current = state({"name": "x"}, {"name": V1, DELETED: V2}, deleted=True)
    out = merge_change(current, change({"name": "y"}, {"name": V1}), "dev-c", POLICIES)
    assert out.writes == {} and out.deleted is None
    [conflict] = out.conflicts
    assert (conflict.field, conflict.policy, conflict.status) == (DELETED, REVIEW, "open")
    assert conflict.current_value is True and conflict.current_version == V2
    assert conflict.incoming_value == {"name": "y"}
    assert out.disputed_added == {DELETED}


def test_deleting_a_deleted_row_again_changes_nothing():
    current = state({"name": "x"}, {"name": V1, DELETED: V2}, deleted=True)
    out = merge_change(current, change({}, {"name": V1}, op=DELETE), "dev-c", POLICIES)
    assert not out.changes_state and not out.conflicts


def test_apply_pulled_replaces_values_and_versions():
    values, versions = apply_pulled({"note": "a", "name": "x"}, {"note": V1, "name": V1},
                                    {"note": "b"}, {"note": V2}, pending=set())
    assert values == {"note": "b", "name": "x"}
    assert versions == {"note": V2, "name": V1}


def test_apply_pulled_keeps_fields_with_unpushed_local_changes():
    values, versions = apply_pulled({"note": "local"}, {"note": (500, "dev-a")},
                                    {"note": "server", "name": "y"}, {"note": V2, "name": V2},
                                    pending={"note"})
    assert values == {"note": "local", "name": "y"}
    assert versions == {"note": (500, "dev-a"), "name": V2}


def test_apply_pulled_skips_a_value_older_than_the_local_one():
    # rule D3: a pull cut between pages must not roll the device back.
    values, versions = apply_pulled({"note": "newer", "name": "x"},
                                    {"note": (500, "dev-a"), "name": V1},
                                    {"note": "older", "name": "y"},
                                    {"note": (400, "dev-a"), "name": V2}, pending=set())
    assert values == {"note": "newer", "name": "y"}
    assert versions == {"note": (500, "dev-a"), "name": V2}


def test_apply_pulled_takes_the_same_version_and_values_without_one():
    values, versions = apply_pulled({"note": "a", "village_code": "x"}, {"note": V1},
                                    {"note": "a", "village_code": "x"}, {"note": V1},
                                    pending=set())
    assert (values, versions) == ({"note": "a", "village_code": "x"}, {"note": V1})


def test_apply_pulled_takes_a_held_value_even_when_older():
    # rule D3: the server keeps its (older) value under review against this device's write.
    values, versions = apply_pulled({"status": "mine"}, {"status": (500, "dev-a")},
                                    {"status": "server"}, {"status": V2}, pending=set(),
                                    held={"status"})
    assert (values, versions) == ({"status": "server"}, {"status": V2})


def test_held_fields_are_the_disputed_ones_or_all_when_the_tombstone_is_disputed():
    assert set(pulled_held({"status": 1, "note": 2}, ("status",))) == {"status"}
    assert set(pulled_held({"status": 1, "note": 2}, (DELETED,))) == {"status", "note"}
    assert set(pulled_held({"status": 1}, ())) == set()


def test_a_pulled_tombstone_applies_unless_older_and_not_disputed():
    # rule D4
    assert pulled_tombstone_applies((500, "dev-b"), (400, "dev-a"), ())
    assert pulled_tombstone_applies((500, "dev-b"), None, ())
    assert pulled_tombstone_applies(None, (400, "dev-a"), ())
    assert not pulled_tombstone_applies((300, "dev-a"), (400, "dev-a"), ())
    assert pulled_tombstone_applies((300, "dev-b"), (400, "dev-a"), (DELETED,))


def test_apply_pulled_does_not_modify_its_inputs():
    values, versions = {"note": "a"}, {"note": V1}
    apply_pulled(values, versions, {"note": "b"}, {"note": V2}, pending=set())
    assert values == {"note": "a"} and versions == {"note": V1}


@given(st.dictionaries(st.sampled_from(["name", "note", "status", "phone"]),
                       st.one_of(st.none(), st.text(max_size=3), st.integers()), max_size=4),
       st.dictionaries(st.sampled_from(["name", "note", "status", "phone"]),
                       st.one_of(st.none(), st.just(V1)), max_size=4),
       st.dictionaries(st.sampled_from(["name", "note"]), st.text(max_size=3), max_size=2),
       st.booleans())
def test_a_row_without_versions_merges_as_field_by_field_would(fields, base, values,
                                                             exists) -> None:  # type: ignore[no-untyped-def]
    """merge_change's shortcut for a row with nothing to compare must change no decision."""
    current = RowState(values=dict(values), exists=exists)
    incoming: Version = (300, "dev-c")
    expected = MergeOutcome()
    for name, value in fields.items():
        _merge_field(current, name, value, base.get(name), incoming,
                     POLICIES.get(name, REVIEW), expected)
    assert merge_change(current, change(fields, base), "dev-c", POLICIES) == expected
