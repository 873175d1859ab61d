"""`GET /healthz` and `GET /metrics` over a real server on 127.0.0.1."""

from __future__ import annotations

import json
import re
import sqlite3
import urllib.error
import urllib.request

import migrations
from client_kit.migrator import Migrator, load_migrations
from server import create_app

from .conftest import VILLAGE_A, seed_village
from .support import LiveServer, enrol, make_app


def get(url, headers=None):  # type: ignore[no-untyped-def]
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def sample(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_healthz_answers_ok_when_the_storage_answers_and_is_current(live_server):
    status, headers, body = get(live_server.url + "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert headers["Content-Type"] == "application/json"


def test_healthz_answers_503_on_a_database_at_an_older_migration(tmp_path):
    path = tmp_path / "old.sqlite"
    every = load_migrations(migrations.directory("server"))
    conn = sqlite3.connect(path)
    Migrator(conn, every).upgrade(target=every[-1].version - 1)
    conn.close()
    app = create_app({"TESTING": True, "STORAGE_URL": f"sqlite:///{path}", "SECRET_KEY": "t"})
    with LiveServer(app) as server:
        status, _, body = get(server.url + "/healthz")
        assert status == 503 and json.loads(body) == {"status": "migrations_pending"}
        conn = sqlite3.connect(path)  # the operator runs `cunsync-server db upgrade`
        Migrator(conn, every).upgrade()
        conn.close()
        assert get(server.url + "/healthz")[0] == 200


def test_healthz_answers_503_on_a_database_newer_than_the_code(tmp_path):
    app = make_app(tmp_path)
    conn = sqlite3.connect(tmp_path / "server.sqlite")
    conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'x', 'now')")
    conn.commit()
    conn.close()
    with LiveServer(app) as server:
        status, _, body = get(server.url + "/healthz")
    assert status == 503 and json.loads(body) == {"status": "schema_mismatch"}
    assert b"999" not in body and b"sqlite" not in body


def test_metrics_count_a_sync_in_prometheus_text_without_personal_data(live_server, tmp_path):
    before = get(live_server.url + "/metrics")[2].decode()
    device = enrol(live_server, tmp_path, "a", [VILLAGE_A])
    try:
        seeded = seed_village(device.store)
        summary = device.sync()
    finally:
        device.store.close()
    status, headers, body = get(live_server.url + "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=")
    text = body.decode()
    for name in ("cunsync_pushes_total", "cunsync_pulls_total"):
        assert sample(text, name) - sample(before, name) >= 1
    assert (sample(text, "cunsync_changes_applied_total")
            - sample(before, "cunsync_changes_applied_total")) == summary.sent
    assert 'cunsync_request_seconds_bucket{endpoint="sync.push",le="+Inf"}' in text
    assert "cunsync_conflicts_opened_total" in text and "cunsync_errors_total" in text
    secrets_of_the_village = [device.device_id, device.user, VILLAGE_A, "王大山", "李秀英",
                              seeded["head"]["id_number"], seeded["wife"]["id_number"],
                              seeded["household"]["id"], "jiandu"]
    assert [s for s in secrets_of_the_village if s in text] == []


def test_errors_are_counted_by_their_code(live_server):
    before = get(live_server.url + "/metrics")[2].decode()
    name = 'cunsync_errors_total{code="bad_envelope",status="400"}'
    request = urllib.request.Request(live_server.url + "/api/v1/sync/pull", data=b"junk",
                                     method="POST")
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as err:
        assert err.code == 400 and json.loads(err.read())["error"]["code"] == "bad_envelope"
    text = get(live_server.url + "/metrics")[2].decode()
    assert sample(text, name) - sample(before, name) == 1


def test_metrics_are_only_for_this_host_or_a_scraper_with_the_token(tmp_path):
    app = make_app(tmp_path, METRICS_TOKEN="s3cret-token")
    client = app.test_client()
    assert client.get("/metrics").status_code == 200  # loopback (the test client's address)
    outside = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert outside.status_code == 403 and outside.json["error"]["code"] == "forbidden"
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"})
    assert proxied.status_code == 403  # through the reverse proxy: from outside after all
    wrong = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"},
                       headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    scraper = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"},
                         headers={"Authorization": "Bearer s3cret-token"})
    assert scraper.status_code == 200 and b"cunsync_pushes_total" in scraper.data
