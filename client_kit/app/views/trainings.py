"""Training sessions and their sign-in sheets: one session, one day, tick who came."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request,
                   url_for)
from werkzeug.wrappers import Response

from ...domain import record_type
from ...errors import CunsyncError, RuleViolation, ValidationFailed
from ...store import DeviceStore
from .. import forms, lookups
from ..web import get_store

bp = Blueprint("trainings", __name__)


@bp.get("/trainings")
def sessions() -> str:
    store = get_store()
    villages = lookups.my_villages(store)
    rows = []
    for village in villages:
        for session in store.query("training_session", village_code=village["code"]):
            rows.append({"session": session, "village": village,
                         "count": len(store.query("signin", session_id=session["id"]))})
    rows.sort(key=lambda r: r["session"]["start_date"], reverse=True)
    return render_template("trainings.html", rows=rows)


def session_days(session: dict[str, Any]) -> list[str]:
    start = dt.date.fromisoformat(session["start_date"])
    end = dt.date.fromisoformat(session["end_date"])
    return [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def sheet(store: DeviceStore, session: dict[str, Any], day: str) -> list[dict[str, Any]]:
    """Everyone of the session's village, and anyone already signed in, with today's tick."""
    signin = record_type("signin")
    pending = lookups.pending_rows(store)
    people = {p["id"]: p for p in store.query("person", village_code=session["village_code"])}
    signed = {s["person_id"]: s for s in store.query("signin", session_id=session["id"], day=day)}
    for person_id in signed.keys() - people.keys():
        person = store.get("person", person_id)
        if person is not None:
            people[person_id] = person
    heads = {h["id"]: h["head_name"] for h in store.query(
        "household", village_code=session["village_code"])}
    lines = []
    for person in people.values():
        row_id = signin.natural_row_id({"session_id": session["id"], "person_id": person["id"],
                                        "day": day})
        lines.append({"person": person, "head": heads.get(person["household_id"], ""),
                      "signed": person["id"] in signed,
                      "pending": ("signin", row_id) in pending})
    lines.sort(key=lambda line: (line["head"], line["person"]["name"]))
    return lines


@bp.route("/trainings/<session_id>", methods=["GET", "POST"])
def sign_in(session_id: str) -> Response | str | tuple[str, int]:
    store = get_store()
    session = store.get("training_session", session_id)
    mine = {v["code"] for v in lookups.my_villages(store)}
    if session is None or session["village_code"] not in mine:
        abort(404)
    days = session_days(session)
    today = current_app.config["TODAY"]().isoformat()
    day = request.values.get("day", "")
    if day not in days:
        day = today if today in days else days[0]
    lines = sheet(store, session, day)
    errors: forms.Errors = {}
    if request.method == "POST":
        ticked = set(request.form.getlist("attended"))
        errors, added, removed = save_sheet(store, session, day, lines, ticked)
        if not errors:
            flash(f"{day} 签到已保存：新签到 {added} 人，取消 {removed} 人（待同步）", "ok")
            return redirect(url_for("trainings.sign_in", session_id=session_id, day=day))
    return render_template("signin.html", session=session, days=days, day=day, lines=lines,
                           errors=errors), 422 if errors else 200


def save_sheet(store: DeviceStore, session: dict[str, Any], day: str,
               lines: list[dict[str, Any]], ticked: set[str]) -> tuple[forms.Errors, int, int]:
    """Sign in the ticked, take back the unticked who were signed in; one transaction.

    A sign-in is one row per session, person and day (its id derives from them), so the same
    sign-in recorded on two devices, or saved twice, stays one row.
    """
    errors: forms.Errors = {}
    added = removed = 0
    signin = record_type("signin")
    try:
        with store.transaction():
            for line in lines:
                person_id = line["person"]["id"]
                try:
                    if person_id in ticked and not line["signed"]:
                        store.create("signin", {"session_id": session["id"],
                                                "person_id": person_id, "day": day})
                        added += 1
                    elif person_id not in ticked and line["signed"]:
                        store.delete("signin", signin.natural_row_id({
                            "session_id": session["id"], "person_id": person_id, "day": day}))
                        removed += 1
                except (ValidationFailed, RuleViolation) as err:
                    errors.update(forms.errors_of(err, general=f"{person_id}-_form", shown=()))
            if errors:
                raise _Refused()
    except _Refused:
        return errors, 0, 0
    except CunsyncError as err:
        return {"_form": [err.message]}, 0, 0
    return {}, added, removed


class _Refused(Exception):
    """Rolls the sheet back: some sign-in was refused."""
