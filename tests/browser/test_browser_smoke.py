"""The browser harness itself: Debian chromium opens a page served on 127.0.0.1."""

from e2e.support import LiveServer, make_app


def test_chromium_reads_the_servers_api_description(page, tmp_path):
    with LiveServer(make_app(tmp_path)) as server:
        page.goto(server.url + "/api/v1/openapi.json")
        assert "cunsync county server" in page.content()
