"""The HTTP transport tells the worker what happened: a cut reply, a server that is down, no
network, a server that does not answer, a busy server; never a traceback or a raw error."""

from __future__ import annotations

import socket
import threading
import time
from typing import Iterator

import pytest

from client_kit.errors import (ConnectionCut, NoNetwork, ServerBusy, ServerTimeout,
                               ServerUnreachable, SyncError)
from client_kit.transport import HttpTransport


class RawServer:
    """A tiny server on 127.0.0.1 that reads one request and sends ``reply`` bytes as they are,
    then closes (or, with ``hang``, sends nothing until told to stop)."""

    def __init__(self, reply: bytes = b"", *, hang: bool = False) -> None:
        self.reply = reply
        self.hang = hang
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if self.hang:
                    self.stop.wait(10)
                    continue
                conn.sendall(self.reply)

    def __enter__(self) -> "RawServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def body_reply(status: str, body: bytes, *, length: int | None = None,
               extra: str = "") -> bytes:
    head = (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\n{extra}"
            "Connection: close\r\n\r\n")
    return head.encode() + body


def assert_told_plainly(err: SyncError) -> None:
    assert "什么也没有丢" in err.message
    for raw in ("<urlopen error", "Errno", "IncompleteRead", "Traceback", "http.client"):
        assert raw not in err.message


def test_a_reply_cut_inside_its_headers_is_a_cut_connection_not_an_empty_body():
    cut = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-cunsync-envelope\r\n"
    with RawServer(cut) as server:
        with pytest.raises(ConnectionCut) as caught:
            HttpTransport(server.url, timeout=5).exchange("hello", b"x")
    assert "连接中断" in caught.value.message
    assert_told_plainly(caught.value)


def test_a_success_reply_cut_inside_its_body_is_a_cut_connection():
    with RawServer(body_reply("200 OK", b"0123456789", length=100)) as server:
        with pytest.raises(ConnectionCut):
            HttpTransport(server.url, timeout=5).exchange("push", b"x")


def test_an_error_reply_cut_inside_its_body_is_a_cut_connection_not_a_raw_exception():
    reply = body_reply("409 CONFLICT", b'{"error": {"code": "repl', length=200)
    with RawServer(reply) as server:
        with pytest.raises(ConnectionCut) as caught:
            HttpTransport(server.url, timeout=5).exchange("push", b"x")
    assert_told_plainly(caught.value)


def test_a_whole_error_reply_is_the_servers_refusal():
    body = '{"error": {"code": "device_revoked", "message": "本设备已被停用"}}'.encode()
    with RawServer(body_reply("403 FORBIDDEN", body)) as server:
        with pytest.raises(SyncError) as caught:
            HttpTransport(server.url, timeout=5).exchange("hello", b"x")
    assert caught.value.code == "device_revoked" and caught.value.status == 403


def test_a_busy_answer_says_server_busy_and_carries_retry_after():
    body = '{"error": {"code": "server_busy", "message": "服务器繁忙"}}'.encode()
    with RawServer(body_reply("503 SERVICE UNAVAILABLE", body, extra="Retry-After: 3\r\n")) as s:
        with pytest.raises(ServerBusy) as caught:
            HttpTransport(s.url, timeout=5).exchange("push", b"x")
    assert caught.value.retry_after == 3.0 and "服务器繁忙" in caught.value.message


def test_a_server_that_is_down_is_not_called_no_network():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens on that port now
    with pytest.raises(ServerUnreachable) as caught:
        HttpTransport(f"http://127.0.0.1:{port}", timeout=5).exchange("hello", b"x")
    assert "没有网络" not in caught.value.message and "服务器没有应答" in caught.value.message
    assert f"127.0.0.1:{port}" in caught.value.message
    assert_told_plainly(caught.value)


def test_a_name_that_does_not_resolve_is_no_network():
    with pytest.raises(NoNetwork) as caught:
        HttpTransport("http://cunsync.invalid", timeout=5).exchange("hello", b"x")
    assert "没有网络" in caught.value.message
    assert_told_plainly(caught.value)


@pytest.fixture
def hung() -> Iterator[RawServer]:
    with RawServer(hang=True) as server:
        yield server


def test_a_silent_server_times_out_with_a_plain_message_and_waiting_notices(hung):
    notices: list[float] = []
    transport = HttpTransport(hung.url, timeout=0.5, waiting=notices.append, notice_every=0.1)
    with pytest.raises(ServerTimeout) as caught:
        transport.exchange("hello", b"x")
    assert "没有回复" in caught.value.message
    assert_told_plainly(caught.value)
    assert notices and notices[0] == pytest.approx(0.1)


def test_abort_breaks_a_request_in_flight_at_once(hung):
    transport = HttpTransport(hung.url, timeout=30)
    threading.Timer(0.3, transport.abort).start()
    started = time.monotonic()
    with pytest.raises(ConnectionCut):
        transport.exchange("push", b"x")
    assert time.monotonic() - started < 5
