"""Policy reports in the console, in a real browser: pick a report and an area from the list,
see its chart, download; the demo county's subsidies on a landscape screen and a portrait tablet.

Screenshots of each layout are saved under ``tests/browser/artifacts/`` (not committed)."""

from __future__ import annotations

import io
import re
from typing import Iterator

import pytest
from openpyxl import load_workbook

from e2e.conftest import seed_village
from e2e.support import LiveServer, enrol, make_app

from .conftest import ARTIFACTS
from .test_console import county, log_in, screenshot  # noqa: F401 - fixture

VILLAGE = "522731100201"
FULL_ID = re.compile(r"(?<![\d*])\d{17}[\dX](?![\d*])")
MASKED_ID = re.compile(r"\d{6}\*{8}\d{3}[\dX]")


def test_a_supervisor_reads_a_report_with_its_chart_and_downloads_the_ledger(page, county,  # noqa: F811
                                                                           tmp_path):
    device = enrol(county, tmp_path, "a", [VILLAGE], user="team01")
    seed_village(device.store)
    device.sync()
    device.store.close()
    log_in(page, county)
    page.wait_for_url("**/console/conflicts**")
    page.click("text=政策报表")
    page.select_option("select[name=name]", "employment-scale")
    page.select_option("select[name=area]", f"village:{VILLAGE}")
    page.click("button:has-text('查看')")
    page.wait_for_selector("figure.chart svg rect", state="attached")
    assert "就业规模" in page.content() or "就业" in page.inner_text("h2")
    with page.expect_download() as download:
        page.click("text=下载 Excel 台账")
    assert download.value.suggested_filename.endswith(".xlsx")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[LiveServer]:
    """The demo county as `cunsync-server demo` makes it (300 households)."""
    from server.demo import build_demo

    with LiveServer(make_app(tmp_path_factory.mktemp("demo"))) as server:
        storage = server.storage()
        list(build_demo(storage))
        storage.close()
        yield server


def open_subsidies(page, demo: LiveServer, area_label: str) -> None:  # type: ignore[no-untyped-def]
    log_in(page, demo, "jiandu", "demo-password")
    page.wait_for_url("**/console/conflicts**")
    page.click("text=政策报表")
    page.select_option("select[name=name]", "subsidies")
    page.select_option("select[name=area]", label=area_label)
    page.click("button:has-text('查看')")
    page.wait_for_selector("h2")


def test_the_area_is_picked_by_name_from_the_countys_townships_and_villages(page, demo):
    open_subsidies(page, demo, "青山镇 白岩村")
    options = page.locator("select[name=area] option").all_inner_texts()
    assert options[0] == "长顺坝县（全县）"
    assert {"青山镇（全乡镇）", "河坝镇（全乡镇）", "云雾乡（全乡镇）", "青山镇 白岩村",
            "云雾乡 茶园村"} <= set(options)
    assert page.locator("input[name=code]").count() == 0  # no code to type
    assert "白岩村" in page.inner_text("h2")
    assert page.locator("select[name=area]").input_value() == "village:522731100201"
    page.select_option("select[name=name]", "household-coverage")
    page.select_option("select[name=area]", label="长顺坝县（全县）")
    page.click("button:has-text('查看')")
    page.wait_for_selector("figure.chart svg rect", state="attached")
    screenshot(page, "reports", full_page=False)  # docs/supervisor-guide.md


def test_id_numbers_are_masked_on_screen_and_full_in_the_download(page, demo):
    open_subsidies(page, demo, "长顺坝县（全县）")
    text = page.inner_text("main")
    assert MASKED_ID.search(text) and not FULL_ID.search(text)
    with page.expect_download() as download:
        page.click("text=下载 Excel 台账")
    with open(download.value.path(), "rb") as saved:
        book = load_workbook(io.BytesIO(saved.read()))
    cells = [str(c) for sheet in book for row in sheet.iter_rows(values_only=True) for c in row
             if c is not None]
    assert any(FULL_ID.fullmatch(c) for c in cells)
    assert not any(MASKED_ID.search(c) for c in cells)


@pytest.mark.parametrize("width,height", [(1280, 800), (800, 1280)])
def test_the_subsidies_page_fits_the_screen(chromium, demo, width, height):
    context = chromium.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        open_subsidies(page, demo, "长顺坝县（全县）")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"reports-subsidies-{width}x{height}.png"),
                        full_page=True)
        page.screenshot(path=str(ARTIFACTS / f"reports-subsidies-{width}x{height}-top.png"))
        sizes = page.evaluate("""() => ({
            scroll: document.documentElement.scrollWidth, view: window.innerWidth,
            height: document.documentElement.scrollHeight})""")
        assert sizes["scroll"] <= sizes["view"], sizes  # no sideways scroll of the page
        assert sizes["height"] < 6000, sizes  # 54,000 px before
        # Names stay on one line: no cell is taller than two lines of text.
        tallest = page.evaluate("""() => Math.max(...Array.from(
            document.querySelectorAll('table td'), td => td.getBoundingClientRect().height))""")
        assert tallest < 60, tallest
    finally:
        context.close()


@pytest.mark.parametrize("width,height", [(1280, 800), (800, 1280)])
def test_a_report_after_the_policy_end_shows_the_banner_on_top(chromium, demo, width, height):
    """The provincial text ends 2025-12-31: a report for 2026-03-01 opens with the banner, in
    view without scrolling, naming the key that would extend it."""
    context = chromium.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        open_subsidies(page, demo, "长顺坝县（全县）")
        page.fill("input[name=on]", "2026-03-01")
        page.click("button:has-text('查看')")
        banner = page.locator(".policy-end")
        banner.wait_for()
        assert "已超出政策执行期限" in banner.inner_text()
        assert "[policy] effective_to" in banner.inner_text()
        box = banner.bounding_box()
        assert box is not None and box["y"] + box["height"] <= height  # seen on opening
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"reports-policy-end-{width}x{height}.png"))
        sizes = page.evaluate("""() => ({scroll: document.documentElement.scrollWidth,
                                          view: window.innerWidth})""")
        assert sizes["scroll"] <= sizes["view"], sizes
    finally:
        context.close()
