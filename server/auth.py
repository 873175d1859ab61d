"""Who is calling (people, by password) and what they may see. Devices prove who they are
by signing envelopes (see :mod:`server.gate`)."""

from __future__ import annotations

import base64
import binascii
from typing import Callable

from flask import request

from .db import get_storage
from .errors import Forbidden, Unauthorized
from .passwords import verify_password
from .storage import UserRecord

ROLES = ("worker", "supervisor", "admin")


def current_user(*roles: str) -> UserRecord:
    """The person making this request, from HTTP Basic credentials, with one of ``roles``."""
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise Unauthorized("需要用户名和密码")
    try:
        name, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("用户名或密码格式不正确") from None
    user = get_storage().get_user(name)
    if user is None or user.disabled_at or not verify_password(password, user.password_hash):
        raise Unauthorized("用户名或密码错误", code="bad_credentials")
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
