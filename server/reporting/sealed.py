"""Sensitive values in report rows: the server keeps ID numbers sealed at rest, so reports
select them as stored and open only the rows they print."""

from __future__ import annotations

from typing import Any

from client_kit.domain import record_type
from client_kit.field_cipher import FieldCipher, is_sealed
from client_kit.store import RowCodec

from .model import Report


def id_number_opener(cipher: FieldCipher | None) -> Any:
    """A function ``(person_id, stored) -> ID number`` that opens a sealed value the way the
    server storage does (its row codec), and passes a plain one through."""
    codec = RowCodec(record_type("person"), cipher) if cipher else None

    def open_one(person_id: str, stored: Any) -> Any:
        if not is_sealed(stored):
            return stored
        if codec is None:
            raise ValueError("sealed ID numbers need the server's data key")
        # Sealed values are bound to their table, field and row id (client_kit.store.RowCodec).
        return codec.from_column("id_number", stored, person_id)

    return open_one


def open_id_numbers(report: Report, cipher: FieldCipher | None) -> Report:
    """Open every sealed ``id_number`` of the report's rows (each row names its ``person_id``)."""
    open_one = id_number_opener(cipher)
    for table in report.tables:
        for row in table.rows:
            if "id_number" in row:
                row["id_number"] = open_one(row.get("person_id", ""), row["id_number"])
    return report


def mask_id_number(number: Any) -> Any:
    """An ID number as shown on screen: the region (6 digits) and the last four only, like
    the field app and the conflict pages (``522731********1234``)."""
    if not isinstance(number, str) or len(number) < 11:
        return number
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_id_numbers(report: Report) -> Report:
    """Mask every ``id_number`` of the report's rows (for the screen, or a reader not allowed
    full ID numbers; see docs/reports.md, *Who sees full ID numbers*)."""
    for table in report.tables:
        for row in table.rows:
            if "id_number" in row:
                row["id_number"] = mask_id_number(row["id_number"])
    return report
