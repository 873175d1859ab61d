"""The storage interface and the records it speaks in."""

from __future__ import annotations

import abc
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from client_kit.engine.changes import PulledEntry, Version
from client_kit.engine.merge import RowState
from client_kit.engine.protocol import entry_json


@dataclass(slots=True)
class StoredRow:
    """A row as the server keeps it: values plus its merge state."""

    id: str
    village_code: str
    state: RowState


@dataclass(slots=True)
class LogDraft:
    """A change-log entry to append (the cursor is given by the storage)."""

    record_type: str
    row_id: str
    village_code: str
    fields: dict[str, Any]
    versions: dict[str, Version]
    deleted: bool | None
    disputed: tuple[str, ...]
    device_id: str | None
    seq: int | None
    user_name: str | None


@dataclass
class ConflictRecord:
    """A conflict, open or settled. Values are JSON-ready; versions are ``(hlc, device)``."""

    record_type: str
    row_id: str
    village_code: str
    field: str
    policy: str
    status: str
    base_version: Version | None
    current_value: Any
    current_version: Version | None
    current_device: str | None
    current_user_name: str | None
    incoming_value: Any
    incoming_version: Version
    incoming_device: str
    incoming_user_name: str | None
    incoming_seq: int | None
    created_at: str
    id: int | None = None
    resolved_at: str | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    resolved_value: Any = None
    comment: str | None = None


@dataclass
class RefusalRecord:
    """A pushed change the server refused on its own (its sequence consumed, nothing applied).

    ``status`` is ``open`` until a supervisor marks it ``resolved`` (``resolved_by``,
    ``resolved_at``, ``comment``)."""

    device_id: str
    user_name: str | None
    device_villages: list[str]
    seq: int
    record_type: str
    row_id: str
    village_code: str
    code: str
    message: str
    details: Any
    created_at: str
    status: str = "open"
    id: int | None = None
    resolved_at: str | None = None
    resolved_by: str | None = None
    comment: str | None = None


@dataclass
class DeviceRecord:
    id: str
    user_name: str
    villages: list[str]
    created_at: str
    token_hash: str | None = None
    revoked_at: str | None = None
    last_seen_at: str | None = None
    last_seq: int = 0
    acknowledged: int = 0
    app_version: str | None = None
    schema_version: int | None = None
    clock_skew_ms: int | None = None
    sign_key: str | None = None
    box_key: str | None = None
    sign_key_id: str | None = None
    wipe_requested_at: str | None = None
    wiped_at: str | None = None
    pending: int | None = None
    pull_cursor: int | None = None


@dataclass
class UserRecord:
    name: str
    role: str
    scope: list[str]
    created_at: str
    display_name: str | None = None
    password_hash: str | None = None
    disabled_at: str | None = None


@dataclass
class LoginFailures:
    """Wrong passwords given in a row for one user name, at the console or the API (see
    :mod:`server.lockout`). Times are ISO 8601 in UTC."""

    name: str
    count: int
    last_failed_at: str
    locked_until: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    at: str
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


