"""End to end: `cunsync-server serve` (gunicorn, two worker processes) serves real devices, and
/metrics adds up what both workers counted."""

from __future__ import annotations

import base64
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import pytest

from server import create_app
from server.db import app_storage

from .conftest import VILLAGE_A, seed_village
from .support import enrol

SERVER_COMMAND = str(Path(sys.executable).with_name("cunsync-server"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def sample(text: str, name: str, labels: str = "") -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


class Served:
    """`cunsync-server serve` as a subprocess in its own process group, stopped on exit."""

    def __init__(self, tmp_path: Path, workers: int = 2) -> None:
        data_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        self.instance = tmp_path / "instance"
        self.tmpdir = tmp_path / "tmp"
        self.tmpdir.mkdir()
        database = f"sqlite:///{tmp_path / 'county.sqlite'}"
        self.app = create_app({"TESTING": True, "STORAGE_URL": database, "SECRET_KEY": "test",
                               "DATA_KEY": data_key}, instance_path=str(self.instance))
        storage = app_storage(self.app)
        storage.upgrade()
        storage.close()
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("CUNSYNC_") and k != "PROMETHEUS_MULTIPROC_DIR"}
        env.update(CUNSYNC_STORAGE_URL=database, CUNSYNC_DATA_KEY=data_key,
                   CUNSYNC_SECRET_KEY=secrets.token_hex(16),
                   CUNSYNC_INSTANCE_PATH=str(self.instance), TMPDIR=str(self.tmpdir))
        self.log = open(tmp_path / "serve.log", "wb")
        self.process = subprocess.Popen(
            [SERVER_COMMAND, "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def storage(self):  # type: ignore[no-untyped-def]
        return app_storage(self.app)

    def wait_healthy(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                if get(self.url + "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("serve did not become healthy:\n" + self.output())

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    server = Served(tmp_path)
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


def test_serve_runs_devices_syncs_under_two_workers_and_metrics_add_up(served, tmp_path):
    a = enrol(served, tmp_path, "a", [VILLAGE_A])
    b = enrol(served, tmp_path, "b", [VILLAGE_A])
    try:
        seeded = seed_village(a.store)
        first = a.sync()
        got = b.sync()
        assert got.received == first.sent > 0
        employment = seeded["employment"]["id"]
        a.store.update("employment", employment, {"monthly_income": 4500})
        b.store.update("employment", employment, {"monthly_income": 3800})
        second, third = a.sync(), b.sync()
        a.sync()
        assert third.conflicts == 1
        syncs = 5
        sent = first.sent + second.sent + third.sent
        assert b.store.get("employment", employment)["monthly_income"] == \
            a.store.get("employment", employment)["monthly_income"]
    finally:
        a.store.close()
        b.store.close()

    # Each scrape is answered by either worker; every one shows what both counted.
    texts = [get(served.url + "/metrics")[2].decode() for _ in range(6)]
    for text in texts:
        assert sample(text, "cunsync_pushes_total") == 3  # the syncs that had changes to send
        assert sample(text, "cunsync_changes_applied_total") == sent
        assert sample(text, "cunsync_conflicts_opened_total") == 1
        assert sample(text, "cunsync_pulls_total") >= syncs
        assert sample(text, "cunsync_changes_pulled_total") >= first.sent
        assert sample(text, "cunsync_request_seconds_count", '{endpoint="sync.push"}') == 3
        assert sample(text, "cunsync_request_seconds_count", '{endpoint="sync.hello"}') >= syncs
    metrics_dirs = list(served.tmpdir.glob("cunsync-metrics-*"))
    assert len(metrics_dirs) == 1
    # Requests sent one at a time may all land on one worker; a few at once reach both.
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda _: get(served.url + "/metrics"), range(30)))
    pids = {int(re.sub(r"\D", "", p.name)) for p in metrics_dirs[0].glob("*.db")}
    assert len(pids - {served.process.pid}) == 2, "both workers answered and kept their counts"

    served.stop()
    assert served.process.returncode == 0, served.output()
    assert list(served.tmpdir.glob("cunsync-metrics-*")) == [], "serve removes its metrics dir"
