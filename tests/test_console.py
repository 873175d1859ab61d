"""The supervisors' console through Flask's test client: sessions, CSRF, the lock, scope, the
conflict queue and page, settling, and device administration. (In a real browser:
``tests/browser/test_console.py``.)"""

from __future__ import annotations

import base64
import datetime as dt
import re
import zlib
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from client_kit.store import DeviceStore
from e2e.conftest import VILLAGE_A, seed_village
from server import create_app
from server.accounts import add_device_record, create_user
from server.console import lockout
from server.db import app_storage
from server.storage import DeviceRecord, Storage
from server.sync_service import SyncService

PASSWORD = "correct-horse"


@pytest.fixture
def app(tmp_path):  # type: ignore[no-untyped-def]
    app = create_app({"TESTING": True, "SECRET_KEY": "test",
                      "STORAGE_URL": f"sqlite:///{tmp_path / 'server.sqlite'}",
                      "CONSOLE_MAX_FAILED_LOGINS": 3})
    storage = app_storage(app)
    storage.upgrade()
    create_user(storage, "jiandu", "supervisor", ["522731"], PASSWORD, display_name="赵监督")
    create_user(storage, "qiandong", "supervisor", ["522732"], PASSWORD)
    create_user(storage, "admin", "admin", [], PASSWORD)
    create_user(storage, "team01", "worker", [VILLAGE_A], PASSWORD, display_name="白岩村工作队")
    storage.close()
    return app


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def storage(app) -> Iterator[Storage]:  # type: ignore[no-untyped-def]
    backend = app_storage(app)
    yield backend
    backend.close()


class Team:
    """Two tablets of one team, syncing in-process through the server's sync service."""

    def __init__(self, storage: Storage, tmp_path: Path) -> None:
        self.service = SyncService(storage)
        self.devices: list[tuple[DeviceStore, DeviceRecord]] = []
        for name in ("a", "b"):
            record = add_device_record(storage, "team01", [VILLAGE_A], f"dev-{name}")
            store = DeviceStore.open(tmp_path / f"{name}.sqlite", device_id=record.id)
            self.devices.append((store, record))

    def sync(self, index: int) -> None:
        store, record = self.devices[index]
        while changes := store.pending(limit=1000):
            result = self.service.push(record, changes, app_version="0.1.0", schema_version=1)
            store.acknowledge(result.acked_through)
        cursor = int(store.meta("cursor", "0") or 0)
        while True:
            page = self.service.pull(record, cursor, 1000)
            store.apply_pulled(page.entries, page.cursor)
            cursor = page.cursor
            if not page.more:
                break

    def close(self) -> None:
        for store, _ in self.devices:
            store.close()


@pytest.fixture
def conflicts(storage, tmp_path) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """An open conflict on a monthly income (4000 → 4500 on a, 3800 on b) and an informational
    one on a household note; ``ids`` maps ``open``/``auto`` to the conflict ids."""
    team = Team(storage, tmp_path)
    (a, _), (b, _) = team.devices
    rows = seed_village(a)
    team.sync(0), team.sync(1)
    employment_id, household_id = rows["employment"]["id"], rows["household"]["id"]
    a.update("employment", employment_id, {"monthly_income": 4500})
    b.update("employment", employment_id, {"monthly_income": 3800})
    a.update("household", household_id, {"note": "已电话回访"})
    time.sleep(0.005)  # b's note is clearly the later one
    b.update("household", household_id, {"note": "户主外出，未见到本人"})
    team.sync(0), team.sync(1)
    [review] = storage.list_conflicts()
    [auto] = storage.list_conflicts(statuses=("auto",))
    yield {"team": team, "rows": rows, "open": review.id, "auto": auto.id,
           "employment": employment_id}
    team.close()


def token(client) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/console/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match[1]


def login(client, name: str = "jiandu", password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/console/login", data={"name": name, "password": password,
                                               "csrf_token": token(client)})


