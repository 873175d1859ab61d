"""How the console shows things: Chinese labels for values, Beijing time, villages by name,
and the household and person a row belongs to."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable

from client_kit.domain import RECORD_TYPES, RecordType
from client_kit.domain.fields import Code, CodeList, Flag, Money
from client_kit.engine.changes import DELETED

from ..storage import ConflictRecord, Storage, StoredRow

#: China has one time zone and no daylight saving time.
BEIJING = dt.timezone(dt.timedelta(hours=8), "北京时间")
EMPTY = "（空）"


def parse_time(iso: str | None) -> dt.datetime | None:
    if not iso:
        return None
    moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def local_time(iso: str | None) -> str:
    """``2026-03-01 08:00`` in Beijing time, or a dash."""
    moment = parse_time(iso)
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if moment else "—"


def hlc_time(hlc: int | None) -> str:
    """The wall-clock time inside a hybrid-logical-clock timestamp (the device's clock)."""
    if not hlc:
        return "—"
    moment = dt.datetime.fromtimestamp((hlc >> 16) / 1000, dt.timezone.utc)
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def age(iso: str | None, now: dt.datetime) -> str:
    """How long ago, roughly: ``刚刚``, ``5 分钟前``, ``3 小时前``, ``12 天前``."""
    moment = parse_time(iso)
    if moment is None:
        return "从未"
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return "刚刚"
    if seconds < 3600:
        return f"{int(seconds // 60)} 分钟前"
    if seconds < 86400:
        return f"{int(seconds // 3600)} 小时前"
    return f"{int(seconds // 86400)} 天前"


def skew(ms: int | None) -> str:
    """A device clock's offset from the server's, readable: ``快 3 分钟``, ``慢 2 小时``."""
    if ms is None:
        return "—"
    seconds = abs(ms) / 1000
    if seconds < 60:
        return "正常"
    # Rounded: the offset is measured across the network, a little short of the true one.
    amount = (f"{seconds / 3600:.1f} 小时" if seconds >= 3600 else f"{round(seconds / 60)} 分钟")
    return ("快 " if ms > 0 else "慢 ") + amount


def show_value(rt: RecordType, name: str, value: Any) -> str:
    """A field's value as a supervisor reads it (codes become their Chinese labels)."""
    if name == DELETED:
        if value is True:
            return "删除这条记录"
        if value is False:
            return "保留（恢复）这条记录"
        if isinstance(value, dict):
            shown = "；".join(f"{rt.label_of(k)}：{show_value(rt, k, v)}"
                             for k, v in value.items() if k != DELETED)
            return f"修改这条记录（{shown}）" if shown else "修改这条记录"
    if value is None or value == "" or value == []:
        return EMPTY
    spec = rt.fields.get(name)
    if isinstance(spec, Code):
        return f"{spec.choices.get(value, value)}"
    if isinstance(spec, CodeList) and isinstance(value, list):
        return "、".join(spec.choices.get(v, str(v)) for v in value)
    if isinstance(spec, Flag):
        return "是" if value else "否"
    if isinstance(spec, Money):
        return f"{value} 元"
    return str(value)


def village_rows(storage: Storage, codes: Iterable[str]) -> dict[str, StoredRow]:
    village = RECORD_TYPES["village"]
    ids = {village.natural_row_id({"village_code": c}): c for c in set(codes)}
    return {row.village_code: row for row in storage.load_rows("village", ids).values()}


def village_names(storage: Storage, codes: Iterable[str]) -> dict[str, str]:
    """``{code: "白岩村（青山镇）"}``; an unknown village shows as its code."""
    codes = list(codes)
    rows = village_rows(storage, codes)
    names = {}
    for code in codes:
        row = rows.get(code)
        values = row.state.values if row else {}
        name = values.get("name")
        names[code] = f"{name}（{values.get('township')}）" if name else code
    return names


@dataclass
class Belongs:
    """The rows a record hangs from: its household and person, and its other parents."""

    household: dict[str, Any] | None = None
    person: dict[str, Any] | None = None
    relation: str = ""  # the person's relation to the head of the household
    others: list[tuple[str, str]] = field(default_factory=list)  # (label, description)


_DESCRIBE = {
    "post": ("name",),
    "training_session": ("title", "start_date"),
    "village": ("name",),
}


def belongs_to(storage: Storage, record_type: str, row_id: str) -> Belongs:
    """Walk a row's parent and reference fields up to its person and household."""
    found: dict[str, StoredRow] = {}
    queue: list[tuple[str, str]] = [(record_type, row_id)]
    while queue:
        type_name, wanted = queue.pop()
        if type_name in found:
            continue
        row = storage.load_rows(type_name, [wanted]).get(wanted)
        if row is None:
            continue
        found[type_name] = row
        rt = RECORD_TYPES[type_name]
        links = dict(rt.references)
        if rt.parent:
            links[rt.parent[1]] = rt.parent[0]
        for field_name, target in links.items():
            ref = row.state.values.get(field_name)
            if isinstance(ref, str) and target not in found:
                queue.append((target, ref))
    belongs = Belongs()
    if "household" in found:
        belongs.household = {"id": found["household"].id, **found["household"].state.values}
    if "person" in found:
        belongs.person = {"id": found["person"].id, **found["person"].state.values}
        belongs.relation = show_value(RECORD_TYPES["person"], "relation",
                                      belongs.person.get("relation"))
        if belongs.relation == EMPTY:
            belongs.relation = ""
    for type_name, names in _DESCRIBE.items():
        if type_name in found and type_name != record_type:
            values = found[type_name].state.values
            belongs.others.append((RECORD_TYPES[type_name].label,
                                   " ".join(str(values[n]) for n in names if values.get(n))))
    return belongs


def subject(belongs: Belongs) -> str:
    """One line naming whom a record is about: ``李秀英（户主 王大山）``."""
    person = belongs.person.get("name") if belongs.person else None
    head = belongs.household.get("head_name") if belongs.household else None
    if person and head and person != head:
        return f"{person}（户主 {head}）"
    if person or head:
        return str(person or head)
    return "；".join(text for _, text in belongs.others) or "—"


@dataclass
class Side:
    """One column of the side-by-side view: a value and who wrote it, when, where."""

    title: str
    value: str
    user: str | None
    device: str | None
    written: str
    note: str = ""


def base_side(storage: Storage, conflict: ConflictRecord) -> Side:
    """The value both devices started from, found in the row's change log by its version."""
    rt = RECORD_TYPES[conflict.record_type]
    if conflict.base_version is None:
        return Side("原值（双方修改前）", EMPTY, None, None, "—", "修改前没有值（新记录或从未填写）")
    wanted = [conflict.base_version[0], conflict.base_version[1]]
    for entry in reversed(storage.history(conflict.record_type, conflict.row_id)):
        if entry["versions"].get(conflict.field) == wanted:
            value = (entry["deleted"] if conflict.field == DELETED
                     else entry["fields"].get(conflict.field))
            return Side("原值（双方修改前）", show_value(rt, conflict.field, value),
                        entry["user"], entry["device_id"], hlc_time(wanted[0]))
    return Side("原值（双方修改前）", "—", None, conflict.base_version[1],
                hlc_time(conflict.base_version[0]), "变更记录中找不到原值")


def conflict_sides(storage: Storage, conflict: ConflictRecord) -> list[Side]:
    """Base, current and incoming, in that order."""
    rt = RECORD_TYPES[conflict.record_type]
    current_hlc = conflict.current_version[0] if conflict.current_version else None
    return [
        base_side(storage, conflict),
        Side("现值（服务器上）", show_value(rt, conflict.field, conflict.current_value),
             conflict.current_user_name, conflict.current_device, hlc_time(current_hlc),
             "先同步到服务器的值"),
        Side("新提交值", show_value(rt, conflict.field, conflict.incoming_value),
             conflict.incoming_user_name, conflict.incoming_device,
             hlc_time(conflict.incoming_version[0]),
             f"设备第 {conflict.incoming_seq} 号变更" if conflict.incoming_seq else ""),
    ]


STATUS_LABELS = {
    "open": "待处理",
    "auto": "已自动合并（待阅）",
    "resolved": "已处理",
    "acknowledged": "已阅",
    "superseded": "随其他冲突一并处理",
}
RESOLUTION_LABELS = {"current": "保留现值", "incoming": "采用新提交值", "corrected": "更正为新值"}
POLICY_LABELS = {"review": "需人工审核", "lww": "以后写入者为准"}
