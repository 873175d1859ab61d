"""``GET /healthz``: whether this server can serve devices (for the proxy, systemd, monitoring).

200 ``{"status": "ok"}`` when the storage answers and its schema is current; 503 otherwise,
with a reason from a small fixed set. No authentication, so nothing else: no version, no path,
no error text, no counts.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify

from client_kit.errors import MigrationError

from .db import get_storage


def _answer(status: int, reason: str) -> tuple[Response, int, dict[str, str]]:
    return jsonify({"status": reason}), status, {"Cache-Control": "no-store"}


def healthz() -> tuple[Response, int, dict[str, str]]:
    try:
        pending = get_storage().check_schema()
    except MigrationError:  # newer than this code, or an applied migration altered
        current_app.logger.exception("healthz: the database schema is not this code's")
        return _answer(503, "schema_mismatch")
    except Exception:  # the storage does not answer; the reason goes to the log only
        current_app.logger.exception("healthz: the storage does not answer")
        return _answer(503, "storage_unavailable")
    if pending:
        return _answer(503, "migrations_pending")
    return _answer(200, "ok")


def init_app(app: Flask) -> None:
    app.add_url_rule("/healthz", "healthz", healthz, methods=["GET"])
