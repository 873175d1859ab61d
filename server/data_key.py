"""The server's data key: encrypts its private keys and sensitive columns at rest.

Taken from the ``DATA_KEY`` setting (base64url of 32 bytes). Without one, a key is made once
in ``instance/data.key`` (mode 0600) — fine for a demo; a county keeps it apart from the
database and its backups, since whoever has both can read everything.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from client_kit.engine.envelope import b64, unb64
from client_kit.field_cipher import FieldCipher

__all__ = ["DataKeyError", "FieldCipher", "InstanceKeyCipher", "load_data_key"]


class DataKeyError(ValueError):
    """The configured data key is unusable."""


def load_data_key(configured: str | None, instance_path: str) -> bytes:
    if configured:
        try:
            key = unb64(configured.strip())
        except ValueError:
            raise DataKeyError("DATA_KEY is not base64url") from None
        if len(key) != 32:
            raise DataKeyError("DATA_KEY must be 32 bytes (base64url)")
        return key
    path = Path(instance_path) / "data.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(b64(AESGCM.generate_key(bit_length=256)) + "\n")
    return load_data_key(path.read_text().strip(), instance_path)


class InstanceKeyCipher(FieldCipher):
    """The server's cipher, its key loaded as :func:`load_data_key` does. A configured key
    or an existing ``data.key`` is read at once (a bad one fails at start); a key that has
    to be made is made when first used, so a command that never touches data (``--help``)
    writes nothing."""

    def __init__(self, configured: str | None, instance_path: str) -> None:
        self._configured = configured
        self._instance_path = instance_path
        self._aead: AESGCM | None = None
        if configured or (Path(instance_path) / "data.key").exists():
            self._aead = AESGCM(load_data_key(configured, instance_path))

    @property  # type: ignore[override]
    def aead(self) -> AESGCM:
        if self._aead is None:
            self._aead = AESGCM(load_data_key(self._configured, self._instance_path))
        return self._aead
