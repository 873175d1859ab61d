"""The migrator: numbered SQL files, applied in order, each in a transaction, never twice,
refusing a database it does not understand without touching it."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

import migrations
from client_kit.domain import RECORD_TYPES
from client_kit.errors import ChecksumMismatch, DatabaseTooNew, MigrationError
from client_kit.migrator import Migrator, load_migrations, split_statements
from client_kit.store import DeviceStore, connect
from store_helpers import FixedClock, add_person, seed

THREE = {
    "0001_people.sql": "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n",
    "0002_places.sql": "-- where they live\nCREATE TABLE places (id INTEGER PRIMARY KEY,"
                       " name TEXT);\nINSERT INTO places (name) VALUES ('白岩村');\n",
    "0003_people_place.sql": "ALTER TABLE people ADD COLUMN place_id INTEGER;\n"
                             "CREATE INDEX people_place ON people (place_id);\n",
}


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql, encoding="utf-8")
    return directory


def open_db(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(str(path), isolation_level=None)


def snapshot(conn: sqlite3.Connection) -> dict[str, Any]:
    """The schema and every row of every table: to show that nothing was touched."""
    schema = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    tables = [name for kind, name, _, _ in schema
              if kind == "table" and not name.startswith("sqlite_")]
    rows = {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}
    return {"schema": schema, "rows": rows}


@pytest.fixture
def three(tmp_path) -> Path:
    return write(tmp_path / "migrations", THREE)


@pytest.fixture
def db(tmp_path):  # type: ignore[no-untyped-def]
    conn = open_db(tmp_path / "db.sqlite")
    yield conn
    conn.close()


# -- loading --------------------------------------------------------------------------------

def test_migrations_are_loaded_in_version_order(three):
    loaded = load_migrations(three)
    assert [(m.version, m.name) for m in loaded] == [(1, "people"), (2, "places"),
                                                     (3, "people_place")]


def test_a_gap_in_the_numbering_is_refused(tmp_path):
    directory = write(tmp_path / "m", {"0001_a.sql": "SELECT 1;", "0003_c.sql": "SELECT 1;"})
    with pytest.raises(MigrationError, match="numbered"):
        load_migrations(directory)


def test_a_file_name_not_in_the_form_nnnn_name_is_refused(tmp_path):
    directory = write(tmp_path / "m", {"0001_a.sql": "SELECT 1;", "2_b.sql": "SELECT 1;"})
    with pytest.raises(MigrationError, match="2_b.sql"):
        load_migrations(directory)


def test_statements_are_split_whole_even_with_semicolons_in_strings():
    sql = "CREATE TABLE t (a TEXT);\nINSERT INTO t VALUES ('x; y');\n-- done\n"
    assert split_statements(sql) == ["CREATE TABLE t (a TEXT);",
                                     "INSERT INTO t VALUES ('x; y');"]


def test_the_shipped_migrations_load(tmp_path):
    for kind in ("client", "server"):
        assert load_migrations(migrations.directory(kind))


# -- applying -------------------------------------------------------------------------------

def test_pending_migrations_are_applied_in_order_and_recorded_with_their_checksums(three, db):
    applied = Migrator(db, load_migrations(three)).upgrade()
    assert applied == [1, 2, 3]
    recorded = db.execute(
        "SELECT version, name, checksum FROM schema_migrations ORDER BY version").fetchall()
    assert recorded == [
        (i + 1, name[5:-4], hashlib.sha256(sql.encode()).hexdigest())
        for i, (name, sql) in enumerate(sorted(THREE.items()))]
    assert db.execute("SELECT name FROM places").fetchall() == [("白岩村",)]
    assert "place_id" in [c[1] for c in db.execute("PRAGMA table_info(people)")]


def test_applying_again_does_nothing(three, db):
    migrator = Migrator(db, load_migrations(three))
    migrator.upgrade()
    before = snapshot(db)
    assert migrator.upgrade() == []
    assert snapshot(db) == before


def test_an_upgrade_stops_at_the_target_version_and_goes_on_later(three, db):
    migrator = Migrator(db, load_migrations(three))
    assert migrator.upgrade(target=1) == [1]
    assert migrator.current_version() == 1
    assert migrator.upgrade() == [2, 3]
    assert migrator.current_version() == 3


def test_only_the_new_migrations_run_when_the_code_gains_one(tmp_path, three, db):
    first_two = write(tmp_path / "old", {k: v for k, v in THREE.items() if not k.startswith("0003")})
    Migrator(db, load_migrations(first_two)).upgrade()
    db.execute("INSERT INTO people (name) VALUES ('王大山')")
    assert Migrator(db, load_migrations(three)).upgrade() == [3]
    assert db.execute("SELECT name, place_id FROM people").fetchall() == [("王大山", None)]


def test_a_broken_migration_leaves_nothing_applied(tmp_path, db):
    directory = write(tmp_path / "m", {
        "0001_half.sql": "CREATE TABLE first (a TEXT);\nINSERT INTO first VALUES ('x');\n"
                         "CREATE TABLE broken (a TEXT REFERENCES;\n"})
    with pytest.raises(MigrationError) as caught:
        Migrator(db, load_migrations(directory)).upgrade()
    assert "0001_half" in str(caught.value) and "数据库未改动" in str(caught.value)
    assert isinstance(caught.value.__cause__, sqlite3.Error)
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == []
    assert not db.in_transaction


def test_a_broken_migration_keeps_the_ones_before_it_and_applies_none_after(tmp_path, db):
    directory = write(tmp_path / "m", {
        **{k: v for k, v in THREE.items() if k.startswith("0001")},
        "0002_bad.sql": "CREATE TABLE places (id INTEGER);\nINSERT INTO nowhere VALUES (1);\n",
        "0003_later.sql": "CREATE TABLE later (id INTEGER);\n",
    })
    migrator = Migrator(db, load_migrations(directory))
    with pytest.raises(MigrationError, match="0002_bad"):
        migrator.upgrade()
    assert migrator.applied().keys() == {1}
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"people", "schema_migrations"}


def test_a_migration_ending_in_an_incomplete_statement_is_refused_and_rolled_back(tmp_path, db):
    directory = write(tmp_path / "m", {
        "0001_cut.sql": "CREATE TABLE first (a TEXT);\nCREATE TABLE second (a TEXT\n"})
    with pytest.raises(MigrationError, match="incomplete"):
        Migrator(db, load_migrations(directory)).upgrade()
    assert not db.in_transaction
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


# -- refusing -------------------------------------------------------------------------------

def test_a_database_newer_than_the_code_is_refused_untouched(tmp_path, three, db):
    Migrator(db, load_migrations(three)).upgrade()
    db.execute("INSERT INTO people (name) VALUES ('王大山')")
    before = snapshot(db)
    older_code = write(tmp_path / "old", {k: v for k, v in THREE.items()
                                          if not k.startswith("0003")})
    with pytest.raises(DatabaseTooNew) as caught:
        Migrator(db, load_migrations(older_code)).upgrade()
    assert caught.value.code == "database_too_new"
    assert "请先升级软件" in str(caught.value)
    assert snapshot(db) == before


def test_an_applied_file_whose_text_changed_is_refused_and_nothing_more_is_applied(
        tmp_path, three, db):
    first = write(tmp_path / "first", {k: v for k, v in THREE.items() if k.startswith("0001")})
    Migrator(db, load_migrations(first)).upgrade()
    before = snapshot(db)
    (three / "0001_people.sql").write_text(THREE["0001_people.sql"] + "-- edited\n")
    with pytest.raises(ChecksumMismatch) as caught:
        Migrator(db, load_migrations(three)).upgrade()
    assert caught.value.code == "migration_checksum_mismatch"
    assert "0001_people" in str(caught.value) and "被改动过" in str(caught.value)
    assert snapshot(db) == before


def test_a_device_store_refuses_to_open_a_newer_database_and_leaves_it_as_it_was(tmp_path):
    path = tmp_path / "device.sqlite"
    store = DeviceStore.open(path, device_id="dev-a", clock=FixedClock())
    seed(store)
    store.conn.execute("INSERT INTO schema_migrations VALUES (99, 'future', 'x', 'now')")
    before = snapshot(store.conn)
    store.close()
    with pytest.raises(DatabaseTooNew):
        DeviceStore.open(path, device_id="dev-a")
    conn = open_db(path)
    try:
        assert snapshot(conn) == before
    finally:
        conn.close()


# -- upgrading real databases that hold data ------------------------------------------------

def column_value(table: str, column: str, declared: str, n: int) -> Any:
    """A value of the column's type; JSON columns of record tables get JSON."""
    record = {rt.table: rt for rt in RECORD_TYPES.values()}.get(table)
    if column == "id" and "TEXT" in declared:
        return str(uuid.UUID(int=n))
    if column == "village_code":
        return "522731100201"
    if record is not None and column in record.json_fields:
        return json.dumps(["tuopin"])
    if column in ("_versions", "versions", "detail", "scope", "villages", "fields", "base"):
        return "{}"
    if column in ("_disputed", "disputed"):
        return "[]"
    if column == "_deleted":
        return 0
    if "INT" in declared:
        return n
    if declared in ("NUMERIC", "REAL"):
        return n + 0.5
    return f"{table}.{column}.{n}"


