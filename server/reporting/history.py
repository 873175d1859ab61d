"""Rows as they stood at an earlier time, rebuilt from the change log.

Every applied change is in ``change_log`` with the values it wrote and the server time it was
applied (``at``, UTC). A field's value at a moment is the one written by the last entry before
that moment that carried the field; the row's deletion likewise. One grouped scan finds it:
each entry's cursor, zero-padded, is prefixed to the value, so ``max`` picks the latest.
"""

from __future__ import annotations

import datetime as dt

#: The county's local time (China Standard Time) against the log's UTC timestamps.
LOCAL_OFFSET = dt.timedelta(hours=8)


def end_of_day(day: dt.date) -> str:
    """The log timestamp just after the local day ``day`` ends (compare with ``at <``)."""
    moment = dt.datetime.combine(day + dt.timedelta(days=1), dt.time()) - LOCAL_OFFSET
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def local_date(at_expr: str) -> str:
    """SQL for the local calendar date of a log timestamp."""
    return f"date({at_expr}, '+{int(LOCAL_OFFSET.total_seconds() // 3600)} hours')"


def _latest(field: str) -> str:
    # The log stores fields as compact JSON of plain values, and a quote inside a string is
    # escaped, so the text '"name":' appears only where the entry carries that field: cheaper
    # than asking the JSON parser.
    return (f"substr(max(CASE WHEN instr(fields, '\"{field}\":') > 0"
            f" THEN printf('%012d', cursor) || coalesce(json_extract(fields, '$.{field}'), '')"
            f" END), 13) AS {field}")


def state_at(record_type: str, fields: tuple[str, ...]) -> str:
    """SQL for the rows of ``record_type`` in ``:lo``–``:hi`` as they stood before ``:cutoff``:
    columns ``row_id``, the ``fields`` (as text; empty text for a cleared value) and
    ``deleted`` (``'1'`` for a deleted row)."""
    if not all(f.isidentifier() for f in (record_type, *fields)):
        raise ValueError("field names only")
    columns = ",\n       ".join(_latest(f) for f in fields)
    return f"""
SELECT row_id,
       {columns},
       substr(max(CASE WHEN deleted IS NOT NULL THEN printf('%012d', cursor) || deleted END), 13)
           AS deleted
FROM change_log
WHERE record_type = '{record_type}' AND village_code BETWEEN :lo AND :hi AND at < :cutoff
GROUP BY row_id"""
