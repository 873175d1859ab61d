"""The OpenAPI description of the HTTP API, served at ``/api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from client_kit import __version__

from .report_docs import PATHS as REPORT_PATHS

bp = Blueprint("docs", __name__, url_prefix="/api/v1")

_ERROR = {"$ref": "#/components/responses/Error"}
#: A person: a password (HTTP Basic) or, for scripts, an API token (either one).
_PERSON = [{"basicAuth": []}, {"bearerAuth": []}]
_ENVELOPE = "application/x-cunsync-envelope"
_ENVELOPE_BODY = {"required": True, "description": "an envelope signed by the device and "
                  "sealed to the server (docs/protocol.md, Envelopes)",
                  "content": {_ENVELOPE: {"schema": {"type": "string", "format": "binary"}}}}
_SEALED = {"description": "an envelope sealed to the device",
           "content": {_ENVELOPE: {"schema": {"type": "string", "format": "binary"}}}}


def _op(summary: str, security: list[dict[str, list[str]]] | None, responses: dict[str, Any],
        **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if security is not None:
        op["security"] = security
        if "401" in responses:  # the password lock (docs/operator-guide.md)
            responses = op["responses"] = {**responses, "429": _ERROR}
    op.update(extra)
    return op


def _param(name: str, where: str, schema: dict[str, Any], description: str,
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "schema": schema,
            "description": description}


SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "cunsync county server",
        "version": __version__,
        "description": "Sync for village work teams. The protocol is specified in "
                       "docs/protocol.md; every error has the shape of the Error schema.",
    },
    "paths": {
        "/api/v1/sync/hello": {"post": _op(
            "First contact: scope, log head, server keys, schema versions, a wipe order",
            None, {"200": _SEALED, "400": _ERROR, "401": _ERROR, "403": _ERROR,
                   "409": _ERROR, "426": _ERROR},
            requestBody=_ENVELOPE_BODY)},
        "/api/v1/sync/push": {"post": _op(
            "Push a sealed batch of outbox changes; applied at most once", None,
            {"200": _SEALED, "400": _ERROR, "401": _ERROR, "403": _ERROR, "409": _ERROR,
             "413": _ERROR, "422": _ERROR, "426": _ERROR, "503": _ERROR},
            requestBody=_ENVELOPE_BODY)},
        "/api/v1/sync/pull": {"post": _op(
            "Pull the next sealed page of changes after a cursor, for the device's villages",
            None, {"200": _SEALED, "400": _ERROR, "401": _ERROR, "403": _ERROR,
                   "409": _ERROR, "426": _ERROR},
            requestBody=_ENVELOPE_BODY)},
        "/api/v1/enrol": {"post": _op(
            "Trade a one-time enrolment code and the device's public keys for its identity",
            None, {"201": {"description": "device id, user, villages, server keys, confirm_by "
                                          "(the code stays open until the device's first "
                                          "signed message confirms it)"},
                   "400": _ERROR, "403": _ERROR, "503": _ERROR},
            requestBody={"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["code", "sign_key", "box_key"],
                "properties": {"code": {"type": "string"}, "sign_key": {"type": "string"},
                               "box_key": {"type": "string"}}}}}})},
        "/api/v1/admin/enrolment-codes": {
            "get": _op("Enrolment codes (first four characters only)", _PERSON,
                       {"200": {"description": "codes"}, "401": _ERROR, "403": _ERROR}),
            "post": _op("Issue an enrolment code for a user and villages", _PERSON,
                        {"201": {"description": "the code, shown once"}, "400": _ERROR,
                         "401": _ERROR, "403": _ERROR},
                        requestBody={"required": True, "content": {"application/json": {
                            "schema": {"type": "object", "required": ["user", "villages"],
                                       "properties": {
                                           "user": {"type": "string"},
                                           "villages": {"type": "array",
                                                        "items": {"type": "string"}},
                                           "hours": {"type": "integer"}}}}}})},
        "/api/v1/admin/enrolment-codes/{hint}/withdraw": {"post": _op(
            "Withdraw the unused codes starting with these four characters", _PERSON,
            {"200": {"description": "how many"}, "401": _ERROR, "404": _ERROR},
            parameters=[_param("hint", "path", {"type": "string"}, "first four", True)])},
        "/api/v1/admin/devices": {"get": _op(
            "Sync health of every device in scope", _PERSON,
            {"200": {"description": "devices"}, "401": _ERROR, "403": _ERROR})},
        "/api/v1/admin/devices/{device_id}/revoke": {"post": _op(
            "Revoke a device: its next request is refused", _PERSON,
            {"200": {"description": "revoked"}, "401": _ERROR, "404": _ERROR},
            parameters=[_param("device_id", "path", {"type": "string"}, "device", True)])},
        "/api/v1/admin/devices/{device_id}/wipe": {"post": _op(
            "Revoke a device and order it wiped on its next contact", _PERSON,
            {"200": {"description": "wipe ordered"}, "401": _ERROR, "404": _ERROR},
            parameters=[_param("device_id", "path", {"type": "string"}, "device", True)])},
        "/api/v1/conflicts": {"get": _op(
            "Conflicts in the supervisor's scope, oldest first, with counts", _PERSON,
            {"200": {"description": "conflicts"}, "400": _ERROR, "401": _ERROR,
             "403": _ERROR},
            parameters=[
                _param("village", "query", {"type": "string"}, "village code"),
                _param("record_type", "query", {"type": "string"}, "record type"),
                _param("status", "query", {"type": "string", "enum": [
                    "open", "auto", "resolved", "acknowledged", "superseded", "candidate"]},
                       "status"),
                _param("min_age_days", "query", {"type": "integer", "minimum": 0,
                                                 "maximum": 36500}, "at least this old"),
                _param("limit", "query", {"type": "integer"}, "page size"),
                _param("offset", "query", {"type": "integer", "minimum": 0,
                                           "maximum": 2 ** 31}, "offset")])},
        "/api/v1/conflicts/{conflict_id}": {"get": _op(
            "One conflict with base, current and incoming values, every candidate value"
            " (newest first) and the row", _PERSON,
            {"200": {"description": "conflict"}, "401": _ERROR, "404": _ERROR},
            parameters=[_param("conflict_id", "path", {"type": "integer"}, "id", True)])},
        "/api/v1/conflicts/{conflict_id}/resolve": {"post": _op(
            "Resolve: keep current, take incoming (or a candidate), or a corrected value;"
            " optionally with related fields of the row set in the same change"
            " (schema-validated)",
            _PERSON,
            {"200": {"description": "the settled conflict"}, "400": _ERROR, "401": _ERROR,
             "404": _ERROR, "409": _ERROR, "422": _ERROR},
            parameters=[_param("conflict_id", "path", {"type": "integer"}, "id", True)],
            requestBody={"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Resolution"}}}})},
        "/api/v1/conflicts/acknowledge": {"post": _op(
            "Acknowledge informational last-writer-wins conflicts in bulk", _PERSON,
            {"200": {"description": "how many"}, "400": _ERROR, "401": _ERROR},
            requestBody={"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["ids"],
                "properties": {"ids": {"type": "array", "items": {"type": "integer"}}}}}}})},
        "/api/v1/refused-changes": {"get": _op(
            "Changes the server refused one by one, newest first, in the supervisor's scope",
            _PERSON,
            {"200": {"description": "refused changes and their total", "content": {
                "application/json": {"schema": {"type": "object", "properties": {
                    "refused": {"type": "array",
                                "items": {"$ref": "#/components/schemas/RefusedChange"}},
                    "total": {"type": "integer"}}}}}},
             "400": _ERROR, "401": _ERROR, "403": _ERROR},
            parameters=[
                _param("status", "query", {"type": "string", "enum": [
                    "open", "resolved", "all"]}, "status (default open)"),
                _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000},
                       "page size"),
                _param("offset", "query", {"type": "integer", "minimum": 0,
                                           "maximum": 2 ** 31}, "offset")])},
        "/api/v1/refused-changes/{refusal_id}/resolve": {"post": _op(
            "Mark a refused change resolved, with a comment (audited; changes no record)",
            _PERSON,
            {"200": {"description": "the refused change, resolved"}, "400": _ERROR,
             "401": _ERROR, "404": _ERROR, "409": _ERROR},
            parameters=[_param("refusal_id", "path", {"type": "integer"}, "id", True)],
            requestBody={"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["comment"],
                "properties": {"comment": {"type": "string", "minLength": 1}}}}}})},
        "/api/v1/records/{record_type}/{row_id}/history": {"get": _op(
            "Every value a row ever had and every conflict on it", _PERSON,
            {"200": {"description": "history"}, "401": _ERROR, "404": _ERROR},
            parameters=[
                _param("record_type", "path", {"type": "string"}, "record type", True),
                _param("row_id", "path", {"type": "string"}, "row id", True)])},
        **REPORT_PATHS,
        "/api/v1/openapi.json": {"get": _op(
            "This document", None, {"200": {"description": "OpenAPI 3.1"}})},
    },
    "components": {
        "securitySchemes": {
            "basicAuth": {"type": "http", "scheme": "basic", "description":
                          "a user's name and password. Wrong passwords count towards the one "
                          "lock shared with the console: after CONSOLE_MAX_FAILED_LOGINS in a "
                          "row the name is refused, even with the right password, for "
                          "CONSOLE_LOCK_MINUTES (429 account_locked with Retry-After)"},
            "bearerAuth": {"type": "http", "scheme": "bearer",
                           "bearerFormat": "cst_<id>_<secret>",
                           "description": "an API token for scripts, issued by an operator "
                           "(cunsync-server token issue USER); it acts with its user's role and "
                           "scope, costs no password hash per call, expires and can be revoked "
                           "(401 bad_token, token_revoked, token_expired)"},
        },
        "responses": {"Error": {"description": "a refusal; nothing was changed",
                                "content": {"application/json": {"schema": {
                                    "$ref": "#/components/schemas/Error"}}}}},
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"},
                    "details": {}}}}},
            "Version": {"type": "array", "prefixItems": [{"type": "integer"},
                                                         {"type": "string"}]},
            "Change": {"type": "array", "description":
                       "[seq, record_type, row_id, village, hlc, op, fields, base]"},
            "PushBatch": {"type": "object", "required": ["schema_version", "changes"],
                          "properties": {
                              "schema_version": {"type": "integer"},
                              "app_version": {"type": "string"},
                              "changes": {"type": "array",
                                          "items": {"$ref": "#/components/schemas/Change"}}}},
            "Ack": {"type": "object", "properties": {
                "acked_through": {"type": "integer"}, "applied": {"type": "integer"},
                "repeated": {"type": "integer"}, "conflicts": {"type": "integer"},
                "refused": {"type": "array", "description": "present only when some change "
                            "was refused alone (docs/protocol.md, push rule 4)",
                            "items": {"type": "object", "required": ["seq", "code", "message"],
                                      "properties": {"seq": {"type": "integer"},
                                                     "code": {"type": "string"},
                                                     "message": {"type": "string"},
                                                     "details": {}}}}}},
            "RefusedChange": {"type": "object", "properties": {
                "id": {"type": "integer"}, "device_id": {"type": "string"},
                "user_name": {"type": "string"}, "seq": {"type": "integer"},
                "record_type": {"type": "string"}, "record_label": {"type": "string"},
                "row_id": {"type": "string"}, "village_code": {"type": "string"},
                "code": {"type": "string"}, "code_label": {"type": "string"},
                "message": {"type": "string"}, "details": {},
                "created_at": {"type": "string"},
                "status": {"type": "string", "enum": ["open", "resolved"]},
                "resolved_at": {"type": "string"}, "resolved_by": {"type": "string"},
                "comment": {"type": "string"}}},
            "PullPage": {"type": "object", "properties": {
                "entries": {"type": "array", "items": {"type": "array", "description":
                            "[cursor, record_type, row_id, village, fields, versions, "
                            "deleted, disputed]; versions is one [hlc, device] pair when a "
                            "single write made the entry (schema 2 clients), else an object "
                            "{field: [hlc, device]}"}},
                "cursor": {"type": "integer"}, "more": {"type": "boolean"},
                "villages": {"type": "array", "items": {"type": "string"}}}},
            "Resolution": {"type": "object", "required": ["action", "comment"], "properties": {
                "action": {"type": "string", "enum": ["current", "incoming", "corrected"]},
                "value": {"description": "for corrected: the conflict field's new value"},
                "values": {"type": "object", "maxProperties": 50, "description":
                           "other fields of the row set in the same change (for corrected it"
                           " may hold the conflict's own field instead of value)"},
                "candidate": {"type": "integer", "minimum": 1, "description":
                              "for incoming: the id of the candidate to take (default: the"
                              " conflict's own incoming value)"},
                "comment": {"type": "string", "minLength": 1, "maxLength": 500}}},
        },
    },
}


@bp.get("/openapi.json")
def openapi():  # type: ignore[no-untyped-def]
    return jsonify(SPEC)
