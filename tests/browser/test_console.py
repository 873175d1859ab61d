"""The supervisors' console in headless Chromium, against a real server on 127.0.0.1 with
devices that enrol and sync over HTTP.

``CUNSYNC_SCREENSHOTS=1`` also refreshes the pictures in ``docs/images/console-*.png`` that
``docs/supervisor-guide.md`` shows.
"""

from __future__ import annotations

import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from client_kit.errors import SyncError
from e2e.conftest import VILLAGE_A, seed_village
from e2e.support import LiveServer, add_user, enrol, make_app

PASSWORD = "correct-horse"
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def screenshot(page, name: str, full_page: bool = True) -> None:  # type: ignore[no-untyped-def]
    if os.environ.get("CUNSYNC_SCREENSHOTS") == "1":
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / f"console-{name}.png"), full_page=full_page)


def start(tmp_path: Path, **config: Any) -> LiveServer:
    server = LiveServer(make_app(tmp_path, CONSOLE_MAX_FAILED_LOGINS=3, **config))
    server.__enter__()
    add_user(server, "jiandu", "supervisor", ["522731"])  # this county
    add_user(server, "qiandong", "supervisor", ["522732"])  # the next county
    add_user(server, "admin", "admin", [])
    add_user(server, "team01", "worker", [VILLAGE_A])
    storage = server.storage()
    storage.update_user("jiandu", display_name="县人社局 赵监督")
    storage.close()
    return server


@pytest.fixture
def county(tmp_path) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    server = start(tmp_path)
    yield server
    server.__exit__()


