"""The envelope gate: every device message comes in and goes out through here.

Opening checks the envelope (shape, purpose, recipient, signature by the device's enrolled
key, decryption) and that it was never seen before; sealing encrypts a reply to the device and
signs it with the server's active key. HTTP and USB bundles both use it.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Callable

from client_kit.engine.envelope import EnvelopeError, Opened, open_envelope, read_header, seal
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import enrolment
from .errors import ApiError, BadRequest, Conflict, Forbidden, Unauthorized
from .keyring import Keyring, public_from
from .storage import DeviceRecord, Storage
from .sync_service import utc_now

_STATUS = {"unknown_sender": 401, "bad_signature": 401}

#: Default envelope lifetime: an envelope whose signed time is further than this from the
#: server's clock is refused (a replay older than the replay table is refused by its time).
LIFETIME_MS = 7 * 24 * 3600 * 1000
#: The replay table is pruned at most this often (milliseconds), on a device's hello.
PRUNE_EVERY_MS = 3600 * 1000
_PRUNED_AT = "envelopes_pruned_ms"


class Gate:
    """Opens device envelopes and seals replies."""

    def __init__(self, storage: Storage, keyring: Keyring, *, lifetime_ms: int = LIFETIME_MS,
                 clock_ms: Callable[[], int] | None = None) -> None:
        self.storage = storage
        self.keyring = keyring
        self.lifetime_ms = lifetime_ms
        self.clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)

    def open(self, data: bytes, purposes: tuple[str, ...], *,
             refuse_replay: bool = True) -> tuple[DeviceRecord, Opened]:
        """The device that sent ``data`` and the opened envelope; nothing is stored on refusal
        except the note of a new envelope."""
        try:
            header = read_header(data)
        except EnvelopeError as err:
            raise BadRequest(str(err), code=err.code) from None
        device = self.storage.get_device(str(header["sender"]))
        if device is None or not device.sign_key:
            raise Unauthorized("未注册的设备，请先用注册码完成注册", code="unknown_device")
        expected = device.sign_key

        def sender_key(sender: str, kid: str) -> Ed25519PublicKey | None:
            if sender != device.id or kid != device.sign_key_id:
                return None
            return public_from({"sign": expected, "box": device.box_key or ""})[0]

        try:
            opened = open_envelope(data, purposes=purposes,
                                   recipient_keys=self.keyring.box_keys(), sender_key=sender_key)
        except EnvelopeError as err:
            raise ApiError(str(err), code=err.code, status=_STATUS.get(err.code, 400)) from None
        if device.last_seen_at is None:
            # First contact: a device's first signed message completes its enrolment.
            enrolment.confirm(self.storage, device)
        if refuse_replay:
            self._check_time(int(header["time"]))
            with self.storage.atomic():
                fresh = self.storage.note_envelope(device.id, str(header["nonce"]),
                                                   str(header["purpose"]), utc_now())
            if not fresh:
                raise Conflict("这个信封已经收到过，拒绝重放", code="replayed_envelope")
            if header["purpose"] == "hello":
                self.prune()
        return device, opened

    def _check_time(self, sent_ms: int) -> None:
        """Refuse an envelope signed further than the lifetime from now, either way: the
        replay table forgets envelopes after twice the lifetime (:meth:`prune`), and by then
        any envelope it forgot is refused here."""
        now = self.clock_ms()
        if abs(sent_ms - now) > self.lifetime_ms:
            hours = self.lifetime_ms // 3_600_000
            raise Conflict(f"信封的时间与服务器相差超过 {hours} 小时：本设备的日期或时间不对，"
                           "或这是一个旧信封的重放。请校准本设备的日期和时间后再同步；"
                           "未同步的记录仍保留在本设备上",
                           code="envelope_expired",
                           details={"sent_ms": sent_ms, "server_ms": now,
                                    "lifetime_s": self.lifetime_ms // 1000})

    def prune(self, *, force: bool = False) -> int:
        """Forget envelopes seen more than twice the lifetime ago (at most once an hour);
        return how many were forgotten."""
        now = self.clock_ms()
        last = int(self.storage.get_setting(_PRUNED_AT) or 0)
        if not force and 0 <= now - last < PRUNE_EVERY_MS:
            return 0
        cutoff = dt.datetime.fromtimestamp((now - 2 * self.lifetime_ms) / 1000, dt.timezone.utc)
        with self.storage.atomic():
            gone = self.storage.prune_envelopes(cutoff.isoformat(timespec="seconds"))
            self.storage.set_setting(_PRUNED_AT, str(now))
        return gone

    @staticmethod
    def refuse_revoked(device: DeviceRecord) -> None:
        if device.revoked_at or device.wipe_requested_at:
            raise Forbidden("本设备已被停用，请联系县级管理员", code="device_revoked")

    def seal(self, device: DeviceRecord, purpose: str, counter: int, payload: bytes,
             answering: Opened | None = None) -> bytes:
        """Encrypt ``payload`` to the device and sign it.

        A reply is signed by the server key the device addressed, which it trusts; during a
        rotation the reply also lists the new keys, so the device moves on to them.
        """
        _, box = public_from({"sign": device.sign_key or "", "box": device.box_key or ""})
        signer = self.keyring.active
        if answering is not None:
            signer = self.keyring.by_box_key_id(str(answering.header["recipient"])) or signer
        return seal(payload, sender="server", signing_key=signer.sign,
                    recipient_key=box, purpose=purpose, counter=counter,
                    now_ms=time.time_ns() // 1_000_000, random=os.urandom)
