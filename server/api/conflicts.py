"""Conflict review for supervisors: list, detail, resolve, acknowledge; a row's history."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from flask import Blueprint, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate

from client_kit.domain import RECORD_TYPES

from ..auth import current_user, scope_villages, user_scope
from ..db import get_storage, get_sync
from ..errors import BadRequest, InvalidRecord, NotFound
from ..storage import ConflictRecord

bp = Blueprint("conflicts", __name__, url_prefix="/api/v1")

SUPERVISORS = ("supervisor", "admin")
#: ``candidate``: a later change to a disputed field, joined to the field's open conflict.
STATUSES = ("open", "auto", "resolved", "acknowledged", "superseded", "candidate")

#: Bounds of integers a caller gives: far beyond any real value, inside SQLite's 64-bit
#: integers and ``datetime``'s range (a number beyond them is a 400, never a 500).
MAX_ID = 2 ** 53
MAX_OFFSET = 2 ** 31
MAX_AGE_DAYS = 36500


class ListQuery(Schema):
    village = fields.String(load_default=None)
    record_type = fields.String(load_default=None,
                                validate=validate.OneOf(sorted(RECORD_TYPES)))
    status = fields.String(load_default="open", validate=validate.OneOf(
        list(STATUSES)))
    min_age_days = fields.Integer(load_default=None, validate=validate.Range(min=0,
                                                                           max=MAX_AGE_DAYS))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_OFFSET))


class ResolveBody(Schema):
    action = fields.String(required=True, validate=validate.OneOf(
        ["current", "incoming", "corrected"], error="处理方式应为 current、incoming 或 corrected"))
    value = fields.Raw(load_default=None, allow_none=True)
    #: Other fields of the row set in the same step (and, for ``corrected``, the field itself).
    values = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True),
                         load_default=None, validate=validate.Length(max=50))
    #: For ``incoming``: which candidate to take (default: the conflict's own incoming value).
    candidate = fields.Integer(strict=True, load_default=None,
                               validate=validate.Range(min=1, max=2 ** 63 - 1))
    comment = fields.String(required=True, validate=validate.Length(
        min=1, max=500, error="处理意见必填，最多500字"))


class AcknowledgeBody(Schema):
    ids = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID)),
                      required=True, validate=validate.Length(min=1, max=1000))


def _load(schema: Schema, data: Any) -> dict[str, Any]:
    try:
        return dict(schema.load(data))
    except ValidationError as err:
        raise BadRequest("请求参数不正确", details=err.messages) from None


def _json_body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise BadRequest("请求体应为 JSON 对象", code="bad_json")
    return body


def conflict_view(conflict: ConflictRecord) -> dict[str, Any]:
    """A conflict as the API shows it, with labels a supervisor reads."""
    rt = RECORD_TYPES[conflict.record_type]
    data = asdict(conflict)
    data["record_label"] = rt.label
    data["field_label"] = rt.label_of(conflict.field)
    for key in ("base_version", "current_version", "incoming_version"):
        data[key] = list(data[key]) if data[key] else None
    return data


@bp.get("/conflicts")
def list_conflicts():  # type: ignore[no-untyped-def]
    user = current_user(*SUPERVISORS)
    query = _load(ListQuery(), request.args.to_dict())
    villages = scope_villages(user)
    if query["village"]:
        if not user_scope(user)(query["village"]):
            villages = []
        else:
            villages = [query["village"]]
    older_than = None
    if query["min_age_days"]:
        older_than = (dt.datetime.now(dt.timezone.utc)
                      - dt.timedelta(days=query["min_age_days"])).isoformat(timespec="seconds")
    storage = get_storage()
    conflicts = storage.list_conflicts(
        villages=villages, statuses=(query["status"],), record_type=query["record_type"],
        older_than=older_than, limit=query["limit"], offset=query["offset"])
    counts = storage.count_conflicts(villages=villages, statuses=(query["status"],))
    return jsonify({"conflicts": [conflict_view(c) for c in conflicts], "counts": counts,
                    "total": sum(counts.values())})


def _conflict_in_scope(conflict_id: int) -> tuple[ConflictRecord, Any]:
    user = current_user(*SUPERVISORS)
    conflict = get_storage().get_conflict(conflict_id)
    if conflict is None or not user_scope(user)(conflict.village_code):
        raise NotFound("没有这条冲突记录")
    return conflict, user


@bp.get("/conflicts/<int:conflict_id>")
def conflict_detail(conflict_id: int):  # type: ignore[no-untyped-def]
    conflict, _ = _conflict_in_scope(conflict_id)
    storage = get_storage()
    row = storage.load_rows(conflict.record_type, [conflict.row_id]).get(conflict.row_id)
    view = conflict_view(conflict)
    view["row"] = dict(row.state.values) if row else None
    view["row_disputed"] = sorted(row.state.disputed) if row else []
    view["candidates"] = [candidate_view(c) for c in get_sync().candidates(conflict)]
    # Rows the held value would clash with (一人一岗: the person's other post, in force).
    view["rivals"] = [{"id": r.id, "village_code": r.village_code, **r.state.values}
                      for r in get_sync().rivals(conflict)]
    if conflict.status == "candidate":
        head = storage.conflict_head(conflict_id)
        view["joined_to"] = head.id if head else None
    return jsonify(view)


def candidate_view(conflict: ConflictRecord) -> dict[str, Any]:
    """One candidate: its id (to take it), value, version, device, user and time."""
    return {"id": conflict.id, "value": conflict.incoming_value,
            "version": list(conflict.incoming_version), "device": conflict.incoming_device,
            "user_name": conflict.incoming_user_name, "seq": conflict.incoming_seq,
            "created_at": conflict.created_at}


@bp.post("/conflicts/<int:conflict_id>/resolve")
def resolve(conflict_id: int):  # type: ignore[no-untyped-def]
    user = current_user(*SUPERVISORS)
    body = _load(ResolveBody(), _json_body())
    if body["action"] == "corrected" and body["value"] is None and not body["values"]:
        raise InvalidRecord("选择更正时必须填写更正后的值", details={"value": ["必填"]})
    settled = get_sync().resolve(conflict_id, body["action"], body["value"], body["comment"],
                                 user, user_scope(user), candidate=body["candidate"],
                                 values=body["values"])
    return jsonify(conflict_view(settled))


@bp.post("/conflicts/acknowledge")
def acknowledge():  # type: ignore[no-untyped-def]
    user = current_user(*SUPERVISORS)
    body = _load(AcknowledgeBody(), _json_body())
    count = get_sync().acknowledge(body["ids"], user, user_scope(user))
    return jsonify({"acknowledged": count})


@bp.get("/records/<record_type>/<row_id>/history")
def history(record_type: str, row_id: str):  # type: ignore[no-untyped-def]
    """Every value a row ever had, and every conflict on it: nothing overwritten is lost."""
    user = current_user(*SUPERVISORS)
    if record_type not in RECORD_TYPES:
        raise NotFound("没有这种记录类型")
    storage = get_storage()
    row = storage.load_rows(record_type, [row_id]).get(row_id)
    if row is None or not user_scope(user)(row.village_code):
        raise NotFound("没有这条记录")
    conflicts = storage.list_conflicts(
        villages=[row.village_code], record_type=record_type, row_id=row_id, limit=1000,
        statuses=STATUSES)
    return jsonify({"record_type": record_type, "id": row_id, "current": row.state.values,
                    "deleted": row.state.deleted, "disputed": sorted(row.state.disputed),
                    "changes": storage.history(record_type, row_id),
                    "conflicts": [conflict_view(c) for c in conflicts]})
