"""Hybrid logical clock (HLC).

A timestamp is one integer: the physical part (milliseconds since the Unix epoch) shifted left
by 16 bits, plus a 16-bit logical counter. Comparing the integers orders events; the clock never
goes backwards, even when the wall clock does, and every timestamp received from elsewhere moves
it past that timestamp, so causally later writes always carry larger timestamps.
"""

from __future__ import annotations

from .errors import ClockSkewError

LOGICAL_BITS = 16


def pack(physical_ms: int, logical: int = 0) -> int:
    """Build a timestamp from its physical milliseconds and logical counter."""
    return (physical_ms << LOGICAL_BITS) | logical


def physical_ms(ts: int) -> int:
    """The physical (wall-clock) milliseconds of a timestamp."""
    return ts >> LOGICAL_BITS


def logical(ts: int) -> int:
    """The logical counter of a timestamp."""
    return ts & ((1 << LOGICAL_BITS) - 1)


class HybridClock:
    """A hybrid logical clock. ``wall_ms`` is always passed in, so tests control time.

    ``max_ahead_ms`` bounds how far a received timestamp may run ahead of our wall clock; beyond
    it :meth:`receive` raises :class:`ClockSkewError` and the clock is left untouched. The county
    server sets it so that one tablet whose clock is months ahead cannot drag every clock (and
    every last-writer-wins decision) into the future; devices leave it unset, since the server's
    clock is the reference.
    """

    def __init__(self, last: int = 0, max_ahead_ms: int | None = None) -> None:
        self.last = last
        self.max_ahead_ms = max_ahead_ms

    def tick(self, wall_ms: int) -> int:
        """A timestamp for a local event, larger than every one issued or received before."""
        # When the wall clock has gone backwards (or stands still) the logical counter counts
        # on from the last timestamp; a full counter carries into the physical part.
        self.last = max(pack(wall_ms), self.last + 1)
        return self.last

    def receive(self, remote: int, wall_ms: int) -> int:
        """Merge a timestamp seen in a message; returns the new current timestamp."""
        self.check(remote, wall_ms)
        self.last = max(pack(wall_ms), self.last + 1, remote + 1)
        return self.last

    def check(self, remote: int, wall_ms: int) -> None:
        """Raise :class:`ClockSkewError` if ``remote`` is too far ahead of ``wall_ms``."""
        if self.max_ahead_ms is not None and physical_ms(remote) > wall_ms + self.max_ahead_ms:
            ahead_s = (physical_ms(remote) - wall_ms) // 1000
            raise ClockSkewError(
                f"设备时钟比服务器快 {ahead_s} 秒，超过允许的范围；请校准设备时间后再同步"
                f" (timestamp {ahead_s}s ahead of the server clock)"
            )
