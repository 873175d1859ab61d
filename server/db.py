"""Per-request resources: a storage connection, the sync service, the key ring and the gate.

Connections are kept in a small pool and reused across requests: opening a SQLite connection
and closing it again (which checkpoints the WAL) cost more than a small push itself.
"""

from __future__ import annotations

import os
import threading

from flask import Flask, current_app, g

from .data_key import FieldCipher, InstanceKeyCipher
from .gate import Gate
from .keyring import Keyring
from .storage import Storage, open_storage
from .sync_service import SyncService

#: Idle connections kept per app; more concurrent requests open (and then close) extra ones.
POOL_SIZE = 8


class StoragePool:
    """Idle storages of one app, handed to one request at a time."""

    def __init__(self, app: Flask, size: int = POOL_SIZE) -> None:
        self.app = app
        self.size = size
        self._idle: list[Storage] = []
        self._lock = threading.Lock()

    def take(self) -> Storage:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return app_storage(self.app)

    def give_back(self, storage: Storage) -> None:
        """Keep ``storage`` for the next request, or close it if it is unusable or extra."""
        try:
            reusable = storage.reset()
        except Exception:  # a broken connection is closed, never reused
            reusable = False
        if reusable:
            with self._lock:
                if len(self._idle) < self.size:
                    self._idle.append(storage)
                    return
        storage.close()

    def close_all(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for storage in idle:
            storage.close()


def app_storage(app: Flask) -> Storage:
    """A new connection to the app's storage, sealing sensitive fields with its data key."""
    url = app.config["STORAGE_URL"]
    if url.startswith("sqlite:///" + app.instance_path + os.sep):
        os.makedirs(app.instance_path, exist_ok=True)  # the default database's folder
    return open_storage(app.config["STORAGE_URL"], app.extensions["cunsync_sealer"],
                        busy_timeout_ms=app.config.get("SQLITE_BUSY_TIMEOUT_MS"))


def storage_pool(app: Flask) -> StoragePool:
    return app.extensions["cunsync_pool"]  # type: ignore[no-any-return]


def get_storage() -> Storage:
    if "storage" not in g:
        g.storage = storage_pool(current_app).take()
    return g.storage  # type: ignore[no-any-return]


def get_sync() -> SyncService:
    if "sync" not in g:
        g.sync = SyncService(get_storage(),
                             max_ahead_ms=int(current_app.config["MAX_CLOCK_AHEAD_MS"]))
    return g.sync  # type: ignore[no-any-return]


def get_sealer() -> FieldCipher:
    return current_app.extensions["cunsync_sealer"]  # type: ignore[no-any-return]


def get_gate() -> Gate:
    if "gate" not in g:
        g.gate = Gate(get_storage(), Keyring(get_storage(), get_sealer()),
                      lifetime_ms=int(current_app.config["ENVELOPE_LIFETIME_S"]) * 1000)
    return g.gate  # type: ignore[no-any-return]


def release_storage(_exc: BaseException | None = None) -> None:
    storage = g.pop("storage", None)
    g.pop("sync", None)
    g.pop("gate", None)
    if storage is not None:
        storage_pool(current_app).give_back(storage)


def init_app(app: Flask) -> None:
    app.extensions["cunsync_sealer"] = InstanceKeyCipher(app.config.get("DATA_KEY"),
                                                         app.instance_path)
    app.extensions["cunsync_pool"] = StoragePool(app)
    app.teardown_appcontext(release_storage)
