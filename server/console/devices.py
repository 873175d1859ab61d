"""Sync health: every device in scope; for admins, enrolment codes, revoking and wiping.

Actions go through :mod:`server.enrolment` and :mod:`server.accounts`, which write the audit
log, exactly as the CLI and the admin API do.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from flask import (Blueprint, current_app, flash, g, redirect, render_template, request,
                   session, url_for)

from .. import enrolment
from ..accounts import revoke_device
from ..auth import scope_villages, user_scope
from ..db import get_storage
from ..errors import ApiError
from ..storage import DeviceRecord
from . import present
from .errors import ConsoleError, Missing
from .session import admin_only

bp = Blueprint("devices", __name__)

#: A device not heard from for this long is flagged.
QUIET_DAYS = 7
#: A device clock this far off is flagged.
SKEW_WARN_MS = 5 * 60 * 1000
#: Session key under which a just-issued code waits for the page that shows it.
ISSUED = "issued_code"
#: How long a just-issued code waits for that page (seconds).
ISSUED_TTL_S = 10 * 60


def _in_scope(device: DeviceRecord) -> bool:
    allowed = user_scope(g.console_user)
    return any(allowed(v) for v in device.villages)


def _state(device: DeviceRecord) -> tuple[str, str]:
    """(label, css class) of a device's standing."""
    if device.wiped_at:
        return "已销毁数据", "bad"
    if device.wipe_requested_at:
        return "待销毁（下次联网时执行）", "bad"
    if device.revoked_at:
        return "已停用", "bad"
    if device.last_seen_at is None:
        # Registered, never synced: not a device gone quiet (it never spoke), nor one in use.
        return "从未联系", "idle"
    return "正常", "ok"


def _device_row(device: DeviceRecord, now: dt.datetime, names: dict[str, str],
                users: dict[str, Any]) -> dict[str, Any]:
    seen = present.parse_time(device.last_seen_at)
    user = users.get(device.user_name)
    state, css = _state(device)
    return {
        "d": device,
        "user": (user.display_name or user.name) if user else device.user_name,
        "villages": [names.get(v, v) for v in device.villages],
        "seen_age": present.age(device.last_seen_at, now),
        "seen": present.local_time(device.last_seen_at),
        "never": seen is None,
        "quiet": seen is not None and now - seen > dt.timedelta(days=QUIET_DAYS),
        "skew": present.skew(device.clock_skew_ms),
        "skew_bad": device.clock_skew_ms is not None and abs(device.clock_skew_ms) > SKEW_WARN_MS,
        "state": state, "state_css": css,
        "created": present.local_time(device.created_at),
        "created_age": present.age(device.created_at, now),
    }


def _code_row(code: dict[str, Any], now: dt.datetime, names: dict[str, str]) -> dict[str, Any]:
    expires = present.parse_time(code["expires_at"])
    if code["used_at"]:
        state = f"已使用（{code['device_id']}）"
    elif code["withdrawn_at"]:
        state = "已撤回"
    elif expires is not None and expires <= now:
        state = "已过期"
    else:
        state = "未使用"
    return {"hint": code["hint"], "user": code["user_name"],
            "villages": [names.get(v, v) for v in code["villages"]],
            "created": present.local_time(code["created_at"]), "by": code["created_by"],
            "expires": present.local_time(code["expires_at"]), "state": state,
            "open": state == "未使用"}


def _issued_box() -> Fernet:
    """The cipher for a just-issued code kept in the session cookie between the post and the
    page that shows it: the cookie is signed but readable, and the code must not be."""
    secret = current_app.config["SECRET_KEY"]
    secret = secret if isinstance(secret, bytes) else str(secret).encode()
    key = hashlib.sha256(b"cunsync console issued enrolment code\0" + secret).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _keep_issued(issued: dict[str, Any]) -> None:
    session[ISSUED] = _issued_box().encrypt(json.dumps(issued).encode()).decode()


def _take_issued() -> dict[str, Any] | None:
    """The code issued just before, once: it is gone from the session once shown."""
    sealed = session.pop(ISSUED, None)
    if not isinstance(sealed, str):
        return None
    try:
        issued = json.loads(_issued_box().decrypt(sealed.encode(), ttl=ISSUED_TTL_S))
    except (InvalidToken, ValueError):
        return None
    return issued if isinstance(issued, dict) else None


def server_url() -> str:
    """The address a device enrols with: ``SERVER_URL`` if set, else the one this browser used."""
    return str(current_app.config.get("SERVER_URL") or request.host_url).rstrip("/")


def enrol_command(code: str) -> str:
    return f"cunsync enroll --server {server_url()} --code {code}"


