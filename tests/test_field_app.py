"""The field app (``cunsync app``) through Flask's test client: unlock and lock, CSRF, forms.

The same pages in a real browser, against a real county server, are in
``tests/browser/test_field_app.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from client_kit import keystore
from client_kit.app import create_app, vault as vault_module
from client_kit.domain import record_type
from client_kit.domain.idcard import make_id_number
from client_kit.engine.envelope import b64, key_id, raw_public
from client_kit.store import DeviceStore
from e2e.conftest import VILLAGE_A, VILLAGE_B, seed_village

PASS = "village-pass"
ROOT = Path(__file__).resolve().parents[1]
APP_DIR = ROOT / "client_kit" / "app"


class Clock:
    """The vault's idle clock, in seconds, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def device(tmp_path) -> dict[str, Any]:
    """A device store with keys under ``PASS``, serving VILLAGE_A, with the seeded village and
    a second household whose able member has no job. Closed before the app opens it."""
    path = tmp_path / "device.sqlite"
    store = DeviceStore.open(path)
    store.install_keys(keystore.generate(), PASS)
    store.set_meta("server", "http://127.0.0.1:9")  # nothing listens there
    county = keystore.generate()  # stands in for the county's keys: never reached
    store.set_meta("server_keys", json.dumps([{
        "key_id": key_id(county.box.public_key()), "status": "active",
        "sign": b64(raw_public(county.sign.public_key())),
        "box": b64(raw_public(county.box.public_key()))}]))
    rows = seed_village(store)
    zhang = store.create("household", {"village_code": VILLAGE_A, "head_name": "张小梅",
                                       "categories": ["jiance_bianyuan"]})
    rows["zhang"] = store.create("person", {
        "household_id": zhang["id"], "name": "张小梅", "relation": "head",
        "id_number": make_id_number("522731", dt.date(1990, 6, 1), 44),
        "labour_capacity": "normal"})
    store.create("employment", {"person_id": rows["zhang"]["id"], "status": "not_employed",
                                "not_working_reason": "willing"})
    rows["zhang_household"] = zhang
    # A household in a village this device does not serve: never shown.
    store.create("village", {"village_code": VILLAGE_B, "name": "龙井村", "township": "青山镇",
                             "county": "长顺坝县"})
    store.create("household", {"village_code": VILLAGE_B, "head_name": "外村户"})
    # Told its villages only now: a device refuses to write outside them (those rows stand for
    # data it holds from before, such as an earlier scope).
    store.set_meta("villages", json.dumps([VILLAGE_A]))
    store.close()
    return {"path": path, **rows}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(device, clock):  # type: ignore[no-untyped-def]
    app = create_app({"DB": str(device["path"]), "TESTING": True, "IDLE_MINUTES": 10,
                      "CLOCK": clock, "TODAY": lambda: dt.date(2026, 11, 3)})
    yield app
    app.extensions["cunsync_sync_job"].wait(10)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


def token(client) -> str:  # type: ignore[no-untyped-def]
    """This browser session's CSRF token (made by visiting the unlock page if need be)."""
    with client.session_transaction() as session:
        if "csrf" in session:
            return str(session["csrf"])
    client.get("/unlock")
    with client.session_transaction() as session:
        return str(session["csrf"])


def unlock(client, passphrase: str = PASS):  # type: ignore[no-untyped-def]
    return client.post("/unlock", data={"csrf_token": token(client), "passphrase": passphrase})


@pytest.fixture
def unlocked(client):  # type: ignore[no-untyped-def]
    assert unlock(client).status_code == 302
    return client


def post(client, path: str, data: dict[str, Any] | None = None, **kwargs: Any):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf_token": token(client), **(data or {})}, **kwargs)


def errors_in(html: str) -> dict[str, list[str]]:
    """Messages shown next to fields: form field name → messages."""
    found: dict[str, list[str]] = {}
    for name, message in re.findall(r'data-error-for="([^"]+)">([^<]+)<', html):
        found.setdefault(name, []).append(message)
    return found


