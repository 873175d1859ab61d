"""Protocol messages: push batches, acknowledgements and pull pages, as bytes.

Messages are UTF-8 JSON (Chinese text is sent as is, not ``\\u``-escaped), gzip-compressed.
Building and reading them is pure; transports (HTTP, USB bundle) only move the bytes.
Every decoder checks the shape with a marshmallow schema and raises :class:`ProtocolError`.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from .changes import Change, PulledEntry, compact_json
from .errors import ProtocolError
from .jsontext import load_json

#: Version of the record schemas and messages this code speaks. Bump it when a message or a
#: record type changes incompatibly; the server refuses clients below its minimum.
#: 2: a pulled entry's versions may be one ``[hlc, device]`` pair for all its fields.
#: 3: a push acknowledgement may list changes refused on their own (``refused``).
SCHEMA_VERSION = 3

#: The oldest schema version a server of this release serves: its push acknowledgements may
#: carry ``refused``, which a schema-2 device cannot read (it would send the same batch again
#: forever), so older devices are told to upgrade instead, their outboxes kept.
OLDEST_SERVED_SCHEMA = 3

#: The first schema version that reads compact entry versions; older clients get objects.
COMPACT_VERSIONS_SINCE = 2

#: gzip level of pull pages: the server compresses every page for every device, so a little
#: less squeezing (5% more bytes than level 6) buys 30% less compression time.
PULL_GZIP_LEVEL = 4

#: A decompressed message may be at most this large (a defence against zip bombs).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

#: The largest sequence number a change may carry (and the largest integer any message field
#: that names a position takes: a pull cursor, a pending count). 2^53 keeps every such number
#: exact in any JSON reader and far inside SQLite's signed 64-bit integers; a device makes one
#: sequence per write, so it never gets near it, and a server refuses a push beyond it
#: (``400 seq_out_of_range``) rather than accept a sequence that leaves no room after it.
MAX_SEQ = 2 ** 53


def pack(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, gzip-compressed."""
    return gzip.compress(compact_json(payload).encode("utf-8"), compresslevel=6, mtime=0)


