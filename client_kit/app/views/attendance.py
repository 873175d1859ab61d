"""Attendance roll call at the public-welfare posts: one village, one day, one save."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ...domain import enums, record_type
from ...errors import CunsyncError, RuleViolation, ValidationFailed
from ...store import DeviceStore
from .. import forms, lookups
from ..web import get_store

bp = Blueprint("attendance", __name__)


def roll(store: DeviceStore, village: str, day: str) -> list[dict[str, Any]]:
    """Every post of ``village`` open on ``day`` with its holder that day, and the mark so far.

    A holder is an active appointment whose term covers the day (the subsidy is paid for days
    on the post, so a day outside the term is not on the roll).
    """
    attendance = record_type("attendance")
    pending = lookups.pending_rows(store)
    lines = []
    for post in store.query("post", village_code=village, order_by="name"):
        if post["created_on"] > day or (post.get("closed_on") and post["closed_on"] < day):
            continue
        for appointment in store.query("appointment", post_id=post["id"], status="active"):
            if not appointment["start_date"] <= day <= appointment["end_date"]:
                continue
            person = store.get("person", appointment["person_id"])
            row_id = attendance.natural_row_id({"post_id": post["id"], "day": day})
            mark = store.get("attendance", row_id, with_meta=True)
            lines.append({"post": post, "person": person, "appointment": appointment,
                          "mark": mark, "pending": ("attendance", row_id) in pending})
    return lines


def _day(value: str | None) -> str:
    try:
        return dt.date.fromisoformat(value or "").isoformat()
    except ValueError:
        return str(current_app.config["TODAY"]().isoformat())


@bp.route("/attendance", methods=["GET", "POST"])
def roll_call() -> Response | str | tuple[str, int]:
    store = get_store()
    villages = lookups.my_villages(store)
    codes = [v["code"] for v in villages]
    village = request.values.get("village") or (codes[0] if codes else "")
    if village not in codes:
        village = codes[0] if codes else ""
    day = _day(request.values.get("day"))
    lines = roll(store, village, day) if village else []
    errors: forms.Errors = {}
    if request.method == "POST":
        errors, saved = save_roll(store, lines, day, request.form)
        if not errors:
            flash(f"{day} 考勤已保存：{saved} 个岗位（待同步）", "ok")
            return redirect(url_for("attendance.roll_call", village=village, day=day))
    return render_template("attendance.html", villages=villages, village=village, day=day,
                           lines=lines, errors=errors, form=request.form,
                           statuses=enums.ATTENDANCE_STATUS), 422 if errors else 200


def save_roll(store: DeviceStore, lines: list[dict[str, Any]], day: str,
              form: Any) -> tuple[forms.Errors, int]:
    """Save every marked post in one transaction; a post left unmarked is not recorded.

    The holder comes from the roll, never from the form. Saving the same roll again changes
    nothing: each post and day is one row (its id derives from them).
    """
    errors: forms.Errors = {}
    saved = 0
    try:
        with store.transaction():
            for line in lines:
                post_id = line["post"]["id"]
                status = forms.text(form, f"status-{post_id}")
                if status is None:
                    continue
                try:
                    store.create("attendance", {
                        "post_id": post_id, "day": day, "person_id": line["person"]["id"],
                        "status": status, "note": forms.text(form, f"note-{post_id}")})
                    saved += 1
                except (ValidationFailed, RuleViolation) as err:
                    errors.update(forms.errors_of(err, f"{post_id}-", general=f"{post_id}-_form",
                                                  shown=("status", "note")))
            if errors:
                raise _Refused()
    except _Refused:
        return errors, 0
    except CunsyncError as err:
        return {"_form": [err.message]}, 0
    return {}, saved


class _Refused(Exception):
    """Rolls the roll call back: some line was refused."""
