"""USB bundles: the same messages and guarantees as HTTP, carried on a stick.

A device's bundle is one envelope (purpose ``bundle``) holding its pending push and its pull
cursor. Importing applies the push through the same :class:`SyncService` (so a bundle imported
twice changes nothing the second time) and seals a reply (purpose ``bundle-reply``) holding the
acknowledgement, every page after the device's cursor, the server keys, the server's restore
epoch and any wipe order.
"""

from __future__ import annotations

from typing import Any

from client_kit.engine.errors import ProtocolError
from client_kit.engine.protocol import (COMPACT_VERSIONS_SINCE, MAX_SEQ, OLDEST_SERVED_SCHEMA,
                                        SCHEMA_VERSION, ack_dict,
                                        pack, page_dict, push_from_dict, unpack)

from .api.sync import ensure_epoch
from .errors import BadRequest, UpgradeRequired
from .gate import Gate
from .keyring import Keyring
from .storage import Storage
from .sync_service import SyncService, utc_now

PAGE = 5000


def import_bundle(storage: Storage, keyring: Keyring, data: bytes, *, max_ahead_ms: int,
                  min_schema: int) -> tuple[bytes, str]:
    """Apply a device bundle; return the sealed reply and a one-line summary."""
    gate = Gate(storage, keyring)
    device, opened = gate.open(data, ("bundle",), refuse_replay=False)
    reply: dict[str, Any] = {"server_keys": keyring.public(), "villages": device.villages,
                             "wipe": bool(device.wipe_requested_at), "pages": [],
                             "ack": None}
    if device.wipe_requested_at:
        with storage.atomic():
            storage.update_device(device.id, wiped_at=utc_now())
        return (gate.seal(device, "bundle-reply", 0, pack(reply), answering=opened),
                f"{device.id}: wipe ordered")
    gate.refuse_revoked(device)
    try:
        body = unpack(opened.payload)
        message = push_from_dict(body.get("push"))
    except ProtocolError as err:
        raise BadRequest(str(err), code="bad_message") from None
    after = body.get("after", 0)
    if not isinstance(after, int) or not 0 <= after <= MAX_SEQ:
        raise BadRequest("after 不能为负", code="bad_message")
    min_schema = max(min_schema, OLDEST_SERVED_SCHEMA)
    if message.schema_version < min_schema:
        raise UpgradeRequired("本设备的软件版本过旧，请升级后再导出；未同步的记录仍保留在本设备上",
                              details={"client": message.schema_version, "minimum": min_schema,
                                       "server": SCHEMA_VERSION})
    with storage.atomic():
        reply["epoch"] = ensure_epoch(storage)
    sync = SyncService(storage, max_ahead_ms=max_ahead_ms)
    result = sync.push(device, message.changes, app_version=message.app_version,
                       schema_version=message.schema_version)
    reply["ack"] = ack_dict(result.ack())
    cursor = after
    while True:
        page = sync.pull(device, cursor, PAGE)
        reply["pages"].append(page_dict(
            page.entries, page.cursor, page.more, device.villages,
            compact=message.schema_version >= COMPACT_VERSIONS_SINCE))
        cursor = page.cursor
        if not page.more:
            break
    received = sum(len(p["entries"]) for p in reply["pages"])
    summary = (f"{device.id}: applied {result.applied}, repeated {result.repeated}, "
               f"conflicts {result.conflicts}, refused {len(result.refused)};"
               f" reply carries {received} changes")
    return gate.seal(device, "bundle-reply", after, pack(reply), answering=opened), summary
