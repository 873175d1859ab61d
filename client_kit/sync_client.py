"""The device's sync: push the outbox, then pull the server's log, resumable at any point.

Each push batch is acknowledged before its outbox entries are dropped, and the server applies
a sequence at most once, so a batch interrupted at any byte is simply sent again. Each pulled
page is stored with its cursor in one transaction, so a pull interrupted anywhere resumes after
the last stored page.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Callable

from .engine.protocol import (SCHEMA_VERSION, decode_ack, decode_pull_page, encode_push)
from .errors import SyncError
from .store import DeviceStore
from .transport import Transport

#: ``progress(stage, done, total)``; stage is "push" or "pull".
Progress = Callable[[str, int, int], None]


@dataclass
class SyncSummary:
    sent: int = 0
    received: int = 0
    conflicts: int = 0
    repeated: int = 0


class SyncClient:
    """Syncs one :class:`DeviceStore` through one :class:`Transport`."""

    def __init__(self, store: DeviceStore, transport: Transport, *, batch_size: int = 500,
                 page_size: int = 1000, app_version: str = "0.1.0") -> None:
        self.store = store
        self.transport = transport
        self.batch_size = batch_size
        self.page_size = page_size
        self.app_version = app_version

    def sync(self, progress: Progress | None = None) -> SyncSummary:
        """Push everything pending, then pull everything new."""
        summary = SyncSummary()
        hello = self.transport.hello()
        if SCHEMA_VERSION < int(hello.get("min_client_schema", 0)):
            raise SyncError("本设备软件版本过旧，请升级后再同步；未同步的记录仍保留在本设备上",
                            code="upgrade_required")
        self._adopt_scope(hello.get("villages", []))
        self.push(summary, progress)
        self.pull(summary, progress, head=int(hello.get("head", 0)))
        self.store.set_meta("last_sync", _now())
        return summary

    def _adopt_scope(self, villages: list[str]) -> None:
        # A device given new villages must see their history from the start.
        known = json.loads(self.store.meta("villages", "[]") or "[]")
        if sorted(villages) != sorted(known):
            with self.store.transaction():
                if set(villages) - set(known):
                    self.store.set_meta("cursor", "0")
                self.store.set_meta("villages", json.dumps(sorted(villages)))

    def push(self, summary: SyncSummary, progress: Progress | None = None) -> None:
        total = self.store.pending_count()
        done = 0
        while True:
            changes = self.store.pending(limit=self.batch_size)
            if not changes:
                break
            body = encode_push(changes, app_version=self.app_version)
            ack = decode_ack(self.transport.push(body))
            if ack.acked_through < changes[-1].seq:
                raise SyncError("服务器确认不完整，稍后重试", code="partial_ack")
            self.store.acknowledge(ack.acked_through)
            summary.sent += ack.applied
            summary.repeated += ack.repeated
            summary.conflicts += ack.conflicts
            done += len(changes)
            if progress:
                progress("push", done, max(total, done))

    def pull(self, summary: SyncSummary, progress: Progress | None = None,
             head: int = 0) -> None:
        start = cursor = int(self.store.meta("cursor", "0") or 0)
        while True:
            page = decode_pull_page(self.transport.pull(cursor, self.page_size))
            if page.cursor < cursor:
                raise SyncError("服务器游标倒退，停止同步", code="cursor_regressed")
            self.store.apply_pulled(page.entries, page.cursor)
            summary.received += len(page.entries)
            cursor = page.cursor
            if progress:
                progress("pull", cursor - start, max(head - start, cursor - start))
            if not page.more:
                break


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