def fill_every_table(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Insert two rows into every table of the database as it stands; return what went in."""
    inserted: dict[str, list[tuple[Any, ...]]] = {}
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        " AND name != 'schema_migrations' ORDER BY name")]
    for table in tables:
        columns = [(c[1], c[2].upper()) for c in conn.execute(f"PRAGMA table_info({table})")]
        names = [name for name, _ in columns]
        for n in (1, 2):
            values = tuple(column_value(table, name, declared, n) for name, declared in columns)
            conn.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES"
                         f" ({', '.join('?' for _ in names)})", values)
            inserted.setdefault(table, []).append(dict(zip(names, values)))  # type: ignore[arg-type]
    return inserted


def assert_rows_survived(conn: sqlite3.Connection,
                         inserted: dict[str, list[dict[str, Any]]]) -> None:
    for table, rows in inserted.items():
        for row in rows:
            clauses = " AND ".join(f"{name} IS ?" for name in row)
            found = conn.execute(f"SELECT count(*) FROM {table} WHERE {clauses}",
                                 tuple(row.values())).fetchone()[0]
            assert found == 1, f"{table} lost {row}"


def older_versions(kind: str) -> list[int]:
    return list(range(1, len(load_migrations(migrations.directory(kind)))))


@pytest.mark.parametrize("kind,version", [
    (kind, version) for kind in ("client", "server") for version in older_versions(kind)])
def test_a_database_holding_data_at_every_older_version_upgrades_keeping_its_rows(
        tmp_path, kind, version):
    every = load_migrations(migrations.directory(kind))
    conn = connect(tmp_path / f"{kind}.sqlite")
    try:
        Migrator(conn, every).upgrade(target=version)
        inserted = fill_every_table(conn)
        assert inserted
        assert Migrator(conn, every).upgrade() == list(range(version + 1, len(every) + 1))
        assert_rows_survived(conn, inserted)
    finally:
        conn.close()


@pytest.mark.parametrize("version", older_versions("client"))
def test_a_device_store_upgraded_from_every_older_version_reads_old_rows_and_writes(
        tmp_path, version):
    path = tmp_path / "device.sqlite"
    conn = connect(path)
    Migrator(conn, load_migrations(migrations.directory("client"))).upgrade(target=version)
    inserted = fill_every_table(conn)
    conn.close()

    store = DeviceStore.open(path, device_id="dev-a", clock=FixedClock())
    try:
        for rt in RECORD_TYPES.values():
            old_ids = [row["id"] for row in inserted.get(rt.table, [])]  # newer tables: none
            assert [r["id"] for r in store.query(rt.name)] == old_ids
        made = seed(store)
        other = add_person(store, made["household"]["id"], 24)
        store.update("person", other["id"], {"note": "升级后写入"})
        assert store.get("person", other["id"])["note"] == "升级后写入"
        assert store.pending_count() == 5 + len(inserted["outbox"])
        assert_rows_survived(store.conn, {t: rows for t, rows in inserted.items()
                                          if t != "meta"})
    finally:
        store.close()
