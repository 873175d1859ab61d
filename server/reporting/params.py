"""The inputs every report takes (area, report day) and those only some take, checked once for
the API and the command line alike."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from client_kit.domain import enums


class ReportInputError(ValueError):
    """A parameter is malformed; the message says which and how (in Chinese)."""


@dataclass(frozen=True)
class Parameter:
    name: str
    help: str
    parse: Callable[[str], Any]
    example: str


def _day(name: str) -> Callable[[str], dt.date]:
    def parse(text: str) -> dt.date:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise ReportInputError(f"{name} 应为日期，如 2025-12-31") from None
    return parse


def _month(text: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise ReportInputError("month 应为年月，如 2025-11") from None


def _days(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 3660:
        raise ReportInputError("days 应为 1 到 3660 之间的整数")
    return int(text)


def _kind(text: str) -> str:
    if text not in enums.SUBSIDY_KIND:
        raise ReportInputError("kind 应为：" + "、".join(
            f"{code}（{name}）" for code, name in enums.SUBSIDY_KIND.items()))
    return text


ON = Parameter("on", "report day (default: today)", _day("on"), "2025-12-31")
#: The parameters each report takes besides the area and ``on``.
EXTRA: dict[str, tuple[Parameter, ...]] = {
    "household-coverage": (),
    "employment-scale": (Parameter("base", "earlier date to compare with (default: 31 Dec of "
                                   "the year before)", _day("base"), "2024-12-31"),),
    "subsidies": (Parameter("kind", "only one subsidy: " + ", ".join(enums.SUBSIDY_KIND),
                            _kind, "transport"),),
    "posts": (Parameter("month", "month of the days-on-post sheet (default: the report "
                        "day's)", _month, "2025-11"),),
    "training": (Parameter("start", "first day of sign-ins counted (default: 1 January)",
                           _day("start"), "2025-01-01"),
                 Parameter("end", "last day of sign-ins counted (default: the report day)",
                           _day("end"), "2025-12-31")),
    "early-warning": (Parameter("days", "look back this many days (default: the policy "
                                "file's)", _days, "30"),),
}


def parse_params(report: str, raw: Mapping[str, str | None],
                 today: dt.date) -> tuple[dt.date, dict[str, Any]]:
    """The report day and the report's own parameters from text values (absent ones skipped).

    Unknown names are refused, so a typo is not silently ignored.
    """
    known = {p.name: p for p in (ON, *EXTRA[report])}
    unknown = sorted(k for k, v in raw.items() if v is not None and k not in known)
    if unknown:
        raise ReportInputError(f"报表 {report} 没有参数 {unknown[0]}（可用："
                               f"{'、'.join(sorted(known))}）")
    values = {name: known[name].parse(text.strip()) for name, text in raw.items()
              if text is not None and text.strip()}
    on = values.pop("on", today)
    if report == "training" and values.get("start") and values.get("end") \
            and values["end"] < values["start"]:
        raise ReportInputError("end 不能早于 start")
    return on, values
