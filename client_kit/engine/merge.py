"""Field-level merge rules, as pure functions.

The server is the one serialisation point: :func:`merge_change` decides what one pushed change
does to the server's current row. A device applies what it pulls with :func:`apply_pulled`.
The rules (also in ``docs/merge-rules.md``):

1. A field whose base version is the server's current version is a fast-forward: it applies.
   So does a later write of the device that wrote the current version, whatever its base: a
   device never conflicts with itself.
2. A concurrent field (base differs from current) with the same value is no conflict; the field
   takes the larger of the two versions, and every device is told.
3. A concurrent field with a different value follows the field's policy. ``lww``: the larger
   version wins and the loser is kept in an informational conflict. ``review``: the current value
   stays, the field is marked disputed and a conflict is opened for a supervisor.
4. A field already disputed takes no new value until a supervisor resolves it; every further
   change to it gives a conflict draft too (the server adds it to the field's open conflict as
   one more candidate).
4b. A change whose values, merged with concurrent changes, would break a rule spanning fields
   (checked by the caller) is held for review whole (:func:`hold_for_review`).
5. Update against delete (either order) is a ``review`` conflict on the pseudo-field
   ``_deleted``; the row keeps its current state until a supervisor decides. Except: a change
   that carries ``_deleted: false`` with the tombstone's own version as its base (the device
   saw this very deletion and recorded the fact again), or that comes later from the device
   that deleted the row, brings the row back. A delete is concurrent only with fields some
   other device (or a later resolution) changed since the delete's base.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Collection, Mapping

from .changes import DELETE, DELETED, Change, Version

LWW = "lww"
REVIEW = "review"
POLICIES = (LWW, REVIEW)


@dataclass(slots=True)
class RowState:
    """The server's current state of one row (``exists`` is False for a row never seen)."""

    values: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Version] = field(default_factory=dict)
    deleted: bool = False
    disputed: set[str] = field(default_factory=set)
    exists: bool = False


@dataclass(frozen=True)
class ConflictDraft:
    """A conflict the merge found: enough to store it and show it to a supervisor."""

    field: str
    policy: str
    base: Version | None
    current_value: Any
    current_version: Version | None
    incoming_value: Any
    incoming_version: Version
    #: ``open`` for a supervisor to resolve, ``auto`` for an informational lww record.
    status: str


@dataclass(slots=True)
class MergeOutcome:
    """What a change does: field writes, fields to re-announce, conflicts, tombstone."""

    writes: dict[str, tuple[Any, Version]] = field(default_factory=dict)
    #: Fields whose server value stays but must be sent to every device again (the pushing
    #: device holds another value or version that lost or was put under review).
    reannounce: set[str] = field(default_factory=set)
    conflicts: list[ConflictDraft] = field(default_factory=list)
    #: New tombstone state when it changes, else None.
    deleted: bool | None = None
    deleted_version: Version | None = None
    disputed_added: set[str] = field(default_factory=set)

    @property
    def changes_state(self) -> bool:
        return bool(self.writes or self.reannounce or self.deleted is not None
                    or self.disputed_added)


def merge_change(state: RowState, change: Change, device: str,
                 policies: Mapping[str, str]) -> MergeOutcome:
    """Decide what ``change`` (pushed by ``device``) does to the row in ``state``.

    ``policies`` maps field names to ``lww`` or ``review``; an unknown field is ``review``.
    """
    incoming: Version = (change.hlc, device)
    out = MergeOutcome()
    if change.op == DELETE:
        _merge_delete(state, change, incoming, out)
        return out
    fields = {k: v for k, v in change.fields.items() if k != DELETED}
    if state.exists and state.deleted:
        tombstone = state.versions.get(DELETED)
        revives = (change.fields.get(DELETED) is False and DELETED not in state.disputed
                   and (change.base.get(DELETED) == tombstone
                        or _own_later(tombstone, incoming)))
        if not revives:
            # An update to a row someone deleted: a supervisor decides whether it comes back.
            out.conflicts.append(ConflictDraft(
                DELETED, REVIEW, change.base.get(DELETED), True, state.versions.get(DELETED),
                fields, incoming, "open"))
            out.disputed_added.add(DELETED)
            # The pushing device shows its own values until told the server's.
            out.reannounce.update(fields)
            out.reannounce.add(DELETED)
            return out
        # The device saw exactly this deletion and recorded the fact again: it comes back.
        out.deleted = False
        out.deleted_version = incoming
    base = change.base
    if not state.versions and not state.disputed and not any(map(base.get, fields)):
        # Nothing to compare with (a new row, as a rule): every field is written, which is
        # what _merge_field decides for each when current and base are both absent.
        out.writes = {name: (value, incoming) for name, value in fields.items()}
        return out
    for name, value in fields.items():
        _merge_field(state, name, value, base.get(name), incoming,
                     policies.get(name, REVIEW), out)
    return out


def _own_later(current: Version | None, incoming: Version) -> bool:
    """Whether ``incoming`` is a later write of the device that wrote ``current``.

    That device made the current value, so its later change follows it whatever base it names
    (a base can be stale: a pull cut between pages once showed the device an older value). Such
    a change is a fast-forward, never a conflict: a device does not conflict with itself. Only
    the device that wrote the current value qualifies (the incoming device is the pushing
    device, authenticated by the server), so a change never skips review against another
    device's write this way.
    """
    return current is not None and current[1] == incoming[1] and incoming > current


