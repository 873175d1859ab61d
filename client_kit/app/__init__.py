"""The field app: a small local web app over the device's own store (``cunsync app``).

It serves Chinese pages for the work team's daily records (households, visits with employment
changes, post attendance, training sign-ins) and the sync, from 127.0.0.1 by default. Every
asset is served from this package: no CDN, no web fonts, nothing fetched from the internet.

The app never keeps the passphrase. Unlocking puts the device keys in a :class:`Vault` for
the browsers that unlocked; each request opens its own connection to the store (closed on
teardown) and is handed the keys. Flask is used only here and in ``server``: the engine and
the domain stay free of it.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any, Mapping

from flask import Flask

from .vault import Vault

DEFAULTS: dict[str, Any] = {
    "DB": None,
    #: Lock after this many minutes without use.
    "IDLE_MINUTES": 10,
    #: Sync with this server instead of the one the device enrolled with.
    "SERVER_URL": None,
    #: Seconds of the vault's idle timer (``time.monotonic``-like); tests move it.
    "CLOCK": time.monotonic,
    #: Today's date for form defaults.
    "TODAY": dt.date.today,
    "SESSION_COOKIE_NAME": "cunsync_field",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Strict",
    # A county reply bundle holds every page since the last sync; allow a big one.
    "MAX_CONTENT_LENGTH": 256 * 1024 * 1024,
}


def create_app(config: Mapping[str, Any]) -> Flask:
    """Build the field app. ``config["DB"]`` is the device store's path (required)."""
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(config)
    if not app.config["DB"]:
        raise ValueError("field app: DB (the device store's path) is required")
    # A fresh key per run: a restarted app forgets every session, and it starts locked anyway.
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.urandom(32).hex()
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["cunsync_vault"] = Vault(float(app.config["IDLE_MINUTES"]) * 60,
                                            clock=app.config["CLOCK"])

    from . import views, web
    from .sync_job import SyncJob

    app.extensions["cunsync_sync_job"] = SyncJob()
    web.init_app(app)
    views.register(app)
    return app
