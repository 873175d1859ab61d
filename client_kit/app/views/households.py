"""Households of my villages, one household's members, and the visit form."""

from __future__ import annotations

from typing import Any

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request,
                   session, url_for)
from werkzeug.wrappers import Response

from ...errors import CunsyncError, RuleViolation, ValidationFailed
from .. import forms, lookups
from ..web import get_store

bp = Blueprint("households", __name__)

VISIT_FIELDS = ("visit_date", "visitors", "findings", "follow_up", "follow_up_due")


@bp.get("/")
def index() -> str:
    store = get_store()
    villages = lookups.my_villages(store)
    chosen = request.args.get("village", "")
    codes = [v["code"] for v in villages if not chosen or v["code"] == chosen]
    query = request.args.get("q", "").strip()
    cards = lookups.household_cards(store, codes, query)
    with_labour = [c for c in cards if c.labour_count]
    needing = [c for c in with_labour if c.needs_job]
    if request.args.get("needs_job"):
        cards = needing
    return render_template("households.html", cards=cards, villages=villages, chosen=chosen,
                           query=query, needs_job=bool(request.args.get("needs_job")),
                           with_labour=len(with_labour), needing=len(needing))


def _card(household_id: str) -> lookups.HouseholdCard:
    store = get_store()
    card = lookups.household_card(store, household_id)
    mine = {v["code"] for v in lookups.my_villages(store)}
    if card is None or card.household["village_code"] not in mine:
        abort(404)
    return card


@bp.get("/households/<household_id>")
def household(household_id: str) -> str:
    card = _card(household_id)
    visits = sorted(get_store().query("visit", household_id=household_id),
                    key=lambda v: v["visit_date"], reverse=True)
    pending = lookups.pending_rows(get_store())
    return render_template("household.html", card=card, visits=visits, pending=pending)


@bp.route("/households/<household_id>/visit", methods=["GET", "POST"])
def visit(household_id: str) -> Response | str | tuple[str, int]:
    card = _card(household_id)
    today = current_app.config["TODAY"]().isoformat()
    if request.method == "GET":
        values: dict[str, Any] = {"visit_date": today, "visitors": session.get("visitors", "")}
        return render_template("visit.html", card=card, values=values,
                               employment=employment_shown(card, None), errors={})
    form = request.form
    errors = save_visit(card, form)
    if errors:
        values = {name: form.get(name, "") for name in VISIT_FIELDS}
        return render_template("visit.html", card=card, values=values,
                               employment=employment_shown(card, form), errors=errors), 422
    session["visitors"] = forms.text(form, "visitors") or ""
    flash("走访记录已保存（待同步）", "ok")
    return redirect(url_for("households.household", household_id=household_id))


def employment_shown(card: lookups.HouseholdCard, form: Any) -> dict[str, dict[str, Any]]:
    """Person id → what each member's employment boxes show: what was typed, else the record."""
    shown = {}
    for member in card.members:
        prefix = f"emp-{member.person['id']}-"
        if form is None:
            shown[member.person["id"]] = dict(member.employment or {})
        else:
            values: dict[str, Any] = {name: form.get(prefix + name, "")
                                      for name in ("status", *forms.EMPLOYMENT_TEXT)}
            values.update({name: form.get(prefix + name) is not None
                           for name in forms.EMPLOYMENT_FLAGS})
            shown[member.person["id"]] = values
    return shown


class _Refused(Exception):
    """Rolls the visit back: some part of the form was refused."""


def save_visit(card: lookups.HouseholdCard, form: Any) -> forms.Errors:
    """Write the visit and every member's changed employment in one transaction.

    Every part is tried so that all errors show at once; if any part is refused, nothing is
    written.
    """
    store = get_store()
    errors: forms.Errors = {}
    visit_date = forms.day(form, "visit_date")
    try:
        with store.transaction():
            values = {name: forms.text(form, name) for name in VISIT_FIELDS}
            try:
                store.create("visit", {"household_id": card.household["id"], **values})
            except (ValidationFailed, RuleViolation) as err:
                errors.update(forms.errors_of(err, shown=VISIT_FIELDS))
            for member in card.members:
                prefix = f"emp-{member.person['id']}-"
                wanted = forms.employment_values(form, prefix, member.employment)
                if wanted is None:
                    continue
                current = member.employment
                if visit_date and (current is None
                                   or current.get("status") != wanted["status"]):
                    wanted["status_since"] = visit_date
                try:
                    if current is None:
                        store.create("employment", {"person_id": member.person["id"], **wanted})
                    else:
                        store.update("employment", current["id"], wanted)
                except (ValidationFailed, RuleViolation) as err:
                    errors.update(forms.errors_of(err, prefix, general=prefix + "_form",
                                                  shown=forms.EMPLOYMENT_FORM))
            if errors:
                raise _Refused()
    except _Refused:
        return errors
    except CunsyncError as err:
        return {"_form": [err.message]}
    return {}
