"""Password hashes with scrypt (from ``cryptography``), in a self-describing string."""

from __future__ import annotations

import base64
import functools
import hmac
import os

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

# Parameters stored with each hash, so they can be raised later without breaking old hashes.
N, R, P = 2**14, 8, 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    key = Scrypt(salt=salt, length=32, n=N, r=R, p=P).derive(password.encode())
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(key)}"


@functools.cache
def dummy_hash() -> str:
    """A hash to check against when a user name is unknown (or has no password), so that the
    answer takes as long as for a known name: the time must not tell which names exist. Its
    password is random and thrown away, so no password matches it."""
    return hash_password(base64.b64encode(os.urandom(32)).decode())


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        Scrypt(salt=_unb64(salt), length=32, n=int(n), r=int(r), p=int(p)).verify(
            password.encode(), _unb64(key))
        return True
    except (ValueError, InvalidKey):
        return False


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
