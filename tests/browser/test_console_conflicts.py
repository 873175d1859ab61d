"""The conflict page in headless Chromium, against a real server with three enrolled tablets:
candidates of a disputed field side by side, and a resolution that sets related fields together.

Screenshots at 1280×800 and 800×1280 go to ``tests/browser/artifacts/`` (not committed) for a
person to look at; ``CUNSYNC_SCREENSHOTS=1`` also refreshes the guide's pictures.
"""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

from e2e.conftest import VILLAGE_A, seed_village
from e2e.support import enrol

from .conftest import ARTIFACTS
from .test_console import county, log_in, screenshot, status_of  # noqa: F401  (a fixture)

SIZES = {"wide": (1280, 800), "portrait": (800, 1280)}


def shoot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """Both sizes of the page as it stands, into the artifacts folder."""
    ARTIFACTS.mkdir(exist_ok=True)
    for label, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(ARTIFACTS / f"conflicts-{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


@pytest.fixture
def reasons(county, tmp_path) -> Iterator[dict[str, Any]]:  # noqa: F811
    """Three tablets keep changing why 李秀英 does not work while it is under review."""
    devices = [enrol(county, tmp_path, name, [VILLAGE_A], user="team01") for name in "abc"]
    a, b, c = devices
    rows = seed_village(a.store)
    job = a.store.create("employment", {"person_id": rows["wife"]["id"],
                                        "status": "not_employed",
                                        "not_working_reason": "willing"})
    for device in devices:
        device.sync()
    a.store.update("employment", job["id"], {"not_working_reason": "unable"})
    b.store.update("employment", job["id"], {"not_working_reason": "studying"})
    a.sync(), b.sync(), c.sync()
    for device, reason in ((c, "unwilling"), (a, "willing")):
        time.sleep(0.002)
        device.store.update("employment", job["id"], {"not_working_reason": reason})
        device.sync()
    storage = county.storage()
    [opened] = storage.list_conflicts()
    storage.close()
    yield {"id": opened.id, "job": job["id"], "devices": devices}
    for device in devices:
        device.store.close()


def test_a_supervisor_picks_among_candidates_and_settles_related_fields_in_one_change(
        page, county, reasons):  # noqa: F811
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, county)
    assert page.locator("#total").inner_text() == "1"  # one disputed field, four writes
    row = page.locator(f"tr[data-conflict='{reasons['id']}']")
    assert "共 3 个候选值" in row.inner_text()
    row.locator("a").click()

    cards = page.locator(".side.incoming")
    assert cards.count() == 3
    values = [cards.nth(i).locator(".value").inner_text() for i in range(3)]
    assert values == ["有就业意愿未就业", "无就业意愿", "在校学生"]  # newest first
    a, b, c = reasons["devices"]
    assert a.device_id in cards.nth(0).inner_text() and "team01" in cards.nth(0).inner_text()
    assert c.device_id in cards.nth(1).inner_text() and b.device_id in cards.nth(2).inner_text()
    # Each card can be chosen; the choice is outlined.
    cards.nth(1).locator("label.pick").click()
    assert page.locator(".side.incoming.chosen .value").inner_text() == "无就业意愿"
    related = page.locator("#related")
    assert page.locator("#related-status").input_value() == "not_employed"
    assert "现值：未就业" in related.inner_text()
    shoot(page, "candidates")

    # To 已就业: the reason cleared, and the related fields set in the same step.
    page.check("input[name=action][value=corrected]")
    page.check("input[name=clear]")
    page.select_option("#related-status", "employed")
    page.fill("#related-start_date", "2026-11-01")
    page.fill("#comment", "入户核实：11月起在镇帮扶车间上班")
    page.click("button:has-text('确认处理')")
    destination = page.locator("#related .field.invalid", has=page.locator("#related-destination"))
    assert "就业地域：已就业时必填" in destination.inner_text()
    assert page.input_value("#related-start_date") == "2026-11-01"
    assert page.is_checked("input[name=clear]")
    assert status_of(county, reasons["id"]) == "open"
    shoot(page, "related-errors")
    screenshot(page, "related")

    page.select_option("#related-destination", "in_county")
    page.select_option("#related-work_kind", "workshop")
    page.click("button:has-text('确认处理')")
    flash = page.locator(".flash").inner_text()
    assert "已处理" in flash and "就业状态为“已就业”" in flash
    assert status_of(county, reasons["id"]) == "resolved"
    assert page.locator("#total").inner_text() == "0"
    shoot(page, "settled")

    for device in reasons["devices"]:
        device.sync()
        got = device.store.get("employment", reasons["job"], with_meta=True)
        assert (got["status"], got["not_working_reason"], got["work_kind"],
                got["_disputed"]) == ("employed", None, "workshop", [])
