"""The device store: validated, versioned writes with their outbox entries, for every type."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from client_kit.domain import RECORD_TYPES
from client_kit.engine.changes import DELETE, DELETED, UPSERT, PulledEntry
from client_kit.engine.hlc import pack
from client_kit.engine.ids import natural_id
from client_kit.errors import NotFound, RuleViolation, ValidationFailed
from client_kit.store import DeviceStore
from store_helpers import (OTHER_VILLAGE, START_MS, VILLAGE, FixedClock, add_person, add_post,
                           add_session, assert_consistent, id_number, is_chinese,
                           outbox_entries, seed)

Refs = dict[str, Any]


@dataclass
class Case:
    """How to exercise one record type on a seeded store."""

    #: Values of a new row, given the seeded rows and the extra parents made for it.
    create: Callable[[Refs], dict[str, Any]]
    #: A valid change of some fields.
    update: dict[str, Any]
    #: A bad value for a field: ``(field, value)``.
    bad: tuple[str, Any]
    #: Parents this type needs beyond the seed: name -> maker.
    parents: dict[str, Callable[[DeviceStore, Refs], dict[str, Any]]] = field(
        default_factory=dict)
    #: A field to query by, and its value in the created row.
    query_by: str = "village_code"


CASES: dict[str, Case] = {
    "village": Case(
        create=lambda r: {"village_code": OTHER_VILLAGE, "name": "龙井村", "township": "青山镇",
                          "county": "长顺县"},
        update={"name": "龙井新村"},
        bad=("village_code", "52273110020"),
        query_by="name"),
    "household": Case(
        create=lambda r: {"village_code": VILLAGE, "head_name": "张有福",
                          "categories": ["dibao", "tuopin"], "relocated": True,
                          "lifted_year": 2019, "phone": "13800000000"},
        update={"address": "白岩村三组", "categories": ["tuopin"], "relocated": False},
        bad=("lifted_year", 2012),
        query_by="head_name"),
    "person": Case(
        create=lambda r: {"household_id": r["household"]["id"], "name": "王小红",
                          "id_number": id_number(dt.date(2001, 7, 8), 42), "sex": "female",
                          "relation": "child", "labour_capacity": "weak"},
        update={"labour_capacity": "half", "categories": ["banqian", "tuopin"]},
        bad=("id_number", id_number(dt.date(2001, 7, 8), 42)[:-1] + "0"
             if id_number(dt.date(2001, 7, 8), 42)[-1] != "0" else "1"),
        query_by="household_id"),
    "employment": Case(
        create=lambda r: {"person_id": r["person"]["id"], "status": "not_employed",
                          "not_working_reason": "willing"},
        update={"status": "employed", "destination": "out_province", "province": "广东",
                "work_kind": "wugong", "not_working_reason": None, "monthly_income": 4500.5},
        bad=("monthly_income", -1),
        query_by="person_id"),
    "post": Case(
        create=lambda r: {"village_code": VILLAGE, "name": "保洁员", "created_on": "2026-01-01"},
        update={"monthly_pay": 600, "duty": "村庄保洁"},
        bad=("closed_on", "2025-12-31"),
        query_by="name"),
    "appointment": Case(
        create=lambda r: {"post_id": r["post"]["id"], "person_id": r["person"]["id"],
                          "start_date": "2026-03-01", "end_date": "2027-02-28",
                          "status": "active"},
        update={"accident_insurance": True, "insurance_policy_no": "PICC-001"},
        bad=("end_date", "2027-03-01"),
        parents={"post": lambda s, r: add_post(s)},
        query_by="post_id"),
    "attendance": Case(
        create=lambda r: {"post_id": r["post"]["id"], "day": "2026-03-02",
                          "person_id": r["person"]["id"], "status": "on_post"},
        update={"status": "leave", "note": "家中有事"},
        bad=("status", "late"),
        parents={"post": lambda s, r: add_post(s)},
        query_by="post_id"),
    "training_session": Case(
        create=lambda r: {"village_code": VILLAGE, "title": "电工培训", "kind": "yigong_daixun",
                          "start_date": "2026-04-01", "end_date": "2026-04-10"},
        update={"location": "村委会", "organiser": "县职校"},
        bad=("end_date", "2026-03-31"),
        query_by="title"),
    "signin": Case(
        create=lambda r: {"session_id": r["session"]["id"], "person_id": r["person"]["id"],
                          "day": "2026-03-03"},
        update={"note": "迟到半小时"},
        bad=("day", "2026-02-30"),
        parents={"session": lambda s, r: add_session(s)},
        query_by="session_id"),
    "visit": Case(
        create=lambda r: {"household_id": r["household"]["id"], "visit_date": "2026-03-01",
                          "visitors": "张干部、李干部"},
        update={"findings": "户主在外务工", "follow_up": "联系就业", "follow_up_due": "2026-03-15"},
        bad=("follow_up_due", "2026-02-28"),
        query_by="household_id"),
    "subsidy_grant": Case(
        create=lambda r: {"person_id": r["person"]["id"], "kind": "transport", "amount": 500,
                          "granted_on": "2025-06-30"},
        update={"amount": 450, "note": "补录"},
        bad=("amount", -1),
        query_by="person_id"),
}


def test_every_record_type_is_exercised():
    assert set(CASES) == set(RECORD_TYPES)


@pytest.fixture(params=sorted(RECORD_TYPES))
def case(request, fresh_store, seeded):  # type: ignore[no-untyped-def]
    """``(type name, Case, refs, values of a new row)`` for each record type."""
    name = request.param
    spec = CASES[name]
    refs: Refs = dict(seeded)
    for parent, make in spec.parents.items():
        refs[parent] = make(fresh_store, refs)
    return name, spec, refs, spec.create(refs)


def row_and_outbox(store: DeviceStore, type_name: str, row_id: str) -> tuple[Any, ...]:
    raw = store.conn.execute(f"SELECT * FROM {RECORD_TYPES[type_name].table} WHERE id = ?",
                             (row_id,)).fetchall()
    return raw, store.pending_count(), store.meta("hlc")


def versions_in(outbox: list[dict[str, Any]]) -> list[int]:
    return [e["hlc"] for e in outbox]


# -- create / get / query / update / delete, for every record type --------------------------

def test_create_validates_inserts_and_returns_the_row(case, fresh_store):
    name, spec, refs, values = case
    row = fresh_store.create(name, values)
    assert row["village_code"] in (VILLAGE, OTHER_VILLAGE)
    assert fresh_store.get(name, row["id"]) == row
    for key, value in values.items():
        assert row[key] == value
    assert set(row) == {"id", "village_code", *RECORD_TYPES[name].fields}


def test_a_row_id_is_time_ordered_or_derived_from_the_natural_key(case, fresh_store):
    name, spec, refs, values = case
    row = fresh_store.create(name, values)
    rt = RECORD_TYPES[name]
    if rt.natural_key:
        assert row["id"] == natural_id(name, *(row[k] for k in rt.natural_key))
    else:
        assert uuid.UUID(row["id"]).version == 7
        assert uuid.UUID(row["id"]).int >> 80 == START_MS


def test_create_stamps_every_set_field_with_one_version_and_appends_one_outbox_entry(
        case, fresh_store):
    name, spec, refs, values = case
    before = outbox_entries(fresh_store)
    row = fresh_store.create(name, values)
    after = outbox_entries(fresh_store)
    assert len(after) == len(before) + 1
    entry = after[-1]
    meta = fresh_store.get(name, row["id"], with_meta=True)
    set_fields = {k for k, v in row.items() if k != "id" and v is not None}
    assert meta["_versions"] == {k: (entry["hlc"], "dev-a") for k in set_fields}
    assert (entry["record_type"], entry["row_id"], entry["op"]) == (name, row["id"], UPSERT)
    assert entry["village"] == row["village_code"]
    assert entry["fields"] == {k: row[k] for k in set_fields}
    assert entry["base"] == {k: None for k in set_fields}
    assert entry["hlc"] > max(versions_in(before), default=0)
    assert meta["_deleted"] is False and meta["_disputed"] == []
    assert_consistent(fresh_store)


def test_update_writes_only_the_changed_fields_with_a_new_version_and_their_base(
        case, fresh_store):
    name, spec, refs, values = case
    row = fresh_store.create(name, values)
    old = fresh_store.get(name, row["id"], with_meta=True)
    updated = fresh_store.update(name, row["id"], spec.update)
    for key, value in spec.update.items():
        assert updated[key] == value
    assert fresh_store.get(name, row["id"]) == updated
    entry = outbox_entries(fresh_store)[-1]
    changed = {k for k, v in spec.update.items() if old.get(k) != v}
    assert changed
    assert entry["op"] == UPSERT and set(entry["fields"]) == changed
    assert entry["base"] == {k: old["_versions"].get(k) for k in changed}
    new = fresh_store.get(name, row["id"], with_meta=True)
    for key, version in new["_versions"].items():
        expected = (entry["hlc"], "dev-a") if key in changed else old["_versions"][key]
        assert version == expected
    assert_consistent(fresh_store)


def test_delete_leaves_a_tombstone_that_get_and_query_do_not_return(case, fresh_store):
    name, spec, refs, values = case
    row = fresh_store.create(name, values)
    before = fresh_store.get(name, row["id"], with_meta=True)
    fresh_store.delete(name, row["id"])
    assert fresh_store.get(name, row["id"]) is None
    assert row["id"] not in [r["id"] for r in fresh_store.query(name)]
    assert row["id"] not in [r["id"] for r in fresh_store.query(
        name, **{spec.query_by: row[spec.query_by]})]
    tomb = fresh_store.get(name, row["id"], include_deleted=True, with_meta=True)
    assert tomb["_deleted"] is True
    assert {k: tomb[k] for k in row} == row  # the values stay, for audit and sync
    entry = outbox_entries(fresh_store)[-1]
    assert (entry["op"], entry["fields"]) == (DELETE, {})
    assert entry["base"] == {**before["_versions"], DELETED: None}
    assert tomb["_versions"][DELETED] == (entry["hlc"], "dev-a")
    assert row["id"] in [r["id"] for r in fresh_store.query(name, include_deleted=True)]
    assert_consistent(fresh_store)


def test_a_deleted_row_can_be_neither_updated_nor_deleted_again(case, fresh_store):
    name, spec, refs, values = case
    row = fresh_store.create(name, values)
    fresh_store.delete(name, row["id"])
    count = fresh_store.pending_count()
    with pytest.raises(NotFound):
        fresh_store.update(name, row["id"], spec.update)
    with pytest.raises(NotFound) as caught:
        fresh_store.delete(name, row["id"])
    assert is_chinese(caught.value.message)
    assert fresh_store.pending_count() == count


def test_query_finds_rows_by_field_value(case, fresh_store):
    name, spec, refs, values = case
    row = fresh_store.create(name, values)
    found = fresh_store.query(name, **{spec.query_by: row[spec.query_by]})
    assert row in found
    assert fresh_store.query(name, village_code="522731100209") == []
    with pytest.raises(ValueError):
        fresh_store.query(name, no_such_field=1)


def test_a_bad_create_raises_validation_failed_in_chinese_and_changes_nothing(case, fresh_store):
    name, spec, refs, values = case
    bad_field, bad_value = spec.bad
    before = snapshot_all(fresh_store)
    with pytest.raises(ValidationFailed) as caught:
        fresh_store.create(name, {**values, bad_field: bad_value})
    assert_chinese_details(name, caught.value, bad_field)
    assert snapshot_all(fresh_store) == before


def test_a_bad_update_raises_validation_failed_in_chinese_and_changes_nothing(case, fresh_store):
    name, spec, refs, values = case
    row = fresh_store.create(name, values)
    bad_field, bad_value = spec.bad
    before = snapshot_all(fresh_store)
    with pytest.raises(ValidationFailed) as caught:
        fresh_store.update(name, row["id"], {**spec.update, bad_field: bad_value})
    assert_chinese_details(name, caught.value, bad_field)
    assert snapshot_all(fresh_store) == before
    assert fresh_store.get(name, row["id"]) == row


def test_an_unknown_field_is_refused(case, fresh_store):
    name, spec, refs, values = case
    before = snapshot_all(fresh_store)
    with pytest.raises(ValidationFailed) as caught:
        fresh_store.create(name, {**values, "colour": "red"})
    assert caught.value.details == {"colour": ["未知字段"]}
    assert snapshot_all(fresh_store) == before


def test_an_update_that_changes_nothing_writes_no_outbox_entry(case, fresh_store):
    name, spec, refs, values = case
    row = fresh_store.create(name, values)
    before = snapshot_all(fresh_store)
    assert fresh_store.update(name, row["id"], {}) == row
    assert fresh_store.update(name, row["id"], values) == row
    assert snapshot_all(fresh_store) == before


def test_an_id_cannot_be_changed(case, fresh_store):
    name, spec, refs, values = case
    row = fresh_store.create(name, values)
    with pytest.raises(ValidationFailed) as caught:
        fresh_store.update(name, row["id"], {"id": str(uuid.uuid4())})
    assert caught.value.details == {"id": ["编号：不能修改"]}


def test_updating_a_row_that_does_not_exist_is_not_found(fresh_store):
    with pytest.raises(NotFound, match="不存在"):
        fresh_store.update("household", str(uuid.uuid4()), {"note": "x"})
    with pytest.raises(NotFound):
        fresh_store.delete("household", str(uuid.uuid4()))
    assert fresh_store.get("household", str(uuid.uuid4())) is None
    assert fresh_store.pending_count() == 0


def snapshot_all(store: DeviceStore) -> dict[str, Any]:
    tables = [r[0] for r in store.conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        " ORDER BY name")]
    return {t: store.conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall()
            for t in tables}


def assert_chinese_details(type_name: str, err: ValidationFailed, bad_field: str) -> None:
    assert err.code == "invalid_record"
    assert bad_field in err.details
    label = RECORD_TYPES[type_name].label_of(bad_field)
    for message in err.details[bad_field]:
        assert message.startswith(f"{label}："), message
    assert is_chinese(err.message) and label in err.message


# -- the village a row belongs to -----------------------------------------------------------

CHILD_TYPES = sorted(name for name, rt in RECORD_TYPES.items() if rt.parent)


@pytest.mark.parametrize("type_name", CHILD_TYPES)
def test_a_child_row_inherits_its_parents_village(type_name, fresh_store, seeded):
    spec = CASES[type_name]
    refs: Refs = dict(seeded)
    for parent, make in spec.parents.items():
        refs[parent] = make(fresh_store, refs)
    values = spec.create(refs)
    assert "village_code" not in values
    row = fresh_store.create(type_name, values)
    assert row["village_code"] == VILLAGE
    assert outbox_entries(fresh_store)[-1]["village"] == VILLAGE


@pytest.mark.parametrize("type_name", CHILD_TYPES)
def test_a_child_row_may_not_name_another_village_than_its_parents(type_name, fresh_store,
                                                                    seeded):
    fresh_store.create("village", CASES["village"].create({}))
    spec = CASES[type_name]
    refs: Refs = dict(seeded)
    for parent, make in spec.parents.items():
        refs[parent] = make(fresh_store, refs)
    before = snapshot_all(fresh_store)
    with pytest.raises(ValidationFailed) as caught:
        fresh_store.create(type_name, {**spec.create(refs), "village_code": OTHER_VILLAGE})
    assert caught.value.details["village_code"][0].startswith("所属村：")
    assert snapshot_all(fresh_store) == before


@pytest.mark.parametrize("type_name", CHILD_TYPES)
def test_a_child_row_whose_parent_does_not_exist_is_refused(type_name, fresh_store, seeded):
    spec = CASES[type_name]
    refs: Refs = dict(seeded)
    for parent, make in spec.parents.items():
        refs[parent] = make(fresh_store, refs)
    values = spec.create(refs)
    parent_field = RECORD_TYPES[type_name].parent[1]
    before = snapshot_all(fresh_store)
    with pytest.raises(ValidationFailed) as caught:
        fresh_store.create(type_name, {**values, parent_field: str(uuid.uuid4())})
    label = RECORD_TYPES[type_name].label_of(parent_field)
    assert caught.value.details == {parent_field: [f"{label}：不存在"]}
    assert snapshot_all(fresh_store) == before


def test_a_top_level_row_needs_its_village(fresh_store):
    with pytest.raises(ValidationFailed) as caught:
        fresh_store.create("household", {"head_name": "张三"})
    assert caught.value.details == {"village_code": ["所属村：必填"]}


def test_a_row_referring_to_a_person_that_does_not_exist_is_refused(fresh_store, seeded):
    post = add_post(fresh_store)
    with pytest.raises(ValidationFailed) as caught:
        fresh_store.create("attendance", {"post_id": post["id"], "day": "2026-03-02",
                                          "person_id": str(uuid.uuid4()), "status": "on_post"})
    assert caught.value.details == {"person_id": ["在岗人员：不存在"]}


def test_a_child_of_a_deleted_parent_is_refused(fresh_store, seeded):
    fresh_store.delete("household", seeded["household"]["id"])
    with pytest.raises(ValidationFailed):
        add_person(fresh_store, seeded["household"]["id"], 24)


# -- natural keys: the same fact recorded twice is one row ----------------------------------

def test_attendance_of_one_post_and_day_recorded_twice_is_one_row(fresh_store, seeded):
    post = add_post(fresh_store)
    person = seeded["person"]["id"]
    first = fresh_store.create("attendance", {"post_id": post["id"], "day": "2026-03-02",
                                              "person_id": person, "status": "on_post"})
    again = fresh_store.create("attendance", {"post_id": post["id"], "day": "2026-03-02",
                                              "person_id": person, "status": "absent"})
    assert again["id"] == first["id"]
    assert [r["status"] for r in fresh_store.query("attendance", post_id=post["id"])] == [
        "absent"]
    assert outbox_entries(fresh_store)[-1]["fields"] == {"status": "absent"}
    other_day = fresh_store.create("attendance", {"post_id": post["id"], "day": "2026-03-03",
                                                  "person_id": person, "status": "on_post"})
    assert other_day["id"] != first["id"]
    assert_consistent(fresh_store)


def test_the_same_fact_recorded_with_the_same_values_twice_writes_once(fresh_store, seeded):
    post = add_post(fresh_store)
    values = {"post_id": post["id"], "day": "2026-03-02", "person_id": seeded["person"]["id"],
              "status": "on_post"}
    fresh_store.create("attendance", values)
    count = fresh_store.pending_count()
    fresh_store.create("attendance", {**values, "day": dt.date(2026, 3, 2)})
    assert fresh_store.pending_count() == count


def test_a_sign_in_of_one_session_person_and_day_recorded_twice_is_one_row(fresh_store, seeded):
    session = add_session(fresh_store)
    values = {"session_id": session["id"], "person_id": seeded["person"]["id"],
              "day": "2026-03-03"}
    first = fresh_store.create("signin", values)
    again = fresh_store.create("signin", {**values, "note": "补签"})
    assert again["id"] == first["id"] and again["note"] == "补签"
    assert len(fresh_store.query("signin", session_id=session["id"])) == 1
    other = add_person(fresh_store, seeded["household"]["id"], 24)
    fresh_store.create("signin", {**values, "person_id": other["id"]})
    assert len(fresh_store.query("signin", session_id=session["id"])) == 2


def test_employment_is_one_row_per_person(fresh_store, seeded):
    person = seeded["person"]["id"]
    first = fresh_store.create("employment", {"person_id": person, "status": "not_employed",
                                              "not_working_reason": "willing"})
    again = fresh_store.create("employment", {
        "person_id": person, "status": "employed", "destination": "in_county",
        "work_kind": "workshop", "not_working_reason": None})
    assert again["id"] == first["id"] == natural_id("employment", person)
    [only] = fresh_store.query("employment", person_id=person)
    assert only["status"] == "employed"


def test_two_devices_recording_the_same_fact_make_the_same_row(tmp_path):
    a = DeviceStore.open(tmp_path / "a.sqlite", device_id="dev-a", clock=FixedClock())
    b = DeviceStore.open(tmp_path / "b.sqlite", device_id="dev-b", clock=FixedClock())
    try:
        made = seed(a)
        post = add_post(a)
        # Device b has the village, household, person and post from a (as if pulled).
        b.apply_pulled([
            PulledEntry(i + 1, c.record_type, c.row_id, c.village, c.fields,
                        {k: (c.hlc, "dev-a") for k in c.fields})
            for i, c in enumerate(a.pending())], cursor=len(a.pending()))
        values = {"post_id": post["id"], "day": "2026-03-02",
                  "person_id": made["person"]["id"], "status": "on_post"}
        assert a.create("attendance", values)["id"] == b.create("attendance", values)["id"]
    finally:
        a.close()
        b.close()


def test_a_natural_key_field_cannot_be_changed_by_an_update(fresh_store, seeded):
    post = add_post(fresh_store)
    row = fresh_store.create("attendance", {"post_id": post["id"], "day": "2026-03-02",
                                            "person_id": seeded["person"]["id"],
                                            "status": "on_post"})
    with pytest.raises(ValidationFailed) as caught:
        fresh_store.update("attendance", row["id"], {"day": "2026-03-03"})
    assert caught.value.details == {"day": ["日期：不能修改"]}


def test_a_natural_key_fact_missing_its_key_is_refused(fresh_store, seeded):
    post = add_post(fresh_store)
    with pytest.raises(ValidationFailed) as caught:
        fresh_store.create("attendance", {"post_id": post["id"],
                                          "person_id": seeded["person"]["id"],
                                          "status": "on_post"})
    assert caught.value.details == {"day": ["日期：必填"]}


def test_recording_a_deleted_fact_again_brings_it_back(fresh_store, seeded):
    post = add_post(fresh_store)
    values = {"post_id": post["id"], "day": "2026-03-02", "person_id": seeded["person"]["id"],
              "status": "on_post"}
    row = fresh_store.create("attendance", values)
    fresh_store.delete("attendance", row["id"])
    again = fresh_store.create("attendance", values)
    assert again["id"] == row["id"]
    assert fresh_store.get("attendance", row["id"]) == row
    assert outbox_entries(fresh_store)[-1]["op"] == UPSERT
    assert_consistent(fresh_store)


# -- domain rules ---------------------------------------------------------------------------

def appoint(store: DeviceStore, post_id: str, person_id: str, **values: Any) -> dict[str, Any]:
    return store.create("appointment", {"post_id": post_id, "person_id": person_id,
                                        "start_date": "2026-03-01", "end_date": "2026-12-31",
                                        "status": "active", **values})


def test_a_person_holding_an_active_post_cannot_be_appointed_to_another(fresh_store, seeded):
    person = seeded["person"]["id"]
    appoint(fresh_store, add_post(fresh_store)["id"], person)
    second_post = add_post(fresh_store, name="保洁员")
    before = snapshot_all(fresh_store)
    with pytest.raises(RuleViolation) as caught:
        appoint(fresh_store, second_post["id"], person)
    assert caught.value.code == "rule_violation"
    assert "一人一岗" in caught.value.message and "2026-03-01" in caught.value.message
    assert caught.value.details == {"person_id": ["一人一岗：该人员已有在岗的公益性岗位"]}
    assert snapshot_all(fresh_store) == before


def test_a_person_may_be_appointed_again_once_the_first_appointment_is_ended(fresh_store,
                                                                           seeded):
    person = seeded["person"]["id"]
    first = appoint(fresh_store, add_post(fresh_store)["id"], person)
    fresh_store.update("appointment", first["id"], {"status": "ended", "ended_on": "2026-06-30",
                                                    "end_reason": "外出务工"})
    second = appoint(fresh_store, add_post(fresh_store, name="保洁员")["id"], person,
                     start_date="2026-07-01", end_date="2027-06-30")
    assert second["status"] == "active"
    with pytest.raises(RuleViolation):  # and the ended one cannot come back while he holds one
        fresh_store.update("appointment", first["id"], {"status": "active", "ended_on": None})


def test_an_ended_appointment_does_not_block_and_a_deleted_one_neither(fresh_store, seeded):
    person = seeded["person"]["id"]
    first = appoint(fresh_store, add_post(fresh_store)["id"], person)
    fresh_store.delete("appointment", first["id"])
    assert appoint(fresh_store, add_post(fresh_store, name="保洁员")["id"], person)


def test_an_appointment_can_be_updated_without_tripping_over_itself(fresh_store, seeded):
    first = appoint(fresh_store, add_post(fresh_store)["id"], seeded["person"]["id"])
    assert fresh_store.update("appointment", first["id"], {"accident_insurance": True})


def test_two_people_may_hold_posts_at_the_same_time(fresh_store, seeded):
    other = add_person(fresh_store, seeded["household"]["id"], 24)
    appoint(fresh_store, add_post(fresh_store)["id"], seeded["person"]["id"])
    assert appoint(fresh_store, add_post(fresh_store, name="保洁员")["id"], other["id"])


@pytest.mark.parametrize("day", ["2026-03-01", "2026-03-07", "2025-03-03"])
def test_a_sign_in_outside_the_session_dates_is_refused(fresh_store, seeded, day):
    session = add_session(fresh_store)  # 2026-03-02 to 2026-03-06
    before = snapshot_all(fresh_store)
    with pytest.raises(RuleViolation) as caught:
        fresh_store.create("signin", {"session_id": session["id"],
                                      "person_id": seeded["person"]["id"], "day": day})
    assert "2026-03-02" in caught.value.message and "2026-03-06" in caught.value.message
    assert caught.value.details == {"day": ["签到日期：不在培训期间内"]}
    assert snapshot_all(fresh_store) == before


@pytest.mark.parametrize("day", ["2026-03-02", "2026-03-04", "2026-03-06"])
def test_a_sign_in_on_any_day_of_the_session_including_first_and_last_is_accepted(
        fresh_store, seeded, day):
    session = add_session(fresh_store)
    row = fresh_store.create("signin", {"session_id": session["id"],
                                        "person_id": seeded["person"]["id"], "day": day})
    assert row["day"] == day


def test_a_person_whose_data_contradicts_the_id_number_is_refused(fresh_store, seeded):
    with pytest.raises(ValidationFailed) as caught:
        fresh_store.update("person", seeded["person"]["id"], {"sex": "female"})
    assert caught.value.details == {"sex": ["性别：与身份证号不一致"]}


def test_employment_whole_row_rules_apply_to_updates(fresh_store, seeded):
    row = fresh_store.create("employment", {"person_id": seeded["person"]["id"],
                                            "status": "not_employed",
                                            "not_working_reason": "willing"})
    with pytest.raises(ValidationFailed) as caught:
        fresh_store.update("employment", row["id"], {"status": "employed"})
    assert set(caught.value.details) == {"destination", "work_kind", "not_working_reason"}


# -- transactions, clock and file -----------------------------------------------------------

def test_a_transaction_groups_writes(fresh_store, seeded):
    count = fresh_store.pending_count()
    with fresh_store.transaction():
        post = add_post(fresh_store)
        appoint(fresh_store, post["id"], seeded["person"]["id"])
        # Inside the transaction the writes are visible to each other.
        assert fresh_store.get("post", post["id"]) is not None
    assert fresh_store.pending_count() == count + 2
    assert_consistent(fresh_store)


def test_an_error_inside_a_transaction_rolls_every_write_back(fresh_store, seeded):
    before = snapshot_all(fresh_store)
    with pytest.raises(RuleViolation):
        with fresh_store.transaction():
            first = add_post(fresh_store)
            second = add_post(fresh_store, name="保洁员")
            appoint(fresh_store, first["id"], seeded["person"]["id"])
            appoint(fresh_store, second["id"], seeded["person"]["id"])  # 一人一岗
    assert snapshot_all(fresh_store) == before
    assert fresh_store.query("post") == []


def test_any_exception_rolls_the_transaction_back(fresh_store, seeded):
    before = snapshot_all(fresh_store)
    with pytest.raises(KeyboardInterrupt):
        with fresh_store.transaction():
            add_post(fresh_store)
            raise KeyboardInterrupt
    assert snapshot_all(fresh_store) == before
    add_post(fresh_store)  # and the store is usable afterwards
    assert_consistent(fresh_store)


def test_a_refused_write_caught_inside_a_transaction_leaves_the_others(fresh_store, seeded):
    with fresh_store.transaction():
        post = add_post(fresh_store)
        with pytest.raises(ValidationFailed):
            fresh_store.create("post", {"village_code": VILLAGE, "name": "",
                                        "created_on": "2026-01-01"})
        fresh_store.update("post", post["id"], {"note": "已核实"})
    assert fresh_store.get("post", post["id"])["note"] == "已核实"
    assert_consistent(fresh_store)


def test_versions_keep_increasing_when_the_wall_clock_goes_backwards(fresh_store, seeded,
                                                                    clock):
    clock.advance(-30 * 86_400_000)
    fresh_store.update("household", seeded["household"]["id"], {"note": "a"})
    clock.now_ms = 0
    fresh_store.update("household", seeded["household"]["id"], {"note": "b"})
    stamps = versions_in(outbox_entries(fresh_store))
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
    assert stamps[0] >= pack(START_MS)
    assert_consistent(fresh_store)


def test_the_clock_survives_reopening_with_a_clock_behind(tmp_path):
    path = tmp_path / "device.sqlite"
    store = DeviceStore.open(path, device_id="dev-a", clock=FixedClock())
    seed(store)
    last = versions_in(outbox_entries(store))[-1]
    store.close()
    store = DeviceStore.open(path, clock=FixedClock(START_MS - 86_400_000))
    try:
        add_post(store)
        assert versions_in(outbox_entries(store))[-1] > last
        assert store.device_id == "dev-a"
    finally:
        store.close()


def test_a_store_belongs_to_one_device(tmp_path):
    path = tmp_path / "device.sqlite"
    DeviceStore.open(path, device_id="dev-a").close()
    with pytest.raises(RuleViolation, match="dev-a"):
        DeviceStore.open(path, device_id="dev-b")


def test_a_store_without_a_given_device_id_makes_one(tmp_path):
    store = DeviceStore.open(tmp_path / "device.sqlite")
    try:
        assert store.device_id.startswith("dev-") and len(store.device_id) > 8
    finally:
        store.close()


def test_the_store_file_is_in_wal_mode(fresh_store, tmp_path):
    assert fresh_store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other = sqlite3.connect(str(tmp_path / "device.sqlite"))
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()


def test_sensitive_and_json_values_round_trip(fresh_store, seeded):
    row = fresh_store.create("employment", {
        "person_id": seeded["person"]["id"], "status": "employed", "destination": "in_county",
        "work_kind": "flexible", "monthly_income": "3200.75", "organised_export": False,
        "insurance_months": 12})
    got = fresh_store.get("employment", row["id"])
    assert got["monthly_income"] == 3200.75 and got["organised_export"] is False
    assert got["insurance_months"] == 12
    household = fresh_store.get("household", seeded["household"]["id"])
    assert household["categories"] == ["tuopin"]
    assert fresh_store.query("household", categories=["tuopin"]) == [household]


def test_a_row_cannot_be_moved_to_another_village_by_an_update(tmp_path):
    from client_kit.errors import ValidationFailed
    from client_kit.store import DeviceStore

    store = DeviceStore.open(tmp_path / "s.sqlite", device_id="dev-a")
    household = store.create("household", {"village_code": "522731100201", "head_name": "王"})
    pending = store.pending_count()
    with pytest.raises(ValidationFailed) as refused:
        store.update("household", household["id"], {"village_code": "522731100202"})
    assert "所属村" in refused.value.message
    assert store.pending_count() == pending
    store.close()


def test_restamping_rewrites_versions_a_row_keeps_once(fresh_store, seeded) -> None:  # type: ignore[no-untyped-def]
    """A new row keeps its one version once ({"@": ...}); re-stamping the outbox re-stamps
    it for every field, and the row still keeps it once."""
    household = seeded["household"]["id"]
    (stored,) = fresh_store.conn.execute(
        "SELECT _versions FROM households WHERE id = ?", (household,)).fetchone()
    assert stored.startswith('{"@":')
    before = fresh_store.get("household", household, with_meta=True)["_versions"]
    assert len(set(before.values())) == 1
    server_ms = START_MS - 3_600_000  # the server's clock is an hour behind this device's
    assert fresh_store.restamp_outbox(server_ms) == fresh_store.pending_count()
    after = fresh_store.get("household", household, with_meta=True)["_versions"]
    assert after.keys() == before.keys() and len(set(after.values())) == 1
    (version,) = set(after.values())
    assert version != next(iter(before.values())) and version[1] == "dev-a"
    assert version[0] >> 16 < START_MS
    (stored,) = fresh_store.conn.execute(
        "SELECT _versions FROM households WHERE id = ?", (household,)).fetchone()
    assert stored.startswith('{"@":')
    entry = next(e for e in fresh_store.pending() if e.row_id == household)
    assert entry.hlc == version[0]
