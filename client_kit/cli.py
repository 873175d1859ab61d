"""The device command line: enroll, sync, status, bundles, passphrase."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any, Iterator

import click

from . import __version__
from .bundle import export_bundle, import_reply
from .channel import Channel
from .domain import RECORD_TYPES
from .enrol import enrol_device
from .errors import CunsyncError
from .keystore import MIN_PASSPHRASE
from .store import DeviceStore
from .sync_client import SyncClient, SyncSummary
from .transport import KEPT, NOTICE_EVERY_S, HttpTransport

DEFAULT_DB = Path(os.environ.get("CUNSYNC_HOME", Path.home() / ".cunsync")) / "device.sqlite"

CONTEXT = {"help_option_names": ["-h", "--help"]}

passphrase_option = click.option(
    "--passphrase", envvar="CUNSYNC_PASSPHRASE", prompt="口令", prompt_required=True,
    hide_input=True,
    help="the worker's passphrase that unlocks this device (asked for when not given)")


def local_time(stamp: str | None) -> str | None:
    """An ISO timestamp (UTC) as this computer's local time, to the minute."""
    if not stamp:
        return None
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _new_passphrase(label: str) -> str:
    """Ask for a new passphrase twice, in Chinese, until it is long enough and repeated."""
    while True:
        first = click.prompt(label, hide_input=True, prompt_suffix="：")
        if len(first) < MIN_PASSPHRASE:
            click.echo(f"口令太短：至少 {MIN_PASSPHRASE} 位，请重新输入", err=True)
            continue
        if click.prompt("再输入一次", hide_input=True, prompt_suffix="：") == first:
            return str(first)
        click.echo("两次输入的口令不一致，请重新输入", err=True)


def _still_waiting(seconds: float) -> None:
    click.echo(f"正在等待县服务器回复（已等 {seconds:.0f} 秒）……按 Ctrl-C 可以中止，"
               f"{KEPT}", err=True)


def _busy_notice(seconds: float) -> None:
    click.echo(f"服务器繁忙，{seconds:.0f} 秒后自动重试……按 Ctrl-C 可以中止，{KEPT}", err=True)


@contextlib.contextmanager
def _interruptible(transport: HttpTransport) -> Iterator[None]:
    """Ctrl-C breaks the request in flight at once and ends the command, keeping everything:
    each step of a sync is its own transaction."""
    def stop(_signum: int, _frame: FrameType | None) -> None:
        transport.abort()
        raise KeyboardInterrupt

    previous = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, stop)
    except ValueError:  # not the main thread: Ctrl-C keeps its usual meaning
        previous = None
    try:
        yield
    except KeyboardInterrupt:
        click.echo(f"已中止。{KEPT}；已送到服务器的部分下次不会重复。", err=True)
        raise click.exceptions.Exit(130) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


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
    if summary.restored:
        text += (f"；县级服务器已从备份恢复，本设备重新上传了服务器缺少的 {summary.resent} 条"
                 "本机录入的变更")
        if summary.lost_on_server:
            text += (f"；另有 {summary.lost_on_server} 条记录由其他设备录入、服务器上已没有，"
                     "已保留在本设备上：请让录入设备联网同步，或联系县级管理员")
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
@click.option("--passphrase", envvar="CUNSYNC_PASSPHRASE",
              help="the passphrase that will unlock this device (at least 6 characters; "
                   "asked for twice when not given)")
@click.pass_obj
def enroll(db: str, server: str, code: str, passphrase: str | None) -> None:
    """Enrol this device with a one-time code: keys are made here, only public halves sent.

    Everything on this device is checked before the server is asked; if the reply is lost,
    run the same command again with the same code.

    Example: cunsync enroll --server http://127.0.0.1:5000 --code K3F9-7QXM-2D4H
    """
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    if passphrase is None:
        passphrase = _new_passphrase(f"设置本设备的口令（至少 {MIN_PASSPHRASE} 位）")
    transport = HttpTransport(server, waiting=_still_waiting)
    with _refusals(), _interruptible(transport):
        enrolled = enrol_device(db, server, code, passphrase, transport=transport)
    store = enrolled.store
    villages = json.loads(store.meta("villages", "[]") or "[]")
    scope = f"设备 {store.device_id}，负责村 {', '.join(villages)}"
    store.close()
    if enrolled.confirmed:
        click.echo(f"注册成功：{scope}")
        return
    click.echo(f"注册已保存在本设备：{scope}")
    reason = enrolled.problem.message if enrolled.problem else ""
    deadline = local_time(enrolled.confirm_by)
    click.secho(f"但还没能向服务器确认（{reason}）。请"
                + (f"在 {deadline} 之前" if deadline else "尽快")
                + "联网运行 cunsync sync 完成确认，否则这次注册会失效。", fg="yellow", err=True)


@main.command(context_settings=CONTEXT)
@click.option("--quiet", is_flag=True, help="no progress bar")
@click.option("--timeout", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
              help="seconds to wait for each answer from the server")
@passphrase_option
@click.pass_obj
def sync(db: str, quiet: bool, timeout: float, passphrase: str) -> None:
    """Send pending records to the county and receive what is new.

    Example: cunsync sync
    """
    with _unlocked(db, passphrase) as store:
        server = store.meta("server")
        if not server:
            raise click.ClickException("本设备尚未注册，请先运行 cunsync enroll")
        transport = HttpTransport(server, timeout=timeout, waiting=_still_waiting,
                                  notice_every=min(NOTICE_EVERY_S, timeout / 4))
        client = SyncClient(store, Channel(store, transport, on_busy=_busy_notice),
                            app_version=__version__)
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
            with _refusals(), _interruptible(transport):
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
    click.echo(f"上次同步：{local_time(info['last_sync']) or '从未同步'}")
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
@click.option("--old", envvar="CUNSYNC_PASSPHRASE", prompt="原口令", prompt_required=True,
              hide_input=True, help="the current passphrase")
@click.option("--new", help="the new passphrase (asked for twice when not given)")
@click.pass_obj
def passwd(db: str, old: str, new: str | None) -> None:
    """Change the passphrase (the keys are re-wrapped; no record is rewritten).

    Example: cunsync passwd
    """
    if new is None:
        new = _new_passphrase(f"新口令（至少 {MIN_PASSPHRASE} 位）")
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