def csrf(client) -> str:  # type: ignore[no-untyped-def]
    with client.session_transaction() as session:
        return str(session["csrf_token"])


def audit_actions(storage: Storage) -> list[str]:
    return [e.action for e in storage.audit_entries(limit=50)]


# -- sessions ---------------------------------------------------------------------------------

def test_a_console_page_without_a_session_sends_the_browser_to_login(client):
    response = client.get("/console/conflicts?village=522731100201")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/login?next=")
    assert "village%3D522731100201" in response.headers["Location"]


def test_the_right_password_opens_the_queue_and_the_login_is_audited(client, storage):
    response = login(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/conflicts"
    page = client.get("/console/conflicts")
    assert page.status_code == 200 and "赵监督" in page.text and "冲突处理" in page.text
    assert "console.login" in audit_actions(storage)


def test_a_wrong_password_is_refused_and_says_how_many_tries_are_left(client):
    response = login(client, password="wrong-horse")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text and "再错 2 次" in response.text
    assert client.get("/console/conflicts").status_code == 302


def test_an_unknown_name_is_answered_like_a_wrong_password(client):
    response = login(client, name="nobody")
    assert response.status_code == 401 and "用户名或密码错误" in response.text


def test_after_too_many_wrong_passwords_even_the_right_one_is_refused(client, storage):
    for _ in range(2):
        assert login(client, password="wrong-horse").status_code == 401
    locked = login(client, password="wrong-horse")
    assert locked.status_code == 429 and "已锁定" in locked.text
    again = login(client)
    assert again.status_code == 429 and "已锁定" in again.text
    assert client.get("/console/conflicts").status_code == 302
    assert "console.lock" in audit_actions(storage)
    assert "console.login" not in audit_actions(storage)


def test_a_worker_account_cannot_use_the_console(client):
    response = login(client, name="team01")
    assert response.status_code == 403 and "无权使用" in response.text
    assert client.get("/console/conflicts").status_code == 302


def test_next_never_leads_to_another_site(client):
    token(client)
    for target in ("https://evil.example/", "//evil.example/console/", "/api/v1/conflicts",
                   "/console/devices"):
        response = client.post("/console/login", data={
            "name": "jiandu", "password": PASSWORD, "next": target,
            "csrf_token": csrf(client)})
        expected = "/console/devices" if target == "/console/devices" else "/console/conflicts"
        assert response.headers["Location"] == expected


def test_logout_ends_the_session_and_is_audited(client, storage):
    login(client)
    response = client.post("/console/logout", data={"csrf_token": csrf(client)})
    assert response.status_code == 302
    assert client.get("/console/conflicts").status_code == 302
    assert "console.logout" in audit_actions(storage)


def test_a_session_ends_when_its_maximum_age_is_reached_even_if_in_use(client, app):
    login(client)
    hours = app.config["CONSOLE_SESSION_MAX_HOURS"]
    with client.session_transaction() as session:
        session["login_at"] = int(time.time()) - hours * 3600 - 1
    response = client.get("/console/conflicts")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_the_session_cookie_expires_after_the_idle_lifetime(client, app):
    response = login(client)
    cookie = response.headers["Set-Cookie"]
    assert "Expires=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert app.permanent_session_lifetime == dt.timedelta(minutes=30)


def test_changing_the_password_ends_the_sessions_opened_with_the_old_one(client, storage):
    login(client)
    from server.passwords import hash_password

    with storage.atomic():
        storage.update_user("jiandu", password_hash=hash_password("a-new-password"))
    assert client.get("/console/conflicts").status_code == 302


def test_a_disabled_user_is_signed_out(client, storage):
    login(client)
    with storage.atomic():
        storage.update_user("jiandu", disabled_at="2026-01-01T00:00:00+00:00")
    assert client.get("/console/conflicts").status_code == 302


# -- the lock, with time as a parameter -------------------------------------------------------

NOW = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone.utc)
POLICY = lockout.LockPolicy(max_failures=3, lock=dt.timedelta(minutes=15))


