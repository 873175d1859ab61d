"""The device's secrets, wrapped under the worker's passphrase.

Four secrets live in the store's ``meta`` table, encrypted together with AES-256-GCM under a
key derived from the passphrase with scrypt: the Ed25519 signing key and the X25519 key of the
device, the data key that encrypts sensitive fields at rest, and the key of the blind index
(exact look-up by ID number). A wrong passphrase fails the GCM tag and is refused clearly.
Changing the passphrase re-wraps the same secrets: no row is rewritten.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .engine.envelope import b64, load_box_key, load_signing_key, private_raw, unb64
from .errors import CunsyncError

META_KEY = "keystore"
#: scrypt cost: 2**15 takes about a tenth of a second on a tablet; stored with each wrap.
SCRYPT_N = 2**15
MIN_PASSPHRASE = 6


class WrongPassphrase(CunsyncError):
    """The passphrase does not unlock this device."""

    code = "wrong_passphrase"


class NoKeys(CunsyncError):
    """The device has no keys (not enrolled, or wiped)."""

    code = "not_enrolled"


@dataclass(frozen=True)
class DeviceKeys:
    sign: Ed25519PrivateKey
    box: X25519PrivateKey
    data_key: bytes
    index_key: bytes


def _kek(passphrase: str, salt: bytes, n: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=8, p=1).derive(passphrase.encode())


class WeakPassphrase(CunsyncError):
    """The passphrase is too short to protect the device's keys."""

    code = "weak_passphrase"


def check_passphrase(passphrase: str) -> None:
    """Refuse a passphrase too short to protect the keys (before anything is made)."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise WeakPassphrase(f"口令太短：至少 {MIN_PASSPHRASE} 位，请换一个更长的口令")


def wrap(keys: DeviceKeys, passphrase: str, *, n: int = SCRYPT_N,
         random: Callable[[int], bytes] = os.urandom) -> str:
    """The secrets sealed under ``passphrase``, as a JSON string for ``meta``."""
    check_passphrase(passphrase)
    salt, nonce = random(16), random(12)
    secret = json.dumps({"sign": b64(private_raw(keys.sign)), "box": b64(private_raw(keys.box)),
                         "data": b64(keys.data_key), "index": b64(keys.index_key)}).encode()
    sealed = AESGCM(_kek(passphrase, salt, n)).encrypt(nonce, secret, b"cunsync keystore v1")
    return json.dumps({"v": 1, "n": n, "salt": b64(salt), "nonce": b64(nonce),
                       "sealed": b64(sealed)})


def unwrap(wrapped: str, passphrase: str) -> DeviceKeys:
    """Open the keystore; :class:`WrongPassphrase` if the passphrase is not the right one."""
    box = json.loads(wrapped)
    try:
        secret = AESGCM(_kek(passphrase, unb64(box["salt"]), int(box["n"]))).decrypt(
            unb64(box["nonce"]), unb64(box["sealed"]), b"cunsync keystore v1")
    except InvalidTag:
        raise WrongPassphrase("口令错误，无法解锁本设备") from None
    raw = json.loads(secret)
    return DeviceKeys(load_signing_key(unb64(raw["sign"])), load_box_key(unb64(raw["box"])),
                      unb64(raw["data"]), unb64(raw["index"]))


def generate() -> DeviceKeys:
    return DeviceKeys(Ed25519PrivateKey.generate(), X25519PrivateKey.generate(),
                      AESGCM.generate_key(bit_length=256), os.urandom(32))
