"""Enrolment of a device: make keys, trade a one-time code for an identity, lock the keys."""

from __future__ import annotations

import json
from pathlib import Path

from .engine.envelope import b64, raw_public
from .errors import RuleViolation
from .keystore import generate
from .store import DeviceStore
from .transport import HttpTransport


def enrol(db: str | Path, server: str, code: str, passphrase: str, *,
          transport: HttpTransport | None = None) -> DeviceStore:
    """Enrol a new device store at ``db`` with ``server``; return it, unlocked.

    Only the public halves of the device's keys leave the device; the private halves are stored
    under ``passphrase``.
    """
    if Path(db).exists():
        existing = DeviceStore.open(db)
        try:
            if existing.has_keys:
                raise_enrolled(existing.device_id)
        finally:
            existing.close()
    keys = generate()
    http = transport or HttpTransport(server)
    answer = http.enrol({"code": code, "sign_key": b64(raw_public(keys.sign.public_key())),
                         "box_key": b64(raw_public(keys.box.public_key()))})
    store = DeviceStore.open(db, device_id=answer["device_id"])
    store.install_keys(keys, passphrase)
    with store.transaction():
        store.set_meta("server", server)
        store.set_meta("server_keys", json.dumps(answer["server_keys"]))
        store.set_meta("villages", json.dumps(sorted(answer["villages"])))
        store.set_meta("user", str(answer["user"]))
    return store


def raise_enrolled(device_id: str) -> None:
    raise RuleViolation(f"本设备已注册为 {device_id}；如需重新注册，请先清除设备数据")