def open_store(device) -> DeviceStore:  # type: ignore[no-untyped-def]
    return DeviceStore.open(device["path"], passphrase=PASS)


def pending(device) -> int:  # type: ignore[no-untyped-def]
    store = DeviceStore.open(device["path"])
    try:
        return store.pending_count()
    finally:
        store.close()


# -- unlock, lock, CSRF ---------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/attendance", "/trainings", "/sync"])
def test_every_page_asks_for_the_passphrase_first(client, path):
    answer = client.get(path)
    assert answer.status_code == 302
    assert answer.location.startswith("/unlock?next=")
    assert "王大山" not in client.get(answer.location).text


def test_a_wrong_passphrase_is_refused_in_chinese_and_the_right_one_opens(client, app):
    refused = unlock(client, "not-the-passphrase")
    assert refused.status_code == 401
    assert "口令错误" in errors_in(refused.text)["passphrase"][0]
    assert not app.extensions["cunsync_vault"].unlocked
    opened = unlock(client)
    assert (opened.status_code, opened.location) == (302, "/")
    assert "王大山" in client.get("/").text


def test_unlocking_returns_to_the_page_asked_for_but_never_to_another_site(client):
    answer = client.post("/unlock", data={"csrf_token": token(client), "passphrase": PASS,
                                          "next": "/attendance?day=2026-11-03"})
    assert answer.location == "/attendance?day=2026-11-03"
    client.post("/lock", data={"csrf_token": token(client)})
    answer = client.post("/unlock", data={"csrf_token": token(client), "passphrase": PASS,
                                          "next": "//evil.example/"})
    assert answer.location == "/"


def test_too_many_wrong_passphrases_make_the_worker_wait(client, clock):
    for _ in range(vault_module.MAX_FAILURES):
        assert "口令错误" in unlock(client, "wrong-guess").text
    waiting = unlock(client)
    assert "次数过多" in waiting.text and waiting.status_code == 401
    clock.now += vault_module.BACKOFF_SECONDS + 1
    assert unlock(client).status_code == 302


def test_the_app_locks_after_the_idle_minutes(unlocked, app, clock):
    clock.now += 9 * 60
    assert unlocked.get("/").status_code == 200  # still in use: the timer starts again
    clock.now += 9 * 60
    assert unlocked.get("/").status_code == 200
    clock.now += 10 * 60
    answer = unlocked.get("/trainings")
    assert answer.status_code == 302 and answer.location == "/unlock?next=/trainings"
    assert not app.extensions["cunsync_vault"].unlocked
    assert "长时间未操作" in unlocked.get(answer.location).text


def test_the_idle_watch_locks_even_when_no_request_comes(unlocked, app, clock):
    vault = app.extensions["cunsync_vault"]
    clock.now += 10 * 60
    assert vault.expire_if_idle() is True
    assert not vault.unlocked


def test_typing_on_a_long_form_keeps_the_app_unlocked(unlocked, clock):
    for _ in range(3):
        clock.now += 8 * 60
        assert unlocked.get("/ping").status_code == 204
    assert unlocked.get("/").status_code == 200


def test_locking_by_hand_forgets_the_keys(unlocked, app):
    answer = post(unlocked, "/lock")
    assert answer.location == "/unlock"
    assert not app.extensions["cunsync_vault"].unlocked
    assert unlocked.get("/").status_code == 302
    assert unlocked.get("/ping").status_code == 401


def test_another_browser_cannot_use_the_app_someone_else_unlocked(unlocked, app):
    stranger = app.test_client()
    assert stranger.get("/").status_code == 302
    assert stranger.get("/sync/status").status_code == 401


def test_a_form_without_this_sessions_token_is_refused_and_nothing_is_written(
        unlocked, device):
    before = pending(device)
    household = device["household"]["id"]
    visit = {"visit_date": "2026-11-03", "visitors": "王芳"}
    missing = unlocked.post(f"/households/{household}/visit", data=visit)
    assert missing.status_code == 400 and "页面已过期或来源不明" in missing.text
    forged = unlocked.post(f"/households/{household}/visit",
                           data={**visit, "csrf_token": "x" * 43})
    assert forged.status_code == 400
    assert unlocked.post("/sync/start", headers={"X-CSRF-Token": "nope"}).status_code == 400
    assert unlocked.post("/lock").status_code == 400
    assert pending(device) == before


