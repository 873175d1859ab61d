"""Transports move protocol bytes; they know nothing of what the bytes mean.

:class:`HttpTransport` posts sealed envelopes to the county server. A USB bundle is the other
transport (:mod:`client_kit.bundle`); both carry the same messages.

Every failure below HTTP (no network, a server that is down or silent, a reply cut anywhere,
even inside its headers) comes out as one of the :class:`~client_kit.errors.Offline` errors,
each with a message that says what happened; a reply is used only when all of it arrived.
"""

from __future__ import annotations

import errno
import http.client
import json
import socket
import threading
import urllib.error
import urllib.request
from typing import Any, Callable, Protocol
from urllib.parse import urlsplit

from .errors import (ConnectionCut, NoNetwork, Offline, ServerBusy, ServerTimeout,
                     ServerUnreachable, SyncError)

ENVELOPE = "application/x-cunsync-envelope"

#: Said after every message about an unreachable server: the worker's records are safe.
KEPT = "记录都保存在本设备上，什么也没有丢"

#: Seconds between two "still waiting" notices while a request hangs.
NOTICE_EVERY_S = 5.0

_NO_ROUTE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}


class Transport(Protocol):
    """What the sync client needs to reach a server: send one envelope, get one back."""

    def exchange(self, purpose: str, envelope: bytes) -> bytes: ...


class _Cut(Exception):
    """A reply shorter than it said, or with no length at all (cut inside its headers)."""


class HttpTransport:
    """HTTP(S) to ``base_url``.

    ``waiting(seconds)`` is called every :data:`NOTICE_EVERY_S` seconds while a request waits
    for its answer (so a command line can say it is waiting); :meth:`abort`, from any thread,
    breaks the requests in flight at once (they fail as :class:`ConnectionCut`).
    """

    def __init__(self, base_url: str, *, timeout: float = 60.0,
                 waiting: Callable[[float], None] | None = None,
                 notice_every: float = NOTICE_EVERY_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.waiting = waiting
        self.notice_every = notice_every
        self._live: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        """The server's address as a worker would recognise it (host and port)."""
        return urlsplit(self.base_url).netloc or self.base_url

    def _post(self, path: str, body: bytes, content_type: str) -> bytes:
        request = urllib.request.Request(self.base_url + path, data=body, method="POST",
                                         headers={"Content-Type": content_type})
        sockets: list[socket.socket] = []
        opener = urllib.request.build_opener(_Tracked(self, sockets), _TrackedTLS(self, sockets))
        done = threading.Event()
        self._watch(done)
        try:
            with opener.open(request, timeout=self.timeout) as response:
                return _read_whole(response)
        except urllib.error.HTTPError as err:
            raise self._refusal(err) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError, _Cut) as err:
            raise self._unreachable(err) from None
        finally:
            done.set()
            with self._lock:
                self._live.difference_update(sockets)

    def exchange(self, purpose: str, envelope: bytes) -> bytes:
        return self._post(f"/api/v1/sync/{purpose}", envelope, ENVELOPE)

    def enrol(self, body: dict[str, Any]) -> dict[str, Any]:
        """Trade an enrolment code and public keys for this device's identity (plain JSON)."""
        answer = self._post("/api/v1/enrol", json.dumps(body).encode(), "application/json")
        try:
            return dict(json.loads(answer))
        except (ValueError, TypeError):
            raise SyncError("服务器回复格式不正确，注册未完成；注册码仍可再用",
                            code="bad_reply") from None

    def abort(self) -> None:
        """Break every request in flight (from another thread, such as a Ctrl-C handler)."""
        with self._lock:
            live = list(self._live)
        for sock in live:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _track(self, sockets: list[socket.socket], conn: http.client.HTTPConnection) -> None:
        """Remember ``conn``'s socket once connected: urllib lets go of the connection when the
        headers are in, the body is still read from that socket."""
        connect = conn.connect

        def connecting() -> None:
            connect()
            if conn.sock is not None:
                sockets.append(conn.sock)
                with self._lock:
                    self._live.add(conn.sock)

        conn.connect = connecting  # type: ignore[method-assign]

    # -- internals -------------------------------------------------------------------------

    def _watch(self, done: threading.Event) -> None:
        if self.waiting is None:
            return
        notify = self.waiting

        def run() -> None:
            waited = 0.0
            while not done.wait(self.notice_every):
                waited += self.notice_every
                notify(waited)

        threading.Thread(target=run, daemon=True, name="cunsync-waiting").start()

    def _unreachable(self, err: BaseException) -> Offline:
        reason: Any = err.reason if isinstance(err, urllib.error.URLError) else err
        where = self.where
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return ServerTimeout(
                f"县服务器（{where}）{self.timeout:g} 秒内没有回复，可能太忙或网络很慢。"
                f"{KEPT}，请稍后再同步")
        if isinstance(reason, ConnectionRefusedError):
            return ServerUnreachable(
                f"无法连接服务器（{where}）：网络是通的，但县服务器没有应答，可能没有运行或地址不对。"
                f"{KEPT}，请稍后再同步，或告诉县级管理员")
        if isinstance(reason, socket.gaierror) or (
                isinstance(reason, OSError) and reason.errno in _NO_ROUTE):
            return NoNetwork(f"没有网络，无法连接县服务器（{where}）。{KEPT}，有网络时再同步")
        if isinstance(reason, (_Cut, http.client.HTTPException, ConnectionError)):
            return ConnectionCut(
                f"与县服务器（{where}）的连接中断了，回复没有收完整。{KEPT}，"
                "请再同步一次（已送到的不会重复）")
        return Offline(f"无法连接县服务器（{where}）。{KEPT}，有网络时再同步")

    def _refusal(self, err: urllib.error.HTTPError) -> SyncError:
        try:
            body = _read_whole(err)
        except (http.client.HTTPException, OSError, _Cut) as cut:
            return self._unreachable(cut)
        finally:
            err.close()
        if err.code == 503:
            return ServerBusy("服务器繁忙，稍后再试仍未成功。" + KEPT + "，请过几分钟再同步",
                              retry_after=_seconds(err.headers.get("Retry-After")))
        try:
            payload = json.loads(body)["error"]
            return SyncError(payload["message"], code=payload["code"], status=err.code,
                             details=payload.get("details"))
        except (ValueError, KeyError, TypeError):
            return SyncError(f"服务器返回错误 {err.code}", code="http_error", status=err.code)


