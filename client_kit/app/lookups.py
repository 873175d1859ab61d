"""Read models of the field app: households with their members and employment, marks.

Names are plain columns and are searched here in Python; ID numbers are sealed at rest, so they
are found only through the store's blind index, by the whole number.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..domain import RECORD_TYPES, enums
from ..store import DeviceStore

_ID_SHAPE = re.compile(r"^[0-9]{17}[0-9Xx]$")


def my_villages(store: DeviceStore) -> list[dict[str, str]]:
    """The villages this device serves (its enrolment scope), with their names when known."""
    codes = json.loads(store.meta("villages", "[]") or "[]")
    names = {v["village_code"]: v["name"] for v in store.query("village")}
    if not codes:  # a store that was never enrolled: whatever villages it holds
        codes = sorted(names)
    return [{"code": c, "name": names.get(c, "")} for c in codes]


def village_label(village: dict[str, str]) -> str:
    return f"{village['name']}（{village['code']}）" if village["name"] else village["code"]


def pending_rows(store: DeviceStore) -> set[tuple[str, str]]:
    """``(record type, row id)`` of every row with changes not yet acknowledged by the county."""
    # Only the outbox's fields are sealed; its record types and row ids are plain columns.
    return set(store.conn.execute("SELECT DISTINCT record_type, row_id FROM outbox"))


def disputed_rows(store: DeviceStore, type_name: str) -> dict[str, list[str]]:
    """Row id → fields under a supervisor's review, for rows of one type that have any."""
    table = RECORD_TYPES[type_name].table
    return {row_id: json.loads(fields) for row_id, fields in store.conn.execute(
        f"SELECT id, _disputed FROM {table} WHERE _disputed != '[]' AND _deleted = 0")}


def mask_id_number(number: str | None) -> str:
    """An ID number shown on screen: region and the last four only."""
    if not number:
        return ""
    return number[:6] + "********" + number[-4:]


@dataclass
class Member:
    person: dict[str, Any]
    employment: dict[str, Any] | None
    pending: bool = False
    disputed: dict[str, list[str]] = field(default_factory=dict)

    @property
    def has_labour(self) -> bool:
        return self.person.get("labour_capacity") in enums.HAS_LABOUR

    @property
    def employed(self) -> bool:
        return bool(self.employment and self.employment.get("status") == "employed")


@dataclass
class HouseholdCard:
    household: dict[str, Any]
    members: list[Member]
    pending: bool = False
    disputed: dict[str, list[str]] = field(default_factory=dict)

    @property
    def labour_count(self) -> int:
        return sum(m.has_labour for m in self.members)

    @property
    def employed_count(self) -> int:
        return sum(m.employed for m in self.members)

    @property
    def needs_job(self) -> bool:
        """一户一人 not met: someone can work, nobody is employed."""
        return self.labour_count > 0 and self.employed_count == 0

    @property
    def under_review(self) -> bool:
        return bool(self.disputed) or any(m.disputed for m in self.members)


def _member_order(member: Member) -> tuple[int, str]:
    return (0 if member.person.get("relation") == "head" else 1, member.person["name"])


def household_cards(store: DeviceStore, villages: Iterable[str],
                    query: str = "") -> list[HouseholdCard]:
    """Households of ``villages`` matching ``query`` (head name, member name or ID number)."""
    village_set = set(villages)
    query = query.strip()
    only: set[str] | None = None
    if _ID_SHAPE.fullmatch(query):
        person = store.find_person_by_id_number(query)
        only = {person["household_id"]} if person else set()
    pending = pending_rows(store)
    disputed = {name: disputed_rows(store, name) for name in ("household", "person",
                                                               "employment")}
    cards = []
    for village in sorted(village_set):
        people: dict[str, list[dict[str, Any]]] = {}
        for person in store.query("person", village_code=village, order_by="name"):
            people.setdefault(person["household_id"], []).append(person)
        jobs = {e["person_id"]: e for e in store.query("employment", village_code=village)}
        visited = {v["household_id"] for v in store.query("visit", village_code=village)
                   if ("visit", v["id"]) in pending}
        for household in store.query("household", village_code=village, order_by="head_name"):
            hid = household["id"]
            if only is not None and hid not in only:
                continue
            members = [_member(p, jobs.get(p["id"]), pending, disputed)
                       for p in people.get(hid, [])]
            if only is None and query and query not in household["head_name"] and not any(
                    query in m.person["name"] for m in members):
                continue
            members.sort(key=_member_order)
            cards.append(HouseholdCard(
                household, members,
                pending=("household", hid) in pending or hid in visited
                or any(m.pending for m in members),
                disputed={"household": disputed["household"][hid]}
                if hid in disputed["household"] else {}))
    return cards


def _member(person: dict[str, Any], employment: dict[str, Any] | None,
            pending: set[tuple[str, str]], disputed: dict[str, dict[str, list[str]]]) -> Member:
    marks = {}
    if person["id"] in disputed["person"]:
        marks["person"] = disputed["person"][person["id"]]
    if employment and employment["id"] in disputed["employment"]:
        marks["employment"] = disputed["employment"][employment["id"]]
    return Member(person, employment,
                  pending=("person", person["id"]) in pending
                  or bool(employment and ("employment", employment["id"]) in pending),
                  disputed=marks)


def household_card(store: DeviceStore, household_id: str) -> HouseholdCard | None:
    """One household with its members, their employment and every mark, from ``store.get``."""
    household = store.get("household", household_id, with_meta=True)
    if household is None:
        return None
    pending = pending_rows(store)
    members = []
    for person in store.query("person", household_id=household_id):
        full = store.get("person", person["id"], with_meta=True)
        assert full is not None
        employment = next(iter(store.query("employment", person_id=person["id"])), None)
        job = store.get("employment", employment["id"], with_meta=True) if employment else None
        marks = {}
        if full["_disputed"]:
            marks["person"] = full["_disputed"]
        if job and job["_disputed"]:
            marks["employment"] = job["_disputed"]
        members.append(Member(
            _public(full), _public(job) if job else None,
            pending=("person", person["id"]) in pending
            or bool(job and ("employment", job["id"]) in pending),
            disputed=marks))
    members.sort(key=_member_order)
    return HouseholdCard(_public(household), members,
                         pending=("household", household_id) in pending,
                         disputed={"household": household["_disputed"]}
                         if household["_disputed"] else {})


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def employment_summary(employment: dict[str, Any] | None) -> str:
    """One line in Chinese: 已就业 · 省外（广东）· 务工 · 东莞电子厂, or why not."""
    if employment is None:
        return "未登记"
    if employment.get("status") == "employed":
        parts = ["已就业"]
        destination = enums.DESTINATION.get(employment.get("destination") or "", "")
        if destination and employment.get("province"):
            destination += f"（{employment['province']}）"
        parts += [p for p in (destination,
                              enums.WORK_KIND.get(employment.get("work_kind") or "", ""),
                              employment.get("employer") or "") if p]
        return " · ".join(parts)
    reason = enums.NOT_WORKING_REASON.get(employment.get("not_working_reason") or "", "")
    return "未就业" + (f" · {reason}" if reason else "")
