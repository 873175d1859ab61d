"""``cunsync-server report``, ``policy show`` and ``grant import``."""

from __future__ import annotations

import json

import pytest
from openpyxl import Workbook, load_workbook

from reports_county import COUNTY, DATA_KEY, V1, County
from server import create_app
from server.reporting.cells import csv_bytes


@pytest.fixture
def county(tmp_path):
    c = County(tmp_path)
    h = c.household(V1, "甲", ["tuopin"])
    c.people = {"甲": c.person(h, "甲", categories=["tuopin"], relation="head"),
                "乙": c.person(h, "乙", categories=["tuopin"])}
    c.employed(c.people["甲"], destination="out_province", start_date="2025-03-01")
    yield c
    c.close()


@pytest.fixture
def runner(county, tmp_path):
    app = create_app({"TESTING": True, "STORAGE_URL": county.url, "SECRET_KEY": "test",
                      "DATA_KEY": DATA_KEY})
    return app.test_cli_runner()


def id_number(county, name):
    person_id = county.storage.conn.execute("SELECT id FROM persons WHERE name = ?",
                                            (name,)).fetchone()[0]
    return county.storage.load_rows("person", [person_id])[person_id].state.values["id_number"]


def test_an_xlsx_ledger_for_a_county(runner, tmp_path):
    out = tmp_path / "一户一人.xlsx"
    result = runner.invoke(args=["report", "household-coverage", "--county", COUNTY,
                                 "--format", "xlsx", "--output", str(out)])
    assert result.exit_code == 0, result.output
    sheet = load_workbook(out)["分村统计"]
    assert sheet["A1"].value == "长顺坝县“一户一人”就业情况统计表"
    header = next(r for r in sheet.iter_rows(values_only=True) if r[0] == "序号")
    assert header[:3] == ("序号", "村", "有劳动力的脱贫户和搬迁户（户）")