def _read_whole(response: Any) -> bytes:
    """The whole body, or :class:`_Cut`: a reply must say its length and bring all of it.

    A reply cut inside its headers has no ``Content-Length`` (the server always sends one)
    and would otherwise read as a complete empty body.
    """
    headers = response.headers
    chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
    data = bytes(response.read())
    if chunked:
        return data
    length = (headers.get("Content-Length") or "").strip()
    if not length.isdigit() or int(length) != len(data):
        raise _Cut(f"reply of {len(data)} bytes, Content-Length {length or 'missing'}")
    return data


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class _Tracked(urllib.request.HTTPHandler):
    """Plain HTTP whose sockets the transport can break (:meth:`HttpTransport.abort`)."""

    def __init__(self, transport: HttpTransport, sockets: list[socket.socket]) -> None:
        super().__init__()
        self.transport = transport
        self.sockets = sockets

    def _connect(self, host: str, **kwargs: Any) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(host, **kwargs)
        self.transport._track(self.sockets, conn)
        return conn

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self._connect, req)


class _TrackedTLS(urllib.request.HTTPSHandler):
    """HTTPS, tracked the same way."""

    def __init__(self, transport: HttpTransport, sockets: list[socket.socket]) -> None:
        super().__init__()
        self.transport = transport
        self.sockets = sockets

    def _connect(self, host: str, **kwargs: Any) -> http.client.HTTPConnection:
        conn = http.client.HTTPSConnection(host, **kwargs)
        self.transport._track(self.sockets, conn)
        return conn

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self._connect, req, context=self._context)
