"""How every export writes one cell, in CSV and in XLSX: the one place that decides that text
stays text and numbers stay numbers. Every file the server hands out goes through it (the
report ledgers, and any future export: write rows with :func:`csv_bytes` or cells with
:func:`xlsx_cell`).

User-supplied strings (a household head's name, an address, a note, a village's name) reach
these files. A spreadsheet must show them, never run them:

- XLSX: a ``str`` is stored as a string cell, never a formula (openpyxl would store
  ``=HYPERLINK(…)`` as a live formula, and ``#N/A`` as an error); characters XML cannot hold
  are dropped instead of failing the whole file.
- CSV: a ``str`` a spreadsheet would read as a formula (it starts with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return) gets a leading apostrophe (OWASP's advice), so Excel shows
  it as text; a ``str`` of digits only (an ID number, a 12-digit village code, a number with a
  leading zero) is written ``="…"`` so Excel keeps every digit as text instead of
  ``5.22731E+17``.

``int`` and ``float`` values are numbers in both formats; ``None`` is an empty cell.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any, Iterable, Sequence

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.worksheet.worksheet import Worksheet

#: What a spreadsheet takes for the start of a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_DIGITS = re.compile(r"[0-9]+")

#: CSV files are UTF-8 with a byte-order mark: Excel on Chinese Windows opens the Chinese right
#: (without the mark it reads GBK), and nothing is lost for names GBK lacks.
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def csv_cell(value: Any) -> Any:
    """``value`` as a CSV field Excel opens as the ledger means it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    if _DIGITS.fullmatch(text):
        return f'="{text}"'  # only digits inside: the formula can do nothing but show them
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


def csv_bytes(rows: Iterable[Sequence[Any]]) -> bytes:
    """Rows as a CSV file: UTF-8 with a byte-order mark, CRLF, every field through
    :func:`csv_cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def csv_text(field: str) -> str:
    """A CSV field as :func:`csv_cell` wrote it, back to its text: ``="0012"`` is ``0012`` and
    ``'=1+1`` is ``=1+1`` (so a ledger the server exported can be read back in)."""
    if field.startswith('="') and field.endswith('"') and _DIGITS.fullmatch(field[2:-1]):
        return field[2:-1]
    if field.startswith("'") and field[1:].startswith(FORMULA_START):
        return field[1:]
    return field


def xlsx_cell(sheet: Worksheet, row: int, column: int, value: Any) -> Cell:
    """Write ``value`` into the cell at ``row``, ``column``: text as a string cell, numbers as
    numbers."""
    cell = sheet.cell(row, column)
    if isinstance(value, bool):
        value = "是" if value else "否"
    if value is None or isinstance(value, (int, float)):
        cell.value = value
        return cell
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))
    cell.value = text
    cell.data_type = "s"  # openpyxl guessed a formula or an error code from a leading = or #
    return cell
