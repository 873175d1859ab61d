"""A writer for the crash test: writes to a device store as fast as it can until killed.

Usage: python tests/crash_writer.py DB_PATH SEED

Prints ``ready`` once the store is open. Mixes single writes with multi-write transactions
(a household created together with its three members and a visit; transactions rolled back on
purpose), so that a SIGKILL can land anywhere: inside SQLite, between writes of a transaction,
between a row write and its outbox entry.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from typing import Any

from client_kit.errors import CunsyncError
from client_kit.store import DeviceStore
from store_helpers import VILLAGE, add_post, id_number, seed

#: Members created in the same transaction as their household (see ``check_batches``).
BATCH_MEMBERS = 3
BATCH_PREFIX = "批次"


class Abandon(Exception):
    """Raised to roll a transaction back on purpose."""


def pick(store: DeviceStore, table: str, rng: random.Random) -> str | None:
    """A random live row id (SQLite's random(), so the writer stays fast as tables grow)."""
    row = store.conn.execute(
        f"SELECT id FROM {table} WHERE _deleted = 0 ORDER BY random() LIMIT 1").fetchone()
    return row[0] if row else None


def batch(store: DeviceStore, rng: random.Random, n: int) -> None:
    with store.transaction():
        household = store.create("household", {
            "village_code": VILLAGE, "head_name": f"{BATCH_PREFIX}{n}", "categories": ["tuopin"]})
        for i in range(BATCH_MEMBERS):
            store.create("person", {
                "household_id": household["id"], "name": f"成员{n}-{i}",
                "id_number": id_number(dt.date(1970 + rng.randrange(40), 1 + i, 1 + i),
                                       rng.randrange(1000))})
        store.create("visit", {"household_id": household["id"], "visit_date": "2026-03-01",
                               "visitors": "张干部", "findings": f"批次{n}走访"})


def step(store: DeviceStore, rng: random.Random, n: int, post_id: str) -> None:
    choice = rng.random()
    if choice < 0.25:
        batch(store, rng, n)
    elif choice < 0.45:
        household = pick(store, "households", rng)
        if household:
            store.update("household", household, {"note": f"第{n}次更新",
                                                  "phone": str(13800000000 + n)})
    elif choice < 0.65:
        person = pick(store, "persons", rng)
        if person:
            store.create("attendance", {
                "post_id": post_id, "day": f"2026-03-{1 + rng.randrange(28):02d}",
                "person_id": person, "status": rng.choice(["on_post", "absent", "leave"]),
                "note": f"记录{n}"})
    elif choice < 0.75:
        person = pick(store, "persons", rng)
        if person:
            store.update("person", person, {"categories": rng.sample(["tuopin", "dibao",
                                                                      "banqian"], 2)})
    elif choice < 0.85:
        table, type_name = rng.choice([("persons", "person"), ("visits", "visit"),
                                       ("attendance", "attendance")])
        row = pick(store, table, rng)
        if row:
            store.delete(type_name, row)
    else:
        try:
            with store.transaction():
                batch(store, rng, n)
                household = pick(store, "households", rng)
                if household:
                    store.update("household", household, {"note": "不应保存"})
                raise Abandon
        except Abandon:
            pass


def main(path: str, seed_value: int) -> None:
    rng = random.Random(seed_value)
    store = DeviceStore.open(path, device_id="dev-crash")
    with store.transaction():
        if not store.query("village"):
            seed(store)
            add_post(store)
    post_id: Any = store.query("post")[0]["id"]
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        try:
            step(store, rng, seed_value * 1_000_000 + n, post_id)
        except CunsyncError:
            pass  # a refused write (such as a person whose household was deleted)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
