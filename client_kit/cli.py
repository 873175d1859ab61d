"""The device command line: enroll, sync, status, bundles, passphrase."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator

import click

from . import __version__
from .bundle import export_bundle, import_reply
from .channel import Channel
from .domain import RECORD_TYPES
from .enrol import enrol
from .errors import CunsyncError
from .store import DeviceStore
from .sync_client import SyncClient, SyncSummary
from .transport import HttpTransport

DEFAULT_DB = Path(os.environ.get("CUNSYNC_HOME", Path.home() / ".cunsync")) / "device.sqlite"

CONTEXT = {"help_option_names": ["-h", "--help"]}

passphrase_option = click.option(
    "--passphrase", envvar="CUNSYNC_PASSPHRASE", prompt="口令 (passphrase)", hide_input=True,
    help="the worker's passphrase that unlocks this device (asked for when not given)")


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except CunsyncError as err:
        raise click.ClickException(f"{err.message} [{err.code}]") from None


@contextlib.contextmanager
def _unlocked(db: str, passphrase: str) -> Iterator[DeviceStore]:
    if not Path(db).exists():
        raise click.ClickException("本设备尚未注册，请先运行 cunsync enroll")
    with _refusals():
        store = DeviceStore.open(db, passphrase=passphrase)
        try:
            yield store
        finally:
            with contextlib.suppress(Exception):
                store.close()


def _summary(summary: SyncSummary) -> str:
    text = (f"同步完成：上传 {summary.sent} 条，下载 {summary.received} 条，"
            f"新冲突 {summary.conflicts} 条")
    if summary.refused:
        text += (f"；县里退回 {summary.refused} 条，已另行保存（cunsync status 查看，"
                 "cunsync set-aside resend/discard 处理）")
    return text


@click.group(context_settings=CONTEXT)
@click.option("--db", envvar="CUNSYNC_DB", default=str(DEFAULT_DB), show_default=True,
              help="the device's store (SQLite file)")
@click.version_option(__version__, prog_name="cunsync")
@click.pass_context
def main(ctx: click.Context, db: str) -> None:
    """cunsync on a work team's laptop or tablet: record offline, sync with the county.

    Example: cunsync enroll --server http://10.0.0.5:5000 --code K3F9-7QXM-2D4H
    """
    ctx.obj = db


@main.command(context_settings=CONTEXT)
@click.option("--server", required=True, help="county server address, e.g. http://10.0.0.5:5000")
@click.option("--code", required=True, help="one-time enrolment code from the county")
@click.option("--passphrase", envvar="CUNSYNC_PASSPHRASE", prompt="设置口令 (new passphrase)",
              hide_input=True, confirmation_prompt=True,
              help="the passphrase that will unlock this device (at least 6 characters)")
@click.pass_obj
def enroll(db: str, server: str, code: str, passphrase: str) -> None:
    """Enrol this device with a one-time code: keys are made here, only public halves sent.

    Example: cunsync enroll --server http://127.0.0.1:5000 --code K3F9-7QXM-2D4H
    """
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    with _refusals():
        store = enrol(db, server, code, passphrase)
    villages = json.loads(store.meta("villages", "[]") or "[]")
    click.echo(f"注册成功：设备 {store.device_id}，负责村 {', '.join(villages)}")
    store.close()


@main.command(context_settings=CONTEXT)
@click.option("--quiet", is_flag=True, help="no progress bar")
@passphrase_option
@click.pass_obj
def sync(db: str, quiet: bool, passphrase: str) -> None:
    """Send pending records to the county and receive what is new.

    Example: cunsync sync
    """
    with _unlocked(db, passphrase) as store:
        server = store.meta("server")
        if not server:
            raise click.ClickException("本设备尚未注册，请先运行 cunsync enroll")
        client = SyncClient(store, Channel(store, HttpTransport(server)), app_version=__version__)
        bars: dict[str, Any] = {}

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
            with _refusals():
                summary = client.sync(progress)
        finally:
            for bar in bars.values():
                bar.__exit__(None, None, None)
        click.echo(_summary(summary))


@main.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_obj
def status(db: str, as_json: bool) -> None:
    """Pending changes, last sync, and fields under supervisor review on this device.

    Example: cunsync status
    """
    if not Path(db).exists():
        raise click.ClickException("本设备尚未注册，请先运行 cunsync enroll")
    with _refusals():
        store = DeviceStore.open(db)
    try:
        disputed = {}
        for name, rt in RECORD_TYPES.items():
            count = store.conn.execute(
                f"SELECT count(*) FROM {rt.table} WHERE _disputed != '[]'").fetchone()[0]
            if count:
                disputed[name] = count
        set_aside = [{"seq": e.seq, "record_type": e.record_type, "row_id": e.row_id,
                      "village": e.village_code, "op": e.op, "code": e.code,
                      "message": e.message, "refused_at": e.refused_at}
                     for e in store.set_aside(with_fields=False)]
        info = {"device_id": store.device_id, "server": store.meta("server"),
                "pending": store.pending_count(), "last_sync": store.meta("last_sync"),
                "under_review": disputed, "set_aside": set_aside}
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False))
        return
    click.echo(f"设备：{info['device_id']}  服务器：{info['server'] or '未注册'}")
    click.echo(f"待上传：{info['pending']} 条")
    click.echo(f"上次同步：{info['last_sync'] or '从未同步'}")
    if disputed:
        for name, count in disputed.items():
            click.echo(f"待审核：{RECORD_TYPES[name].label} {count} 条")
    else:
        click.echo("待审核：无")
    if set_aside:
        click.echo(f"县里退回：{len(set_aside)} 条（其余记录已照常上传）")
        for entry in set_aside:
            rt = RECORD_TYPES.get(entry["record_type"])
            label = rt.label if rt else entry["record_type"]
            click.echo(f"  第 {entry['seq']} 号  {label}（村 {entry['village']}）：{entry['message']}")
        click.echo("  处理：cunsync set-aside resend 序号（原因消除后重新上传）"
                   " 或 cunsync set-aside discard 序号（放弃）")
    else:
        click.echo("县里退回：无")


@main.group("set-aside", context_settings=CONTEXT)
def set_aside() -> None:
    """Changes the county refused, kept aside: send one again or discard it.

    Example: cunsync set-aside resend 42
    """


@set_aside.command("resend", context_settings=CONTEXT)
@click.argument("seq", type=click.IntRange(min=1))
@passphrase_option
@click.pass_obj
def set_aside_resend(db: str, seq: int, passphrase: str) -> None:
    """Queue refused change SEQ again, to be sent at the next sync (once its cause is fixed).

    Example: cunsync set-aside resend 42
    """
    with _unlocked(db, passphrase) as store, _refusals():
        store.resend(seq)
    click.echo(f"第 {seq} 号变更已放回待上传，下次同步时重新上传")


@set_aside.command("discard", context_settings=CONTEXT)
@click.argument("seq", type=click.IntRange(min=1))
@passphrase_option
@click.pass_obj
def set_aside_discard(db: str, seq: int, passphrase: str) -> None:
    """Give up refused change SEQ.

    A refused new record is removed from this device (the county never had it); any other
    refused change is undone here, and the next sync fetches the county's values again.

    Example: cunsync set-aside discard 42
    """
    with _unlocked(db, passphrase) as store, _refusals():
        outcome = store.discard(seq)
    click.echo({"removed": f"已放弃第 {seq} 号变更：县里从未收到这条新记录，已从本设备删除",
                "restored": f"已放弃第 {seq} 号变更：本设备上的改动已撤销，"
                            "下次同步时将从县里取回该记录现在的内容",
                "discarded": f"已放弃第 {seq} 号变更"}[outcome])


@main.group(context_settings=CONTEXT)
def bundle() -> None:
    """USB bundles for a village with no signal at all.

    Example: cunsync bundle export /media/usb/team.bundle
    """


@bundle.command("export", context_settings=CONTEXT)
@click.argument("file", type=click.Path(dir_okay=False))
@passphrase_option
@click.pass_obj
def bundle_export(db: str, file: str, passphrase: str) -> None:
    """Write every pending record, sealed for the county, to FILE.

    Example: cunsync bundle export /media/usb/team.bundle
    """
    with _unlocked(db, passphrase) as store, _refusals():
        count = export_bundle(store, Channel(store), file, app_version=__version__)
    click.echo(f"已导出 {count} 条待上传记录到 {file}（已加密，只有县服务器能打开）")


@bundle.command("import", context_settings=CONTEXT)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@passphrase_option
@click.pass_obj
def bundle_import(db: str, file: str, passphrase: str) -> None:
    """Apply the county's reply bundle FILE: confirmations and new data.

    Example: cunsync bundle import /media/usb/team.reply
    """
    with _unlocked(db, passphrase) as store, _refusals():
        summary = import_reply(store, Channel(store), file)
    click.echo(_summary(summary))


@main.command(context_settings=CONTEXT)
@click.option("--old", envvar="CUNSYNC_PASSPHRASE", prompt="原口令 (old passphrase)",
              hide_input=True, help="the current passphrase")
@click.option("--new", prompt="新口令 (new passphrase)", hide_input=True,
              confirmation_prompt=True, help="the new passphrase")
@click.pass_obj
def passwd(db: str, old: str, new: str) -> None:
    """Change the passphrase (the keys are re-wrapped; no record is rewritten).

    Example: cunsync passwd
    """
    with _refusals():
        store = DeviceStore.open(db)
        try:
            store.change_passphrase(old, new)
        finally:
            store.close()
    click.echo("口令已修改")


@main.command("app", context_settings=CONTEXT)
@click.option("--port", default=8765, show_default=True, help="port to listen on")
@click.option("--lan", is_flag=True,
              help="listen on the laptop's network too, so a tablet on its hotspot can use it")
@click.option("--idle-minutes", default=10.0, show_default=True, type=click.FloatRange(min=0.5),
              help="lock after this many minutes without use")
@click.pass_obj
def field_app(db: str, port: int, lan: bool, idle_minutes: float) -> None:
    """Serve the field app (Chinese, works offline) from this device's store.

    Open the address it prints in a browser and unlock with the passphrase.

    Example: cunsync app --port 8765
    """
    from .app.serve import ALL_INTERFACES, LOOPBACK, serve

    if not Path(db).exists():
        raise click.ClickException("本设备尚未注册，请先运行 cunsync enroll")
    if lan:
        click.secho("注意：--lan 让同一网络（热点）里的其他设备也能打开本应用。请给热点设置密码；"
                    "只有输入口令的浏览器才能看到数据。", fg="yellow", err=True)
    serve(db, host=ALL_INTERFACES if lan else LOOPBACK, port=port, idle_minutes=idle_minutes,
          echo=click.echo)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
