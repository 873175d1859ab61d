"""The reports over HTTP: scope-checked, in JSON, CSV and XLSX, bad input refused in the one
error shape."""

from __future__ import annotations

import base64
import io

import pytest
from openpyxl import load_workbook

from reports_county import COUNTY, DATA_KEY, TOWNSHIP_A, V1, V3, County
from server import create_app
from server.accounts import create_user


@pytest.fixture
def client(tmp_path):
    county = County(tmp_path)
    h = county.household(V1, "甲", ["tuopin"])
    county.idle(county.person(h, "甲", relation="head"))
    h3 = county.household(V3, "乙", ["banqian"])
    county.employed(county.person(h3, "乙", relation="head"))
    for name, role, scope in (("jiandu", "supervisor", [COUNTY]),
                              ("xiang", "supervisor", [TOWNSHIP_A]),
                              ("team", "worker", [V1])):
        create_user(county.storage, name, role, scope, "correct-horse")
    county.close()
    app = create_app({"TESTING": True, "STORAGE_URL": county.url, "SECRET_KEY": "test",
                      "DATA_KEY": DATA_KEY})
    return app.test_client()


def get(client, path, user="jiandu"):
    token = base64.b64encode(f"{user}:correct-horse".encode()).decode()
    return client.get(path, headers={"Authorization": f"Basic {token}"})


def error_of(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    return body["error"]["code"]


def test_a_supervisor_reads_the_county_report_as_json(client):
    response = get(client, f"/api/v1/reports/household-coverage?county={COUNTY}&on=2026-03-01")
    assert response.status_code == 200
    body = response.get_json()
    assert body["summary"] == {"households": 2, "covered": 1, "zero": 1, "rate": 50.0}
    assert body["scope"] == {"kind": "county", "code": COUNTY, "name": "长顺坝县"}
    assert body["tables"][1]["columns"][0] == {"key": "village", "label": "村", "kind": "text"}
    # Sealed at rest, opened for the ledger.
    assert [len(r["id_number"]) for r in body["tables"][1]["rows"]] == [18]


def test_csv_and_xlsx_ledgers_have_chinese_headers(client):
    csv = get(client, f"/api/v1/reports/household-coverage?county={COUNTY}&format=csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    text = csv.get_data().decode("utf-8")
    assert text.startswith("\ufeff长顺坝县“一户一人”就业情况统计表")
    assert "序号,村,户编号,户主" in text and "填表人：" in text
    assert "filename*=UTF-8''" in csv.headers["Content-Disposition"]
    xlsx = get(client, f"/api/v1/reports/posts?township={TOWNSHIP_A}&format=xlsx")
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.get_data()))
    assert book.sheetnames == ["汇总", "花名册", "问题清单", "月度考勤"]
    assert book["花名册"]["A1"].value == "长顺坝县青山镇乡村公益性岗位管理台账"


def test_a_worker_sees_id_numbers_masked_and_a_supervisor_in_full(client):
    path = f"/api/v1/reports/household-coverage?village={V1}&on=2026-03-01"
    [worker] = get(client, path, "team").get_json()["tables"][1]["rows"]
    [supervisor] = get(client, path).get_json()["tables"][1]["rows"]
    assert len(supervisor["id_number"]) == 18 and "*" not in supervisor["id_number"]
    assert worker["id_number"] == supervisor["id_number"][:6] + "*" * 8 + \
        supervisor["id_number"][-4:]
    csv = get(client, path + "&format=csv", "team").get_data().decode("utf-8")
    assert supervisor["id_number"] not in csv and worker["id_number"] in csv


def test_a_malformed_area_is_explained_without_python_quoting(client):
    body = get(client, "/api/v1/reports/posts?county=52273").get_json()
    assert body["error"]["message"] == "县代码应为6位数字，而不是“52273”"


