"""Enrolment for devices, and device administration for admins (codes, revoke, wipe)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate

from .. import enrolment
from ..accounts import revoke_device
from ..auth import current_user, user_scope
from ..db import get_gate, get_storage
from ..errors import BadRequest, Forbidden, NotFound

bp = Blueprint("devices", __name__, url_prefix="/api/v1")

VILLAGE = validate.Regexp(r"^\d{12}$", error="应为12位村级区划代码")


class EnrolBody(Schema):
    code = fields.String(required=True, validate=validate.Length(min=12, max=20))
    sign_key = fields.String(required=True, validate=validate.Length(max=64))
    box_key = fields.String(required=True, validate=validate.Length(max=64))
    app_version = fields.String(load_default=None, validate=validate.Length(max=40))


class CodeBody(Schema):
    user = fields.String(required=True, validate=validate.Length(min=1, max=60))
    villages = fields.List(fields.String(validate=VILLAGE), required=True,
                           validate=validate.Length(min=1, max=200))
    hours = fields.Integer(load_default=enrolment.DEFAULT_HOURS, strict=True)


def _load(schema: Schema, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadRequest("请求体应为 JSON 对象", code="bad_json")
    try:
        return dict(schema.load(data))
    except ValidationError as err:
        raise BadRequest("请求参数不正确", details=err.messages) from None


@bp.post("/enrol")
def enrol():  # type: ignore[no-untyped-def]
    """A device trades a one-time code and its public keys for its identity."""
    body = _load(EnrolBody(), request.get_json(silent=True))
    device = enrolment.enrol(get_storage(), body["code"], body["sign_key"], body["box_key"])
    return jsonify({"device_id": device.id, "user": device.user_name,
                    "villages": device.villages,
                    "server_keys": get_gate().keyring.public(),
                    "confirm_by": enrolment.confirm_by(get_storage(), device.id)}), 201


@bp.post("/admin/enrolment-codes")
def issue_code():  # type: ignore[no-untyped-def]
    admin = current_user("admin")
    body = _load(CodeBody(), request.get_json(silent=True))
    scope = user_scope(admin)
    outside = [v for v in body["villages"] if not scope(v)]
    if outside:
        raise Forbidden(f"无权为村 {outside[0]} 发放注册码", code="out_of_scope")
    code, expires = enrolment.issue_code(get_storage(), body["user"], body["villages"],
                                         actor=admin.name, hours=body["hours"])
    return jsonify({"code": code, "expires_at": expires, "user": body["user"],
                    "villages": sorted(set(body["villages"]))}), 201


@bp.get("/admin/enrolment-codes")
def list_codes():  # type: ignore[no-untyped-def]
    current_user("admin")
    return jsonify({"codes": [{k: v for k, v in c.items() if k != "code_hash"}
                              for c in get_storage().list_enrolment_codes()]})


@bp.post("/admin/enrolment-codes/<hint>/withdraw")
def withdraw_code(hint: str):  # type: ignore[no-untyped-def]
    admin = current_user("admin")
    return jsonify({"withdrawn": enrolment.withdraw_code(get_storage(), hint,
                                                         actor=admin.name)})


def device_view(device: Any) -> dict[str, Any]:
    data = asdict(device)
    data.pop("sign_key", None)
    data.pop("box_key", None)
    data.pop("token_hash", None)
    return data


@bp.get("/admin/devices")
def list_devices():  # type: ignore[no-untyped-def]
    """Sync health: every device in scope with its last contact and progress."""
    user = current_user("supervisor", "admin")
    scope = user_scope(user)
    storage = get_storage()
    # A device that has not confirmed its enrolment yet: until when it may (its code's expiry).
    unconfirmed = {c["device_id"]: c["expires_at"] for c in storage.list_enrolment_codes()
                   if c["device_id"] and not c["used_at"]}
    return jsonify({"devices": [{**device_view(d), "confirm_by": unconfirmed.get(d.id)}
                                for d in storage.list_devices()
                                if any(scope(v) for v in d.villages)]})


def _device_in_scope(device_id: str, admin: Any) -> None:
    device = get_storage().get_device(device_id)
    if device is None or not any(user_scope(admin)(v) for v in device.villages):
        raise NotFound(f"没有设备 {device_id}")


@bp.post("/admin/devices/<device_id>/revoke")
def revoke(device_id: str):  # type: ignore[no-untyped-def]
    admin = current_user("admin")
    _device_in_scope(device_id, admin)
    revoke_device(get_storage(), device_id, actor=admin.name)
    return jsonify({"revoked": device_id})


@bp.post("/admin/devices/<device_id>/wipe")
def wipe(device_id: str):  # type: ignore[no-untyped-def]
    admin = current_user("admin")
    _device_in_scope(device_id, admin)
    revoke_device(get_storage(), device_id, actor=admin.name, wipe=True)
    return jsonify({"wipe_ordered": device_id})