def _page(issued: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None,
          form: dict[str, Any] | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    user = g.console_user
    storage = get_storage()
    now = dt.datetime.now(dt.timezone.utc)
    devices = [d for d in storage.list_devices() if _in_scope(d)]
    in_scope = scope_villages(user)
    village_choices = in_scope if in_scope is not None else storage.village_codes()
    shown = set(village_choices) | {v for d in devices for v in d.villages}
    codes = []
    if user.role == "admin":
        allowed = user_scope(user)
        codes = [c for c in storage.list_enrolment_codes()
                 if any(allowed(v) for v in c["villages"])]
        shown |= {v for c in codes for v in c["villages"]}
    names = present.village_names(storage, sorted(shown))
    users = {u.name: u for u in storage.list_users()}
    workers = [u for u in users.values() if u.role == "worker" and not u.disabled_at]
    rows = [_device_row(d, now, names, users) for d in devices]
    summary = {"total": len(rows), "active": sum(1 for r in rows if r["state_css"] == "ok"),
               "quiet": sum(1 for r in rows if r["quiet"] and r["state_css"] == "ok"),
               "never": sum(1 for r in rows if r["state_css"] == "idle"),
               "skewed": sum(1 for r in rows if r["skew_bad"])}
    return render_template(
        "console/devices.html", rows=rows, summary=summary, quiet_days=QUIET_DAYS,
        codes=[_code_row(c, now, names) for c in codes], workers=workers,
        village_choices=village_choices, village_names=names, issued=issued,
        errors=errors or {}, form=form or {}, default_hours=enrolment.DEFAULT_HOURS), status


@bp.get("/devices")
def health():  # type: ignore[no-untyped-def]
    issued = _take_issued() if g.console_user.role == "admin" else None
    return _page(issued=issued)


@bp.post("/enrolment-codes")
@admin_only
def issue_code():  # type: ignore[no-untyped-def]
    """Issue a one-time code; it is shown once, at the top of the page this redirects to
    (post/redirect/get: reloading that page issues nothing), and never again."""
    admin = g.console_user
    user_name = request.form.get("user", "").strip()
    villages = sorted(set(request.form.getlist("villages")))
    form = {"user": user_name, "villages": villages, "hours": request.form.get("hours", "")}
    errors: dict[str, list[str]] = {}
    target = get_storage().get_user(user_name) if user_name else None
    if target is None:
        errors["user"] = ["请选择使用这台设备的工作队员"]
    if not villages:
        errors["villages"] = ["请至少选择一个村"]
    outside = [v for v in villages if not user_scope(admin)(v)]
    if outside:
        errors["villages"] = [f"村 {outside[0]} 不在您的管辖范围内"]
    try:
        hours = int(form["hours"] or enrolment.DEFAULT_HOURS)
    except ValueError:
        hours = 0
    if not 1 <= hours <= 24 * 30:
        errors["hours"] = ["有效期应在 1 到 720 小时之间"]
    if errors:
        return _page(errors=errors, form=form, status=422)
    try:
        code, expires = enrolment.issue_code(get_storage(), user_name, villages,
                                             actor=admin.name, hours=hours)
    except ApiError as err:
        return _page(errors={"form": [err.message]}, form=form, status=err.status)
    names = present.village_names(get_storage(), villages)
    _keep_issued({"code": code, "expires": present.local_time(expires), "user": user_name,
                  "user_label": (target.display_name or target.name) if target else user_name,
                  "villages": [names[v] for v in villages], "command": enrol_command(code)})
    return redirect(url_for("console.devices.health"), code=303)


@bp.post("/enrolment-codes/<hint>/withdraw")
@admin_only
def withdraw_code(hint: str):  # type: ignore[no-untyped-def]
    allowed = user_scope(g.console_user)
    mine = [c for c in get_storage().list_enrolment_codes()
            if c["hint"] == enrolment.normalise(hint)[:4]
            and any(allowed(v) for v in c["villages"])]
    if not mine:
        raise Missing("没有这个注册码，或它不在您的管辖范围内。")
    count = enrolment.withdraw_code(get_storage(), hint, actor=g.console_user.name)
    flash(f"已撤回以 {hint} 开头的 {count} 个未使用注册码。", "success")
    return redirect(url_for("console.devices.health") + "#codes")


def _device_in_scope(device_id: str) -> DeviceRecord:
    device = get_storage().get_device(device_id)
    if device is None or not _in_scope(device):
        raise Missing(f"没有设备 {device_id}，或它不在您的管辖范围内。")
    return device


@bp.post("/devices/<device_id>/revoke")
@admin_only
def revoke(device_id: str):  # type: ignore[no-untyped-def]
    _device_in_scope(device_id)
    if request.form.get("confirm") != "yes":
        raise ConsoleError("请勾选“确认”后再停用设备。")
    revoke_device(get_storage(), device_id, actor=g.console_user.name)
    flash(f"设备 {device_id} 已停用：它的下一次同步将被拒绝。", "success")
    return redirect(url_for("console.devices.health"))


@bp.post("/devices/<device_id>/wipe")
@admin_only
def wipe(device_id: str):  # type: ignore[no-untyped-def]
    _device_in_scope(device_id)
    if request.form.get("confirm") != "yes":
        raise ConsoleError("请勾选“确认”后再下达销毁指令。")
    revoke_device(get_storage(), device_id, actor=g.console_user.name, wipe=True)
    flash(f"设备 {device_id} 已停用，并将在下次联网时销毁本机密钥和数据。", "success")
    return redirect(url_for("console.devices.health"))