def test_a_lock_starts_at_the_last_allowed_failure_and_ends_after_its_time(storage):
    for minute in range(3):
        streak = lockout.note_failure(storage, "jiandu", NOW + dt.timedelta(minutes=minute),
                                      POLICY)
    assert streak.count == 3 and streak.locked_until
    assert lockout.locked_until(storage, "jiandu", NOW + dt.timedelta(minutes=16))
    assert lockout.locked_until(storage, "jiandu", NOW + dt.timedelta(minutes=18)) is None
    after = lockout.note_failure(storage, "jiandu", NOW + dt.timedelta(minutes=18), POLICY)
    assert after.count == 1 and after.locked_until is None


def test_a_right_password_or_a_long_pause_ends_a_streak(storage):
    lockout.note_failure(storage, "jiandu", NOW, POLICY)
    lockout.note_success(storage, "jiandu")
    assert lockout.note_failure(storage, "jiandu", NOW, POLICY).count == 1
    later = NOW + dt.timedelta(minutes=20)
    assert lockout.note_failure(storage, "jiandu", later, POLICY).count == 1


def test_old_streaks_of_unknown_names_are_forgotten(storage):
    lockout.note_failure(storage, "guess-1", NOW, POLICY)
    lockout.note_failure(storage, "guess-2", NOW + dt.timedelta(days=2), POLICY)
    assert storage.get_login_failures("guess-1") is None
    assert storage.get_login_failures("guess-2") is not None


# -- CSRF -------------------------------------------------------------------------------------

def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(client, storage,
                                                                      conflicts):
    login(client)
    url = f"/console/conflicts/{conflicts['open']}/resolve"
    form = {"action": "incoming", "comment": "伪造的请求"}
    for sent in (form, {**form, "csrf_token": "not-the-token"}):
        response = client.post(url, data=sent)
        assert response.status_code == 400 and "表单已失效" in response.text
    assert storage.get_conflict(conflicts["open"]).status == "open"
    assert client.post("/console/logout").status_code == 400


