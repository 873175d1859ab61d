"""One write transaction per block on a SQLite connection, nested blocks joining the outer one.

Used by the device store and the server's SQLite storage alike: ``BEGIN IMMEDIATE`` takes the
write lock up front (no upgrade deadlocks between readers turned writers), and a block that
raises rolls everything back.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Iterator


class Transactions:
    """Counts nesting for one connection opened with ``isolation_level=None``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.depth = 0

    @contextlib.contextmanager
    def block(self) -> Iterator[None]:
        if self.depth:
            self.depth += 1
            try:
                yield
            finally:
                self.depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self.depth = 1
        try:
            yield
        except BaseException:
            self.depth = 0
            self.conn.execute("ROLLBACK")
            raise
        self.depth = 0
        self.conn.execute("COMMIT")
