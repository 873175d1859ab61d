"""Chinese labels of stored codes, for the ledgers."""

from __future__ import annotations

import json
from typing import Any, Mapping


def label(choices: Mapping[str, str], code: Any) -> str:
    """The label of ``code`` (empty for none, the code itself when unknown)."""
    if code is None:
        return ""
    return choices.get(code, str(code))


def labels(choices: Mapping[str, str], stored: str | None) -> str:
    """Labels of a JSON code list as stored (``'["tuopin","dibao"]'``), joined with 、."""
    if not stored:
        return ""
    return "、".join(label(choices, code) for code in json.loads(stored))


def yes_no(flag: Any) -> str:
    return "是" if flag else "否"