def test_the_login_form_needs_its_token_too(client):
    client.get("/console/login")
    response = client.post("/console/login", data={"name": "jiandu", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/console/conflicts").status_code == 302


@pytest.mark.parametrize("path", ["/console/logout", "/console/login", "/console/devices/x/revoke",
                                  "/console/conflicts/1/resolve"])
def test_a_cross_site_post_does_not_sign_the_supervisor_out(app, client, path):
    """Another site's form reaches the console without the (SameSite) session cookie: the
    answer must not write a cookie, which would replace the supervisor's real one."""
    login(client)
    assert client.get("/console/devices").status_code == 200
    cross_site = app.test_client()  # the same browser, but the cookie is not sent
    response = cross_site.post(path, data={"action": "incoming", "comment": "伪造",
                                           "confirm": "yes"})
    assert response.status_code in (302, 400)
    assert "Set-Cookie" not in response.headers
    assert client.get("/console/devices").status_code == 200  # still signed in


def test_a_post_after_the_session_ended_says_why_on_the_login_page(client):
    response = client.post("/console/logout")
    assert response.status_code == 302 and "Set-Cookie" not in response.headers
    page = client.get(response.headers["Location"])
    assert "请先登录" in page.text


# -- conflicts --------------------------------------------------------------------------------

def test_the_queue_lists_open_conflicts_in_scope_with_counts(client, conflicts):
    login(client)
    page = client.get("/console/conflicts").text
    assert f'data-conflict="{conflicts["open"]}"' in page
    assert "就业状态" in page and "月收入" in page and "王大山" in page
    assert '<strong id="total">1</strong>' in page
    assert f'data-conflict="{conflicts["auto"]}"' not in page


def test_the_queue_filters_by_village_record_type_and_age(client, conflicts):
    login(client)
    row = f'data-conflict="{conflicts["open"]}"'
    assert row in client.get(f"/console/conflicts?village={VILLAGE_A}").text
    assert row not in client.get("/console/conflicts?village=522731100202").text
    assert row in client.get("/console/conflicts?record_type=employment").text
    assert row not in client.get("/console/conflicts?record_type=visit").text
    assert row not in client.get("/console/conflicts?min_age_days=1").text
    assert row in client.get("/console/conflicts?record_type=nonsense&min_age_days=x").text


def test_a_supervisor_of_another_county_sees_neither_the_entry_nor_the_page(client,
                                                                            conflicts):
    login(client, name="qiandong")
    assert f'data-conflict="{conflicts["open"]}"' not in client.get("/console/conflicts").text
    assert client.get(f"/console/conflicts/{conflicts['open']}").status_code == 404
    response = client.post(f"/console/conflicts/{conflicts['open']}/resolve",
                           data={"action": "incoming", "comment": "越权",
                                 "csrf_token": csrf(client)})
    assert response.status_code == 404


def test_the_conflict_page_shows_base_current_and_incoming_with_who_when_where(client,
                                                                                conflicts):
    login(client)
    page = client.get(f"/console/conflicts/{conflicts['open']}").text
    sides = re.findall(r'data-side="(\w+)">([^<]+)<', page)
    assert sides == [("base", "4000 元"), ("current", "4500 元"), ("incoming", "3800 元")]
    assert "dev-a" in page and "dev-b" in page and "team01" in page
    assert "户主 王大山" in page and "月收入" in page
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", page)  # when, on the tablet


def test_an_invalid_corrected_value_shows_the_schema_error_next_to_the_field(client, storage,
                                                                             conflicts):
    login(client)
    response = client.post(f"/console/conflicts/{conflicts['open']}/resolve", data={
        "action": "corrected", "value": "-5", "comment": "录错", "csrf_token": csrf(client)})
    assert response.status_code == 422
    field = re.search(r'id="corrected">(.*?)</div>', response.text, re.S)[1]
    assert "月收入：金额不能为负数" in field
    assert 'value="-5"' in field and "录错" in response.text  # what was typed stays
    assert storage.get_conflict(conflicts["open"]).status == "open"


def test_a_resolution_needs_a_comment_and_an_action(client, storage, conflicts):
    login(client)
    response = client.post(f"/console/conflicts/{conflicts['open']}/resolve",
                           data={"value": "4100", "comment": " ", "csrf_token": csrf(client)})
    assert response.status_code == 422
    assert "处理意见必填" in response.text and "请选择处理方式" in response.text
    assert storage.get_conflict(conflicts["open"]).status == "open"


def test_a_corrected_value_settles_the_conflict_reaches_devices_and_is_audited(
        client, storage, conflicts):
    login(client)
    response = client.post(f"/console/conflicts/{conflicts['open']}/resolve", data={
        "action": "corrected", "value": "4100", "comment": "电话核实为4100元",
        "csrf_token": csrf(client)})
    assert response.status_code == 302
    settled = storage.get_conflict(conflicts["open"])
    assert (settled.status, settled.resolved_value, settled.resolved_by) == (
        "resolved", 4100, "jiandu")
    entry = next(e for e in storage.audit_entries() if e.action == "conflict.resolve")
    assert entry.actor == "jiandu" and entry.detail["comment"] == "电话核实为4100元"
    team = conflicts["team"]
    team.sync(1)
    b, _ = team.devices[1]
    assert b.get("employment", conflicts["employment"])["monthly_income"] == 4100
    page = client.get(f"/console/conflicts/{conflicts['open']}").text
    assert "已处理" in page and "电话核实为4100元" in page


def test_keeping_the_current_value_needs_no_value(client, storage, conflicts):
    login(client)
    client.post(f"/console/conflicts/{conflicts['open']}/resolve", data={
        "action": "current", "comment": "以先录入的为准", "csrf_token": csrf(client)})
    assert storage.get_conflict(conflicts["open"]).resolved_value == 4500


def test_a_conflict_settled_meanwhile_is_not_settled_twice(client, storage, conflicts):
    login(client)
    data = {"action": "incoming", "comment": "核实", "csrf_token": csrf(client)}
    client.post(f"/console/conflicts/{conflicts['open']}/resolve", data=data)
    again = client.post(f"/console/conflicts/{conflicts['open']}/resolve",
                        data={**data, "action": "current"}, follow_redirects=True)
    assert "已经被处理过" in again.text
    assert storage.get_conflict(conflicts["open"]).resolved_value == 3800


def test_taking_the_incoming_value_takes_the_whole_change_held_with_it(client, storage,
                                                                       tmp_path):
    team = Team(storage, tmp_path)
    (a, _), (b, _) = team.devices
    rows = seed_village(a)
    job = a.create("employment", {"person_id": rows["wife"]["id"], "status": "not_employed",
                                  "not_working_reason": "willing"})
    team.sync(0), team.sync(1)
    a.update("employment", job["id"], {"not_working_reason": "unable"})
    b.update("employment", job["id"], {"status": "employed", "not_working_reason": None,
                                       "destination": "in_county", "work_kind": "workshop"})
    team.sync(0), team.sync(1)
    held = {c.field: c for c in storage.list_conflicts(row_id=job["id"])}
    assert {"status", "not_working_reason", "destination", "work_kind"} <= set(held)
    login(client)
    page = client.get(f"/console/conflicts/{held['status'].id}").text
    assert "连同同一次修改中的" in page and "就业地域" in page and "李秀英" in page
    response = client.post(f"/console/conflicts/{held['status'].id}/resolve", data={
        "action": "incoming", "comment": "入户核实已到帮扶车间就业", "csrf_token": csrf(client)})
    assert response.status_code == 302
    assert all(storage.get_conflict(c.id).status == "resolved" for c in held.values())
    team.sync(0)
    assert a.get("employment", job["id"])["status"] == "employed"
    team.close()


def _reason_dispute(storage, tmp_path):  # type: ignore[no-untyped-def]
    """The wife is recorded not employed; tablets a and b then record different reasons."""
    team = Team(storage, tmp_path)
    (a, _), (b, _) = team.devices
    rows = seed_village(a)
    job = a.create("employment", {"person_id": rows["wife"]["id"], "status": "not_employed",
                                  "not_working_reason": "willing"})
    team.sync(0), team.sync(1)
    a.update("employment", job["id"], {"not_working_reason": "unable"})
    b.update("employment", job["id"], {"not_working_reason": "studying"})
    team.sync(0), team.sync(1)
    [conflict] = storage.list_conflicts(row_id=job["id"])
    return team, job["id"], conflict


def test_the_conflict_page_offers_the_related_fields_with_their_current_values(
        client, storage, tmp_path):
    team, _, conflict = _reason_dispute(storage, tmp_path)
    login(client)
    page = client.get(f"/console/conflicts/{conflict.id}").text
    related = re.search(r'<fieldset class="related" id="related">(.*?)</fieldset>', page, re.S)[1]
    for label in ("就业状态", "就业地域", "务工省份", "就业方式", "就业开始日期"):
        assert f">{label}</label>" in related
    assert re.search(r'name="related.status".*?<option value="not_employed" selected>',
                     related, re.S)
    assert "现值：未就业" in related
    assert 'name="clear"' in page  # 未就业原因 is optional: it can be emptied
    team.close()


def test_a_supervisor_resolves_to_employed_by_setting_the_related_fields_together(
        client, storage, tmp_path):
    team, job_id, conflict = _reason_dispute(storage, tmp_path)
    login(client)
    url = f"/console/conflicts/{conflict.id}/resolve"
    form = {"action": "corrected", "clear": "1", "comment": "入户核实：已在帮扶车间上班",
            "related.status": "employed", "related.start_date": "2026-11-01",
            "csrf_token": csrf(client)}
    refused = client.post(url, data=form)
    assert refused.status_code == 422
    for name, message in (("destination", "就业地域：已就业时必填"),
                          ("work_kind", "就业方式：已就业时必填")):
        box = re.search(rf'<div class="field invalid">\s*<label for="related-{name}">(.*?)</div>',
                        refused.text, re.S)
        assert box and message in box[1], name
    assert 'value="2026-11-01"' in refused.text  # what was typed stays
    assert storage.get_conflict(conflict.id).status == "open"

    head = storage.head([VILLAGE_A])
    done = client.post(url, data={**form, "related.destination": "in_county",
                                  "related.work_kind": "workshop"})
    assert done.status_code == 302
    settled = storage.get_conflict(conflict.id)
    assert (settled.status, settled.resolved_value) == ("resolved", None)
    assert storage.head([VILLAGE_A]) == head + 1  # one change
    [entry] = [e for e in storage.audit_entries() if e.action == "conflict.resolve"]
    assert entry.detail["after"] == {"not_working_reason": None, "status": "employed",
                                     "destination": "in_county", "work_kind": "workshop",
                                     "start_date": "2026-11-01"}
    team.sync(1)
    b, _ = team.devices[1]
    row = b.get("employment", job_id)
    assert (row["status"], row["not_working_reason"], row["work_kind"]) == (
        "employed", None, "workshop")
    team.close()


def test_later_changes_to_a_disputed_field_are_candidates_side_by_side(client, storage,
                                                                      conflicts):
    team = conflicts["team"]
    (a, _), (b, _) = team.devices
    for index, device, income in ((0, a, 4600), (1, b, 3900)):
        time.sleep(0.002)
        device.update("employment", conflicts["employment"], {"monthly_income": income})
        team.sync(index)
    assert [c.id for c in storage.list_conflicts()] == [conflicts["open"]]
    login(client)
    queue = client.get("/console/conflicts").text
    assert "共 3 个候选值" in queue
    page = client.get(f"/console/conflicts/{conflicts['open']}").text
    shown = re.findall(r'data-side="incoming">([^<]+)<', page)
    assert shown == ["3900 元", "4600 元", "3800 元"]  # newest first
    assert page.count("选择此值") == 3 and "dev-a" in page and "dev-b" in page
    [(later, _)] = [(c.id, c) for c in storage.conflict_candidates(conflicts["open"])
                    if c.incoming_value == 4600]
    joined = client.get(f"/console/conflicts/{later}").text
    assert f"已并入冲突 #{conflicts['open']}" in joined and "确认处理" not in joined
    response = client.post(f"/console/conflicts/{conflicts['open']}/resolve", data={
        "action": f"incoming:{later}", "comment": "核实为4600元", "csrf_token": csrf(client)})
    assert response.status_code == 302
    assert storage.get_conflict(conflicts["open"]).resolved_value == 4600
    team.sync(1)
    assert b.get("employment", conflicts["employment"])["monthly_income"] == 4600
    unknown = client.post(f"/console/conflicts/{conflicts['open']}/resolve", data={
        "action": "incoming:99999999999999999999", "comment": "x", "csrf_token": csrf(client)})
    assert unknown.status_code == 302  # settled already: told so, nothing changes


def test_informational_conflicts_are_acknowledged_in_bulk(client, storage, conflicts):
    login(client)
    page = client.get("/console/conflicts?status=auto").text
    assert f'data-conflict="{conflicts["auto"]}"' in page and "户主外出" in page
    detail = client.get(f"/console/conflicts/{conflicts['auto']}").text
    assert "已自动采用较晚写入的值：<strong>户主外出，未见到本人</strong>" in detail
    assert "被覆盖的值“已电话回访”" in detail
    response = client.post("/console/conflicts/acknowledge", data={
        "scope": "page", "page_ids": [str(conflicts["auto"]), str(conflicts["open"])],
        "csrf_token": csrf(client)}, follow_redirects=True)
    assert "已将 1 条" in response.text
    assert storage.get_conflict(conflicts["auto"]).status == "acknowledged"
    assert storage.get_conflict(conflicts["open"]).status == "open"  # only lww ones
    assert "conflict.acknowledge" in audit_actions(storage)


# -- devices ----------------------------------------------------------------------------------

def test_the_health_page_lists_the_devices_in_scope(client, conflicts):
    login(client)
    page = client.get("/console/devices").text
    for device in ("dev-a", "dev-b"):
        assert f'data-device="{device}"' in page
    assert "白岩村工作队" in page and "0.1.0" in page and "正常" in page
    assert "发放注册码" not in page and "停用" not in page  # a supervisor only looks
    client.post("/console/logout", data={"csrf_token": csrf(client)})
    login(client, name="qiandong")
    assert 'data-device="dev-a"' not in client.get("/console/devices").text


def _devices_registered_days_ago(storage: Storage, days: int, **seen: str | None) -> None:
    registered = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).isoformat(
        timespec="seconds")
    with storage.atomic():
        for device_id, last_seen_at in seen.items():
            storage.add_device(DeviceRecord(device_id, "team01", [VILLAGE_A], registered))
            if last_seen_at:
                storage.update_device(device_id, last_seen_at=last_seen_at)


def _row(page: str, device_id: str) -> str:
    match = re.search(rf'<tr data-device="{device_id}">(.*?)</tr>', page, re.S)
    assert match, page
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match[1]))


