"""Sync endpoints for devices: hello, push, pull."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from client_kit.engine.errors import ProtocolError
from client_kit.engine.protocol import (SCHEMA_VERSION, Ack, decode_push, encode_ack,
                                        encode_pull_page)

from ..auth import current_device
from ..db import get_storage, get_sync
from ..errors import BadRequest, UpgradeRequired
from ..sync_service import utc_now

bp = Blueprint("sync", __name__, url_prefix="/api/v1/sync")


def _check_schema(version: int | None) -> None:
    minimum = int(current_app.config["MIN_CLIENT_SCHEMA"])
    if version is None:
        raise BadRequest("缺少 schema_version", code="missing_schema_version")
    if version < minimum:
        raise UpgradeRequired(
            f"本设备的软件版本过旧（数据版本 {version}，服务器至少需要 {minimum}），请升级后再同步；"
            "未同步的记录会保留在本设备上",
            details={"client": version, "minimum": minimum, "server": SCHEMA_VERSION})


def _header_schema() -> int | None:
    raw = request.headers.get("X-Cunsync-Schema")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest("X-Cunsync-Schema 应为整数") from None


@bp.get("/hello")
def hello():  # type: ignore[no-untyped-def]
    """Who am I, what may I see, where is the log: a cheap first call for a device."""
    device = current_device()
    _check_schema(_header_schema())
    storage = get_storage()
    with storage.atomic():
        storage.update_device(device.id, last_seen_at=utc_now())
    return jsonify({
        "device_id": device.id, "user": device.user_name, "villages": device.villages,
        "schema_version": SCHEMA_VERSION,
        "min_client_schema": int(current_app.config["MIN_CLIENT_SCHEMA"]),
        "head": get_storage().head(device.villages),
    })


@bp.post("/push")
def push():  # type: ignore[no-untyped-def]
    """Apply a gzip-compressed batch of outbox changes; answer with a small acknowledgement."""
    device = current_device()
    encoding = request.headers.get("Content-Encoding", "").lower()
    if encoding not in ("gzip", ""):
        raise BadRequest("只支持 gzip 压缩", code="unsupported_encoding")
    try:
        message = decode_push(request.get_data(cache=False), compressed=encoding == "gzip")
    except ProtocolError as err:
        raise BadRequest(str(err), code="bad_message") from None
    _check_schema(message.schema_version)
    result = get_sync().push(device, message.changes, app_version=message.app_version,
                             schema_version=message.schema_version)
    body = encode_ack(Ack(result.acked_through, result.applied, result.repeated,
                          result.conflicts))
    return Response(body, mimetype="application/json")


@bp.get("/pull")
def pull():  # type: ignore[no-untyped-def]
    """The next page of changes for the device's villages after ``after``."""
    device = current_device()
    _check_schema(_header_schema())
    try:
        after = int(request.args.get("after", "0"))
        limit = int(request.args.get("limit", current_app.config["PULL_PAGE_SIZE"]))
    except ValueError:
        raise BadRequest("after 和 limit 应为整数") from None
    if after < 0 or limit < 1:
        raise BadRequest("after 不能为负，limit 至少为 1")
    limit = min(limit, int(current_app.config["PULL_PAGE_MAX"]))
    page = get_sync().pull(device, after, limit)
    body = encode_pull_page(page.entries, page.cursor, page.more, device.villages)
    response = Response(body, mimetype="application/json")
    response.headers["Content-Encoding"] = "gzip"
    return response
