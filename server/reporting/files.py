"""A computed report in the format asked for: JSON, a CSV ledger or an XLSX workbook."""

from __future__ import annotations

import json
from urllib.parse import quote

from .csv_export import MEDIA_TYPE as CSV_TYPE, to_csv
from .model import Report
from .xlsx_export import MEDIA_TYPE as XLSX_TYPE, to_xlsx

FORMATS = ("json", "csv", "xlsx")


def render(report: Report, fmt: str) -> tuple[bytes, str]:
    """The file's bytes and media type."""
    if fmt == "csv":
        return to_csv(report), CSV_TYPE
    if fmt == "xlsx":
        return to_xlsx(report), XLSX_TYPE
    if fmt == "json":
        text = json.dumps(report.to_json(), ensure_ascii=False, indent=1)
        return text.encode("utf-8"), "application/json"
    raise ValueError(f"unknown format {fmt!r}")


def file_name(report: Report, fmt: str) -> str:
    return f"{report.heading}_{report.on.isoformat()}.{fmt}"


def attachment(report: Report, fmt: str) -> str:
    """A Content-Disposition value that keeps the Chinese file name (RFC 6266)."""
    return (f"attachment; filename=\"{report.name}-{report.on.isoformat()}.{fmt}\"; "
            f"filename*=UTF-8''{quote(file_name(report, fmt))}")
