"""``cunsync-server serve``: the server under gunicorn, with several worker processes.

Decision 0008 says why gunicorn. ``run`` (werkzeug's development server) stays for trying
things out on one's own machine.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any

import click

def default_workers() -> int:
    """Worker processes when ``--workers`` is not given: gunicorn's own advice, two per CPU
    core plus one."""
    return 2 * (os.cpu_count() or 1) + 1


NO_SECRET_KEY = (
    "拒绝启动：没有设置 SECRET_KEY。生产模式下必须设置固定的密钥（例如 "
    "export CUNSYNC_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')，"
    "或写入实例目录的 config.py），否则各工作进程的控制台登录互不相认，重启后全部失效。"
    " (SECRET_KEY is not set: see docs/operator-guide.md, Production serving)")


def _child_exit(_server: Any, worker: Any) -> None:
    """A worker ended: its live gauges leave the sums (counters and histograms stay)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def _application(host: str, port: int, workers: int, timeout: int) -> Any:
    from gunicorn.app.base import BaseApplication

    class CountyServer(BaseApplication):  # type: ignore[misc]
        """gunicorn running ``create_app()`` in each worker (not in the master: every worker
        opens its own database connections after the fork)."""

        def load_config(self) -> None:
            settings = {"bind": [f"{host}:{port}"], "workers": workers, "timeout": timeout,
                        "worker_class": "sync", "child_exit": _child_exit,
                        "accesslog": "-", "errorlog": "-", "proc_name": "cunsync-server"}
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from . import create_app

            return create_app()

    return CountyServer()


def _check_secret_key() -> None:
    """Build the app once in the master, as the workers will, to read its settings."""
    from . import create_app

    app = create_app()
    if app.extensions["cunsync_secret_key_made"]:
        raise click.ClickException(NO_SECRET_KEY)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on (keep 127.0.0.1 behind a reverse proxy)")
@click.option("--port", default=8000, show_default=True, help="port to listen on")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="worker processes [default: 2 × CPU cores + 1, "
                   f"{default_workers()} on this machine]")
@click.option("--timeout", type=click.IntRange(min=1), default=120, show_default=True,
              help="seconds a request may take before its worker is restarted")
def serve_command(host: str, port: int, workers: int | None, timeout: int) -> None:
    """Run the server for production: gunicorn with several worker processes.

    Refuses to start without SECRET_KEY set (CUNSYNC_SECRET_KEY or config.py in the instance
    folder). Put a reverse proxy with TLS (nginx) in front; see docs/operator-guide.md.
    `cunsync-server run` is the development server, for trying things out only.

    \b
    Example: CUNSYNC_SECRET_KEY=... cunsync-server serve --port 8000 --workers 4
    """
    if sys.platform == "win32":  # pragma: no cover
        raise click.ClickException("serve needs gunicorn, which runs on Linux/Unix only; "
                                   "use `cunsync-server run` to try things out on Windows")
    # Before anything imports prometheus_client: each worker writes its metrics here, and
    # /metrics adds them up. Made fresh for every start, removed on the way out.
    if "prometheus_client" in sys.modules:  # pragma: no cover  (a bug: /metrics would lie)
        raise click.ClickException("prometheus_client was imported before serve set up its "
                                   "multiprocess directory; /metrics would count one worker")
    metrics_dir = tempfile.mkdtemp(prefix="cunsync-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        _check_secret_key()
        _application(host, port, workers or default_workers(), timeout).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