def test_the_unlock_form_needs_its_token_too(client, app):
    client.get("/unlock")
    answer = client.post("/unlock", data={"passphrase": PASS})
    assert answer.status_code == 400
    assert not app.extensions["cunsync_vault"].unlocked


def test_the_session_cookie_is_not_readable_by_scripts_nor_sent_by_other_sites(unlocked):
    cookie = unlocked.get_cookie("cunsync_field")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"


# -- households -----------------------------------------------------------------------------

def household_rows(html: str) -> list[str]:
    return re.findall(r'<tr class="[^"]*" data-household="([^"]+)"', html)


def test_the_households_of_my_villages_with_their_members_and_one_per_household(unlocked,
                                                                               device):
    page = unlocked.get("/").text
    assert set(household_rows(page)) == {device["household"]["id"],
                                         device["zhang_household"]["id"]}
    assert "外村户" not in page
    assert "有劳动力的 2 户中" in page and "1 户无人就业" in page
    needing = re.findall(r'<tr class="needs-job" data-household="([^"]+)"', page)
    assert needing == [device["zhang_household"]["id"]]
    only = unlocked.get("/?needs_job=1").text
    assert household_rows(only) == [device["zhang_household"]["id"]]


@pytest.mark.parametrize("query, expected", [
    ("王大山", ["household"]), ("李秀", ["household"]), ("小梅", ["zhang_household"]),
    ("没有这个人", [])])
def test_search_by_head_or_member_name(unlocked, device, query, expected):
    page = unlocked.get("/", query_string={"q": query}).text
    assert household_rows(page) == [device[name]["id"] for name in expected]


def test_search_by_id_number_finds_the_household_through_the_blind_index(unlocked, device):
    wife = make_id_number("522731", dt.date(1978, 8, 1), 22)
    page = unlocked.get("/", query_string={"q": wife}).text
    assert household_rows(page) == [device["household"]["id"]]
    # Only whole numbers are looked up; digits of it match nothing.
    assert household_rows(unlocked.get("/", query_string={"q": wife[:10]}).text) == []


def test_a_household_shows_members_categories_labour_and_employment(unlocked, device):
    page = unlocked.get(f"/households/{device['household']['id']}").text
    for text in ("李秀英", "配偶", "半劳动力", "普通劳动力", "脱贫人口",
                 "已就业 · 省外（广东） · 务工 · 东莞电子厂", "月收入 4000 元"):
        assert text in page
    wife = make_id_number("522731", dt.date(1978, 8, 1), 22)
    assert wife not in page and f"{wife[:6]}********{wife[-4:]}" in page
    assert "待同步" in page  # nothing was synced yet


def test_another_villages_household_is_not_found(unlocked, device):
    store = open_store(device)
    other = store.query("household", village_code=VILLAGE_B)[0]
    store.close()
    assert unlocked.get(f"/households/{other['id']}").status_code == 404


# -- the visit form -------------------------------------------------------------------------

def visit_form(device, **extra: str) -> dict[str, str]:
    return {"visit_date": "2026-11-03", "visitors": "王芳、刘强", "findings": "李秀英想在村里就业",
            "follow_up_due": "2026-11-20", **extra}


def test_validation_errors_are_shown_next_to_each_field_in_chinese_and_nothing_is_saved(
        unlocked, device):
    before = pending(device)
    wife = device["wife"]["id"]
    answer = post(unlocked, f"/households/{device['household']['id']}/visit", visit_form(
        device, visitors="", follow_up_due="2026-10-01", **{f"emp-{wife}-status": "employed"}))
    assert answer.status_code == 422
    errors = errors_in(answer.text)
    assert errors["visitors"] == ["走访人：不能为空"]
    assert errors[f"emp-{wife}-destination"] == ["就业地域：已就业时必填"]
    assert errors[f"emp-{wife}-work_kind"] == ["就业方式：已就业时必填"]
    assert "什么都还没有保存" in answer.text
    # What was typed is still there.
    assert "李秀英想在村里就业" in answer.text
    assert pending(device) == before


