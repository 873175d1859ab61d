"""Row ids: time-ordered UUIDv7 for new rows, name-based UUIDs for natural-key facts."""

from __future__ import annotations

import hashlib
import uuid

# A fixed namespace, so natural-key ids are the same on every device and the server forever.
NATURAL_NAMESPACE = uuid.UUID("8f6b2c1e-3d4a-5b6c-9d7e-0a1b2c3d4e5f")
_NAMESPACE_BYTES = NATURAL_NAMESPACE.bytes


def uuid7(now_ms: int, random_bytes: bytes) -> str:
    """A UUIDv7 (RFC 9562) string: 48 bits of Unix milliseconds, then 74 random bits.

    ``random_bytes`` must hold at least 10 bytes (pass ``os.urandom(10)``).
    """
    if len(random_bytes) < 10:
        raise ValueError("uuid7 needs 10 random bytes")
    rand = int.from_bytes(random_bytes[:10], "big")
    rand_a = rand >> 68 & 0xFFF
    rand_b = rand & ((1 << 62) - 1)
    value = (now_ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


def natural_id(record_type: str, *key: object) -> str:
    """A deterministic id for a fact identified by its natural key.

    Two devices recording the same fact (the same post on the same day, say) get the same id,
    so their rows converge into one instead of duplicating.
    """
    name = "\x1f".join([record_type, *(str(part) for part in key)])
    # uuid.uuid5, without building a UUID object: SHA-1 of namespace and name, version 5,
    # RFC 4122 variant. A test holds it equal to uuid.uuid5.
    raw = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8")).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
