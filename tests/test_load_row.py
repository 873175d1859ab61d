"""RecordType.load_row is the fast path of every write: it must accept and refuse exactly what
the marshmallow schema does, with the same messages."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings, strategies as st
from marshmallow import ValidationError, fields, missing

from client_kit.domain import RECORD_TYPES
from client_kit.domain.idcard import make_id_number

ID = "01a2256b-3489-7690-9816-007285e26386"
VALUES = st.sampled_from([
    None, "", "  ", "王大山", "x" * 300, 0, -1, 5, 700, 3.5, 4321.57, True, False, [], ["tuopin"],
    ["tuopin", "banqian", "tuopin"], ["nope"], "2026-01-01", "2026-12-31", "2027-01-01",
    "2026-02-30", "employed", "not_employed", "willing", "out_province", "广东", "wugong",
    "active", "ended", "on_post", "skills", "male", "female", "head", "normal", "half", ID,
    "522731100201", "522731000201", make_id_number("522731", dt.date(1980, 5, 6), 11),
    make_id_number("522731", dt.date(1980, 5, 6), 11)[:17] + "0", {"a": 1}, [["tuopin"]],
    [{"a": 1}]])


@st.composite
def rows(draw):  # type: ignore[no-untyped-def]
    rt = draw(st.sampled_from(sorted(RECORD_TYPES)))
    names = list(RECORD_TYPES[rt].schema.fields) + ["stray"]
    chosen = draw(st.lists(st.sampled_from(names), unique=True))
    values = {name: draw(VALUES) for name in chosen}
    if draw(st.booleans()):
        values.update({"id": ID, "village_code": "522731100201"})
    return rt, values


def outcome(load, values):  # type: ignore[no-untyped-def]
    try:
        return "ok", load(values)
    except ValidationError as err:
        return "refused", err.messages


@settings(max_examples=600)  # cheap: about a second
@given(rows())
def test_load_row_agrees_with_the_schema(case):
    name, values = case
    rt = RECORD_TYPES[name]
    expected = outcome(rt.schema.load, dict(values))
    got = outcome(rt.load_row, dict(values))
    if expected[0] == "ok":
        assert got == ("ok", {k: v for k, v in expected[1].items()})
    else:
        assert got == expected


def test_a_valid_employment_row_loads_the_same_both_ways():
    rt = RECORD_TYPES["employment"]
    row = {"id": ID, "village_code": "522731100201", "person_id": ID, "status": "employed",
           "destination": "out_province", "province": "广东", "work_kind": "wugong",
           "monthly_income": "3500.50", "start_date": dt.date(2026, 3, 1)}
    assert rt.load_row(dict(row)) == dict(rt.schema.load(dict(row)))


FIELDS = [(rt, name, f) for rt in sorted(RECORD_TYPES)
          for name, f in RECORD_TYPES[rt].schema.fields.items()]


@given(st.sampled_from(FIELDS), st.one_of(VALUES, st.just(missing)))
def test_domain_fields_deserialize_exactly_as_marshmallow_does(case, value) -> None:  # type: ignore[no-untyped-def]
    """Domain fields skip marshmallow's empty hook machinery; nothing else may differ."""
    _, name, field = case

    def marshmallows(v):  # type: ignore[no-untyped-def]
        return fields.Field.deserialize(field, v, name, {name: v})

    assert outcome(lambda v: field.deserialize(v, name, {name: v}), value) == outcome(
        marshmallows, value)
