"""One storage connection per request, kept in ``g`` and closed on teardown."""

from __future__ import annotations


from flask import Flask, current_app, g

from .storage import Storage, open_storage
from .sync_service import SyncService


def get_storage() -> Storage:
    if "storage" not in g:
        g.storage = open_storage(current_app.config["STORAGE_URL"])
    return g.storage  # type: ignore[no-any-return]


def get_sync() -> SyncService:
    if "sync" not in g:
        g.sync = SyncService(get_storage(),
                             max_ahead_ms=int(current_app.config["MAX_CLOCK_AHEAD_MS"]))
    return g.sync  # type: ignore[no-any-return]


def close_storage(_exc: BaseException | None = None) -> None:
    storage = g.pop("storage", None)
    g.pop("sync", None)
    if storage is not None:
        storage.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_storage)


