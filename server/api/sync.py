"""Sync endpoints for devices. Every body, both ways, is an envelope (see docs/protocol.md)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from flask import Blueprint, Response, current_app, request

from client_kit.engine.envelope import Opened
from client_kit.engine.errors import ProtocolError
from client_kit.engine.protocol import (COMPACT_VERSIONS_SINCE, MAX_SEQ, OLDEST_SERVED_SCHEMA,
                                        SCHEMA_VERSION, Ack,
                                        decode_push, encode_ack, pack, pack_pull_page,
                                        unpack)

from .. import metrics
from ..db import get_gate, get_storage, get_sync
from ..errors import BadRequest, UpgradeRequired
from ..storage import DeviceRecord
from ..sync_service import SyncService, utc_now

bp = Blueprint("sync", __name__, url_prefix="/api/v1/sync")

ENVELOPE = "application/x-cunsync-envelope"
#: A device clock off by more than this is recorded as off by this much (a century: the
#: column is a 64-bit integer, and the sign and size are all the health page needs).
SKEW_LIMIT_MS = 100 * 365 * 24 * 3600 * 1000


def check_schema(version: Any, minimum: int) -> None:
    if not isinstance(version, int) or isinstance(version, bool):
        raise BadRequest("缺少 schema_version", code="missing_schema_version")
    if version > MAX_SEQ:
        raise BadRequest("schema_version 超出范围", code="bad_request")
    if version < minimum:
        raise UpgradeRequired(
            f"本设备的软件版本过旧（数据版本 {version}，服务器至少需要 {minimum}），请升级后再同步；"
            "未同步的记录会保留在本设备上",
            details={"client": version, "minimum": minimum, "server": SCHEMA_VERSION})


def minimum_schema(configured: Any) -> int:
    """The oldest device schema served: ``MIN_CLIENT_SCHEMA``, but never below
    :data:`OLDEST_SERVED_SCHEMA` (an older device could not read this server's answers)."""
    return max(int(configured), OLDEST_SERVED_SCHEMA)


def _minimum() -> int:
    return minimum_schema(current_app.config["MIN_CLIENT_SCHEMA"])


def _message(payload: bytes) -> dict[str, Any]:
    try:
        return unpack(payload)
    except ProtocolError as err:
        raise BadRequest(str(err), code="bad_message") from None


def _reply(device: DeviceRecord, purpose: str, counter: int, payload: bytes,
           opened: Opened) -> Response:
    sealed = get_gate().seal(device, purpose, counter, payload, answering=opened)
    return Response(sealed, mimetype=ENVELOPE)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def hello_payload(device: DeviceRecord, now_ms: int | None = None) -> dict[str, Any]:
    """What a device learns on every contact: scope, log head, server keys, a wipe order."""
    return {"device_id": device.id, "user": device.user_name, "villages": device.villages,
            "schema_version": SCHEMA_VERSION, "min_client_schema": _minimum(),
            "head": get_storage().head(device.villages),
            "server_keys": get_gate().keyring.public(),
            "server_time_ms": _now_ms() if now_ms is None else now_ms,
            "wipe": bool(device.wipe_requested_at),
            "epoch": get_storage().get_setting(EPOCH)}


#: ``server_meta`` key of the server's restore epoch: a random id, new after every restore
#: from a backup (``cunsync-server restore``). A device that sees it change knows the server
#: went back in time and re-sends what it lost (docs/protocol.md, "After a restore").
EPOCH = "epoch"


def ensure_epoch(storage: Any) -> str:
    """The server's epoch, made on first use (call inside a transaction)."""
    epoch = storage.get_setting(EPOCH)
    if epoch is None:
        epoch = new_epoch()
        storage.set_setting(EPOCH, epoch)
    return str(epoch)


def new_epoch() -> str:
    return secrets.token_hex(8)


@bp.post("/hello")
def hello():  # type: ignore[no-untyped-def]
    """Who am I, what may I see, where is the log; delivers a wipe order if one waits."""
    device, opened = get_gate().open(request.get_data(cache=False), ("hello",))
    storage = get_storage()
    if device.wipe_requested_at:
        with storage.atomic():
            storage.update_device(device.id, wiped_at=utc_now(), last_seen_at=utc_now())
        return _reply(device, "hello-reply", 0, pack(hello_payload(device)), opened)
    get_gate().refuse_revoked(device)
    message = _message(opened.payload)
    check_schema(message.get("schema_version"), _minimum())
    progress = {k: message[v] for k, v in (("pending", "pending"), ("pull_cursor", "cursor"))
                if isinstance(message.get(v), int) and not isinstance(message.get(v), bool)
                and 0 <= message[v] <= MAX_SEQ}
    # The device sealed the hello with its own clock just before sending it (the signed header's
    # ``time``): against ours, that is how far off its clock is now, whatever the age of the
    # records it is about to upload.
    now_ms = _now_ms()
    skew_ms = max(-SKEW_LIMIT_MS, min(SKEW_LIMIT_MS, int(opened.header["time"]) - now_ms))
    with storage.atomic():
        ensure_epoch(storage)
        storage.update_device(device.id, last_seen_at=utc_now(), clock_skew_ms=skew_ms,
                              **progress)
    return _reply(device, "hello-reply", 0, pack(hello_payload(device, now_ms)), opened)


def apply_push(sync: SyncService, device: DeviceRecord, payload: bytes) -> Ack:
    try:
        message = decode_push(payload)
    except ProtocolError as err:
        raise BadRequest(str(err), code="bad_message") from None
    check_schema(message.schema_version, _minimum())
    result = sync.push(device, message.changes, app_version=message.app_version,
                       schema_version=message.schema_version)
    return result.ack()


@bp.post("/push")
def push():  # type: ignore[no-untyped-def]
    """Apply a sealed batch of outbox changes; answer with a small sealed acknowledgement.

    The envelope's nonce is noted in the batch's own transaction (one commit per push): a
    refused push leaves no note, and sending it again is refused or applied the same way.
    """
    with get_storage().atomic():
        device, opened = get_gate().open(request.get_data(cache=False), ("push",))
        get_gate().refuse_revoked(device)
        ack = apply_push(get_sync(), device, opened.payload)
    metrics.count_push(ack.applied, ack.repeated, len(ack.refused), ack.conflicts)
    return _reply(device, "push-reply", ack.acked_through, encode_ack(ack), opened)


def pull_page(sync: SyncService, device: DeviceRecord, after: Any, limit: Any,
              schema_version: int = SCHEMA_VERSION) -> bytes:
    if (not isinstance(after, int) or not isinstance(limit, int) or isinstance(after, bool)
            or isinstance(limit, bool) or not 0 <= after <= MAX_SEQ or limit < 1):
        raise BadRequest(f"after 应在 0 到 {MAX_SEQ} 之间，limit 至少为 1", code="bad_request")
    limit = min(limit, int(current_app.config["PULL_PAGE_MAX"]))
    page = sync.pull_wire(device, after, limit,
                          compact=schema_version >= COMPACT_VERSIONS_SINCE)
    metrics.count_pull(len(page.entry_texts))
    return pack_pull_page(page.entry_texts, page.cursor, page.more, device.villages)


@bp.post("/pull")
def pull():  # type: ignore[no-untyped-def]
    """The next page of changes for the device's villages after ``after``."""
    device, opened = get_gate().open(request.get_data(cache=False), ("pull",))
    get_gate().refuse_revoked(device)
    message = _message(opened.payload)
    check_schema(message.get("schema_version"), _minimum())
    body = pull_page(get_sync(), device, message.get("after"),
                     message.get("limit", int(current_app.config["PULL_PAGE_SIZE"])),
                     message["schema_version"])
    return _reply(device, "pull-reply", int(message["after"]), body, opened)
