"""A small fixture county for the report tests, written through the server's real sync path
(:meth:`SyncService.push` on SQLite storage), with the server receipt time of each write set
by the test so the change-log history reads as the test says."""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from client_kit.domain import record_type
from client_kit.domain.idcard import make_id_number
from client_kit.engine.changes import Change
from client_kit.engine.envelope import b64
from client_kit.engine.hlc import pack
from client_kit.field_cipher import FieldCipher
from server.reporting import load_policy, parse_params, parse_scope, run_report
from server.reporting.sql import reader
from server.storage import DeviceRecord, open_storage
from server.sync_service import SyncService

COUNTY = "522731"
TOWNSHIP_A, TOWNSHIP_B = "522731100", "522731200"
V1, V2, V3 = "522731100201", "522731100202", "522731200201"
VILLAGES = {V1: ("青山镇", "白岩村"), V2: ("青山镇", "龙井村"), V3: ("云雾乡", "高坡村")}
#: The server's data key: ID numbers are sealed at rest, as on a real server.
KEY = bytes(range(32))
DATA_KEY = b64(KEY)


class County:
    """Rows written as a team device would push them, at times the test chooses."""

    def __init__(self, tmp_path: Path) -> None:
        self.url = f"sqlite:///{tmp_path / 'county.sqlite'}"
        self.cipher = FieldCipher(KEY)
        self.storage = open_storage(self.url, self.cipher)
        self.storage.upgrade()
        self.device = DeviceRecord("dev-fixture", "team", sorted(VILLAGES), "2021-01-01T00:00:00Z")
        self.storage.add_device(self.device)
        self.service = SyncService(self.storage, max_ahead_ms=10**15)
        self.village_of: dict[str, str] = {}
        self.seq = itertools.count(1)
        self.ids = itertools.count(1)
        for code, (township, name) in VILLAGES.items():
            self.add("village", village_code=code, name=name, township=township,
                     county="长顺坝县")

    def close(self) -> None:
        self.storage.close()

    def _push(self, type_name: str, row_id: str, village: str, fields: dict[str, Any],
              base: dict[str, Any], at: str) -> None:
        seq = next(self.seq)
        device = self.storage.get_device(self.device.id)
        assert device is not None
        result = self.service.push(device, [Change(seq, type_name, row_id, village,
                                                   pack(10**12, seq), fields=fields, base=base)])
        # The server refuses a bad change alone now: a fixture write must never be one.
        assert not result.refused, result.refused
        self.storage.conn.execute(
            "UPDATE change_log SET at = ? WHERE cursor = (SELECT max(cursor) FROM change_log)",
            (at + "T04:00:00.000Z",))  # noon in China

    def add(self, type_name: str, *, at: str = "2024-01-02", **values: Any) -> str:
        rt = record_type(type_name)
        if "village_code" not in values:
            values["village_code"] = self.village_of[values[rt.parent[1]]]  # type: ignore[index]
        if rt.natural_key:
            row_id = rt.natural_row_id(values)
        else:
            row_id = str(uuid.UUID(int=next(self.ids), version=4))
        fields = {k: v for k, v in values.items() if v is not None}
        self._push(type_name, row_id, values["village_code"], fields,
                   {k: None for k in fields}, at)
        self.village_of[row_id] = values["village_code"]
        return row_id

    def update(self, type_name: str, row_id: str, *, at: str, **values: Any) -> None:
        stored = self.storage.load_rows(type_name, [row_id])[row_id]
        self._push(type_name, row_id, stored.village_code, values,
                   {k: stored.state.versions.get(k) for k in values}, at)

    def delete(self, type_name: str, row_id: str, *, at: str) -> None:
        stored = self.storage.load_rows(type_name, [row_id])[row_id]
        seq = next(self.seq)
        device = self.storage.get_device(self.device.id)
        assert device is not None
        result = self.service.push(device, [Change(seq, type_name, row_id, stored.village_code,
                                                   pack(10**12, seq), op="delete",
                                                   base=dict(stored.state.versions))])
        assert not result.refused, result.refused
        self.storage.conn.execute(
            "UPDATE change_log SET at = ? WHERE cursor = (SELECT max(cursor) FROM change_log)",
            (at + "T04:00:00.000Z",))

    # -- the county's people ---------------------------------------------------------------

    def household(self, village: str, head: str, categories: list[str] | None = None,
                  **values: Any) -> str:
        return self.add("household", village_code=village, head_name=head,
                        categories=categories or [], **values)

    def person(self, household: str, name: str, *, categories: list[str] | None = None,
               labour: str = "normal", born: dt.date = dt.date(1985, 1, 1),
               relation: str = "child") -> str:
        number = next(self.ids)
        return self.add("person", household_id=household, name=name,
                        id_number=make_id_number(COUNTY, born, number % 1000),
                        labour_capacity=labour, categories=categories or [], relation=relation)

    def employed(self, person: str, *, at: str = "2024-01-02", **values: Any) -> str:
        fields = {"status": "employed", "destination": "in_county", "work_kind": "wugong",
                  **values}
        if fields["destination"] == "out_province":
            fields.setdefault("province", "广东")
        return self.add("employment", person_id=person, at=at, **fields)

    def idle(self, person: str, *, at: str = "2024-01-02", reason: str = "willing",
             **values: Any) -> str:
        return self.add("employment", person_id=person, at=at, status="not_employed",
                        not_working_reason=reason, **values)

    def report(self, name: str, on: str, *, policy_file: Path | None = None,
               **scope_and_params: Any) -> Any:
        scope = parse_scope(*(scope_and_params.pop(k, None)
                              for k in ("village", "township", "county")))
        conn = reader(sqlite3.connect(self.url[len("sqlite:///"):], isolation_level=None))
        day, params = parse_params(name, {"on": on, **scope_and_params}, dt.date.today())
        try:
            return run_report(conn, name, scope, load_policy(policy_file), day, params,
                              self.cipher)
        finally:
            conn.close()


def names(table: Any) -> list[str]:
    return [row["name"] for row in table.rows]