def unpack(data: bytes, *, compressed: bool = True,
           limit: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """Inverse of :func:`pack`; ``ProtocolError`` for anything that is not a JSON object."""
    if compressed:
        inflater = zlib.decompressobj(wbits=31)
        try:
            raw = inflater.decompress(data, limit)
        except zlib.error:
            raise ProtocolError("消息不是有效的 gzip 数据 (not valid gzip)") from None
        if inflater.unconsumed_tail:
            raise ProtocolError("消息解压后过大 (message too large once decompressed)")
    else:
        raw = data
    try:
        payload = load_json(raw)
    except ValueError:  # not JSON, or not UTF-8
        raise ProtocolError("消息不是有效的 UTF-8 JSON (not valid UTF-8 JSON)") from None
    if not isinstance(payload, dict):
        raise ProtocolError("消息应为 JSON 对象 (message must be a JSON object)")
    return payload


class _Array(fields.Field):
    """A JSON array taken as is: its elements are checked by the caller, one shape each (a
    ``List(Raw())`` runs marshmallow's field machinery on every element)."""

    default_error_messages = {"invalid": "Not a valid list."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, list):
            raise self.make_error("invalid")
        return value


class _PushSchema(Schema):
    schema_version = fields.Integer(required=True, strict=True)
    app_version = fields.String(load_default=None, validate=validate.Length(max=40))
    # Each change's own shape is checked by Change.from_wire.
    changes = _Array(required=True)


class _RefusedSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    seq = fields.Integer(required=True, strict=True)
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Raw(load_default=None, allow_none=True)


class _AckSchema(Schema):
    # Fields a later server adds are ignored, so an acknowledgement can grow.
    class Meta:
        unknown = EXCLUDE

    acked_through = fields.Integer(required=True, strict=True)
    applied = fields.Integer(required=True, strict=True)
    repeated = fields.Integer(required=True, strict=True)
    conflicts = fields.Integer(required=True, strict=True)
    refused = fields.List(fields.Nested(_RefusedSchema), load_default=list)


class _PullSchema(Schema):
    entries = _Array(required=True)
    cursor = fields.Integer(required=True, strict=True)
    more = fields.Boolean(required=True)
    villages = fields.List(fields.String(), load_default=list)


def _load(schema: Schema, payload: dict[str, Any]) -> dict[str, Any]:
    try:
        return dict(schema.load(payload))
    except ValidationError as err:
        raise ProtocolError(f"消息格式不正确: {err.messages}") from None


@dataclass(frozen=True)
class PushMessage:
    schema_version: int
    app_version: str | None
    changes: list[Change]


def push_dict(changes: list[Change], *, app_version: str,
              schema_version: int = SCHEMA_VERSION) -> dict[str, Any]:
    return {"schema_version": schema_version, "app_version": app_version,
            "changes": [c.to_wire() for c in changes]}


def encode_push(changes: list[Change], *, app_version: str,
                schema_version: int = SCHEMA_VERSION) -> bytes:
    return pack(push_dict(changes, app_version=app_version, schema_version=schema_version))


def pack_push(change_texts: list[str], *, app_version: str,
              schema_version: int = SCHEMA_VERSION) -> bytes:
    """A push from changes already encoded as JSON (``Change.to_wire``): the same bytes
    :func:`encode_push` makes, without decoding and re-encoding every change."""
    raw = (f'{{"schema_version":{int(schema_version)},"app_version":{compact_json(app_version)},'
           f'"changes":[{",".join(change_texts)}]}}')
    return gzip.compress(raw.encode("utf-8"), compresslevel=6, mtime=0)


def decode_push(data: bytes, *, compressed: bool = True) -> PushMessage:
    return push_from_dict(unpack(data, compressed=compressed))


def push_from_dict(payload: Any) -> PushMessage:
    if not isinstance(payload, dict):
        raise ProtocolError("推送消息应为 JSON 对象")
    body = _load(_PushSchema(), payload)
    changes = []
    for index, raw in enumerate(body["changes"]):
        try:
            changes.append(Change.from_wire(raw))
        except (TypeError, ValueError, AttributeError) as err:
            raise ProtocolError(f"第 {index + 1} 条变更格式不正确: {err}") from None
    return PushMessage(body["schema_version"], body["app_version"], changes)


@dataclass(frozen=True)
class Refused:
    """One change the server refused on its own: its sequence was consumed, nothing of it
    was applied, and the changes after it went on (see docs/protocol.md)."""

    seq: int
    code: str
    message: str
    details: Any = None


@dataclass(frozen=True)
class Ack:
    """The answer to a push: every sequence through ``acked_through`` is settled, applied
    (``applied``, ``repeated``) or ``refused``."""

    acked_through: int
    applied: int
    repeated: int
    conflicts: int
    refused: tuple[Refused, ...] = ()


def ack_dict(ack: Ack) -> dict[str, Any]:
    """The acknowledgement's JSON. ``refused`` appears only when some change was refused, so
    an answer without refusals is what devices before it read."""
    body: dict[str, Any] = {"acked_through": ack.acked_through, "applied": ack.applied,
                            "repeated": ack.repeated, "conflicts": ack.conflicts}
    if ack.refused:
        body["refused"] = [{"seq": r.seq, "code": r.code, "message": r.message,
                            **({"details": r.details} if r.details is not None else {})}
                           for r in ack.refused]
    return body


def encode_ack(ack: Ack) -> bytes:
    return compact_json(ack_dict(ack)).encode("utf-8")


def decode_ack(data: bytes) -> Ack:
    return ack_from_dict(unpack(data, compressed=False))


def ack_from_dict(payload: Any) -> Ack:
    if not isinstance(payload, dict):
        raise ProtocolError("确认消息应为 JSON 对象")
    body = _load(_AckSchema(), payload)
    refused = tuple(Refused(r["seq"], r["code"], r["message"], r.get("details"))
                    for r in body.pop("refused"))
    return Ack(**body, refused=refused)


@dataclass(frozen=True)
class PullPageMessage:
    entries: list[PulledEntry]
    cursor: int
    more: bool
    villages: list[str]


def page_dict(entries: list[PulledEntry], cursor: int, more: bool,
              villages: list[str], *, compact: bool = True) -> dict[str, Any]:
    return {"entries": [e.to_wire(compact) for e in entries], "cursor": cursor, "more": more,
            "villages": villages}


def entry_json(entry: PulledEntry, compact: bool = True) -> str:
    """One entry's wire form as JSON text, as :func:`pack_pull_page` takes it."""
    return compact_json(entry.to_wire(compact))


def encode_pull_page(entries: list[PulledEntry], cursor: int, more: bool,
                     villages: list[str], *, compact: bool = True) -> bytes:
    return pack_pull_page([entry_json(e, compact) for e in entries], cursor, more, villages)


def pack_pull_page(entry_texts: list[str], cursor: int, more: bool,
                   villages: list[str]) -> bytes:
    """A pull page from entries already encoded as JSON: the same JSON :func:`pack` makes of
    :func:`page_dict`, without decoding and re-encoding every entry (gzipped at
    :data:`PULL_GZIP_LEVEL`)."""
    raw = (f'{{"entries":[{",".join(entry_texts)}],"cursor":{int(cursor)},'
           f'"more":{"true" if more else "false"},"villages":{compact_json(villages)}}}')
    return gzip.compress(raw.encode("utf-8"), compresslevel=PULL_GZIP_LEVEL, mtime=0)


def decode_pull_page(data: bytes) -> PullPageMessage:
    return page_from_dict(unpack(data))


def page_from_dict(payload: Any) -> PullPageMessage:
    if not isinstance(payload, dict):
        raise ProtocolError("拉取页应为 JSON 对象")
    body = _load(_PullSchema(), payload)
    try:
        entries = [PulledEntry.from_wire(raw) for raw in body["entries"]]
    except (TypeError, ValueError, AttributeError) as err:
        raise ProtocolError(f"拉取页格式不正确: {err}") from None
    return PullPageMessage(entries, body["cursor"], body["more"], body["villages"])