def test_a_refused_employment_change_also_holds_back_the_visit(unlocked, device):
    wife = device["wife"]["id"]
    answer = post(unlocked, f"/households/{device['household']['id']}/visit", visit_form(
        device, **{f"emp-{wife}-status": "employed", f"emp-{wife}-destination": "in_county",
                   f"emp-{wife}-work_kind": "workshop", f"emp-{wife}-monthly_income": "-5"}))
    assert errors_in(answer.text) == {f"emp-{wife}-monthly_income": ["月收入：金额不能为负数"]}
    store = open_store(device)
    assert store.query("visit") == []
    assert store.query("employment", person_id=wife) == []
    store.close()


def test_a_visit_and_a_status_change_are_saved_together(unlocked, device):
    wife, head = device["wife"]["id"], device["head"]["id"]
    before = pending(device)
    answer = post(unlocked, f"/households/{device['household']['id']}/visit", visit_form(
        device, **{f"emp-{wife}-status": "employed", f"emp-{wife}-destination": "in_county",
                   f"emp-{wife}-work_kind": "workshop", f"emp-{wife}-employer": "茶叶帮扶车间",
                   f"emp-{wife}-monthly_income": "2200", f"emp-{wife}-long_contract": "1",
                   # The head's boxes as the form shows them: unchanged.
                   f"emp-{head}-status": "employed", f"emp-{head}-destination": "out_province",
                   f"emp-{head}-province": "广东", f"emp-{head}-work_kind": "wugong",
                   f"emp-{head}-employer": "东莞电子厂", f"emp-{head}-monthly_income": "4000"}))
    assert answer.status_code == 302, errors_in(answer.text)
    store = open_store(device)
    [visit] = store.query("visit")
    assert (visit["visitors"], visit["follow_up_due"]) == ("王芳、刘强", "2026-11-20")
    job = store.get("employment", record_type("employment").natural_row_id({"person_id": wife}))
    assert job is not None
    assert (job["status"], job["destination"], job["work_kind"], job["monthly_income"],
            job["long_contract"], job["status_since"]) == (
        "employed", "in_county", "workshop", 2200, True, "2026-11-03")
    assert store.pending_count() == before + 2  # the visit and the new employment only
    store.close()
    page = unlocked.get(answer.location).text
    assert "走访记录已保存" in page and "已就业 · 县内 · 就业帮扶车间 · 茶叶帮扶车间" in page


def test_stopping_work_clears_the_jobs_details_and_dates_the_change(unlocked, device):
    head = device["head"]["id"]
    answer = post(unlocked, f"/households/{device['household']['id']}/visit", visit_form(
        device, **{f"emp-{head}-status": "not_employed",
                   f"emp-{head}-not_working_reason": "willing",
                   f"emp-{head}-destination": "out_province", f"emp-{head}-province": "广东"}))
    assert answer.status_code == 302, errors_in(answer.text)
    store = open_store(device)
    job = store.get("employment", device["employment"]["id"])
    store.close()
    assert job is not None
    assert (job["status"], job["not_working_reason"], job["status_since"]) == (
        "not_employed", "willing", "2026-11-03")
    assert job["destination"] is job["employer"] is job["monthly_income"] is None


def test_the_visit_form_marks_fields_under_review(unlocked, device):
    store = open_store(device)
    store.conn.execute("UPDATE employments SET _disputed = ? WHERE id = ?",
                       (json.dumps(["monthly_income"]), device["employment"]["id"]))
    store.close()
    form = unlocked.get(f"/households/{device['household']['id']}/visit").text
    income = re.search(r'<label class="field[^"]*">\s*<span class="label">月收入（元） '
                       r'<span class="badge review">待审核</span>', form)
    assert income is not None
    page = unlocked.get(f"/households/{device['household']['id']}").text
    assert "月收入：县里审核中" in page
    assert "待审核" in unlocked.get("/sync").text


