"""Errors of the field app; each has a stable ``code`` and a Chinese message."""

from __future__ import annotations

from ..errors import CunsyncError


class FieldAppError(CunsyncError):
    """Base of the field app's own errors."""

    code = "field_app_error"


class TooManyAttempts(FieldAppError):
    """Too many wrong passphrases in a row: wait before trying again."""

    code = "too_many_attempts"


class CsrfRefused(FieldAppError):
    """A form came without this browser's session token (expired page or another site)."""

    code = "csrf_refused"


class StoreMissing(FieldAppError):
    """The device store file is not there (never enrolled, or wiped)."""

    code = "store_missing"
