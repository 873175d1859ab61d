"""The server's storage: one narrow interface, so another backend can replace SQLite.

Every backend implements :class:`Storage`; ``tests/storage_conformance.py`` is the one suite
each backend must pass (subclass it with a one-line fixture). The sync logic in
:mod:`server.sync_service` talks only to this interface.
"""

from client_kit.field_cipher import FieldCipher

from .base import (AuditEntry, ConflictRecord, DeviceRecord, LogDraft, RefusalRecord, Storage,
                   StoredRow, UserRecord)

__all__ = ["AuditEntry", "ConflictRecord", "DeviceRecord", "LogDraft", "RefusalRecord", "Storage",
           "StoredRow", "UserRecord"]


def open_storage(url: str, cipher: FieldCipher | None = None, *,
                 busy_timeout_ms: int | None = None) -> Storage:
    """Open the backend named by ``url`` (``sqlite:///path/to/file``).

    With a ``cipher`` (the server's data key) sensitive fields are sealed at rest in rows, the
    change log and conflicts. ``busy_timeout_ms`` is how long a writer waits for another
    one's lock before the request is answered ``503`` (the backend's default when ``None``).
    """
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteStorage

        return SQLiteStorage(url[len("sqlite:///"):], cipher, busy_timeout_ms=busy_timeout_ms)
    raise ValueError(f"unsupported storage url {url!r} (only sqlite:/// for now)")
