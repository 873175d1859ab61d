"""Sync health, part two: the changes the server refused one by one (被退回的变更).

Each refused change is listed with its device, user, reason and time; a supervisor marks it
resolved with a note once the worker has sent it again or discarded it, or once the cause is
fixed. Marking goes through :func:`server.refusals.resolve_refusal`, which writes the audit
log exactly as the API does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from client_kit.domain import RECORD_TYPES

from ..auth import user_scope
from ..db import get_storage
from ..refusals import CODE_LABELS, resolve_refusal, scope_prefixes
from ..storage import RefusalRecord
from . import present

bp = Blueprint("refusals", __name__)

PAGE_SIZE = 50
#: The largest page number taken from a query argument (far beyond any real one).
MAX_PAGE = 2 ** 20
TABS = [("open", "待处理"), ("resolved", "已处理")]


def _page() -> int:
    try:
        return min(max(1, int(request.args.get("page", 1))), MAX_PAGE)
    except ValueError:
        return 1


def _row(refusal: RefusalRecord, names: dict[str, str], now: dt.datetime) -> dict[str, Any]:
    rt = RECORD_TYPES.get(refusal.record_type)
    return {"r": refusal, "record_label": rt.label if rt else refusal.record_type,
            "code_label": CODE_LABELS.get(refusal.code, refusal.code),
            "village": names.get(refusal.village_code, refusal.village_code),
            "when": present.local_time(refusal.created_at),
            "age": present.age(refusal.created_at, now),
            "resolved": present.local_time(refusal.resolved_at)}


@bp.get("/refused-changes")
def index():  # type: ignore[no-untyped-def]
    """Refused changes in the supervisor's scope, newest first."""
    user = g.console_user
    status = request.args.get("status", "open")
    if status not in dict(TABS):
        status = "open"
    storage = get_storage()
    villages = scope_prefixes(user)
    page = _page()
    found = storage.list_refusals(scope=villages, statuses=(status,), limit=PAGE_SIZE,
                                  offset=(page - 1) * PAGE_SIZE)
    total = storage.count_refusals(scope=villages, statuses=(status,))
    names = present.village_names(storage, {r.village_code for r in found})
    now = dt.datetime.now(dt.timezone.utc)
    return render_template(
        "console/refusals.html", rows=[_row(r, names, now) for r in found], status=status,
        tabs=TABS, total=total, open_total=storage.count_refusals(scope=villages),
        page=page, pages=max(1, -(-total // PAGE_SIZE)))


@bp.post("/refused-changes/<int:refusal_id>/resolve")
def resolve(refusal_id: int):  # type: ignore[no-untyped-def]
    user = g.console_user
    comment = (request.form.get("comment") or "").strip()
    if not comment or len(comment) > 500:
        flash("请填写处理说明（最多500字）。", "warning")
    else:
        resolve_refusal(get_storage(), refusal_id, comment, user, user_scope(user))
        flash(f"已将第 {refusal_id} 条被退回的变更标为已处理。", "success")
    return redirect(url_for("console.refusals.index"))
