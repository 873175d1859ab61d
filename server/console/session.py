"""Logging in and out of the console, and who is logged in.

A session is Flask's signed cookie holding the user name, the login time and a fingerprint of
the password hash (a changed password ends every session opened with the old one). It ends
after ``PERMANENT_SESSION_LIFETIME`` without a request, ``CONSOLE_SESSION_MAX_HOURS`` after
login, at logout, or when the user is disabled or loses the supervisor role.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import time
from typing import Any, Callable
from urllib.parse import urlsplit

from flask import (Blueprint, current_app, flash, g, redirect, render_template, request,
                   session, url_for)

from ..db import get_storage
from ..passwords import dummy_hash, verify_password
from ..storage import AuditEntry, UserRecord
from ..sync_service import utc_now
from . import csrf, lockout
from .errors import NotAllowed

bp = Blueprint("auth", __name__)

#: Roles that may use the console.
CONSOLE_ROLES = ("supervisor", "admin")
#: Endpoints open without a session.
PUBLIC = ("console.auth.login_form", "console.auth.login")
MAX_NAME = 64


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the name is unknown, so both answers take as long."""
    return dummy_hash()  # random: "no such user" opened a user without a password


def _fingerprint(user: UserRecord) -> str:
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def _policy() -> lockout.LockPolicy:
    config = current_app.config
    return lockout.LockPolicy(int(config["CONSOLE_MAX_FAILED_LOGINS"]),
                              dt.timedelta(minutes=int(config["CONSOLE_LOCK_MINUTES"])))


def _audit(actor: str, action: str, target: str | None, **detail: Any) -> None:
    storage = get_storage()
    with storage.atomic():
        storage.append_audit(AuditEntry(utc_now(), actor, action, target,
                                        {"ip": request.remote_addr, **detail}))


def _safe_next(target: str | None) -> str:
    """Only a path inside the console (never another site) is followed after login."""
    if target:
        parts = urlsplit(target)
        if (not parts.scheme and not parts.netloc and target.startswith("/console/")
                and "\\" not in target):
            return target
    return url_for("console.conflicts.queue")


def _china_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%H:%M")


def _refuse(message: str, status: int, name: str):  # type: ignore[no-untyped-def]
    return render_template("console/login.html", error=message, name=name,
                           next=request.form.get("next", "")), status


#: Why a browser was sent to the login page, for a request that could not carry a message in
#: the session (see :func:`_to_login`).
REASONS = {"post": "请先登录。长时间未操作后需要重新登录，未提交的内容请重新填写。"}


@bp.get("/login")
def login_form():  # type: ignore[no-untyped-def]
    if g.get("console_user"):
        return redirect(url_for("console.conflicts.queue"))
    reason = REASONS.get(request.args.get("why", ""))
    if reason:
        flash(reason, "warning")
    return render_template("console/login.html", next=request.args.get("next", ""))


@bp.post("/login")
def login():  # type: ignore[no-untyped-def]
    name = request.form.get("name", "").strip()[:MAX_NAME]
    password = request.form.get("password", "")
    if not name or not password:
        return _refuse("请输入用户名和密码。", 400, name)
    storage = get_storage()
    now = dt.datetime.now(dt.timezone.utc)
    until = lockout.locked_until(storage, name, now)
    if until:
        return _refuse(f"密码错误次数过多，该账户已锁定，请于 {_china_time(until)} 后再试。",
                       429, name)
    user = storage.get_user(name)
    stored = user.password_hash if user and user.password_hash else _dummy_hash()
    if not verify_password(password, stored) or user is None or user.disabled_at:
        policy = _policy()
        streak = lockout.note_failure(storage, name, now, policy)
        if streak.locked_until:
            _audit("console", "console.lock", name, failures=streak.count,
                   until=streak.locked_until)
            minutes = int(policy.lock.total_seconds() // 60)
            ends = _china_time(dt.datetime.fromisoformat(streak.locked_until))
            return _refuse(f"密码错误次数过多，该账户已锁定 {minutes} 分钟，请于 {ends} 后再试。",
                           429, name)
        left = policy.max_failures - streak.count
        return _refuse(f"用户名或密码错误（再错 {left} 次将锁定账户）。", 401, name)
    lockout.note_success(storage, name)
    if user.role not in CONSOLE_ROLES:
        return _refuse("此账户无权使用县级控制台（仅限监督员和管理员）。", 403, name)
    session.clear()
    session.permanent = True
    session["user"] = user.name
    session["login_at"] = int(time.time())
    session["pw"] = _fingerprint(user)
    csrf.renew()
    _audit(user.name, "console.login", user.name)
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout():  # type: ignore[no-untyped-def]
    user = g.get("console_user")
    session.clear()
    csrf.renew()
    if user is not None:
        _audit(user.name, "console.logout", user.name)
    flash("您已退出登录。", "info")
    return redirect(url_for("console.auth.login_form"))


def _to_login(message: str):  # type: ignore[no-untyped-def]
    if request.method not in csrf.SAFE_METHODS:
        # A form posted without a session is most often another site's form: the browser did
        # not send the (SameSite) cookie it holds. Writing a session here, even an empty one,
        # would replace that cookie and sign the supervisor out; the login page says why.
        return redirect(url_for("console.auth.login_form", why="post"))
    if "user" in session:
        session.pop("user")
    flash(message, "warning")
    return redirect(url_for("console.auth.login_form", next=request.full_path.rstrip("?")))


def load_user():  # type: ignore[no-untyped-def]
    """Before every console request: the logged-in user in ``g.console_user``, or the login
    page for a page that needs one."""
    g.console_user = None
    name = session.get("user")
    if isinstance(name, str):
        user = get_storage().get_user(name)
        max_age = float(current_app.config["CONSOLE_SESSION_MAX_HOURS"]) * 3600
        login_at = session.get("login_at")
        if not isinstance(login_at, int) or time.time() - login_at > max_age:
            session.clear()
            if request.endpoint not in PUBLIC:
                return _to_login("登录时间已到，请重新登录。")
        elif (user is None or user.disabled_at or user.role not in CONSOLE_ROLES
              or session.get("pw") != _fingerprint(user)):
            session.clear()
        else:
            g.console_user = user
    if g.console_user is None and request.endpoint not in PUBLIC:
        return _to_login("请先登录。长时间未操作后需要重新登录。")
    return None


def admin_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse a view to anyone but an admin."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.console_user.role != "admin":
            raise NotAllowed("只有管理员可以进行此操作。")
        return view(*args, **kwargs)

    return wrapped
