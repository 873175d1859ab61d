"""The field app's pages, one blueprint each."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g

from ...domain import enums, record_type
from .. import lookups
from ..web import get_store
from . import attendance, auth, households, syncing, trainings


def register(app: Flask) -> None:
    for module in (auth, households, attendance, trainings, syncing):
        app.register_blueprint(module.bp)
    app.context_processor(_template_helpers)


def label_of(type_name: str, field_name: str) -> str:
    return record_type(type_name).label_of(field_name)


def _template_helpers() -> dict[str, Any]:
    helpers: dict[str, Any] = {
        "enums": enums, "label_of": label_of, "mask_id": lookups.mask_id_number,
        "employment_summary": lookups.employment_summary,
        "village_label": lookups.village_label,
        "provinces": [(name, name) for name in enums.PROVINCES], "unlocked": g.get("keys") is not None,
        "idle_seconds": int(float(current_app.config["IDLE_MINUTES"]) * 60)}
    if helpers["unlocked"]:
        helpers["pending_total"] = get_store().pending_count()
    return helpers
