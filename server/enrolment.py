"""Enrolment: one-time codes an admin issues; a device trades one for its identity.

A code is twelve characters of Crockford base32 (no I, L, O, U), shown as ``ABCD-EFGH-JKMN``:
short enough to read over the phone, about 60 bits, so it cannot be guessed before it expires.
Only its SHA-256 is stored. The device sends the code with the public halves of the Ed25519 and
X25519 keys it made; its private keys never leave it.
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
    return len(open_codes)


def _public_key(raw: Any, kind: type, label: str) -> Any:
    try:
        data = unb64(raw) if isinstance(raw, str) else b""
        return kind.from_public_bytes(data)
    except ValueError:
        raise BadRequest(f"{label}格式不正确", code="bad_key") from None


def enrol(storage: Storage, code: str, sign_key: str, box_key: str,
          now: dt.datetime | None = None) -> DeviceRecord:
    """Trade a valid code for a new device bound to the code's user and villages."""
    signing = _public_key(sign_key, Ed25519PublicKey, "签名公钥")
    _public_key(box_key, X25519PublicKey, "加密公钥")
    now = now or dt.datetime.now(dt.timezone.utc)
    refused = Forbidden("注册码无效、已使用或已过期，请向县级管理员重新申请",
                        code="bad_enrolment_code")
    with storage.atomic():
        row = storage.get_enrolment_code(code_hash(code)) if isinstance(code, str) else None
        if (row is None or row["used_at"] or row["withdrawn_at"]
                or dt.datetime.fromisoformat(row["expires_at"]) <= now):
            raise refused
        device = DeviceRecord(
            "dev-" + secrets.token_hex(6), row["user_name"], row["villages"], utc_now(),
            sign_key=sign_key, box_key=box_key, sign_key_id=key_id(signing))
        storage.add_device(device)
        storage.update_enrolment_code(row["code_hash"], used_at=utc_now(), device_id=device.id)
        storage.append_audit(AuditEntry(utc_now(), row["user_name"], "device.enrol", device.id,
                                        {"villages": row["villages"], "hint": row["hint"]}))
    return device
