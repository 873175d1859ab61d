"""The unlocked state of the field app: the device keys, held for the browsers that unlocked.

The keys stay in memory only while the app is in use. A browser that enters the passphrase is
given a random ticket (kept in its signed session cookie); a request is served only with a live
ticket. After ``idle_seconds`` without activity from any ticket the keys are forgotten, as they
are when the worker locks the app by hand, and every browser must unlock again.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Callable

from ..keystore import DeviceKeys, WrongPassphrase
from ..store import DeviceStore
from .errors import TooManyAttempts

#: Wrong passphrases in a row before the app makes the worker wait ``BACKOFF_SECONDS``.
MAX_FAILURES = 5
BACKOFF_SECONDS = 30.0


class Vault:
    """Device keys while unlocked, the tickets of the browsers that unlocked, the idle timer."""

    def __init__(self, idle_seconds: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_seconds = idle_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._keys: DeviceKeys | None = None
        self._tickets: set[str] = set()
        self._last_seen = 0.0
        self._failures = 0
        self._blocked_until = 0.0

    def unlock(self, store: DeviceStore, passphrase: str) -> str:
        """Unlock ``store`` with ``passphrase``; return a ticket for this browser.

        ``WrongPassphrase`` if it is not the right one; after :data:`MAX_FAILURES` in a row,
        ``TooManyAttempts`` for :data:`BACKOFF_SECONDS` (the app may listen on a hotspot).
        """
        with self._lock:
            wait = self._blocked_until - self.clock()
            if wait > 0:
                raise TooManyAttempts(f"口令错误次数过多，请 {int(wait) + 1} 秒后再试")
        try:
            store.unlock(passphrase)
        except WrongPassphrase:
            with self._lock:
                self._failures += 1
                if self._failures >= MAX_FAILURES:
                    self._failures = 0
                    self._blocked_until = self.clock() + BACKOFF_SECONDS
            raise
        ticket = secrets.token_urlsafe(24)
        with self._lock:
            self._failures = 0
            self._keys = store.keys
            self._tickets.add(ticket)
            self._last_seen = self.clock()
        return ticket

    def admit(self, ticket: str | None) -> DeviceKeys | None:
        """The keys for a request carrying ``ticket``, or ``None`` (locked or not unlocked here).

        An admitted request counts as activity.
        """
        with self._lock:
            self._expire_if_idle()
            if self._keys is None or ticket is None or ticket not in self._tickets:
                return None
            self._last_seen = self.clock()
            return self._keys

    def expire_if_idle(self) -> bool:
        """Lock when nobody has used the app for ``idle_seconds``; ``True`` if it locked now."""
        with self._lock:
            return self._expire_if_idle()

    def _expire_if_idle(self) -> bool:
        if self._keys is not None and self.clock() - self._last_seen >= self.idle_seconds:
            self._forget()
            return True
        return False

    def lock(self) -> None:
        """Forget the keys and every ticket."""
        with self._lock:
            self._forget()

    def _forget(self) -> None:
        self._keys = None
        self._tickets.clear()

    @property
    def unlocked(self) -> bool:
        with self._lock:
            return self._keys is not None
