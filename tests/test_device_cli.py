"""The device commands: cunsync setup / sync / status, against a real server on loopback."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from client_kit.cli import main
from client_kit.store import DeviceStore
from e2e.conftest import VILLAGE_A, seed_village
from e2e.support import LiveServer, make_app
from server.accounts import register_device


@pytest.fixture
def server(tmp_path):
    with LiveServer(make_app(tmp_path)) as live:
        yield live


def cli(db, *args):
    return CliRunner().invoke(main, ["--db", str(db), *args])


def test_setup_sync_and_status(server, tmp_path):
    storage = server.storage()
    device, token = register_device(storage, "wangfang", [VILLAGE_A], "dev-1")
    storage.close()
    db = tmp_path / "device.sqlite"
    assert cli(db, "setup", "--server", server.url, "--device-id", "dev-1",
               "--token", token).exit_code == 0
    store = DeviceStore.open(db)
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


def test_sync_without_a_server_says_so_and_keeps_the_records(tmp_path):
    db = tmp_path / "device.sqlite"
    cli(db, "setup", "--server", "http://127.0.0.1:9", "--device-id", "dev-1", "--token", "t")
    store = DeviceStore.open(db)
    seed_village(store)
    store.close()
    result = cli(db, "sync", "--quiet")
    assert result.exit_code != 0 and "无法连接服务器" in result.output
    assert json.loads(cli(db, "status", "--json").output)["pending"] == 8


def test_sync_before_setup_is_explained(tmp_path):
    result = cli(tmp_path / "device.sqlite", "sync")
    assert result.exit_code != 0 and "cunsync setup" in result.output


def test_a_store_cannot_be_rebound_to_another_device(tmp_path):
    db = tmp_path / "device.sqlite"
    cli(db, "setup", "--server", "http://x", "--device-id", "dev-1", "--token", "t")
    result = cli(db, "setup", "--server", "http://x", "--device-id", "dev-2", "--token", "t")
    assert result.exit_code != 0 and "dev-1" in result.output


@pytest.mark.parametrize("command", [[], ["setup"], ["sync"], ["status"]])
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Example" in result.output
