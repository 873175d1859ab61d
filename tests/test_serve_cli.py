"""`cunsync-server serve`: production serving refuses to start without a secret key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from server.cli import main
from server.serve_cli import default_workers

SERVER_COMMAND = str(Path(sys.executable).with_name("cunsync-server"))


def test_serve_refuses_to_start_without_a_secret_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUNSYNC_")}
    env.update(CUNSYNC_INSTANCE_PATH=str(tmp_path / "instance"), TMPDIR=str(tmp_path))
    done = subprocess.run([SERVER_COMMAND, "serve", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "没有设置 SECRET_KEY" in done.stderr and "CUNSYNC_SECRET_KEY" in done.stderr
    assert "Booting worker" not in done.stderr + done.stdout  # gunicorn never started
    assert list(tmp_path.glob("cunsync-metrics-*")) == []  # its metrics dir is cleaned up


def test_serve_refuses_a_secret_key_set_empty_in_the_instance_config(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text('SECRET_KEY = ""\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUNSYNC_")}
    env.update(CUNSYNC_INSTANCE_PATH=str(instance), TMPDIR=str(tmp_path))
    done = subprocess.run([SERVER_COMMAND, "serve"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0 and "SECRET_KEY" in done.stderr


def test_serve_help_has_an_example_and_the_default_worker_count():
    result = CliRunner().invoke(main, ["serve", "-h"])
    assert result.exit_code == 0
    assert "Example: CUNSYNC_SECRET_KEY=" in result.output
    words = " ".join(result.output.split())
    assert f"2 × CPU cores + 1, {default_workers()} on this machine" in words
    assert default_workers() == 2 * (os.cpu_count() or 1) + 1


def test_run_says_it_is_the_development_server():
    result = CliRunner().invoke(main, ["run", "--help"])
    assert result.exit_code == 0
    assert "development server" in result.output and "cunsync-server serve" in result.output
