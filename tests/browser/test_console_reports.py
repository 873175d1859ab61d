"""Policy reports in the console, in a real browser: pick a report, see its chart, download."""

from __future__ import annotations

from e2e.conftest import seed_village
from e2e.support import enrol

from .test_console import county, log_in, screenshot  # noqa: F401 - fixture

VILLAGE = "522731100201"


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
    page.select_option("select[name=kind]", "village")
    page.fill("input[name=code]", VILLAGE)
    page.click("button:has-text('查看')")
    page.wait_for_selector("figure.chart svg rect", state="attached")
    assert "就业规模" in page.content() or "就业" in page.inner_text("h2")
    screenshot(page, "reports", full_page=False)
    with page.expect_download() as download:
        page.click("text=下载 Excel 台账")
    assert download.value.suggested_filename.endswith(".xlsx")
