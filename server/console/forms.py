"""The corrected-value input of a conflict: which widget a field gets and how its text becomes
the value the schema checks. Validation itself is the schema's (``SyncService.resolve``); this
only turns form text into the JSON types a device would send."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from client_kit.domain import RecordType
from client_kit.domain.fields import Choice, Code, CodeList, Count, Day, Flag, Money, Text
from client_kit.engine.changes import DELETED

VALUE = "value"


class Unreadable(ValueError):
    """The form text cannot be read as a value of the field (its message is Chinese)."""


@dataclass
class Widget:
    """What the corrected-value input looks like."""

    kind: str  # select, multi, flag, date, number, text, textarea, none
    choices: list[tuple[str, str]] = field(default_factory=list)
    hint: str = ""


def widget_for(rt: RecordType, name: str) -> Widget:
    if name == DELETED:
        return Widget("none")
    spec = rt.fields.get(name)
    if isinstance(spec, CodeList):
        return Widget("multi", list(spec.choices.items()))
    if isinstance(spec, Code):
        return Widget("select", list(spec.choices.items()))
    if isinstance(spec, Choice):
        return Widget("select", [(c, c) for c in spec.choices])
    if isinstance(spec, Flag):
        return Widget("flag", [("true", "是"), ("false", "否")])
    if isinstance(spec, Day):
        return Widget("date", hint="年-月-日，如 2026-03-01")
    if isinstance(spec, Money):
        return Widget("number", hint="元，最多两位小数")
    if isinstance(spec, Count):
        return Widget("number", hint="整数")
    if isinstance(spec, Text) and spec.max_length > 200:
        return Widget("textarea")
    return Widget("text")


def read_value(widget: Widget, form: MultiDict[str, str], name: str = VALUE) -> Any:
    """The corrected value typed into ``form``; :class:`Unreadable` when there is none."""
    if widget.kind == "multi":
        return form.getlist(name)
    text = form.get(name, "").strip()
    if not text:
        raise Unreadable("请填写更正后的值")
    if widget.kind == "flag":
        if text not in ("true", "false"):
            raise Unreadable("请选择“是”或“否”")
        return text == "true"
    return text


def form_text(widget: Widget, value: Any) -> Any:
    """A stored value as the input shows it (to prefill the form)."""
    if widget.kind == "multi":
        return list(value or [])
    if widget.kind == "flag":
        return "" if value is None else ("true" if value else "false")
    return "" if value is None else str(value)


#: Prefix of the inputs for the related fields of a row (``related.status`` …).
RELATED = "related."


def read_changed(widget: Widget, form: MultiDict[str, str], name: str,
                 current: Any) -> tuple[bool, Any]:
    """Whether the related field ``name`` was changed from ``current`` in ``form``, and its
    new value (an emptied input clears the field: ``None``)."""
    key = RELATED + name
    shown = form_text(widget, current)
    if widget.kind == "multi":
        ticked = form.getlist(key)
        return sorted(ticked) != sorted(shown), ticked
    text = form.get(key, "").strip()
    if text == shown:
        return False, current
    if not text:
        return True, None
    if widget.kind == "flag":
        if text not in ("true", "false"):
            raise Unreadable("请选择“是”或“否”")
        return True, text == "true"
    return True, text
