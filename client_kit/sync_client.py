"""The device's sync: push the outbox, then pull the server's log, resumable at any point.

Each push batch is acknowledged before its outbox entries are dropped, and the server applies
a sequence at most once, so a batch interrupted at any byte is simply sent again. Each pulled
page is stored with its cursor in one transaction, so a pull interrupted anywhere resumes after
the last stored page. Every message travels sealed (:class:`~client_kit.channel.Channel`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator, NamedTuple

from .channel import Channel
from .engine.errors import ProtocolError
from .engine.hlc import physical_ms
from .engine.protocol import (SCHEMA_VERSION, PullPageMessage, decode_ack, decode_pull_page,
                              pack, pack_push, unpack)
from .errors import CunsyncError, SyncError
from .store import DeviceStore

#: Pending writes stamped further than this ahead of the server's clock are re-stamped.
CLOCK_REPAIR_MS = 3600 * 1000

#: Entries asked for in a pull's first page; later pages are ``page_size``. The server
#: prepares the first page while the device waits idle, so it is kept small.
FIRST_PAGE = 200

#: A push batch doubles, up to ``max_batch_size`` changes, after an answer that came back
#: within this many seconds (a fast link and a server that keeps up: fewer, larger commits),
#: and halves, down to ``batch_size``, after one slower than :data:`SHRINK_AFTER_S` (a slow
#: link: a cut then costs less to send again).
GROW_WITHIN_S = 1.0
SHRINK_AFTER_S = 5.0
#: Changes in the largest push batch (about 200 KB on the wire).
MAX_BATCH = 4000

#: ``progress(stage, done, total)``; stage is "push" or "pull".
Progress = Callable[[str, int, int], None]


class Wiped(CunsyncError):
    """The county ordered this device wiped: its keys and data are gone."""

    code = "wiped"


@dataclass
class SyncSummary:
    sent: int = 0
    received: int = 0
    conflicts: int = 0
    repeated: int = 0
    #: Changes the county refused on their own, now set aside on this device.
    refused: int = 0
    #: The county server was restored from a backup since this device last synced.
    restored: bool = False
    #: Own changes queued again because the restored server had lost them.
    resent: int = 0
    #: Rows kept on this device that the restored server no longer has, or holds older values
    #: of, written by others (listed in the store's meta ``lost_on_server``).
    lost_on_server: int = 0


class SyncClient:
    """Syncs one :class:`DeviceStore` through one :class:`Channel`."""

    def __init__(self, store: DeviceStore, channel: Channel, *, batch_size: int = 500,
                 max_batch_size: int = MAX_BATCH, page_size: int = 1000,
                 app_version: str = "0.1.0") -> None:
        self.store = store
        self.channel = channel
        self.clock_repaired = False
        #: Changes in the first push batch; later ones grow to ``max_batch_size``.
        self.batch_size = batch_size
        self.max_batch_size = max(batch_size, max_batch_size)
        self.page_size = page_size
        self.app_version = app_version

    def sync(self, progress: Progress | None = None) -> SyncSummary:
        """Push everything pending, then pull everything new."""
        summary = SyncSummary()
        # Read before the hello, which starts the pull over for a device given a new village.
        cursor = int(self.store.meta("cursor", "0") or 0)
        hello = self.hello()
        head = hello.get("head")
        head = head if isinstance(head, int) and not isinstance(head, bool) else None
        epoch = hello.get("epoch")
        if isinstance(epoch, str):
            stored = self.store.meta("epoch")
            went_back = stored not in (None, epoch) or (head is not None and head < cursor)
            if went_back or (stored is None and cursor > 0):
                self.recover(epoch, summary, progress, head=head or 0, certain=went_back)
            elif stored is None:
                self.store.set_meta("epoch", epoch)  # first contact, nothing pulled yet
        self.push(summary, progress)
        self.pull(summary, progress, head=head or 0)
        self.store.set_meta("last_sync", dt.datetime.now(dt.timezone.utc).isoformat(
            timespec="seconds"))
        return summary

    def hello(self) -> dict[str, Any]:
        """First contact: server keys, scope, a wipe order, schema versions."""
        reply = _unpacked(self.channel.request("hello", 0, pack({
            "schema_version": SCHEMA_VERSION, "app_version": self.app_version,
            "pending": self.store.pending_count(),
            "cursor": int(self.store.meta("cursor", "0") or 0)})))
        obey_reply(self.store, self.channel, reply)
        self._mind_the_clock(reply.get("server_time_ms"))
        if SCHEMA_VERSION < int(reply.get("min_client_schema", 0)):
            raise SyncError("本设备软件版本过旧，请升级后再同步；未同步的记录仍保留在本设备上",
                            code="upgrade_required")
        return reply

    def recover(self, epoch: str, summary: SyncSummary, progress: Progress | None = None,
                head: int = 0, certain: bool = True) -> None:
        """The server was restored from a backup (its epoch changed): its log, and what it
        knew of this device, went back in time. Pull its whole log again, noting the newest
        version of every field it has, then queue again this device's own writes it lacks
        and name the rows it lacks that others wrote (see
        :meth:`~client_kit.store.DeviceStore.resend_after_restore`). The new epoch is adopted
        with the queued writes, in one transaction: a sync cut before that starts over.

        It also runs when the device cannot tell whether the server went back: it knows no
        epoch yet but has pulled before (it synced only by USB bundle, which carries none, or
        ran a release before epochs), or the hello's ``head`` lies below its cursor (a server
        that went back without a new epoch). Recovery is idempotent: against a server that
        lost nothing it queues nothing and names nothing. Then ``certain`` is false, and the
        summary reports a restore only if the server did lack something."""
        summary.restored = summary.restored or certain
        self.store.set_meta("cursor", "0")
        known: dict[tuple[str, str], dict[str, Any]] = {}

        def note(entries: list[Any]) -> None:
            for entry in entries:
                versions = known.setdefault((entry.record_type, entry.row_id), {})
                for name, version in entry.versions.items():
                    if version and (versions.get(name) is None or version > versions[name]):
                        versions[name] = version

        self.pull(summary, progress, head=head, observe=note)
        summary.resent, lost = self.store.resend_after_restore(known, epoch)
        summary.lost_on_server = len(lost)
        summary.restored = summary.restored or bool(summary.resent or lost)

    def _mind_the_clock(self, server_ms: Any) -> None:
        """Re-stamp pending writes made while this device's clock ran far ahead."""
        if not isinstance(server_ms, int):
            return
        if physical_ms(self.store.newest_pending_hlc()) > server_ms + CLOCK_REPAIR_MS:
            self.store.restamp_outbox(server_ms)
            self.clock_repaired = True

    def push(self, summary: SyncSummary, progress: Progress | None = None) -> None:
        """Send the outbox in batches, each acknowledged before its entries are dropped.

        One batch is in flight at a time, and the server sees them in order. While it works
        on one, the device packs the next; once the answer is in, the next batch goes out
        first and the acknowledged entries are dropped while it travels (a crash in between
        only means those entries are sent again and acknowledged as repeated). Batches start
        at ``batch_size`` changes and grow while answers come back quickly
        (:data:`GROW_WITHIN_S`).
        """
        total = self.store.pending_count()
        done = 0
        size = self.batch_size
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cunsync-push") as net:
            batch = self._next_batch(after_seq=0, size=size)
            if batch is not None:
                flight = self.channel.send("push", batch.first, batch.body, net)
                sent_at = time.monotonic()
            while batch is not None:
                upcoming = self._next_batch(after_seq=batch.last, size=size)
                ack = decode_ack(flight.reply())
                size = self._resized(size, time.monotonic() - sent_at)
                if ack.acked_through < batch.last:
                    raise SyncError("服务器确认不完整，稍后重试", code="partial_ack")
                if upcoming is not None:
                    flight = self.channel.send("push", upcoming.first, upcoming.body, net)
                    sent_at = time.monotonic()
                self.store.acknowledge(ack.acked_through, ack.refused)
                summary.refused += len(ack.refused)
                summary.sent += ack.applied
                summary.repeated += ack.repeated
                summary.conflicts += ack.conflicts
                done += batch.count
                if progress:
                    progress("push", done, max(total, done))
                batch = upcoming

    def _resized(self, size: int, answered_in_s: float) -> int:
        """The next batch's size after an answer that took ``answered_in_s`` seconds."""
        if answered_in_s <= GROW_WITHIN_S:
            return min(size * 2, self.max_batch_size)
        if answered_in_s > SHRINK_AFTER_S:
            return max(size // 2, self.batch_size)
        return size

    def _next_batch(self, after_seq: int, size: int) -> "_PushBatch | None":
        """The outbox's next ``size`` changes after ``after_seq``, packed, or ``None``."""
        changes = self.store.pending_wire(limit=size, after_seq=after_seq)
        if not changes:
            return None
        body = pack_push([text for _, text in changes], app_version=self.app_version)
        return _PushBatch(changes[0][0], changes[-1][0], len(changes), body)

    def pull(self, summary: SyncSummary, progress: Progress | None = None,
             head: int = 0, observe: Callable[[list[Any]], None] | None = None) -> None:
        """Pull pages until the log's end, each stored with its cursor in one transaction.

        The request for the next page goes out before this page is applied, so the server
        prepares it meanwhile. A failed request surfaces after the page before it is stored.
        ``observe`` sees every page's entries before they are applied.
        """
        start = int(self.store.meta("cursor", "0") or 0)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cunsync-pull") as net:
            # A small first page gives the device work sooner; the rest come in full pages.
            first = self._pull_message(start, limit=min(self.page_size, FIRST_PAGE))
            flight = self.channel.send("pull", start, first, net)
            while True:
                with _collector_paused():
                    page = decode_pull_page(flight.reply())
                    if page.more:
                        flight = self.channel.send("pull", page.cursor,
                                                   self._pull_message(page.cursor), net)
                    if observe is not None:
                        observe(page.entries)
                    summary.received += apply_page(self.store, page)
                if progress:
                    done = page.cursor - start
                    progress("pull", done, max(head - start, done))
                if not page.more:
                    break

    def _pull_message(self, after: int, limit: int | None = None) -> bytes:
        return pack({"after": after, "limit": limit or self.page_size,
                     "schema_version": SCHEMA_VERSION})


class _PushBatch(NamedTuple):
    first: int  # sequence of its first change
    last: int
    count: int
    body: bytes  # the packed push message


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while one page is decoded and applied.

    A page makes thousands of small dicts and lists that die with it and form no cycles; the
    collector would walk them again and again as they are made (a sixth of the device's pull
    time). Reference counting frees them as usual; collection resumes after the page.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _unpacked(payload: bytes) -> dict[str, Any]:
    try:
        return unpack(payload)
    except ProtocolError as err:
        raise SyncError(str(err), code="bad_message") from None


def obey_reply(store: DeviceStore, channel: Channel, reply: dict[str, Any]) -> None:
    """Adopt what a verified server reply says: its keys, a wipe order, the device's villages."""
    channel.trust_server_keys(reply.get("server_keys"))
    if reply.get("wipe"):
        store.destroy()
        raise Wiped("县级管理员已下令清除本设备：密钥和本地数据已销毁")
    villages = reply.get("villages")
    if isinstance(villages, list):
        adopt_scope(store, [str(v) for v in villages])


def adopt_scope(store: DeviceStore, villages: list[str]) -> None:
    """A device given new villages must see their history from the start."""
    known = json.loads(store.meta("villages", "[]") or "[]")
    if sorted(villages) != sorted(known):
        with store.transaction():
            if set(villages) - set(known):
                store.set_meta("cursor", "0")
            store.set_meta("villages", json.dumps(sorted(villages)))


def apply_page(store: DeviceStore, page: PullPageMessage) -> int:
    """Apply one page, skipping entries at or before the stored cursor (a page seen twice)."""
    cursor = int(store.meta("cursor", "0") or 0)
    if page.cursor < cursor and page.entries:
        return 0
    fresh = [e for e in page.entries if e.cursor > cursor]
    store.apply_pulled(fresh, max(page.cursor, cursor))
    return len(fresh)
