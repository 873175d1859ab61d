"""Refused changes for supervisors: list them, mark one resolved (see :mod:`server.refusals`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate

from ..auth import current_user, user_scope
from ..db import get_storage
from ..errors import BadRequest
from ..refusals import refusal_view, resolve_refusal, scope_prefixes
from .conflicts import MAX_OFFSET, SUPERVISORS

bp = Blueprint("refusals", __name__, url_prefix="/api/v1")

STATUSES = {"open": ("open",), "resolved": ("resolved",), "all": ("open", "resolved")}


class ListQuery(Schema):
    status = fields.String(load_default="open", validate=validate.OneOf(sorted(STATUSES)))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_OFFSET))


class ResolveBody(Schema):
    comment = fields.String(required=True, validate=validate.Length(
        min=1, max=500, error="处理说明必填，最多500字"))


def _load(schema: Schema, data: Any) -> dict[str, Any]:
    try:
        return dict(schema.load(data))
    except ValidationError as err:
        raise BadRequest("请求参数不正确", details=err.messages) from None


@bp.get("/refused-changes")
def list_refused():  # type: ignore[no-untyped-def]
    """Refused changes in the supervisor's scope, newest first, with the total."""
    user = current_user(*SUPERVISORS)
    query = _load(ListQuery(), request.args.to_dict())
    villages = scope_prefixes(user)
    statuses = STATUSES[query["status"]]
    storage = get_storage()
    found = storage.list_refusals(scope=villages, statuses=statuses,
                                  limit=query["limit"], offset=query["offset"])
    return jsonify({"refused": [refusal_view(r) for r in found],
                    "total": storage.count_refusals(scope=villages, statuses=statuses)})


@bp.post("/refused-changes/<int:refusal_id>/resolve")
def resolve(refusal_id: int):  # type: ignore[no-untyped-def]
    user = current_user(*SUPERVISORS)
    body = request.get_json(silent=True)
    if body is None:
        raise BadRequest("请求体应为 JSON 对象", code="bad_json")
    comment = _load(ResolveBody(), body)["comment"]
    settled = resolve_refusal(get_storage(), refusal_id, comment, user, user_scope(user))
    return jsonify(refusal_view(settled))