def test_a_device_that_never_made_contact_is_not_counted_as_gone_quiet(client, storage):
    ten_days_ago = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10)).isoformat(
        timespec="seconds")
    _devices_registered_days_ago(storage, 30, ghost=None, quiet=ten_days_ago)
    login(client)
    page = client.get("/console/devices").text
    ghost = _row(page, "ghost")
    assert "从未联系" in ghost and "注册于 30 天前" in ghost and "正常" not in ghost
    quiet = _row(page, "quiet")
    assert "10 天前" in quiet and "正常" in quiet and "从未联系" not in quiet
    summary = re.sub(r"<[^>]+>", "", page.split('aria-label="概况"')[1].split("</section>")[0])
    assert re.search(r"超过 7 天未联系\s*1\b", summary), summary
    assert re.search(r"从未联系\s*1\b", summary), summary
    assert re.search(r"在用\s*1\b", summary), summary


def test_a_supervisor_cannot_issue_codes_or_revoke(client, storage, conflicts):
    login(client)
    response = client.post("/console/devices/dev-a/revoke",
                           data={"confirm": "yes", "csrf_token": csrf(client)})
    assert response.status_code == 403
    response = client.post("/console/enrolment-codes", data={
        "user": "team01", "villages": VILLAGE_A, "csrf_token": csrf(client)})
    assert response.status_code == 403
    assert storage.get_device("dev-a").revoked_at is None
    assert storage.list_enrolment_codes() == []


