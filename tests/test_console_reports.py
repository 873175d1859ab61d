"""Policy reports in the console: figures, a chart, downloads, scope and the audit log."""

from __future__ import annotations


import re

import pytest

from server import create_app
from server.accounts import create_user
from server.db import app_storage
from server.demo import build_demo
from test_console import PASSWORD, login


@pytest.fixture
def county(tmp_path):
    """The demo county (its users get the test password) and a supervisor of another county."""
    app = create_app({"TESTING": True, "SECRET_KEY": "test",
                      "STORAGE_URL": f"sqlite:///{tmp_path / 'server.sqlite'}"})
    storage = app_storage(app)
    storage.upgrade()
    list(build_demo(storage, households=40, seed=3, password=PASSWORD))
    create_user(storage, "qiandong", "supervisor", ["522732"], PASSWORD)
    storage.close()
    return app


def test_the_coverage_report_shows_figures_a_chart_and_the_zero_employment_list(county):
    client = county.test_client()
    login(client, "jiandu")
    page = client.get("/console/reports?name=household-coverage&kind=county&code=522731")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "一户一人" in html and "覆盖率" in html
    assert "<svg" in html and "<rect" in html  # the chart, drawn by the server
    assert "零就业家庭" in html


def test_every_report_renders(county):
    client = county.test_client()
    login(client, "jiandu")
    for name in ("household-coverage", "employment-scale", "subsidies", "posts", "training",
                 "early-warning"):
        page = client.get(f"/console/reports?name={name}&kind=township&code=522731100")
        assert page.status_code == 200, name
        assert "class=\"flash error\"" not in page.get_data(as_text=True), name


def test_a_ledger_downloads_and_is_audited(county):
    client = county.test_client()
    login(client, "jiandu")
    answer = client.get("/console/reports/posts/download?kind=county&code=522731&format=xlsx")
    assert answer.status_code == 200
    assert answer.data[:2] == b"PK"  # an XLSX file
    storage = app_storage(county)
    actions = [e.action for e in storage.audit_entries(limit=5)]
    storage.close()
    assert "report.export" in actions


def test_another_countys_area_is_refused_with_a_message(county):
    client = county.test_client()
    login(client, "qiandong")
    html = client.get("/console/reports?name=posts&kind=county&code=522731").get_data(
        as_text=True)
    assert "无权查看" in html and "<table" not in html


def test_reports_need_a_login(county):
    client = county.test_client()
    answer = client.get("/console/reports")
    assert answer.status_code in (302, 303)




def picker(html: str) -> list[tuple[str, str]]:
    """The area picker's options: (value, text)."""
    select = html.split('<select name="area">')[1].split("</select>")[0]
    return [(value, text.strip()) for value, text in
            re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)</option>', select)]


def test_the_area_is_picked_from_the_countys_townships_and_villages_by_name(county):
    client = county.test_client()
    login(client, "jiandu")
    html = client.get("/console/reports?name=posts").get_data(as_text=True)
    options = picker(html)
    assert options[:2] == [("county:522731", "长顺坝县（全县）"),
                           ("township:522731100", "青山镇（全乡镇）")]
    assert ("village:522731100201", "青山镇 白岩村") in options
    assert ("township:522731200", "云雾乡（全乡镇）") in options
    assert len([v for v, _ in options if v.startswith("village:")]) == 8
    assert 'name="code"' not in html  # nothing to type
    page = client.get("/console/reports?name=posts&area=village:522731100202")
    assert "龙井村" in page.get_data(as_text=True).split("<h2>")[1].split("</h2>")[0]
    assert 'value="village:522731100202" selected' in page.get_data(as_text=True)


def test_a_township_supervisor_is_offered_only_their_township(county):
    storage = app_storage(county)
    create_user(storage, "xiang", "supervisor", ["522731200"], PASSWORD)
    storage.close()
    client = county.test_client()
    login(client, "xiang")
    options = picker(client.get("/console/reports?name=posts").get_data(as_text=True))
    assert options == [("township:522731200", "云雾乡（全乡镇）"),
                       ("village:522731200201", "云雾乡 高坡村"),
                       ("village:522731200202", "云雾乡 水口村"),
                       ("village:522731200203", "云雾乡 茶园村")]


def test_old_links_with_kind_and_code_still_work(county):
    client = county.test_client()
    login(client, "jiandu")
    html = client.get("/console/reports?name=posts&kind=township&code=522731101").get_data(
        as_text=True)
    assert 'value="township:522731101" selected' in html and "河坝镇" in html


ID = re.compile(r"(?<![0-9*])[0-9]{17}[0-9X](?![0-9*])")
MASKED = re.compile(r"[0-9]{6}\*{8}[0-9]{3}[0-9X]")


def test_id_numbers_are_masked_on_the_page_and_full_in_the_downloads(county):
    client = county.test_client()
    login(client, "jiandu")
    html = client.get("/console/reports?name=subsidies&area=county:522731").get_data(
        as_text=True)
    assert MASKED.search(html) and not ID.search(html)
    csv = client.get("/console/reports/subsidies/download?area=county:522731&format=csv")
    text = csv.get_data().decode("utf-8-sig")
    assert ID.search(text) and not MASKED.search(text)


@pytest.mark.parametrize("query,message", [
    ("name=posts&area=county:52273", "县代码应为6位数字，而不是“52273”"),
    ("name=posts&area=village:abc", "村代码应为12位数字，而不是“abc”"),
    ("name=nonsense", "没有这个报表"),
])
def test_errors_are_plain_chinese_without_python_quoting(county, query, message):
    client = county.test_client()
    login(client, "jiandu")
    html = client.get(f"/console/reports?{query}").get_data(as_text=True)
    shown = html.split('class="flash error" role="alert">')[1].split("</p>")[0]
    assert shown == message


def test_the_report_form_offers_a_day_in_force_and_the_demo_is_dated_inside_the_policy(county):
    """With no day asked, the form offers today if the policy is in force, else its last day
    in force (2025-12-31 for the provincial text); the demo county is dated on that day, so
    its employment-scale and early-warning reports have rows and no policy-end banner."""
    import datetime as dt

    from server.reporting import load_policy

    offered = load_policy().default_day(dt.date.today()).isoformat()
    client = county.test_client()
    login(client, "jiandu")
    for name, marker in (("employment-scale", "三类人员已就业"), ("early-warning", "预警名单")):
        html = client.get(f"/console/reports?name={name}&area=county:522731").get_data(
            as_text=True)
        assert f'name="on" type="date" value="{offered}"' in html
        assert "policy-end" not in html
        assert f"on={offered}" in html  # the downloads are of the same day
        counts = re.findall(r'<strong>(\d+)</strong>', html)
        assert marker in html and int(counts[0]) > 0, name


def test_a_report_after_the_policy_end_says_so_at_the_top_of_the_page(county):
    client = county.test_client()
    login(client, "jiandu")
    html = client.get("/console/reports?name=subsidies&area=county:522731&on=2026-03-01"
                      ).get_data(as_text=True)
    banner = html.index('class="flash error policy-end"')
    assert banner < html.index("<h2>")  # above the report
    assert "已超出政策执行期限" in html and "[policy] effective_to" in html
    assert "2025-12-31" in html[banner:html.index("<h2>")]
