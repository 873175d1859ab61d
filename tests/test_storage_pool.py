"""Server connections are reused across requests, never with a transaction left open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from server import create_app
from server.db import app_storage, storage_pool


@pytest.fixture()
def app(tmp_path: Path):  # type: ignore[no-untyped-def]
    app = create_app({"TESTING": True, "SECRET_KEY": "t",
                      "STORAGE_URL": f"sqlite:///{tmp_path / 'server.sqlite'}"})
    storage = app_storage(app)
    storage.upgrade()
    storage.close()
    yield app
    storage_pool(app).close_all()


def _setting(app, name: str):  # type: ignore[no-untyped-def]
    storage = app_storage(app)
    try:
        return storage.get_setting(name)
    finally:
        storage.close()


def test_a_connection_is_reused_by_the_next_request(app) -> None:  # type: ignore[no-untyped-def]
    pool = storage_pool(app)
    first = pool.take()
    pool.give_back(first)
    assert pool.take() is first


def test_work_left_uncommitted_by_a_request_is_rolled_back_not_inherited(app) -> None:  # type: ignore[no-untyped-def]
    pool = storage_pool(app)
    storage = pool.take()
    storage.conn.execute("BEGIN IMMEDIATE")
    storage.set_setting("probe", "left over")
    pool.give_back(storage)
    again = pool.take()
    assert again is storage and not again.conn.in_transaction
    assert again.get_setting("probe") is None
    # The write lock went with the rollback: another connection can write at once.
    other = app_storage(app)
    with other.atomic():
        other.set_setting("probe", "written")
    other.close()
    assert _setting(app, "probe") == "written"


def test_a_storage_given_back_inside_an_atomic_block_is_closed(app) -> None:  # type: ignore[no-untyped-def]
    pool = storage_pool(app)
    storage = pool.take()
    block = storage.atomic()
    block.__enter__()
    pool.give_back(storage)
    assert pool.take() is not storage
    with pytest.raises(sqlite3.ProgrammingError):  # closed: the block cannot even commit
        block.__exit__(None, None, None)


def test_the_server_collects_cycles_less_often_and_never_less_than_asked(tmp_path) -> None:
    import gc

    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        create_app({"TESTING": True, "STORAGE_URL": f"sqlite:///{tmp_path / 'a.sqlite'}",
                    "GC_THRESHOLD": 0})
        assert gc.get_threshold() == (700, 10, 10)  # 0: Python's own setting stays
        create_app({"TESTING": True, "STORAGE_URL": f"sqlite:///{tmp_path / 'b.sqlite'}"})
        assert gc.get_threshold() == (50_000, 10, 10)  # the default
        create_app({"TESTING": True, "STORAGE_URL": f"sqlite:///{tmp_path / 'c.sqlite'}",
                    "GC_THRESHOLD": 1000})
        assert gc.get_threshold() == (50_000, 10, 10)  # a second app never lowers it
    finally:
        gc.set_threshold(*saved)
