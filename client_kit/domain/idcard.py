"""The 18-character resident ID number (居民身份证号码, GB 11643-1999).

Six digits of administrative division, eight of birth date (YYYYMMDD), three of sequence (odd
for men, even for women) and one check character computed with ISO 7064 MOD 11-2.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from dataclasses import dataclass

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")  # ASCII only: \d also matches full-width digits


class IdNumberError(ValueError):
    """An ID number that is malformed, has a wrong check digit or an impossible birth date."""


@dataclass(frozen=True)
class IdNumber:
    """What an ID number tells: the normalised number, the birth date and the sex."""

    number: str
    birth_date: dt.date
    sex: str  # "male" or "female"


def check_character(first17: str) -> str:
    """The check character for the first 17 digits."""
    total = sum(map(operator.mul, map(int, first17), _WEIGHTS))
    return _CHECK[total % 11]


def parse_id_number(raw: str, today: dt.date | None = None) -> IdNumber:
    """Validate and decode an ID number; raise :class:`IdNumberError` with a Chinese message."""
    number = raw.strip().upper()
    if not _SHAPE.match(number):
        raise IdNumberError("应为18位：前17位数字，最后一位数字或X")
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise IdNumberError("第7至14位的出生日期不存在") from None
    if birth.year < 1900 or (today is not None and birth > today):
        raise IdNumberError("出生日期不合理")
    if check_character(number[:17]) != number[17]:
        raise IdNumberError("校验位不正确，请核对号码")
    return IdNumber(number, birth, "male" if int(number[16]) % 2 else "female")


def make_id_number(region: str, birth: dt.date, sequence: int) -> str:
    """Build a valid ID number (for demo data and tests): six-digit region, birth, sequence."""
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)
