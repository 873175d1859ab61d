"""Prometheus metrics: ``GET /metrics`` and the counters the sync endpoints feed.

Counts and timings only, labelled by endpoint and error code: never a device, user, village
or record. Under ``cunsync-server serve`` each worker process writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds up every worker's (prometheus-client's
multiprocess mode); under ``cunsync-server run`` (one process) they are read from memory. The
directory must be set before ``prometheus_client`` is first imported, which ``serve`` does.

``/metrics`` answers only a scrape from the server's own host (loopback, not forwarded by the
reverse proxy) or one carrying ``Authorization: Bearer <METRICS_TOKEN>`` when that is set.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter,
                               Histogram, generate_latest, multiprocess)

from .errors import Forbidden

PUSHES = Counter("cunsync_pushes", "Push batches applied (committed).")
PULLS = Counter("cunsync_pulls", "Pull pages served.")
PULLED = Counter("cunsync_changes_pulled", "Change-log entries served in pull pages.")
APPLIED = Counter("cunsync_changes_applied", "Pushed changes applied to the server's rows.")
REPEATED = Counter("cunsync_changes_repeated",
                   "Pushed changes the server had applied already (a retried push).")
REFUSED = Counter("cunsync_changes_refused", "Pushed changes refused and set aside.")
CONFLICTS = Counter("cunsync_conflicts_opened", "Conflicts opened by pushes.")
ERRORS = Counter("cunsync_errors", "Answers with an HTTP error status, by error code.",
                 ["status", "code"])
LATENCY = Histogram("cunsync_request_seconds", "Time to answer a request, by endpoint.",
                    ["endpoint"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))


def count_push(applied: int, repeated: int, refused: int, conflicts: int) -> None:
    """One push batch committed, with what its acknowledgement says."""
    PUSHES.inc()
    APPLIED.inc(applied)
    REPEATED.inc(repeated)
    REFUSED.inc(refused)
    CONFLICTS.inc(conflicts)


def count_pull(entries: int) -> None:
    """One pull page served with ``entries`` log entries."""
    PULLS.inc()
    PULLED.inc(entries)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _error_code(response: Response) -> str:
    """The answer's machine ``code`` (our JSON error shape), else ``http_<status>``."""
    if response.is_json and not response.is_streamed:
        body: Any = response.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            code = body["error"].get("code")
            if isinstance(code, str) and code.isidentifier() and len(code) <= 40:
                return code
    return f"http_{response.status_code}"


def _observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    endpoint = request.endpoint or "unrouted"
    if started is not None:
        LATENCY.labels(endpoint).observe(time.perf_counter() - started)
    if response.status_code >= 400:
        ERRORS.labels(str(response.status_code), _error_code(response)).inc()
    return response


def _loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _may_scrape() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
    # The reverse proxy connects from loopback too: a request it forwards carries its headers.
    forwarded = any(h in request.headers for h in ("X-Forwarded-For", "X-Real-IP", "Forwarded"))
    return _loopback(request.remote_addr) and not forwarded


def registry() -> CollectorRegistry:
    """Every worker's values when running under several processes, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)
        return collected
    return REGISTRY


def metrics() -> Response:
    """Prometheus text format; see the module docstring for who may read it."""
    if not _may_scrape():
        raise Forbidden("指标只对本机或持有指标令牌的采集程序开放")
    response = Response(generate_latest(registry()), mimetype=None)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
