"""The embedded backend: one SQLite file in WAL mode, one writer at a time."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from dataclasses import asdict, fields as dc_fields
from typing import Any, Iterable, Iterator

import migrations
from client_kit.domain import record_type
from client_kit.engine.changes import (DELETED, PulledEntry, compact_json, compact_versions_json,
                                       expand_versions, json_string, row_versions_from_json,
                                       row_versions_json, version_from_json, versions_json)
from client_kit.engine.jsontext import load_json
from client_kit.engine.merge import RowState
from client_kit.field_cipher import FieldCipher
from client_kit.migrator import Migrator, load_migrations
from client_kit.sqlite_tx import Transactions
from client_kit.store import RowCodec, connect

from ..audit import GENESIS, entry_hash
from ..errors import StorageBusy
from .base import (AuditEntry, ConflictRecord, DeviceRecord, LogDraft, LoginFailures,
                   RefusalRecord, Storage, StoredRow, UserRecord)

_CHUNK = 500

#: Page cache per connection, in KiB (SQLite's default is 2 MiB).
CACHE_KIB = 32 * 1024
#: Bytes of the database file read through a memory map.
MMAP_BYTES = 256 * 1024 * 1024
#: WAL pages that trigger a checkpoint on the server.
SERVER_WAL_CHECKPOINT_PAGES = 1000


_encode = compact_json


def _dumps(value: Any) -> str:
    return _encode(value)


def _dump_list(items: Any) -> str:
    """A sorted JSON list; the common empty one without encoding."""
    return _encode(sorted(items)) if items else "[]"


def _version_out(version: Any) -> str | None:
    return None if version is None else _dumps(list(version))


def _version_in(raw: str | None) -> Any:
    return None if raw is None else version_from_json(json.loads(raw))


def _is_busy(err: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED (any extended code), or their messages."""
    code = getattr(err, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return True
    text = str(err)
    return "database is locked" in text or "database is busy" in text


def _fits(number: int) -> bool:
    """Whether ``number`` is a SQLite integer (an id beyond it names no row)."""
    return -(2 ** 63) <= number < 2 ** 63


def _marks(items: list[Any]) -> str:
    return ", ".join("?" for _ in items)


#: Each open conflict with an older open conflict on the same field of the same row becomes a
#: candidate of that older one (see :meth:`SQLiteStorage.upgrade`).
JOIN_FOLLOW_UPS = (
    "UPDATE conflicts SET status = 'candidate' WHERE status = 'open' AND EXISTS ("
    "SELECT 1 FROM conflicts o WHERE o.record_type = conflicts.record_type"
    " AND o.row_id = conflicts.row_id AND o.field = conflicts.field AND o.status = 'open'"
    " AND o.id < conflicts.id)")


class SQLiteStorage(Storage):
    """:class:`Storage` on one SQLite file."""

    def __init__(self, path: str, cipher: FieldCipher | None = None, *,
                 busy_timeout_ms: int | None = None) -> None:
        self.path = path
        self.cipher = cipher
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        self.conn = connect(path)
        if busy_timeout_ms is not None:
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        # Connections live in a pool across requests: a page cache that holds the hot parts of
        # the indexes keeps inserts under random row ids (natural keys) from slowing down as
        # the county's tables grow, and reads map the file instead of copying it.
        self.conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self.conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        # SQLite's default checkpoint size: small checkpoints spread over many requests keep
        # each push's latency even (the devices' larger setting suits one long pull).
        self.conn.execute(f"PRAGMA wal_autocheckpoint = {SERVER_WAL_CHECKPOINT_PAGES}")
        self._transactions = Transactions(self.conn)
        self._codecs: dict[str, RowCodec] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def upgrade(self) -> list[int]:
        done = Migrator(self.conn, load_migrations(migrations.directory("server"))).upgrade()
        with self.atomic():
            # Databases from before candidates hold one open conflict per later change to a
            # disputed field: each becomes a candidate of the field's oldest open conflict.
            # Idempotent, so it runs on every upgrade.
            self.conn.execute(JOIN_FOLLOW_UPS)
        return done

    def check_schema(self) -> list[int]:
        """Pending migration versions (raises if the database is newer or tampered)."""
        pending = Migrator(self.conn, load_migrations(migrations.directory("server"))).check()
        return [m.version for m in pending]

    def close(self) -> None:
        self.conn.close()

    def reset(self) -> bool:
        if self._transactions.depth:
            return False
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        return True

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """A write transaction; a lock held by another writer past the busy timeout is
        :class:`~server.errors.StorageBusy` (everything rolled back)."""
        try:
            with self._transactions.block():
                yield
        except sqlite3.OperationalError as err:
            if _is_busy(err):
                raise StorageBusy(f"database busy: {err}") from err
            raise

    # -- rows and the change log -----------------------------------------------------------

    def _codec(self, type_name: str) -> RowCodec:
        if type_name not in self._codecs:
            self._codecs[type_name] = RowCodec(record_type(type_name), self.cipher)
        return self._codecs[type_name]

    def load_rows(self, record_type_name: str, ids: Iterable[str]) -> dict[str, StoredRow]:
        codec = self._codec(record_type_name)
        cols = ", ".join((*codec.columns, "_versions", "_deleted", "_disputed"))
        found: dict[str, StoredRow] = {}
        wanted = sorted(set(ids))
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            for raw in self.conn.execute(
                    f"SELECT {cols} FROM {codec.rt.table} WHERE id IN ({_marks(chunk)})", chunk):
                n = len(codec.columns)
                values = codec.decode(raw[:n])
                del values["id"]
                versions = row_versions_from_json(raw[n])
                state = RowState(values, {k: v for k, v in versions.items() if v},
                                 bool(raw[n + 1]), set(load_json(raw[n + 2])), True)
                found[raw[0]] = StoredRow(raw[0], values["village_code"], state)
        return found

    def save_rows(self, record_type_name: str, rows: Iterable[StoredRow]) -> None:
        codec = self._codec(record_type_name)
        cols = (*codec.columns, "_versions", "_deleted", "_disputed")
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols[1:])
        self.conn.executemany(
            f"INSERT INTO {codec.rt.table} ({', '.join(cols)}) VALUES ({_marks(list(cols))})"
            f" ON CONFLICT(id) DO UPDATE SET {updates}",
            [
                (*codec.encode({**row.state.values, "id": row.id,
                                "village_code": row.village_code}),
                 row_versions_json(row.state.versions),
                 int(row.state.deleted), _dump_list(row.state.disputed))
                for row in rows
            ],
        )

    def append_log(self, drafts: list[LogDraft]) -> list[int]:
        if not drafts:
            return []
        at = self.log_clock() if self.log_clock else _now_sql(self.conn)
        first = self.conn.execute("SELECT coalesce(max(cursor), 0) FROM change_log").fetchone()[0]
        self.conn.executemany(
            "INSERT INTO change_log (cursor, record_type, row_id, village_code, fields, versions,"
            " deleted, disputed, device_id, seq, user_name, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (first + i + 1, d.record_type, d.row_id, d.village_code,
                 _dumps(self._seal_fields(d.record_type, d.row_id, d.fields)),
                 compact_versions_json(d.fields, d.deleted, d.versions),
                 None if d.deleted is None else int(d.deleted), _dump_list(d.disputed),
                 d.device_id, d.seq, d.user_name, at)
                for i, d in enumerate(drafts)
            ],
        )
        return list(range(first + 1, first + len(drafts) + 1))

    def pull(self, villages: list[str], after: int, limit: int) -> list[PulledEntry]:
        if not villages:
            return []
        rows = self._log_after(villages, after, limit).fetchall()
        # One parse for the whole page: the stored columns are JSON texts already.
        parsed = json.loads("[" + ",".join(f"[{r[4]},{r[5]},{r[7]}]" for r in rows) + "]")
        entries = []
        for (cursor, rtype, row_id, village, _, _, deleted, _), (fields, versions, disputed) in (
                zip(rows, parsed)):
            deleted = None if deleted is None else bool(deleted)
            entries.append(PulledEntry(cursor, rtype, row_id, village,
                                       self._open_fields(rtype, row_id, fields),
                                       expand_versions(versions, fields, deleted), deleted,
                                       tuple(disputed)))
        return entries

    def pull_wire(self, villages: list[str], after: int, limit: int, *,
                  compact: bool = True) -> list[tuple[int, str]]:
        if not villages:
            return []
        out = []
        for cursor, rtype, row_id, village, fields, versions, deleted, disputed in (
                self._log_after(villages, after, limit)):
            # The stored texts are already the wire's JSON, but for sealed sensitive values.
            if self._sensitive(rtype):
                fields = _dumps(self._open_fields(rtype, row_id, load_json(fields)))
            flag = "null" if deleted is None else ("true" if deleted else "false")
            if not compact and versions.startswith("["):
                expanded = expand_versions(json.loads(versions), json.loads(fields),
                                           None if deleted is None else bool(deleted))
                versions = versions_json(expanded)
            out.append((cursor, f"[{int(cursor)},{json_string(rtype)},{json_string(row_id)},"
                                f"{json_string(village)},{fields},{versions},{flag},{disputed}]"))
        return out

    def _log_after(self, villages: list[str], after: int, limit: int) -> sqlite3.Cursor:
        """Up to ``limit`` change-log rows of ``villages`` after ``after``, as stored."""
        return self.conn.execute(
            "SELECT cursor, record_type, row_id, village_code, fields, versions, deleted, disputed"
            f" FROM change_log WHERE cursor > ? AND village_code IN ({_marks(villages)})"
            " ORDER BY cursor LIMIT ?", (after, *villages, limit))

    def head(self, villages: list[str]) -> int:
        if not villages:
            return 0
        # One indexed look-up per village beats scanning the log: "nothing new" stays fast.
        best = 0
        for village in villages:
            row = self.conn.execute(
                "SELECT max(cursor) FROM change_log WHERE village_code = ?", (village,)).fetchone()
            best = max(best, row[0] or 0)
        return best

    def history(self, record_type_name: str, row_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT cursor, fields, versions, deleted, disputed, device_id, seq, user_name, at"
            " FROM change_log WHERE record_type = ? AND row_id = ? ORDER BY cursor",
            (record_type_name, row_id))
        return [
            {"cursor": c, "fields": self._open_fields(record_type_name, row_id, json.loads(f)),
             "versions": {k: list(ver) for k, ver in expand_versions(
                 json.loads(v), json.loads(f), None if d is None else bool(d)).items()},
             "deleted": None if d is None else bool(d), "disputed": json.loads(dis),
             "device_id": dev, "seq": seq, "user": user, "at": at}
            for c, f, v, d, dis, dev, seq, user, at in rows
        ]

    def _sensitive(self, type_name: str) -> tuple[str, ...]:
        return record_type(type_name).sensitive if self.cipher else ()

    def _seal_fields(self, type_name: str, row_id: str,
                     fields: dict[str, Any]) -> dict[str, Any]:
        sealed = self._sensitive(type_name)
        if not sealed or not any(k in fields for k in sealed):
            return fields
        assert self.cipher is not None
        return {k: (self.cipher.seal(v, f"log.{type_name}.{k}.{row_id}") if k in sealed else v)
                for k, v in fields.items()}

    def _open_fields(self, type_name: str, row_id: str,
                     fields: dict[str, Any]) -> dict[str, Any]:
        sealed = self._sensitive(type_name)
        if not sealed or not any(k in fields for k in sealed):
            return fields
        assert self.cipher is not None
        return {k: (self.cipher.open(v, f"log.{type_name}.{k}.{row_id}") if k in sealed else v)
                for k, v in fields.items()}

    # -- pushes ----------------------------------------------------------------------------

    def pushed_digests(self, device_id: str, seqs: Iterable[int]) -> dict[int, str]:
        wanted = sorted(set(seqs))
        if not wanted:
            return {}
        found: dict[int, str] = {}
        # Sequences arrive in contiguous batches: one range scan instead of an IN list.
        for seq, digest in self.conn.execute(
                "SELECT seq, digest FROM pushed WHERE device_id = ? AND seq BETWEEN ? AND ?",
                (device_id, wanted[0], wanted[-1])):
            found[seq] = digest
        wanted_set = set(wanted)
        return {s: d for s, d in found.items() if s in wanted_set}

    def record_pushed(self, device_id: str, items: Iterable[tuple[int, str]]) -> None:
        self.conn.executemany(
            "INSERT INTO pushed (device_id, seq, digest) VALUES (?, ?, ?)",
            [(device_id, seq, digest) for seq, digest in items])

    # -- refused changes -------------------------------------------------------------------

    def row_villages(self, record_type_name: str, ids: Iterable[str]) -> dict[str, str]:
        table = record_type(record_type_name).table
        wanted = sorted(set(ids))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            found.update(self.conn.execute(
                f"SELECT id, village_code FROM {table} WHERE id IN ({_marks(chunk)})", chunk))
        return found

    def referring_rows(self, record_type_name: str, field: str,
                       values: Iterable[str]) -> dict[str, StoredRow]:
        rt = record_type(record_type_name)
        if field not in rt.fields or not field.isidentifier():
            raise ValueError(f"{record_type_name} has no field {field}")
        wanted = sorted(set(values))
        ids: list[str] = []
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            ids += [row_id for (row_id,) in self.conn.execute(
                f"SELECT id FROM {rt.table} WHERE {field} IN ({_marks(chunk)})", chunk)]
        return self.load_rows(record_type_name, ids)

    _REFUSAL_COLS = tuple(f.name for f in dc_fields(RefusalRecord))

    def add_refusals(self, refusals: list[RefusalRecord]) -> list[int]:
        ids = []
        cols = [c for c in self._REFUSAL_COLS if c != "id"]
        for refusal in refusals:
            data = asdict(refusal)
            data["device_villages"] = _dumps(refusal.device_villages)
            data["details"] = None if refusal.details is None else _dumps(refusal.details)
            cur = self.conn.execute(
                f"INSERT INTO refused_changes ({', '.join(cols)}) VALUES ({_marks(cols)})",
                [data[c] for c in cols])
            ids.append(int(cur.lastrowid or 0))
        return ids

    def _refusals(self, where: str, params: Iterable[Any],
                  tail: str = "") -> list[RefusalRecord]:
        out = []
        for raw in self.conn.execute(
                f"SELECT {', '.join(self._REFUSAL_COLS)} FROM refused_changes WHERE {where}"
                f"{tail}", tuple(params)):
            data = dict(zip(self._REFUSAL_COLS, raw))
            data["device_villages"] = json.loads(data["device_villages"])
            data["details"] = None if data["details"] is None else json.loads(data["details"])
            out.append(RefusalRecord(**data))
        return out

    def refusals_for(self, device_id: str, seqs: Iterable[int]) -> dict[int, RefusalRecord]:
        wanted = sorted(set(seqs))
        if not wanted:
            return {}
        found = self._refusals("device_id = ? AND seq BETWEEN ? AND ?",
                               (device_id, wanted[0], wanted[-1]))
        keep = set(wanted)
        return {r.seq: r for r in found if r.seq in keep}

    def get_refusal(self, refusal_id: int) -> RefusalRecord | None:
        if not _fits(refusal_id):
            return None
        found = self._refusals("id = ?", (refusal_id,))
        return found[0] if found else None

    @staticmethod
    def _refusal_filter(scope: list[str] | None, statuses: tuple[str, ...],
                        device_id: str | None = None) -> tuple[str, list[Any]]:
        where = [f"status IN ({_marks(list(statuses))})"]
        params: list[Any] = list(statuses)
        if scope is not None:
            if scope:
                # Village codes or their county/township prefixes, matched on the change's
                # village or any of its device's (substr, not LIKE: no wildcard to escape).
                match = " OR ".join("substr({col}, 1, length(?)) = ?" for _ in scope)
                where.append(f"({match.format(col='village_code')} OR EXISTS (SELECT 1 FROM"
                             f" json_each(device_villages) WHERE {match.format(col='value')}))")
                pairs = [p for prefix in scope for p in (prefix, prefix)]
                params.extend([*pairs, *pairs])
            else:
                where.append("0")
        if device_id is not None:
            where.append("device_id = ?")
            params.append(device_id)
        return " AND ".join(where), params

    def list_refusals(self, *, scope: list[str] | None = None,
                      statuses: tuple[str, ...] = ("open",), device_id: str | None = None,
                      limit: int = 100, offset: int = 0) -> list[RefusalRecord]:
        where, params = self._refusal_filter(scope, statuses, device_id)
        return self._refusals(where, [*params, limit, offset],
                              " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?")

    def count_refusals(self, *, scope: list[str] | None = None,
                       statuses: tuple[str, ...] = ("open",)) -> int:
        where, params = self._refusal_filter(scope, statuses)
        return int(self.conn.execute(f"SELECT count(*) FROM refused_changes WHERE {where}",
                                     params).fetchone()[0])

    def settle_refusals(self, ids: Iterable[int], *, resolved_at: str, resolved_by: str,
                        comment: str | None) -> None:
        self.conn.executemany(
            "UPDATE refused_changes SET status = 'resolved', resolved_at = ?, resolved_by = ?,"
            " comment = ? WHERE id = ?",
            [(resolved_at, resolved_by, comment, i) for i in ids])

    # -- conflicts -------------------------------------------------------------------------

    _CONFLICT_COLS = (
        "id", "record_type", "row_id", "village_code", "field", "policy", "status",
        "base_version", "current_value", "current_version", "current_device",
        "current_user_name", "incoming_value", "incoming_version", "incoming_device",
        "incoming_user_name", "incoming_seq", "created_at", "resolved_at", "resolved_by",
        "resolution", "resolved_value", "comment",
    )
    _VERSION_COLS = ("base_version", "current_version", "incoming_version")
    _VALUE_COLS = ("current_value", "incoming_value", "resolved_value")

    def _conflict_value(self, conflict: dict[str, Any], col: str, value: Any,
                        seal: bool) -> Any:
        """Seal (or open) a conflict's value when it holds a sensitive field."""
        sealed = self._sensitive(conflict["record_type"])
        if not sealed or value is None:
            return value
        assert self.cipher is not None
        context = f"conflict.{conflict['record_type']}.{conflict['row_id']}.{col}"
        codec = self.cipher.seal if seal else self.cipher.open
        if conflict["field"] in sealed:
            return codec(value, context)
        if isinstance(value, dict):  # an update refused against a deletion: a map of fields
            return {k: (codec(v, f"{context}.{k}") if k in sealed else v)
                    for k, v in value.items()}
        return value

    def add_conflicts(self, conflicts: list[ConflictRecord]) -> list[int]:
        ids = []
        cols = self._CONFLICT_COLS[1:]
        for conflict in conflicts:
            data = asdict(conflict)
            for col in self._VALUE_COLS:
                data[col] = self._conflict_value(data, col, data[col], seal=True)
            params = [self._conflict_out(c, data[c]) for c in cols]
            cur = self.conn.execute(
                f"INSERT INTO conflicts ({', '.join(cols)}) VALUES ({_marks(list(cols))})",
                params)
            ids.append(int(cur.lastrowid or 0))
        return ids

    def _conflict_out(self, col: str, value: Any) -> Any:
        if col in self._VERSION_COLS:
            return _version_out(value)
        if col in self._VALUE_COLS:
            return _dumps(value)
        return value

    def _conflict_in(self, raw: tuple[Any, ...]) -> ConflictRecord:
        data = dict(zip(self._CONFLICT_COLS, raw))
        for col in self._VERSION_COLS:
            data[col] = _version_in(data[col])
        for col in self._VALUE_COLS:
            data[col] = None if data[col] is None else json.loads(data[col])
            data[col] = self._conflict_value(data, col, data[col], seal=False)
        return ConflictRecord(**data)

    def get_conflict(self, conflict_id: int) -> ConflictRecord | None:
        if not _fits(conflict_id):
            return None
        raw = self.conn.execute(
            f"SELECT {', '.join(self._CONFLICT_COLS)} FROM conflicts WHERE id = ?",
            (conflict_id,)).fetchone()
        return self._conflict_in(raw) if raw else None

    def list_conflicts(self, *, villages: list[str] | None = None,
                       statuses: tuple[str, ...] = ("open",), record_type: str | None = None,
                       row_id: str | None = None, older_than: str | None = None,
                       limit: int = 100, offset: int = 0) -> list[ConflictRecord]:
        where, params = self._conflict_filter(villages, statuses)
        if record_type:
            where.append("record_type = ?")
            params.append(record_type)
        if row_id:
            where.append("row_id = ?")
            params.append(row_id)
        if older_than:
            where.append("created_at < ?")
            params.append(older_than)
        rows = self.conn.execute(
            f"SELECT {', '.join(self._CONFLICT_COLS)} FROM conflicts WHERE {' AND '.join(where)}"
            " ORDER BY created_at, id LIMIT ? OFFSET ?", (*params, limit, offset))
        return [self._conflict_in(raw) for raw in rows]

    @staticmethod
    def _conflict_filter(villages: list[str] | None,
                         statuses: tuple[str, ...]) -> tuple[list[str], list[Any]]:
        where = [f"status IN ({_marks(list(statuses))})"]
        params: list[Any] = list(statuses)
        if villages is not None:
            where.append(f"village_code IN ({_marks(villages)})" if villages else "0")
            params.extend(villages)
        return where, params

    def count_conflicts(self, *, villages: list[str] | None = None,
                        statuses: tuple[str, ...] = ("open",)) -> dict[str, int]:
        where, params = self._conflict_filter(villages, statuses)
        return dict(self.conn.execute(
            f"SELECT record_type, count(*) FROM conflicts WHERE {' AND '.join(where)}"
            " GROUP BY record_type", params))

    def settle_conflicts(self, ids: Iterable[int], *, status: str, resolved_at: str,
                         resolved_by: str, resolution: str | None, resolved_value: Any,
                         comment: str | None) -> None:
        rows = []
        for conflict_id in ids:
            head = self.conn.execute("SELECT record_type, row_id, field FROM conflicts"
                                     " WHERE id = ?", (conflict_id,)).fetchone()
            if head is None:
                continue
            keyed = {"record_type": head[0], "row_id": head[1], "field": head[2]}
            value = self._conflict_value(keyed, "resolved_value", resolved_value, seal=True)
            rows.append((status, resolved_at, resolved_by, resolution, _dumps(value), comment,
                         conflict_id))
        self.conn.executemany(
            "UPDATE conflicts SET status = ?, resolved_at = ?, resolved_by = ?, resolution = ?,"
            " resolved_value = ?, comment = ? WHERE id = ?", rows)

    def open_conflict_ids(self, record_type_name: str, row_id: str, field: str) -> list[int]:
        return [r[0] for r in self.conn.execute(
            "SELECT id FROM conflicts WHERE record_type = ? AND row_id = ? AND field = ?"
            " AND status = 'open' ORDER BY id", (record_type_name, row_id, field))]

    def conflict_candidates(self, conflict_id: int) -> list[ConflictRecord]:
        head = self.conn.execute(
            "SELECT record_type, row_id, field, status FROM conflicts WHERE id = ?",
            (conflict_id,)).fetchone()
        if head is None or head[3] == "candidate":
            return []
        key = head[:3]
        after = self.conn.execute(
            "SELECT min(id) FROM conflicts WHERE record_type = ? AND row_id = ? AND field = ?"
            " AND id > ? AND status != 'candidate'", (*key, conflict_id)).fetchone()[0]
        rows = self.conn.execute(
            f"SELECT {', '.join(self._CONFLICT_COLS)} FROM conflicts"
            " WHERE record_type = ? AND row_id = ? AND field = ? AND status = 'candidate'"
            " AND id > ? AND id < ? ORDER BY id",
            (*key, conflict_id, after if after is not None else 2 ** 63 - 1))
        return [self._conflict_in(raw) for raw in rows]

    def conflict_head(self, conflict_id: int) -> ConflictRecord | None:
        raw = self.conn.execute(
            f"SELECT {', '.join('h.' + c for c in self._CONFLICT_COLS)} FROM conflicts c"
            " JOIN conflicts h ON h.record_type = c.record_type AND h.row_id = c.row_id"
            " AND h.field = c.field AND h.id < c.id AND h.status != 'candidate'"
            " WHERE c.id = ? AND c.status = 'candidate' ORDER BY h.id DESC LIMIT 1",
            (conflict_id,)).fetchone()
        return self._conflict_in(raw) if raw else None

    # -- devices, users, audit, settings ---------------------------------------------------

    _DEVICE_COLS = tuple(f.name for f in dc_fields(DeviceRecord))
    _USER_COLS = tuple(f.name for f in dc_fields(UserRecord))

    def add_device(self, device: DeviceRecord) -> None:
        data = asdict(device)
        data["villages"] = _dumps(device.villages)
        self.conn.execute(
            f"INSERT INTO devices ({', '.join(data)}) VALUES ({_marks(list(data))})",
            list(data.values()))

    def _device_where(self, clause: str, param: Any) -> list[DeviceRecord]:
        rows = self.conn.execute(
            f"SELECT {', '.join(self._DEVICE_COLS)} FROM devices WHERE {clause} ORDER BY id",
            (param,))
        out = []
        for raw in rows:
            data = dict(zip(self._DEVICE_COLS, raw))
            data["villages"] = json.loads(data["villages"])
            out.append(DeviceRecord(**data))
        return out

    def get_device(self, device_id: str) -> DeviceRecord | None:
        found = self._device_where("id = ?", device_id)
        return found[0] if found else None

    def list_devices(self) -> list[DeviceRecord]:
        return self._device_where("1 = ?", 1)

    def update_device(self, device_id: str, **changes: Any) -> None:
        self._update("devices", "id", device_id, self._DEVICE_COLS, changes)

    def _update(self, table: str, key: str, key_value: str, allowed: tuple[str, ...],
                changes: dict[str, Any]) -> None:
        unknown = set(changes) - set(allowed)
        if unknown:
            raise ValueError(f"unknown columns {sorted(unknown)}")
        values = [(_dumps(v) if isinstance(v, list) else v) for v in changes.values()]
        sets = ", ".join(f"{c} = ?" for c in changes)
        self.conn.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?", (*values, key_value))

    def add_user(self, user: UserRecord) -> None:
        data = asdict(user)
        data["scope"] = _dumps(user.scope)
        self.conn.execute(
            f"INSERT INTO users ({', '.join(data)}) VALUES ({_marks(list(data))})",
            list(data.values()))

    def _users(self, clause: str, param: Any) -> list[UserRecord]:
        out = []
        for raw in self.conn.execute(
                f"SELECT {', '.join(self._USER_COLS)} FROM users WHERE {clause} ORDER BY name",
                (param,)):
            data = dict(zip(self._USER_COLS, raw))
            data["scope"] = json.loads(data["scope"])
            out.append(UserRecord(**data))
        return out

    def get_user(self, name: str) -> UserRecord | None:
        found = self._users("name = ?", name)
        return found[0] if found else None

    def list_users(self) -> list[UserRecord]:
        return self._users("1 = ?", 1)

    def update_user(self, name: str, **changes: Any) -> None:
        self._update("users", "name", name, self._USER_COLS, changes)

    def append_audit(self, entry: AuditEntry) -> int:
        with self.atomic():
            last = self.conn.execute(
                "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
            if last is not None and last[0] is None:
                # Entries from before the chain are always the oldest: chained once, in order.
                self._chain_unchained()
                last = self.conn.execute(
                    "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
            prev = last[0] if last else GENESIS
            cur = self.conn.execute(
                "INSERT INTO audit_log (at, actor, action, target, detail, prev_hash)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (entry.at, entry.actor, entry.action, entry.target, _dumps(entry.detail), prev))
            entry_id = int(cur.lastrowid or 0)
            digest = entry_hash(prev, entry_id, entry.at, entry.actor, entry.action,
                                entry.target, json.loads(_dumps(entry.detail)))
            self.conn.execute("UPDATE audit_log SET hash = ? WHERE id = ?", (digest, entry_id))
            self.set_setting("audit_head", digest)
        return entry_id

    def _chain_unchained(self) -> None:
        """Chain entries written before the chain existed (once, after the upgrade)."""
        rows = self.conn.execute(
            "SELECT id, at, actor, action, target, detail FROM audit_log WHERE hash IS NULL"
            " ORDER BY id").fetchall()
        if not rows:
            return
        previous = self.conn.execute(
            "SELECT hash FROM audit_log WHERE hash IS NOT NULL AND id < ? ORDER BY id DESC"
            " LIMIT 1", (rows[0][0],)).fetchone()
        prev = previous[0] if previous else GENESIS
        for entry_id, at, actor, action, target, detail in rows:
            digest = entry_hash(prev, entry_id, at, actor, action, target, json.loads(detail))
            self.conn.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?",
                              (prev, digest, entry_id))
            prev = digest

    def audit_chain(self) -> tuple[list[tuple[Any, ...]], str | None]:
        rows = self.conn.execute(
            "SELECT id, at, actor, action, target, detail, prev_hash, hash FROM audit_log"
            " ORDER BY id").fetchall()
        return rows, self.get_setting("audit_head")

    def audit_entries(self, limit: int = 100) -> list[AuditEntry]:
        return [
            AuditEntry(at, actor, action, target, json.loads(detail), id_)
            for id_, at, actor, action, target, detail in self.conn.execute(
                "SELECT id, at, actor, action, target, detail FROM audit_log"
                " ORDER BY id DESC LIMIT ?", (limit,))
        ]

    def get_setting(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM server_meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_setting(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO server_meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # -- security --------------------------------------------------------------------------

    _KEY_COLS = ("key_id", "sign_public", "box_public", "box_key_id", "private_sealed",
                 "status", "created_at", "retired_at")
    _CODE_COLS = ("code_hash", "hint", "user_name", "villages", "created_at", "created_by",
                  "expires_at", "used_at", "device_id", "withdrawn_at")

    def _insert(self, table: str, cols: tuple[str, ...], row: dict[str, Any]) -> None:
        values = [(_dumps(row[c]) if isinstance(row.get(c), list) else row.get(c)) for c in cols]
        self.conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({_marks(values)})",
                          values)

    def server_keys(self) -> list[dict[str, Any]]:
        return [dict(zip(self._KEY_COLS, raw)) for raw in self.conn.execute(
            f"SELECT {', '.join(self._KEY_COLS)} FROM server_keys ORDER BY created_at, rowid")]

    def add_server_key(self, row: dict[str, Any]) -> None:
        self._insert("server_keys", self._KEY_COLS, row)

    def update_server_key(self, key_id: str, **changes: Any) -> None:
        self._update("server_keys", "key_id", key_id, self._KEY_COLS, changes)

    def _codes(self, clause: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        out = []
        for raw in self.conn.execute(
                f"SELECT {', '.join(self._CODE_COLS)} FROM enrolment_codes WHERE {clause}"
                " ORDER BY created_at DESC", params):
            row = dict(zip(self._CODE_COLS, raw))
            row["villages"] = json.loads(row["villages"])
            out.append(row)
        return out

    def add_enrolment_code(self, row: dict[str, Any]) -> None:
        self._insert("enrolment_codes", self._CODE_COLS, row)

    def get_enrolment_code(self, code_hash: str) -> dict[str, Any] | None:
        found = self._codes("code_hash = ?", (code_hash,))
        return found[0] if found else None

    def list_enrolment_codes(self) -> list[dict[str, Any]]:
        return self._codes("1 = 1", ())

    def update_enrolment_code(self, code_hash: str, **changes: Any) -> None:
        self._update("enrolment_codes", "code_hash", code_hash, self._CODE_COLS, changes)

    def note_envelope(self, device_id: str, nonce: str, purpose: str, at: str) -> bool:
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO envelopes_seen (device_id, nonce, purpose, seen_at)"
            " VALUES (?, ?, ?, ?)", (device_id, nonce, purpose, at))
        return cur.rowcount == 1

    def backup_to(self, dest: str, taken_at: str | None = None) -> None:
        """SQLite's online backup: one step under a read transaction, so the copy is the
        database as of one commit, whatever writers do meanwhile. Written beside ``dest``
        and renamed into place, so a cut leaves no half file under its name."""
        partial = dest + ".partial"
        if os.path.exists(partial):
            os.remove(partial)
        target = sqlite3.connect(partial)
        try:
            self.conn.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            if taken_at:
                with target:
                    target.execute("INSERT OR REPLACE INTO server_meta (key, value)"
                                   " VALUES ('backup_taken_at', ?)", (taken_at,))
        finally:
            target.close()
        os.replace(partial, dest)

    def prune_envelopes(self, seen_before: str) -> int:
        return self.conn.execute("DELETE FROM envelopes_seen WHERE seen_at < ?",
                                 (seen_before,)).rowcount

    def village_codes(self) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT village_code FROM villages WHERE _deleted = 0"
            " UNION SELECT DISTINCT village_code FROM conflicts ORDER BY 1")]

    def count_rows(self, record_type_name: str, villages: list[str] | None = None) -> int:
        table = record_type(record_type_name).table
        if villages is None:
            return int(self.conn.execute(
                f"SELECT count(*) FROM {table} WHERE _deleted = 0").fetchone()[0])
        if not villages:
            return 0
        return int(self.conn.execute(
            f"SELECT count(*) FROM {table} WHERE _deleted = 0"
            f" AND village_code IN ({_marks(villages)})", villages).fetchone()[0])

    # -- console logins --------------------------------------------------------------------

    # -- API tokens: kept in server_meta under ``api_token:<id>`` (no table of their own) ----

    _TOKEN_KEYS = ("id", "user_name", "label", "secret_hash", "created_at", "created_by",
                   "expires_at", "revoked_at", "last_used_at")
    _TOKEN_PREFIX = "api_token:"

    def add_api_token(self, row: dict[str, Any]) -> None:
        token = {k: row.get(k) for k in self._TOKEN_KEYS}
        self.conn.execute("INSERT INTO server_meta (key, value) VALUES (?, ?)",
                          (self._TOKEN_PREFIX + token["id"], _dumps(token)))

    def get_api_token(self, token_id: str) -> dict[str, Any] | None:
        value = self.get_setting(self._TOKEN_PREFIX + token_id)
        return json.loads(value) if value is not None else None

    def list_api_tokens(self) -> list[dict[str, Any]]:
        tokens = [json.loads(value) for (value,) in self.conn.execute(
            "SELECT value FROM server_meta WHERE key >= ? AND key < ?",
            (self._TOKEN_PREFIX, self._TOKEN_PREFIX[:-1] + ";"))]
        return sorted(tokens, key=lambda t: (t["created_at"], t["id"]))

    def update_api_token(self, token_id: str, **changes: Any) -> None:
        unknown = set(changes) - {"revoked_at", "last_used_at"}
        if unknown:
            raise ValueError(f"unknown token fields {sorted(unknown)}")
        token = self.get_api_token(token_id)
        if token is not None:
            self.set_setting(self._TOKEN_PREFIX + token_id, _dumps({**token, **changes}))

    def get_login_failures(self, name: str) -> LoginFailures | None:
        raw = self.conn.execute(
            "SELECT name, count, last_failed_at, locked_until FROM login_failures"
            " WHERE name = ?", (name,)).fetchone()
        return LoginFailures(*raw) if raw else None

    def put_login_failures(self, entry: LoginFailures) -> None:
        self.conn.execute(
            "INSERT INTO login_failures (name, count, last_failed_at, locked_until)"
            " VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET count = excluded.count,"
            " last_failed_at = excluded.last_failed_at, locked_until = excluded.locked_until",
            (entry.name, entry.count, entry.last_failed_at, entry.locked_until))

    def clear_login_failures(self, name: str) -> None:
        self.conn.execute("DELETE FROM login_failures WHERE name = ?", (name,))

    def prune_login_failures(self, before: str) -> int:
        cur = self.conn.execute(
            "DELETE FROM login_failures WHERE last_failed_at < ?"
            " AND (locked_until IS NULL OR locked_until < ?)", (before, before))
        return cur.rowcount


def _now_sql(conn: sqlite3.Connection) -> str:
    return str(conn.execute("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')").fetchone()[0])


__all__ = ["SQLiteStorage", "DELETED"]
