"""CPU time per record of each sync stage, in one process, without HTTP or envelopes.

    .venv/bin/python bench/stages_bench.py [--records 10000] [--batch-size 500] [--page-size 1000]

Writes the same realistic records as ``sync_bench.py`` into a keyed device store (sealed
fields and outbox), then times, with ``time.process_time``:

- the device reading and packing its outbox (``pending_wire`` + ``pack_push``),
- the server applying each push (``decode_push`` + ``SyncService.push``, commit included),
- the server serving every pull page (``pull_wire`` + ``pack_pull_page``),
- a fresh keyed device decoding and applying those pages (gunzip and JSON, ``from_wire``,
  ``apply_page``),
- and, as a floor, inserting the fresh device's own encoded rows into another store's tables
  with one ``executemany`` per table.

Every store is a real SQLite file in a temporary directory, removed at the end. The cyclic
garbage collector runs at the server's setting (``GC_THRESHOLD``) throughout.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_bench import VILLAGE, plan_for, write_records  # noqa: E402

from client_kit.domain import RECORD_TYPES  # noqa: E402
from client_kit.engine.protocol import (decode_push, pack_pull_page, pack_push,  # noqa: E402
                                        page_from_dict, unpack)
from client_kit.field_cipher import FieldCipher  # noqa: E402
from client_kit.keystore import generate  # noqa: E402
from client_kit.store import DeviceStore  # noqa: E402
from client_kit.sync_client import apply_page  # noqa: E402
from server import tune_collector  # noqa: E402
from server.accounts import add_device_record, create_user  # noqa: E402
from server.config import DEFAULTS  # noqa: E402
from server.storage.sqlite import SQLiteStorage  # noqa: E402
from server.sync_service import SyncService  # noqa: E402


def keyed_store(path: Path) -> DeviceStore:
    store = DeviceStore.open(path)
    store.install_keys(generate(), "stages-bench")
    return store


def per_record(seconds: float, records: int) -> str:
    return f"{seconds * 1e6 / records:6.1f} µs/record"


def run(records: int, batch_size: int, page_size: int, workdir: Path) -> list[tuple[str, float]]:
    device = keyed_store(workdir / "device.sqlite")
    write_records(device, plan_for(records, VILLAGE))
    n = device.pending_count()

    start = time.process_time()
    bodies, after = [], 0
    while batch := device.pending_wire(limit=batch_size, after_seq=after):
        bodies.append(pack_push([text for _, text in batch], app_version="bench"))
        after = batch[-1][0]
    pack_s = time.process_time() - start

    server = SQLiteStorage(str(workdir / "server.sqlite"), FieldCipher(os.urandom(32)))
    server.upgrade()
    with server.atomic():
        create_user(server, "bench", "worker", [VILLAGE], "bench-password")
        record = add_device_record(server, "bench", [VILLAGE], device_id=device.device_id)
    sync = SyncService(server)
    start = time.process_time()
    for body in bodies:
        message = decode_push(body)
        sync.push(record, message.changes, app_version="bench",
                  schema_version=message.schema_version)
    push_s = time.process_time() - start

    start = time.process_time()
    pages, cursor = [], 0
    while True:
        page = sync.pull_wire(record, cursor, page_size)
        pages.append(pack_pull_page(page.entry_texts, page.cursor, page.more, record.villages))
        cursor = page.cursor
        if not page.more:
            break
    serve_s = time.process_time() - start

    fresh = keyed_store(workdir / "fresh.sqlite")
    decode_s = read_s = apply_s = 0.0
    for body in pages:
        t0 = time.process_time()
        payload = unpack(body)
        t1 = time.process_time()
        page_message = page_from_dict(payload)
        t2 = time.process_time()
        apply_page(fresh, page_message)
        t3 = time.process_time()
        decode_s, read_s, apply_s = decode_s + t1 - t0, read_s + t2 - t1, apply_s + t3 - t2

    floor = keyed_store(workdir / "floor.sqlite")
    tables = []
    for rt in RECORD_TYPES.values():
        cur = fresh.conn.execute(f"SELECT * FROM {rt.table}")
        tables.append((rt.table, [c[0] for c in cur.description], cur.fetchall()))
    start = time.process_time()
    with floor.transaction():
        for table, columns, rows in tables:
            if rows:
                floor.conn.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)})"
                    f" VALUES ({', '.join('?' for _ in columns)})", rows)
    floor_s = time.process_time() - start
    for store in (device, fresh, floor):
        store.close()
    server.close()
    return [("device: read and pack the outbox", pack_s / n),
            ("server: apply the push (decode, validate, merge, write, commit)", push_s / n),
            ("server: serve the pull pages", serve_s / n),
            ("device: gunzip and JSON of the pages", decode_s / n),
            ("device: read the entries (from_wire)", read_s / n),
            ("device: apply the pages (merge, encode, seal, insert, commit)", apply_s / n),
            ("floor: insert the device's encoded rows, one executemany per table", floor_s / n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000, help="records (default 10000)")
    parser.add_argument("--batch-size", type=int, default=500, help="push batch (default 500)")
    parser.add_argument("--page-size", type=int, default=1000, help="pull page (default 1000)")
    args = parser.parse_args(argv)
    tune_collector(int(DEFAULTS["GC_THRESHOLD"]))  # as the server process does
    with tempfile.TemporaryDirectory(prefix="cunsync-stages-") as tmp:
        figures = run(args.records, args.batch_size, args.page_size, Path(tmp))
    width = max(len(name) for name, _ in figures)
    for name, seconds in figures:
        print(f"{name:<{width}}  {seconds * 1e6:6.1f} µs/record")
    return 0


if __name__ == "__main__":
    sys.exit(main())
