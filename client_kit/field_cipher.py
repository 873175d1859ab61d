"""Encryption of sensitive values at rest (device store and server), AES-256-GCM.

A sealed value is the text ``enc1:`` + base64url(nonce || ciphertext). The ``context`` (table,
field and row id) is authenticated with it, so a sealed value copied into another row or
field does not open.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .engine.envelope import b64, unb64
from .engine.jsontext import compact_json, load_json
from .errors import CunsyncError

PREFIX = "enc1:"


class SealedValueError(CunsyncError):
    """A sealed value that does not open with this key and context."""

    code = "sealed_value_invalid"


class FieldCipher:
    def __init__(self, key: bytes) -> None:
        self.aead = AESGCM(key)

    def seal_bytes(self, plaintext: bytes, context: str) -> str:
        nonce = os.urandom(12)
        return PREFIX + b64(nonce + self.aead.encrypt(nonce, plaintext, context.encode()))

    def open_bytes(self, sealed: str, context: str) -> bytes:
        raw = unb64(sealed[len(PREFIX):])
        try:
            return self.aead.decrypt(raw[:12], raw[12:], context.encode())
        except (InvalidTag, ValueError):
            raise SealedValueError(f"加密数据无法解开 ({context})") from None

    def seal(self, value: Any, context: str) -> Any:
        """Seal a JSON value (``None`` stays ``None``)."""
        if value is None:
            return None
        return self.seal_bytes(compact_json(value).encode(), context)

    def open(self, sealed: Any, context: str) -> Any:
        if sealed is None:
            return None
        if not is_sealed(sealed):
            raise SealedValueError(f"应为加密数据 ({context})")
        return load_json(self.open_bytes(sealed, context))


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def blind_index(key: bytes, value: str) -> str:
    """A keyed hash for exact look-up of a sensitive value without storing it."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]
