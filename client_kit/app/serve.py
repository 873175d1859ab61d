"""Serving the field app on this laptop (``cunsync app``): loopback by default."""

from __future__ import annotations

import socket
import threading
from typing import Callable

from flask import Flask
from werkzeug.serving import make_server

from . import create_app

LOOPBACK = "127.0.0.1"
#: Bind every interface, so that a tablet on the laptop's hotspot reaches the app.
ALL_INTERFACES = "0.0.0.0"


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses as its own name resolves them (no packet is sent)."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return []
    return sorted({str(info[4][0]) for info in infos if not str(info[4][0]).startswith("127.")})


def watch_idle(app: Flask, stop: threading.Event, every: float = 15.0) -> threading.Thread:
    """Lock the app when idle even if no request comes (the keys leave memory on time)."""
    vault = app.extensions["cunsync_vault"]

    def run() -> None:
        while not stop.wait(every):
            vault.expire_if_idle()

    thread = threading.Thread(target=run, daemon=True, name="cunsync-field-idle")
    thread.start()
    return thread


def serve(db: str, *, host: str = LOOPBACK, port: int = 8765, idle_minutes: float = 10,
          echo: Callable[[str], None] = print) -> None:
    """Serve until interrupted (Ctrl+C)."""
    app = create_app({"DB": db, "IDLE_MINUTES": idle_minutes})
    server = make_server(host, port, app, threaded=True)
    stop = threading.Event()
    watch_idle(app, stop)
    shown = [LOOPBACK] if host == LOOPBACK else (lan_addresses() or [host])
    for address in shown:
        echo(f"工作队记录已启动：http://{address}:{server.server_port}/")
    echo("按 Ctrl+C 停止。")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
