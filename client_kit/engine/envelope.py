"""Envelopes: every push batch, pull page and bundle travels sealed.

An envelope is encrypted for one recipient and signed by its sender:

- a fresh X25519 key pair per envelope; the shared secret with the recipient's X25519 key goes
  through HKDF-SHA256 to one AES-256-GCM key (derived once per envelope, never per record);
- the header (sender, sender key, recipient key, purpose, counter, time, nonce, ephemeral
  key) is in clear, authenticated as the cipher's associated data and covered by the signature;
- an Ed25519 signature by the sender over ``header || ciphertext``.

Wire format::

    b"CSE1" | header length (4 bytes, big-endian) | header (canonical JSON) | ciphertext | signature (64)

A relay or a USB stick learns the sender id, the purpose and the sizes, nothing else. Opening
checks, in order: shape, purpose, recipient, sender key, signature, then decrypts. Replays are
refused by the receiver with the envelope id (sender, nonce), see :func:`Opened.envelope_id`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any, Callable

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import EngineError

MAGIC = b"CSE1"
VERSION = 1
_INFO = b"cunsync envelope v1"


class EnvelopeError(EngineError):
    """An envelope that must not be trusted; ``code`` says why."""

    code = "bad_envelope"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def raw_public(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey | X25519PublicKey) -> str:
    """A short, stable name of a public key: 16 hex digits of its SHA-256."""
    return hashlib.sha256(raw_public(key)).hexdigest()[:16]


def _header_bytes(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def _aead_key(shared: bytes, epk: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=_INFO + epk + recipient).derive(shared)


def seal(payload: bytes, *, sender: str, signing_key: Ed25519PrivateKey,
         recipient_key: X25519PublicKey, purpose: str, counter: int, now_ms: int,
         random: Callable[[int], bytes]) -> bytes:
    """Encrypt ``payload`` for ``recipient_key`` and sign it as ``sender``.

    ``counter`` is the push's first sequence, the pull cursor, or 0; ``random`` gives the
    ephemeral key and nonce bytes (``os.urandom``; fixed bytes make test vectors).
    """
    ephemeral = X25519PrivateKey.from_private_bytes(random(32))
    epk = raw_public(ephemeral.public_key())
    nonce = random(12)
    recipient_raw = raw_public(recipient_key)
    header = {
        "v": VERSION, "sender": sender, "sender_key": key_id(signing_key.public_key()),
        "recipient": key_id(recipient_key), "purpose": purpose, "counter": counter,
        "time": now_ms, "nonce": b64(nonce), "epk": b64(epk),
    }
    head = _header_bytes(header)
    key = _aead_key(ephemeral.exchange(recipient_key), epk, recipient_raw)
    ciphertext = AESGCM(key).encrypt(nonce, payload, head)
    body = MAGIC + struct.pack(">I", len(head)) + head + ciphertext
    return body + signing_key.sign(body)


@dataclass(frozen=True)
class Opened:
    """An envelope that passed every check."""

    header: dict[str, Any]
    payload: bytes

    @property
    def sender(self) -> str:
        return str(self.header["sender"])

    @property
    def envelope_id(self) -> str:
        """Unique per envelope: a receiver that remembers it refuses a replay."""
        return f"{self.header['sender']}:{self.header['nonce']}"


def read_header(data: bytes) -> dict[str, Any]:
    """The clear header of an envelope (not yet trusted: nothing is verified)."""
    if len(data) < 8 + 64 or data[:4] != MAGIC:
        raise EnvelopeError("不是有效的加密信封 (not an envelope)")
    (length,) = struct.unpack(">I", data[4:8])
    if 8 + length + 16 + 64 > len(data):
        raise EnvelopeError("信封长度不对 (truncated envelope)")
    try:
        header = json.loads(data[8:8 + length])
    except ValueError:
        raise EnvelopeError("信封头无法解析 (bad header)") from None
    required = {"v", "sender", "sender_key", "recipient", "purpose", "counter", "time",
                "nonce", "epk"}
    if not isinstance(header, dict) or set(header) != required or header["v"] != VERSION:
        raise EnvelopeError("信封头格式不对 (bad header fields)")
    if not isinstance(header["counter"], int) or not isinstance(header["time"], int):
        raise EnvelopeError("信封头格式不对 (bad header types)")
    return header


def open_envelope(data: bytes, *, purposes: tuple[str, ...],
                  recipient_keys: dict[str, X25519PrivateKey],
                  sender_key: Callable[[str, str], Ed25519PublicKey | None]) -> Opened:
    """Check and decrypt an envelope.

    ``recipient_keys`` maps key ids to our X25519 private keys (several during a rotation);
    ``sender_key(sender, key_id)`` returns the sender's Ed25519 public key or ``None``.
    """
    header = read_header(data)
    if header["purpose"] not in purposes:
        raise EnvelopeError(f"信封用途不符：{header['purpose']}", "wrong_purpose")
    private = recipient_keys.get(header["recipient"])
    if private is None:
        raise EnvelopeError("信封不是发给本接收方的 (wrong recipient)", "wrong_recipient")
    verify = sender_key(str(header["sender"]), str(header["sender_key"]))
    if verify is None:
        raise EnvelopeError("未知的发送方或密钥 (unknown sender)", "unknown_sender")
    body, signature = data[:-64], data[-64:]
    try:
        verify.verify(signature, body)
    except InvalidSignature:
        raise EnvelopeError("信封签名无效，内容可能被篡改 (bad signature)", "bad_signature") from None
    (length,) = struct.unpack(">I", data[4:8])
    head = data[8:8 + length]
    try:
        epk = unb64(header["epk"])
        nonce = unb64(header["nonce"])
        shared = private.exchange(X25519PublicKey.from_public_bytes(epk))
        key = _aead_key(shared, epk, raw_public(private.public_key()))
        payload = AESGCM(key).decrypt(nonce, body[8 + length:], head)
    except (InvalidTag, ValueError):
        raise EnvelopeError("信封无法解密 (decryption failed)", "decrypt_failed") from None
    return Opened(header, payload)


def load_signing_key(raw: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(raw)


def load_box_key(raw: bytes) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(raw)


def private_raw(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
