"""A database held by another writer past the busy timeout: the server answers 503 with
Retry-After, the device waits and tries again, and nothing is lost or doubled."""

from __future__ import annotations

import sqlite3
import threading
import urllib.error
import urllib.request
from typing import Iterator

import pytest

from client_kit.channel import Channel
from client_kit.engine.protocol import SCHEMA_VERSION, pack
from client_kit.errors import ServerBusy
from client_kit.sync_client import SyncClient, SyncSummary
from client_kit.transport import ENVELOPE, HttpTransport

from .conftest import VILLAGE_A, seed_village
from .support import LiveServer, add_user, enrol, make_app


@pytest.fixture
def busy_server(tmp_path) -> Iterator[LiveServer]:
    app = make_app(tmp_path, SQLITE_BUSY_TIMEOUT_MS=200, BUSY_RETRY_AFTER_S=1)
    with LiveServer(app) as server:
        add_user(server, "jiandu", "supervisor", ["522731"])
        yield server


class WriteLock:
    """Another connection to the server's database inside ``BEGIN IMMEDIATE``."""

    def __init__(self, server: LiveServer) -> None:
        self.conn = sqlite3.connect(server.app.config["STORAGE_URL"][len("sqlite:///"):],
                                    isolation_level=None, check_same_thread=False)

    def __enter__(self) -> "WriteLock":
        self.conn.execute("BEGIN IMMEDIATE")
        return self

    def release(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.conn.close()


def post(url: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": ENVELOPE})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.mark.parametrize("purpose", ["hello", "push"])
def test_a_request_while_the_database_is_locked_gets_503_with_retry_after(
        busy_server, tmp_path, purpose):
    device = enrol(busy_server, tmp_path, "a", [VILLAGE_A])
    seed_village(device.store)
    channel = device.channel()
    client = SyncClient(device.store, channel)
    payload = (client._next_batch(0, 100).body if purpose == "push" else  # type: ignore[union-attr]
               pack({"schema_version": SCHEMA_VERSION, "pending": 0, "cursor": 0}))
    with WriteLock(busy_server):
        status, headers, body = post(f"{busy_server.url}/api/v1/sync/{purpose}",
                                     channel.seal(purpose, 1, payload))
    assert status == 503
    assert headers["Retry-After"] == "1"
    assert b'"code":"server_busy"' in body.replace(b" ", b"")
    assert "服务器繁忙" in body.decode()


def test_a_device_told_busy_too_long_says_server_busy_and_keeps_its_outbox(busy_server, tmp_path):
    device = enrol(busy_server, tmp_path, "a", [VILLAGE_A])
    seed_village(device.store)
    waits: list[float] = []
    told: list[float] = []
    channel = Channel(device.store, HttpTransport(busy_server.url, timeout=10),
                      busy_retries=2, busy_backoff=(0.01, 0.05), sleep=waits.append,
                      on_busy=told.append)
    with WriteLock(busy_server), pytest.raises(ServerBusy) as caught:
        SyncClient(device.store, channel).sync()
    assert "服务器繁忙" in caught.value.message and "什么也没有丢" in caught.value.message
    assert waits == told == [0.05, 0.05]  # Retry-After (1 s) honoured up to the longest wait
    assert device.store.pending_count() == 8


def test_the_sync_waits_out_a_busy_server_and_nothing_is_lost_or_doubled(busy_server, tmp_path):
    device = enrol(busy_server, tmp_path, "a", [VILLAGE_A])
    seed_village(device.store)
    waits: list[float] = []
    lock = WriteLock(busy_server)
    with lock:
        released = threading.Event()

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            if len(waits) == 2:  # the writer finishes while the device waits
                lock.release()
                released.set()
            threading.Event().wait(min(seconds, 0.05))

        channel = Channel(device.store, HttpTransport(busy_server.url, timeout=10),
                          busy_retries=5, busy_backoff=(0.01, 2.0), sleep=sleep)
        summary = SyncClient(device.store, channel).sync()
    assert released.is_set() and waits[0] == 1.0  # the server's Retry-After
    assert summary == SyncSummary(sent=8, received=summary.received)
    assert device.store.pending_count() == 0
    storage = busy_server.storage()
    try:
        assert storage.count_rows("person") == 2
        assert storage.count_rows("employment") == 1
    finally:
        storage.close()
    # Sent again by a second sync: nothing new, nothing doubled.
    assert device.sync().sent == 0
