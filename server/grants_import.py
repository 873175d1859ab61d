"""Import subsidies already granted (``subsidy_grant`` records) from a spreadsheet.

A county's payment ledgers list 身份证号, 姓名, 补贴类型, 发放金额, 发放日期 and 备注 (the header
row may sit under a title; CSV in UTF-8 or GBK, or XLSX). Each row is matched to a person by ID
number (and name, when given), checked by the record type's schema, and the whole file is
refused when any row is wrong. Grants already recorded with the same values are skipped; one
recorded with other values is an error, since nobody is paid the same subsidy twice. New grants
go through the sync service like a device's writes (from the device ``server-import``), so they
reach every team's devices.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marshmallow import ValidationError

from client_kit.domain import enums, record_type
from client_kit.engine.changes import Change
from client_kit.engine.hlc import pack
from client_kit.field_cipher import FieldCipher

from .reporting.cells import csv_text
from .reporting.sealed import id_number_opener
from .storage import AuditEntry, DeviceRecord, Storage
from .sync_service import SyncService, utc_now

IMPORT_DEVICE = "server-import"
HEADERS = {"身份证号": "id_number", "姓名": "name", "补贴类型": "kind", "发放金额": "amount",
           "金额": "amount", "发放日期": "granted_on", "备注": "note"}
REQUIRED = ("id_number", "kind", "amount", "granted_on")
KINDS = {**{label: code for code, label in enums.SUBSIDY_KIND.items()},
         **{code: code for code in enums.SUBSIDY_KIND}}


class GrantImportError(ValueError):
    """The file cannot be imported; ``problems`` lists each row's (nothing was written)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("；".join(problems[:20]))
        self.problems = problems


@dataclass
class ImportPlan:
    new: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0


def read_sheet(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, values by field) for each data row under the header row."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True)
        sheet = book.worksheets[0]
        raw = [list(r) for r in sheet.iter_rows(values_only=True)]
        book.close()
    elif path.suffix.lower() == ".csv":
        data = path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("gb18030")
        # Cells as the server's own exports write them (server/reporting/cells.py) read back.
        raw = [[csv_text(c) for c in r] for r in csv.reader(io.StringIO(text))]
    else:
        raise GrantImportError([f"不支持的文件类型 {path.suffix}（应为 .csv 或 .xlsx）"])
    for index, cells in enumerate(raw):
        names = [str(c).strip() if c is not None else "" for c in cells]
        if "身份证号" in names:
            keys = [HEADERS.get(n) for n in names]
            missing = [label for label, key in HEADERS.items()
                       if key in REQUIRED and key not in keys and label != "金额"]
            if missing:
                raise GrantImportError([f"表头缺少：{'、'.join(missing)}"])
            rows = []
            for number, values in enumerate(raw[index + 1:], index + 2):
                row = {k: v for k, v in zip(keys, values) if k and v not in (None, "")}
                if row:
                    rows.append((number, row))
            return rows
    raise GrantImportError(["找不到表头（应有“身份证号”“补贴类型”“发放金额”“发放日期”列）"])


def people_by_id_number(conn: sqlite3.Connection, cipher: FieldCipher | None
                        ) -> dict[str, list[tuple[str, str, str]]]:
    """Every live person as ``(id, village, name)`` by ID number.

    The server keeps ID numbers sealed, each bound to its row, so there is no index to search:
    every one is opened (about a second for a county of 100,000; an import is rare).
    """
    found: dict[str, list[tuple[str, str, str]]] = {}
    open_one = id_number_opener(cipher)
    for person_id, village, name, stored in conn.execute(
            "SELECT id, village_code, name, id_number FROM persons WHERE _deleted = 0"):
        found.setdefault(str(open_one(person_id, stored)), []).append((person_id, village, name))
    return found


