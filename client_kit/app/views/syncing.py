"""Sync with the county (a background job the page polls) and USB bundles."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from flask import (Blueprint, current_app, flash, g, jsonify, redirect, render_template, request,
                   url_for)
from werkzeug.wrappers import Response

from ... import __version__
from ...bundle import export_bundle, import_reply
from ...channel import Channel
from ...domain import RECORD_TYPES
from ...errors import CunsyncError
from ...keystore import DeviceKeys
from ...store import DeviceStore
from ...sync_client import Progress, SyncClient, SyncSummary, Wiped
from ...transport import HttpTransport
from ..sync_job import SyncJob, summary_text
from ..vault import Vault
from .. import lookups
from ..web import get_store, vault

bp = Blueprint("sync", __name__)


def job() -> SyncJob:
    return current_app.extensions["cunsync_sync_job"]  # type: ignore[no-any-return]


def server_url(store: DeviceStore) -> str | None:
    return current_app.config["SERVER_URL"] or store.meta("server")


def under_review(store: DeviceStore) -> dict[str, int]:
    """Record type label → rows with fields under a supervisor's review."""
    counts = {}
    for name, rt in RECORD_TYPES.items():
        count = len(lookups.disputed_rows(store, name))
        if count:
            counts[rt.label] = count
    return counts


def local_time(stamp: str | None) -> str | None:
    """An ISO timestamp as this laptop's local time, to the minute."""
    if not stamp:
        return None
    try:
        return dt.datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


OPS = {"upsert": "修改", "delete": "删除"}


def refusal_text(message: str, details: object) -> str:
    """The county's message, with its per-field messages when it gave some."""
    fields = details.get("fields") if isinstance(details, dict) else None
    if not isinstance(fields, dict):
        return message
    items = [str(m) for ms in fields.values() for m in (ms if isinstance(ms, list) else [ms])]
    return f"{message}：{'；'.join(items)}" if items else message


def set_aside_rows(store: DeviceStore) -> list[dict[str, object]]:
    """The changes the county refused, as the sync page lists them."""
    rows = []
    for entry in store.set_aside():
        rt = RECORD_TYPES.get(entry.record_type)
        label = rt.label if rt else entry.record_type
        names = [rt.label_of(k) if rt else k for k in entry.fields if k != "village_code"]
        rows.append({"seq": entry.seq, "label": label, "village": entry.village_code,
                     "op": "新建" if entry.creates_row else OPS.get(entry.op, entry.op),
                     "fields": "、".join(names), "message": refusal_text(entry.message,
                                                                       entry.details),
                     "code": entry.code, "when": local_time(entry.refused_at),
                     "creates_row": entry.creates_row})
    return rows


@bp.get("/sync")
def page() -> str:
    store = get_store()
    return render_template("sync.html", job=job().snapshot(), server=server_url(store),
                           pending=store.pending_count(),
                           last_sync=local_time(store.meta("last_sync")),
                           review=under_review(store), set_aside=set_aside_rows(store))


@bp.post("/sync/set-aside/<int:seq>/resend")
def resend(seq: int) -> Response:
    """Queue a refused change again (after the county fixed its cause)."""
    try:
        get_store().resend(seq)
    except CunsyncError as err:
        flash(f"无法重新上传：{err.message}", "error")
    else:
        flash("已放回待上传，下次同步时重新上传。", "ok")
    return redirect(url_for("sync.page"))


@bp.post("/sync/set-aside/<int:seq>/discard")
def discard(seq: int) -> Response:
    """Give up a refused change; say what became of its record."""
    try:
        outcome = get_store().discard(seq)
    except CunsyncError as err:
        flash(f"无法放弃：{err.message}", "error")
    else:
        flash(DISCARDED[outcome], "ok")
    return redirect(url_for("sync.page"))


#: What the worker is told after discarding, by what became of the record.
DISCARDED = {
    "removed": "已放弃：县里从未收到这条新记录，已从本设备删除。",
    "restored": "已放弃：本设备上这条记录被退回的改动已撤销，下次同步时将从县里取回该记录现在的内容。",
    "discarded": "已放弃这条被退回的变更。",
}


class SyncWork:
    """One sync on its own connection to the store, with the keys the vault handed over."""

    def __init__(self, db: str, keys: DeviceKeys, url: str, lock: Vault) -> None:
        self.db, self.keys, self.url, self.vault = db, keys, url, lock

    def __call__(self, progress: Progress) -> SyncSummary:
        store = DeviceStore.open(self.db)
        store.keys = self.keys
        try:
            client = SyncClient(store, Channel(store, HttpTransport(self.url, timeout=30)),
                                app_version=__version__)
            return client.sync(progress)
        except Wiped:
            self.vault.lock()  # the keys are gone from the store: forget them here too
            raise
        finally:
            store.close()


@bp.post("/sync/start")
def start() -> Response:
    store = get_store()
    url = server_url(store)
    wants_json = request.accept_mimetypes.best == "application/json"
    if not url:
        message = "本设备没有登记县服务器地址，请先注册（cunsync enroll）"
        if wants_json:
            return _json({"started": False, "message": message}, 409)
        flash(message, "error")
        return redirect(url_for("sync.page"))
    started = job().start(SyncWork(current_app.config["DB"], g.keys, url, vault()))
    if wants_json:
        return _json({"started": started, "job": job().snapshot().as_json()}, 202)
    return redirect(url_for("sync.page"))


@bp.get("/sync/status")
def status() -> Response:
    state = job().snapshot().as_json()
    state["pending"] = get_store().pending_count()
    return _json(state, 200)


def _json(body: dict[str, object], status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


@bp.post("/bundle/export")
def bundle_export() -> Response:
    """The pending records, sealed for the county, as a file the browser saves (to a stick)."""
    store = get_store()
    with tempfile.TemporaryDirectory(prefix="cunsync-") as tmp:
        path = Path(tmp) / "out.bundle"
        try:
            count = export_bundle(store, Channel(store), path, app_version=__version__)
        except CunsyncError as err:
            flash(err.message, "error")
            return redirect(url_for("sync.page"))
        data = path.read_bytes()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M")
    response = Response(data, mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{store.device_id}-{stamp}.bundle"')
    response.headers["X-Cunsync-Changes"] = str(count)
    return response


@bp.post("/bundle/import")
def bundle_import() -> Response:
    """Apply the county's reply file: confirmations and new data."""
    upload = request.files.get("reply")
    if upload is None or not upload.filename:
        flash("请选择县里给的回复文件（.reply）", "error")
        return redirect(url_for("sync.page"))
    store = get_store()
    with tempfile.TemporaryDirectory(prefix="cunsync-") as tmp:
        path = Path(tmp) / "in.reply"
        upload.save(path)
        try:
            summary = import_reply(store, Channel(store), path)
        except Wiped as err:
            vault().lock()
            flash(err.message, "error")
            return redirect(url_for("auth.unlock"))
        except CunsyncError as err:
            flash(f"回复文件无法导入：{err.message}", "error")
            return redirect(url_for("sync.page"))
    flash("回复文件已导入。" + summary_text(summary).replace("同步完成：", ""), "ok")
    return redirect(url_for("sync.page"))
