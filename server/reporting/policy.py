"""Policy parameters: amounts, thresholds and effective dates, from configuration only.

The defaults are ``server/policy_defaults.toml`` (the provincial figures); a locality's file
(the ``POLICY_FILE`` setting) overrides them table by table. A rule applies only inside its
effective periods: :meth:`Rule.period_on` answers which period, if any, is in force on a day.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from client_kit.domain import enums

DEFAULTS_FILE = Path(__file__).resolve().parent.parent / "policy_defaults.toml"

_CODES = {
    "categories": enums.CATEGORIES,
    "work_kinds": enums.WORK_KIND,
    "destinations": enums.DESTINATION,
    "session_kinds": enums.TRAINING_KIND,
}
_COUNTS = ("min_months", "min_insurance_months")

#: Each rule's settings besides label and clause, and the amounts each of its periods carries.
RULE_SPECS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "transport": (("categories", "min_months"), ("amount",)),
    "job_seeking": (("categories",), ("in_province", "out_province")),
    "follow_up": (("categories", "min_insurance_months"), ("amount",)),
    "absorption": (("categories", "work_kinds", "destinations"), ("amount",)),
    "training_living": (("categories", "session_kinds"), ("per_day",)),
}


class PolicyError(ValueError):
    """The policy configuration is unusable (the message says which file and which value)."""


@dataclass(frozen=True)
class Period:
    """One stretch of time (both ends inclusive) during which a rule pays these amounts."""

    start: dt.date
    end: dt.date
    amounts: Mapping[str, float]

    def covers(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class Rule:
    """A subsidy rule: who qualifies (``settings``) and what it pays when (``periods``)."""

    name: str
    label: str
    clause: str
    settings: Mapping[str, Any]
    periods: tuple[Period, ...]

    def period_on(self, day: dt.date) -> Period | None:
        """The period in force on ``day`` (``None`` outside every period)."""
        return next((p for p in self.periods if p.covers(day)), None)

    @property
    def first_day(self) -> dt.date:
        return self.periods[0].start

    def describe_periods(self) -> str:
        return "；".join(f"{p.start}至{p.end}" for p in self.periods)


@dataclass(frozen=True)
class Policy:
    name: str
    effective_from: dt.date
    effective_to: dt.date
    rules: Mapping[str, Rule]
    early_warning_days: int
    sources: tuple[str, ...] = field(default=())

    def rule(self, name: str) -> Rule:
        return self.rules[name]

    #: The configuration key that extends the policy (named wherever its end is shown).
    END_KEY = "[policy] effective_to"

    def _spans(self) -> list[tuple[dt.date, dt.date]]:
        return [(self.effective_from, self.effective_to),
                *((p.start, p.end) for r in self.rules.values() for p in r.periods)]

    @property
    def last_day(self) -> dt.date:
        """The last day anything is in force: the policy's end or a rule period's, if later."""
        return max(end for _, end in self._spans())

    def in_force(self, day: dt.date) -> bool:
        """Whether ``day`` is inside the policy's period or one of a rule's periods."""
        return any(start <= day <= end for start, end in self._spans())

    def default_day(self, today: dt.date) -> dt.date:
        """The report day to offer: ``today`` when it is in force, else the last day in force
        before it (the first one, when the policy has not started yet)."""
        if self.in_force(today):
            return today
        before = [end for _, end in self._spans() if end < today]
        return max(before) if before else min(start for start, _ in self._spans())

    def end_notice(self, day: dt.date) -> dict[str, str] | None:
        """For a report day after the last day in force, what the report says at its top:
        the last day, the message and the configuration key that would extend it."""
        if day <= self.last_day:
            return None
        return {
            "last_day": self.last_day.isoformat(), "key": self.END_KEY,
            "message": (f"注意：统计日期 {day} 已超出政策执行期限（{self.effective_from}至"
                        f"{self.last_day}）。期满后各项一次性补贴和培训补贴不再产生新的享受人员，"
                        "本表中的补贴只含期限内已符合条件的人员。如本地政策延续，请在政策参数文件中"
                        f"修改 {self.END_KEY}（或各规则的 periods）后重新生成。")}

    def to_json(self) -> dict[str, Any]:
        """The parameters in force, as the API and ``policy show`` print them."""
        return {
            "name": self.name, "effective_from": self.effective_from.isoformat(),
            "effective_to": self.effective_to.isoformat(), "sources": list(self.sources),
            "early_warning": {"days": self.early_warning_days},
            "rules": {
                r.name: {"label": r.label, "clause": r.clause, **dict(r.settings),
                         "periods": [{"from": p.start.isoformat(), "to": p.end.isoformat(),
                                      **dict(p.amounts)} for p in r.periods]}
                for r in self.rules.values()},
        }


def load_policy(override: str | Path | None = None) -> Policy:
    """The defaults, overridden by the locality's file ``override`` when given."""
    data = _read(DEFAULTS_FILE)
    sources = [str(DEFAULTS_FILE)]
    if override:
        data = _merged(data, _read(Path(override)))
        sources.append(str(override))
    try:
        return _build(data, tuple(sources))
    except PolicyError as err:
        raise PolicyError(f"{' + '.join(sources)}: {err}") from None


