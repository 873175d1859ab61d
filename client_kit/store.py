"""The device store: one SQLite file (WAL) holding the team's records and its outbox.

Every write is validated by its record type's schema, stamps each changed field with a
hybrid-logical-clock version and this device's id, and appends an outbox entry, all in one
transaction: a row change never exists without its outbox entry, nor the reverse.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from marshmallow import ValidationError

import migrations

from . import keystore
from .domain import RECORD_TYPES, RecordType, record_type
from .domain.fields import Flag
from .domain.rules import check_day_in_session, check_one_person_one_post
from .engine.changes import (DELETE, DELETED, UPSERT, Change, PulledEntry, Version,
                             compact_json, row_versions_from_json, row_versions_json,
                             shared_row_versions_json, version_from_json)
from .engine.hlc import HybridClock
from .engine.ids import uuid7
from .engine.jsontext import load_json
from .engine.merge import apply_pulled, pulled_held, pulled_tombstone_applies
from .engine.protocol import MAX_SEQ, Refused
from .errors import Locked, NotFound, OutOfScope, RuleViolation, ValidationFailed
from .field_cipher import FieldCipher, blind_index, is_sealed
from .keystore import DeviceKeys
from .migrator import Migrator, load_migrations
from .sqlite_tx import Transactions

META_COLUMNS = ("_versions", "_deleted", "_disputed")
#: Every JSON value the store writes is compact text (see :mod:`client_kit.engine.jsontext`).
_encode = compact_json
#: Sensitive fields with a blind index for exact look-up (column ``<field>_bidx``).
_BLIND_INDEXED = {"person": "id_number"}


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


#: WAL pages that trigger a checkpoint (SQLite's default is 1000): fewer, larger checkpoints
#: write each hot index page back once instead of several times during a long pull. The
#: server sets its own (``server.storage.sqlite``).
WAL_CHECKPOINT_PAGES = 4000


def connect(path: str | Path) -> sqlite3.Connection:
    """Open a SQLite file for the store: WAL, full sync, transactions managed by hand."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
    return conn


class RowCodec:
    """Turns loaded field values into SQLite column values and back, for one record type.

    With a ``cipher``, sensitive fields are sealed at rest, bound to table, field and row id.
    """

    def __init__(self, rt: RecordType, cipher: FieldCipher | None = None) -> None:
        self.rt = rt
        self.cipher = cipher
        self.columns = ("id", "village_code", *rt.fields)
        self.flags = tuple(n for n, f in rt.fields.items() if isinstance(f, Flag))
        self.sealed = set(rt.sensitive) if cipher else set()
        special = self.sealed | set(rt.json_fields) | set(self.flags)
        self._plain = tuple((c, c not in special) for c in self.columns)

    def to_column(self, name: str, value: Any, row_id: str = "") -> Any:
        if value is None:
            return None
        if name in self.sealed:
            assert self.cipher is not None
            return self.cipher.seal(value, f"{self.rt.table}.{name}.{row_id}")
        if name in self.rt.json_fields:
            return _encode(value)
        if name in self.flags:
            return int(value)
        return value

    def from_column(self, name: str, value: Any, row_id: str = "") -> Any:
        if value is None:
            return None
        if name in self.sealed:
            assert self.cipher is not None
            return self.cipher.open(value, f"{self.rt.table}.{name}.{row_id}")
        if name in self.rt.json_fields:
            return load_json(value)
        if name in self.flags:
            return bool(value)
        return value

    def encode(self, row: Mapping[str, Any]) -> list[Any]:
        """Column values of a whole row, in :attr:`columns` order."""
        row_id = str(row["id"])
        get = row.get
        # Most columns are stored as loaded; only the others go through to_column.
        return [get(c) if plain else self.to_column(c, get(c), row_id)
                for c, plain in self._plain]

    def encode_entry(self, row_id: str, village: str, fields: Mapping[str, Any]) -> list[Any]:
        """:meth:`encode` of the row ``{"id": row_id, "village_code": village, **fields}``,
        without building it."""
        get = fields.get
        return [row_id, get("village_code", village),
                *[get(c) if plain else self.to_column(c, get(c), row_id)
                  for c, plain in self._plain[2:]]]

    def decode(self, raw: Iterable[Any]) -> dict[str, Any]:
        values = list(raw)
        row_id = str(values[0])
        return {name: self.from_column(name, values[i], row_id)
                for i, name in enumerate(self.columns)}


@dataclass(frozen=True)
class SetAside:
    """A change the county refused on its own, kept out of the outbox until the worker sends
    it again or discards it. ``fields`` are the values it carried (empty for a deletion)."""

    seq: int
    record_type: str
    row_id: str
    village_code: str
    op: str
    fields: dict[str, Any]
    code: str
    message: str
    details: Any
    refused_at: str
    #: Whether the change made its row (then nothing of the row reached the county), as
    #: recorded when it was written (never guessed from its base).
    creates_row: bool = False


