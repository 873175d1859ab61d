"""Who is calling (people, by password or API token) and what they may see. Devices prove
who they are by signing envelopes (see :mod:`server.gate`).

Passwords at the API are checked as carefully as at the console: the same lock
(:mod:`server.lockout`) counts wrong passwords from both doors, and an unknown name is checked
against a dummy hash so that it takes as long as a known one. Scripts use tokens
(:mod:`server.tokens`): cheap to check, revocable.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
from typing import Callable

from flask import current_app, request

from . import lockout, tokens
from .db import get_storage
from .errors import AccountLocked, Forbidden, Unauthorized
from .passwords import dummy_hash, verify_password
from .storage import AuditEntry, Storage, UserRecord

ROLES = ("worker", "supervisor", "admin")


#: Longer user names are refused without being counted (they cannot exist).
MAX_NAME = 64


def _locked(until: dt.datetime, now: dt.datetime) -> AccountLocked:
    china = until.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%H:%M")
    return AccountLocked(f"密码错误次数过多，该账户已锁定，请于 {china} 后再试",
                         retry_after=math.ceil((until - now).total_seconds()))


def check_password(storage: Storage, name: str, password: str, now: dt.datetime,
                   policy: lockout.LockPolicy) -> UserRecord:
    """The user whose name and password these are, counted by the lock shared with the
    console; a locked name is refused even with the right password."""
    until = lockout.locked_until(storage, name, now) if len(name) <= MAX_NAME else None
    if until:
        raise _locked(until, now)
    user = storage.get_user(name) if len(name) <= MAX_NAME else None
    # Always one scrypt, known name or not, so the time does not tell which names exist.
    stored = user.password_hash if user and user.password_hash else dummy_hash()
    if (not verify_password(password, stored) or user is None or not user.password_hash
            or user.disabled_at):
        if len(name) <= MAX_NAME:
            streak = lockout.note_failure(storage, name, now, policy)
            if streak.locked_until:
                with storage.atomic():
                    storage.append_audit(AuditEntry(
                        now.isoformat(timespec="seconds"), "api", "api.lock", name,
                        {"ip": request.remote_addr, "failures": streak.count,
                         "until": streak.locked_until}))
                raise _locked(dt.datetime.fromisoformat(streak.locked_until), now)
        raise Unauthorized("用户名或密码错误", code="bad_credentials")
    lockout.note_success(storage, name)
    return user


def current_user(*roles: str) -> UserRecord:
    """The person making this request, from HTTP Basic credentials or a bearer token, with one
    of ``roles``."""
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    storage = get_storage()
    now = dt.datetime.now(dt.timezone.utc)
    if scheme.lower() == "bearer":
        user = tokens.authenticate(storage, credential.strip(), now)
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credential, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("用户名或密码格式不正确") from None
        name, _, password = decoded.partition(":")
        user = check_password(storage, name, password, now,
                              lockout.policy_from(current_app.config))
    else:
        raise Unauthorized("需要用户名和密码，或 API 令牌")
    if roles and user.role not in roles:
        raise Forbidden("您的角色无权进行此操作", code="wrong_role")
    return user


def user_scope(user: UserRecord) -> Callable[[str], bool]:
    """A predicate telling whether a village code is within the user's scope.

    Scope entries are village codes or prefixes (a 6-digit county or 9-digit township code);
    an admin with an empty scope sees everything.
    """
    prefixes = tuple(user.scope)
    if user.role == "admin" and not prefixes:
        return lambda village: True
    return lambda village: bool(prefixes) and village.startswith(prefixes)


def scope_villages(user: UserRecord) -> list[str] | None:
    """The village codes the user may see (``None`` for all)."""
    if user.role == "admin" and not user.scope:
        return None
    allowed = user_scope(user)
    return [code for code in get_storage().village_codes() if allowed(code)]
