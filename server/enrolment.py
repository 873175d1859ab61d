"""Enrolment: one-time codes an admin issues; a device trades one for its identity.

A code is twelve characters of Crockford base32 (no I, L, O, U), shown as ``ABCD-EFGH-JKMN``:
short enough to read over the phone, about 60 bits, so it cannot be guessed before it expires.
Only its SHA-256 is stored. The device sends the code with the public halves of the Ed25519 and
X25519 keys it made; its private keys never leave it.

Enrolment is two steps, so a cut reply never burns a code. :func:`enrol` registers the device
and binds it to the code, but leaves the code open: sent again with the same code (the reply
was lost, the device tried again with new keys), it answers with the same device and the
newest keys. The device's first signed message (its ``hello`` right after enrolling)
confirms it (:func:`confirm`): only then is the code used. A device that never confirms
before its code expires is a ghost: it is revoked (:func:`expire_unconfirmed`) and never
accepted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from client_kit.engine.envelope import key_id, unb64

from .errors import BadRequest, Forbidden, NotFound
from .storage import AuditEntry, DeviceRecord, Storage
from .sync_service import utc_now

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_SAME = str.maketrans({"O": "0", "I": "1", "L": "1"})
DEFAULT_HOURS = 72


def normalise(code: str) -> str:
    return code.upper().replace("-", "").replace(" ", "").translate(_SAME)


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def issue_code(storage: Storage, user_name: str, villages: list[str], *, actor: str,
               hours: int = DEFAULT_HOURS, now: dt.datetime | None = None) -> tuple[str, str]:
    """Make a code for ``user_name`` and ``villages``; return ``(code, expires_at)``."""
    if not villages:
        raise BadRequest("至少指定一个村", code="no_villages")
    if not 1 <= hours <= 24 * 30:
        raise BadRequest("有效期应在1小时到30天之间", code="bad_expiry")
    now = now or dt.datetime.now(dt.timezone.utc)
    raw = "".join(secrets.choice(ALPHABET) for _ in range(12))
    code = "-".join(raw[i:i + 4] for i in (0, 4, 8))
    expires = (now + dt.timedelta(hours=hours)).isoformat(timespec="seconds")
    with storage.atomic():
        storage.add_enrolment_code({
            "code_hash": code_hash(code), "hint": raw[:4], "user_name": user_name,
            "villages": sorted(set(villages)), "created_at": now.isoformat(timespec="seconds"),
            "created_by": actor, "expires_at": expires, "used_at": None, "device_id": None,
            "withdrawn_at": None})
        storage.append_audit(AuditEntry(utc_now(), actor, "enrolment.issue", user_name,
                                        {"villages": sorted(set(villages)), "hint": raw[:4],
                                         "expires_at": expires}))
    return code, expires


def withdraw_code(storage: Storage, hint: str, *, actor: str) -> int:
    """Withdraw the unused codes whose first four characters are ``hint``."""
    hint = normalise(hint)[:4]
    with storage.atomic():
        open_codes = [c for c in storage.list_enrolment_codes()
                      if c["hint"] == hint and not c["used_at"] and not c["withdrawn_at"]]
        if not open_codes:
            raise NotFound(f"没有以 {hint} 开头的未使用注册码")
        for code in open_codes:
            storage.update_enrolment_code(code["code_hash"], withdrawn_at=utc_now())
        storage.append_audit(AuditEntry(utc_now(), actor, "enrolment.withdraw", hint,
                                        {"count": len(open_codes)}))
        expire_unconfirmed(storage)  # a device that enrolled with it but never confirmed
    return len(open_codes)


def _public_key(raw: Any, kind: type, label: str) -> Any:
    try:
        data = unb64(raw) if isinstance(raw, str) else b""
        return kind.from_public_bytes(data)
    except ValueError:
        raise BadRequest(f"{label}格式不正确", code="bad_key") from None


def _expired(row: dict[str, Any], now: dt.datetime) -> bool:
    return dt.datetime.fromisoformat(row["expires_at"]) <= now


def _stamp(now: dt.datetime) -> str:
    return now.isoformat(timespec="seconds")


def enrol(storage: Storage, code: str, sign_key: str, box_key: str,
          now: dt.datetime | None = None) -> DeviceRecord:
    """Trade a valid code for a device bound to the code's user and villages.

    Until that device confirms (:func:`confirm`) the same code may be sent again: the answer
    is the same device, holding the keys of the latest attempt.
    """
    signing = _public_key(sign_key, Ed25519PublicKey, "签名公钥")
    _public_key(box_key, X25519PublicKey, "加密公钥")
    now = now or dt.datetime.now(dt.timezone.utc)
    refused = Forbidden("注册码无效、已使用或已过期，请向县级管理员重新申请",
                        code="bad_enrolment_code")
    with storage.atomic():
        expire_unconfirmed(storage, now)
        row = storage.get_enrolment_code(code_hash(code)) if isinstance(code, str) else None
        if row is None or row["used_at"] or row["withdrawn_at"] or _expired(row, now):
            raise refused
        keys = {"sign_key": sign_key, "box_key": box_key, "sign_key_id": key_id(signing)}
        earlier = storage.get_device(row["device_id"]) if row["device_id"] else None
        if earlier is not None and not earlier.revoked_at:
            # The reply to an earlier attempt was lost: same device, the newest keys.
            storage.update_device(earlier.id, **keys)
            storage.append_audit(AuditEntry(_stamp(now), row["user_name"], "device.enrol_retry",
                                            earlier.id, {"hint": row["hint"]}))
            device = storage.get_device(earlier.id)
            assert device is not None
            return device
        device = DeviceRecord("dev-" + secrets.token_hex(6), row["user_name"], row["villages"],
                              _stamp(now), **keys)
        storage.add_device(device)
        storage.update_enrolment_code(row["code_hash"], device_id=device.id)
        storage.append_audit(AuditEntry(_stamp(now), row["user_name"], "device.enrol", device.id,
                                        {"villages": row["villages"], "hint": row["hint"]}))
    return device


def pending_code(storage: Storage, device_id: str) -> dict[str, Any] | None:
    """The code ``device_id`` enrolled with, if the device has not confirmed yet."""
    for row in storage.list_enrolment_codes():
        if row["device_id"] == device_id and not row["used_at"]:
            return row
    return None


def confirm_by(storage: Storage, device_id: str) -> str | None:
    """When a device that has not confirmed stops being accepted (``None``: confirmed)."""
    row = pending_code(storage, device_id)
    return None if row is None else str(row["expires_at"])


def confirm(storage: Storage, device: DeviceRecord, now: dt.datetime | None = None) -> None:
    """The device signed a message with its enrolled key: its enrolment is complete and its
    code used. A device too late to confirm (its code expired or was withdrawn) is refused."""
    now = now or dt.datetime.now(dt.timezone.utc)
    row = pending_code(storage, device.id)
    if row is None:
        return
    if row["withdrawn_at"] or _expired(row, now):
        raise Forbidden("本设备的注册没有在注册码有效期内完成确认，已失效；"
                        "请向县级管理员重新申请注册码", code="enrolment_expired")
    with storage.atomic():
        storage.update_enrolment_code(row["code_hash"], used_at=_stamp(now))
        storage.append_audit(AuditEntry(_stamp(now), device.user_name, "device.enrol_confirm",
                                        device.id, {"hint": row["hint"]}))


def expire_unconfirmed(storage: Storage, now: dt.datetime | None = None) -> list[str]:
    """Revoke every device that never confirmed and whose code has expired or was withdrawn;
    return their ids. Such a ghost holds no data: its first signed message would have
    confirmed it."""
    now = now or dt.datetime.now(dt.timezone.utc)
    expired = []
    with storage.atomic():
        for row in storage.list_enrolment_codes():
            if not row["device_id"] or row["used_at"]:
                continue
            if not (row["withdrawn_at"] or _expired(row, now)):
                continue
            device = storage.get_device(row["device_id"])
            if device is None or device.revoked_at:
                continue
            storage.update_device(device.id, revoked_at=_stamp(now))
            storage.append_audit(AuditEntry(_stamp(now), "system", "device.enrol_expired",
                                            device.id, {"hint": row["hint"]}))
            expired.append(device.id)
    return expired
