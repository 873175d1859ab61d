"""The operator's commands: cunsync-server / flask --app server."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from server import create_app
from server.cli import main
from server.storage import open_storage


@pytest.fixture
def app(tmp_path):
    return create_app({"TESTING": True, "STORAGE_URL": f"sqlite:///{tmp_path / 's.sqlite'}"})


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def storage_of(app):
    return open_storage(app.config["STORAGE_URL"])


def test_db_upgrade_applies_migrations_once(runner):
    first = runner.invoke(args=["db", "upgrade"])
    assert first.exit_code == 0 and "applied migrations: [1, 2]" in first.output
    again = runner.invoke(args=["db", "upgrade"])
    assert "up to date" in again.output


def test_a_device_registered_gets_a_token_that_is_stored_only_hashed(app, runner):
    runner.invoke(args=["db", "upgrade"])
    result = runner.invoke(args=["device", "add", "--user", "wangfang",
                                 "--village", "522731100201", "--id", "dev-1"])
    assert result.exit_code == 0, result.output
    issued = json.loads(result.output)
    assert issued["device_id"] == "dev-1" and len(issued["token"]) >= 40
    storage = storage_of(app)
    raw = storage.conn.execute("SELECT token_hash FROM devices").fetchone()[0]
    assert issued["token"] not in raw
    storage.close()
    listed = runner.invoke(args=["device", "list"])
    assert "dev-1" in listed.output and "active" in listed.output
    revoked = runner.invoke(args=["device", "revoke", "dev-1"])
    assert revoked.exit_code == 0
    assert "revoked" in runner.invoke(args=["device", "list"]).output


@pytest.mark.parametrize("args,message", [
    (["device", "add", "--user", "w", "--village", "5227"], "12-digit"),
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


def test_the_same_device_id_twice_is_refused(runner):
    runner.invoke(args=["db", "upgrade"])
    args = ["device", "add", "--user", "w", "--village", "522731100201", "--id", "dev-1"]
    runner.invoke(args=args)
    again = runner.invoke(args=args)
    assert again.exit_code != 0 and "已存在" in again.output


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


COMMANDS = [[], ["db"], ["db", "upgrade"], ["user"], ["user", "add"], ["device"],
            ["device", "add"], ["device", "list"], ["device", "revoke"], ["demo"], ["run"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "main")
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
