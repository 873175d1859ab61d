"""Push, pull and conflict resolution: the server side of the sync protocol.

This module knows record types only through the domain registry (schemas and field policies);
the merge decisions themselves are the engine's (:mod:`client_kit.engine.merge`). It talks to
the database only through :class:`server.storage.Storage`, and knows nothing of HTTP.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from marshmallow import ValidationError

from client_kit.domain import RECORD_TYPES, RecordType
from client_kit.domain.fields import Ref
from client_kit.domain.rules import clashing_posts
from client_kit.engine.changes import DELETE, DELETED, Change, PulledEntry, Version
from client_kit.engine.errors import ClockSkewError
from client_kit.engine.hlc import HybridClock
from client_kit.engine.merge import (ConflictDraft, MergeOutcome, RowState, hold_for_review,
                                     merge_change)
from client_kit.engine.protocol import MAX_SEQ, Ack, Refused

from .errors import ApiError, BadRequest, Conflict, InvalidRecord, NotFound, OutOfScope
from .storage import (AuditEntry, ConflictRecord, DeviceRecord, LogDraft, RefusalRecord, Storage,
                      StoredRow, UserRecord)

SERVER_DEVICE = "server"
#: Record types with a rule spanning rows, and the field a new row breaking it is held on.
_ROW_RULES: dict[str, tuple[str, ...]] = {"appointment": ("status",)}


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class PushResult:
    """The acknowledgement of one push batch."""

    acked_through: int
    applied: int = 0
    repeated: int = 0
    conflicts: int = 0
    refused: list[Refused] = field(default_factory=list)

    def ack(self) -> Ack:
        """The acknowledgement message a device reads."""
        return Ack(self.acked_through, self.applied, self.repeated, self.conflicts,
                   tuple(self.refused))


@dataclass
class PullPage:
    entries: list[PulledEntry]
    cursor: int
    more: bool


@dataclass
class PullPageWire:
    entry_texts: list[str]
    cursor: int
    more: bool


@dataclass
class _Batch:
    """What a push batch changes, gathered before one write."""

    rows: dict[str, dict[str, StoredRow]] = field(default_factory=dict)
    dirty: dict[str, set[str]] = field(default_factory=dict)
    log: list[LogDraft] = field(default_factory=list)
    conflicts: list[ConflictRecord] = field(default_factory=list)
    pushed: list[tuple[int, str]] = field(default_factory=list)
    refusals: list[RefusalRecord] = field(default_factory=list)


def _load_merged(rt: RecordType, stored: StoredRow, changes: dict[str, Any]) -> dict[str, Any]:
    """The stored row with ``changes``, loaded whole (``ValidationError`` if it breaks a rule)."""
    return rt.load_row({"id": stored.id, **stored.state.values, **changes})


def _new_row(rt: RecordType, change: Change, device: DeviceRecord, batch: _Batch) -> bool:
    """Apply a validated upsert of a row the server never had: what :func:`merge_change` and
    :meth:`SyncService._apply_outcome` make of it (every field written with the change's
    version, one log entry), in one step. A test holds the two equal. Returns False, doing
    nothing, for a change without values (the general path decides those)."""
    values = {k: v for k, v in change.fields.items() if k != DELETED}
    if not values:
        return False
    incoming = (change.hlc, device.id)
    state = RowState(values, dict.fromkeys(values, incoming), False, set(), True)
    batch.rows[rt.name][change.row_id] = StoredRow(change.row_id, change.village, state)
    batch.log.append(LogDraft(rt.name, change.row_id, change.village, dict(values),
                              dict.fromkeys(values, incoming), None, (), device.id, change.seq,
                              device.user_name))
    batch.dirty.setdefault(rt.name, set()).add(change.row_id)
    return True


def _references(rt: RecordType) -> list[tuple[str, str]]:
    """``(field, record type)`` of every row a row of ``rt`` refers to, its parent first."""
    refs = [(rt.parent[1], rt.parent[0])] if rt.parent else []
    return refs + [(name, ref_type) for name, ref_type in rt.references.items()]


def _refusal(device: DeviceRecord, change: Change, err: ApiError) -> RefusalRecord:
    details = err.details if isinstance(err.details, dict) else {}
    details = {k: v for k, v in details.items() if k != "seq"} or None
    return RefusalRecord(device.id, device.user_name, list(device.villages), change.seq,
                         change.record_type, change.row_id, change.village, err.code,
                         err.message, details, utc_now())


def _refused(refusal: RefusalRecord) -> Refused:
    return Refused(refusal.seq, refusal.code, refusal.message, refusal.details)


def _details(err: ValidationError) -> dict[str, Any]:
    return err.messages if isinstance(err.messages, dict) else {"_schema": err.messages}


class SyncService:
    """The server's sync logic over a :class:`Storage`.

    ``clock_ms`` gives wall-clock milliseconds (tests pass their own); ``max_ahead_ms`` bounds
    how far ahead of the server a device's clock may run.
    """

    def __init__(self, storage: Storage, *, clock_ms: Callable[[], int] | None = None,
                 max_ahead_ms: int = 24 * 3600 * 1000) -> None:
        self.storage = storage
        self.clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self.max_ahead_ms = max_ahead_ms

    # -- push ------------------------------------------------------------------------------

    def push(self, device: DeviceRecord, changes: list[Change], *,
             app_version: str | None = None, schema_version: int | None = None) -> PushResult:
        """Apply a batch at most once, in sequence order, in one transaction.

        A sequence already applied with the same content is acknowledged again; with other
        content the whole batch is refused and nothing changes. A change that breaks a rule of
        its own (its values, its village, the village of a row or of a row it refers to) is
        refused alone: its sequence is consumed, nothing of it is applied, it is recorded for
        the supervisors, and the changes after it go on (see docs/protocol.md).
        """
        self._check_shape(device, changes)
        with self.storage.atomic():
            fresh = self.storage.get_device(device.id) or device
            seen = self.storage.pushed_digests(device.id, [c.seq for c in changes])
            result = PushResult(acked_through=max((c.seq for c in changes), default=0))
            new: list[tuple[Change, str]] = []
            for change in changes:
                digest = change.digest()
                if change.seq in seen:
                    if seen[change.seq] != digest and seen[change.seq] != change.legacy_digest():
                        raise Conflict(
                            f"第 {change.seq} 号变更已收到过，但这次内容不同；拒绝重放",
                            code="replay_mismatch", details={"seq": change.seq})
                    result.repeated += 1
                elif change.seq <= fresh.last_seq:
                    raise Conflict(f"第 {change.seq} 号变更顺序错误（已收到 {fresh.last_seq}）",
                                   code="sequence_out_of_order",
                                   details={"seq": change.seq, "last_seq": fresh.last_seq})
                else:
                    new.append((change, digest))
            # A retried batch is answered as the first time: the refusals among its repeats.
            refused = [_refused(r) for r in self.storage.refusals_for(device.id, seen).values()]
            batch = self._merge_batch(fresh, new)
            result.applied = len(new) - len(batch.refusals)
            result.conflicts = sum(1 for c in batch.conflicts
                                   if c.status in ("open", "candidate"))
            result.refused = sorted(refused + [_refused(r) for r in batch.refusals],
                                    key=lambda r: r.seq)
            self._write_batch(fresh, batch)
            updates: dict[str, Any] = {"last_seen_at": utc_now(),
                                       "acknowledged": fresh.acknowledged + len(new)}
            if new:
                updates["last_seq"] = new[-1][0].seq
            if fresh.pending is not None:
                # What the device reported at hello, less this batch, which has left its outbox
                # once acknowledged: the health page shows the count after the push.
                updates["pending"] = max(0, fresh.pending - len(changes))
            if app_version is not None:
                updates["app_version"] = app_version
            if schema_version is not None:
                updates["schema_version"] = schema_version
            self.storage.update_device(device.id, **updates)
            if new:
                # Who changed what, value by value, is in the change log; the audit log keeps
                # one line per applied batch.
                self.storage.append_audit(AuditEntry(
                    utc_now(), device.user_name, "sync.push", device.id,
                    {"seqs": [new[0][0].seq, new[-1][0].seq], "applied": result.applied,
                     "conflicts": result.conflicts,
                     **({"refused": [r.seq for r in batch.refusals]} if batch.refusals
                        else {})}))
        return result

    def _check_shape(self, device: DeviceRecord, changes: list[Change]) -> None:
        """What concerns the batch as a whole: sequences positive, increasing, in range."""
        previous = None
        for change in changes:
            where = {"seq": change.seq}
            if previous is not None and change.seq <= previous:
                raise BadRequest("变更序号必须递增", details=where)
            previous = change.seq
            if change.seq < 1:
                raise BadRequest("变更序号必须为正整数", details=where)
            if change.seq > MAX_SEQ:
                raise BadRequest(f"变更序号超出范围（最大 {MAX_SEQ}）", code="seq_out_of_range",
                                 details={**where, "max": MAX_SEQ})

    @staticmethod
    def _check_change(device: DeviceRecord, change: Change) -> RecordType:
        """A change's own shape: its type, fields and village (an :class:`ApiError` refuses
        that change alone)."""
        where = {"seq": change.seq}
        rt = RECORD_TYPES.get(change.record_type)
        if rt is None:
            raise BadRequest(f"未知的记录类型 {change.record_type!r}",
                             code="unknown_record_type", details=where)
        if change.village not in device.villages:
            raise OutOfScope(f"本设备无权写入村 {change.village} 的数据", details=where)
        if change.fields.get(DELETED, False) is not False:
            raise InvalidRecord("_deleted 只能为 false（恢复记录）", details=where)
        unknown = [k for k in change.fields
                   if k not in rt.fields and k not in ("village_code", DELETED)]
        unknown += [k for k in change.base if k not in rt.fields and k not in (
            "village_code", DELETED)]
        if unknown:
            raise InvalidRecord(f"{rt.label}没有字段 {unknown[0]}",
                                details={**where, unknown[0]: ["未知字段"]})
        if change.fields.get("village_code", change.village) != change.village:
            raise InvalidRecord("所属村与变更不一致", code="village_mismatch", details=where)
        if change.op != DELETE and not change.fields:
            raise BadRequest("更新没有任何字段", details=where)
        return rt

    def _merge_batch(self, device: DeviceRecord, changes: list[tuple[Change, str]]) -> _Batch:
        batch = _Batch()
        by_type: dict[str, set[str]] = {}
        for change, _ in changes:
            if change.record_type in RECORD_TYPES:
                by_type.setdefault(change.record_type, set()).add(change.row_id)
        for type_name, ids in by_type.items():
            batch.rows[type_name] = self.storage.load_rows(type_name, ids)
        references = self._referenced_villages([c for c, _ in changes])
        clock = HybridClock(int(self.storage.get_setting("hlc") or 0), self.max_ahead_ms)
        now = self.clock_ms()
        users = _UserNames(self.storage, device)
        for change, digest in changes:
            try:
                clock.receive(change.hlc, now)
            except ClockSkewError as err:
                raise Conflict(err.args[0], code=err.code, details={"seq": change.seq}) from None
            batch.pushed.append((change.seq, digest))
            try:
                rt = self._check_change(device, change)
                stored = batch.rows[rt.name].get(change.row_id)
                if stored is not None and stored.village_code != change.village:
                    raise OutOfScope(f"该{rt.label}记录属于村 {stored.village_code}，不能以村"
                                     f" {change.village} 的名义修改",
                                     code="row_of_other_village",
                                     details={"seq": change.seq, "village": stored.village_code})
                change = self._validated(rt, change, stored)
                self._check_references(rt, change, batch, references)
            except ApiError as err:
                batch.refusals.append(_refusal(device, change, err))
                continue
            spans_rows = rt.name in _ROW_RULES and change.op != DELETE
            if stored is None and change.op != DELETE and not (
                    spans_rows and self._breaks_row_rule(rt, change.row_id, change.fields,
                                                         batch)) \
                    and _new_row(rt, change, device, batch):
                continue
            state = stored.state if stored else RowState()
            outcome = merge_change(state, change, device.id, rt.policies)
            if stored is not None and outcome.writes and not self._row_stays_valid(
                    rt, stored, outcome):
                outcome = hold_for_review(state, change, device.id, outcome)
            elif spans_rows and outcome.writes and self._breaks_row_rule(
                    rt, change.row_id, {**state.values, **{
                        k: v for k, (v, _) in outcome.writes.items()}}, batch) and not (
                    state.exists and not state.deleted
                    and self._breaks_row_rule(rt, change.row_id, state.values, batch)):
                # A new row is kept with the field that puts it in force held; a change to a
                # stored row is held whole, as for a rule spanning its fields. A row that broke
                # the rule already (older data) is not held for every later edit: the posts
                # report lists it.
                held = _ROW_RULES[rt.name] if not state.exists else None
                outcome = hold_for_review(state, change, device.id, outcome, held)
            if stored is None:
                stored = StoredRow(change.row_id, change.village, state)
                batch.rows[rt.name][change.row_id] = stored
            self._apply_outcome(rt, stored, change, outcome, device, users, batch)
        self.storage.set_setting("hlc", str(clock.last))
        return batch

    def _breaks_row_rule(self, rt: RecordType, row_id: str, values: dict[str, Any],
                         batch: _Batch) -> bool:
        """Whether the row ``row_id`` with ``values`` breaks a rule spanning rows: 一人一岗,
        an active appointment whose term overlaps another active one of the same person, from
        any device (rows stored, or applied earlier in this batch)."""
        person = values.get("person_id")
        if rt.name != "appointment" or values.get("status") != "active" \
                or not isinstance(person, str):
            return False
        others = self.storage.referring_rows(rt.name, "person_id", [person])
        for other_id, row in batch.rows.get(rt.name, {}).items():
            if row.state.values.get("person_id") == person:
                others[other_id] = row
            else:
                others.pop(other_id, None)
        return bool(clashing_posts(values, [
            row.state.values for other_id, row in others.items()
            if other_id != row_id and row.state.exists and not row.state.deleted]))

    def _referenced_villages(self, changes: list[Change]) -> dict[str, dict[str, str]]:
        """The village of every stored row the changes refer to, one look-up per type."""
        wanted: dict[str, set[str]] = {}
        for change in changes:
            rt = RECORD_TYPES.get(change.record_type)
            if rt is None or change.op == DELETE:
                continue
            for field_name, ref_type in _references(rt):
                value = change.fields.get(field_name)
                if isinstance(value, str):
                    wanted.setdefault(ref_type, set()).add(value)
        return {ref_type: self.storage.row_villages(ref_type, ids)
                for ref_type, ids in wanted.items()}

    @staticmethod
    def _check_references(rt: RecordType, change: Change, batch: _Batch,
                          stored: dict[str, dict[str, str]]) -> None:
        """Every row the change refers to exists and belongs to the change's own village (a
        row made earlier in the same batch counts; a refused one does not)."""
        if change.op == DELETE:
            return
        for field_name, ref_type in _references(rt):
            ref_id = change.fields.get(field_name)
            if ref_id is None:
                continue
            made = batch.rows.get(ref_type, {}).get(ref_id)
            village = made.village_code if made is not None else stored.get(
                ref_type, {}).get(ref_id)
            label = rt.label_of(field_name)
            where = {"seq": change.seq, "field": field_name}
            if village is None:
                raise InvalidRecord(f"{label}在服务器上不存在", code="reference_not_found",
                                    details=where)
            if village != change.village:
                raise OutOfScope(f"{label}属于其他村（{village}），不能在村 {change.village} 的记录中引用",
                                 code="reference_out_of_village",
                                 details={**where, "village": village})

    def _validated(self, rt: RecordType, change: Change, stored: StoredRow | None) -> Change:
        """Check a change's values against its schema; return it with normalised values."""
        if change.op == DELETE:
            if stored is None:
                raise NotFound("要删除的记录在服务器上不存在", details={"seq": change.seq})
            return change
        values = {"id": change.row_id, "village_code": change.village,
                  **{k: v for k, v in change.fields.items() if k != DELETED}}
        try:
            if stored is None or not stored.state.exists:
                loaded = rt.load_row(values)
                if rt.natural_key and rt.natural_row_id(loaded) != change.row_id:
                    raise InvalidRecord("记录编号与其自然键不符", code="natural_key_mismatch",
                                        details={"seq": change.seq})
            else:
                # Field by field: the merged row is checked whole afterwards, and a change that
                # would break a cross-field rule is held for review rather than refused (a
                # refusal would block the device's outbox for good).
                loaded = rt.load_fields(values)
        except ValidationError as err:
            raise InvalidRecord(f"第 {change.seq} 号变更的{rt.label}数据不合格",
                                details={"seq": change.seq, "fields": _details(err)}) from None
        fields = {k: (False if k == DELETED else loaded.get(k)) for k in change.fields}
        return Change(change.seq, change.record_type, change.row_id, change.village, change.hlc,
                      change.op, fields, change.base)

    @staticmethod
    def _row_stays_valid(rt: RecordType, stored: StoredRow, outcome: MergeOutcome) -> bool:
        """Whether the row, with the outcome's writes, still passes its whole schema."""
        if stored.state.deleted:
            return True
        try:
            _load_merged(rt, stored, {name: value for name, (value, _) in
                                      outcome.writes.items()})
        except ValidationError:
            return False
        return True

    def _apply_outcome(self, rt: RecordType, stored: StoredRow, change: Change,
                       outcome: MergeOutcome, device: DeviceRecord, users: "_UserNames",
                       batch: _Batch) -> None:
        state = stored.state
        existed = state.exists
        for draft in outcome.conflicts:
            record = _conflict_record(rt, stored, draft, device, users, change.seq)
            if (draft.status == "open" and draft.field in state.disputed
                    and self._has_open_conflict(rt, stored, draft.field, batch)):
                # A later change to a disputed field is one more candidate of the field's
                # open conflict, not a conflict of its own (rule M4).
                record.status = "candidate"
            batch.conflicts.append(record)
        for name, (value, version) in outcome.writes.items():
            state.values[name] = value
            state.versions[name] = version
        if outcome.deleted is not None:
            state.deleted = outcome.deleted
            if outcome.deleted_version:
                state.versions[DELETED] = outcome.deleted_version
        state.disputed |= outcome.disputed_added
        state.exists = True
        if not outcome.changes_state:
            return
        names = set(outcome.writes) | (outcome.reannounce - {DELETED})
        deleted = state.deleted if (outcome.deleted is not None or DELETED in outcome.reannounce
                                    or DELETED in outcome.disputed_added) else None
        versions = {k: state.versions[k] for k in names if k in state.versions}
        if deleted is not None and DELETED in state.versions:
            versions[DELETED] = state.versions[DELETED]
        batch.log.append(LogDraft(rt.name, stored.id, stored.village_code,
                                  {k: state.values.get(k) for k in names}, versions, deleted,
                                  tuple(sorted(state.disputed)), device.id, change.seq,
                                  device.user_name))
        if (outcome.writes or outcome.deleted is not None or outcome.disputed_added
                or not existed):
            batch.dirty.setdefault(rt.name, set()).add(stored.id)

    def _has_open_conflict(self, rt: RecordType, stored: StoredRow, name: str,
                           batch: _Batch) -> bool:
        """Whether the field has an open conflict, stored or opened earlier in the batch."""
        if any(c.status == "open" and c.field == name and c.row_id == stored.id
               and c.record_type == rt.name for c in batch.conflicts):
            return True
        return bool(self.storage.open_conflict_ids(rt.name, stored.id, name))

    def _write_batch(self, device: DeviceRecord, batch: _Batch) -> None:
        for type_name, ids in batch.dirty.items():
            rows = batch.rows[type_name]
            self.storage.save_rows(type_name, [rows[i] for i in ids])
        self.storage.append_log(batch.log)
        if batch.conflicts:
            self.storage.add_conflicts(batch.conflicts)
        if batch.refusals:
            self.storage.add_refusals(batch.refusals)
        self.storage.record_pushed(device.id, batch.pushed)

    # -- pull ------------------------------------------------------------------------------

    def pull(self, device: DeviceRecord, after: int, limit: int) -> PullPage:
        """The next page of the change log for the device's villages."""
        entries = self.storage.pull(device.villages, after, limit + 1)
        more = len(entries) > limit
        entries = entries[:limit]
        cursor = entries[-1].cursor if entries else after
        return PullPage(entries, cursor, more)

    def pull_wire(self, device: DeviceRecord, after: int, limit: int, *,
                  compact: bool = True) -> PullPageWire:
        """:meth:`pull` with every entry already as its wire JSON text (versions as objects
        unless ``compact``)."""
        entries = self.storage.pull_wire(device.villages, after, limit + 1, compact=compact)
        more = len(entries) > limit
        entries = entries[:limit]
        cursor = entries[-1][0] if entries else after
        return PullPageWire([text for _, text in entries], cursor, more)

    # -- conflicts -------------------------------------------------------------------------

    def resolve(self, conflict_id: int, action: str, value: Any, comment: str,
                actor: UserRecord, scope: Callable[[str], bool], *,
                candidate: int | None = None,
                values: dict[str, Any] | None = None) -> ConflictRecord:
        """Settle a conflict: keep ``current``, take ``incoming``, or a ``corrected`` value.

        ``incoming`` takes the conflict's own incoming value, or the ``candidate`` named (the
        id of a later change that joined the conflict). ``values`` sets other fields of the row
        in the same step (for ``corrected`` it may hold the conflict's own field instead of
        ``value``), so a resolution can satisfy a rule spanning fields, such as 未就业原因
        cleared when the status becomes 已就业.

        The outcome is one new change with one fresh server version for every field it sets,
        so every device receives it; the conflict, the values it replaced and the comment stay
        in the audit log (one entry). Taking ``incoming`` takes every field held from the same
        pushed change together; an open conflict on a field set through ``values`` is settled
        with it. The row must stay valid under its schema (else ``422 invalid_record``).
        """
        if action not in ("current", "incoming", "corrected"):
            raise BadRequest("处理方式应为 current、incoming 或 corrected", code="bad_action")
        extra = dict(values or {})
        with self.storage.atomic():
            conflict = self.storage.get_conflict(conflict_id)
            if conflict is None or not scope(conflict.village_code):
                raise NotFound("没有这条冲突记录")
            if conflict.status == "candidate":
                head = self.storage.conflict_head(conflict_id)
                head_id = head.id if head else None
                if head is None or head.status != "open":
                    # Its conflict was settled, and with it every value offered for the field.
                    raise Conflict(f"这条修改所在的冲突 #{head_id} 已经处理过",
                                   code="conflict_not_open", details={"conflict": head_id})
                raise Conflict(f"这条修改已并入冲突 #{head_id}，请在该冲突中处理",
                               code="conflict_joined", details={"conflict": head_id})
            if conflict.status != "open":
                raise Conflict("这条冲突已经处理过", code="conflict_not_open")
            rt = RECORD_TYPES[conflict.record_type]
            stored = self.storage.load_rows(rt.name, [conflict.row_id])[conflict.row_id]
            state = stored.state
            before = {"values": dict(state.values), "deleted": state.deleted}
            picked = self._picked(conflict, action, candidate)
            if conflict.field == DELETED:
                if extra:
                    raise BadRequest("删除冲突不能同时修改其他字段", code="bad_values")
                group = [(conflict, picked)]
                chosen: dict[str, Any] = {}
            else:
                group = self._group(conflict, picked, action)
                chosen = self._chosen_values(rt, stored, group, action, value, extra)
            clock = HybridClock(int(self.storage.get_setting("hlc") or 0))
            version: Version = (clock.tick(self.clock_ms()), SERVER_DEVICE)
            self.storage.set_setting("hlc", str(clock.last))
            if conflict.field == DELETED:
                changed = self._resolve_deletion(stored, picked, action, version)
                chosen = {DELETED: state.deleted}
            else:
                for name, new_value in chosen.items():
                    state.values[name] = new_value
                    state.versions[name] = version
                changed = set(chosen)
            settled = [(head, action, head.field) for head, _ in group]
            settled += [(c, "corrected", c.field) for c in self._related_conflicts(
                rt, stored, set(chosen) - {head.field for head, _ in group})]
            for settled_conflict, _, name in settled:
                state.disputed.discard(name)
            self.storage.save_rows(rt.name, [stored])
            versions = {k: state.versions[k] for k in changed if k in state.versions}
            if conflict.field == DELETED:
                versions[DELETED] = state.versions[DELETED]
            self.storage.append_log([LogDraft(
                rt.name, stored.id, stored.village_code,
                {k: state.values.get(k) for k in changed}, versions,
                state.deleted if conflict.field == DELETED else None,
                tuple(sorted(state.disputed)), SERVER_DEVICE, None, actor.name)])
            self._settle(rt, stored, settled, picked, chosen, comment, actor, before)
            result = self.storage.get_conflict(conflict_id)
            assert result is not None
            return result

    def candidates(self, conflict: ConflictRecord) -> list[ConflictRecord]:
        """Every value offered for a conflict's field, newest first: its own incoming value and
        each later change that joined it (none for a conflict that is itself a candidate)."""
        if conflict.status == "candidate":
            return []
        found = [conflict, *self.storage.conflict_candidates(conflict.id or 0)]
        return sorted(found, key=lambda c: (tuple(c.incoming_version), c.id or 0),
                      reverse=True)

    def rivals(self, conflict: ConflictRecord) -> list[StoredRow]:
        """The rows a held change would clash with under a rule spanning rows: for an
        appointment, the person's other active appointments whose term overlaps the one the
        conflict would put in force (一人一岗), so a supervisor sees both."""
        rt = RECORD_TYPES[conflict.record_type]
        if rt.name not in _ROW_RULES or conflict.field == DELETED:
            return []
        row = self.storage.load_rows(rt.name, [conflict.row_id]).get(conflict.row_id)
        if row is None:
            return []
        values = {**row.state.values, conflict.field: conflict.incoming_value}
        if conflict.status != "open":
            values = dict(row.state.values)
        person = values.get("person_id")
        if not isinstance(person, str):
            return []
        others = {i: r for i, r in self.storage.referring_rows(
            rt.name, "person_id", [person]).items()
            if i != row.id and r.state.exists and not r.state.deleted}
        clashing = clashing_posts(values, [dict(r.state.values, id=i)
                                           for i, r in others.items()])
        return [others[c["id"]] for c in clashing]

    def _picked(self, conflict: ConflictRecord, action: str,
                candidate: int | None) -> ConflictRecord:
        """The record whose incoming value ``incoming`` takes: the conflict or a candidate."""
        if candidate is None or candidate == conflict.id:
            return conflict
        if action != "incoming":
            raise BadRequest("只有“采用新提交值”可以指定候选值", code="bad_candidate",
                             details={"candidate": candidate})
        for joined in self.storage.conflict_candidates(conflict.id or 0):
            if joined.id == candidate:
                return joined
        raise BadRequest(f"第 {candidate} 号不是这条冲突的候选值", code="bad_candidate",
                         details={"candidate": candidate})

    def _group(self, conflict: ConflictRecord, picked: ConflictRecord,
               action: str) -> list[tuple[ConflictRecord, ConflictRecord]]:
        """``(open conflict, record whose incoming value it takes)`` pairs: the conflict, and
        for ``incoming`` the other open conflicts of the row holding a value from the same
        pushed change (as their own incoming value or as a candidate)."""
        group = [(conflict, picked)]
        if action != "incoming" or picked.incoming_seq is None:
            return group
        for other in self.storage.list_conflicts(
                record_type=conflict.record_type, row_id=conflict.row_id, limit=1000,
                statuses=("open", "candidate")):
            if (other.field in (DELETED, conflict.field)
                    or other.incoming_device != picked.incoming_device
                    or other.incoming_seq != picked.incoming_seq):
                continue
            head = other if other.status == "open" else self.storage.conflict_head(other.id or 0)
            if head is None or head.status != "open" or any(
                    head.field == h.field for h, _ in group):
                continue
            group.append((head, other))
        return group

    def _chosen_values(self, rt: RecordType, stored: StoredRow,
                       group: list[tuple[ConflictRecord, ConflictRecord]], action: str,
                       value: Any, extra: dict[str, Any]) -> dict[str, Any]:
        """Every field the resolution sets, with its value, checked against the whole row."""
        field = group[0][0].field
        taken = {head.field for head, _ in group}
        if action == "corrected":
            if field in extra and value is not None and extra[field] != value:
                raise BadRequest("value 与 values 中该字段的值不一致", code="bad_values",
                                 details={"values": {field: ["与 value 不一致"]}})
            if field not in extra and value is None:
                raise InvalidRecord("选择更正时必须填写更正后的值", details={"value": ["必填"]})
            taken = set()
            chosen = {field: extra.pop(field, value)}
        elif action == "incoming":
            chosen = {head.field: source.incoming_value for head, source in group}
        else:
            chosen = {field: stored.state.values.get(field)}
        clash = sorted(taken & set(extra) | ({field} & set(extra)))
        if clash:
            raise BadRequest(f"{rt.label_of(clash[0])}由所选处理方式决定，不能在 values 中另设",
                             code="bad_values",
                             details={"values": {n: ["由处理方式决定"] for n in clash}})
        fixed = set(rt.natural_key) | {n for n, f in rt.fields.items() if isinstance(f, Ref)}
        wrong = {n: (["不能在冲突处理中修改"] if n in fixed or n in ("id", "village_code")
                     else ["未知字段"])
                 for n in extra if n not in rt.fields or n in fixed}
        if wrong:
            raise InvalidRecord(f"{rt.label}的这些字段不能这样设置",
                                details={"fields": wrong})
        chosen.update(extra)
        if action == "current" and not extra:
            # The current row is valid as it stands: keeping it never needs checking.
            return chosen
        try:
            loaded = _load_merged(rt, stored, chosen)
        except ValidationError as err:
            message = ("采用新提交的值会使记录不合格，请一并修改相关字段或填写更正值"
                       if action == "incoming" else "处理结果不合格，请修改标出的字段")
            raise InvalidRecord(message, details={"fields": _details(err)}) from None
        return {name: loaded.get(name) for name in chosen}

    def _related_conflicts(self, rt: RecordType, stored: StoredRow,
                           names: set[str]) -> list[ConflictRecord]:
        """The open conflicts on ``names`` (fields a resolution sets besides its own)."""
        found = []
        for name in sorted(names):
            for conflict_id in self.storage.open_conflict_ids(rt.name, stored.id, name)[:1]:
                conflict = self.storage.get_conflict(conflict_id)
                if conflict is not None:
                    found.append(conflict)
        return found

    def _settle(self, rt: RecordType, stored: StoredRow,
                settled: list[tuple[ConflictRecord, str, str]], picked: ConflictRecord,
                chosen: dict[str, Any], comment: str, actor: UserRecord,
                before: dict[str, Any]) -> None:
        """Mark the settled conflicts resolved, other open conflicts on their fields
        superseded, and write one audit entry."""
        now = utc_now()
        head = settled[0][0]
        grouped = {c.id for c, _, _ in settled}
        superseded: list[int] = []
        for conflict, resolution, name in settled:
            resolved_value = chosen.get(name)
            note = comment if conflict is head else f"随冲突 #{head.id} 一并处理：{comment}"
            self.storage.settle_conflicts([conflict.id or 0], status="resolved",
                                          resolved_at=now, resolved_by=actor.name,
                                          resolution=resolution, resolved_value=resolved_value,
                                          comment=note)
            others = [i for i in self.storage.open_conflict_ids(rt.name, stored.id, name)
                      if i not in grouped]
            if others:
                self.storage.settle_conflicts(
                    others, status="superseded", resolved_at=now, resolved_by=actor.name,
                    resolution=resolution, resolved_value=resolved_value,
                    comment=f"随冲突 #{head.id} 一并处理")
                superseded += others
        fields = sorted(set(chosen) | {name for _, _, name in settled})
        old: Any = {"values": {k: before["values"].get(k) for k in fields},
                    "deleted": before["deleted"]}
        shown: Any = chosen
        if any(f in rt.sensitive for f in fields):
            # The values stay in the (encrypted) conflict records, not in the clear log.
            old = shown = "(加密保存于冲突记录)"
        detail: dict[str, Any] = {
            "conflicts": [c.id for c, _, _ in settled], "action": settled[0][1],
            "before": old, "after": shown, "superseded": superseded, "comment": comment}
        if picked is not head:
            detail["candidate"] = picked.id
        self.storage.append_audit(AuditEntry(
            now, actor.name, "conflict.resolve",
            f"{rt.name}/{stored.id}/{','.join(fields)}", detail))

    def _resolve_deletion(self, stored: StoredRow, picked: ConflictRecord, action: str,
                          version: Version) -> set[str]:
        state = stored.state
        if action == "corrected":
            raise BadRequest("删除冲突只能保留现状或采用新提交的操作", code="bad_action")
        changed: set[str] = set()
        if action == "incoming":
            if picked.incoming_value is True:
                state.deleted = True
            else:
                state.deleted = False
                for name, val in (picked.incoming_value or {}).items():
                    state.values[name] = val
                    state.versions[name] = version
                    changed.add(name)
        state.versions[DELETED] = version
        return changed

    def acknowledge(self, ids: list[int], actor: UserRecord,
                    scope: Callable[[str], bool]) -> int:
        """Mark informational ``lww`` conflicts as read; return how many were."""
        with self.storage.atomic():
            mine = []
            for conflict_id in ids:
                conflict = self.storage.get_conflict(conflict_id)
                if conflict and conflict.status == "auto" and scope(conflict.village_code):
                    mine.append(conflict_id)
            now = utc_now()
            self.storage.settle_conflicts(mine, status="acknowledged", resolved_at=now,
                                          resolved_by=actor.name, resolution=None,
                                          resolved_value=None, comment=None)
            if mine:
                self.storage.append_audit(AuditEntry(now, actor.name, "conflict.acknowledge",
                                                     None, {"conflicts": mine}))
            return len(mine)