# -- roll call ------------------------------------------------------------------------------

def test_the_roll_lists_every_post_holder_whose_term_covers_the_day(unlocked, device):
    page = unlocked.get("/attendance", query_string={"village": VILLAGE_A,
                                                      "day": "2026-11-03"}).text
    assert f'data-post="{device["post"]["id"]}"' in page and "李秀英" in page
    before_term = unlocked.get("/attendance", query_string={"day": "2025-12-31"}).text
    assert "没有在聘期内的公益性岗位人员" in before_term


def test_a_roll_call_is_one_transaction_and_saving_it_again_changes_nothing(unlocked, device):
    post_id = device["post"]["id"]
    form = {"village": VILLAGE_A, "day": "2026-11-03", f"status-{post_id}": "on_post",
            f"note-{post_id}": ""}
    before = pending(device)
    answer = post(unlocked, "/attendance", form)
    assert answer.status_code == 302
    assert pending(device) == before + 1
    assert post(unlocked, "/attendance", form).status_code == 302
    assert pending(device) == before + 1
    store = open_store(device)
    [mark] = store.query("attendance", post_id=post_id)
    store.close()
    assert (mark["day"], mark["status"], mark["person_id"]) == (
        "2026-11-03", "on_post", device["wife"]["id"])
    page = unlocked.get(answer.location).text
    assert re.search(rf'name="status-{post_id}" value="on_post" checked', page)


def test_a_bad_mark_is_refused_next_to_its_post(unlocked, device):
    post_id = device["post"]["id"]
    answer = post(unlocked, "/attendance", {"village": VILLAGE_A, "day": "2026-11-03",
                                           f"status-{post_id}": "asleep"})
    assert answer.status_code == 422
    assert errors_in(answer.text)[f"{post_id}-status"][0].startswith("考勤：取值应为")


# -- training sign-in -----------------------------------------------------------------------

def test_signing_in_twice_is_one_row_and_unticking_takes_it_back(unlocked, device):
    session_id, head = device["session"]["id"], device["head"]["id"]
    sheet = f"/trainings/{session_id}"
    assert unlocked.get(sheet).status_code == 200
    assert post(unlocked, sheet, {"day": "2026-11-03", "attended": head}).status_code == 302
    assert post(unlocked, sheet, {"day": "2026-11-03", "attended": head}).status_code == 302
    store = open_store(device)
    assert [s["person_id"] for s in store.query("signin", session_id=session_id)] == [head]
    store.close()
    page = unlocked.get(sheet, query_string={"day": "2026-11-03"}).text
    assert re.search(rf'name="attended" value="{head}" checked', page)
    assert post(unlocked, sheet, {"day": "2026-11-03"}).status_code == 302
    store = open_store(device)
    assert store.query("signin", session_id=session_id) == []
    store.close()


def test_the_sign_in_sheet_offers_only_the_sessions_days(unlocked, device):
    page = unlocked.get(f"/trainings/{device['session']['id']}",
                        query_string={"day": "2030-01-01"}).text
    assert re.findall(r'<option value="(\d{4}-\d\d-\d\d)"', page) == [
        f"2026-11-0{d}" for d in range(2, 7)]
    assert '<option value="2026-11-03" selected>' in page  # today, within the session


# -- sync and bundles -----------------------------------------------------------------------

def test_a_sync_without_a_connection_says_so_and_keeps_everything(unlocked, app, device):
    before = pending(device)
    answer = post(unlocked, "/sync/start", headers={"Accept": "application/json"})
    assert answer.status_code == 202 and answer.json["started"] is True
    app.extensions["cunsync_sync_job"].wait(30)
    state = unlocked.get("/sync/status").json
    # Nothing listens on the server's port: the server is down, the network is not.
    assert state["state"] == "offline" and state["code"] == "server_unreachable"
    assert "服务器没有应答" in state["message"] and "什么也没有丢" in state["message"]
    assert "没有网络" not in state["message"] and "Errno" not in state["message"]
    assert state["pending"] == before == pending(device)
    assert state["message"] in unlocked.get("/sync").text


