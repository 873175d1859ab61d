"""Sync health, enrolment codes and the console's doors, in headless Chromium against a real
server on 127.0.0.1: the code shown at the top after 发放 (at a desk and on a portrait tablet),
a cross-site form that must not sign the supervisor out, and the bare address.

Screenshots go to ``tests/browser/artifacts/`` (not committed) for a person to look at.
"""

from __future__ import annotations

import re
from typing import Iterator

import pytest

from e2e.conftest import VILLAGE_A, seed_village
from e2e.support import LiveServer, enrol
from server.accounts import add_device_record

from .conftest import ARTIFACTS
from .test_console import log_in, start

EVIL = "http://forms.example.net/"


@pytest.fixture
def county(tmp_path) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    server = start(tmp_path)
    yield server
    server.__exit__()


def test_a_cross_site_form_does_not_sign_the_supervisor_out(page, county):
    log_in(page, county)
    assert page.locator("header nav").is_visible()
    # Another site's page (served by the browser itself) posts a form to the console.
    page.route(EVIL, lambda route: route.fulfill(content_type="text/html; charset=utf-8", body=(
        f'<form method="post" action="{county.url}/console/logout">'
        '<button id="go">领取奖品</button></form>')))
    page.goto(EVIL)
    page.click("#go")
    page.wait_for_load_state()
    page.goto(county.url + "/console/devices")
    assert "/console/login" not in page.url
    assert "同步状况" in page.locator("h1").inner_text()


def test_the_bare_address_opens_the_console(page, county):
    page.goto(county.url + "/")
    assert "/console/login" in page.url
    assert page.locator("input[name=name]").is_visible()


@pytest.fixture
def busy_county(county, tmp_path) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """A county with a long device table: one tablet in use, twenty registered."""
    tablet = enrol(county, tmp_path, "a", [VILLAGE_A], user="team01")
    seed_village(tablet.store)
    tablet.sync()
    tablet.store.close()
    storage = county.storage()
    for n in range(20):
        add_device_record(storage, "team01", [VILLAGE_A], f"dev-{n:02d}")
    storage.close()
    yield county


def codes_issued(server: LiveServer) -> int:
    storage = server.storage()
    try:
        return len(storage.list_enrolment_codes())
    finally:
        storage.close()


@pytest.mark.parametrize("width,height", [(1280, 800), (800, 1280)])
def test_an_issued_code_and_the_command_to_type_are_at_the_top(chromium, busy_county,
                                                              width, height):
    context = chromium.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        log_in(page, busy_county, name="admin")
        page.click("header nav >> text=同步状况")
        before = codes_issued(busy_county)
        page.select_option("#code-user", "team01")
        page.select_option("#code-villages", [VILLAGE_A])
        page.click("button:has-text('发放')")
        page.wait_for_load_state()
        assert page.url == busy_county.url + "/console/devices"  # redirected: a GET
        code = page.locator("#issued-code").inner_text()
        assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)
        command = page.locator("#issued-command").inner_text()
        assert command == f"cunsync enroll --server {busy_county.url} --code {code}"
        # Seen without scrolling: the code and the command are inside the first screen.
        assert page.evaluate("window.scrollY") == 0
        for selector in ("#issued-code", "#issued-command"):
            box = page.locator(selector).bounding_box()
            assert box is not None and box["y"] + box["height"] <= height, (selector, box)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"issued-code-{width}x{height}.png"))
        # No horizontal scrolling on a portrait tablet.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        # Reloading issues nothing and shows the code no more.
        page.reload()
        assert codes_issued(busy_county) == before + 1
        assert page.locator("#issued-code").count() == 0
        assert page.locator(f"tr[data-code='{code[:4]}']").is_visible()
    finally:
        context.close()
