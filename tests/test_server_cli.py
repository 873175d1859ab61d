"""The operator's commands: cunsync-server / flask --app server."""

from __future__ import annotations

import json
import os
from pathlib import Path

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
            ["user", "passwd"], ["user", "list"], ["demo"], ["run"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "main")
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != ["run"]],
                         ids=lambda c: " ".join(c) or "main")
def test_dash_h_is_help(command):
    result = CliRunner().invoke(main, [*command, "-h"])
    assert result.exit_code == 0 and "Usage" in result.output, result.output


@pytest.fixture
def fresh_directory(tmp_path, monkeypatch):
    """An empty working directory and no CUNSYNC_* settings in the environment."""
    for name in list(os.environ):
        if name.startswith(("CUNSYNC_", "FLASK_")):
            monkeypatch.delenv(name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_help_shows_cunsyncs_options_not_flasks(fresh_directory):
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for flask_option in ("--env-file", "--app", "python-dotenv", "--debug"):
        assert flask_option not in result.output
    assert "-h, --help" in result.output and "--version" in result.output


def test_version_is_cunsyncs(fresh_directory):
    from importlib.metadata import version

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"cunsync-server {version('cunsync')}\n"


def test_help_writes_nothing_and_the_instance_folder_is_in_the_working_directory(
        fresh_directory):
    import server

    package = Path(server.__file__).parent
    before = sorted(p.name for p in package.iterdir())
    for args in (["--help"], ["-h"], ["db", "--help"], ["report", "--help"]):
        assert CliRunner().invoke(main, args).exit_code == 0
    assert list(fresh_directory.iterdir()) == []
    assert sorted(p.name for p in package.iterdir()) == before
    assert create_app().instance_path == str(fresh_directory / "instance")
    # The first command that stores something makes the folder, here.
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (fresh_directory / "instance" / "cunsync.sqlite").exists()
    assert CliRunner().invoke(main, ["keys", "list"]).exit_code == 0  # needs the data key
    assert (fresh_directory / "instance" / "data.key").exists()
    assert not (package / "instance").exists()


def test_the_instance_folder_can_be_named(fresh_directory, monkeypatch, tmp_path):
    monkeypatch.setenv("CUNSYNC_INSTANCE_PATH", str(tmp_path / "srv"))
    assert create_app().instance_path == str(tmp_path / "srv")
    assert CliRunner().invoke(main, ["db", "upgrade"]).exit_code == 0
    assert (tmp_path / "srv" / "cunsync.sqlite").exists()
    assert list(fresh_directory.iterdir()) == []


def test_list_commands_print_json(app, runner):
    from server.accounts import add_device_record

    runner.invoke(args=["db", "upgrade"])
    runner.invoke(args=["user", "add", "wangfang", "--role", "worker", "--scope",
                        "522731100201", "--display-name", "王芳", "--password", "long-enough"])
    issued = json.loads(runner.invoke(args=["enrol-code", "issue", "--user", "wangfang",
                                            "--village", "522731100201"]).output)
    storage = storage_of(app)
    add_device_record(storage, "wangfang", ["522731100201"], "dev-1")
    storage.close()

    def listed(*args):
        result = runner.invoke(args=[*args, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    (user,) = listed("user", "list")
    assert user["name"] == "wangfang" and user["display_name"] == "王芳"
    assert user["scope"] == ["522731100201"] and "password_hash" not in user
    (code,) = listed("enrol-code", "list")
    assert code["hint"] == issued["code"][:4] and code["state"] == "open"
    assert issued["code"] not in json.dumps(code)
    (device,) = listed("device", "list")
    assert (device["id"], device["user"], device["state"]) == ("dev-1", "wangfang", "active")
    keys = listed("keys", "list")
    assert [k["status"] for k in keys] == ["active"]
    assert "private_sealed" not in keys[0]
    assert "wangfang\tworker" in runner.invoke(args=["user", "list"]).output


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


def test_the_data_key_is_made_on_first_use_and_a_bad_one_still_fails_at_start(tmp_path):
    from server.data_key import DataKeyError

    with pytest.raises(DataKeyError):
        create_app({"DATA_KEY": "c2hvcnQ"}, instance_path=str(tmp_path / "bad"))
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    first = create_app({"STORAGE_URL": url}, instance_path=str(tmp_path / "inst"))
    assert not (tmp_path / "inst").exists()
    sealed = first.extensions["cunsync_sealer"].seal("522731199001011234", "persons.id_number")
    key = (tmp_path / "inst" / "data.key").read_text()
    again = create_app({"STORAGE_URL": url}, instance_path=str(tmp_path / "inst"))
    assert again.extensions["cunsync_sealer"].open(sealed, "persons.id_number") == \
        "522731199001011234"
    assert (tmp_path / "inst" / "data.key").read_text() == key
