"""A sealed channel to the county server: every request and reply is an envelope.

The device signs with its Ed25519 key and encrypts to the server's active X25519 key; it
accepts replies signed by any server key it trusts. New server keys arrive in replies signed
by a trusted key (a rotation), and are stored for the next contact.

A server that answers "busy" (``503``) is asked again, with a fresh envelope, after the delay it
asks for and growing waits, a bounded number of times: every request the device sends can be
sent again (pushes are applied once per sequence), so waiting costs nothing but time.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import Executor, Future
from typing import Any, Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from .engine.envelope import EnvelopeError, Opened, key_id, open_envelope, seal, unb64
from .errors import ServerBusy, SyncError
from .keystore import DeviceKeys, NoKeys
from .store import DeviceStore
from .transport import Transport


#: Further tries after a "busy" answer, and the first and longest wait between two (seconds).
BUSY_RETRIES = 5
BUSY_BACKOFF_S = (1.0, 30.0)


class Channel:
    """Seals requests for the server and opens its replies, for one enrolled device."""

    def __init__(self, store: DeviceStore, transport: Transport | None = None, *,
                 clock_ms: Callable[[], int] | None = None,
                 random: Callable[[int], bytes] = os.urandom,
                 busy_retries: int = BUSY_RETRIES,
                 busy_backoff: tuple[float, float] = BUSY_BACKOFF_S,
                 sleep: Callable[[float], None] = time.sleep,
                 on_busy: Callable[[float], None] | None = None) -> None:
        if store.keys is None:
            raise NoKeys("本设备尚未注册或未解锁")
        self.store = store
        self.keys: DeviceKeys = store.keys
        self.transport = transport
        self.clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self.random = random
        self.busy_retries = busy_retries
        self.busy_backoff = busy_backoff
        self.sleep = sleep
        #: Told how long the device will wait before asking a busy server again.
        self.on_busy = on_busy

    def server_keys(self) -> list[dict[str, str]]:
        keys = json.loads(self.store.meta("server_keys", "[]") or "[]")
        if not keys:
            raise NoKeys("本设备没有服务器公钥，请重新注册")
        return list(keys)

    def seal(self, purpose: str, counter: int, payload: bytes) -> bytes:
        active = self.server_keys()[0]
        return seal(payload, sender=self.store.device_id, signing_key=self.keys.sign,
                    recipient_key=X25519PublicKey.from_public_bytes(unb64(active["box"])),
                    purpose=purpose, counter=counter, now_ms=self.clock_ms(),
                    random=self.random)

    def open(self, data: bytes, purpose: str) -> Opened:
        trusted = {k["key_id"]: k for k in self.server_keys()}

        def sender_key(sender: str, kid: str) -> Ed25519PublicKey | None:
            if sender != "server" or kid not in trusted:
                return None
            return Ed25519PublicKey.from_public_bytes(unb64(trusted[kid]["sign"]))

        try:
            return open_envelope(data, purposes=(purpose,),
                                 recipient_keys={key_id(self.keys.box.public_key()):
                                                 self.keys.box},
                                 sender_key=sender_key)
        except EnvelopeError as err:
            raise SyncError(f"服务器回复无法验证：{err}", code=err.code) from None

    def request(self, purpose: str, counter: int, payload: bytes) -> bytes:
        """Send one sealed request and return the opened reply's payload."""
        assert self.transport is not None
        try:
            reply = self.transport.exchange(purpose, self.seal(purpose, counter, payload))
        except ServerBusy as busy:
            reply = self.again_when_not_busy(busy, purpose, counter, payload)
        return self.open(reply, f"{purpose}-reply").payload

    def again_when_not_busy(self, busy: ServerBusy, purpose: str, counter: int,
                            payload: bytes) -> bytes:
        """Send a request the server answered "busy" again, newly sealed, after waiting;
        :class:`ServerBusy` once :attr:`busy_retries` more answers were "busy" too."""
        assert self.transport is not None
        first, longest = self.busy_backoff
        for attempt in range(self.busy_retries):
            wait = min(max(busy.retry_after or 0.0, first * 2 ** attempt), longest)
            if self.on_busy is not None:
                self.on_busy(wait)
            self.sleep(wait)
            try:
                return self.transport.exchange(purpose, self.seal(purpose, counter, payload))
            except ServerBusy as again:
                busy = again
        raise busy

    def send(self, purpose: str, counter: int, payload: bytes,
             executor: Executor) -> "InFlight":
        """Start one sealed request on ``executor``; :meth:`InFlight.reply` waits for it.

        Only the network exchange runs on the executor's thread: sealing happens here and
        opening in ``reply``, on the caller's thread, which alone uses the store.
        """
        assert self.transport is not None
        envelope = self.seal(purpose, counter, payload)
        return InFlight(self, purpose, counter, payload,
                        executor.submit(self.transport.exchange, purpose, envelope))

    def trust_server_keys(self, keys: Any) -> None:
        """Adopt the server's current key list (from a verified reply)."""
        if isinstance(keys, list) and keys and all(
                isinstance(k, dict) and {"key_id", "sign", "box"} <= set(k) for k in keys):
            ordered = sorted(keys, key=lambda k: k.get("status") != "active")
            self.store.set_meta("server_keys", json.dumps(ordered))


class InFlight:
    """A request on its way: the reply, opened and verified, once it is back."""

    def __init__(self, channel: Channel, purpose: str, counter: int, payload: bytes,
                 future: Future[bytes]) -> None:
        self.channel = channel
        self.purpose = purpose
        self.counter = counter
        self.payload = payload
        self.future = future

    def reply(self) -> bytes:
        """The reply's payload; raises what the exchange raised (``Offline``, a refusal).

        A "busy" answer is retried here, on the caller's thread (sealing reads the store)."""
        try:
            data = self.future.result()
        except ServerBusy as busy:
            data = self.channel.again_when_not_busy(busy, self.purpose, self.counter,
                                                    self.payload)
        return self.channel.open(data, f"{self.purpose}-reply").payload
