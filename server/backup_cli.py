"""``cunsync-server backup`` and ``restore``: copies of the county database and going back to one.

A backup is the database (a consistent copy taken while the server runs) and, apart from it,
the data key that seals its sensitive columns: without the key the copy cannot be read, and
whoever holds both can read everything. ``restore`` replaces the database with a backup,
upgrades it, checks the current data key opens it, and starts a new *epoch*: devices that
synced after the backup see the new epoch at their next hello and send again what the
restored server lost (docs/protocol.md, "After a restore"; docs/operator-guide.md).

Only SQLite for now. The commands go through :meth:`server.storage.Storage.backup_to`; a
PostgreSQL backend implements it with ``pg_dump`` (and restore with ``pg_restore``).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

import migrations
from client_kit.engine.envelope import b64
from client_kit.errors import MigrationError
from client_kit.migrator import Migrator, load_migrations

from .api.sync import EPOCH, new_epoch
from .data_key import load_data_key
from .db import app_storage
from .keyring import Keyring
from .storage import AuditEntry, open_storage
from .sync_service import utc_now

_SQLITE = "sqlite:///"
#: Tables every cunsync server database has (a file without them is not one).
_TABLES = {"schema_migrations", "server_meta", "devices", "change_log", "envelopes_seen"}


def _sqlite_path() -> str:
    url = str(current_app.config["STORAGE_URL"])
    if not url.startswith(_SQLITE):
        raise click.ClickException(
            "backup/restore support SQLite only for now (PostgreSQL: pg_dump, coming)")
    return url[len(_SQLITE):]


@click.command("backup")
@click.argument("dest", type=click.Path(dir_okay=False))
@click.option("--key-out", type=click.Path(dir_okay=False), default=None,
              help="also write the data key here (mode 0600); keep it apart from DEST")
@click.option("--no-key", is_flag=True,
              help="the data key is backed up another way (instance/data.key or DATA_KEY)")
@with_appcontext
def backup_command(dest: str, key_out: str | None, no_key: bool) -> None:
    """Write a consistent copy of the database to DEST while the server runs.

    The copy is unreadable without the data key: give --key-out PATH (kept apart from the
    database copy) or --no-key if you back up instance/data.key yourself.

    Example: cunsync-server backup /backup/cunsync-$(date +%F).sqlite --no-key
    """
    if not key_out and not no_key:
        raise click.ClickException(
            "the backup cannot be read without the data key (instance/data.key or DATA_KEY):"
            " give --key-out PATH to write it too (kept apart from the database copy), or"
            " --no-key if it is backed up another way")
    if Path(dest).resolve() == Path(_sqlite_path()).resolve():
        raise click.ClickException("DEST is the database itself")
    if key_out and Path(key_out).resolve() == Path(dest).resolve():
        raise click.ClickException("--key-out must differ from DEST")
    storage = app_storage(current_app)
    try:
        storage.backup_to(dest, taken_at=utc_now())
        storage.append_audit(AuditEntry(utc_now(), "cli", "server.backup", dest,
                                        {"key_written": bool(key_out)}))
    finally:
        storage.close()
    if key_out:
        key = load_data_key(current_app.config.get("DATA_KEY"), current_app.instance_path)
        if os.path.exists(key_out):
            os.remove(key_out)
        fd = os.open(key_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(b64(key) + "\n")
    click.echo(f"backup written to {dest}" + (f"; data key to {key_out}" if key_out else ""))


def _check_backup(src: str) -> str | None:
    """Refuse a file that is not a cunsync server database this version can upgrade; return
    when the backup was taken (if it says)."""
    try:
        conn = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    except sqlite3.Error as err:
        raise click.ClickException(f"{src} cannot be opened: {err}") from None
    try:
        try:
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError:
            raise click.ClickException(f"{src} is not a SQLite database") from None
        missing = _TABLES - tables
        if missing:
            raise click.ClickException(
                f"{src} is not a cunsync server database (no {', '.join(sorted(missing))})")
        try:
            Migrator(conn, load_migrations(migrations.directory("server"))).check()
        except MigrationError as err:
            raise click.ClickException(f"{src}: {err}") from None
        row = conn.execute("SELECT value FROM server_meta WHERE key = 'backup_taken_at'"
                           ).fetchone()
        return None if row is None else str(row[0])
    finally:
        conn.close()


@click.command("restore")
@click.argument("src", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True,
              help="restore although the database looks in use (its WAL file exists)")
@with_appcontext
def restore_command(src: str, force: bool) -> None:
    """Replace the database with the backup SRC. Stop the server first.

    The backup is checked (a cunsync database this version can upgrade, readable with the
    current data key), upgraded, given a new epoch and an audit entry, then put in place.
    Devices that synced after the backup send again what it lacks at their next sync.

    Example: cunsync-server restore /backup/cunsync-2026-12-01.sqlite
    """
    target = _sqlite_path()
    if os.path.exists(target + "-wal") and os.path.getsize(target + "-wal") > 0 and not force:
        raise click.ClickException(
            "the database looks in use (its -wal file exists): stop the server first"
            " (systemctl stop cunsync), then restore; --force if it is stopped already")
    taken_at = _check_backup(src)
    staging = target + ".restoring"
    for leftover in (staging, staging + "-wal", staging + "-shm"):
        if os.path.exists(leftover):
            os.remove(leftover)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    copy = sqlite3.connect(staging)
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()
    sealer = current_app.extensions["cunsync_sealer"]
    storage = open_storage(_SQLITE + staging, sealer)
    try:
        storage.upgrade()
        try:
            Keyring(storage, sealer).keys()
        except Exception:  # noqa: BLE001 - any failure to open the sealed keys means one thing
            raise click.ClickException(
                "the current data key cannot open this backup's sealed keys: put back the"
                " data key saved with it (instance/data.key or DATA_KEY), then restore again"
            ) from None
        epoch = new_epoch()
        with storage.atomic():
            storage.set_setting(EPOCH, epoch)
            storage.append_audit(AuditEntry(utc_now(), "cli", "server.restore", src,
                                            {"backup_taken_at": taken_at, "epoch": epoch}))
        storage.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[attr-defined]
    except BaseException:
        storage.close()
        for leftover in (staging, staging + "-wal", staging + "-shm"):
            if os.path.exists(leftover):
                os.remove(leftover)
        raise
    storage.close()
    for stale in (target + "-wal", target + "-shm"):
        if os.path.exists(stale):
            os.remove(stale)
    os.replace(staging, target)
    click.echo(f"restored {src} (taken {taken_at or 'at an unknown time'}); new epoch {epoch}:"
               " devices that synced after the backup send again what it lacks")


def init_app(app: Flask) -> None:
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
