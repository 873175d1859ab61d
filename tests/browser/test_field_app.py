"""The field app in Debian's chromium, against a county server on 127.0.0.1.

A worker unlocks, records a visit that changes a member's employment, takes a roll call, signs
a trainee in (on two devices: one row after sync), syncs, and sees a supervisor's resolution
arrive. The screenshots of the worker guide (``docs/images/app-*.png``) are taken here: run
with ``CUNSYNC_DOC_IMAGES=1`` to write them there (otherwise they go to a temporary folder, so
that a test run leaves the work tree as it was).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from werkzeug.serving import make_server

from client_kit.app import create_app
from client_kit.domain.idcard import make_id_number
from e2e.conftest import VILLAGE_A, seed_village
from e2e.support import (PASSPHRASE, Device, LiveServer, ServedInThread, add_user, enrol,
                        make_app)

DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
TODAY = dt.date(2026, 11, 3)
SUPERVISOR = ("jiandu", "correct-horse")


class FieldApp(ServedInThread):
    """``cunsync app`` for one device, served by werkzeug in a thread on a free loopback port."""

    def __init__(self, device: Device, **config: Any) -> None:
        self.device = device
        self.app = create_app({"DB": str(device.path), "TODAY": lambda: TODAY, **config})
        self._start(make_server("127.0.0.1", 0, self.app, threaded=True))

    def __exit__(self, *exc: Any) -> None:
        self.app.extensions["cunsync_sync_job"].wait(30)
        super().__exit__(*exc)


@pytest.fixture
def county(tmp_path) -> Iterator[LiveServer]:
    with LiveServer(make_app(tmp_path)) as server:
        add_user(server, SUPERVISOR[0], "supervisor", ["522731"], password=SUPERVISOR[1])
        yield server


@pytest.fixture
def team(county, tmp_path) -> Iterator[dict[str, Any]]:
    """Two enrolled devices of the same village, both synced with the seeded records."""
    a = enrol(county, tmp_path, "a", [VILLAGE_A])
    rows = seed_village(a.store)
    zhang = a.store.create("household", {"village_code": VILLAGE_A, "head_name": "张小梅",
                                         "categories": ["jiance_bianyuan"]})
    rows["zhang"] = a.store.create("person", {
        "household_id": zhang["id"], "name": "张小梅", "relation": "head",
        "id_number": make_id_number("522731", dt.date(1990, 6, 1), 44),
        "labour_capacity": "normal"})
    a.store.create("employment", {"person_id": rows["zhang"]["id"], "status": "not_employed",
                                  "not_working_reason": "willing"})
    a.sync()
    b = enrol(county, tmp_path, "b", [VILLAGE_A])
    b.sync()
    yield {"a": a, "b": b, **rows}
    a.store.close()
    b.store.close()


@pytest.fixture
def field_app(team) -> Iterator[FieldApp]:
    with FieldApp(team["a"]) as app:
        yield app


def shot(page, name: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A screenshot for the worker guide (see the module docstring)."""
    folder = DOC_IMAGES if os.environ.get("CUNSYNC_DOC_IMAGES") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"app-{name}.png"), full_page=True)


def go(page, selector: str) -> None:  # type: ignore[no-untyped-def]
    """Click a link or a submit button and wait for the page it leads to."""
    with page.expect_navigation():
        page.click(selector)


def unlock(page, app: FieldApp, passphrase: str = PASSPHRASE) -> None:  # type: ignore[no-untyped-def]
    page.goto(app.url + "/")
    page.fill("input[name=passphrase]", passphrase)
    go(page, "button:has-text('解锁')")


def sync_in_the_app(page, app: FieldApp) -> str:  # type: ignore[no-untyped-def]
    """Press 立即同步 and wait for the outcome; return the message shown."""
    page.goto(app.url + "/sync")
    # Forget the outcome of an earlier sync shown on load, so that only this one's counts.
    page.eval_on_selector("#sync-state", "node => node.dataset.state = 'pressed'")
    page.click("#sync-button")
    page.wait_for_function(
        "['done', 'offline', 'failed'].includes("
        "document.getElementById('sync-state').dataset.state)", timeout=30_000)
    return str(page.inner_text("#sync-message"))