def test_an_admin_issues_a_code_shown_once_and_withdraws_it(client, storage, conflicts):
    login(client, name="admin")
    response = client.post("/console/enrolment-codes", data={
        "user": "team01", "villages": [VILLAGE_A], "hours": "48", "csrf_token": csrf(client)})
    # Post/redirect/get: reloading the page the browser lands on issues nothing.
    assert response.status_code == 303 and response.location == "/console/devices"
    page = client.get(response.location).text
    code = re.search(r'id="issued-code">([0-9A-Z-]+)<', page)[1]
    [row] = storage.list_enrolment_codes()
    assert row["hint"] == code[:4] and row["user_name"] == "team01"
    # At the top of the page, before the device table, with the command to type.
    assert page.index('id="issued-code"') < page.index('<table class="devices">')
    assert f"cunsync enroll --server http://localhost --code {code}" in page
    assert code not in client.get("/console/devices").text  # shown once only
    assert len(storage.list_enrolment_codes()) == 1
    client.post(f"/console/enrolment-codes/{code[:4]}/withdraw", data={"csrf_token": csrf(client)})
    assert storage.list_enrolment_codes()[0]["withdrawn_at"]
    assert {"enrolment.issue", "enrolment.withdraw"} <= set(audit_actions(storage))


def test_an_issued_code_never_travels_readable_in_the_session_cookie(client, storage):
    login(client, name="admin")
    response = client.post("/console/enrolment-codes", data={
        "user": "team01", "villages": [VILLAGE_A], "csrf_token": csrf(client)})
    cookie = response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    payload = cookie.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    if cookie.startswith("."):
        raw = zlib.decompress(raw)
    code = re.search(r'id="issued-code">([0-9A-Z-]+)<',
                     client.get("/console/devices").text)[1]
    assert code.encode() not in raw and code.replace("-", "").encode() not in raw


