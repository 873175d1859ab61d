"""Domain rules that need more than one row, as pure functions over rows already looked up."""

from __future__ import annotations

from typing import Any, Iterable

from ..errors import RuleViolation


def check_one_person_one_post(appointment: dict[str, Any],
                              active_elsewhere: Iterable[dict[str, Any]]) -> None:
    """一人一岗: refuse an active appointment for a person who already holds an active post.

    ``active_elsewhere`` holds the person's other active appointments (not this one).
    """
    if appointment.get("status") != "active":
        return
    for other in active_elsewhere:
        raise RuleViolation(
            "一人一岗：该人员已在其他公益性岗位在岗（聘期"
            f"{other.get('start_date')}至{other.get('end_date')}），须先办理退岗才能再聘",
            details={"person_id": ["一人一岗：该人员已有在岗的公益性岗位"]},
        )


def check_day_in_session(signin: dict[str, Any], session: dict[str, Any] | None) -> None:
    """A training sign-in must fall within its session's dates."""
    if session is None:
        return
    if not session["start_date"] <= signin["day"] <= session["end_date"]:
        raise RuleViolation(
            f"签到日期不在培训班开班（{session['start_date']}）至结业（{session['end_date']}）期间",
            details={"day": ["签到日期：不在培训期间内"]},
        )


def _term(row: dict[str, Any]) -> tuple[str, str] | None:
    """An appointment's term as ISO dates: its start to the day the holder left, else the
    contract's end (``None`` when the row lacks the dates)."""
    start, last = row.get("start_date"), row.get("ended_on") or row.get("end_date")
    if not isinstance(start, str) or not isinstance(last, str):
        return None
    return start, last


def clashing_posts(appointment: dict[str, Any],
                   others: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """一人一岗 as the server checks it: the person's other active appointments whose term
    overlaps this active one's (an empty list when it breaks no rule).

    ``others`` are the person's other appointments (not this one, none deleted). Unlike the
    device's :func:`check_one_person_one_post`, which sees one device's rows, the server sees
    every device's: a renewal whose term starts after the old one ends is no clash.
    """
    if appointment.get("status") != "active":
        return []
    mine = _term(appointment)
    if mine is None:
        return []
    found = []
    for other in others:
        theirs = _term(other)
        if other.get("status") == "active" and theirs is not None \
                and mine[0] <= theirs[1] and theirs[0] <= mine[1]:
            found.append(other)
    return found