def _merge_field(state: RowState, name: str, value: Any, base: Version | None,
                 incoming: Version, policy: str, out: MergeOutcome) -> None:
    current = state.versions.get(name)
    current_value = state.values.get(name)
    if name in state.disputed:
        out.conflicts.append(ConflictDraft(name, REVIEW, base, current_value, current, value,
                                           incoming, "open"))
        out.reannounce.add(name)
        return
    if current == base or _own_later(current, incoming):
        out.writes[name] = (value, incoming)
        return
    if current_value == value:
        if current is None or incoming > current:
            out.writes[name] = (value, incoming)
        else:
            out.reannounce.add(name)
        return
    if policy == LWW:
        incoming_wins = current is None or incoming > current
        if incoming_wins:
            out.writes[name] = (value, incoming)
        else:
            out.reannounce.add(name)
        out.conflicts.append(ConflictDraft(name, LWW, base, current_value, current, value,
                                           incoming, "auto"))
        return
    out.conflicts.append(ConflictDraft(name, REVIEW, base, current_value, current, value,
                                       incoming, "open"))
    out.disputed_added.add(name)
    out.reannounce.add(name)


def hold_for_review(state: RowState, change: Change, device: str,
                    outcome: MergeOutcome, only: Collection[str] | None = None
                    ) -> MergeOutcome:
    """Turn every value ``outcome`` would write into a ``review`` conflict instead.

    For a change whose values, merged with what others changed meanwhile, would make the row
    break a rule that spans fields (the caller knows the rules): the row keeps its current
    values and a supervisor sees the whole change, field by field. With ``only``, just those
    fields are held and the other writes apply (a new row whose one field would break a rule
    spanning rows: the row is kept, that field waits for review).
    """
    incoming: Version = (change.hlc, device)
    held = MergeOutcome(reannounce=set(outcome.reannounce), deleted=outcome.deleted,
                        deleted_version=outcome.deleted_version,
                        disputed_added=set(outcome.disputed_added))
    holding = {name: write for name, write in outcome.writes.items()
               if only is None or name in only}
    held.writes = {name: write for name, write in outcome.writes.items() if name not in holding}
    held.conflicts = [c for c in outcome.conflicts if c.field not in holding]
    for name, (value, _) in holding.items():
        held.conflicts.append(ConflictDraft(name, REVIEW, change.base.get(name),
                                            state.values.get(name), state.versions.get(name),
                                            value, incoming, "open"))
        held.disputed_added.add(name)
        held.reannounce.add(name)
    return held


def _merge_delete(state: RowState, change: Change, incoming: Version,
                  out: MergeOutcome) -> None:
    if state.exists and state.deleted:
        return  # Deleted twice: the same outcome, nothing to record.
    concurrent = sorted(
        name for name, version in state.versions.items()
        if name != DELETED and change.base.get(name) != version
        and not _own_later(version, incoming)
    )
    if state.exists and (concurrent or state.disputed):
        # Someone changed the row since this device last saw it: keep it, ask a supervisor.
        out.conflicts.append(ConflictDraft(
            DELETED, REVIEW, change.base.get(DELETED), {k: state.values.get(k) for k in concurrent},
            max((state.versions[k] for k in concurrent), default=None), True, incoming, "open"))
        out.disputed_added.add(DELETED)
        return
    out.deleted = True
    out.deleted_version = incoming


def apply_pulled(values: dict[str, Any], versions: dict[str, Version],
                 entry_fields: Mapping[str, Any], entry_versions: Mapping[str, Version],
                 pending: set[str], held: Collection[str] = ()) -> tuple[dict[str, Any],
                                                                        dict[str, Version]]:
    """A device applies one pulled log entry to its copy of a row.

    A pulled value replaces the local one only when its version is not older than the version
    the device holds for the field: an older one is history the device has already moved past
    (its own later write, acknowledged, that the pull has not reached yet: a pull cut between
    pages must not roll the device back). Fields in ``held`` take the server's value whatever
    its version: the server keeps that value under review, having refused a later write of
    this device (see :func:`pulled_held`). Fields with unpushed local changes (``pending``)
    keep the local value and version, so the server still sees the concurrency when the device
    pushes. Returns the new ``(values, versions)``; the inputs are not modified.
    """
    new_values = dict(values)
    new_versions = dict(versions)
    for name, value in entry_fields.items():
        if name in pending:
            continue
        incoming = entry_versions.get(name)
        if incoming is not None:
            local = versions.get(name)
            if local is not None and incoming < local and name not in held:
                continue
            new_versions[name] = incoming
        new_values[name] = value
    return new_values, new_versions


def pulled_held(entry_fields: Mapping[str, Any], disputed: Collection[str]) -> Collection[str]:
    """The fields of a pulled entry that apply whatever their version (``held`` above).

    The server re-announces its current value, with its current, possibly older version, when
    it keeps that value against a device's write: a field put under review (disputed), or every
    field of an update to a deleted row, whose tombstone is then disputed. Those values are the
    server's state until a supervisor decides, so a device takes them even over its own newer
    write.
    """
    if DELETED in disputed:
        return entry_fields.keys()
    return disputed


def pulled_tombstone_applies(deleted_version: Version | None, local: Version | None,
                             disputed: Collection[str]) -> bool:
    """Whether a pulled entry's tombstone state (``deleted`` not null) replaces the device's:
    as for a field, unless it is older than the device's, or the tombstone is disputed (the
    server keeps the row as it is until a supervisor decides)."""
    return (deleted_version is None or local is None or not deleted_version < local
            or DELETED in disputed)
