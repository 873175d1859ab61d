"""End to end: a pull cut between pages never rolls a device back, and a device never
conflicts with itself (merge rules D3, D4, M1b, M5c)."""

from __future__ import annotations

import json
import time

import pytest

from client_kit.domain import record_type
from client_kit.engine.changes import row_versions_from_json, row_versions_json
from client_kit.errors import Offline
from client_kit.sync_client import FIRST_PAGE

from .conftest import seed_village
from .support import CutPlan, CuttingProxy, Device
from .test_sync_e2e import open_conflicts

#: Rows written between a device's two values of one field: more than a first pull page, so
#: the older value lands in the first page and the newer one in the second.
OTHER_ROWS = 250
assert FIRST_PAGE < OTHER_ROWS


@pytest.fixture
def seeded(three_devices):  # type: ignore[no-untyped-def]
    a, b, c = three_devices
    rows = seed_village(a.store)
    for device in (a, b, c):
        device.sync()
    return rows


def write_other_rows(device: Device, household_id: str) -> None:
    with device.store.transaction():
        for n in range(OTHER_ROWS):
            device.store.create("visit", {"household_id": household_id,
                                          "visit_date": "2026-11-20", "visitors": f"走访{n}"})


def sync_with_the_second_pull_page_cut(live_server, device: Device) -> None:  # type: ignore[no-untyped-def]
    """Push everything, store the first pull page, lose the connection on the second."""
    pulls = []

    def decide(method: str, path: str, n: int) -> str | None:
        if path.endswith("/pull"):
            pulls.append(n)
            return "drop" if len(pulls) == 2 else None
        return None

    with CuttingProxy(live_server.httpd.server_port, CutPlan(decide)) as proxy:
        with pytest.raises(Offline):
            device.sync(proxy.url)
    assert device.store.pending_count() == 0  # everything was pushed and acknowledged
    assert len(pulls) == 2


def test_a_pull_cut_after_an_older_own_value_keeps_the_newer_one_and_opens_no_conflict(
        live_server, three_devices, seeded):
    a, b, _ = three_devices
    employment_id = seeded["employment"]["id"]
    a.store.update("employment", employment_id, {"monthly_income": 3500})
    write_other_rows(a, seeded["household"]["id"])
    a.store.update("employment", employment_id, {"monthly_income": 3000})
    sync_with_the_second_pull_page_cut(live_server, a)
    # The first page held 3500, the device's own older value; it still shows its 3000.
    storage = live_server.storage()
    try:
        head = storage.pull([seeded["household"]["village_code"]], 0, 10**6)[-1].cursor
    finally:
        storage.close()
    assert int(a.store.meta("cursor")) < head
    assert a.store.get("employment", employment_id)["monthly_income"] == 3000

    a.store.update("employment", employment_id, {"monthly_income": 4000})
    assert a.sync().conflicts == 0
    assert open_conflicts(live_server) == []
    b.sync()
    for device in (a, b):
        row = device.store.get("employment", employment_id, with_meta=True)
        assert (row["monthly_income"], row["_disputed"]) == (4000, [])


def test_a_delete_after_a_pull_cut_past_an_older_own_value_is_not_held(
        live_server, three_devices, seeded):
    a, b, _ = three_devices
    visit = a.store.create("visit", {"household_id": seeded["household"]["id"],
                                     "visit_date": "2026-11-18", "visitors": "张队长"})
    a.sync(), b.sync()
    a.store.update("visit", visit["id"], {"findings": "未见到户主"})        # lww
    write_other_rows(a, seeded["household"]["id"])
    a.store.update("visit", visit["id"], {"findings": "已落实就业岗位"})
    sync_with_the_second_pull_page_cut(live_server, a)
    assert a.store.get("visit", visit["id"])["findings"] == "已落实就业岗位"

    a.store.delete("visit", visit["id"])
    assert a.sync().conflicts == 0
    assert open_conflicts(live_server) == []
    b.sync()
    assert b.store.get("visit", visit["id"]) is None
    assert a.store.get("visit", visit["id"]) is None


