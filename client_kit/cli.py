"""The device command line: ``cunsync setup``, ``cunsync sync``, ``cunsync status``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from . import __version__
from .domain import RECORD_TYPES
from .errors import CunsyncError, Offline
from .store import DeviceStore
from .sync_client import SyncClient
from .transport import HttpTransport

DEFAULT_DB = Path(os.environ.get("CUNSYNC_HOME", Path.home() / ".cunsync")) / "device.sqlite"

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _open(db: str, device_id: str | None = None) -> DeviceStore:
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    try:
        return DeviceStore.open(db, device_id=device_id)
    except CunsyncError as err:
        raise click.ClickException(err.message) from None


@click.group(context_settings=CONTEXT)
@click.option("--db", envvar="CUNSYNC_DB", default=str(DEFAULT_DB), show_default=True,
              help="the device's store (SQLite file)")
@click.version_option(__version__, prog_name="cunsync")
@click.pass_context
def main(ctx: click.Context, db: str) -> None:
    """cunsync on a work team's laptop or tablet: record offline, sync with the county.

    Example: cunsync setup --server http://county.example:5000 --device-id dev-1 --token T
    """
    ctx.obj = db


@main.command(context_settings=CONTEXT)
@click.option("--server", required=True, help="county server address, e.g. http://10.0.0.5:5000")
@click.option("--device-id", required=True, help="device id issued by the county")
@click.option("--token", required=True, help="device token issued by the county")
@click.pass_obj
def setup(db: str, server: str, device_id: str, token: str) -> None:
    """Bind this device's store to the county server (run once per device).

    Example: cunsync setup --server http://127.0.0.1:5000 --device-id dev-1 --token T
    """
    store = _open(db, device_id)
    try:
        with store.transaction():
            store.set_meta("server", server)
            store.set_meta("token", token)
    finally:
        store.close()
    click.echo(f"本设备已设置：{device_id} → {server}")


@main.command(context_settings=CONTEXT)
@click.option("--quiet", is_flag=True, help="no progress bar")
@click.pass_obj
def sync(db: str, quiet: bool) -> None:
    """Send pending records to the county and receive what is new.

    Example: cunsync sync
    """
    store = _open(db)
    try:
        server, token = store.meta("server"), store.meta("token")
        if not server or not token:
            raise click.ClickException("本设备尚未设置服务器，请先运行 cunsync setup")
        client = SyncClient(store, HttpTransport(server, token), app_version=__version__)
        bars: dict[str, click.progressbar] = {}  # type: ignore[type-arg]

        def progress(stage: str, done: int, total: int) -> None:
            if quiet:
                return
            if stage not in bars:
                label = "上传" if stage == "push" else "下载"
                bars[stage] = click.progressbar(length=max(total, 1), label=label)
                bars[stage].__enter__()
            bar = bars[stage]
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        try:
            summary = client.sync(progress)
        except Offline as err:
            raise click.ClickException(err.message) from None
        except CunsyncError as err:
            raise click.ClickException(f"{err.message} [{err.code}]") from None
        finally:
            for bar in bars.values():
                bar.__exit__(None, None, None)
        click.echo(f"同步完成：上传 {summary.sent} 条，下载 {summary.received} 条，"
                   f"新冲突 {summary.conflicts} 条")
    finally:
        store.close()


@main.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_obj
def status(db: str, as_json: bool) -> None:
    """Pending changes, last sync, and fields under supervisor review on this device.

    Example: cunsync status
    """
    store = _open(db)
    try:
        disputed = {}
        for name, rt in RECORD_TYPES.items():
            count = store.conn.execute(
                f"SELECT count(*) FROM {rt.table} WHERE _disputed != '[]'").fetchone()[0]
            if count:
                disputed[name] = count
        info = {"device_id": store.device_id, "server": store.meta("server"),
                "pending": store.pending_count(), "last_sync": store.meta("last_sync"),
                "under_review": disputed}
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False))
        return
    click.echo(f"设备：{info['device_id']}  服务器：{info['server'] or '未设置'}")
    click.echo(f"待上传：{info['pending']} 条")
    click.echo(f"上次同步：{info['last_sync'] or '从未同步'}")
    if disputed:
        for name, count in disputed.items():
            click.echo(f"待审核：{RECORD_TYPES[name].label} {count} 条")
    else:
        click.echo("待审核：无")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
