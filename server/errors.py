"""Errors the server answers with. Each has a stable machine ``code`` and an HTTP ``status``.

The wire shape is always ``{"error": {"code": ..., "message": ..., "details": ...}}``;
messages are Chinese, since workers and supervisors read them.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Base class: a refusal the client can act on. Nothing was changed."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code
        if status:
            self.status = status

    def headers(self) -> dict[str, str]:
        """HTTP headers sent with the refusal (none by default)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class BadRequest(ApiError):
    """The request body is malformed (not JSON, wrong shape, wrong types)."""

    code = "bad_request"


class InvalidRecord(ApiError):
    """A record in the request failed its schema."""

    status = 422
    code = "invalid_record"


class Unauthorized(ApiError):
    """No valid credentials."""

    status = 401
    code = "unauthorized"


class AccountLocked(ApiError):
    """Too many wrong passwords for this user name: refused, even the right one, for a while."""

    status = 429
    code = "account_locked"

    def __init__(self, message: str, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = max(1, retry_after)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Forbidden(ApiError):
    """Valid credentials, but not allowed (revoked device, wrong role)."""

    status = 403
    code = "forbidden"


class OutOfScope(ApiError):
    """A row outside the caller's villages."""

    status = 403
    code = "out_of_scope"


class NotFound(ApiError):
    """No such resource."""

    status = 404
    code = "not_found"


class Conflict(ApiError):
    """The request contradicts what the server already holds (a replay, a settled conflict)."""

    status = 409
    code = "conflict"


class UpgradeRequired(ApiError):
    """The client speaks an older schema version than the server accepts."""

    status = 426
    code = "upgrade_required"


class TooLarge(ApiError):
    """The body is larger than the server accepts."""

    status = 413
    code = "body_too_large"


class Busy(ApiError):
    """The database stayed locked by other writers too long; try again after ``retry_after``."""

    status = 503
    code = "server_busy"

    def __init__(self, message: str = "服务器繁忙，请稍后再试；本次请求没有改动任何数据", *,
                 retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class StorageError(Exception):
    """A storage backend failed; the driver's own error is kept as ``__cause__``."""


class StorageBusy(StorageError):
    """The database was locked by another writer for longer than the busy timeout.

    The transaction was rolled back, so nothing changed and the request can be sent again.
    """
