"""A real server on 127.0.0.1 for end-to-end tests, and a proxy that cuts connections."""

from __future__ import annotations

import http.client
import http.server
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from werkzeug.serving import make_server

from client_kit.channel import Channel
from client_kit.enrol import enrol as enrol_device
from client_kit.store import DeviceStore
from client_kit.sync_client import SyncClient
from client_kit.transport import HttpTransport
from server import create_app
from server.accounts import create_user
from server.enrolment import issue_code
from server.db import app_storage, storage_pool

PASSPHRASE = "山里没有信号"


class ServedInThread:
    """An HTTP server on a free 127.0.0.1 port, in a daemon thread, stopped on exit."""

    httpd: Any

    def _start(self, httpd: Any) -> None:
        self.httpd = httpd
        self.url = f"http://127.0.0.1:{httpd.server_port}"
        self.thread = threading.Thread(target=httpd.serve_forever, daemon=True)

    def __enter__(self) -> Any:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


class LiveServer(ServedInThread):
    """The Flask app served by werkzeug in a thread, on a free loopback port."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._start(make_server("127.0.0.1", 0, app, threaded=True))

    def storage(self):  # type: ignore[no-untyped-def]
        return app_storage(self.app)

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        storage_pool(self.app).close_all()


def make_app(tmp_path: Path, **config: Any):  # type: ignore[no-untyped-def]
    app = create_app({"TESTING": True,
                      "STORAGE_URL": f"sqlite:///{tmp_path / 'server.sqlite'}",
                      "SECRET_KEY": "test", **config})
    storage = app_storage(app)
    storage.upgrade()
    storage.close()
    return app


@dataclass
class Device:
    """An enrolled team device: its store and a sync client pointed at a URL."""

    store: DeviceStore
    device_id: str
    url: str
    user: str
    path: Path

    def channel(self, url: str | None = None) -> Channel:
        return Channel(self.store, HttpTransport(url or self.url, timeout=10))

    def client(self, url: str | None = None, **kwargs: Any) -> SyncClient:
        return SyncClient(self.store, self.channel(url), **kwargs)

    def sync(self, url: str | None = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.client(url, **kwargs).sync()


def enrolment_code(server: LiveServer, user: str, villages: list[str]) -> str:
    storage = server.storage()
    try:
        return issue_code(storage, user, villages, actor="test")[0]
    finally:
        storage.close()


def enrol(server: LiveServer, tmp_path: Path, name: str, villages: list[str],
          user: str | None = None) -> Device:
    """Enrol a device the way a worker does: a code from the county, keys made on the device."""
    user = user or f"worker-{name}"
    path = tmp_path / f"{name}.sqlite"
    store = enrol_device(path, server.url, enrolment_code(server, user, villages), PASSPHRASE)
    return Device(store, store.device_id, server.url, user, path)


def add_user(server: LiveServer, name: str, role: str, scope: list[str],
             password: str = "correct-horse") -> None:
    storage = server.storage()
    try:
        create_user(storage, name, role, scope, password)
    finally:
        storage.close()


@dataclass
class CutPlan:
    """Which proxied requests to cut: ``decide(method, path, n)`` returns
    ``None`` (pass), ``"drop"`` (forward, then close without answering),
    ``"truncate"`` (forward, answer with half the body, then close) or ``"hang"``
    (forward, then answer nothing until the proxy stops)."""

    decide: Callable[[str, str, int], str | None]
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)


class CuttingProxy(ServedInThread):
    """An HTTP proxy on 127.0.0.1 in front of the live server that can cut replies."""

    def __init__(self, upstream_port: int, plan: CutPlan) -> None:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                n = len(plan.seen)
                action = plan.decide(self.command, self.path, n)
                plan.seen.append((self.command, self.path, action))
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                conn.close()
                if action == "drop":
                    self.close_connection = True
                    return
                if action == "hang":
                    proxy.stopping.wait(30)
                    self.close_connection = True
                    return
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if action == "truncate":
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data)

            do_GET = do_POST = _forward

        self.stopping = threading.Event()
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        self._start(httpd)

    def __exit__(self, *exc: Any) -> None:
        self.stopping.set()
        super().__exit__(*exc)
