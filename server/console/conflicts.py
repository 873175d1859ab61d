"""The conflict queue, a conflict's page, and settling conflicts (through ``SyncService``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from client_kit.domain import RECORD_TYPES
from client_kit.domain.fields import IdNo
from client_kit.engine.changes import DELETED

from ..auth import scope_villages, user_scope
from ..db import get_storage, get_sync
from ..errors import ApiError, BadRequest, InvalidRecord
from ..errors import Conflict as AlreadySettled
from ..storage import ConflictRecord, StoredRow
from . import forms, present
from .errors import Missing

bp = Blueprint("conflicts", __name__)

PAGE_SIZE = 50
AGES = [(0, "不限"), (1, "1 天以上"), (3, "3 天以上"), (7, "7 天以上"), (30, "30 天以上")]
TABS = [("open", "待处理冲突"), ("auto", "自动合并提示")]
ACTIONS = [("current", "保留现值"), ("incoming", "采用新提交值"), ("corrected", "更正为新值")]
MAX_COMMENT = 500
#: Bounds of integer query arguments: far beyond any real page or age, far inside what SQLite
#: and ``datetime`` take.
MAX_INT_ARG = 2 ** 31
MAX_AGE_DAYS = 36500


def _int_arg(name: str, default: int, maximum: int = MAX_INT_ARG) -> int:
    """A non-negative integer query argument, at most ``maximum`` (a number beyond any real
    one is not an error for a page: it is taken as the largest)."""
    try:
        return min(max(0, int(request.args.get(name, default))), maximum)
    except ValueError:
        return default


@bp.get("/")
def home():  # type: ignore[no-untyped-def]
    return redirect(url_for("console.conflicts.queue"))


@bp.get("/conflicts")
def queue():  # type: ignore[no-untyped-def]
    """Conflicts in the user's scope, oldest first, filtered by village, type and age."""
    user = g.console_user
    storage = get_storage()
    status = request.args.get("status", "open")
    if status not in dict(TABS):
        status = "open"
    in_scope = scope_villages(user)
    village_choices = in_scope if in_scope is not None else storage.village_codes()
    village = request.args.get("village", "")
    villages = in_scope
    if village:
        villages = [village] if user_scope(user)(village) else []
    record_type = request.args.get("record_type", "")
    if record_type not in RECORD_TYPES:
        record_type = ""
    min_age = _int_arg("min_age_days", 0, MAX_AGE_DAYS)
    if min_age not in dict(AGES):
        min_age = 0
    page = max(1, _int_arg("page", 1))
    now = dt.datetime.now(dt.timezone.utc)
    older_than = ((now - dt.timedelta(days=min_age)).isoformat(timespec="seconds")
                  if min_age else None)
    found = storage.list_conflicts(villages=villages, statuses=(status,),
                                   record_type=record_type or None, older_than=older_than,
                                   limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    counts = storage.count_conflicts(villages=villages, statuses=(status,))
    names = present.village_names(storage, village_choices)
    rows = [_queue_row(storage, c, now, names) for c in found]
    return render_template(
        "console/conflicts.html", rows=rows, status=status, tabs=TABS, counts=counts,
        total=sum(counts.values()), record_types=RECORD_TYPES, village=village,
        village_names=names, village_choices=village_choices, record_type=record_type,
        min_age=min_age, ages=AGES, page=page, more=more,
        first=(page - 1) * PAGE_SIZE + 1)


def _kept_incoming(conflict: ConflictRecord) -> bool:
    """For a last-writer-wins conflict: whether the incoming (later) value was kept."""
    current = tuple(conflict.current_version) if conflict.current_version else (0, "")
    return tuple(conflict.incoming_version) > current


def _queue_row(storage: Any, conflict: ConflictRecord, now: dt.datetime,
               names: dict[str, str]) -> dict[str, Any]:
    rt = RECORD_TYPES[conflict.record_type]
    current = present.show_value(rt, conflict.field, conflict.current_value)
    incoming = present.show_value(rt, conflict.field, conflict.incoming_value)
    kept, lost = (incoming, current) if _kept_incoming(conflict) else (current, incoming)
    return {
        "c": conflict,
        "age": present.age(conflict.created_at, now),
        "created": present.local_time(conflict.created_at),
        "village": names.get(conflict.village_code, conflict.village_code),
        "record_label": rt.label,
        "field_label": rt.label_of(conflict.field),
        "subject": present.subject(present.belongs_to(storage, conflict.record_type,
                                                      conflict.row_id)),
        "current": current, "incoming": incoming, "kept": kept, "lost": lost,
        "candidates": (1 + len(storage.conflict_candidates(conflict.id))
                       if conflict.status == "open" else 0),
    }


def _conflict_in_scope(conflict_id: int) -> ConflictRecord:
    conflict = get_storage().get_conflict(conflict_id)
    if conflict is None or not user_scope(g.console_user)(conflict.village_code):
        raise Missing("没有这条冲突记录，或它不在您的管辖范围内。")
    return conflict


def _row_table(conflict: ConflictRecord) -> list[tuple[str, str, bool]]:
    """The whole row now: (label, value, is the conflict's field)."""
    rt = RECORD_TYPES[conflict.record_type]
    row = get_storage().load_rows(rt.name, [conflict.row_id]).get(conflict.row_id)
    if row is None:
        return []
    table = []
    for name, spec in rt.fields.items():
        value = row.state.values.get(name)
        shown = present.show_value(rt, name, value)
        if isinstance(spec, IdNo) and isinstance(value, str) and name != conflict.field:
            shown = value[:6] + "********" + value[-4:]
        table.append((rt.label_of(name), shown, name == conflict.field))
    if row.state.deleted:
        table.append(("状态", "已删除", conflict.field == DELETED))
    return table


@dataclass
class Related:
    """A field of the row tied to the conflict's field by a rule, as the form shows it."""

    name: str
    label: str
    widget: forms.Widget
    typed: Any
    shown: str


def _related(rt: Any, conflict: ConflictRecord, row: StoredRow | None,
             typed: dict[str, Any]) -> list[Related]:
    """The fields a supervisor may set together with the conflict's field (ID numbers are
    never offered: they are masked on screen)."""
    if row is None or conflict.field == DELETED or conflict.status != "open":
        return []
    found = []
    for name in rt.related_to([conflict.field]):
        if isinstance(rt.fields[name], IdNo):
            continue
        widget = forms.widget_for(rt, name)
        value = row.state.values.get(name)
        found.append(Related(name, rt.label_of(name), widget,
                             typed.get(name, forms.form_text(widget, value)),
                             present.show_value(rt, name, value)))
    return found


def _posts_side_by_side(storage: Any, conflict: ConflictRecord) -> list[dict[str, str]]:
    """一人一岗: the held appointment and the person's other post in force, one line each
    (post, term, status), so the supervisor sees both before deciding."""
    rivals = get_sync().rivals(conflict)
    if not rivals:
        return []
    held = storage.load_rows("appointment", [conflict.row_id]).get(conflict.row_id)
    rows = [(held, "本条聘任（待审核）" if conflict.status == "open" else "本条聘任")] + [
        (r, "已在岗的岗位") for r in rivals]
    posts = storage.load_rows("post", [r.state.values.get("post_id") for r, _ in rows
                                       if r is not None and r.state.values.get("post_id")])
    rt = RECORD_TYPES["appointment"]
    lines = []
    for row, role in rows:
        if row is None:
            continue
        values = row.state.values
        post = posts.get(values.get("post_id") or "")
        status = conflict.incoming_value if row.id == conflict.row_id and \
            conflict.status == "open" else values.get("status")
        lines.append({
            "role": role, "post": (post.state.values.get("name") if post else None) or "—",
            "term": f"{values.get('start_date') or '—'}至{values.get('end_date') or '—'}",
            "status": present.show_value(rt, "status", status),
            "ended_on": values.get("ended_on") or ""})
    return lines


def _candidates(storage: Any, conflict: ConflictRecord) -> list[dict[str, Any]]:
    """Every value offered for the field, newest first, as cards: the conflict's own incoming
    value and each later change that joined it. ``choice`` is the action that takes it."""
    rt = RECORD_TYPES[conflict.record_type]
    found = get_sync().candidates(conflict)
    cards = []
    for number, c in enumerate(found, 1):
        title = "新提交值" if len(found) == 1 else f"候选值 {number}" + (
            "（最新）" if number == 1 else "")
        cards.append({
            "c": c, "title": title,
            "side": present.Side(title, present.show_value(rt, conflict.field,
                                                           c.incoming_value),
                                 c.incoming_user_name, c.incoming_device,
                                 present.hlc_time(c.incoming_version[0]),
                                 f"设备第 {c.incoming_seq} 号变更" if c.incoming_seq else ""),
            "choice": "incoming" if c.id == conflict.id else f"incoming:{c.id}"})
    return cards


def _detail(conflict: ConflictRecord, *, errors: dict[str, list[str]] | None = None,
            chosen: str = "", typed: Any = None, comment: str = "",
            related_typed: dict[str, Any] | None = None, cleared: bool = False,
            status: int = 200):
    storage = get_storage()
    rt = RECORD_TYPES[conflict.record_type]
    widget = forms.widget_for(rt, conflict.field)
    if typed is None:
        typed = forms.form_text(widget, conflict.current_value
                                if conflict.field != DELETED else None)
    others = [c for c in storage.list_conflicts(
        villages=[conflict.village_code], statuses=("open",), record_type=rt.name,
        row_id=conflict.row_id, limit=50) if c.id != conflict.id]
    # Taking the incoming value takes every field held from the same pushed change with it.
    together = [c for c in others if c.field != DELETED and conflict.field != DELETED
                and c.incoming_seq is not None and c.incoming_seq == conflict.incoming_seq
                and c.incoming_device == conflict.incoming_device]
    actions = [a for a in ACTIONS if not (conflict.field == DELETED and a[0] == "corrected")]
    row = storage.load_rows(rt.name, [conflict.row_id]).get(conflict.row_id)
    sides = present.conflict_sides(storage, conflict)
    head = storage.conflict_head(conflict.id) if conflict.status == "candidate" else None
    return render_template(
        "console/conflict.html", c=conflict, rt=rt, field_label=rt.label_of(conflict.field),
        sides=sides, candidates=_candidates(storage, conflict), head=head,
        belongs=present.belongs_to(storage, conflict.record_type, conflict.row_id),
        village=present.village_names(storage, [conflict.village_code])[conflict.village_code],
        row_table=_row_table(conflict), others=others,
        posts_side_by_side=_posts_side_by_side(storage, conflict), widget=widget, actions=actions,
        together=[rt.label_of(c.field) for c in together],
        related=_related(rt, conflict, row, related_typed or {}), cleared=cleared,
        optional=(conflict.field in rt.fields and not rt.fields[conflict.field].required),
        errors=errors or {}, chosen=chosen, typed=typed, comment=comment,
        created=present.local_time(conflict.created_at),
        resolved=present.local_time(conflict.resolved_at),
        kept_incoming=_kept_incoming(conflict),
        resolved_value=(present.show_value(rt, conflict.field, conflict.resolved_value)
                        if conflict.status == "resolved" else ""),
        max_comment=MAX_COMMENT), status


@bp.get("/conflicts/<int:conflict_id>")
def detail(conflict_id: int):  # type: ignore[no-untyped-def]
    return _detail(_conflict_in_scope(conflict_id))


def _schema_errors(err: ApiError, field_name: str,
                   related: set[str] | None = None) -> dict[str, list[str]]:
    """The schema's messages: each next to its field (the conflict's own, or a related one
    shown in the form), the rest above."""
    details = err.details if isinstance(err.details, dict) else {}
    found = details.get("fields", details.get("values", details))
    errors: dict[str, list[str]] = {"form": [err.message]}
    if isinstance(found, dict):
        for key, messages in found.items():
            target = ("value" if key == field_name
                      else forms.RELATED + key if key in (related or ()) else "form")
            items = messages if isinstance(messages, list) else [str(messages)]
            errors.setdefault(target, []).extend(str(m) for m in items)
    return errors


def _read_related(rt: Any, conflict: ConflictRecord,
                  errors: dict[str, list[str]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The related fields the supervisor changed (``values`` for the resolution) and what was
    typed into each (to show the form again)."""
    row = get_storage().load_rows(rt.name, [conflict.row_id]).get(conflict.row_id)
    changed: dict[str, Any] = {}
    typed: dict[str, Any] = {}
    for item in _related(rt, conflict, row, {}):
        key = forms.RELATED + item.name
        typed[item.name] = (request.form.getlist(key) if item.widget.kind == "multi"
                            else request.form.get(key, ""))
        if item.widget.kind != "multi" and key not in request.form:
            continue  # not in the form that was sent: left as it is
        try:
            was_changed, value = forms.read_changed(
                item.widget, request.form, item.name,
                row.state.values.get(item.name) if row else None)
        except forms.Unreadable as err:
            errors[key] = [str(err)]
            continue
        if was_changed:
            changed[item.name] = value
    return changed, typed


def _not_open(conflict: ConflictRecord):  # type: ignore[no-untyped-def]
    """Back to the conflict's page, saying why it cannot be settled here."""
    if conflict.status == "candidate":
        head = get_storage().conflict_head(conflict.id or 0)
        flash(f"这条修改已并入冲突 #{head.id if head else '?'}，请在该冲突中处理。", "warning")
    else:
        flash(f"冲突 #{conflict.id} 已经被处理过了（可能是其他监督员刚刚处理的）。", "warning")
    return redirect(url_for("console.conflicts.detail", conflict_id=conflict.id))


@bp.post("/conflicts/<int:conflict_id>/resolve")
def resolve(conflict_id: int):  # type: ignore[no-untyped-def]
    """Keep the current value, take the incoming one (or another candidate), or a corrected
    value; with a comment, and optionally with related fields of the row set together."""
    conflict = _conflict_in_scope(conflict_id)
    if conflict.status != "open":
        return _not_open(conflict)
    rt = RECORD_TYPES[conflict.record_type]
    widget = forms.widget_for(rt, conflict.field)
    chosen = request.form.get("action", "")
    comment = request.form.get("comment", "").strip()
    typed = (request.form.getlist(forms.VALUE) if widget.kind == "multi"
             else request.form.get(forms.VALUE, ""))
    errors: dict[str, list[str]] = {}
    allowed = [a for a, _ in ACTIONS if not (conflict.field == DELETED and a == "corrected")]
    picks = {card["choice"]: card["c"].id
             for card in _candidates(get_storage(), conflict)}
    action, candidate = chosen, None
    if chosen in picks and chosen != "incoming":
        action, candidate = "incoming", picks[chosen]
    elif chosen not in allowed:
        errors["action"] = ["请选择处理方式"]
    if not comment:
        errors["comment"] = ["处理意见必填：写明依据（如：电话核实、入户核实）"]
    elif len(comment) > MAX_COMMENT:
        errors["comment"] = [f"处理意见最多 {MAX_COMMENT} 字"]
    value = None
    cleared = request.form.get("clear") == "1"
    values, related_typed = _read_related(rt, conflict, errors)
    if action == "corrected" and cleared:
        values[conflict.field] = None  # the field emptied: only through values
    elif action == "corrected":
        try:
            value = forms.read_value(widget, request.form)
        except forms.Unreadable as err:
            errors["value"] = [str(err)]
    again = {"chosen": chosen, "typed": typed, "comment": comment,
             "related_typed": related_typed, "cleared": cleared, "status": 422}
    if errors:
        return _detail(conflict, errors=errors, **again)
    user = g.console_user
    try:
        settled = get_sync().resolve(conflict_id, action, value, comment, user,
                                     user_scope(user), candidate=candidate, values=values)
    except (InvalidRecord, BadRequest) as err:
        shown = set(rt.related_to([conflict.field]))
        return _detail(conflict, errors=_schema_errors(err, conflict.field, shown), **again)
    except AlreadySettled:
        return _not_open(get_storage().get_conflict(conflict_id) or conflict)
    label = dict(ACTIONS)[action]
    shown = present.show_value(rt, conflict.field, settled.resolved_value)
    also = "".join(f"；{rt.label_of(n)}为“{present.show_value(rt, n, v)}”"
                   for n, v in values.items() if n != conflict.field)
    flash(f"冲突 #{conflict_id}（{rt.label}·{rt.label_of(conflict.field)}）已处理：{label}，"
          f"结果为“{shown}”{also}。各设备下次同步时收到。", "success")
    return redirect(url_for("console.conflicts.queue"))


@bp.post("/conflicts/acknowledge")
def acknowledge():  # type: ignore[no-untyped-def]
    """Mark informational (last-writer-wins) conflicts as read, several at once."""
    whole_page = request.form.get("scope") == "page"
    raw = request.form.getlist("page_ids" if whole_page else "ids")
    try:
        ids = sorted({int(i) for i in raw if 0 < int(i) <= MAX_INT_ARG})[:1000]
    except ValueError:
        ids = []
    if not ids:
        flash("请先勾选要标为已阅的提示。", "warning")
    else:
        user = g.console_user
        count = get_sync().acknowledge(ids, user, user_scope(user))
        flash(f"已将 {count} 条自动合并提示标为已阅。", "success")
    return redirect(url_for("console.conflicts.queue", status="auto",
                            **{k: v for k, v in request.form.items()
                               if k in ("village", "record_type", "min_age_days") and v}))
