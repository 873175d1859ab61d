"""``cunsync-server backup`` and ``restore`` refusals: what an operator is stopped from doing."""

from __future__ import annotations

import os
import sqlite3

import pytest

from server import create_app
from server.data_key import load_data_key
from server.db import app_storage


@pytest.fixture
def app(tmp_path):
    app = create_app({"TESTING": True, "STORAGE_URL": f"sqlite:///{tmp_path / 'county.sqlite'}",
                      "SECRET_KEY": "test", "DATA_KEY": None})
    app.instance_path = str(tmp_path / "instance")
    storage = app_storage(app)
    storage.upgrade()
    storage.close()
    return app


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_backup_will_not_let_the_operator_forget_the_data_key(app, tmp_path):
    refused = run(app, "backup", str(tmp_path / "b.sqlite"))
    assert refused.exit_code != 0 and "data key" in refused.output
    assert not (tmp_path / "b.sqlite").exists()
    done = run(app, "backup", str(tmp_path / "b.sqlite"), "--key-out", str(tmp_path / "k"))
    assert done.exit_code == 0, done.output
    key = (tmp_path / "k").read_text().strip()
    assert os.stat(tmp_path / "k").st_mode & 0o777 == 0o600
    from client_kit.engine.envelope import unb64

    assert unb64(key) == load_data_key(app.config.get("DATA_KEY"), app.instance_path)
    conn = sqlite3.connect(tmp_path / "b.sqlite")
    assert conn.execute("SELECT value FROM server_meta WHERE key = 'backup_taken_at'"
                        ).fetchone()
    conn.close()


def test_restore_refuses_what_is_not_a_cunsync_database(app, tmp_path):
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    result = run(app, "restore", str(other))
    assert result.exit_code != 0 and "not a cunsync server database" in result.output
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    result = run(app, "restore", str(junk))
    assert result.exit_code != 0


def test_restore_refuses_a_database_newer_than_this_version(app, tmp_path):
    backup = tmp_path / "b.sqlite"
    assert run(app, "backup", str(backup), "--no-key").exit_code == 0
    conn = sqlite3.connect(backup)
    with conn:
        conn.execute("INSERT INTO schema_migrations VALUES (9999, 'future', 'x', 'now')")
    conn.close()
    result = run(app, "restore", str(backup))
    assert result.exit_code != 0 and "9999" in result.output


def test_restore_refuses_a_backup_the_current_data_key_cannot_open(app, tmp_path):
    backup = tmp_path / "b.sqlite"
    storage = app_storage(app)
    from server.keyring import Keyring

    Keyring(storage, app.extensions["cunsync_sealer"]).keys()  # sealed server keys
    storage.close()
    assert run(app, "backup", str(backup), "--no-key").exit_code == 0
    before = (tmp_path / "county.sqlite").read_bytes()
    other = create_app({"TESTING": True, "STORAGE_URL": f"sqlite:///{tmp_path / 'county.sqlite'}",
                        "SECRET_KEY": "test", "DATA_KEY": "A" * 43})
    result = run(other, "restore", str(backup))
    assert result.exit_code != 0 and "data key" in result.output
    assert (tmp_path / "county.sqlite").read_bytes() == before
    assert not (tmp_path / "county.sqlite.restoring").exists()


def test_restore_refuses_while_the_database_is_in_use_and_audits_a_restore(app, tmp_path):
    backup = tmp_path / "b.sqlite"
    assert run(app, "backup", str(backup), "--no-key").exit_code == 0
    holder = app_storage(app)  # a running server holds the database open
    holder.set_setting("x", "1")
    try:
        result = run(app, "restore", str(backup))
        assert result.exit_code != 0 and "stop the server" in result.output
    finally:
        holder.close()
    result = run(app, "restore", str(backup))
    assert result.exit_code == 0, result.output
    assert run(app, "audit", "verify").exit_code == 0
    storage = app_storage(app)
    try:
        actions = [r[0] for r in storage.conn.execute("SELECT action FROM audit_log")]
        assert actions[-1] == "server.restore"
        assert storage.get_setting("epoch")
    finally:
        storage.close()
