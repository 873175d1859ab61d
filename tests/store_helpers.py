"""Helpers shared by the store tests, the property tests and the crash writer.

Kept in a plain module (not ``conftest.py``) so that a subprocess (``crash_writer.py``) and
hypothesis state machines can import them too.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from client_kit.domain import RECORD_TYPES
from client_kit.domain.idcard import make_id_number
from client_kit.engine.changes import DELETE, DELETED
from client_kit.store import DeviceStore

VILLAGE = "522731100201"
OTHER_VILLAGE = "522731100202"
REGION = "522731"
#: 2026-03-01 00:00:00 UTC, in milliseconds.
START_MS = 1_772_323_200_000

_CJK = re.compile(r"[\u4e00-\u9fff]")


def is_chinese(text: str) -> bool:
    """True when ``text`` holds at least one Chinese character."""
    return bool(_CJK.search(text))


class FixedClock:
    """A wall clock that only moves when told (milliseconds since the epoch)."""

    def __init__(self, now_ms: int = START_MS) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms


def id_number(birth: dt.date = dt.date(1980, 5, 17), sequence: int = 13) -> str:
    """A valid 身份证号 in the test county (odd sequence: male)."""
    return make_id_number(REGION, birth, sequence)


def seed(store: DeviceStore, village: str = VILLAGE) -> dict[str, dict[str, Any]]:
    """A village with one household and its head."""
    v = store.create("village", {"village_code": village, "name": "白岩村", "township": "青山镇",
                                 "county": "长顺县"})
    household = store.create("household", {"village_code": village, "head_name": "王大山",
                                           "categories": ["tuopin"]})
    person = store.create("person", {"household_id": household["id"], "name": "王大山",
                                     "id_number": id_number(), "relation": "head",
                                     "labour_capacity": "normal"})
    return {"village": v, "household": household, "person": person}


def add_person(store: DeviceStore, household_id: str, sequence: int,
               name: str = "李秀英") -> dict[str, Any]:
    return store.create("person", {"household_id": household_id, "name": name,
                                   "id_number": id_number(dt.date(1985, 2, 3), sequence)})


def add_post(store: DeviceStore, village: str = VILLAGE, name: str = "护林员") -> dict[str, Any]:
    return store.create("post", {"village_code": village, "name": name,
                                 "created_on": "2026-01-01", "monthly_pay": 600})


def add_session(store: DeviceStore, village: str = VILLAGE) -> dict[str, Any]:
    return store.create("training_session", {
        "village_code": village, "title": "茶叶种植培训班", "kind": "skills",
        "start_date": "2026-03-02", "end_date": "2026-03-06"})


# -- consistency of rows and outbox ---------------------------------------------------------

def outbox_entries(store: DeviceStore) -> list[dict[str, Any]]:
    """Every outbox entry, oldest first, read through the store (which decodes them)."""
    return [
        {"seq": c.seq, "record_type": c.record_type, "row_id": c.row_id, "village": c.village,
         "hlc": c.hlc, "op": c.op, "fields": c.fields, "base": c.base}
        for c in store.pending(limit=1 << 62)
    ]


def all_rows(store: DeviceStore) -> dict[tuple[str, str], dict[str, Any]]:
    """Every row of every record type (tombstones too), with its metadata."""
    rows = {}
    for name in RECORD_TYPES:
        for (row_id,) in store.conn.execute(f"SELECT id FROM {RECORD_TYPES[name].table}"):
            rows[(name, row_id)] = store.get(name, row_id, include_deleted=True, with_meta=True)
    return rows


def touched(entry: dict[str, Any]) -> set[str]:
    """The fields an outbox entry changed (a delete changes the tombstone)."""
    return {DELETED} if entry["op"] == DELETE else set(entry["fields"])


def consistency_problems(store: DeviceStore) -> list[str]:
    """Every way the rows and the outbox disagree (empty when consistent).

    Assumes nothing was acknowledged yet, so the outbox holds every local write: each field
    version of each row must be the version of the latest outbox entry touching that field, the
    value must be that entry's value, a field no entry touched must be empty, every entry must
    name an existing row, sequence numbers and clocks must strictly increase.
    """
    problems: list[str] = []
    device = store.device_id
    entries = outbox_entries(store)
    rows = all_rows(store)
    by_row: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entry in entries:
        by_row.setdefault((entry["record_type"], entry["row_id"]), []).append(entry)
    for earlier, later in zip(entries, entries[1:]):
        if not later["seq"] > earlier["seq"]:
            problems.append(f"outbox seq not increasing at {later['seq']}")
        if not later["hlc"] > earlier["hlc"]:
            problems.append(f"outbox hlc not increasing at seq {later['seq']}")
    if entries and int(store.meta("hlc", "0") or 0) < entries[-1]["hlc"]:
        problems.append("the stored clock is behind the newest outbox entry")
    for key in by_row:
        if key not in rows:
            problems.append(f"outbox entry without its row: {key}")
    for key, row in rows.items():
        history = by_row.get(key, [])
        if not history:
            problems.append(f"row without any outbox entry: {key}")
            continue
        latest: dict[str, dict[str, Any]] = {}
        for entry in history:
            for name in touched(entry):
                latest[name] = entry
        versions = row["_versions"]
        for name, entry in latest.items():
            if versions.get(name) != (entry["hlc"], device):
                problems.append(f"{key} {name}: version {versions.get(name)} but latest outbox"
                                f" entry has {(entry['hlc'], device)} (seq {entry['seq']})")
            if name != DELETED and row.get(name) != entry["fields"][name]:
                problems.append(f"{key} {name}: row holds {row.get(name)!r} but latest outbox"
                                f" entry wrote {entry['fields'][name]!r}")
        for name in set(versions) - set(latest):
            problems.append(f"{key} {name}: versioned but no outbox entry touched it")
        for name in RECORD_TYPES[key[0]].fields:
            if name not in latest and row.get(name) is not None:
                problems.append(f"{key} {name}: holds {row.get(name)!r} with no outbox entry")
        if row["_deleted"] != (history[-1]["op"] == DELETE):
            problems.append(f"{key}: tombstone {row['_deleted']} but last entry is"
                            f" {history[-1]['op']}")
        if history[-1]["village"] != row["village_code"]:
            problems.append(f"{key}: village {row['village_code']} but last entry says"
                            f" {history[-1]['village']}")
    return problems


def assert_consistent(store: DeviceStore) -> None:
    problems = consistency_problems(store)
    assert not problems, "\n".join(problems[:20])
