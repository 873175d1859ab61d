"""Per-request resources: a storage connection, the sync service, the key ring and the gate."""

from __future__ import annotations

from flask import Flask, current_app, g

from .data_key import FieldCipher, load_data_key
from .gate import Gate
from .keyring import Keyring
from .storage import Storage, open_storage
from .sync_service import SyncService


def app_storage(app: Flask) -> Storage:
    """A new connection to the app's storage, sealing sensitive fields with its data key."""
    return open_storage(app.config["STORAGE_URL"], app.extensions["cunsync_sealer"])


def get_storage() -> Storage:
    if "storage" not in g:
        g.storage = app_storage(current_app)
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
        g.gate = Gate(get_storage(), Keyring(get_storage(), get_sealer()))
    return g.gate  # type: ignore[no-any-return]


def close_storage(_exc: BaseException | None = None) -> None:
    storage = g.pop("storage", None)
    g.pop("sync", None)
    g.pop("gate", None)
    if storage is not None:
        storage.close()


def init_app(app: Flask) -> None:
    app.extensions["cunsync_sealer"] = FieldCipher(
        load_data_key(app.config.get("DATA_KEY"), app.instance_path))
    app.teardown_appcontext(close_storage)
