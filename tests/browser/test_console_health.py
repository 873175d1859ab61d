"""Sync health, enrolment codes and the console's doors, in headless Chromium against a real
server on 127.0.0.1: the code shown at the top after 发放 (at a desk and on a portrait tablet),
a cross-site form that must not sign the supervisor out, and the bare address.

Screenshots go to ``tests/browser/artifacts/`` (not committed) for a person to look at.
"""

from __future__ import annotations

import re
from typing import Iterator

import pytest

from e2e.conftest import VILLAGE_A
from e2e.support import LiveServer

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
