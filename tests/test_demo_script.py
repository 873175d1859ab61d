"""``bash scripts/demo.sh``: the README's first command, run as a newcomer runs it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "demo.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(instance: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUNSYNC_", "FLASK_"))}
    env["CUNSYNC_INSTANCE_PATH"] = str(instance)
    return env


def run(args: list[str], instance: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          env=environment(instance), timeout=120)


@pytest.mark.parametrize("args", [["--port"], ["--port", "abc"], ["--port", "70000"],
                                  ["--prot", "5001"]])
def test_a_bad_port_is_a_usage_error_before_anything_is_built(args, tmp_path):
    result = run(args, tmp_path / "instance")
    assert result.returncode == 2
    assert "usage: bash scripts/demo.sh [--port N]" in result.stderr
    assert "unbound variable" not in result.stderr
    assert result.stdout == "" and not (tmp_path / "instance").exists()


def test_a_port_in_use_is_refused_before_the_banner(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run(["--port", str(port)], tmp_path / "instance")
    assert result.returncode == 1
    assert f"port {port} is in use" in result.stderr
    assert "cunsync county server" not in result.stdout
    assert not (tmp_path / "instance").exists()


def test_the_demo_starts_and_says_how_to_enrol_a_tablet(tmp_path):
    port = free_port()
    instance = tmp_path / "instance"
    server = subprocess.Popen(["bash", str(SCRIPT), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=environment(instance), start_new_session=True)
    try:
        banner = []
        assert server.stdout is not None
        for line in server.stdout:
            banner.append(line)
            if line.startswith("Stop with Ctrl-C"):
                break
        text = "".join(banner)
        assert f"http://127.0.0.1:{port}/console/" in text, text
        code = re.search(r"enrolment code ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})", text)
        assert code, text
        assert (f"cunsync enroll --server http://127.0.0.1:{port} --code {code.group(1)}"
                in text)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/openapi.json",
                                            timeout=5) as reply:
                    assert reply.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "the demo server did not answer"
                time.sleep(0.5)
        # The code in the banner enrols a tablet, as the banner says.
        tablet = {**environment(instance), "CUNSYNC_HOME": str(tmp_path / "tablet"),
                  "CUNSYNC_PASSPHRASE": "demo-tablet-passphrase"}
        enrolled = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "cunsync"), "enroll", "--server",
             f"http://127.0.0.1:{port}", "--code", code.group(1)],
            capture_output=True, text=True, env=tablet, timeout=60)
        assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
        assert (instance / "demo.sqlite").exists()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        if server.stdout is not None:
            server.stdout.close()
