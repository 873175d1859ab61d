"""Locking a user name after repeated wrong passwords: one lock for both doors.

The console's login form (:mod:`server.console.session`) and the API's HTTP Basic credentials
(:mod:`server.auth`) count into the same streak, so a name locked at one door is locked at the
other. Wrong passwords in a row are counted per user name (known or not, so that the lock does
not tell which names exist). After ``max_failures`` the name is locked for ``lock``: even the
right password is refused until then. A right password ends the streak; a streak whose last
failure is older than ``lock`` starts again from one. Times are parameters, so tests control
them. The policy comes from ``CONSOLE_MAX_FAILED_LOGINS`` and ``CONSOLE_LOCK_MINUTES`` (the
names predate the API's use of the lock; they govern both doors).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from typing import Any, Mapping

from .storage import Storage
from .storage.base import LoginFailures

#: A streak untouched for this long is forgotten (unknown names must not pile up).
FORGET_AFTER = dt.timedelta(days=1)


@dataclass(frozen=True)
class LockPolicy:
    max_failures: int
    lock: dt.timedelta


def policy_from(config: Mapping[str, Any]) -> LockPolicy:
    """The lock policy configured for this server."""
    return LockPolicy(int(config["CONSOLE_MAX_FAILED_LOGINS"]),
                      dt.timedelta(minutes=int(config["CONSOLE_LOCK_MINUTES"])))


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def locked_until(storage: Storage, name: str, now: dt.datetime) -> dt.datetime | None:
    """When the lock on ``name`` ends, or ``None`` if it is not locked at ``now``."""
    streak = storage.get_login_failures(name)
    if streak is None or not streak.locked_until:
        return None
    until = dt.datetime.fromisoformat(streak.locked_until)
    return until if until > now else None


def note_failure(storage: Storage, name: str, now: dt.datetime,
                 policy: LockPolicy) -> LoginFailures:
    """Count one wrong password for ``name``; the result has ``locked_until`` set when this
    failure locked it."""
    with storage.atomic():
        storage.prune_login_failures(_iso(now - max(FORGET_AFTER, policy.lock)))
        streak = storage.get_login_failures(name)
        fresh = (streak is None
                 or dt.datetime.fromisoformat(streak.last_failed_at) <= now - policy.lock
                 or (streak.locked_until is not None
                     and dt.datetime.fromisoformat(streak.locked_until) <= now))
        count = 1 if fresh or streak is None else streak.count + 1
        until = _iso(now + policy.lock) if count >= policy.max_failures else None
        streak = LoginFailures(name, count, _iso(now), until)
        storage.put_login_failures(streak)
    return streak


def note_success(storage: Storage, name: str) -> None:
    """A right password: the streak of ``name`` ends (no write when there is none)."""
    if storage.get_login_failures(name) is None:
        return
    with storage.atomic():
        storage.clear_login_failures(name)
