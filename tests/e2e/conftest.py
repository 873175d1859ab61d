"""Fixtures for end-to-end tests: a real server on loopback and enrolled devices."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import pytest

from client_kit.domain.idcard import make_id_number
from client_kit.store import DeviceStore

from .support import LiveServer, add_user, enrol, make_app

VILLAGE_A = "522731100201"
VILLAGE_B = "522731100202"


@pytest.fixture
def live_server(tmp_path) -> Iterator[LiveServer]:
    with LiveServer(make_app(tmp_path)) as server:
        add_user(server, "jiandu", "supervisor", ["522731"])
        yield server


@pytest.fixture
def three_devices(live_server, tmp_path):  # type: ignore[no-untyped-def]
    devices = [enrol(live_server, tmp_path, name, [VILLAGE_A]) for name in ("a", "b", "c")]
    yield devices
    for device in devices:
        device.store.close()


def seed_village(store: DeviceStore, village: str = VILLAGE_A) -> dict[str, Any]:
    """A village with one household of two people, a post with its holder and a training."""
    store.create("village", {"village_code": village, "name": "白岩村", "township": "青山镇",
                             "county": "长顺坝县"})
    household = store.create("household", {"village_code": village, "head_name": "王大山",
                                           "categories": ["tuopin"]})
    head = store.create("person", {
        "household_id": household["id"], "name": "王大山",
        "id_number": make_id_number("522731", dt.date(1975, 3, 9), 11),
        "labour_capacity": "normal", "relation": "head"})
    wife = store.create("person", {
        "household_id": household["id"], "name": "李秀英",
        "id_number": make_id_number("522731", dt.date(1978, 8, 1), 22),
        "labour_capacity": "half", "relation": "spouse"})
    employment = store.create("employment", {
        "person_id": head["id"], "status": "employed", "destination": "out_province",
        "province": "广东", "work_kind": "wugong", "employer": "东莞电子厂",
        "monthly_income": 4000})
    post = store.create("post", {"village_code": village, "name": "护林员",
                                 "created_on": "2026-01-01", "monthly_pay": 600})
    appointment = store.create("appointment", {
        "post_id": post["id"], "person_id": wife["id"], "start_date": "2026-01-01",
        "end_date": "2026-12-31", "status": "active", "accident_insurance": True})
    session = store.create("training_session", {
        "village_code": village, "title": "茶叶种植培训班", "kind": "skills",
        "start_date": "2026-11-02", "end_date": "2026-11-06"})
    return {"household": household, "head": head, "wife": wife, "employment": employment,
            "post": post, "appointment": appointment, "session": session}
