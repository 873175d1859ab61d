"""Policy reports in the console: figures, a chart, downloads, scope and the audit log."""

from __future__ import annotations


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