def configured_policy(setting: str | None, instance_path: str) -> Policy:
    """The policy of a server whose ``POLICY_FILE`` setting is ``setting`` (a relative path is
    inside the instance folder; none means the defaults alone)."""
    if setting and not os.path.isabs(setting):
        setting = os.path.join(instance_path, setting)
    return load_policy(setting)


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as err:
        raise PolicyError(f"政策参数文件无法读取 {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise PolicyError(f"政策参数文件格式错误 {path}: {err}") from None


def _merged(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value (lists included) replaces the base's."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merged(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _day(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise PolicyError(f"{where} 应为日期（如 2025-12-31），而不是“{value}”")


def _unknown(found: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(found) - allowed)
    if extra:
        raise PolicyError(f"{where} 有未知的参数“{extra[0]}”（可用：{'、'.join(sorted(allowed))}）")


def _build(data: Mapping[str, Any], sources: tuple[str, ...]) -> Policy:
    _unknown(data, {"policy", "rules", "early_warning"}, "顶层")
    head = data.get("policy", {})
    _unknown(head, {"name", "effective_from", "effective_to"}, "[policy]")
    start = _day(head.get("effective_from"), "[policy] effective_from")
    end = _day(head.get("effective_to"), "[policy] effective_to")
    if end < start:
        raise PolicyError("[policy] effective_to 早于 effective_from")
    rules_data = data.get("rules", {})
    _unknown(rules_data, set(RULE_SPECS), "[rules]")
    rules = {}
    for name, (setting_keys, amount_keys) in RULE_SPECS.items():
        if name not in rules_data:
            raise PolicyError(f"缺少规则 [rules.{name}]")
        rules[name] = _rule(name, rules_data[name], setting_keys, amount_keys, start, end)
    warning = data.get("early_warning", {})
    _unknown(warning, {"days"}, "[early_warning]")
    days = warning.get("days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3660:
        raise PolicyError("[early_warning] days 应为 1 到 3660 之间的整数")
    return Policy(str(head.get("name", "")), start, end, rules, days, sources)


def _rule(name: str, raw: Mapping[str, Any], setting_keys: tuple[str, ...],
          amount_keys: tuple[str, ...], start: dt.date, end: dt.date) -> Rule:
    where = f"[rules.{name}]"
    _unknown(raw, {"label", "clause", "periods", *setting_keys}, where)
    settings: dict[str, Any] = {}
    for key in setting_keys:
        value = raw.get(key)
        if key in _CODES:
            if not isinstance(value, list) or not value or any(v not in _CODES[key]
                                                                for v in value):
                raise PolicyError(f"{where} {key} 应为非空列表，取值：{'、'.join(_CODES[key])}")
            settings[key] = tuple(value)
        elif key in _COUNTS:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 120:
                raise PolicyError(f"{where} {key} 应为 0 到 120 之间的整数")
            settings[key] = value
    periods_raw = raw.get("periods")
    if not isinstance(periods_raw, list) or not periods_raw:
        raise PolicyError(f"{where} periods 应为至少一个时段的列表")
    periods = []
    for i, item in enumerate(periods_raw, 1):
        at = f"{where} 第{i}个时段"
        if not isinstance(item, Mapping):
            raise PolicyError(f"{at} 应为表（如 {{ from = 2021-01-01, amount = 500 }}）")
        _unknown(item, {"from", "to", *amount_keys}, at)
        p_start = _day(item["from"], f"{at} from") if "from" in item else start
        p_end = _day(item["to"], f"{at} to") if "to" in item else end
        if p_end < p_start:
            raise PolicyError(f"{at} 结束日期早于开始日期")
        amounts = {}
        for key in amount_keys:
            value = item.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise PolicyError(f"{at} {key} 应为不小于 0 的金额")
            amounts[key] = value
        periods.append(Period(p_start, p_end, amounts))
    periods.sort(key=lambda p: p.start)
    for before, after in zip(periods, periods[1:]):
        if after.start <= before.end:
            raise PolicyError(f"{where} 的时段重叠（{before.start}至{before.end} 与 "
                              f"{after.start}至{after.end}）")
    return Rule(name, str(raw.get("label", name)), str(raw.get("clause", "")), settings,
                tuple(periods))