def show_an_older_own_value(device: Device, type_name: str, row_id: str, field: str,
                            value: object, version: list[object]) -> None:
    """What a store of a release before this rule shows after such a cut: the older value,
    with its version (written straight into the file)."""
    table = record_type(type_name).table
    versions, = device.store.conn.execute(f"SELECT _versions FROM {table} WHERE id = ?",
                                          (row_id,)).fetchone()
    parsed = row_versions_from_json(versions)
    parsed[field] = (int(version[0]), str(version[1]))  # type: ignore[call-overload]
    device.store.conn.execute(f"UPDATE {table} SET {field} = ?, _versions = ? WHERE id = ?",
                              (value, row_versions_json(parsed), row_id))


@pytest.mark.parametrize("write", ["update", "delete"])
def test_the_server_takes_a_devices_later_write_over_its_own_value_whatever_its_base(
        live_server, three_devices, seeded, write):
    a, b, _ = three_devices
    household_id = seeded["household"]["id"]
    a.store.update("household", household_id, {"head_name": "王大山（旧）"})   # review field
    a.sync()
    older = a.store.get("household", household_id, with_meta=True)["_versions"]["head_name"]
    a.store.update("household", household_id, {"head_name": "王大山"})
    a.sync()
    show_an_older_own_value(a, "household", household_id, "head_name", "王大山（旧）",
                            list(older))
    if write == "update":
        a.store.update("household", household_id, {"head_name": "王大三"})
    else:
        a.store.delete("household", household_id)
    assert a.sync().conflicts == 0
    assert open_conflicts(live_server) == []
    b.sync()
    row = b.store.get("household", household_id, include_deleted=True, with_meta=True)
    assert row["_disputed"] == []
    if write == "update":
        assert row["head_name"] == "王大三"
    else:
        assert row["_deleted"] is True


def test_a_stale_base_against_another_devices_write_still_goes_to_review(
        live_server, three_devices, seeded):
    a, b, _ = three_devices
    household_id = seeded["household"]["id"]
    a.store.update("household", household_id, {"head_name": "王大山（甲）"})
    a.sync()
    b.store.update("household", household_id, {"head_name": "王大山（乙）"})
    # b's write is newer than a's, a's current value on the server; yet b never saw it.
    assert b.sync().conflicts == 1
    [conflict] = open_conflicts(live_server)
    assert conflict["current_device"] == a.device_id
    assert conflict["incoming_device"] == b.device_id


def test_values_under_review_reach_the_device_whose_newer_write_was_refused(
        live_server, three_devices, seeded):
    a, b, _ = three_devices
    employment_id = seeded["employment"]["id"]
    b.store.update("employment", employment_id, {"monthly_income": 3900})
    b.sync()
    a.store.update("employment", employment_id, {"monthly_income": 4400})  # newer, refused
    assert a.sync().conflicts == 1
    row = a.store.get("employment", employment_id, with_meta=True)
    assert (row["monthly_income"], row["_disputed"]) == (3900, ["monthly_income"])
    assert json.dumps(row["_versions"]["monthly_income"]) == json.dumps(
        b.store.get("employment", employment_id, with_meta=True)["_versions"]["monthly_income"])


def test_a_restamped_write_is_still_newer_than_the_value_it_replaced(live_server,
                                                                     three_devices, seeded):
    # rule V6: a device whose clock ran far ahead has its writes re-stamped near the server's
    # time; each still comes after the versions it was based on, or the devices that hold
    # those versions would keep them (D3).
    a, b, c = three_devices
    household_id = seeded["household"]["id"]
    now = lambda: time.time_ns() // 1_000_000  # noqa: E731
    c.store.clock_ms = lambda: now() + 30 * 60_000  # ahead, but not enough to be repaired
    c.store.update("household", household_id, {"note": "丙：半小时后的钟"})
    c.sync(), a.sync(), b.sync()
    b.store.clock_ms = lambda: now() + 2 * 3600_000  # far ahead: its writes are re-stamped
    b.store.update("household", household_id, {"note": "乙：在丙之后改的"})
    client = b.client()
    assert client.sync().conflicts == 0 and client.clock_repaired
    for device in (a, b, c):
        device.sync()
        assert device.store.get("household", household_id)["note"] == "乙：在丙之后改的"
