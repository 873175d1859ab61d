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


def open_storage(url: str, cipher: FieldCipher | None = None) -> Storage:
    """Open the backend named by ``url`` (``sqlite:///path/to/file``).

    With a ``cipher`` (the server's data key) sensitive fields are sealed at rest in rows, the
    change log and conflicts.
    """
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteStorage

        return SQLiteStorage(url[len("sqlite:///"):], cipher)
    raise ValueError(f"unsupported storage url {url!r} (only sqlite:/// for now)")