def test_without_javascript_the_sync_button_still_works(unlocked, app):
    answer = post(unlocked, "/sync/start")
    assert answer.status_code == 302 and answer.location == "/sync"
    app.extensions["cunsync_sync_job"].wait(30)
    assert "服务器没有应答" in unlocked.get("/sync").text


def test_a_bundle_is_sealed_and_downloaded(unlocked, device):
    answer = post(unlocked, "/bundle/export")
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    assert int(answer.headers["X-Cunsync-Changes"]) == pending(device)
    assert "王大山".encode() not in answer.data and b"522731" not in answer.data


def test_a_reply_file_that_is_not_the_countys_is_refused_and_changes_nothing(unlocked, device):
    from io import BytesIO

    before = pending(device)
    answer = post(unlocked, "/bundle/import",
                  {"reply": (BytesIO(b"not an envelope"), "a.reply")},
                  content_type="multipart/form-data", follow_redirects=True)
    assert "回复文件无法导入" in answer.text
    assert pending(device) == before


# -- offline by construction ----------------------------------------------------------------

def test_every_asset_is_served_from_the_app_itself():
    """No CDN, no web font, no external script: the app works with no internet at all."""
    for path in [*APP_DIR.rglob("*.html"), *APP_DIR.rglob("*.css"), *APP_DIR.rglob("*.js")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), path
        assert "@import" not in text and "@font-face" not in text, path


def test_static_files_are_served(client):
    for name in ("app.css", "app.js"):
        answer = client.get(f"/static/{name}")
        assert answer.status_code == 200
        answer.close()


def test_a_missing_store_is_explained(tmp_path):
    app = create_app({"DB": str(tmp_path / "none.sqlite"), "TESTING": True})
    answer = app.test_client().get("/", follow_redirects=True)
    assert answer.status_code == 503 and "尚未注册" in answer.text
    assert not (tmp_path / "none.sqlite").exists()


def test_the_worker_guide_shows_every_screenshot_the_browser_tests_take():
    guide = (ROOT / "docs" / "worker-guide.md").read_text(encoding="utf-8")
    browser_tests = (ROOT / "tests" / "browser" / "test_field_app.py").read_text(encoding="utf-8")
    taken = set(re.findall(r'shot\(\w+, "([a-z-]+)"', browser_tests))
    shown = set(re.findall(r"\(images/app-([a-z-]+)\.png\)", guide))
    committed = {p.stem[len("app-"):] for p in (ROOT / "docs" / "images").glob("app-*.png")}
    assert taken and taken == shown == committed
    assert "cunsync app" in guide


# -- the command ----------------------------------------------------------------------------

def test_the_app_command_listens_on_loopback_unless_asked(device, monkeypatch):
    from client_kit import cli
    from client_kit.app import serve as serve_module

    calls = []
    monkeypatch.setattr(serve_module, "serve", lambda db, **kw: calls.append((db, kw)))
    runner = CliRunner()
    result = runner.invoke(cli.main, ["--db", str(device["path"]), "app", "--port", "9999"])
    assert result.exit_code == 0, result.output
    assert calls[-1][1]["host"] == "127.0.0.1" and calls[-1][1]["port"] == 9999
    result = runner.invoke(cli.main, ["--db", str(device["path"]), "app", "--lan",
                                      "--idle-minutes", "5"])
    assert result.exit_code == 0
    assert calls[-1][1]["host"] == "0.0.0.0" and calls[-1][1]["idle_minutes"] == 5
    assert "热点" in result.output


def test_the_app_command_needs_an_enrolled_device(tmp_path):
    from client_kit import cli

    result = CliRunner().invoke(cli.main, ["--db", str(tmp_path / "x.sqlite"), "app"])
    assert result.exit_code != 0 and "cunsync enroll" in result.output
