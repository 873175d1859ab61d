"""Errors of the device kit (store, migrator, sync client). Each has a stable ``code``."""

from __future__ import annotations

from typing import Any


class CunsyncError(Exception):
    """Base class of every error the kit raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationFailed(CunsyncError):
    """A record failed its schema; ``details`` maps field names to Chinese messages."""

    code = "invalid_record"


class NotFound(CunsyncError):
    """No such record (or it was deleted)."""

    code = "not_found"


class RuleViolation(CunsyncError):
    """A domain rule refused the write (such as one person, one post)."""

    code = "rule_violation"


class OutOfScope(CunsyncError):
    """A write for a village outside this device's scope (the county would refuse it)."""

    code = "out_of_scope"


class Locked(CunsyncError):
    """The store is locked: unlock it with the worker's passphrase."""

    code = "locked"


class MigrationError(CunsyncError):
    """Base of migration errors: the database was left as it was."""

    code = "migration_error"


class DatabaseTooNew(MigrationError):
    """The database has migrations this code does not know: upgrade the software."""

    code = "database_too_new"


class ChecksumMismatch(MigrationError):
    """An applied migration file was changed after it was applied."""

    code = "migration_checksum_mismatch"


class SyncError(CunsyncError):
    """The server refused or could not be reached; the outbox is kept."""

    code = "sync_failed"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: Any = None) -> None:
        super().__init__(message, details=details)
        if code:
            self.code = code
        self.status = status


class Offline(SyncError):
    """The server could not be reached, or its reply did not arrive whole; nothing was lost."""

    code = "offline"


class NoNetwork(Offline):
    """No route to the server at all (no network, or its name does not resolve)."""

    code = "no_network"


class ServerUnreachable(Offline):
    """The network works but the server refused the connection (not running, wrong address)."""

    code = "server_unreachable"


class ServerTimeout(Offline):
    """The server took the request but did not answer in time."""

    code = "server_timeout"


class ConnectionCut(Offline):
    """The connection broke before the whole reply arrived."""

    code = "connection_cut"


class ServerBusy(SyncError):
    """The server answered 503: its database was busy; the request changed nothing."""

    code = "server_busy"

    def __init__(self, message: str, *, retry_after: float | None = None,
                 status: int | None = 503) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after
