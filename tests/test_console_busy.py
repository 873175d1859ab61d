"""The console under a database held by another writer: a Chinese page, 503, nothing saved."""

from __future__ import annotations

import re
import sqlite3

from server import create_app
from server.accounts import create_user
from server.db import app_storage

PASSWORD = "correct-horse-battery"


def test_a_console_write_while_the_database_is_locked_shows_server_busy(tmp_path):
    path = tmp_path / "server.sqlite"
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "STORAGE_URL": f"sqlite:///{path}",
                      "SQLITE_BUSY_TIMEOUT_MS": 100, "BUSY_RETRY_AFTER_S": 3})
    storage = app_storage(app)
    storage.upgrade()
    create_user(storage, "jiandu", "supervisor", ["522731"], PASSWORD)
    storage.close()
    client = app.test_client()
    form = client.get("/console/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        response = client.post("/console/login", data={"name": "jiandu", "password": PASSWORD,
                                                       "csrf_token": csrf[1]})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 503 and response.headers["Retry-After"] == "3"
    page = response.get_data(as_text=True)
    assert "服务器繁忙" in page and "没有保存任何改动" in page
    assert "database is locked" not in page