def test_json_and_csv_to_standard_output(runner):
    result = runner.invoke(args=["report", "subsidies", "--village", V1, "--on", "2025-12-31",
                                 "--kind", "transport"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["summary"]["transport_persons"] == 1
    csv = runner.invoke(args=["report", "subsidies", "--village", V1, "--on", "2025-12-31",
                              "--format", "csv"])
    assert "一次性交通补助（第四条）" in csv.output


@pytest.mark.parametrize("args,message", [
    (["report", "posts", "--county", "5227"], "6位数字"),
    (["report", "posts"], "统计范围"),
    (["report", "posts", "--county", COUNTY, "--days", "3"], "没有参数 days"),
    (["report", "posts", "--county", COUNTY, "--format", "xlsx"], "--output"),
    (["report", "nonsense", "--county", COUNTY], "nonsense"),
])
def test_bad_arguments_are_refused(runner, args, message):
    result = runner.invoke(args=args)
    assert result.exit_code == 2 and message in result.output


@pytest.mark.parametrize("args", [["--county", "999999"], ["--township", "522731999"],
                                  ["--village", "522731100999"]])
def test_an_unknown_area_is_an_error_not_an_empty_report(runner, args):
    result = runner.invoke(args=["report", "household-coverage", *args])
    assert result.exit_code != 0
    assert "没有区划代码为" in result.output and args[1] in result.output
    assert "统计" not in result.output  # no report printed


def test_policy_show_prints_the_parameters_in_force(county, tmp_path):
    local = tmp_path / "local.toml"
    local.write_text("[rules.transport]\nperiods = [{ amount = 400 }]\n", encoding="utf-8")
    app = create_app({"TESTING": True, "STORAGE_URL": county.url, "DATA_KEY": DATA_KEY,
                      "POLICY_FILE": str(local)})
    result = app.test_cli_runner().invoke(args=["policy", "show"])
    assert json.loads(result.output)["rules"]["transport"]["periods"][0]["amount"] == 400
    local.write_text("[rules.transport]\namount = 400\n", encoding="utf-8")
    bad = app.test_cli_runner().invoke(args=["policy", "show"])
    assert bad.exit_code == 1 and "amount" in bad.output


def test_granted_subsidies_are_imported_from_csv_and_excluded_after(county, runner, tmp_path):
    sheet = tmp_path / "发放名册.csv"
    sheet.write_text("2025年一次性交通补助发放名册\n身份证号,姓名,补贴类型,发放金额,发放日期,备注\n"
                     f"{id_number(county, '甲')},甲,一次性交通补助,500,2025-07-01,第一批\n",
                     encoding="gbk")
    assert "would import 1" in runner.invoke(args=["grant", "import", str(sheet),
                                                   "--dry-run"]).output
    result = runner.invoke(args=["grant", "import", str(sheet)])
    assert result.exit_code == 0 and "imported 1" in result.output, result.output
    report = json.loads(runner.invoke(args=["report", "subsidies", "--village", V1, "--on",
                                            "2025-12-31", "--kind", "transport"]).output)
    assert report["summary"]["transport_persons"] == 0
    granted = report["tables"][-1]["rows"]
    assert [(r["name"], r["granted_on"], r["grant_note"]) for r in granted] == \
        [("甲", "2025-07-01", "第一批")]
    entries = county.storage.pull([V1], 0, 10_000)
    assert [e.fields["kind"] for e in entries if e.record_type == "subsidy_grant"] == \
        ["transport"]  # in the log, so the team's devices receive it
    again = runner.invoke(args=["grant", "import", str(sheet)])
    assert "imported 0; already recorded 1" in again.output


def test_a_ledger_written_from_an_exported_csv_imports_its_id_numbers(county, runner,
                                                                       tmp_path):
    # Exported CSVs write ID numbers ="…" (so Excel keeps the digits) and neutralise formulas;
    # a county that fills in its payment ledger from one imports it as it is.
    sheet = tmp_path / "发放名册.csv"
    sheet.write_bytes(csv_bytes([["身份证号", "姓名", "补贴类型", "发放金额", "发放日期", "备注"],
                                 [id_number(county, "甲"), "甲", "一次性交通补助", 500,
                                  "2025-07-01", "-第一批"]]))
    assert '="' in sheet.read_text(encoding="utf-8-sig")
    result = runner.invoke(args=["grant", "import", str(sheet)])
    assert result.exit_code == 0 and "imported 1" in result.output, result.output
    report = json.loads(runner.invoke(args=["report", "subsidies", "--village", V1, "--on",
                                            "2025-12-31", "--kind", "transport"]).output)
    assert report["tables"][-1]["rows"][0]["grant_note"] == "-第一批"


def test_an_xlsx_import_with_any_bad_row_writes_nothing(county, runner, tmp_path):
    import datetime as dt

    book = Workbook()
    sheet = book.active
    sheet.append(["身份证号", "姓名", "补贴类型", "发放金额", "发放日期"])
    sheet.append([id_number(county, "甲"), "甲", "transport", 500, dt.datetime(2025, 7, 1)])
    sheet.append([id_number(county, "乙"), "丙", "transport", 500, "2025-07-01"])
    sheet.append(["522731199001011237", None, "transport", 500, "2025-07-01"])
    sheet.append([id_number(county, "甲"), None, "交通费", 500, "2025-07-01"])
    sheet.append([id_number(county, "乙"), None, "follow_up", -5, "2025-07-01"])
    path = tmp_path / "名册.xlsx"
    book.save(path)
    result = runner.invoke(args=["grant", "import", str(path)])
    assert result.exit_code == 1
    for problem in ("第3行：姓名 丙", "第4行：找不到身份证号", "第5行：补贴类型",
                    "第6行：发放金额：金额不能为负数"):
        assert problem in result.output
    assert county.storage.count_rows("subsidy_grant") == 0


def test_a_second_different_grant_of_the_same_subsidy_is_refused(county, runner, tmp_path):
    county.add("subsidy_grant", person_id=county.people["甲"], kind="transport", amount=500,
               granted_on="2025-07-01")
    sheet = tmp_path / "名册.csv"
    sheet.write_text("身份证号,补贴类型,发放金额,发放日期\n"
                     f"{id_number(county, '甲')},transport,300,2025-09-01\n"
                     f"{id_number(county, '乙')},transport,300,2025-09-01\n"
                     f"{id_number(county, '乙')},transport,300,2025-09-02\n", encoding="utf-8")
    result = runner.invoke(args=["grant", "import", str(sheet)])
    assert result.exit_code == 1
    assert "第2行：甲 已于 2025-07-01 领取一次性交通补助 500 元，不能重复发放" in result.output
    assert "第4行：与第3行重复" in result.output
    assert county.storage.count_rows("subsidy_grant") == 1