class Storage(abc.ABC):
    """What the sync service needs from a database. Every method is documented as a contract.

    Writes happen inside :meth:`atomic`; a block that raises leaves no trace. Reads outside a
    block see committed data only.
    """

    #: The receipt time :meth:`append_log` stamps (``YYYY-MM-DDTHH:MM:SS.fffZ``, UTC); ``None``
    #: means the database's clock. Only a builder of sample data (the demo county, dated inside
    #: the policy period) sets it.
    log_clock: Callable[[], str] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @abc.abstractmethod
    def upgrade(self) -> list[int]:
        """Apply pending schema migrations; return the versions applied."""

    def check_schema(self) -> list[int]:
        """The pending migration versions (empty when the schema is current). Raises
        :class:`~client_kit.errors.MigrationError` for a database newer than this code or with
        an applied migration altered, and the driver's error when the database is unreachable.
        Reads only."""
        raise NotImplementedError

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""

    def reset(self) -> bool:
        """Drop any unfinished transaction so another request can use this storage.

        Returns whether it can be reused; a backend that cannot tell returns ``False`` and is
        closed instead.
        """
        return False

    @abc.abstractmethod
    def atomic(self) -> AbstractContextManager[None]:
        """A write transaction, serialised with every other writer; nested blocks join it."""

    # -- rows and the change log -----------------------------------------------------------

    @abc.abstractmethod
    def load_rows(self, record_type: str, ids: Iterable[str]) -> dict[str, StoredRow]:
        """The stored rows among ``ids`` (missing ids are absent from the result)."""

    @abc.abstractmethod
    def save_rows(self, record_type: str, rows: Iterable[StoredRow]) -> None:
        """Insert or replace rows (values, versions, tombstone, disputed fields)."""

    @abc.abstractmethod
    def append_log(self, drafts: list[LogDraft]) -> list[int]:
        """Append entries to the change log; return their cursors, strictly increasing."""

    @abc.abstractmethod
    def pull(self, villages: list[str], after: int, limit: int) -> list[PulledEntry]:
        """Up to ``limit`` log entries with cursor > ``after`` for ``villages``, in order.

        An entry committed later never gets a cursor lower than one already served.
        """

    def pull_wire(self, villages: list[str], after: int, limit: int, *,
                  compact: bool = True) -> list[tuple[int, str]]:
        """What :meth:`pull` returns, each entry as ``(cursor, JSON text of its wire form)``.

        The pull endpoint only forwards entries, so a backend that keeps them as JSON can hand
        the text over without decoding and re-encoding it. ``compact=False`` gives versions
        as objects, for clients older than compact versions.
        """
        return [(e.cursor, entry_json(e, compact)) for e in self.pull(villages, after, limit)]

    @abc.abstractmethod
    def head(self, villages: list[str]) -> int:
        """The cursor of the newest log entry for ``villages`` (0 when none)."""

    @abc.abstractmethod
    def history(self, record_type: str, row_id: str) -> list[dict[str, Any]]:
        """Every change-log entry of one row, oldest first (the row's full value history)."""

    # -- pushes ----------------------------------------------------------------------------

    @abc.abstractmethod
    def pushed_digests(self, device_id: str, seqs: Iterable[int]) -> dict[int, str]:
        """Digests of the changes among ``seqs`` already applied for ``device_id``."""

    @abc.abstractmethod
    def record_pushed(self, device_id: str, items: Iterable[tuple[int, str]]) -> None:
        """Remember ``(seq, digest)`` pairs as applied for ``device_id``."""

    # -- refused changes -------------------------------------------------------------------

    def row_villages(self, record_type: str, ids: Iterable[str]) -> dict[str, str]:
        """The village of each stored row among ``ids`` (deleted rows included; missing ids
        are absent). A push checks every reference it carries with one call per type."""
        return {row_id: row.village_code
                for row_id, row in self.load_rows(record_type, ids).items()}

    @abc.abstractmethod
    def referring_rows(self, record_type: str, field: str,
                       values: Iterable[str]) -> dict[str, StoredRow]:
        """The stored rows of ``record_type`` whose reference ``field`` (a column that names
        another row) holds one of ``values``, deleted rows included, by id. A push checks a
        rule spanning rows (一人一岗: a person's other appointments) with one call."""

    @abc.abstractmethod
    def add_refusals(self, refusals: list[RefusalRecord]) -> list[int]:
        """Store refused changes (one per device and sequence); return their ids."""

    @abc.abstractmethod
    def refusals_for(self, device_id: str, seqs: Iterable[int]) -> dict[int, RefusalRecord]:
        """The refusals recorded for ``device_id`` among ``seqs``, by sequence."""

    @abc.abstractmethod
    def get_refusal(self, refusal_id: int) -> RefusalRecord | None:
        """One refused change by id."""

    @abc.abstractmethod
    def list_refusals(self, *, scope: list[str] | None = None,
                      statuses: tuple[str, ...] = ("open",), device_id: str | None = None,
                      limit: int = 100, offset: int = 0) -> list[RefusalRecord]:
        """Refused changes, newest first. ``scope`` holds village codes or county/township
        prefixes (``None``: everything, ``[]``: nothing); a refusal is in it when its change's
        village or one of its device's villages starts with one of them."""

    @abc.abstractmethod
    def count_refusals(self, *, scope: list[str] | None = None,
                       statuses: tuple[str, ...] = ("open",)) -> int:
        """How many refused changes :meth:`list_refusals` would give without paging."""

    @abc.abstractmethod
    def settle_refusals(self, ids: Iterable[int], *, resolved_at: str, resolved_by: str,
                        comment: str | None) -> None:
        """Mark refused changes ``resolved``."""

    # -- conflicts -------------------------------------------------------------------------

    @abc.abstractmethod
    def add_conflicts(self, conflicts: list[ConflictRecord]) -> list[int]:
        """Store new conflicts; return their ids."""

    @abc.abstractmethod
    def get_conflict(self, conflict_id: int) -> ConflictRecord | None:
        """One conflict by id."""

    @abc.abstractmethod
    def list_conflicts(self, *, villages: list[str] | None = None,
                       statuses: tuple[str, ...] = ("open",), record_type: str | None = None,
                       row_id: str | None = None, older_than: str | None = None,
                       limit: int = 100, offset: int = 0) -> list[ConflictRecord]:
        """Conflicts, oldest first, filtered (``villages=None`` means every village)."""

    @abc.abstractmethod
    def count_conflicts(self, *, villages: list[str] | None = None,
                        statuses: tuple[str, ...] = ("open",)) -> dict[str, int]:
        """Counts of conflicts by record type."""

    @abc.abstractmethod
    def settle_conflicts(self, ids: Iterable[int], *, status: str, resolved_at: str,
                         resolved_by: str, resolution: str | None, resolved_value: Any,
                         comment: str | None) -> None:
        """Mark conflicts settled (resolved, acknowledged or superseded)."""

    @abc.abstractmethod
    def open_conflict_ids(self, record_type: str, row_id: str, field: str) -> list[int]:
        """Ids of the open conflicts on one field of one row."""

    @abc.abstractmethod
    def conflict_candidates(self, conflict_id: int) -> list[ConflictRecord]:
        """The later values that joined a conflict while it was open (status ``candidate``),
        oldest first; empty for an unknown id or a conflict that is itself a candidate.

        A candidate belongs to the nearest conflict before it (by id) on the same field of
        the same row that is not a candidate: a field takes candidates only while disputed,
        and its next conflict opens only after that one was settled.
        """

    @abc.abstractmethod
    def conflict_head(self, conflict_id: int) -> ConflictRecord | None:
        """The conflict a ``candidate`` joined (``None`` for an unknown id or a conflict that
        is not a candidate)."""

    # -- devices, users, audit, settings ---------------------------------------------------

    @abc.abstractmethod
    def add_device(self, device: DeviceRecord) -> None:
        """Register a device (its id must be new)."""

    @abc.abstractmethod
    def get_device(self, device_id: str) -> DeviceRecord | None:
        """One device by id."""

    @abc.abstractmethod
    def list_devices(self) -> list[DeviceRecord]:
        """Every device, by id."""

    @abc.abstractmethod
    def update_device(self, device_id: str, **changes: Any) -> None:
        """Change some columns of a device."""

    @abc.abstractmethod
    def add_user(self, user: UserRecord) -> None:
        """Create a user (its name must be new)."""

    @abc.abstractmethod
    def get_user(self, name: str) -> UserRecord | None:
        """One user by name."""

    @abc.abstractmethod
    def list_users(self) -> list[UserRecord]:
        """Every user, by name."""

    @abc.abstractmethod
    def update_user(self, name: str, **changes: Any) -> None:
        """Change some columns of a user."""

    @abc.abstractmethod
    def append_audit(self, entry: AuditEntry) -> int:
        """Append one entry to the hash-chained audit log; return its id."""

    @abc.abstractmethod
    def audit_chain(self) -> tuple[list[tuple[Any, ...]], str | None]:
        """Every audit row ``(id, at, actor, action, target, detail_json, prev_hash, hash)`` in
        order, and the recorded head hash (see :mod:`server.audit`)."""

    @abc.abstractmethod
    def audit_entries(self, limit: int = 100) -> list[AuditEntry]:
        """The newest audit entries, newest first."""

    @abc.abstractmethod
    def get_setting(self, key: str) -> str | None:
        """A server setting (such as the server clock)."""

    @abc.abstractmethod
    def set_setting(self, key: str, value: str) -> None:
        """Store a server setting."""

    # -- security --------------------------------------------------------------------------

    @abc.abstractmethod
    def server_keys(self) -> list[dict[str, Any]]:
        """Every server key row (any status), oldest first."""

    @abc.abstractmethod
    def add_server_key(self, row: dict[str, Any]) -> None:
        """Store a new server key row."""

    @abc.abstractmethod
    def update_server_key(self, key_id: str, **changes: Any) -> None:
        """Change a server key's status or retirement time."""

    @abc.abstractmethod
    def add_enrolment_code(self, row: dict[str, Any]) -> None:
        """Store a new enrolment code (by hash)."""

    @abc.abstractmethod
    def get_enrolment_code(self, code_hash: str) -> dict[str, Any] | None:
        """One enrolment code by hash."""

    @abc.abstractmethod
    def list_enrolment_codes(self) -> list[dict[str, Any]]:
        """Every enrolment code, newest first."""

    @abc.abstractmethod
    def update_enrolment_code(self, code_hash: str, **changes: Any) -> None:
        """Mark a code used or withdrawn."""

    @abc.abstractmethod
    def note_envelope(self, device_id: str, nonce: str, purpose: str, at: str) -> bool:
        """Remember an envelope; ``False`` if this device sent it before (a replay)."""

    def backup_to(self, dest: str, taken_at: str | None = None) -> None:
        """Write a consistent copy of the whole database to ``dest`` while the server runs
        (SQLite: the online backup API), noting ``taken_at`` in the copy. A PostgreSQL backend implements it with ``pg_dump``;
        ``cunsync-server backup`` and ``restore`` only go through this interface."""
        raise NotImplementedError(f"{type(self).__name__} cannot make backups yet")

    @abc.abstractmethod
    def prune_envelopes(self, seen_before: str) -> int:
        """Forget envelopes noted before ``seen_before`` (an ISO time); return how many. Those
        are refused by their own timestamp already (see :class:`server.gate.Gate`)."""

    @abc.abstractmethod
    def village_codes(self) -> list[str]:
        """Codes of every village the server knows, sorted: live village rows, and villages
        with conflicts even when their village row never arrived (so a supervisor whose scope
        is a county or township prefix still sees those conflicts)."""

    @abc.abstractmethod
    def count_rows(self, record_type: str, villages: list[str] | None = None) -> int:
        """Live (not deleted) rows of a type, optionally in some villages."""

    # -- API tokens ------------------------------------------------------------------------

    @abc.abstractmethod
    def add_api_token(self, row: dict[str, Any]) -> None:
        """Store a new API token (its secret only as a hash; see :mod:`server.tokens`). Keys:
        ``id``, ``user_name``, ``label``, ``secret_hash``, ``created_at``, ``created_by``,
        ``expires_at``, ``revoked_at``, ``last_used_at``."""

    @abc.abstractmethod
    def get_api_token(self, token_id: str) -> dict[str, Any] | None:
        """One API token by id (``None`` when there is none)."""

    @abc.abstractmethod
    def list_api_tokens(self) -> list[dict[str, Any]]:
        """Every API token, revoked ones included, oldest first."""

    @abc.abstractmethod
    def update_api_token(self, token_id: str, **changes: Any) -> None:
        """Change an API token's ``revoked_at`` or ``last_used_at``."""

    # -- console logins --------------------------------------------------------------------

    @abc.abstractmethod
    def get_login_failures(self, name: str) -> LoginFailures | None:
        """The wrong-password streak recorded for ``name`` (``None`` when there is none)."""

    @abc.abstractmethod
    def put_login_failures(self, entry: LoginFailures) -> None:
        """Record ``entry``, replacing any streak already recorded for ``entry.name``."""

    @abc.abstractmethod
    def clear_login_failures(self, name: str) -> None:
        """Forget the streak of ``name`` (nothing happens when there is none)."""

    @abc.abstractmethod
    def prune_login_failures(self, before: str) -> int:
        """Forget every streak whose last failure is before ``before`` and that is not locked
        beyond it; return how many were forgotten."""
