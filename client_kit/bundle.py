"""USB bundles: the pending push written to a file, and the county's reply read back.

Both files are envelopes (purposes ``bundle`` and ``bundle-reply``): a stick carried by another
team, or lost on the way, reveals nothing. Importing a reply twice changes nothing the second
time: acknowledgements only drop what is acknowledged, and pages at or before the stored cursor
are skipped.
"""

from __future__ import annotations

from pathlib import Path

from .channel import Channel
from .engine.errors import ProtocolError
from .engine.protocol import ack_from_dict, pack, page_from_dict, push_dict, unpack
from .errors import SyncError
from .store import DeviceStore
from .sync_client import SyncSummary, apply_page, obey_reply

#: Outbox entries in one bundle at the most.
MAX_BUNDLE_CHANGES = 200_000


def export_bundle(store: DeviceStore, channel: Channel, path: str | Path, *,
                  app_version: str = "0.1.0") -> int:
    """Write every pending change (and this device's cursor) to ``path``; return how many."""
    changes = store.pending(limit=MAX_BUNDLE_CHANGES)
    payload = pack({"push": push_dict(changes, app_version=app_version),
                    "after": int(store.meta("cursor", "0") or 0)})
    envelope = channel.seal("bundle", changes[0].seq if changes else 0, payload)
    target = Path(path)
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(envelope)
    partial.replace(target)  # never leave half a bundle under the real name
    return len(changes)


def import_reply(store: DeviceStore, channel: Channel, path: str | Path) -> SyncSummary:
    """Apply the county's reply bundle: drop acknowledged changes, store the new data."""
    opened = channel.open(Path(path).read_bytes(), "bundle-reply")
    try:
        reply = unpack(opened.payload)
        obey_reply(store, channel, reply)
        ack = ack_from_dict(reply["ack"])
        pages = [page_from_dict(p) for p in reply["pages"]]
    except (ProtocolError, KeyError, TypeError) as err:
        raise SyncError(f"回复文件格式不正确：{err}", code="bad_message") from None
    summary = SyncSummary(sent=ack.applied, repeated=ack.repeated, conflicts=ack.conflicts,
                          refused=len(ack.refused))
    pulled_before = int(store.meta("cursor", "0") or 0) > 0
    store.acknowledge(ack.acked_through, ack.refused)
    for page in pages:
        summary.received += apply_page(store, page)
    adopt_first_epoch(store, reply.get("epoch"), pulled_before)
    return summary


def adopt_first_epoch(store: DeviceStore, epoch: object, pulled_before: bool) -> None:
    """Keep the server's restore epoch from a reply when this device knows none and had
    pulled nothing before it (so it cannot have missed a restore). Any other difference is
    left for the next network sync, which recovers (a bundle cannot: see docs/protocol.md,
    "After a restore")."""
    if isinstance(epoch, str) and store.meta("epoch") is None and not pulled_before:
        store.set_meta("epoch", epoch)
