"""marshmallow fields of the domain, loading to plain JSON-ready values, failing in Chinese.

Every field takes a Chinese ``label`` (used in every error message, so a worker knows which box
is wrong), a conflict ``policy`` (``lww`` or ``review``, default ``review``) and whether it is
``sensitive`` (encrypted at rest). Loaded values are primitives (ISO date strings, numbers,
strings, lists of codes) so they go to SQLite and onto the wire as they are.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from marshmallow import ValidationError, fields, missing

from .idcard import IdNumberError, parse_id_number

_VILLAGE_CODE = re.compile(r"^[0-9]{12}$")  # ASCII only: \d also matches full-width digits
#: First two digits of the administrative division codes of provinces (GB/T 2260).
_PROVINCES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82",
})
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class DomainField(fields.Field):
    """Base of the domain fields: label, policy and sensitivity, Chinese messages."""

    #: Stored as JSON text in SQLite (lists).
    json_column = False

    def __init__(self, label: str, *, policy: str = "review", sensitive: bool = False,
                 required: bool = False, allow_none: bool | None = None, **kwargs: Any) -> None:
        messages = {
            "required": f"{label}：必填",
            "null": f"{label}：不能为空",
            "invalid": f"{label}：格式不正确",
            "validator_failed": f"{label}：取值无效",
        }
        messages.update(kwargs.pop("error_messages", {}))
        super().__init__(
            required=required,
            allow_none=(not required) if allow_none is None else allow_none,
            error_messages=messages,
            metadata={"label": label, "policy": policy, "sensitive": sensitive},
            **kwargs,
        )
        self.label = label

    def deserialize(self, value: Any, attr: str | None = None,
                    data: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """marshmallow's ``deserialize``, minus its hooks when the field has none.

        Domain fields carry no validators or pre/post-load functions; then the only steps
        left are the required and null checks, the default and ``_deserialize``. This runs
        for every field of every pushed row.
        """
        if self.validators or self.pre_load or self.post_load:
            return super().deserialize(value, attr, data, **kwargs)
        if value is missing:
            if self.required:
                raise self.make_error("required")
            default = self.load_default
            return default() if callable(default) else default
        if value is None:
            if self.allow_none:
                return None
            raise self.make_error("null")
        return self._deserialize(value, attr, data, **kwargs)

    def fail(self, problem: str) -> ValidationError:
        """A validation error whose message names the field."""
        return ValidationError(f"{self.label}：{problem}")

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class Text(DomainField):
    """Free text, stripped; ``max_length`` characters at most."""

    def __init__(self, label: str, *, max_length: int = 200, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.max_length = max_length

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.fail("应为文字")
        text = value.strip()
        if self.required and not text:
            raise self.fail("不能为空")
        if len(text) > self.max_length:
            raise self.fail(f"不能超过{self.max_length}个字")
        return text


class Code(DomainField):
    """One code out of an enumeration (``choices`` maps codes to Chinese labels)."""

    def __init__(self, label: str, choices: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.choices = dict(choices)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        if not isinstance(value, str) or value not in self.choices:
            allowed = "、".join(f"{label}({code})" for code, label in self.choices.items())
            raise self.fail(f"取值应为：{allowed}")
        return str(value)


class Choice(DomainField):
    """One value out of a fixed list of strings (such as province names)."""

    def __init__(self, label: str, choices: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.choices = choices

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise self.fail("不在可选范围内")
        return str(value)


class CodeList(DomainField):
    """A set of codes, stored sorted and without repeats."""

    json_column = True

    def __init__(self, label: str, choices: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.choices = dict(choices)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> list[str]:
        if not isinstance(value, (list, tuple)):
            raise self.fail("应为列表")
        unknown = [v for v in value if not isinstance(v, str) or v not in self.choices]
        if unknown:
            raise self.fail(f"未知的类别 {unknown[0]!r}")
        return sorted(set(value))


class Day(DomainField):
    """A calendar date, loaded to its ISO string ``YYYY-MM-DD``."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value.isoformat()
        if not isinstance(value, str):
            raise self.fail("应为日期，如 2026-03-01")
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise self.fail("日期不正确，应为 年-月-日，如 2026-03-01") from None


class Money(DomainField):
    """An amount in yuan: not negative, at most two decimals."""

    def __init__(self, label: str, *, maximum: int = 10_000_000, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.maximum = maximum

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> int | float:
        if isinstance(value, bool):
            raise self.fail("应为金额数字")
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            raise self.fail("应为金额数字") from None
        if not amount.is_finite():
            raise self.fail("应为金额数字")
        if amount < 0:
            raise self.fail("金额不能为负数")
        if amount > self.maximum:
            raise self.fail(f"金额不能超过{self.maximum}元")
        if amount != amount.quantize(Decimal("0.01")):
            raise self.fail("金额最多保留两位小数")
        return int(amount) if amount == amount.to_integral_value() else float(amount)


class Count(DomainField):
    """A whole number between ``minimum`` and ``maximum``."""

    def __init__(self, label: str, *, minimum: int = 0, maximum: int = 10_000,
                 **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.minimum, self.maximum = minimum, maximum

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise self.fail("应为整数")
        try:
            number = int(value)
        except ValueError:
            raise self.fail("应为整数") from None
        if not self.minimum <= number <= self.maximum:
            raise self.fail(f"应在{self.minimum}到{self.maximum}之间")
        return number


class Flag(DomainField):
    """Yes or no."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail("应为是或否")
        return value


class IdNo(DomainField):
    """A resident ID number with a correct GB 11643 check character."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.fail("应为18位号码")
        try:
            return parse_id_number(value, today=dt.date.today()).number
        except IdNumberError as err:
            raise self.fail(str(err)) from None


class VillageCode(DomainField):
    """A 12-digit administrative division code of a village (村级区划代码)."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        if not isinstance(value, str) or not _VILLAGE_CODE.fullmatch(value):
            raise self.fail("应为12位数字的村级区划代码")
        if value[:2] not in _PROVINCES:
            raise self.fail("前两位不是有效的省级代码")
        if value[6:9] == "000" or value[9:] == "000":
            raise self.fail("应为村（社区）级代码，乡镇和村的部分不能为000")
        return value


class Ref(DomainField):
    """The id of another row (a UUID string)."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        if not isinstance(value, str) or not _UUID.fullmatch(value):
            raise self.fail("应为记录编号（UUID）")
        return value
