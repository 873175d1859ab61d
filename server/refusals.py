"""Changes the server refused one by one: listing them for supervisors and marking them resolved.

A pushed change that breaks a rule of its own is refused alone (:meth:`SyncService.push`): its
sequence is consumed, nothing of it is applied, and it is kept in ``refused_changes`` until a
supervisor marks it resolved. Marking one resolved changes no record (the worker settles the
change on the device: send again or discard); it is audited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any, Callable

from client_kit.domain import RECORD_TYPES

from .errors import Conflict, NotFound
from .storage import AuditEntry, RefusalRecord, Storage, UserRecord

#: Chinese names of the refusal codes, for the console and the device (the message says more).
CODE_LABELS: dict[str, str] = {
    "out_of_scope": "村不在本设备范围内",
    "row_of_other_village": "记录属于其他村",
    "reference_out_of_village": "引用了其他村的记录",
    "reference_not_found": "引用的记录不存在",
    "invalid_record": "数据不合格",
    "village_mismatch": "所属村不一致",
    "natural_key_mismatch": "记录编号不符",
    "unknown_record_type": "未知记录类型",
    "not_found": "要删除的记录不存在",
    "bad_request": "变更格式不正确",
}


def scope_prefixes(user: UserRecord) -> list[str] | None:
    """The user's scope as :meth:`Storage.list_refusals` takes it (``None``: everything).

    Prefixes rather than known village codes: a refused change may name a village the server
    has no row of (that is often why it was refused)."""
    if user.role == "admin" and not user.scope:
        return None
    return list(user.scope)


def in_scope(refusal: RefusalRecord, scope: Callable[[str], bool]) -> bool:
    """Whether a supervisor of ``scope`` sees the refusal: its village or its device's."""
    return scope(refusal.village_code) or any(scope(v) for v in refusal.device_villages)


def refusal_view(refusal: RefusalRecord) -> dict[str, Any]:
    """A refused change as the API shows it, with labels a supervisor reads."""
    data = asdict(refusal)
    rt = RECORD_TYPES.get(refusal.record_type)
    data["record_label"] = rt.label if rt else refusal.record_type
    data["code_label"] = CODE_LABELS.get(refusal.code, refusal.code)
    return data


def resolve_refusal(storage: Storage, refusal_id: int, comment: str, actor: UserRecord,
                    scope: Callable[[str], bool], *, now: str | None = None) -> RefusalRecord:
    """Mark one refused change resolved, with the supervisor's comment; audited."""
    at = now or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    with storage.atomic():
        refusal = storage.get_refusal(refusal_id)
        if refusal is None or not in_scope(refusal, scope):
            raise NotFound("没有这条被退回的变更")
        if refusal.status != "open":
            raise Conflict("这条被退回的变更已经处理过", code="refusal_not_open")
        storage.settle_refusals([refusal_id], resolved_at=at, resolved_by=actor.name,
                                comment=comment)
        storage.append_audit(AuditEntry(
            at, actor.name, "refusal.resolve", f"{refusal.device_id}/{refusal.seq}",
            {"refusal": refusal_id, "code": refusal.code, "record_type": refusal.record_type,
             "row_id": refusal.row_id, "village": refusal.village_code, "comment": comment}))
        settled = storage.get_refusal(refusal_id)
        assert settled is not None
        return settled
