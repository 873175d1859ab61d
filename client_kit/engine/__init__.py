"""Pure sync engine: clocks, ids, changes, merge rules and protocol messages (no I/O)."""

from .changes import Change, PulledEntry, Version
from .hlc import HybridClock
from .ids import natural_id, uuid7

__all__ = ["Change", "PulledEntry", "Version", "HybridClock", "natural_id", "uuid7"]