@pytest.fixture
def conflict(county, tmp_path) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Two enrolled tablets of one team record different monthly incomes offline."""
    a = enrol(county, tmp_path, "a", [VILLAGE_A], user="team01")
    b = enrol(county, tmp_path, "b", [VILLAGE_A], user="team01")
    rows = seed_village(a.store)
    a.sync(), b.sync()
    employment = rows["employment"]["id"]
    a.store.update("employment", employment, {"monthly_income": 4500})
    b.store.update("employment", employment, {"monthly_income": 3800})
    a.sync()
    assert b.sync().conflicts == 1
    storage = county.storage()
    [opened] = storage.list_conflicts()
    storage.close()
    yield {"id": opened.id, "a": a, "b": b, "employment": employment}
    a.store.close(), b.store.close()


def log_in(page, server: LiveServer, name: str = "jiandu",  # type: ignore[no-untyped-def]
           password: str = PASSWORD) -> None:
    page.goto(server.url + "/console/")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button:has-text('登录')")


def status_of(server: LiveServer, conflict_id: int) -> str:
    storage = server.storage()
    try:
        return storage.get_conflict(conflict_id).status  # type: ignore[union-attr]
    finally:
        storage.close()


def test_a_supervisor_logs_in_and_out(page, county):
    log_in(page, county)
    assert page.url.endswith("/console/conflicts")
    assert page.locator("header .user").inner_text().startswith("县人社局 赵监督")
    page.click("button:has-text('退出登录')")
    assert "/console/login" in page.url and page.locator("text=您已退出登录").is_visible()
    page.goto(county.url + "/console/conflicts")
    assert "/console/login" in page.url


def test_a_wrong_password_is_refused(page, county):
    log_in(page, county, password="wrong-horse")
    assert page.locator(".error").inner_text().startswith("用户名或密码错误")
    page.goto(county.url + "/console/conflicts")
    assert "/console/login" in page.url


def test_repeated_wrong_passwords_lock_the_account_even_against_the_right_one(page, county):
    for _ in range(3):
        log_in(page, county, password="wrong-horse")
    assert "已锁定" in page.locator(".error").inner_text()
    log_in(page, county)
    assert "已锁定" in page.locator(".error").inner_text()
    assert "/console/login" in page.url
    storage = county.storage()
    assert storage.get_login_failures("jiandu").locked_until
    storage.close()


def test_a_supervisor_settles_a_conflict_two_devices_made_and_a_device_receives_it(
        page, county, conflict):
    log_in(page, county)
    row = page.locator(f"tr[data-conflict='{conflict['id']}']")
    assert "月收入" in row.inner_text() and "王大山" in row.inner_text()
    assert page.locator("#total").inner_text() == "1"
    row.locator("a").click()

    # Base, current and incoming side by side, with who, when and which device.
    sides = [page.locator(f".side.{s} .value").inner_text()
             for s in ("base", "current", "incoming")]
    assert sides == ["4000 元", "4500 元", "3800 元"]
    assert conflict["a"].device_id in page.locator(".side.current").inner_text()
    assert conflict["b"].device_id in page.locator(".side.incoming").inner_text()
    assert "worker" not in page.locator(".side.incoming").inner_text()
    assert "team01" in page.locator(".side.incoming").inner_text()
    assert "王大山" in page.locator(".belongs").inner_text()

    # A value the schema refuses: the error is shown next to the field; nothing changes.
    page.check("input[name=action][value=corrected]")
    page.fill("#value", "-5")
    page.fill("#comment", "电话核实")
    page.click("button:has-text('确认处理')")
    assert "金额不能为负数" in page.locator("#corrected .field-error").inner_text()
    assert page.input_value("#comment") == "电话核实"
    assert status_of(county, conflict["id"]) == "open"
    screenshot(page, "conflict")

    page.fill("#value", "4100")
    page.fill("#comment", "电话联系户主核实，月收入为4100元")
    page.click("button:has-text('确认处理')")
    assert "已处理" in page.locator(".flash").inner_text()
    assert page.locator(f"tr[data-conflict='{conflict['id']}']").count() == 0
    assert status_of(county, conflict["id"]) == "resolved"

    a = conflict["a"]
    a.sync()
    row_a = a.store.get("employment", conflict["employment"], with_meta=True)
    assert row_a["monthly_income"] == 4100 and row_a["_disputed"] == []


def test_a_post_without_the_csrf_token_is_refused(page, county, conflict):
    log_in(page, county)
    url = f"{county.url}/console/conflicts/{conflict['id']}/resolve"
    form = {"action": "incoming", "comment": "别的网站伪造的请求"}
    # With the supervisor's session cookie but no token, as another site's form would.
    response = page.request.post(url, form=form, max_redirects=0)
    assert response.status == 400 and "表单已失效" in response.text()
    # Without the cookie either.
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(),
                                     method="POST")
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(request, timeout=10)
    refused.value.close()
    assert refused.value.code == 302 and "/console/login" in refused.value.headers["Location"]
    assert status_of(county, conflict["id"]) == "open"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_a_supervisor_of_another_county_does_not_see_the_conflict(page, county, conflict):
    log_in(page, county, name="qiandong")
    assert page.locator("tr[data-conflict]").count() == 0
    assert page.locator("#total").inner_text() == "0"
    response = page.goto(f"{county.url}/console/conflicts/{conflict['id']}")
    assert response.status == 404 and "4500" not in page.content()
    page.goto(county.url + "/console/devices")
    assert page.locator("tr[data-device]").count() == 0


def test_an_idle_session_expires(page, tmp_path):
    server = start(tmp_path, PERMANENT_SESSION_LIFETIME=2)
    try:
        log_in(page, server)
        assert page.url.endswith("/console/conflicts")
        time.sleep(3)
        page.goto(server.url + "/console/devices")
        assert "/console/login" in page.url
        assert "请先登录" in page.locator(".flash").inner_text()
    finally:
        server.__exit__()


def test_an_admin_watches_sync_health_issues_a_code_and_revokes_a_device(page, county,
                                                                         conflict):
    log_in(page, county, name="admin")
    page.click("nav >> text=同步状况")
    a, b = conflict["a"], conflict["b"]
    row_b = page.locator(f"tr[data-device='{b.device_id}']")
    assert "team01" in row_b.inner_text() and "正常" in row_b.inner_text()
    assert "白岩村" in row_b.inner_text()

    page.select_option("#code-user", "team01")
    page.select_option("#code-villages", [VILLAGE_A])
    page.fill("#code-hours", "24")
    page.click("button:has-text('发放')")
    code = page.locator("#issued-code").inner_text()
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)
    assert page.locator(f"tr[data-code='{code[:4]}']").is_visible()

    row_b = page.locator(f"tr[data-device='{b.device_id}']")
    row_b.locator("summary").click()
    row_b.locator("form[action$='/revoke'] input[name=confirm]").check()
    row_b.locator("button:has-text('停用')").first.click()
    assert "已停用" in page.locator(f"tr[data-device='{b.device_id}']").inner_text()
    with pytest.raises(SyncError) as refused:
        b.sync()
    assert refused.value.code == "device_revoked"
    a.sync()  # the other tablet carries on


def test_the_demo_county_in_the_console(page, tmp_path):
    """What README promises: the demo's supervisor finds the demo's conflicts."""
    from server.demo import build_demo

    with LiveServer(make_app(tmp_path)) as server:
        storage = server.storage()
        list(build_demo(storage, households=40))
        expected = sum(storage.count_conflicts().values())
        storage.close()
        log_in(page, server, "jiandu", "demo-password")
        assert int(page.locator("#total").inner_text()) == expected > 0
        assert page.locator("tr[data-conflict]").count() == min(expected, 50)
        screenshot(page, "queue", full_page=False)
        page.select_option("select[name=record_type]", "attendance")
        page.click("button:has-text('筛选')")
        assert 0 < page.locator("tr[data-conflict]").count() < expected
        assert all("岗位考勤" in text for text in
                   page.locator("tr[data-conflict] td:nth-child(4)").all_inner_texts())
        page.click("text=自动合并提示")
        assert page.locator("tr[data-conflict]").count() > 0
        page.check("input[data-check-all]")
        screenshot(page, "auto")
        page.click("button:has-text('将所选标为已阅')")
        assert "标为已阅" in page.locator(".flash").inner_text()
        assert page.locator("tr[data-conflict]").count() == 0
        page.click("button:has-text('退出登录')")
        log_in(page, server, "admin", "demo-password")
        page.goto(server.url + "/console/devices")
        assert page.locator("tr[data-device]").count() == 11
        screenshot(page, "devices")