class _UserNames:
    """Looks up (and remembers) which user owns a device, for conflict records."""

    def __init__(self, storage: Storage, pusher: DeviceRecord) -> None:
        self.storage = storage
        self.names = {pusher.id: pusher.user_name, SERVER_DEVICE: "县级审核"}

    def __call__(self, device_id: str | None) -> str | None:
        if device_id is None:
            return None
        if device_id not in self.names:
            device = self.storage.get_device(device_id)
            self.names[device_id] = device.user_name if device else None  # type: ignore[assignment]
        return self.names[device_id]


def _conflict_record(rt: RecordType, stored: StoredRow, draft: ConflictDraft,
                     device: DeviceRecord, users: _UserNames, seq: int) -> ConflictRecord:
    current_device = draft.current_version[1] if draft.current_version else None
    return ConflictRecord(
        record_type=rt.name, row_id=stored.id, village_code=stored.village_code,
        field=draft.field, policy=draft.policy, status=draft.status, base_version=draft.base,
        current_value=draft.current_value, current_version=draft.current_version,
        current_device=current_device, current_user_name=users(current_device),
        incoming_value=draft.incoming_value, incoming_version=draft.incoming_version,
        incoming_device=device.id, incoming_user_name=device.user_name, incoming_seq=seq,
        created_at=utc_now())


__all__ = ["SyncService", "PushResult", "PullPage", "ApiError", "SERVER_DEVICE"]
