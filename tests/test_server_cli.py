"""The operator's commands: cunsync-server / flask --app server."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from server import create_app
from server.cli import main
from server.db import app_storage


@pytest.fixture
def app(tmp_path):
    return create_app({"TESTING": True, "STORAGE_URL": f"sqlite:///{tmp_path / 's.sqlite'}"})


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def storage_of(app):
    return app_storage(app)


def test_db_upgrade_applies_migrations_once(runner):
    import migrations
    from client_kit.migrator import load_migrations

    every = [m.version for m in load_migrations(migrations.directory("server"))]
    first = runner.invoke(args=["db", "upgrade"])
    assert first.exit_code == 0 and f"applied migrations: {every}" in first.output
    again = runner.invoke(args=["db", "upgrade"])
    assert "up to date" in again.output


def test_an_enrolment_code_is_issued_listed_and_withdrawn(app, runner):
    runner.invoke(args=["db", "upgrade"])
    result = runner.invoke(args=["enrol-code", "issue", "--user", "wangfang",
                                 "--village", "522731100201"])
    assert result.exit_code == 0, result.output
    issued = json.loads(result.output)
    assert len(issued["code"]) == 14 and issued["villages"] == ["522731100201"]
    storage = storage_of(app)
    assert issued["code"] not in json.dumps(storage.list_enrolment_codes())
    storage.close()
    listed = runner.invoke(args=["enrol-code", "list"]).output
    assert issued["code"][:4] in listed and "open until" in listed
    assert runner.invoke(args=["enrol-code", "withdraw", issued["code"][:4]]).exit_code == 0
    assert "withdrawn" in runner.invoke(args=["enrol-code", "list"]).output


def test_devices_are_revoked_and_wiped_from_the_command_line(app, runner):
    from server.accounts import add_device_record

    runner.invoke(args=["db", "upgrade"])
    storage = storage_of(app)
    add_device_record(storage, "wangfang", ["522731100201"], "dev-1")
    add_device_record(storage, "lihua", ["522731100201"], "dev-2")
    storage.close()
    assert runner.invoke(args=["device", "revoke", "dev-1"]).exit_code == 0
    assert runner.invoke(args=["device", "wipe", "dev-2"]).exit_code == 0
    listed = runner.invoke(args=["device", "list"]).output
    assert "dev-1\twangfang\t522731100201\trevoked" in listed
    assert "wipe ordered" in listed


def test_server_keys_rotate_and_retire(runner):
    runner.invoke(args=["db", "upgrade"])
    first = runner.invoke(args=["keys", "list"]).output.split("\t")[0]
    rotated = runner.invoke(args=["keys", "rotate"])
    assert rotated.exit_code == 0
    listed = runner.invoke(args=["keys", "list"]).output
    assert f"{first}\tretiring" in listed and "\tactive" in listed
    assert runner.invoke(args=["keys", "retire", first]).exit_code == 0
    assert f"{first}\tretired" in runner.invoke(args=["keys", "list"]).output
    assert runner.invoke(args=["keys", "retire", "nope"]).exit_code != 0


@pytest.mark.parametrize("args,message", [
    (["enrol-code", "issue", "--user", "w", "--village", "5227"], "12-digit"),
    (["enrol-code", "withdraw", "ZZZZ"], "没有以"),
    (["device", "revoke", "nobody"], "没有设备"),
    (["user", "add", "x", "--role", "supervisor", "--password", "short"], "密码至少"),
    (["user", "add", "x", "--role", "boss", "--password", "long-enough"], "boss"),
    (["user", "add", "x", "--role", "supervisor", "--scope", "52", "--password", "longer-pw"],
     "6, 9 or 12"),
])
def test_bad_arguments_get_a_clear_error(runner, args, message):
    runner.invoke(args=["db", "upgrade"])
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert message in result.output


def test_the_demo_county_has_every_kind_of_record_and_open_conflicts(app, runner):
    result = runner.invoke(args=["demo", "--households", "24"])
    assert result.exit_code == 0, result.output
    storage = storage_of(app)
    try:
        for name in ("village", "household", "person", "employment", "post", "appointment",
                     "attendance", "training_session", "signin"):
            assert storage.count_rows(name) > 0, name
        assert sum(storage.count_conflicts().values()) >= 3
        categories = {c for (raw,) in storage.conn.execute("SELECT categories FROM persons")
                      for c in json.loads(raw)}
        assert {"tuopin", "dibao", "banqian"} <= categories
    finally:
        storage.close()
    again = runner.invoke(args=["demo"])
    assert again.exit_code != 0 and "already" in again.output


COMMANDS = [[], ["db"], ["db", "upgrade"], ["user"], ["user", "add"], ["enrol-code"],
            ["enrol-code", "issue"], ["enrol-code", "list"], ["enrol-code", "withdraw"],
            ["device"], ["device", "list"], ["device", "revoke"], ["device", "wipe"],
            ["keys"], ["keys", "list"], ["keys", "rotate"], ["keys", "retire"], ["bundle"],
            ["bundle", "import"], ["audit"], ["audit", "verify"], ["user", "unlock"],
            ["user", "passwd"], ["demo"], ["run"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "main")
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_a_bundle_that_is_not_an_envelope_is_refused_clearly(runner, tmp_path):
    runner.invoke(args=["db", "upgrade"])
    junk = tmp_path / "junk.bundle"
    junk.write_bytes(b"PK\x03\x04 not a bundle at all")
    result = runner.invoke(args=["bundle", "import", str(junk), "--reply",
                                 str(tmp_path / "reply")])
    assert result.exit_code != 0 and "信封" in result.output
    assert not (tmp_path / "reply").exists()


def test_a_user_is_unlocked_and_given_a_new_password(app, runner):
    from server.console import lockout
    from server.passwords import verify_password

    runner.invoke(args=["db", "upgrade"])
    runner.invoke(args=["user", "add", "jiandu", "--role", "supervisor", "--scope", "522731",
                        "--password", "first-password"])
    storage = storage_of(app)
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc)
    for _ in range(10):
        lockout.note_failure(storage, "jiandu", now,
                             lockout.LockPolicy(3, dt.timedelta(minutes=15)))
    assert storage.get_login_failures("jiandu") is not None
    storage.close()
    assert runner.invoke(args=["user", "unlock", "jiandu"]).exit_code == 0
    result = runner.invoke(args=["user", "passwd", "jiandu", "--password", "second-password"])
    assert result.exit_code == 0, result.output
    storage = storage_of(app)
    assert storage.get_login_failures("jiandu") is None
    assert verify_password("second-password", storage.get_user("jiandu").password_hash)
    assert [e.action for e in storage.audit_entries(limit=2)] == ["user.passwd", "user.unlock"]
    storage.close()
    assert runner.invoke(args=["user", "unlock", "nobody"]).exit_code != 0
    short = runner.invoke(args=["user", "passwd", "jiandu", "--password", "short"])
    assert short.exit_code != 0 and "密码至少" in short.output