def test_the_enrol_command_names_the_configured_server_address(app, client, storage):
    app.config["SERVER_URL"] = "http://10.0.0.5:5000/"
    login(client, name="admin")
    client.post("/console/enrolment-codes", data={
        "user": "team01", "villages": [VILLAGE_A], "csrf_token": csrf(client)})
    page = client.get("/console/devices").text
    assert re.search(r"cunsync enroll --server http://10\.0\.0\.5:5000 --code [0-9A-Z-]+<",
                     page)


def test_a_code_needs_a_user_and_villages_in_scope(client, storage):
    login(client, name="admin")
    response = client.post("/console/enrolment-codes", data={
        "user": "", "hours": "0", "csrf_token": csrf(client)})
    assert response.status_code == 422
    assert "注册码没有发放" in response.text.split('<h2 id="codes"')[0]  # said at the top
    assert "请选择" in response.text and "请至少选择一个村" in response.text
    assert "有效期应在" in response.text
    assert storage.list_enrolment_codes() == []


def test_an_admin_revokes_and_wipes_devices_only_when_confirmed(client, storage, conflicts):
    login(client, name="admin")
    unconfirmed = client.post("/console/devices/dev-a/revoke", data={"csrf_token": csrf(client)})
    assert unconfirmed.status_code == 400 and storage.get_device("dev-a").revoked_at is None
    client.post("/console/devices/dev-a/revoke", data={"confirm": "yes",
                                                       "csrf_token": csrf(client)})
    client.post("/console/devices/dev-b/wipe", data={"confirm": "yes",
                                                     "csrf_token": csrf(client)})
    assert storage.get_device("dev-a").revoked_at
    assert storage.get_device("dev-b").wipe_requested_at
    assert {"device.revoke", "device.wipe"} <= set(audit_actions(storage))
    page = client.get("/console/devices").text
    assert "已停用" in page and "待销毁" in page


