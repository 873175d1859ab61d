"""The console's lock is the server's one lock, shared with the API: see :mod:`server.lockout`."""

from ..lockout import (FORGET_AFTER, LockPolicy, locked_until, note_failure, note_success,
                       policy_from)

__all__ = ["FORGET_AFTER", "LockPolicy", "locked_until", "note_failure", "note_success",
           "policy_from"]
