"""Rules spanning rows, as pure functions: 一人一岗 as the server checks it."""

from __future__ import annotations

from client_kit.domain.rules import clashing_posts


def _appointment(start, end, status="active", ended_on=None):
    return {"start_date": start, "end_date": end, "status": status, "ended_on": ended_on}


def test_overlapping_active_terms_clash_even_by_one_day():
    """Clause 十三 / 一人一岗一补贴: nobody holds two posts at once. Term A 2026-01-01..
    2026-12-31; B starting 2026-12-31 shares one day -> clash; B starting 2027-01-01 (a
    renewal) shares none -> no clash."""
    held = _appointment("2026-01-01", "2026-12-31")
    assert clashing_posts(_appointment("2026-12-31", "2027-12-30"), [held]) == [held]
    assert clashing_posts(_appointment("2027-01-01", "2027-12-31"), [held]) == []


def test_a_holder_who_left_no_longer_clashes_after_the_day_they_left():
    """A left on 2026-03-31 (ended): an appointment from 2026-04-01 is no clash; one from
    2026-03-31 would be, were A still active — an ended appointment never clashes."""
    left = _appointment("2026-01-01", "2026-12-31", status="ended", ended_on="2026-03-31")
    assert clashing_posts(_appointment("2026-04-01", "2027-03-31"), [left]) == []
    active_left = _appointment("2026-01-01", "2026-12-31", ended_on="2026-03-31")
    assert clashing_posts(_appointment("2026-04-01", "2027-03-31"), [active_left]) == []
    assert clashing_posts(_appointment("2026-03-31", "2027-03-30"), [active_left]) == [
        active_left]


def test_an_appointment_not_in_force_clashes_with_nothing():
    held = _appointment("2026-01-01", "2026-12-31")
    assert clashing_posts(_appointment("2026-02-01", "2027-01-31", status="ended",
                                       ended_on="2026-02-01"), [held]) == []
    assert clashing_posts({"status": "active", "start_date": "2026-02-01"}, [held]) == []