# -- pages ------------------------------------------------------------------------------------

def test_pages_load_only_the_servers_own_assets(client, conflicts):
    login(client)
    for url in ("/console/conflicts", f"/console/conflicts/{conflicts['open']}",
                "/console/devices", "/console/login"):
        response = client.get(url)
        sources = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert sources and all(s.startswith(("/", "#")) for s in sources), sources
        assert "<script>" not in response.text and "style=" not in response.text
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"
    for asset in ("/static/console.css", "/static/console.js"):
        with client.get(asset) as response:
            assert response.status_code == 200


def test_an_unknown_console_page_is_a_console_page(client):
    login(client)
    response = client.get("/console/no-such-page")
    assert response.status_code == 404 and "没有这个页面" in response.text


# -- docs -------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def test_every_picture_in_the_supervisor_guide_exists():
    guide = (ROOT / "docs" / "supervisor-guide.md").read_text(encoding="utf-8")
    pictures = re.findall(r"\]\((images/[^)]+)\)", guide)
    assert pictures and all((ROOT / "docs" / p).is_file() for p in pictures), pictures


def test_every_console_setting_is_in_the_operator_guide():
    from server.console.settings import DEFAULTS

    guide = (ROOT / "docs" / "operator-guide.md").read_text(encoding="utf-8")
    missing = [k for k in DEFAULTS if k.startswith(("CONSOLE_", "PERMANENT_")) and
               f"`{k}`" not in guide]
    assert missing == [] and "`SECRET_KEY`" in guide
