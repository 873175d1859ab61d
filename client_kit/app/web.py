"""Request plumbing of the field app: the store per request, the unlock gate, CSRF tokens."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any

from flask import (Flask, current_app, g, jsonify, redirect, render_template, request, session,
                   url_for)
from werkzeug.wrappers import Response

from ..errors import CunsyncError
from ..store import DeviceStore
from .errors import CsrfRefused, StoreMissing
from .vault import Vault

#: Endpoints served while locked.
OPEN_ENDPOINTS = {"auth.unlock", "auth.lock", "static"}
#: Endpoints answered in JSON (polled by the page's script).
JSON_ENDPOINTS = {"auth.ping", "sync.status"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def init_app(app: Flask) -> None:
    app.before_request(_guard)
    app.teardown_appcontext(_close_store)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.register_error_handler(CsrfRefused, _refused)
    app.register_error_handler(StoreMissing, _store_missing)


def vault() -> Vault:
    return current_app.extensions["cunsync_vault"]  # type: ignore[no-any-return]


def get_store() -> DeviceStore:
    """This request's connection to the device store, unlocked when the browser may see it."""
    if "store" not in g:
        path = Path(current_app.config["DB"])
        if not path.exists():
            raise StoreMissing("本设备没有数据库：尚未注册（cunsync enroll），或已被县里下令清除")
        store = DeviceStore.open(path)
        keys = g.get("keys")
        if keys is not None:
            # Handed over from the vault: the passphrase is never kept.
            store.keys = keys
        g.store = store
    return g.store  # type: ignore[no-any-return]


def _close_store(exc: BaseException | None) -> None:
    store = g.pop("store", None)
    if store is not None:
        store.lock()
        store.close()


def csrf_token() -> str:
    """This browser session's form token (made on first use)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def _check_csrf() -> None:
    if request.method in SAFE_METHODS:
        return
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf")
    if not expected or not hmac.compare_digest(str(expected), sent):
        raise CsrfRefused("页面已过期或来源不明，操作没有执行。请返回，刷新页面后再试。")


def _guard() -> Response | None:
    _check_csrf()
    g.keys = vault().admit(session.get("ticket"))
    if g.keys is not None or request.endpoint in OPEN_ENDPOINTS:
        return None
    was_unlocked = session.pop("ticket", None) is not None
    if request.endpoint in JSON_ENDPOINTS or request.accept_mimetypes.best == "application/json":
        return _json_locked()
    if was_unlocked:
        session["lock_notice"] = "已锁定：长时间未操作或已手动锁定，请重新输入口令"
    target = request.full_path if request.method == "GET" else "/"
    return redirect(url_for("auth.unlock", next=safe_next(target)))


def _json_locked() -> Response:
    response = jsonify({"error": {"code": "locked", "message": "设备已锁定，请输入口令解锁"}})
    response.status_code = 401
    return response


def safe_next(target: Any) -> str:
    """A local path to go back to after unlocking (never another site)."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target.rstrip("?") or "/"


def _refused(err: CunsyncError) -> tuple[str, int]:
    return render_template("error.html", title="操作被拒绝", message=err.message), 400


def _store_missing(err: CunsyncError) -> tuple[str, int]:
    return render_template("error.html", title="没有设备数据", message=err.message), 503
