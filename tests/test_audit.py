"""The audit log is a hash chain: verify finds an altered, inserted or removed entry."""

from __future__ import annotations

import pytest

from server import create_app
from server.db import app_storage
from server.storage import AuditEntry, open_storage


@pytest.fixture
def app(tmp_path):
    app = create_app({"TESTING": True, "STORAGE_URL": f"sqlite:///{tmp_path / 's.sqlite'}"})
    storage = app_storage(app)
    storage.upgrade()
    for n in range(5):
        storage.append_audit(AuditEntry(f"2026-11-2{n}T00:00:00+00:00", "jiandu",
                                        "conflict.resolve", f"employment/r{n}/monthly_income",
                                        {"after": 4000 + n, "comment": "电话核实"}))
    storage.close()
    return app


def verify(app):
    return app.test_cli_runner().invoke(args=["audit", "verify"])


def tamper(app, sql, *params):
    storage = app_storage(app)
    storage.conn.execute(sql, params)
    storage.close()


def test_an_untouched_log_verifies(app):
    result = verify(app)
    assert result.exit_code == 0, result.output
    assert "5 entries" in result.output


def test_an_edited_entry_is_found(app):
    tamper(app, "UPDATE audit_log SET detail = ? WHERE id = 3",
           '{"after":9999,"comment":"电话核实"}')
    result = verify(app)
    assert result.exit_code != 0 and "entry 3 was altered" in result.output


def test_a_removed_entry_is_found(app):
    tamper(app, "DELETE FROM audit_log WHERE id = 2")
    result = verify(app)
    assert result.exit_code != 0 and "entry 3: the entry before it" in result.output


def test_entries_cut_off_the_end_are_found(app):
    tamper(app, "DELETE FROM audit_log WHERE id = 5")
    result = verify(app)
    assert result.exit_code != 0 and "removed from the end" in result.output


def test_a_recomputed_entry_still_breaks_the_next_link(app):
    from server.audit import entry_hash

    storage = app_storage(app)
    row = storage.conn.execute("SELECT id, at, actor, action, target, prev_hash FROM audit_log"
                               " WHERE id = 2").fetchone()
    forged = entry_hash(row[5], row[0], row[1], row[2], row[3], row[4], {"after": 1})
    storage.conn.execute("UPDATE audit_log SET detail = ?, hash = ? WHERE id = 2",
                         ('{"after":1}', forged))
    storage.close()
    result = verify(app)
    assert result.exit_code != 0 and "entry 3: the entry before it" in result.output


def test_entries_from_before_the_chain_are_chained_on_the_next_append(tmp_path):
    import migrations
    from client_kit.migrator import Migrator, load_migrations
    from client_kit.store import connect

    path = tmp_path / "old.sqlite"
    conn = connect(path)
    Migrator(conn, load_migrations(migrations.directory("server"))).upgrade(target=3)
    conn.execute("INSERT INTO audit_log (at, actor, action, target, detail)"
                 " VALUES ('t', 'cli', 'device.add', 'dev-1', '{}')")
    conn.close()
    storage = open_storage(f"sqlite:///{path}")
    storage.upgrade()
    storage.append_audit(AuditEntry("t2", "cli", "device.revoke", "dev-1", {}))
    from server.audit import verify_chain

    verdict = verify_chain(*storage.audit_chain())
    storage.close()
    assert verdict.ok and verdict.entries == 2


def test_pushes_resolutions_and_report_exports_are_in_the_audit_log(tmp_path):
    """Who changed, resolved, exported or revoked what: one chained line each."""
    from e2e.conftest import VILLAGE_A, seed_village
    from e2e.support import LiveServer, add_user, enrol, make_app
    from e2e.test_sync_e2e import api

    with LiveServer(make_app(tmp_path)) as server:
        add_user(server, "jiandu", "supervisor", ["522731"])
        device = enrol(server, tmp_path, "a", [VILLAGE_A])
        seed_village(device.store)
        device.sync()
        status, _ = api(server, "GET", f"/api/v1/reports/household-coverage?village={VILLAGE_A}")
        assert status == 200
        storage = server.storage()
        actions = [(e.actor, e.action) for e in storage.audit_entries()]
        verdict_rows, head = storage.audit_chain()
        storage.close()
        device.store.close()
    assert ("worker-a", "sync.push") in actions
    assert ("jiandu", "report.export") in actions
    assert ("worker-a", "device.enrol") in actions
    from server.audit import verify_chain

    assert verify_chain(verdict_rows, head).ok
