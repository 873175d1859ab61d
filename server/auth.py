"""Who is calling: devices by bearer token, people by password; and what they may see."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from typing import Callable

from flask import request

from .db import get_storage
from .errors import Forbidden, Unauthorized
from .passwords import verify_password
from .storage import DeviceRecord, UserRecord

ROLES = ("worker", "supervisor", "admin")


def new_token() -> str:
    """A device token: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def current_device() -> DeviceRecord:
    """The device making this request, from its ``Authorization: Bearer`` token."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("缺少设备令牌，请先在本设备完成注册")
    device = get_storage().device_by_token(token_hash(token.strip()))
    if device is None:
        raise Unauthorized("设备令牌无效", code="unknown_device")
    if device.revoked_at:
        raise Forbidden("本设备已被停用，请联系县级管理员", code="device_revoked")
    return device


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
