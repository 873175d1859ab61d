"""The server application itself: what its bare address answers."""

from __future__ import annotations

import pytest

from server import create_app

BROWSER_ACCEPT = ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
                  "image/webp,*/*;q=0.8")


@pytest.fixture
def client(tmp_path):  # type: ignore[no-untyped-def]
    app = create_app({"TESTING": True, "SECRET_KEY": "test",
                      "STORAGE_URL": f"sqlite:///{tmp_path / 'server.sqlite'}"})
    return app.test_client()


def test_a_browser_at_the_bare_address_is_sent_to_the_console(client):
    response = client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 302
    assert response.location.startswith("/console/")
    assert "Accept" in response.headers["Vary"]
    landed = client.get("/", headers={"Accept": BROWSER_ACCEPT}, follow_redirects=True)
    assert landed.status_code == 200 and "登录" in landed.text


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_a_program_at_the_bare_address_gets_json(client, accept):
    headers = {"Accept": accept} if accept else {}
    response = client.get("/", headers=headers)
    assert response.status_code == 200
    assert response.json == {"service": "cunsync", "api": "/api/v1/openapi.json",
                             "console": "/console/"}
    assert "Accept" in response.headers["Vary"]