def test_a_worker_reads_their_own_village(client):
    assert get(client, f"/api/v1/reports/early-warning?village={V1}", "team").status_code == 200
    assert error_of(get(client, f"/api/v1/reports/early-warning?village={V3}", "team"),
                    403) == "out_of_scope"


@pytest.mark.parametrize("path,user,status,code", [
    (f"/api/v1/reports/nonsense?county={COUNTY}", "jiandu", 404, "not_found"),
    ("/api/v1/reports/posts?county=52273", "jiandu", 400, "bad_request"),
    ("/api/v1/reports/posts?county=５２２７３１", "jiandu", 400, "bad_request"),
    (f"/api/v1/reports/posts?county={COUNTY}&village={V1}", "jiandu", 400, "bad_request"),
    ("/api/v1/reports/posts", "jiandu", 400, "bad_request"),
    (f"/api/v1/reports/posts?village={V3}", "xiang", 403, "out_of_scope"),
    (f"/api/v1/reports/posts?county={COUNTY}", "xiang", 403, "out_of_scope"),
    (f"/api/v1/reports/posts?county={COUNTY}&month=2026-13", "jiandu", 400, "bad_request"),
    (f"/api/v1/reports/posts?county={COUNTY}&days=3", "jiandu", 400, "bad_request"),
    (f"/api/v1/reports/early-warning?county={COUNTY}&days=0", "jiandu", 400, "bad_request"),
    (f"/api/v1/reports/subsidies?county={COUNTY}&kind=bonus", "jiandu", 400, "bad_request"),
    (f"/api/v1/reports/posts?county={COUNTY}&on=yesterday", "jiandu", 400, "bad_request"),
    (f"/api/v1/reports/posts?county={COUNTY}&format=pdf", "jiandu", 400, "bad_request"),
])
def test_bad_requests_are_refused_in_the_error_shape(client, path, user, status, code):
    assert error_of(get(client, path, user), status) == code


def test_reports_need_credentials(client):
    assert error_of(client.get(f"/api/v1/reports/posts?county={COUNTY}"), 401) == \
        "unauthorized"


def test_the_list_of_reports_shows_the_policy_in_force(client):
    body = get(client, "/api/v1/reports").get_json()
    assert [r["name"] for r in body["reports"]] == [
        "household-coverage", "employment-scale", "subsidies", "posts", "training",
        "early-warning"]
    assert body["policy"]["effective_to"] == "2025-12-31"
    assert body["policy"]["rules"]["training_living"]["periods"][0]["per_day"] == 40


def test_every_report_route_is_documented(client):
    spec = get(client, "/api/v1/openapi.json").get_json()
    assert {"/api/v1/reports", "/api/v1/reports/{name}"} <= set(spec["paths"])


def test_a_report_after_the_policy_end_says_so_first_in_json_csv_and_xlsx(client):
    """The default policy ends 2025-12-31: a report for 2026-03-01 says so in the API answer,
    in the CSV's second row (under the title) and under the title of every XLSX sheet; a report
    for 2025-12-31 does not."""
    path = f"/api/v1/reports/posts?county={COUNTY}"
    body = get(client, f"{path}&on=2026-03-01").get_json()
    assert body["policy_end"]["last_day"] == "2025-12-31"
    assert body["policy_end"]["key"] == "[policy] effective_to"
    assert get(client, f"{path}&on=2025-12-31").get_json()["policy_end"] is None
    text = get(client, f"{path}&on=2026-03-01&format=csv").get_data().decode("utf-8-sig")
    second = text.splitlines()[1]
    assert "已超出政策执行期限" in second and "[policy] effective_to" in second
    assert "已超出政策执行期限" not in get(
        client, f"{path}&on=2025-12-31&format=csv").get_data().decode("utf-8-sig")
    book = load_workbook(io.BytesIO(get(client, f"{path}&on=2026-03-01&format=xlsx").data))
    for sheet in book.worksheets:
        assert "已超出政策执行期限" in sheet.cell(2, 1).value, sheet.title
