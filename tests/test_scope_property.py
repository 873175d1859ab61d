"""Property: whatever a device of village A pushes, no figure of a report scoped to village B
changes (issue 13 item 1). Random changes name A's and B's rows, natural ids of B's facts,
B's village, unknown rows; every one the server accepts stays inside A, every other one is
refused alone (never a server error, never the batch)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client_kit.domain import record_type
from client_kit.domain.idcard import make_id_number
from client_kit.engine.changes import DELETE, Change
from client_kit.engine.hlc import pack
from server.reporting import REPORTS
from server.storage import DeviceRecord
from server.sync_service import SyncService

from reports_county import COUNTY, V1, V2, County

#: After every write the fixture makes (2024) and every random one (now): all of it counts.
ON = "2030-06-30"
DAY = "2024-03-04"


def build(county: County) -> dict[str, list[str]]:
    """Village A (V1) and village B (V2) with every kind of row; the ids of each kind."""
    ids: dict[str, list[str]] = {}

    def keep(kind: str, row_id: str) -> str:
        ids.setdefault(kind, []).append(row_id)
        return row_id

    for village in (V1, V2):
        covered = keep("household", county.household(village, f"户主{village[-1]}",
                                                     ["tuopin"]))
        empty = keep("household", county.household(village, f"空户{village[-1]}", ["tuopin"]))
        head = keep("person", county.person(covered, "甲", relation="head",
                                            categories=["tuopin"]))
        idle = keep("person", county.person(empty, "乙", relation="head",
                                            categories=["tuopin"]))
        keep("person", county.person(covered, "丙", categories=["dibao"]))
        keep("employment", county.employed(head, destination="out_province"))
        keep("employment", county.idle(idle))
        post = keep("post", county.add("post", village_code=village, name="护林员",
                                       created_on="2024-01-01", monthly_pay=600))
        keep("appointment", county.add("appointment", post_id=post, person_id=head,
                                       start_date="2024-01-01", end_date="2024-12-31",
                                       status="active", accident_insurance=True))
        keep("attendance", county.add("attendance", post_id=post, day=DAY, person_id=head,
                                      status="on_post"))
        session = keep("training_session", county.add(
            "training_session", village_code=village, title="茶叶种植培训班", kind="skills",
            start_date="2024-03-01", end_date="2024-03-09"))
        keep("signin", county.add("signin", session_id=session, person_id=idle, day=DAY))
    return ids


#: Report parameters that take in the fixture's days.
PARAMS = {"training": {"start": "2024-01-01"}, "posts": {"month": "2024-03"},
          "employment-scale": {"base": "2023-12-31"}}
#: How reports label village B's rows.
B_LABEL = "青山镇龙井村"


def b_reports(county: County) -> dict[Any, Any]:
    """Every report scoped to village B, and every row of the county's reports that is B's
    (a row tagged A but joined to B's household would show there)."""
    out: dict[Any, Any] = {}
    for name in REPORTS:
        params = PARAMS.get(name, {})
        out[name, "village"] = county.report(name, ON, village=V2, **params)
        whole = county.report(name, ON, county=COUNTY, **params)
        out[name, "county"] = [(t.key, r) for t in whole.tables for r in t.rows
                               if r.get("village_code") == V2 or r.get("village") == B_LABEL]
    return out


#: Values that pass each type's schema (so refusals come from scope, not from bad values).
def values_for(kind: str, pick: Any) -> dict[str, Any]:
    person, household = pick("person"), pick("household")
    post, session = pick("post"), pick("training_session")
    return {
        "household": {"head_name": "新户", "categories": ["tuopin"]},
        "person": {"household_id": household, "name": "新人", "relation": "child",
                   "labour_capacity": "normal",
                   "id_number": make_id_number(COUNTY, dt.date(1990, 2, 2), 123)},
        "employment": {"person_id": person, "status": "employed",
                       "destination": "in_county", "work_kind": "wugong"},
        "post": {"name": "保洁员", "created_on": "2024-01-01", "monthly_pay": 500},
        "appointment": {"post_id": post, "person_id": person, "start_date": "2024-01-01",
                        "end_date": "2024-12-31", "status": "active",
                        "accident_insurance": True},
        "attendance": {"post_id": post, "day": DAY, "person_id": person,
                       "status": "on_post"},
        "training_session": {"title": "新培训", "kind": "skills", "start_date": "2024-03-01",
                             "end_date": "2024-03-09"},
        "signin": {"session_id": session, "person_id": person, "day": DAY},
    }[kind]


KINDS = ["household", "person", "employment", "post", "appointment", "attendance",
         "training_session", "signin"]


@st.composite
def changes(draw: Any, ids: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Recipes of changes: kind, op, village tag, the rows referenced, how the id is made."""
    out = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(KINDS))
        choices = {k: draw(st.sampled_from(v + ["01900000-0000-7000-8000-00000000dead"]))
                   for k, v in ids.items()}
        out.append({
            "kind": kind, "choices": choices,
            "op": draw(st.sampled_from(["create", "create", "update", "delete"])),
            "village": draw(st.sampled_from([V1, V1, V1, V2])),
            "target": draw(st.sampled_from(ids[kind])),
            "new": draw(st.integers(1, 10 ** 9)),
            "update": draw(st.sampled_from([{"note": "改"}, {"monthly_income": 9000},
                                            {"status": "not_employed",
                                             "not_working_reason": "willing"},
                                            {"village_code": V1}, {"head_name": "改名"}])),
        })
    return out


def to_change(recipe: dict[str, Any], seq: int, hlc: int) -> Change:
    kind, village = recipe["kind"], recipe["village"]
    rt = record_type(kind)
    if recipe["op"] == "delete":
        return Change(seq, kind, recipe["target"], village, hlc, DELETE, {}, {})
    if recipe["op"] == "update":
        fields = {k: v for k, v in recipe["update"].items()
                  if k in rt.fields or k == "village_code"} or {"village_code": village}
        return Change(seq, kind, recipe["target"], village, hlc, "upsert", fields,
                      {k: None for k in fields})
    fields = {"village_code": village, **values_for(kind, lambda k: recipe["choices"][k])}
    if rt.natural_key:
        row_id = rt.natural_row_id(rt.load_fields(fields))
    else:
        row_id = f"01900000-0000-7000-8000-{recipe['new']:012d}"
    return Change(seq, kind, row_id, village, hlc, "upsert", fields,
                  {k: None for k in fields})


@pytest.fixture(scope="module")
def county(tmp_path_factory):  # type: ignore[no-untyped-def]
    place = County(tmp_path_factory.mktemp("scope"))
    ids = build(place)
    device = DeviceRecord("dev-a", "team-a", [V1], "2024-01-01T00:00:00Z")
    place.storage.add_device(device)
    yield place, ids, b_reports(place)
    place.close()


def test_the_fixture_has_figures_in_village_b(county):  # type: ignore[no-untyped-def]
    place, _, before = county
    coverage = before["household-coverage", "village"]
    assert [(f.key, f.value) for f in coverage.summary] == [
        ("households", 2), ("covered", 1), ("zero", 1), ("rate", 50.0)]
    assert ("zero_employment", {}) not in before["household-coverage", "county"]
    assert len(before["household-coverage", "county"]) == 2  # B's row by village, its zero
    assert before["training", "county"] and before["employment-scale", "village"].summary[0].value


_SEQ = itertools.count(1)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=st.data())
def test_pushes_from_a_device_of_a_never_change_a_report_of_b(county, data):  # type: ignore[no-untyped-def]
    place, ids, before = county
    service = SyncService(place.storage, max_ahead_ms=10 ** 15)
    recipes = data.draw(changes(ids))
    batch = []
    for recipe in recipes:
        seq = next(_SEQ)
        batch.append(to_change(recipe, seq, pack(2 * 10 ** 12, seq)))
    device = place.storage.get_device("dev-a")
    result = service.push(device, batch)  # never raises: each bad change is refused alone
    assert result.applied + len(result.refused) == len(batch)
    for refused in result.refused:
        assert refused.code and refused.message
    # What was accepted stays in village A.
    for change in batch:
        if change.seq not in {r.seq for r in result.refused}:
            assert change.village == V1
    assert b_reports(place) == before
