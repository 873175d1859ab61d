"""The HTTP API (``/api/v1``): blueprints and the one JSON error handler."""

from __future__ import annotations

from flask import Flask, current_app, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..errors import ApiError, Busy, StorageBusy, TooLarge

# HTTP errors raised by Flask/werkzeug before our code runs, in the same wire shape.
_HTTP_CODES = {
    400: ("bad_request", "请求格式不正确"),
    401: ("unauthorized", "需要登录"),
    403: ("forbidden", "无权访问"),
    404: ("not_found", "没有这个地址"),
    405: ("method_not_allowed", "不支持此请求方法"),
    413: ("body_too_large", "请求内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
}


def _api_error(err: ApiError):  # type: ignore[no-untyped-def]
    return jsonify(err.to_dict()), err.status, err.headers()


def _storage_busy(err: StorageBusy):  # type: ignore[no-untyped-def]
    """The write lock stayed taken past the busy timeout: everything was rolled back, so the
    client may simply send the same request again later."""
    current_app.logger.warning("answered 503: %s", err)
    return _api_error(Busy(retry_after=int(current_app.config["BUSY_RETRY_AFTER_S"])))


def _http_error(err: HTTPException):  # type: ignore[no-untyped-def]
    status = err.code or 500
    code, message = _HTTP_CODES.get(status, ("http_error", err.name))
    return jsonify({"error": {"code": code, "message": message}}), status


def register(app: Flask) -> None:
    from . import conflicts, devices, docs, refusals, reports, sync

    app.register_blueprint(sync.bp)
    app.register_blueprint(conflicts.bp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(devices.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(refusals.bp)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(StorageBusy, _storage_busy)
    app.register_error_handler(RequestEntityTooLarge,
                               lambda e: _api_error(TooLarge("请求内容过大")))
    app.register_error_handler(HTTPException, _http_error)
