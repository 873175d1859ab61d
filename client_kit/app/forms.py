"""From HTML form values to record values, and from the store's errors back to form fields."""

from __future__ import annotations

import datetime as dt
from typing import Any, Collection, Mapping

from ..errors import CunsyncError

#: Employment fields that only make sense while employed; cleared when someone stops working.
EMPLOYED_ONLY = ("destination", "province", "work_kind", "organised_export", "employer",
                 "start_date", "long_contract", "insurance_months", "monthly_income")
EMPLOYMENT_TEXT = ("not_working_reason", "destination", "province", "work_kind", "employer",
                   "start_date", "insurance_months", "monthly_income")
EMPLOYMENT_FLAGS = ("organised_export", "long_contract")
#: The employment fields a member's part of the visit form shows.
EMPLOYMENT_FORM = ("status", *EMPLOYMENT_TEXT, *EMPLOYMENT_FLAGS)

Errors = dict[str, list[str]]


def text(form: Mapping[str, str], name: str) -> str | None:
    """A text box's value, stripped; an empty box is no value."""
    value = (form.get(name) or "").strip()
    return value or None


def employment_values(form: Mapping[str, str], prefix: str,
                      current: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The employment a member's part of the visit form describes, or ``None`` if left empty.

    Switching to 未就业 clears the job's details; switching to 已就业 clears the reason. An
    unticked box stays empty where it was empty (it does not become "no").
    """
    status = text(form, prefix + "status")
    if status is None:
        return None
    values: dict[str, Any] = {"status": status}
    for name in EMPLOYMENT_TEXT:
        values[name] = text(form, prefix + name)
    for name in EMPLOYMENT_FLAGS:
        ticked = form.get(prefix + name) is not None
        values[name] = True if ticked else (False if (current or {}).get(name) else None)
    if status == "employed":
        values["not_working_reason"] = None
        if values["destination"] != "out_province":
            values["province"] = None
    elif status == "not_employed":
        for name in EMPLOYED_ONLY:
            values[name] = None
    return values


def day(form: Mapping[str, str], name: str) -> str | None:
    """A date box's value if it is a valid date (its own errors come from the schema)."""
    value = text(form, name)
    try:
        return dt.date.fromisoformat(value).isoformat() if value else None
    except ValueError:
        return None


def errors_of(err: CunsyncError, prefix: str = "", general: str = "_form",
              shown: Collection[str] | None = None) -> Errors:
    """Field messages of a refused write, keyed by form field name (``prefix`` + field).

    Messages about fields the form does not show (``shown``) go to ``general``.
    """
    details = err.details if isinstance(err.details, dict) else None
    if not details:
        return {general: [err.message]}
    errors: Errors = {}
    for name, messages in details.items():
        hidden = name.startswith("_") or (shown is not None and name not in shown)
        key = general if hidden else prefix + str(name)
        items = messages if isinstance(messages, list) else [messages]
        errors.setdefault(key, []).extend(str(m) for m in items)
    return errors
