"""Server configuration: defaults, then an instance file, then ``CUNSYNC_*`` environment."""

from __future__ import annotations

import os
from typing import Any

DEFAULTS: dict[str, Any] = {
    # sqlite:///<path>; a relative path is inside the instance folder.
    "STORAGE_URL": "sqlite:///cunsync.sqlite",
    # Largest request body accepted (compressed bytes).
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
    # Pull pages: default and largest number of entries.
    "PULL_PAGE_SIZE": 1000,
    "PULL_PAGE_MAX": 5000,
    # How far ahead of the server a device clock may run before its pushes are refused.
    "MAX_CLOCK_AHEAD_MS": 24 * 3600 * 1000,
    # Oldest client schema version accepted (never below 3, the oldest this server serves).
    "MIN_CLIENT_SCHEMA": 3,
    # Allocations between two runs of Python's cyclic garbage collector (its first-generation
    # threshold; Python's own default is 700). A push batch makes tens of thousands of small
    # dicts that live until its commit; collecting every 700 of them costs about a tenth of the
    # push. 0 leaves Python's setting alone. It applies to the whole server process.
    "GC_THRESHOLD": 50_000,
    "SECRET_KEY": None,
    # How far an envelope's signed time may lie from the server's clock (seconds, either way).
    # Older envelopes are refused by their time, so the replay table (envelopes_seen) keeps
    # only twice this long (docs/protocol.md, "Envelope lifetime").
    "ENVELOPE_LIFETIME_S": 7 * 24 * 3600,
    # How long a write waits for another writer's lock (milliseconds) before the request is
    # answered 503 server_busy, and the Retry-After (seconds) that answer carries.
    "SQLITE_BUSY_TIMEOUT_MS": 10_000,
    "BUSY_RETRY_AFTER_S": 2,
    # When set, ``GET /metrics`` also answers a scraper sending ``Authorization: Bearer <it>``
    # from another host (without it, only the server's own host may scrape).
    "METRICS_TOKEN": None,
}


def storage_path(url: str, instance_path: str) -> str:
    """Resolve a relative sqlite path against the instance folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix):
        path = url[len(prefix):]
        if not os.path.isabs(path):
            return prefix + os.path.join(instance_path, path)
    return url
