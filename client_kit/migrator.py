"""A small migrator: numbered SQL files applied in order, each in its own transaction.

Files are named ``NNNN_name.sql``. Applied migrations are recorded with their checksum in
``schema_migrations``. Before touching anything the migrator refuses a database that has
migrations this code does not know (it is newer than the code) and an applied file whose text
has changed since; in both cases the database is left exactly as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .errors import ChecksumMismatch, DatabaseTooNew, MigrationError

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path) -> list[Migration]:
    """The migrations in ``directory``, in version order."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file name not understood: {path.name}")
        found.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migrations in {directory} must be numbered 1, 2, 3…: {versions}")
    return found


def split_statements(sql: str) -> list[str]:
    """Split a script into complete SQL statements."""
    statements, buffer = [], ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(l.strip().startswith("--") or not l.strip()
                                  for l in buffer.splitlines()):
        raise MigrationError("migration ends with an incomplete statement")
    return statements


class Migrator:
    """Applies ``migrations`` to a connection opened with ``isolation_level=None``."""

    def __init__(self, conn: sqlite3.Connection, migrations: list[Migration]) -> None:
        self.conn = conn
        self.migrations = migrations

    def _ensure_table(self) -> None:
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,"
            " applied_at TEXT NOT NULL)"
        )

    def applied(self) -> dict[int, str]:
        """Applied versions and their recorded checksums."""
        exists = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
        ).fetchone()
        if not exists:
            return {}
        return dict(self.conn.execute("SELECT version, checksum FROM schema_migrations"))

    def current_version(self) -> int:
        return max(self.applied(), default=0)

    def check(self) -> list[Migration]:
        """Refuse a too-new or tampered database; return the pending migrations."""
        applied = self.applied()
        known = {m.version: m for m in self.migrations}
        unknown = sorted(v for v in applied if v not in known)
        if unknown:
            raise DatabaseTooNew(
                f"数据库版本（{max(applied)}）比本软件（{max(known, default=0)}）新，请先升级软件"
                f" (database has migrations {unknown} this code does not know)")
        for version, checksum in applied.items():
            if known[version].checksum != checksum:
                raise ChecksumMismatch(
                    f"已执行的迁移 {version:04d}_{known[version].name} 的内容被改动过，"
                    f"拒绝继续 (checksum of applied migration {version} changed)")
        return [m for m in self.migrations if m.version not in applied]

    def upgrade(self, target: int | None = None, now: dt.datetime | None = None) -> list[int]:
        """Apply pending migrations up to ``target`` (default: all); return versions applied."""
        pending = self.check()
        done = []
        for migration in pending:
            if target is not None and migration.version > target:
                break
            self._apply(migration, now or dt.datetime.now(dt.timezone.utc))
            done.append(migration.version)
        return done

    def _apply(self, migration: Migration, now: dt.datetime) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self._ensure_table()
            for statement in split_statements(migration.sql):
                self.conn.execute(statement)
            self.conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
                " VALUES (?, ?, ?, ?)",
                (migration.version, migration.name, migration.checksum, now.isoformat()),
            )
        except sqlite3.Error as err:
            self.conn.execute("ROLLBACK")
            raise MigrationError(
                f"迁移 {migration.version:04d}_{migration.name} 执行失败，数据库未改动: {err}"
            ) from err
        except BaseException:
            # Not only driver errors (an incomplete last statement, an interrupt): never leave
            # the connection inside a half-applied migration.
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
