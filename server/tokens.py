"""API tokens for scripts: issued by an operator, sent as ``Authorization: Bearer <token>``.

A token acts as its user (same role, same scope) without a password, so a script neither keeps
a password nor pays scrypt (about 50 ms) on every call. A token reads
``cst_<id>_<secret>``: the id finds it, the secret (256 random bits) proves it. Only the
SHA-256 of the secret is stored; a slow hash adds nothing for a secret that cannot be guessed,
and one SHA-256 keeps every call cheap. Tokens expire, can be revoked at once, and every issue
and revocation goes to the audit log; the time of last use is kept (to the minute) so an
operator can see which tokens are still in use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

from .errors import BadRequest, Conflict, NotFound, Unauthorized
from .storage import AuditEntry, Storage, UserRecord

PREFIX = "cst"
#: Last use is written at most this often, so a busy script does not write on every call.
TOUCH_EVERY = dt.timedelta(minutes=1)
MAX_DAYS = 3660


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(storage: Storage, user_name: str, *, label: str = "", days: int = 365,
          actor: str = "cli", now: dt.datetime) -> tuple[str, dict[str, Any]]:
    """Issue a token for ``user_name`` valid for ``days``: returns the token (shown once, never
    stored) and its stored row."""
    if not 1 <= days <= MAX_DAYS:
        raise BadRequest(f"有效天数应在 1 到 {MAX_DAYS} 之间", code="bad_days")
    secret = secrets.token_urlsafe(32)
    with storage.atomic():
        user = storage.get_user(user_name)
        if user is None:
            raise NotFound(f"没有用户 {user_name}")
        if user.disabled_at:
            raise Conflict(f"用户 {user_name} 已停用", code="user_disabled")
        token_id = secrets.token_hex(4)
        while storage.get_api_token(token_id) is not None:
            token_id = secrets.token_hex(4)
        row = {"id": token_id, "user_name": user_name, "label": label,
               "secret_hash": _digest(secret), "created_at": _iso(now), "created_by": actor,
               "expires_at": _iso(now + dt.timedelta(days=days)), "revoked_at": None,
               "last_used_at": None}
        storage.add_api_token(row)
        storage.append_audit(AuditEntry(_iso(now), actor, "token.issue", user_name,
                                        {"token": token_id, "label": label,
                                         "expires_at": row["expires_at"]}))
    return f"{PREFIX}_{token_id}_{secret}", row


def revoke(storage: Storage, token_id: str, *, actor: str = "cli",
           now: dt.datetime) -> dict[str, Any]:
    """Revoke a token at once: its next call is refused. Revoking twice changes nothing."""
    with storage.atomic():
        row = storage.get_api_token(token_id)
        if row is None:
            raise NotFound(f"没有令牌 {token_id}")
        if row["revoked_at"] is None:
            row["revoked_at"] = _iso(now)
            storage.update_api_token(token_id, revoked_at=row["revoked_at"])
            storage.append_audit(AuditEntry(_iso(now), actor, "token.revoke",
                                            row["user_name"], {"token": token_id}))
    return row


def status(row: dict[str, Any], now: dt.datetime) -> str:
    """``active``, ``revoked`` or ``expired``."""
    if row["revoked_at"]:
        return "revoked"
    if dt.datetime.fromisoformat(row["expires_at"]) <= now:
        return "expired"
    return "active"


def authenticate(storage: Storage, presented: str, now: dt.datetime) -> UserRecord:
    """The user a bearer token acts for; refused when it is unknown, wrong, revoked or
    expired, or its user is disabled."""
    prefix, _, rest = presented.partition("_")
    token_id, _, secret = rest.partition("_")
    row = storage.get_api_token(token_id) if prefix == PREFIX and secret else None
    if row is None or not hmac.compare_digest(row["secret_hash"], _digest(secret)):
        raise Unauthorized("令牌无效", code="bad_token")
    state = status(row, now)
    if state != "active":
        raise Unauthorized("令牌已撤销" if state == "revoked" else "令牌已过期，请向管理员申请新令牌",
                           code=f"token_{state}")
    user = storage.get_user(row["user_name"])
    if user is None or user.disabled_at:
        raise Unauthorized("该令牌的用户已停用", code="bad_token")
    last = row["last_used_at"]
    if last is None or dt.datetime.fromisoformat(last) <= now - TOUCH_EVERY:
        with storage.atomic():
            storage.update_api_token(token_id, last_used_at=_iso(now))
    return user
