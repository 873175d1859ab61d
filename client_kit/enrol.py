"""Enrolment of a device: make keys, trade a one-time code for an identity, lock the keys.

Everything that can fail on the device is checked before the server is asked (the
passphrase, the address, the code's form, the store and its folder), so a refusal here never
uses up a code. The server's step can be repeated with the same code until the device has
confirmed (its first signed message, sent right after): a reply lost on the way only means
running the same command again. The local step is one transaction: the device's identity,
its keys and its settings are stored together, or not at all. A store that already holds
records (made before enrolment existed, or before this device was enrolled) keeps them and
its outbox: they are sealed under the new keys and sent under the new identity.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import keystore
from .channel import Channel
from .engine.envelope import b64, raw_public
from .errors import CunsyncError, Offline, RuleViolation, ServerBusy, SyncError
from .keystore import generate
from .store import DeviceStore
from .sync_client import SyncClient
from .transport import HttpTransport

_CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{12}$")
_SAME = str.maketrans({"O": "0", "I": "1", "L": "1"})
NOT_USED = "注册没有完成，注册码没有用掉：稍后用同一个注册码再运行一次即可"


class EnrolmentRefused(CunsyncError):
    """Something on this device stops the enrolment; the code was not used."""

    code = "enrolment_refused"


@dataclass
class Enrolled:
    """A freshly enrolled store, and whether the server has confirmed it yet."""

    store: DeviceStore
    confirmed: bool
    #: When an unconfirmed enrolment lapses (server time, ISO), if the server said.
    confirm_by: str | None = None
    #: Why the confirmation did not get through (a network error, usually).
    problem: CunsyncError | None = None


def enrol(db: str | Path, server: str, code: str, passphrase: str, *,
          transport: HttpTransport | None = None) -> DeviceStore:
    """Enrol the device store at ``db`` with ``server``; return it, unlocked.

    Only the public halves of the device's keys leave the device; the private halves are stored
    under ``passphrase``. See :func:`enrol_device` for the steps.
    """
    return enrol_device(db, server, code, passphrase, transport=transport).store


def enrol_device(db: str | Path, server: str, code: str, passphrase: str, *,
                 transport: HttpTransport | None = None) -> Enrolled:
    """Check locally, ask the server, store identity and keys in one transaction, confirm."""
    server = check_server(server)
    code = check_code(code)
    keystore.check_passphrase(passphrase)
    existing = _check_store(Path(db))
    try:
        keys = generate()
        wrapped = keystore.wrap(keys, passphrase)
        http = transport or HttpTransport(server)
        answer = _ask(http, {"code": code, "sign_key": b64(raw_public(keys.sign.public_key())),
                             "box_key": b64(raw_public(keys.box.public_key()))})
        store = existing or DeviceStore.open(db)
        existing = None
    finally:
        if existing is not None:
            existing.close()
    try:
        store.enrol_as(answer["device_id"], keys, wrapped, {
            "server": server, "server_keys": json.dumps(answer["server_keys"]),
            "villages": json.dumps(sorted(answer["villages"])), "user": str(answer["user"])})
    except BaseException:
        store.close()
        raise
    try:
        SyncClient(store, Channel(store, http)).hello()
    except CunsyncError as err:
        return Enrolled(store, False, answer.get("confirm_by"), err)
    return Enrolled(store, True)


def check_server(server: str) -> str:
    """The server address, refused before anything is sent if it cannot be one."""
    parts = urlsplit(server.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EnrolmentRefused(f"服务器地址不正确：{server}（应像 http://10.0.0.5:5000）")
    return server.strip().rstrip("/")


def check_code(code: str) -> str:
    """The code in its usual form, or a refusal when it cannot be a code (a typo)."""
    raw = code.upper().replace("-", "").replace(" ", "").translate(_SAME)
    if not _CODE.match(raw):
        raise EnrolmentRefused("注册码格式不对：应为12位字母和数字，如 K3F9-7QXM-2D4H；请核对后重输")
    return "-".join(raw[i:i + 4] for i in (0, 4, 8))


def _check_store(path: Path) -> DeviceStore | None:
    """The store already at ``path`` (opened, upgraded), or ``None`` when there is none yet
    and one can be made there. Refuses a store that is already enrolled."""
    if not path.exists():
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise EnrolmentRefused(f"无法在 {folder} 创建设备数据库（目录不存在或没有写权限）")
        return None
    store = DeviceStore.open(path)
    if store.has_keys:
        device_id = store.device_id
        store.close()
        raise_enrolled(device_id)
    return store


def _ask(http: HttpTransport, body: dict[str, Any]) -> dict[str, Any]:
    try:
        answer = http.enrol(body)
    except Offline as err:
        raise type(err)(f"{err.message.split('。')[0]}。{NOT_USED}") from None
    except ServerBusy as err:
        raise ServerBusy(f"服务器繁忙。{NOT_USED}", retry_after=err.retry_after) from None
    shape = {"device_id": str, "user": str, "villages": list, "server_keys": list}
    if not all(isinstance(answer.get(k), kind) for k, kind in shape.items()):
        raise SyncError("服务器回复格式不正确，注册没有完成；注册码仍可再用", code="bad_reply")
    return answer


def raise_enrolled(device_id: str) -> None:
    raise RuleViolation(f"本设备已注册为 {device_id}；如需重新注册，请先清除设备数据")
