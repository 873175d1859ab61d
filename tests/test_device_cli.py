"""The device commands: cunsync enroll / sync / status / bundle / passwd, against a real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from client_kit.cli import main
from client_kit.store import DeviceStore
from e2e.conftest import VILLAGE_A, seed_village
from e2e.support import CutPlan, CuttingProxy, LiveServer, enrolment_code, make_app
from test_transport import RawServer

PASS = "village-pass"


@pytest.fixture
def server(tmp_path):
    with LiveServer(make_app(tmp_path)) as live:
        yield live


def cli(db, *args, env=None):
    return CliRunner().invoke(main, ["--db", str(db), *args],
                              env={"CUNSYNC_PASSPHRASE": PASS, **(env or {})})


def enrolled(server, tmp_path):
    db = tmp_path / "device.sqlite"
    code = enrolment_code(server, "wangfang", [VILLAGE_A])
    result = cli(db, "enroll", "--server", server.url, "--code", code)
    assert result.exit_code == 0, result.output
    assert "注册成功" in result.output and VILLAGE_A in result.output
    return db


def test_enroll_sync_and_status(server, tmp_path):
    db = enrolled(server, tmp_path)
    store = DeviceStore.open(db, passphrase=PASS)
    seed_village(store)
    store.close()
    status = json.loads(cli(db, "status", "--json").output)
    assert status["pending"] == 8 and status["last_sync"] is None
    result = cli(db, "sync")
    assert result.exit_code == 0, result.output
    assert "上传 8 条" in result.output
    status = json.loads(cli(db, "status", "--json").output)
    assert status["pending"] == 0 and status["last_sync"]
    assert "待上传：0 条" in cli(db, "status").output


def test_a_code_works_once(server, tmp_path):
    code = enrolment_code(server, "wangfang", [VILLAGE_A])
    assert cli(tmp_path / "one.sqlite", "enroll", "--server", server.url,
               "--code", code).exit_code == 0
    again = cli(tmp_path / "two.sqlite", "enroll", "--server", server.url, "--code", code)
    assert again.exit_code != 0 and "注册码无效" in again.output


def test_a_wrong_passphrase_is_a_clear_error(server, tmp_path):
    db = enrolled(server, tmp_path)
    result = cli(db, "sync", env={"CUNSYNC_PASSPHRASE": "not-it"})
    assert result.exit_code != 0 and "口令错误" in result.output


def test_changing_the_passphrase(server, tmp_path):
    db = enrolled(server, tmp_path)
    result = CliRunner().invoke(main, ["--db", str(db), "passwd", "--old", PASS],
                                input="new-passphrase\nnew-passphrase\n")
    assert result.exit_code == 0, result.output
    assert cli(db, "sync", env={"CUNSYNC_PASSPHRASE": "new-passphrase"}).exit_code == 0
    assert cli(db, "sync").exit_code != 0


def test_sync_without_a_server_says_so_and_keeps_the_records(server, tmp_path):
    db = enrolled(server, tmp_path)
    store = DeviceStore.open(db, passphrase=PASS)
    seed_village(store)
    store.set_meta("server", "http://127.0.0.1:9")
    store.close()
    result = cli(db, "sync", "--quiet")
    assert result.exit_code != 0 and "无法连接服务器" in result.output
    # Only the server is down: the network is there, and no raw library text is shown.
    assert "服务器没有应答" in result.output and "没有网络" not in result.output
    assert "<urlopen error" not in result.output and "Errno" not in result.output
    assert "Traceback" not in result.output
    assert json.loads(cli(db, "status", "--json").output)["pending"] == 8


def test_sync_before_enrolment_is_explained(tmp_path):
    result = cli(tmp_path / "device.sqlite", "sync")
    assert result.exit_code != 0 and "cunsync enroll" in result.output


@pytest.mark.parametrize("command", [[], ["enroll"], ["sync"], ["status"], ["bundle"],
                                     ["bundle", "export"], ["bundle", "import"], ["passwd"]])
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Example" in result.output


def test_a_reply_bundle_that_is_not_ours_is_refused_clearly(server, tmp_path):
    db = enrolled(server, tmp_path)
    junk = tmp_path / "reply.bundle"
    junk.write_bytes(b"CSE1" + bytes(200))
    result = cli(db, "bundle", "import", str(junk))
    assert result.exit_code != 0 and "服务器回复无法验证" in result.output


def test_status_shows_the_last_sync_in_local_time(server, tmp_path, monkeypatch):
    db = enrolled(server, tmp_path)
    store = DeviceStore.open(db)
    store.set_meta("last_sync", "2026-03-01T00:30:00+00:00")
    store.close()
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        output = cli(db, "status").output
    finally:
        monkeypatch.undo()
        time.tzset()
    assert "上次同步：2026-03-01 08:30" in output and "+00:00" not in output


def test_a_silent_server_makes_the_cli_say_it_is_waiting_then_why_it_stopped(server, tmp_path):
    db = enrolled(server, tmp_path)
    store = DeviceStore.open(db, passphrase=PASS)
    seed_village(store)
    with RawServer(hang=True) as silent:
        store.set_meta("server", silent.url)
        store.close()
        result = cli(db, "sync", "--quiet", "--timeout", "1")
    assert result.exit_code != 0
    assert "正在等待县服务器回复" in result.output and "Ctrl-C" in result.output
    assert "1 秒内没有回复" in result.output and "什么也没有丢" in result.output
    assert json.loads(cli(db, "status", "--json").output)["pending"] == 8


def test_ctrl_c_while_waiting_stops_at_once_and_keeps_everything(server, tmp_path):
    db = enrolled(server, tmp_path)
    store = DeviceStore.open(db, passphrase=PASS)
    seed_village(store)
    with RawServer(hang=True) as silent:
        store.set_meta("server", silent.url)
        store.close()
        command = subprocess.Popen(
            [sys.executable, "-m", "client_kit.cli", "--db", str(db), "sync", "--quiet",
             "--timeout", "8"], stderr=subprocess.PIPE, stdout=subprocess.PIPE,
            env={**os.environ, "CUNSYNC_PASSPHRASE": PASS})
        assert command.stderr is not None
        first = command.stderr.readline().decode()
        assert "正在等待" in first
        command.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, rest = command.communicate(timeout=20)
        assert time.monotonic() - started < 5
    assert command.returncode == 130
    assert "已中止" in rest.decode() and "Traceback" not in rest.decode()
    assert json.loads(cli(db, "status", "--json").output)["pending"] == 8


def test_ctrl_c_while_a_push_hangs_stops_at_once_and_sends_it_again_next_time(server, tmp_path):
    db = enrolled(server, tmp_path)
    store = DeviceStore.open(db, passphrase=PASS)
    seed_village(store)
    plan = CutPlan(lambda method, path, n: "hang" if path.endswith("/push") else None)
    with CuttingProxy(server.httpd.server_port, plan) as proxy:
        store.set_meta("server", proxy.url)
        store.close()
        command = subprocess.Popen(
            [sys.executable, "-m", "client_kit.cli", "--db", str(db), "sync", "--quiet",
             "--timeout", "20"], stderr=subprocess.PIPE, stdout=subprocess.PIPE,
            env={**os.environ, "CUNSYNC_PASSPHRASE": PASS})
        assert command.stderr is not None
        assert "正在等待" in command.stderr.readline().decode()
        command.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, rest = command.communicate(timeout=30)
        assert time.monotonic() - started < 5  # not the 20 s the push would wait
    assert command.returncode == 130 and "已中止" in rest.decode()
    assert "Traceback" not in rest.decode()
    # The push reached the server, its answer never came back: sent again, nothing doubles.
    store = DeviceStore.open(db)
    store.set_meta("server", server.url)
    store.close()
    assert json.loads(cli(db, "status", "--json").output)["pending"] == 8
    result = cli(db, "sync", "--quiet")
    assert result.exit_code == 0, result.output
    assert json.loads(cli(db, "status", "--json").output)["pending"] == 0
    storage = server.storage()
    try:
        assert storage.count_rows("person") == 2
    finally:
        storage.close()
