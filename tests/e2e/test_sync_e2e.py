"""End to end: devices sync through a real server on 127.0.0.1 with real SQLite files."""

from __future__ import annotations

from .conftest import seed_village


def test_a_second_device_receives_what_the_first_recorded(three_devices):
    a, b, _ = three_devices
    seeded = seed_village(a.store)
    written = a.store.pending_count()
    summary = a.sync()
    assert summary.sent == written == 8
    assert a.store.pending_count() == 0
    b.sync()
    assert b.store.get("person", seeded["head"]["id"])["name"] == "王大山"
    assert b.store.get("employment", seeded["employment"]["id"])["monthly_income"] == 4000
