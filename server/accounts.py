"""Users and devices: create, register, revoke. Every change is written to the audit log."""

from __future__ import annotations

import secrets

from .auth import ROLES
from .errors import BadRequest, Conflict, NotFound
from .passwords import hash_password
from .storage import AuditEntry, DeviceRecord, Storage, UserRecord
from .sync_service import utc_now

MIN_PASSWORD = 8


def create_user(storage: Storage, name: str, role: str, scope: list[str], password: str, *,
                display_name: str | None = None, actor: str = "cli") -> UserRecord:
    """Create a user with a scrypt-hashed password."""
    if role not in ROLES:
        raise BadRequest(f"角色应为 {', '.join(ROLES)}", code="bad_role")
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"密码至少 {MIN_PASSWORD} 位", code="weak_password")
    user = UserRecord(name, role, list(scope), utc_now(), display_name, hash_password(password))
    with storage.atomic():
        if storage.get_user(name):
            raise Conflict(f"用户 {name} 已存在", code="user_exists")
        storage.add_user(user)
        storage.append_audit(AuditEntry(utc_now(), actor, "user.add", name,
                                        {"role": role, "scope": list(scope)}))
    return user


def set_password(storage: Storage, name: str, password: str, *, actor: str = "cli") -> None:
    """Replace a user's password hash (the console ends sessions made with the old one)."""
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"密码至少 {MIN_PASSWORD} 位", code="weak_password")
    with storage.atomic():
        if storage.get_user(name) is None:
            raise NotFound(f"没有用户 {name}")
        storage.update_user(name, password_hash=hash_password(password))
        storage.append_audit(AuditEntry(utc_now(), actor, "user.passwd", name, {}))


def add_device_record(storage: Storage, user_name: str, villages: list[str],
                      device_id: str | None = None, *, actor: str = "cli") -> DeviceRecord:
    """A device record with no keys: it cannot connect. Used for in-process devices (the demo
    county's history); real devices enrol with a code (:mod:`server.enrolment`)."""
    if not villages:
        raise BadRequest("至少指定一个村", code="no_villages")
    device = DeviceRecord(device_id or "dev-" + secrets.token_hex(6), user_name,
                          sorted(set(villages)), utc_now())
    with storage.atomic():
        if storage.get_device(device.id):
            raise Conflict(f"设备 {device.id} 已存在", code="device_exists")
        storage.add_device(device)
        storage.append_audit(AuditEntry(utc_now(), actor, "device.add", device.id,
                                        {"user": user_name, "villages": device.villages}))
    return device


def revoke_device(storage: Storage, device_id: str, *, actor: str = "cli",
                  wipe: bool = False) -> None:
    """Stop a device: its next request is refused. With ``wipe``, its next contact also
    delivers an order to destroy its keys and local data."""
    with storage.atomic():
        device = storage.get_device(device_id)
        if device is None:
            raise NotFound(f"没有设备 {device_id}")
        changes = {"revoked_at": device.revoked_at or utc_now()}
        if wipe:
            changes["wipe_requested_at"] = utc_now()
        storage.update_device(device_id, **changes)
        storage.append_audit(AuditEntry(utc_now(), actor,
                                        "device.wipe" if wipe else "device.revoke",
                                        device_id, {}))
