"""The server's own key pairs: one active for sending, older ones accepted while retiring.

Rotation: :meth:`Keyring.rotate` makes a new active pair; the old one becomes ``retiring`` and
is still accepted (devices may have sealed to it) until :meth:`Keyring.retire`. Devices learn the
new public keys in every reply, signed by a key they already trust.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from client_kit.engine.envelope import (b64, key_id, load_box_key, load_signing_key,
                                        private_raw, raw_public, unb64)

from .data_key import FieldCipher
from .errors import NotFound
from .storage import Storage
from .sync_service import utc_now


@dataclass
class ServerKey:
    key_id: str
    sign: Ed25519PrivateKey
    box: X25519PrivateKey
    status: str

    def public(self) -> dict[str, str]:
        return {"key_id": self.key_id, "sign": b64(raw_public(self.sign.public_key())),
                "box": b64(raw_public(self.box.public_key())), "status": self.status}


class Keyring:
    """The server keys in ``storage``, private halves sealed with the data key."""

    def __init__(self, storage: Storage, sealer: FieldCipher) -> None:
        self.storage = storage
        self.sealer = sealer
        self._keys: list[ServerKey] | None = None

    def keys(self) -> list[ServerKey]:
        """Active and retiring keys, active first; makes the first pair if there is none."""
        if self._keys is None:
            rows = self.storage.server_keys()
            if not any(r["status"] == "active" for r in rows):
                with self.storage.atomic():
                    if not any(r["status"] == "active" for r in self.storage.server_keys()):
                        self._add_new()
                rows = self.storage.server_keys()
            keys = [self._load(r) for r in rows if r["status"] in ("active", "retiring")]
            self._keys = sorted(keys, key=lambda k: k.status != "active")
        return self._keys

    def _load(self, row: dict[str, str]) -> ServerKey:
        secret = json.loads(self.sealer.open_bytes(row["private_sealed"],
                                                   f"server_key:{row['key_id']}"))
        return ServerKey(row["key_id"], load_signing_key(unb64(secret["sign"])),
                         load_box_key(unb64(secret["box"])), row["status"])

    def _add_new(self) -> ServerKey:
        sign, box = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
        kid = key_id(sign.public_key())
        sealed = self.sealer.seal_bytes(json.dumps({"sign": b64(private_raw(sign)),
                                              "box": b64(private_raw(box))}).encode(),
                                  f"server_key:{kid}")
        self.storage.add_server_key({
            "key_id": kid, "sign_public": b64(raw_public(sign.public_key())),
            "box_public": b64(raw_public(box.public_key())),
            "box_key_id": key_id(box.public_key()), "private_sealed": sealed,
            "status": "active", "created_at": utc_now(), "retired_at": None})
        return ServerKey(kid, sign, box, "active")

    @property
    def active(self) -> ServerKey:
        return self.keys()[0]

    def box_keys(self) -> dict[str, X25519PrivateKey]:
        """Private X25519 keys by key id: every key we accept envelopes for."""
        return {key_id(k.box.public_key()): k.box for k in self.keys()}

    def by_box_key_id(self, box_key_id: str) -> ServerKey | None:
        for k in self.keys():
            if key_id(k.box.public_key()) == box_key_id:
                return k
        return None

    def sign_key(self, kid: str) -> Ed25519PublicKey | None:
        for k in self.keys():
            if k.key_id == kid:
                return k.sign.public_key()
        return None

    def public(self) -> list[dict[str, str]]:
        return [k.public() for k in self.keys()]

    def rotate(self) -> ServerKey:
        """Make a new active pair; the current one keeps being accepted while retiring."""
        with self.storage.atomic():
            for row in self.storage.server_keys():
                if row["status"] == "active":
                    self.storage.update_server_key(row["key_id"], status="retiring")
            new = self._add_new()
        self._keys = None
        return new

    def retire(self, kid: str) -> None:
        """Stop accepting a retiring key."""
        with self.storage.atomic():
            rows = {r["key_id"]: r for r in self.storage.server_keys()}
            if kid not in rows or rows[kid]["status"] != "retiring":
                raise NotFound(f"没有正在退役的服务器密钥 {kid}")
            self.storage.update_server_key(kid, status="retired", retired_at=utc_now())
        self._keys = None


def public_from(raw: dict[str, str]) -> tuple[Ed25519PublicKey, X25519PublicKey]:
    return (Ed25519PublicKey.from_public_bytes(unb64(raw["sign"])),
            X25519PublicKey.from_public_bytes(unb64(raw["box"])))