def plan(conn: sqlite3.Connection, rows: list[tuple[int, dict[str, Any]]],
         cipher: FieldCipher | None = None) -> ImportPlan:
    """Check every row against the people and grants on the server; raise on any problem."""
    rt = record_type("subsidy_grant")
    problems: list[str] = []
    result = ImportPlan()
    seen: dict[tuple[str, str], int] = {}
    people = people_by_id_number(conn, cipher) if rows else {}
    for number, row in rows:
        where = f"第{number}行"
        id_number = str(row.get("id_number", "")).strip().upper()
        person = people.get(id_number, [])
        if len(person) != 1:
            problems.append(f"{where}：{'找不到' if not person else '有多人使用'}身份证号 {id_number}")
            continue
        person_id, village, name = person[0]
        if row.get("name") and str(row["name"]).strip() != name:
            problems.append(f"{where}：姓名 {row['name']} 与系统中该身份证号的姓名 {name} 不一致")
            continue
        kind = KINDS.get(str(row.get("kind", "")).strip())
        if kind is None:
            problems.append(f"{where}：补贴类型应为 {'、'.join(enums.SUBSIDY_KIND.values())}")
            continue
        granted_on = row.get("granted_on")
        if isinstance(granted_on, dt.datetime):
            granted_on = granted_on.date()
        values = {"village_code": village, "person_id": person_id, "kind": kind,
                  "amount": row.get("amount"), "granted_on": granted_on,
                  "note": str(row["note"]).strip() if row.get("note") else None}
        try:
            loaded = rt.schema.load({"id": rt.natural_row_id(values), **values})
        except ValidationError as err:
            messages = [m for ms in err.normalized_messages().values() for m in
                        (ms if isinstance(ms, list) else [ms])]
            problems.append(f"{where}：{'；'.join(map(str, messages))}")
            continue
        if (person_id, kind) in seen:
            problems.append(f"{where}：与第{seen[person_id, kind]}行重复（同一人同一补贴只发一次）")
            continue
        seen[person_id, kind] = number
        earlier = conn.execute(
            "SELECT amount, granted_on FROM subsidy_grants WHERE id = ? AND _deleted = 0",
            (loaded["id"],)).fetchone()
        if earlier is not None:
            if (float(earlier[0]), earlier[1]) == (float(loaded["amount"]),
                                                   loaded["granted_on"]):
                result.unchanged += 1
                continue
            problems.append(f"{where}：{name} 已于 {earlier[1]} 领取{enums.SUBSIDY_KIND[kind]}"
                            f" {earlier[0]} 元，不能重复发放")
            continue
        result.new.append(loaded)
    if problems:
        raise GrantImportError(problems)
    return result


def apply(storage: Storage, grants: list[dict[str, Any]], *, actor: str, source: str,
          now_ms: int | None = None) -> int:
    """Write new grants through the sync service; return how many."""
    if not grants:
        return 0
    now_ms = now_ms or time.time_ns() // 1_000_000
    villages = sorted({g["village_code"] for g in grants})
    with storage.atomic():
        device = storage.get_device(IMPORT_DEVICE)
        if device is None:
            device = DeviceRecord(IMPORT_DEVICE, actor, villages, utc_now())
            storage.add_device(device)
        elif not set(villages) <= set(device.villages):
            storage.update_device(IMPORT_DEVICE,
                                  villages=sorted(set(device.villages) | set(villages)))
            device = storage.get_device(IMPORT_DEVICE)
            assert device is not None
        changes = [
            Change(device.last_seq + i, "subsidy_grant", g["id"], g["village_code"],
                   pack(now_ms, i), fields={k: v for k, v in g.items()
                                            if k != "id" and v is not None},
                   base={k: None for k, v in g.items() if k != "id" and v is not None})
            for i, g in enumerate(grants, 1)]
        SyncService(storage).push(device, changes, app_version="grant-import")
        storage.append_audit(AuditEntry(utc_now(), actor, "grants.import", source,
                                        {"count": len(grants)}))
    return len(grants)
