"""What the 同步状况 page shows about a device after real syncs over HTTP: its clock's offset
measured at contact, its outbox after the push, and a device that never made contact."""

from __future__ import annotations

import re
import time
from typing import Iterator

import pytest

from client_kit.channel import Channel
from client_kit.errors import Offline
from client_kit.sync_client import SyncClient
from client_kit.transport import HttpTransport

from .conftest import VILLAGE_A, seed_village
from .support import CutPlan, CuttingProxy, Device, LiveServer, enrol

MINUTE_MS = 60 * 1000


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def offset_clock(offset_ms: int):  # type: ignore[no-untyped-def]
    return lambda: wall_ms() + offset_ms


@pytest.fixture
def console(live_server: LiveServer):  # type: ignore[no-untyped-def]
    """A supervisor's browser on the live server's console (Flask's test client)."""
    client = live_server.app.test_client()
    page = client.get("/console/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]  # type: ignore[index]
    client.post("/console/login", data={"name": "jiandu", "password": "correct-horse",
                                        "csrf_token": token})
    return client


@pytest.fixture
def tablet(live_server, tmp_path) -> Iterator[Device]:  # type: ignore[no-untyped-def]
    device = enrol(live_server, tmp_path, "a", [VILLAGE_A])
    yield device
    device.store.close()


def device_row(console, device_id: str) -> str:  # type: ignore[no-untyped-def]
    page = console.get("/console/devices").text
    match = re.search(rf'<tr data-device="{device_id}">(.*?)</tr>', page, re.S)
    assert match, page
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match[1]))


def stored(server: LiveServer, device_id: str):  # type: ignore[no-untyped-def]
    storage = server.storage()
    try:
        return storage.get_device(device_id)
    finally:
        storage.close()


def sync_with_clock(device: Device, offset_ms: int):  # type: ignore[no-untyped-def]
    channel = Channel(device.store, HttpTransport(device.url, timeout=10),
                      clock_ms=offset_clock(offset_ms))
    return SyncClient(device.store, channel).sync()


# -- clock ------------------------------------------------------------------------------------

def test_records_made_offline_minutes_before_a_sync_are_no_clock_alarm(live_server, tablet,
                                                                        console):
    """A tablet with a right clock records offline, then syncs 6 minutes later."""
    tablet.store.clock_ms = offset_clock(-6 * MINUTE_MS)  # the writes were made 6 minutes ago
    seed_village(tablet.store)
    tablet.store.clock_ms = wall_ms
    assert tablet.sync().sent > 0
    assert abs(stored(live_server, tablet.device_id).clock_skew_ms) < 5000
    row = device_row(console, tablet.device_id)
    assert "正常" in row and "慢" not in row


def test_a_clock_ten_minutes_ahead_shows_even_with_nothing_to_upload(live_server, tablet,
                                                                    console):
    sync_with_clock(tablet, 10 * MINUTE_MS)
    skew = stored(live_server, tablet.device_id).clock_skew_ms
    assert 10 * MINUTE_MS - 5000 < skew < 10 * MINUTE_MS + 5000
    assert "快 10 分钟" in device_row(console, tablet.device_id)
    summary = console.get("/console/devices").text
    assert re.search(r"时钟偏差大 <strong>1</strong>", summary)


def test_a_clock_behind_shows_as_slow(live_server, tablet, console):
    sync_with_clock(tablet, -3 * 3600 * 1000)
    assert "慢 3.0 小时" in device_row(console, tablet.device_id)


# -- outbox -----------------------------------------------------------------------------------

def test_waiting_to_upload_is_counted_after_the_push(live_server, tablet, console):
    seed_village(tablet.store)
    written = tablet.store.pending_count()
    assert written > 0
    tablet.sync()
    assert stored(live_server, tablet.device_id).pending == 0
    assert "待上传 0 条" in device_row(console, tablet.device_id)


def test_a_push_cut_midway_leaves_what_did_not_arrive_waiting(live_server, tablet, console):
    seed = seed_village(tablet.store)
    tablet.sync()
    for day in range(1, 13):
        tablet.store.create("attendance", {"post_id": seed["post"]["id"],
                                           "day": f"2026-09-{day:02d}",
                                           "person_id": seed["wife"]["id"],
                                           "status": "on_post"})
    pushes: list[int] = []

    def second_answer_lost(method: str, path: str, n: int) -> str | None:
        if path.endswith("/push"):
            pushes.append(n)
            return "drop" if len(pushes) == 2 else None
        return None

    with CuttingProxy(live_server.httpd.server_port, CutPlan(second_answer_lost)) as proxy:
        with pytest.raises(Offline):
            tablet.client(proxy.url, batch_size=5).sync()
    # Two batches of five reached the server (the second's answer was lost); two never left.
    assert stored(live_server, tablet.device_id).pending == 2
    assert "待上传 2 条" in device_row(console, tablet.device_id)
    tablet.sync()
    assert "待上传 0 条" in device_row(console, tablet.device_id)