def supervisor_api(county: LiveServer, method: str, path: str,
                   body: Any = None) -> Any:
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(county.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    token = base64.b64encode(":".join(SUPERVISOR).encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_unlock_refuses_a_wrong_passphrase_then_shows_my_households(page, field_app, team,
                                                                   tmp_path):
    unlock(page, field_app, "不是这个口令")
    error = page.locator("[data-error-for=passphrase]")
    assert "口令错误" in error.inner_text()
    shot(page, "unlock", tmp_path)
    page.fill("input[name=passphrase]", PASSPHRASE)
    go(page, "button:has-text('解锁')")
    page.wait_for_selector("table.households")
    assert page.locator("tr[data-household]").count() == 2
    # 一户一人 at a glance: the household with labour and nobody employed stands out.
    highlighted = page.locator("tr.needs-job")
    assert highlighted.count() == 1 and "张小梅" in highlighted.inner_text()
    assert "1 户无人就业" in page.inner_text("#one-per-household")
    shot(page, "households", tmp_path)
    # A phone, or a tablet held upright: the list becomes cards, nothing is cut off.
    page.set_viewport_size({"width": 480, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= 480
    shot(page, "households-narrow", tmp_path)
    page.set_viewport_size({"width": 1024, "height": 768})
    # Search by a member's ID number goes through the blind index.
    page.fill("input[name=q]", team["wife"]["id_number"])
    go(page, "button:has-text('查找')")
    rows = page.locator("tr[data-household]")
    assert rows.count() == 1 and "王大山" in rows.inner_text()


def test_a_visit_records_a_status_change_with_errors_shown_next_to_the_fields(
        page, field_app, team, tmp_path):
    unlock(page, field_app)
    go(page, "a:has-text('王大山')")
    go(page, "a:has-text('记录走访')")
    wife = team["wife"]["id"]
    member = page.locator(f"fieldset[data-member='{wife}']")
    page.fill("input[name=visitors]", "王芳、刘强")
    page.fill("textarea[name=findings]", "李秀英想在村里的茶叶车间做工")
    page.fill("input[name=follow_up_due]", "2026-10-01")
    member.locator(f"select[name='emp-{wife}-status']").select_option("employed")
    # Only the boxes that fit the new status show.
    assert member.locator(f"select[name='emp-{wife}-destination']").is_visible()
    assert not member.locator(f"select[name='emp-{wife}-not_working_reason']").is_visible()
    assert not member.locator(f"select[name='emp-{wife}-province']").is_visible()
    go(page, "button:has-text('保存走访')")
    assert "跟进期限：不能早于走访日期" in page.inner_text("[data-error-for=follow_up_due]")
    assert "就业地域：已就业时必填" in member.locator(
        f"[data-error-for='emp-{wife}-destination']").inner_text()
    shot(page, "visit-errors", tmp_path)
    assert team["a"].store.query("visit") == []

    page.fill("input[name=follow_up_due]", "2026-11-20")
    member.locator(f"select[name='emp-{wife}-destination']").select_option("in_county")
    member.locator(f"select[name='emp-{wife}-work_kind']").select_option("workshop")
    member.locator(f"input[name='emp-{wife}-employer']").fill("白岩村茶叶帮扶车间")
    member.locator(f"input[name='emp-{wife}-monthly_income']").fill("2200")
    go(page, "button:has-text('保存走访')")
    assert "走访记录已保存" in page.inner_text(".flash.ok")
    row = page.locator(f"tr[data-person='{wife}']")
    assert "已就业 · 县内 · 就业帮扶车间 · 白岩村茶叶帮扶车间" in row.inner_text()
    assert "待同步" in row.inner_text()
    shot(page, "household", tmp_path)
    [visit] = team["a"].store.query("visit")
    assert visit["follow_up_due"] == "2026-11-20"
    job = team["a"].store.query("employment", person_id=wife)[0]
    assert (job["status"], job["status_since"]) == ("employed", "2026-11-03")


def test_a_roll_call_is_saved_at_once_and_again_without_doubling(page, field_app, team,
                                                                 tmp_path):
    unlock(page, field_app)
    go(page, "nav >> text=考勤点名")
    page.fill("input[name=day]", "2026-11-03")
    go(page, "button:has-text('打开点名表')")
    line = page.locator(f"tr[data-post='{team['post']['id']}']")
    assert "李秀英" in line.inner_text()
    line.locator("label.seg.on_post").click()
    go(page, "button:has-text('保存点名')")
    assert "考勤已保存：1 个岗位" in page.inner_text(".flash.ok")
    shot(page, "attendance", tmp_path)
    store = team["a"].store
    pending = store.pending_count()
    go(page, "button:has-text('保存点名')")
    assert "考勤已保存" in page.inner_text(".flash.ok")
    assert store.pending_count() == pending
    [mark] = store.query("attendance", post_id=team["post"]["id"])
    assert (mark["day"], mark["status"]) == ("2026-11-03", "on_post")


def test_a_trainee_signed_in_on_two_devices_is_one_row_after_sync(page, chromium, county,
                                                                  field_app, team, tmp_path):
    head = team["head"]["id"]

    def sign_in(tab, app: FieldApp) -> None:  # type: ignore[no-untyped-def]
        unlock(tab, app)
        go(tab, "nav >> text=培训签到")
        go(tab, "a:has-text('茶叶种植培训班')")
        assert tab.locator("select[name=day]").input_value() == "2026-11-03"
        tab.check(f"input[name=attended][value='{head}']")
        go(tab, "button:has-text('保存签到')")
        assert "新签到 1 人" in tab.inner_text(".flash.ok")

    sign_in(page, field_app)
    shot(page, "signin", tmp_path)
    # The second device, in a browser of its own (its cookies are its own).
    context = chromium.new_context(viewport={"width": 1024, "height": 768}, locale="zh-CN")
    try:
        with FieldApp(team["b"]) as second:
            tab = context.new_page()
            sign_in(tab, second)
            assert "同步完成：上传 1 条" in sync_in_the_app(tab, second)
    finally:
        context.close()
    assert "同步完成：上传 1 条" in sync_in_the_app(page, field_app)
    storage = county.storage()
    try:
        assert storage.count_rows("signin") == 1
    finally:
        storage.close()
    assert len(team["a"].store.query("signin")) == 1


def test_sync_shows_progress_and_a_summary_and_says_so_when_offline(page, team, county,
                                                                    tmp_path):
    with FieldApp(team["a"], SERVER_URL="http://127.0.0.1:9") as offline:
        unlock(page, offline)
        go(page, "nav >> text=考勤点名")
        page.fill("input[name=day]", "2026-11-04")
        go(page, "button:has-text('打开点名表')")
        page.locator("label.seg.leave").click()
        go(page, "button:has-text('保存点名')")
        pending = team["a"].store.pending_count()
        assert pending == 1
        message = sync_in_the_app(page, offline)
        assert "服务器没有应答" in message and "什么也没有丢" in message
        assert page.inner_text("#pending-count") == "1"
        shot(page, "sync-offline", tmp_path)
    assert team["a"].store.pending_count() == pending
    with FieldApp(team["a"]) as online:
        unlock(page, online)
        message = sync_in_the_app(page, online)
        assert message.startswith("同步完成：上传 1 条，") and "新冲突 0 条" in message
        assert page.locator("#sync-progress").get_attribute("value") == "100"
        assert page.inner_text("#pending-count") == "0"
        assert not page.locator("#nav-pending").is_visible()
        assert not page.locator("#pending-note").is_visible()
        shot(page, "sync", tmp_path)
    storage = county.storage()
    try:
        assert storage.count_rows("attendance") == 1
    finally:
        storage.close()


def test_a_supervisors_resolution_arrives_and_the_review_mark_goes(page, field_app, team,
                                                                   county, tmp_path):
    head, employment = team["head"]["id"], team["employment"]["id"]
    b = team["b"]
    b.store.update("employment", employment, {"monthly_income": 4500})
    b.sync()
    unlock(page, field_app)
    page.goto(f"{field_app.url}/households/{team['household']['id']}/visit")
    page.fill("input[name=visitors]", "王芳")
    page.fill(f"input[name='emp-{head}-monthly_income']", "3800")
    go(page, "button:has-text('保存走访')")
    assert "走访记录已保存" in page.inner_text(".flash.ok")
    assert "新冲突 1 条" in sync_in_the_app(page, field_app)
    page.goto(f"{field_app.url}/households/{team['household']['id']}")
    row = page.locator(f"tr[data-person='{head}']")
    assert "待审核" in row.inner_text() and "月收入：县里审核中" in row.inner_text()
    assert "月收入 4500 元" in row.inner_text()  # the county's value, while under review
    shot(page, "review", tmp_path)

    [conflict] = supervisor_api(county, "GET", "/api/v1/conflicts")["conflicts"]
    assert (conflict["current_value"], conflict["incoming_value"]) == (4500, 3800)
    supervisor_api(county, "POST", f"/api/v1/conflicts/{conflict['id']}/resolve",
                   {"action": "corrected", "value": 4100, "comment": "电话核实为4100元"})
    assert "下载 1 条" in sync_in_the_app(page, field_app)
    page.goto(f"{field_app.url}/households/{team['household']['id']}")
    row = page.locator(f"tr[data-person='{head}']")
    assert "月收入 4100 元" in row.inner_text() and "待审核" not in row.inner_text()
