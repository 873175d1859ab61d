"""The envelope lifetime: envelopes signed too far from the server's clock are refused by their
time, and the replay table (envelopes_seen) forgets envelopes past twice the lifetime."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from client_kit.channel import Channel
from client_kit.engine.envelope import read_header
from client_kit.engine.protocol import SCHEMA_VERSION, pack
from client_kit.errors import SyncError

from .conftest import VILLAGE_A
from .support import LiveServer, enrol, make_app
from .test_api_errors import ENVELOPE, error_of, raw

HOUR_MS = 3600 * 1000


@pytest.fixture
def server(tmp_path):
    with LiveServer(make_app(tmp_path, ENVELOPE_LIFETIME_S=3600)) as live:
        yield live


@pytest.fixture
def device(server, tmp_path):
    dev = enrol(server, tmp_path, "a", [VILLAGE_A])
    yield dev
    dev.store.close()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _hello_at(device, sent_ms: int) -> bytes:
    channel = Channel(device.store, clock_ms=lambda: sent_ms)
    return channel.seal("hello", 0, pack({"schema_version": SCHEMA_VERSION}))


def _seen(server) -> dict[str, str]:
    storage = server.storage()
    try:
        return dict(storage.conn.execute("SELECT nonce, seen_at FROM envelopes_seen"))
    finally:
        storage.close()


def _note_seen(server, device, envelope: bytes, at: dt.datetime) -> None:
    storage = server.storage()
    try:
        with storage.atomic():
            storage.note_envelope(device.device_id, str(read_header(envelope)["nonce"]),
                                  "hello", at.isoformat(timespec="seconds"))
    finally:
        storage.close()


def _last_pruned(server, at_ms: int) -> None:
    storage = server.storage()
    try:
        with storage.atomic():
            storage.set_setting("envelopes_pruned_ms", str(at_ms))
    finally:
        storage.close()


def test_a_device_clock_far_behind_is_told_to_set_it_and_nothing_is_noted(server, device):
    before = _seen(server)
    old = _hello_at(device, _now_ms() - 2 * HOUR_MS)
    status, answer = raw(server, "POST", "/api/v1/sync/hello", old, ENVELOPE)
    assert (status, error_of(answer)["code"]) == (409, "envelope_expired")
    assert "校准" in error_of(answer)["message"]
    assert _seen(server) == before
    # Through the sync client, the worker reads the same message.
    client = device.client()
    client.channel.clock_ms = lambda: _now_ms() + 2 * HOUR_MS
    with pytest.raises(SyncError) as caught:
        client.sync()
    assert caught.value.code == "envelope_expired"
    assert device.sync().sent == 0  # with the clock right again, it syncs


def test_the_replay_table_is_pruned_and_a_forgotten_replay_is_refused_by_its_time(server,
                                                                                  device):
    now = dt.datetime.now(dt.timezone.utc)
    # An envelope the server accepted three hours ago (lifetime one hour): noted then.
    ancient = _hello_at(device, _now_ms() - 3 * HOUR_MS)
    _note_seen(server, device, ancient, now - dt.timedelta(hours=3))
    # And one it saw an hour and a half ago: within twice the lifetime, it is kept.
    recent = _hello_at(device, _now_ms() - 90 * 60 * 1000)
    _note_seen(server, device, recent, now - dt.timedelta(minutes=90))
    _last_pruned(server, _now_ms() - 2 * HOUR_MS)  # an hour has passed since the last pruning
    device.sync()  # a hello prunes
    seen = _seen(server)
    assert str(read_header(ancient)["nonce"]) not in seen
    assert str(read_header(recent)["nonce"]) in seen
    assert len(seen) >= 3  # this sync's own envelopes are kept
    # The forgotten envelope, replayed, is still refused: by its time.
    status, answer = raw(server, "POST", "/api/v1/sync/hello", ancient, ENVELOPE)
    assert (status, error_of(answer)["code"]) == (409, "envelope_expired")
    # The kept one is refused as a replay (and by its time too; the replay table answers).
    status, answer = raw(server, "POST", "/api/v1/sync/hello", recent, ENVELOPE)
    assert status == 409
    # Within the hour, hellos do not prune again.
    _note_seen(server, device, _hello_at(device, _now_ms()), now - dt.timedelta(hours=5))
    device.sync()
    assert len(_seen(server)) == len(seen) + 1 + 2