class DeviceStore:
    """A team device's records. Open it with :meth:`open`."""

    def __init__(self, conn: sqlite3.Connection, *, clock: Callable[[], int] = wall_clock_ms,
                 random: Callable[[int], bytes] = os.urandom) -> None:
        self.conn = conn
        self.clock_ms = clock
        self.random = random
        self._transactions = Transactions(conn)
        self._codecs: dict[str, RowCodec] = {}
        self.keys: DeviceKeys | None = None
        self._cipher_of: tuple[DeviceKeys, FieldCipher] | None = None

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, device_id: str | None = None,
             passphrase: str | None = None, clock: Callable[[], int] = wall_clock_ms,
             random: Callable[[int], bytes] = os.urandom) -> "DeviceStore":
        """Open or create the store at ``path`` and apply pending migrations.

        ``device_id`` names this device in every version it writes; it is fixed the first time
        the store is opened (a random one is made when none is given). An enrolled store holds
        its keys under the worker's ``passphrase``; opened without it, the store is locked and
        refuses to read or write records.
        """
        conn = connect(path)
        try:
            conn.execute("PRAGMA secure_delete=ON")
            Migrator(conn, load_migrations(migrations.directory("client"))).upgrade()
            store = cls(conn, clock=clock, random=random)
            if passphrase is not None:
                store.unlock(passphrase)
            elif not store.has_keys:
                store.fill_blind_index()  # a store without keys indexes under a fixed key
            store._claim(device_id)
        except BaseException:
            conn.close()
            raise
        return store

    def _claim(self, device_id: str | None) -> None:
        """Fix this store's device id the first time; refuse another one later."""
        current = self.meta("device_id")
        if current is None:
            self.set_meta("device_id", device_id or "dev-" + self.random(6).hex())
        elif device_id is not None and device_id != current:
            raise RuleViolation(f"本设备数据库属于设备 {current}，不能以 {device_id} 打开")

    def close(self) -> None:
        self.conn.close()

    def destroy(self) -> None:
        """Wipe: forget the keys, delete every record, then delete the file itself.

        Sensitive values were sealed under the data key; with the keystore gone they cannot be
        read again even from a copy of the file made before.
        """
        path = self.conn.execute("PRAGMA database_list").fetchone()[2]
        with self.transaction():
            self.conn.execute("DELETE FROM meta")
            self.conn.execute("DELETE FROM outbox")
            self.conn.execute("DELETE FROM set_aside")
            for rt in RECORD_TYPES.values():
                self.conn.execute(f"DELETE FROM {rt.table}")
        self.keys = None
        self.conn.close()
        for suffix in ("", "-wal", "-shm"):
            if path and os.path.exists(path + suffix):
                os.remove(path + suffix)

    @property
    def device_id(self) -> str:
        value = self.meta("device_id")
        assert value is not None
        return value

    # -- keys ------------------------------------------------------------------------------

    @property
    def has_keys(self) -> bool:
        return self.meta(keystore.META_KEY) is not None

    def unlock(self, passphrase: str) -> None:
        """Unlock with the worker's passphrase; :class:`WrongPassphrase` if it is not."""
        wrapped = self.meta(keystore.META_KEY)
        if wrapped is None:
            raise keystore.NoKeys("本设备尚未注册，没有密钥")
        self.keys = keystore.unwrap(wrapped, passphrase)
        self._codecs.clear()
        self.fill_blind_index()

    def lock(self) -> None:
        """Forget the keys in memory (after inactivity)."""
        self.keys = None
        self._codecs.clear()

    def install_keys(self, keys: DeviceKeys, passphrase: str) -> None:
        """Store new keys under ``passphrase`` (at enrolment, on an empty store)."""
        with self.transaction():
            if self.has_keys:
                raise RuleViolation("本设备已有密钥")
            if any(self.conn.execute(f"SELECT 1 FROM {rt.table} LIMIT 1").fetchone()
                   for rt in RECORD_TYPES.values()):
                raise RuleViolation("只能在空的设备数据库上安装密钥")
            self._set_meta(keystore.META_KEY, keystore.wrap(keys, passphrase))
        self.keys = keys
        self._codecs.clear()

    def enrol_as(self, device_id: str, keys: DeviceKeys, wrapped: str,
                 settings: Mapping[str, str]) -> None:
        """Become the enrolled device ``device_id``, in one transaction.

        The store takes the keys (``wrapped`` under the worker's passphrase) and ``settings``
        (server, scope); records already in it are kept: their sensitive fields and the outbox
        are sealed under the new keys, the ID-number index is rebuilt with the new index key,
        and the pending changes, not yet seen by anyone, are renamed to the new device id. A
        failure leaves the store exactly as it was.
        """
        with self.transaction():
            if self.has_keys:
                raise RuleViolation("本设备已有密钥")
            old = self.device_id
            if old != device_id:
                self._rename_pending(old, device_id)
            self._seal_plain_records(FieldCipher(keys.data_key), keys.index_key)
            self._set_meta("device_id", device_id)
            self._set_meta(keystore.META_KEY, wrapped)
            self.conn.execute("DELETE FROM meta WHERE key = 'token'")  # from before enrolment
            for key, value in settings.items():
                self._set_meta(key, value)
        self.keys = keys
        self._codecs.clear()

    def _rename_pending(self, old: str, new: str) -> None:
        """Versions of this device's unacknowledged writes name ``new`` instead of ``old``;
        those of writes the server already has keep the name it knows them by."""
        rows = self.conn.execute("SELECT seq, hlc, base FROM outbox").fetchall()
        pending = {hlc for _, hlc, _ in rows}
        renamed: dict[Version, Version] = {}  # fields that shared a version still do

        def rename(version: Version | None) -> Version | None:
            if version is None or version[1] != old or version[0] not in pending:
                return version
            return renamed.setdefault(version, (version[0], new))

        def renamed_base(base: str) -> str:
            versions = {k: rename(version_from_json(v)) for k, v in json.loads(base).items()}
            return _encode({k: list(v) if v else None for k, v in versions.items()})

        self.conn.executemany("UPDATE outbox SET base = ? WHERE seq = ?",
                              [(renamed_base(base), seq) for seq, _, base in rows])
        self._remap_row_versions(old, rename)

    def _remap_row_versions(self, device: str,
                            remap: Callable[[Version | None], Version | None]) -> None:
        """Rewrite the field versions of every row that names ``device`` through ``remap``."""
        for rt in RECORD_TYPES.values():
            changed = []
            for row_id, versions in self.conn.execute(
                    f"SELECT id, _versions FROM {rt.table} WHERE _versions LIKE ?",
                    (f'%"{device}"%',)):
                parsed = row_versions_from_json(versions)
                remapped = {k: remap(v) for k, v in parsed.items()}
                if remapped != parsed:
                    changed.append((row_versions_json(remapped), row_id))
            self.conn.executemany(f"UPDATE {rt.table} SET _versions = ? WHERE id = ?", changed)

    def _seal_plain_records(self, cipher: FieldCipher, index_key: bytes) -> None:
        """Seal sensitive values and outbox entries still in plain text, and index ID numbers
        under ``index_key`` (a store that had no keys kept them plain)."""
        for rt in RECORD_TYPES.values():
            if not rt.sensitive:
                continue
            plain = RowCodec(rt)
            blind = _BLIND_INDEXED.get(rt.name)
            cols = ", ".join(rt.sensitive)
            updates = []
            for row_id, *values in self.conn.execute(f"SELECT id, {cols} FROM {rt.table}"):
                opened = {name: plain.from_column(name, value, row_id)
                          for name, value in zip(rt.sensitive, values) if not is_sealed(value)}
                sealed = [value if name not in opened
                          else cipher.seal(opened[name], f"{rt.table}.{name}.{row_id}")
                          for name, value in zip(rt.sensitive, values)]
                if blind:
                    if blind not in opened and values[rt.sensitive.index(blind)] is not None:
                        raise RuleViolation("设备数据库里有无法识别的加密数据，不能注册")
                    number = opened.get(blind)
                    sealed.append(blind_index(index_key, number) if number else None)
                updates.append((*sealed, row_id))
            marks = ", ".join(f"{c} = ?" for c in (*rt.sensitive,
                                                    *((f"{blind}_bidx",) if blind else ())))
            self.conn.executemany(f"UPDATE {rt.table} SET {marks} WHERE id = ?", updates)
        self.conn.executemany("UPDATE outbox SET fields = ? WHERE seq = ?", [
            (cipher.seal_bytes(fields.encode(), "outbox"), seq)
            for seq, fields in self.conn.execute("SELECT seq, fields FROM outbox")
            if not is_sealed(fields)])

    def fill_blind_index(self) -> int:
        """Index the ID numbers of rows that have none yet (rows from before the index
        existed), all in one transaction; return how many. Needs the keys if the store has
        any (it runs at unlock; a store without keys runs it when opened)."""
        work = []
        for type_name, field in _BLIND_INDEXED.items():
            rt = record_type(type_name)
            missing = self.conn.execute(
                f"SELECT id, {field} FROM {rt.table} WHERE {field} IS NOT NULL"
                f" AND {field}_bidx IS NULL").fetchall()
            if missing:
                codec = self.codec(rt)
                work.append((f"UPDATE {rt.table} SET {field}_bidx = ? WHERE id = ?", [
                    (self._blind(codec.from_column(field, value, row_id)), row_id)
                    for row_id, value in missing]))
        if work:
            with self.transaction():
                for sql, params in work:
                    self.conn.executemany(sql, params)
        return sum(len(params) for _, params in work)

    def change_passphrase(self, old: str, new: str) -> None:
        """Re-wrap the same keys under a new passphrase; no record is rewritten."""
        wrapped = self.meta(keystore.META_KEY)
        if wrapped is None:
            raise keystore.NoKeys("本设备尚未注册，没有密钥")
        keys = keystore.unwrap(wrapped, old)
        self.set_meta(keystore.META_KEY, keystore.wrap(keys, new))

    def _cipher(self) -> FieldCipher | None:
        if self.keys is not None:
            # One cipher per set of keys: making one runs AES's key schedule.
            if self._cipher_of is None or self._cipher_of[0] is not self.keys:
                self._cipher_of = (self.keys, FieldCipher(self.keys.data_key))
            return self._cipher_of[1]
        if self.has_keys:
            raise Locked("设备已锁定，请输入口令解锁")
        return None

    def find_person_by_id_number(self, id_number: str) -> dict[str, Any] | None:
        """Exact look-up by ID number through the blind index (the number is not stored)."""
        rt = record_type("person")
        rows = self._select(rt, "id_number_bidx = ? AND _deleted = 0",
                            (self._blind(id_number.strip().upper()),))
        return _public(rows[0]) if rows else None

    def _blind(self, value: str) -> str:
        key = self.keys.index_key if self.keys else b"unencrypted-store"
        return blind_index(key, value)

    # -- settings --------------------------------------------------------------------------

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._set_meta(key, value)

    def _set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # -- transactions ----------------------------------------------------------------------

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """One SQLite write transaction; nested calls join the outer one."""
        return self._transactions.block()

    def _tick(self) -> int:
        clock = HybridClock(int(self.meta("hlc", "0") or 0))
        hlc = clock.tick(self.clock_ms())
        self._set_meta("hlc", str(hlc))
        return hlc

    # -- reading ---------------------------------------------------------------------------

    def codec(self, rt: RecordType) -> RowCodec:
        if rt.name not in self._codecs:
            self._codecs[rt.name] = RowCodec(rt, self._cipher())
        return self._codecs[rt.name]

    def _select(self, rt: RecordType, where: str, params: Iterable[Any]) -> list[dict[str, Any]]:
        codec = self.codec(rt)
        cols = ", ".join((*codec.columns, *META_COLUMNS))
        cursor = self.conn.execute(f"SELECT {cols} FROM {rt.table} WHERE {where}", tuple(params))
        rows = []
        n = len(codec.columns)
        for raw in cursor:
            row = codec.decode(raw[:n])
            row["_versions"] = row_versions_from_json(raw[n])
            row["_deleted"] = bool(raw[n + 1])
            row["_disputed"] = load_json(raw[n + 2])
            rows.append(row)
        return rows

    def _row(self, rt: RecordType, row_id: str) -> dict[str, Any] | None:
        rows = self._select(rt, "id = ?", (row_id,))
        return rows[0] if rows else None

    def get(self, type_name: str, row_id: str, *, include_deleted: bool = False,
            with_meta: bool = False) -> dict[str, Any] | None:
        """One row by id, or ``None``. ``with_meta`` adds ``_versions``, ``_deleted``, ``_disputed``."""
        row = self._row(record_type(type_name), row_id)
        if row is None or (row["_deleted"] and not include_deleted):
            return None
        return row if with_meta else _public(row)

    def query(self, type_name: str, *, include_deleted: bool = False, order_by: str = "id",
              limit: int | None = None, **equals: Any) -> list[dict[str, Any]]:
        """Rows whose columns equal the given values (``village_code="…"``, ``post_id=…``)."""
        rt = record_type(type_name)
        codec = self.codec(rt)
        for name in (*equals, order_by):
            if name not in codec.columns:
                raise ValueError(f"{type_name} has no field {name!r}")
            if name in rt.sensitive:
                raise ValueError(f"{name} is encrypted at rest: use a blind-index look-up")
        clauses = [f"{name} = ?" for name in equals] or ["1"]
        if not include_deleted:
            clauses.append("_deleted = 0")
        sql = " AND ".join(clauses) + f" ORDER BY {order_by}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        params = [codec.to_column(k, v) for k, v in equals.items()]
        return [_public(r) for r in self._select(rt, sql, params)]

    # -- writing ---------------------------------------------------------------------------

    def create(self, type_name: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and insert a new row; return it with its id.

        A natural-key fact (attendance, sign-in, employment) that already exists is updated
        instead, so recording the same fact twice never makes two rows.
        """
        rt = record_type(type_name)
        values = {k: v for k, v in values.items() if k != "id"}
        with self.transaction():
            if "village_code" not in values or values["village_code"] is None:
                values["village_code"] = self._inherited_village(rt, values)
            self._check_scope(values["village_code"])
            if rt.natural_key:
                missing = [k for k in rt.natural_key if values.get(k) is None]
                if missing:
                    raise ValidationFailed("记录不完整", details={
                        k: [f"{rt.label_of(k)}：必填"] for k in missing})
                try:
                    row_id = rt.natural_row_id(rt.load_fields(dict(values)))
                except ValidationError as err:
                    raise _failed(err) from None
                existing = self._row(rt, row_id)
                if existing is not None:
                    return self._update(rt, existing, values, revive=True)
            else:
                row_id = uuid7(self.clock_ms(), self.random(10))
            row = _load_full(rt, {**values, "id": row_id})
            self._check_rules(rt, row)
            hlc = self._tick()
            version = (hlc, self.device_id)
            # A new row sends only the fields it sets: an absent field is empty everywhere.
            fields = {k: v for k, v in row.items() if k != "id" and v is not None}
            self._write_row(rt, row, {name: version for name in fields}, deleted=False)
            self._append_outbox(rt, row_id, row["village_code"], hlc, UPSERT, fields,
                                {k: None for k in fields}, creates_row=True)
            return row

    def update(self, type_name: str, row_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Validate the row with ``changes`` applied and write the fields that changed."""
        rt = record_type(type_name)
        with self.transaction():
            existing = self._row(rt, row_id)
            if existing is None or existing["_deleted"]:
                raise NotFound(f"{rt.label}记录不存在或已删除")
            self._check_scope(existing["village_code"])
            return self._update(rt, existing, dict(changes), revive=False)

    def _update(self, rt: RecordType, existing: dict[str, Any], changes: dict[str, Any],
                revive: bool) -> dict[str, Any]:
        if "id" in changes and changes["id"] != existing["id"]:
            raise ValidationFailed("编号不能修改", details={"id": ["编号：不能修改"]})
        changes.pop("id", None)
        current = _public(existing)
        merged = _load_full(rt, {**current, **changes})
        touched = {k: v for k, v in merged.items() if k != "id" and current.get(k) != v}
        for name in (*rt.natural_key, "village_code"):
            if name in touched:
                raise ValidationFailed(f"{rt.label_of(name)}不能修改",
                                       details={name: [f"{rt.label_of(name)}：不能修改"]})
        was_deleted = existing["_deleted"] and revive
        if not touched and not was_deleted:
            return current
        self._check_rules(rt, merged)
        hlc = self._tick()
        version = (hlc, self.device_id)
        versions = dict(existing["_versions"])
        if was_deleted:
            # Recording a deleted fact again undoes the deletion this device saw; the server
            # accepts it only if nobody changed the tombstone meanwhile.
            touched[DELETED] = False
        base = {k: versions.get(k) for k in touched}
        versions.update({k: version for k in touched})
        self._write_row(rt, merged, versions, deleted=False, disputed=existing["_disputed"])
        self._append_outbox(rt, merged["id"], merged["village_code"], hlc, UPSERT, touched, base)
        return merged

    def delete(self, type_name: str, row_id: str) -> None:
        """Delete a row: it stays as a tombstone, so the deletion syncs."""
        rt = record_type(type_name)
        with self.transaction():
            existing = self._row(rt, row_id)
            if existing is None or existing["_deleted"]:
                raise NotFound(f"{rt.label}记录不存在或已删除")
            self._check_scope(existing["village_code"])
            hlc = self._tick()
            versions = dict(existing["_versions"])
            base = {k: v for k, v in versions.items()}
            base.setdefault(DELETED, None)
            versions[DELETED] = (hlc, self.device_id)
            self._write_row(rt, _public(existing), versions, deleted=True,
                            disputed=existing["_disputed"])
            self._append_outbox(rt, row_id, existing["village_code"], hlc, DELETE, {}, base)

    def villages(self) -> list[str]:
        """The villages this device may write, as the county last said (empty: not known)."""
        return [str(v) for v in json.loads(self.meta("villages", "[]") or "[]")]

    def _check_scope(self, village: Any) -> None:
        """Refuse a write for a village outside the device's known scope: the county would
        refuse it, and the worker should hear it now rather than after a sync."""
        known = self.villages()
        if known and village not in known:
            raise OutOfScope(
                f"本设备只能录入以下村的数据：{'、'.join(known)}；村 {village} 不在本设备范围内",
                details={"village_code": [f"所属村：{village} 不在本设备范围内"]})

    def _inherited_village(self, rt: RecordType, values: Mapping[str, Any]) -> str:
        if rt.parent is None:
            raise ValidationFailed("缺少所属村", details={"village_code": ["所属村：必填"]})
        parent_type, parent_field = rt.parent
        parent_id = values.get(parent_field)
        parent = self.get(parent_type, parent_id) if isinstance(parent_id, str) else None
        if parent is None:
            label = rt.label_of(parent_field)
            raise ValidationFailed(f"{label}不存在", details={parent_field: [f"{label}：不存在"]})
        return str(parent["village_code"])

    def _check_rules(self, rt: RecordType, row: dict[str, Any]) -> None:
        if rt.parent is not None:
            parent_type, parent_field = rt.parent
            parent = self.get(parent_type, row[parent_field])
            label = rt.label_of(parent_field)
            if parent is None:
                raise ValidationFailed(f"{label}不存在",
                                       details={parent_field: [f"{label}：不存在"]})
            # A row belongs to its parent's village: scope checks read only the row's own.
            if row["village_code"] != parent["village_code"]:
                problem = f"所属村：应与{label}所在村（{parent['village_code']}）一致"
                raise ValidationFailed(problem, details={"village_code": [problem]})
        for ref_field, ref_type in rt.references.items():
            if self.get(ref_type, row[ref_field]) is None:
                label = rt.label_of(ref_field)
                raise ValidationFailed(f"{label}不存在", details={ref_field: [f"{label}：不存在"]})
        if rt.name == "appointment":
            others = [a for a in self.query("appointment", person_id=row["person_id"],
                                            status="active") if a["id"] != row["id"]]
            check_one_person_one_post(row, others)
        elif rt.name == "signin":
            check_day_in_session(row, self.get("training_session", row["session_id"]))

    def _write_row(self, rt: RecordType, row: Mapping[str, Any], versions: Mapping[str, Any],
                   *, deleted: bool, disputed: Iterable[str] = ()) -> None:
        self._write_rows(rt, [(row, versions, deleted, list(disputed))])

    def _write_rows(self, rt: RecordType,
                    rows: list[tuple[Mapping[str, Any], Mapping[str, Any], bool, list[str]]]
                    ) -> None:
        codec = self.codec(rt)
        self._upsert(rt, [self._row_values(rt, codec.encode(row), row, _versions_text(versions),
                                           deleted, disputed)
                          for row, versions, deleted, disputed in rows])

    def _row_values(self, rt: RecordType, encoded: list[Any], values: Mapping[str, Any],
                    versions_text: str, deleted: bool | None,
                    disputed: Iterable[str]) -> tuple[Any, ...]:
        """A row's columns in :meth:`_upsert` order: ``encoded`` (its :class:`RowCodec`
        columns), then versions (as :func:`_versions_text`), tombstone, disputed fields and the
        blind index if it has one."""
        blind = _BLIND_INDEXED.get(rt.name)
        return (*encoded, versions_text,
                int(bool(deleted)), _encode(sorted(disputed)) if disputed else "[]",
                *((self._blind(values[blind]) if values.get(blind) else None,)
                  if blind else ()))

    def _upsert(self, rt: RecordType, values: list[tuple[Any, ...]]) -> None:
        """Insert or replace whole rows given as column values (see :meth:`_write_rows`)."""
        codec = self.codec(rt)
        blind = _BLIND_INDEXED.get(rt.name)
        cols = (*codec.columns, *META_COLUMNS, *((f"{blind}_bidx",) if blind else ()))
        placeholders = ", ".join("?" for _ in cols)
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols[1:])
        self.conn.executemany(
            f"INSERT INTO {rt.table} ({', '.join(cols)}) VALUES ({placeholders})"
            f" ON CONFLICT(id) DO UPDATE SET {updates}", values)

    def _append_outbox(self, rt: RecordType, row_id: str, village: str, hlc: int, op: str,
                       fields: Mapping[str, Any], base: Mapping[str, Version | None],
                       *, creates_row: bool = False) -> None:
        self._append_outbox_raw(rt.name, row_id, village, hlc, op, self._seal_outbox(fields),
                                _encode({k: list(v) if v else None for k, v in base.items()}),
                                creates_row=creates_row)

    def _append_outbox_raw(self, type_name: str, row_id: str, village: str, hlc: int, op: str,
                           fields: str, base: str, *, creates_row: bool = False) -> int:
        """Append an outbox entry. ``creates_row`` says that it made its row (only
        :meth:`create` of a new row says so): a refused one that is discarded removes the row."""
        cur = self.conn.execute(
            "INSERT INTO outbox (record_type, row_id, village_code, hlc, op, fields, base,"
            " created_at, creates_row) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (type_name, row_id, village, hlc, op, fields, base,
             dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), int(creates_row)),
        )
        seq = int(cur.lastrowid or 0)
        if seq > MAX_SEQ:
            # The county refuses a sequence beyond MAX_SEQ; one made here would never sync.
            raise RuleViolation("本设备的变更序号已用尽，请联系县级管理员")
        return seq

    def _seal_outbox(self, fields: Mapping[str, Any]) -> str:
        text = _encode(fields)
        cipher = self._cipher()
        return cipher.seal_bytes(text.encode(), "outbox") if cipher else text

    def _open_outbox(self, stored: str) -> dict[str, Any]:
        return dict(load_json(self._open_outbox_text(stored) if is_sealed(stored) else stored))

    def _open_outbox_text(self, sealed: str) -> str:
        cipher = self._cipher()
        if cipher is None:
            raise Locked("设备已锁定，请输入口令解锁")
        return cipher.open_bytes(sealed, "outbox").decode("utf-8")

    # -- outbox and pulled changes (used by the sync client) -------------------------------

    def pending(self, limit: int = 500, after_seq: int = 0) -> list[Change]:
        """The oldest unacknowledged changes, in order."""
        return [
            Change(seq, rtype, row_id, village, hlc, op, self._open_outbox(fields),
                   {k: version_from_json(v) for k, v in json.loads(base).items()})
            for seq, rtype, row_id, village, hlc, op, fields, base in self.conn.execute(
                "SELECT seq, record_type, row_id, village_code, hlc, op, fields, base"
                " FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit))
        ]

    def pending_wire(self, limit: int = 500, after_seq: int = 0) -> list[tuple[int, str]]:
        """The oldest unacknowledged changes after ``after_seq`` as ``(seq, JSON text of
        Change.to_wire())``.

        The outbox keeps fields and base as JSON already; a push only forwards them, so they
        are not decoded and encoded again (see :func:`client_kit.engine.protocol.pack_push`).
        """
        out = []
        for seq, rtype, row_id, village, hlc, op, fields, base in self.conn.execute(
                "SELECT seq, record_type, row_id, village_code, hlc, op, fields, base"
                " FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit)):
            if is_sealed(fields):
                fields = self._open_outbox_text(fields)
            # A base without any version (a create) travels as null, as Change.to_wire does.
            if op != DELETE and "[" not in base:
                base = "null"
            head = compact_json([seq, rtype, row_id, village, hlc, op])
            out.append((seq, f"{head[:-1]},{fields},{base}]"))
        return out

    def pending_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def acknowledge(self, through_seq: int, refused: Iterable[Refused] = ()) -> int:
        """Drop outbox entries the server acknowledged; return how many.

        The ones it ``refused`` are set aside with its reason (see :meth:`set_aside`), in the
        same transaction: the changes behind them flow, and none is lost.
        """
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        with self.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO set_aside (seq, record_type, row_id, village_code, hlc,"
                " op, fields, base, created_at, code, message, details, refused_at, creates_row)"
                " SELECT seq, record_type, row_id, village_code, hlc, op, fields, base,"
                " created_at, ?, ?, ?, ?, creates_row FROM outbox WHERE seq = ? AND seq <= ?",
                [(r.code, r.message, None if r.details is None else _encode(r.details), now,
                  r.seq, through_seq) for r in refused])
            return self.conn.execute("DELETE FROM outbox WHERE seq <= ?", (through_seq,)).rowcount

    # -- changes the county refused --------------------------------------------------------

    def set_aside(self, *, with_fields: bool = True) -> list[SetAside]:
        """The changes the county refused, oldest first, with its reasons. Without
        ``with_fields`` their values are left out (a locked store can list them then)."""
        out = []
        for (seq, rtype, row_id, village, op, fields, code, message, details,
             refused_at, creates_row) in self.conn.execute(
                "SELECT seq, record_type, row_id, village_code, op, fields, code, message,"
                " details, refused_at, creates_row FROM set_aside ORDER BY seq").fetchall():
            out.append(SetAside(seq, rtype, row_id, village, op,
                                self._open_outbox(fields) if with_fields else {},
                                code, message, None if details is None else load_json(details),
                                refused_at, bool(creates_row)))
        return out

    def set_aside_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM set_aside").fetchone()[0])

    def _set_aside_row(self, seq: int) -> tuple[Any, ...]:
        found = self.conn.execute(
            "SELECT seq, record_type, row_id, village_code, hlc, op, fields, base, creates_row"
            " FROM set_aside WHERE seq = ?", (seq,)).fetchone()
        if found is None:
            raise NotFound("没有这条被退回的变更")
        return tuple(found)

    def resend(self, seq: int) -> int:
        """Queue a set-aside change again, as a new change with a fresh sequence and time
        (after the county changed what made it refuse it, such as the device's villages).
        Returns the new sequence.

        Only what the refused change still decides here goes out again: the fields (or the
        deletion) whose local version is still its own. A field changed since (a correction
        the worker made after the refusal) keeps that later value, which the re-sent change
        must not undo. When nothing of it is left, it is not re-sent (:class:`RuleViolation`)
        and stays set aside, for the worker to discard.
        """
        with self.transaction():
            _, rtype, row_id, village, old_hlc, op, fields, base, creates = \
                self._set_aside_row(seq)
            self._check_scope(village)
            rt = record_type(rtype)
            row = self._row(rt, row_id)
            old = (old_hlc, self.device_id)
            base_versions = load_json(base)
            if row is not None:
                still = {k for k, v in row["_versions"].items() if v == old}
                names = (set(base_versions) & still) if op == UPSERT else (
                    still & {DELETED})
                if not names:
                    raise RuleViolation(
                        "这条被退回的变更已被之后的修改取代，重新提交会覆盖之后的修改；"
                        "请选择“放弃”，再按需要重新填写")
                if op == UPSERT and names != set(base_versions):
                    kept = {k: v for k, v in self._open_outbox(fields).items() if k in names}
                    fields = self._seal_outbox(kept)
                    base = _encode({k: base_versions[k] for k in sorted(names)})
            hlc = self._tick()
            if row is not None:
                # The row's fields that still carry the refused write now carry the new one.
                new = (hlc, self.device_id)
                versions = {k: (new if v == old else v) for k, v in row["_versions"].items()}
                if versions != row["_versions"]:
                    self._write_row(rt, _public(row), versions, deleted=row["_deleted"],
                                    disputed=row["_disputed"])
            new_seq = self._append_outbox_raw(rtype, row_id, village, hlc, op, fields, base,
                                              creates_row=bool(creates))
            self.conn.execute("DELETE FROM set_aside WHERE seq = ?", (seq,))
            return new_seq

    def discard(self, seq: int) -> str:
        """Give up a set-aside change; return what became of its row, for the worker.

        A refused change that made its row (recorded when it was written, never guessed)
        leaves nothing at the county: the row is removed here too (unless later changes of it
        wait). Otherwise the county keeps its own values: the fields this change still decides
        here are emptied and lose their local version, and the next sync reads the county's log
        again from the start, which fills every field the county has a value for; a field the
        county never had stays empty, rather than showing the refused value. The pull cursor is
        reset whenever a row the county may have was touched (a natural-key fact made here may
        also have been recorded by another device).
        """
        with self.transaction():
            _, rtype, row_id, _, hlc, op, _, _, creates = self._set_aside_row(seq)
            self.conn.execute("DELETE FROM set_aside WHERE seq = ?", (seq,))
            rt = record_type(rtype)
            row = self._row(rt, row_id)
            if row is None:
                return "discarded"
            waiting = self.conn.execute(
                "SELECT (SELECT count(*) FROM outbox WHERE record_type = ? AND row_id = ?)"
                " + (SELECT count(*) FROM set_aside WHERE record_type = ? AND row_id = ?)",
                (rtype, row_id, rtype, row_id)).fetchone()[0]
            if creates and op == UPSERT and not waiting:
                self.conn.execute(f"DELETE FROM {rt.table} WHERE id = ?", (row_id,))
                if rt.natural_key:
                    self._set_meta("cursor", "0")
                return "removed"
            mine = (hlc, self.device_id)
            keep = {"id", "village_code", *rt.natural_key}
            versions = {k: v for k, v in row["_versions"].items() if v != mine}
            values = {k: (None if not creates and k not in keep
                          and row["_versions"].get(k) == mine else v)
                      for k, v in _public(row).items()}
            deleted = row["_deleted"]
            if op == DELETE and row["_versions"].get(DELETED) == mine:
                deleted = False
            self._write_row(rt, values, versions, deleted=deleted, disputed=row["_disputed"])
            self._set_meta("cursor", "0")
            return "restored"

    def resend_after_restore(self, server: Mapping[tuple[str, str], Mapping[str, Version]],
                             epoch: str) -> tuple[int, list[tuple[str, str]]]:
        """After the county restored its server from a backup: queue again this device's own
        writes the server no longer has, and name the rows it no longer has that this device
        cannot send (others wrote them). One transaction, which also adopts ``epoch``.

        ``server`` holds, for every row the device pulled again from the start, the newest
        version of each field the server has (of its tombstone under ``_deleted``). A field
        whose version is this device's and newer than the server's goes out again, with its
        value and its own version (so nothing is doubled and every other device keeps the same
        version), based on what the server has. A row the server lacks goes out whole, at its
        oldest own version. Writes set aside are left as they are; writes still in the outbox
        move after the re-sent ones (new sequences, same content).
        Returns how many changes were queued, and the ``(type, id)`` of rows kept here that
        the server no longer has, or holds older values of, written by others (also kept in
        meta ``lost_on_server`` for the worker).
        """
        me = self.device_id
        drafts: list[tuple[int, int, RecordType, str, str, str, dict[str, Any],
                           dict[str, Version | None]]] = []
        lost: list[tuple[str, str]] = []
        with self.transaction():
            held = {int(h) for (h,) in self.conn.execute(
                "SELECT hlc FROM outbox UNION SELECT hlc FROM set_aside")}
            scope = set(self.villages())
            for order, rt in enumerate(RECORD_TYPES.values()):
                for row in self._select(rt, "1 = 1", ()):
                    if row["village_code"] not in scope:
                        continue  # not this device's to send any more, nor pulled again
                    versions = row["_versions"]
                    mine = {k: v for k, v in versions.items()
                            if v and v[1] == me and v[0] not in held}
                    known = server.get((rt.name, row["id"]))
                    if known is None:
                        if row["_deleted"]:
                            continue  # gone here and there: nothing to say
                        own = {k: v for k, v in mine.items() if k != DELETED}
                        if not own:
                            if not any(v and v[1] == me for v in versions.values()):
                                lost.append((rt.name, row["id"]))  # others wrote it all
                            continue  # else it waits in the outbox or is set aside
                        first = min(v[0] for v in own.values())
                        groups = _by_hlc(own)
                        groups[first] = set(own)  # the row's first change makes it whole
                        for hlc, names in groups.items():
                            drafts.append((hlc, order, rt, row["id"], row["village_code"],
                                           UPSERT, {k: row.get(k) for k in sorted(names)}, {}))
                        continue
                    newer = {k: v for k, v in mine.items()
                             if known.get(k) is None or v > known[k]}  # type: ignore[operator]
                    if any(v and v[1] != me and (known.get(k) is None or v > known[k])
                           for k, v in versions.items()):
                        # Values others wrote that the server lost: kept, and named.
                        lost.append((rt.name, row["id"]))
                    tombstone = newer.pop(DELETED, None)
                    if tombstone is not None and row["_deleted"]:
                        drafts.append((tombstone[0], order, rt, row["id"], row["village_code"],
                                       DELETE, {}, {**dict(known), DELETED: known.get(DELETED)}))
                    elif tombstone is not None:
                        newer[DELETED] = tombstone  # brought back here: say so again
                    for hlc, names in _by_hlc(newer).items():
                        fields = {k: (False if k == DELETED else row.get(k))
                                  for k in sorted(names)}
                        drafts.append((hlc, order, rt, row["id"], row["village_code"], UPSERT,
                                       fields, {k: known.get(k) for k in names}))
            drafts.sort(key=lambda d: (d[0], d[1]))
            # Writes still waiting go out after the re-sent ones, which came before them (a
            # waiting person may belong to a re-sent household). The restored server never
            # saw them: it learns nothing of this device before this recovery is done.
            cols = ("record_type, row_id, village_code, hlc, op, fields, base, created_at,"
                    " creates_row")
            waiting = self.conn.execute(f"SELECT {cols} FROM outbox ORDER BY seq").fetchall()
            self.conn.execute("DELETE FROM outbox")
            for hlc, _, rt, row_id, village, op, fields, base in drafts:
                self._append_outbox(rt, row_id, village, hlc, op, fields, base)
            self.conn.executemany(
                f"INSERT INTO outbox ({cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", waiting)
            self._set_meta("lost_on_server", json.dumps(lost))
            self._set_meta("epoch", epoch)
        return len(drafts), lost

    def newest_pending_hlc(self) -> int:
        """The largest timestamp among unacknowledged writes (0 when there are none)."""
        return int(self.conn.execute("SELECT coalesce(max(hlc), 0) FROM outbox").fetchone()[0])

    def restamp_outbox(self, reference_ms: int) -> int:
        """Give unacknowledged writes fresh timestamps from ``reference_ms`` (the server's clock).

        For a device whose clock ran far ahead: its pending writes carry future timestamps the
        server refuses, and its clock would never come back by itself. Nobody else has seen
        these writes, so re-stamping them (and the row versions and later bases that name them)
        changes nothing anyone relied on. Each write still comes after every version its base
        names (those of other devices, and this device's acknowledged writes): a field's
        version never goes back, or devices holding the replaced version would keep it (rule
        V6). Returns how many writes were re-stamped.
        """
        with self.transaction():
            rows = self.conn.execute("SELECT seq, hlc, base FROM outbox ORDER BY seq").fetchall()
            clock = HybridClock(0)
            me = self.device_id
            mapping: dict[int, int] = {}
            for _, hlc, base in rows:
                # Versions of earlier pending writes are re-stamped already, and lower.
                based_on = max((v[0] for v in json.loads(base).values()
                                if v and not (v[1] == me and v[0] in mapping)), default=0)
                mapping[hlc] = clock.receive(based_on, reference_ms)
            if not mapping:
                self._set_meta("hlc", str(HybridClock(0).tick(reference_ms)))
                return 0

            def remap(version: Any) -> Any:
                if version and version[1] == me and version[0] in mapping:
                    return [mapping[version[0]], me]
                return version

            self.conn.executemany(
                "UPDATE outbox SET hlc = ?, base = ? WHERE seq = ?",
                [(mapping[hlc], json.dumps({k: remap(v) for k, v in json.loads(base).items()}),
                  seq) for seq, hlc, base in rows])
            renamed: dict[Version, Version] = {}  # fields that shared a version still do

            def restamped(version: Version | None) -> Version | None:
                if version is None or version[1] != me or version[0] not in mapping:
                    return version
                return renamed.setdefault(version, (mapping[version[0]], me))

            self._remap_row_versions(me, restamped)
            self._set_meta("hlc", str(clock.last))
            return len(rows)

    def _has_pending(self) -> bool:
        return self.conn.execute("SELECT 1 FROM outbox LIMIT 1").fetchone() is not None

    def _pending_fields(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], set[str]]:
        """The fields with unpushed local changes, of the rows named by ``keys``."""
        pending: dict[tuple[str, str], set[str]] = {}
        ids = sorted({row_id for _, row_id in keys})
        for chunk in _chunks(ids, 500):
            marks = ", ".join("?" for _ in chunk)
            for rtype, row_id, op, fields in self.conn.execute(
                    f"SELECT record_type, row_id, op, fields FROM outbox WHERE row_id IN ({marks})",
                    chunk):
                names = pending.setdefault((rtype, row_id), set())
                if op == DELETE:
                    names.add(DELETED)
                names.update(self._open_outbox(fields))
        return pending

    def apply_pulled(self, entries: list[PulledEntry], cursor: int) -> int:
        """Apply one pulled page and store the new cursor, in one transaction.

        Returns the number of entries applied. Fields with unpushed local changes keep their
        local value and version, and a value or tombstone older than the one the device holds
        is skipped, unless the server holds it under review (see
        :func:`client_kit.engine.merge.apply_pulled`): a pull cut between pages never rolls the
        device back.
        """
        with self._without_fsync(), self.transaction():
            if entries:
                clock = HybridClock(int(self.meta("hlc", "0") or 0))
                # Versions compare by timestamp first: the newest of each entry, then of all.
                newest = max((max(e.versions.values(), default=(0, ""))[0] for e in entries))
                self._set_meta("hlc", str(clock.receive(newest, self.clock_ms())))
            pending = (self._pending_fields({(e.record_type, e.row_id) for e in entries})
                       if entries and self._has_pending() else {})
            by_type: dict[str, list[PulledEntry]] = {}
            for entry in entries:
                by_type.setdefault(entry.record_type, []).append(entry)
            for type_name, group in by_type.items():
                self._apply_group(record_type(type_name), group, pending)
            self._set_meta("cursor", str(cursor))
        return len(entries)

    @contextlib.contextmanager
    def _without_fsync(self) -> Iterator[None]:
        """Commit without waiting for the disk (``synchronous=NORMAL``), for pulled pages only.

        In WAL mode this loses no consistency: a power cut can only take back the last pages
        together with their cursor, and the device pulls them again. The next commit of the
        worker's own writes (``FULL``) syncs those pages too. See decision 0006.
        """
        if self._transactions.depth:
            yield
            return
        self.conn.execute("PRAGMA synchronous=NORMAL")
        try:
            yield
        finally:
            self.conn.execute("PRAGMA synchronous=FULL")

    def _apply_group(self, rt: RecordType, group: list[PulledEntry],
                     pending: dict[tuple[str, str], set[str]]) -> None:
        current: dict[str, dict[str, Any]] = {}
        ids = [e.row_id for e in group]
        for chunk in _chunks(sorted(set(ids)), 500):
            marks = ", ".join("?" for _ in chunk)
            for row in self._select(rt, f"id IN ({marks})", chunk):
                current[row["id"]] = row
        # Rows named once in this page can be written straight from their entry.
        once = len(set(ids)) == len(ids)
        codec = self.codec(rt)
        direct: list[tuple[Any, ...]] = []
        for entry in group:
            row = current.get(entry.row_id)
            local_pending = pending.get((rt.name, entry.row_id), set())
            if row is None and not local_pending:
                # A row this device never had, with nothing of its own pending: the entry is
                # the row (what the merge below would make of it, in one step).
                if once:
                    direct.append(self._row_values(
                        rt, codec.encode_entry(entry.row_id, entry.village, entry.fields),
                        entry.fields, _entry_versions_text(entry), entry.deleted,
                        entry.disputed))
                    continue
                versions = _entry_versions(entry)
                current[entry.row_id] = {"id": entry.row_id, "village_code": entry.village,
                                         **entry.fields, "_versions": versions,
                                         "_deleted": bool(entry.deleted),
                                         "_disputed": list(entry.disputed)}
                continue
            row = row or {"id": entry.row_id, "village_code": entry.village, "_versions": {},
                          "_deleted": False, "_disputed": []}
            # Values and tombstone older than the device's own are history it has moved past
            # (rules D3, D4); the row's disputed set always follows the log (D5).
            local_versions = row["_versions"]
            values, versions = apply_pulled(
                {k: v for k, v in row.items() if not k.startswith("_")}, local_versions,
                {"village_code": entry.village, **entry.fields}
                if "village_code" not in local_pending else entry.fields,
                entry.versions, local_pending, pulled_held(entry.fields, entry.disputed))
            if (entry.deleted is not None and DELETED not in local_pending
                    and pulled_tombstone_applies(entry.versions.get(DELETED),
                                                 local_versions.get(DELETED), entry.disputed)):
                row["_deleted"] = entry.deleted
                if DELETED in entry.versions:
                    versions[DELETED] = entry.versions[DELETED]
            current[entry.row_id] = {**values, "_versions": versions,
                                     "_deleted": row["_deleted"],
                                     "_disputed": list(entry.disputed)}
        if direct:
            self._upsert(rt, direct)
        self._write_rows(rt, [(r, r["_versions"], r["_deleted"], r["_disputed"])
                              for r in current.values()])


def _by_hlc(versions: Mapping[str, Version]) -> dict[int, set[str]]:
    """Field names grouped by the timestamp of their version."""
    groups: dict[int, set[str]] = {}
    for name, version in versions.items():
        groups.setdefault(version[0], set()).add(name)
    return groups


def _versions_text(versions: Mapping[str, Any]) -> str:
    """A row's ``_versions`` column: the versions it has (a field never written has none)."""
    return row_versions_json({k: v for k, v in versions.items() if v})


def _entry_versions(entry: PulledEntry) -> dict[str, Version]:
    """The versions a row that a pulled entry creates takes: those of the entry's fields, and
    of its tombstone when the entry sets one."""
    versions = {k: v for k, v in entry.versions.items() if k in entry.fields}
    if entry.deleted is not None and DELETED in entry.versions:
        versions[DELETED] = entry.versions[DELETED]
    return versions


def _entry_versions_text(entry: PulledEntry) -> str:
    """``_versions_text(_entry_versions(entry))``; for the usual entry, which came with one
    version pair for its fields (and tombstone), without building the versions again."""
    fields, one = entry.fields, entry.one_version
    if one is not None and DELETED not in fields:
        text = shared_row_versions_json(
            (*fields, DELETED) if entry.deleted is not None else tuple(fields), one)
        if text is not None:
            return text
    return _versions_text(_entry_versions(entry))


def _public(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _validation_details(err: ValidationError) -> dict[str, list[str]]:
    messages = err.messages if isinstance(err.messages, dict) else {"_schema": err.messages}
    return {str(k): [str(m) for m in (v if isinstance(v, list) else [v])]
            for k, v in messages.items()}


def _failed(err: ValidationError) -> ValidationFailed:
    """A schema refusal as the store reports it: one Chinese line, details per field."""
    details = _validation_details(err)
    return ValidationFailed("；".join(m for ms in details.values() for m in ms), details=details)


def _load_full(rt: RecordType, values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a whole row; every field of the type is present in the result."""
    try:
        loaded = rt.load_row(dict(values))
    except ValidationError as err:
        raise _failed(err) from None
    return {name: loaded.get(name) for name in ("id", "village_code", *rt.fields)}
