"""The record schemas: what a county accepts, what it refuses, and how it says so."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from marshmallow import ValidationError

from client_kit.domain import RECORD_TYPES, enums
from client_kit.domain.fields import (Choice, Code, CodeList, Count, Day, Flag, IdNo, Money,
                                      Ref, Text, VillageCode)
from client_kit.domain.idcard import make_id_number
from client_kit.domain.schemas import one_year_end
from store_helpers import VILLAGE, is_chinese


def new_id() -> str:
    return str(uuid.uuid4())


MALE_ID = make_id_number("522731", dt.date(1980, 5, 17), 13)
FEMALE_ID = make_id_number("522731", dt.date(1985, 2, 3), 24)

MINIMAL: dict[str, dict[str, Any]] = {
    "village": {"name": "白岩村", "township": "青山镇", "county": "长顺县"},
    "household": {"head_name": "王大山"},
    "person": {"household_id": new_id(), "name": "王大山", "id_number": MALE_ID},
    "employment": {"person_id": new_id(), "status": "not_employed",
                   "not_working_reason": "willing"},
    "post": {"name": "护林员", "created_on": "2026-01-01"},
    "appointment": {"post_id": new_id(), "person_id": new_id(), "start_date": "2026-01-01",
                    "end_date": "2026-12-31", "status": "active"},
    "attendance": {"post_id": new_id(), "day": "2026-03-02", "person_id": new_id(),
                   "status": "on_post"},
    "training_session": {"title": "茶叶种植培训班", "kind": "skills", "start_date": "2026-03-02",
                         "end_date": "2026-03-06"},
    "signin": {"session_id": new_id(), "person_id": new_id(), "day": "2026-03-02"},
    "visit": {"household_id": new_id(), "visit_date": "2026-03-02", "visitors": "张干部"},
    "subsidy_grant": {"person_id": new_id(), "kind": "transport", "amount": 500,
                      "granted_on": "2025-06-30"},
}


def row(type_name: str, **values: Any) -> dict[str, Any]:
    """A minimal valid row of ``type_name`` with ``values`` on top."""
    return {"id": new_id(), "village_code": VILLAGE, **MINIMAL[type_name], **values}


def load(type_name: str, **values: Any) -> dict[str, Any]:
    return RECORD_TYPES[type_name].schema.load(row(type_name, **values))


def errors_of(type_name: str, **values: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        load(type_name, **values)
    return caught.value.messages


def load_field(type_name: str, name: str, value: Any, **others: Any) -> Any:
    """Load one field alone (partial), which leaves most whole-row rules out."""
    return RECORD_TYPES[type_name].partial_schema.load({name: value, **others})[name]


def field_errors(type_name: str, name: str, value: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        load_field(type_name, name, value)
    return caught.value.messages[name]


ALL_FIELDS = [(t, name) for t, rt in RECORD_TYPES.items()
              for name in ("id", "village_code", *rt.fields)]


def label(type_name: str, name: str) -> str:
    return RECORD_TYPES[type_name].schema.fields[name].label


# -- every record type ----------------------------------------------------------------------

def test_every_record_type_has_a_minimal_example():
    assert set(MINIMAL) == set(RECORD_TYPES)


@pytest.mark.parametrize("type_name", sorted(RECORD_TYPES))
def test_a_minimal_row_of_every_record_type_loads(type_name):
    loaded = load(type_name)
    assert loaded["village_code"] == VILLAGE


@pytest.mark.parametrize("type_name,name", [
    (t, name) for t, rt in RECORD_TYPES.items()
    for name, f in rt.schema.fields.items() if f.required])
def test_a_missing_required_field_is_refused_by_its_label(type_name, name):
    values = row(type_name)
    del values[name]
    with pytest.raises(ValidationError) as caught:
        RECORD_TYPES[type_name].schema.load(values)
    assert caught.value.messages[name] == [f"{label(type_name, name)}：必填"]


def test_an_unknown_field_is_refused_in_chinese():
    assert errors_of("household", colour="red") == {"colour": ["未知字段"]}


def test_a_row_that_is_not_an_object_is_refused_in_chinese():
    with pytest.raises(ValidationError) as caught:
        RECORD_TYPES["household"].schema.load(["王大山"])  # type: ignore[arg-type]
    assert is_chinese(str(caught.value.messages))


# -- every field: policy, sensitivity, Chinese messages naming it ---------------------------

def bad_value(f: Any) -> Any:
    """A value the field must refuse."""
    if isinstance(f, (Text, Flag)):
        return 12345
    if isinstance(f, CodeList):
        return "tuopin"  # not a list
    if isinstance(f, (Code, Choice)):
        return "no-such-code"
    if isinstance(f, Day):
        return "2026-02-30"
    if isinstance(f, Money):
        return -1
    if isinstance(f, Count):
        return "many"
    if isinstance(f, IdNo):
        return "123"
    if isinstance(f, VillageCode):
        return "5227"
    if isinstance(f, Ref):
        return "not-an-id"
    raise AssertionError(f"no bad value for {type(f).__name__}")


@pytest.mark.parametrize("type_name,name", ALL_FIELDS)
def test_every_field_fails_in_chinese_naming_its_label(type_name, name):
    f = RECORD_TYPES[type_name].schema.fields[name]
    messages = field_errors(type_name, name, bad_value(f))
    assert messages
    for message in messages:
        assert message.startswith(f"{f.label}："), message
        assert is_chinese(message.removeprefix(f"{f.label}："))


@pytest.mark.parametrize("type_name,name", ALL_FIELDS)
def test_every_field_declares_a_label_policy_and_sensitivity(type_name, name):
    f = RECORD_TYPES[type_name].schema.fields[name]
    assert is_chinese(f.metadata["label"])
    assert f.metadata["policy"] in ("lww", "review")
    assert isinstance(f.metadata["sensitive"], bool)


def test_exactly_id_numbers_phones_bank_accounts_and_incomes_are_sensitive():
    sensitive = {(t, name) for t, rt in RECORD_TYPES.items() for name in rt.sensitive}
    assert sensitive == {
        ("person", "id_number"), ("person", "phone"), ("household", "phone"),
        ("household", "bank_account"), ("employment", "monthly_income"),
    }


@pytest.mark.parametrize("type_name,name", [
    ("employment", "status"), ("person", "categories"), ("household", "categories"),
    ("person", "id_number"), ("attendance", "status"), ("attendance", "person_id"),
    ("appointment", "person_id"), ("person", "household_id"),
])
def test_facts_that_need_a_supervisor_are_review_fields(type_name, name):
    assert RECORD_TYPES[type_name].policies[name] == "review"


@pytest.mark.parametrize("type_name", sorted(RECORD_TYPES))
def test_notes_are_last_writer_wins_and_the_village_is_review(type_name):
    policies = RECORD_TYPES[type_name].policies
    assert policies["village_code"] == "review"
    if "note" in policies:
        assert policies["note"] == "lww"


@pytest.mark.parametrize("type_name,name", [
    (t, name) for t, rt in RECORD_TYPES.items() for name, f in rt.fields.items()
    if isinstance(f, Text)])
def test_text_longer_than_its_limit_is_refused(type_name, name):
    f = RECORD_TYPES[type_name].schema.fields[name]
    assert load_field(type_name, name, " " + "字" * f.max_length + " ") == "字" * f.max_length
    assert field_errors(type_name, name, "字" * (f.max_length + 1)) == [
        f"{f.label}：不能超过{f.max_length}个字"]


def test_a_required_text_of_only_spaces_is_refused():
    assert errors_of("household", head_name="   ") == {"head_name": ["户主姓名：不能为空"]}


# -- enumerations ---------------------------------------------------------------------------

CODE_FIELDS = [(t, name, code) for t, rt in RECORD_TYPES.items()
               for name, f in rt.fields.items() if isinstance(f, Code)
               for code in f.choices]


def test_the_enumerations_are_those_of_the_brief():
    assert set(enums.CATEGORIES) == {"tuopin", "dibao", "tekun", "jiance_buwending",
                                     "jiance_bianyuan", "jiance_tufa", "banqian"}
    assert list(enums.LABOUR_CAPACITY.values()) == ["普通劳动力", "弱劳动力", "半劳动力",
                                                    "丧失劳动力", "无劳动力"]
    assert list(enums.DESTINATION.values()) == ["县内", "省内县外", "省外"]
    assert list(enums.WORK_KIND.values()) == ["务工", "公益性岗位", "就业帮扶车间", "灵活就业",
                                              "自主创业", "务农"]
    assert len(enums.PROVINCES) == 34 and "贵州" in enums.PROVINCES


@pytest.mark.parametrize("type_name,name,code", CODE_FIELDS)
def test_every_enumeration_code_is_accepted(type_name, name, code):
    # An ended appointment needs its leaving date even in a partial update.
    others = {"ended_on": "2026-06-30"} if (type_name, code) == ("appointment", "ended") else {}
    assert load_field(type_name, name, code, **others) == code


@pytest.mark.parametrize("type_name,name", sorted({(t, n) for t, n, _ in CODE_FIELDS}))
@pytest.mark.parametrize("value", ["unknown", "", None, 1, "已就业"])
def test_an_unknown_enumeration_code_is_refused(type_name, name, value):
    f = RECORD_TYPES[type_name].schema.fields[name]
    if value is None and f.required:
        assert field_errors(type_name, name, value) == [f"{f.label}：不能为空"]
        return
    if value is None:
        assert load_field(type_name, name, value) is None  # optional fields may be empty
        return
    [message] = field_errors(type_name, name, value)
    assert message.startswith(f"{f.label}：取值应为：")
    assert all(lbl in message for lbl in f.choices.values())


@pytest.mark.parametrize("type_name", ["household", "person"])
@pytest.mark.parametrize("code", sorted(enums.CATEGORIES))
def test_every_category_is_accepted(type_name, code):
    assert load_field(type_name, "categories", [code]) == [code]


def test_categories_are_stored_sorted_without_repeats():
    assert load_field("person", "categories", ["tuopin", "dibao", "tuopin"]) == ["dibao", "tuopin"]
    assert load_field("person", "categories", []) == []


@pytest.mark.parametrize("value", [["tuopin", "wealthy"], "tuopin", {"tuopin": 1}])
def test_an_unknown_category_or_a_non_list_is_refused(value):
    [message] = field_errors("person", "categories", value)
    assert message.startswith("人员类别：")


@pytest.mark.parametrize("province", enums.PROVINCES)
def test_every_province_is_accepted(province):
    assert load_field("employment", "province", province) == province


@pytest.mark.parametrize("province", ["火星", "贵州省", "guizhou", ""])
def test_an_unknown_province_is_refused(province):
    assert field_errors("employment", "province", province) == ["务工省份：不在可选范围内"]


@pytest.mark.parametrize("value", [True, False])
def test_flags_take_yes_or_no(value):
    assert load_field("employment", "organised_export", value) is value


@pytest.mark.parametrize("value", [1, 0, "true", "是"])
def test_flags_refuse_anything_but_a_boolean(value):
    assert field_errors("employment", "organised_export", value) == ["有组织劳务输出：应为是或否"]


# -- village codes --------------------------------------------------------------------------

PROVINCE_CODES = ["11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35",
                  "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54",
                  "61", "62", "63", "64", "65", "71", "81", "82"]


@pytest.mark.parametrize("code", ["522731100201", "110101001001", "441900003001",
                                  "820000001001"])
def test_a_village_level_code_is_accepted(code):
    assert load_field("village", "village_code", code) == code


@pytest.mark.parametrize("province", PROVINCE_CODES)
def test_every_province_level_prefix_is_accepted(province):
    code = f"{province}0101001001"
    assert load_field("household", "village_code", code) == code


@pytest.mark.parametrize("province", ["00", "10", "16", "19", "20", "24", "30", "38", "40", "47",
                                      "49", "55", "60", "66", "70", "72", "80", "83", "99"])
def test_a_code_whose_first_two_digits_are_no_province_is_refused(province):
    assert field_errors("village", "village_code", f"{province}2731100201") == [
        "所属村：前两位不是有效的省级代码"]


@pytest.mark.parametrize("code", ["52273110020", "5227311002011", "52273110020a", "",
                                  " 522731100201", "522731100201\n", "５２２７３１１００２０１",
                                  522731100201])
def test_a_village_code_must_be_twelve_digits(code):
    assert field_errors("village", "village_code", code) == ["所属村：应为12位数字的村级区划代码"]


@pytest.mark.parametrize("code", ["522731000201", "522731100000", "522731000000",
                                  "520000000000"])
def test_a_township_or_county_code_is_not_a_village_code(code):
    assert field_errors("village", "village_code", code) == [
        "所属村：应为村（社区）级代码，乡镇和村的部分不能为000"]


# -- money and counts -----------------------------------------------------------------------

@pytest.mark.parametrize("value,loaded", [
    (0, 0), ("0", 0), (4000, 4000), (4000.5, 4000.5), ("1200.50", 1200.5), (12.34, 12.34),
    ("12.340", 12.34), (1_000_000, 1_000_000), ("999999.99", 999999.99),
])
def test_an_income_of_at_most_two_decimals_up_to_the_maximum_is_accepted(value, loaded):
    result = load_field("employment", "monthly_income", value)
    assert result == loaded and type(result) is type(loaded)


@pytest.mark.parametrize("value,problem", [
    (-0.01, "金额不能为负数"), (-1, "金额不能为负数"), ("-0.5", "金额不能为负数"),
    (12.345, "金额最多保留两位小数"), ("0.001", "金额最多保留两位小数"),
    (1_000_000.01, "金额不能超过1000000元"), (10**9, "金额不能超过1000000元"),
    ("abc", "应为金额数字"), ("", "应为金额数字"), (True, "应为金额数字"),
    ("NaN", "应为金额数字"), ("Infinity", "应为金额数字"), (float("inf"), "应为金额数字"),
    ([1], "应为金额数字"),
])
def test_negative_over_precise_too_large_or_non_numeric_money_is_refused(value, problem):
    assert field_errors("employment", "monthly_income", value) == [f"月收入：{problem}"]


def test_each_amount_field_has_its_own_maximum():
    assert load_field("post", "monthly_pay", 100_000) == 100_000
    assert field_errors("post", "monthly_pay", 100_000.01) == ["月补贴标准：金额不能超过100000元"]


@pytest.mark.parametrize("value", [0, 1, 599, 600, "12"])
def test_insurance_months_from_0_to_600_are_accepted(value):
    assert load_field("employment", "insurance_months", value) == int(value)


@pytest.mark.parametrize("value,problem", [
    (-1, "应在0到600之间"), (601, "应在0到600之间"), (1.5, "应为整数"), ("1.5", "应为整数"),
    (True, "应为整数"), ("三", "应为整数"),
])
def test_insurance_months_outside_0_to_600_or_not_whole_are_refused(value, problem):
    assert field_errors("employment", "insurance_months", value) == [f"社保缴纳月数：{problem}"]


@pytest.mark.parametrize("year,ok", [(2012, False), (2013, True), (2030, True), (2031, False)])
def test_the_year_lifted_out_of_poverty_is_between_2013_and_2030(year, ok):
    if ok:
        assert load_field("household", "lifted_year", year) == year
    else:
        assert field_errors("household", "lifted_year", year) == ["脱贫年度：应在2013到2030之间"]


# -- dates ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["2026-02-29", "2026-13-01", "2026/03/01", "20260301x",
                                   "03-01-2026", 20260301, "明天"])
def test_a_date_that_is_not_a_calendar_day_is_refused(value):
    [message] = field_errors("visit", "visit_date", value)
    assert message.startswith("走访日期：")


def test_dates_load_to_iso_strings():
    assert load_field("visit", "visit_date", dt.date(2026, 3, 1)) == "2026-03-01"
    assert load_field("visit", "visit_date", " 2024-02-29 ") == "2024-02-29"


@pytest.mark.parametrize("type_name,early,late,message", [
    ("post", "created_on", "closed_on", "撤岗日期：不能早于设岗日期"),
    ("appointment", "start_date", "end_date", "聘期结束：不能早于聘期开始"),
    ("appointment", "start_date", "ended_on", "退岗日期：不能早于聘期开始"),
    ("training_session", "start_date", "end_date", "结业日期：不能早于开班日期"),
    ("visit", "visit_date", "follow_up_due", "跟进期限：不能早于走访日期"),
])
def test_dates_out_of_order_are_refused_and_the_same_day_is_fine(type_name, early, late,
                                                                  message):
    assert errors_of(type_name, **{early: "2026-03-10", late: "2026-03-09"}) == {
        late: [message]}
    loaded = load(type_name, **{early: "2026-03-10", late: "2026-03-10"})
    assert loaded[late] == "2026-03-10"


# -- post contracts: at most one year -------------------------------------------------------

@pytest.mark.parametrize("start", ["2026-01-01", "2026-03-15", "2027-02-28", "2023-03-01"])
def test_a_contract_of_exactly_one_year_is_accepted_and_one_day_more_is_refused(start):
    first = dt.date.fromisoformat(start)
    last = first.replace(year=first.year + 1) - dt.timedelta(days=1)
    assert one_year_end(first) == last
    assert load("appointment", start_date=start, end_date=last.isoformat())["end_date"] == \
        last.isoformat()
    too_long = (last + dt.timedelta(days=1)).isoformat()
    assert errors_of("appointment", start_date=start, end_date=too_long) == {
        "end_date": [f"聘期结束：聘用协议期限最长一年（至{last.isoformat()}）"]}


def test_a_contract_across_a_leap_day_may_last_366_days():
    assert load("appointment", start_date="2027-03-01", end_date="2028-02-29")
    assert load("appointment", start_date="2024-01-01", end_date="2024-12-31")


def test_a_one_day_contract_is_accepted():
    assert load("appointment", start_date="2026-05-01", end_date="2026-05-01")


def test_an_ended_appointment_needs_its_leaving_date():
    assert errors_of("appointment", status="ended") == {"ended_on": ["退岗日期：退岗时必填"]}
    assert load("appointment", status="ended", ended_on="2026-06-30", end_reason="外出务工")


# -- employment: fields that go together ----------------------------------------------------

EMPLOYED = {"status": "employed", "destination": "in_county", "work_kind": "wugong",
            "not_working_reason": None}


def test_an_employed_person_needs_where_and_how_they_work():
    assert errors_of("employment", **{**EMPLOYED, "destination": None, "work_kind": None}) == {
        "destination": ["就业地域：已就业时必填"], "work_kind": ["就业方式：已就业时必填"]}


def test_working_outside_the_province_needs_the_province():
    assert errors_of("employment", **{**EMPLOYED, "destination": "out_province"}) == {
        "province": ["务工省份：省外务工时必填"]}
    loaded = load("employment", **{**EMPLOYED, "destination": "out_province", "province": "广东"})
    assert loaded["province"] == "广东"


def test_an_employed_person_has_no_reason_for_not_working():
    assert errors_of("employment", **{**EMPLOYED, "not_working_reason": "willing"}) == {
        "not_working_reason": ["未就业原因：已就业时不应填写"]}


def test_a_person_not_employed_needs_the_reason():
    assert errors_of("employment", not_working_reason=None) == {
        "not_working_reason": ["未就业原因：未就业时必填"]}


@pytest.mark.parametrize("reason", sorted(enums.NOT_WORKING_REASON))
def test_every_reason_for_not_working_is_accepted(reason):
    assert load("employment", not_working_reason=reason)["not_working_reason"] == reason


@pytest.mark.parametrize("kind", sorted(enums.WORK_KIND))
@pytest.mark.parametrize("destination", sorted(enums.DESTINATION))
def test_every_kind_of_work_in_every_destination_is_accepted(kind, destination):
    loaded = load("employment", **{**EMPLOYED, "work_kind": kind, "destination": destination,
                                   "province": "浙江"})
    assert (loaded["work_kind"], loaded["destination"]) == (kind, destination)


def test_a_full_employment_record_loads():
    loaded = load("employment", **{
        **EMPLOYED, "destination": "out_province", "province": "广东", "organised_export": True,
        "employer": "东莞电子厂", "start_date": "2026-02-20", "long_contract": True,
        "insurance_months": 3, "monthly_income": "4500.00", "status_since": "2026-02-20"})
    assert loaded["monthly_income"] == 4500 and loaded["long_contract"] is True


def test_an_update_of_some_employment_fields_leaves_whole_row_rules_to_the_store():
    partial = RECORD_TYPES["employment"].partial_schema.load({"status": "employed"})
    assert partial == {"status": "employed"}


# -- person: the ID number decides birth date and sex ---------------------------------------

def test_a_person_whose_birth_date_and_sex_match_the_id_number_loads():
    loaded = load("person", birth_date="1980-05-17", sex="male")
    assert loaded["id_number"] == MALE_ID
    loaded = load("person", id_number=FEMALE_ID, birth_date="1985-02-03", sex="female")
    assert loaded["sex"] == "female"


def test_a_birth_date_other_than_the_id_numbers_is_refused():
    assert errors_of("person", birth_date="1980-05-18") == {
        "birth_date": ["出生日期：与身份证号中的出生日期不一致"]}


def test_a_sex_other_than_the_id_numbers_is_refused():
    assert errors_of("person", sex="female") == {"sex": ["性别：与身份证号不一致"]}
    assert errors_of("person", id_number=FEMALE_ID, sex="male") == {
        "sex": ["性别：与身份证号不一致"]}


def test_an_id_number_with_a_lower_case_x_is_stored_upper_case():
    number = "11010519491231002X"
    assert load("person", id_number=number.lower())["id_number"] == number


@pytest.mark.parametrize("number,problem", [
    (MALE_ID[:-1] + ("0" if MALE_ID[-1] != "0" else "1"), "校验位不正确，请核对号码"),
    (MALE_ID[:17], "应为18位：前17位数字，最后一位数字或X"),
    (5227311980, "应为18位号码"),
    (MALE_ID.translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"}),
     "应为18位：前17位数字，最后一位数字或X"),  # full-width digits
])
def test_a_wrong_id_number_is_refused_naming_the_field(number, problem):
    assert errors_of("person", id_number=number) == {"id_number": [f"身份证号：{problem}"]}


def test_an_id_number_with_an_impossible_birth_date_is_refused():
    from client_kit.domain.idcard import check_character
    first17 = "52273119810229013"
    assert errors_of("person", id_number=first17 + check_character(first17)) == {
        "id_number": ["身份证号：第7至14位的出生日期不存在"]}


# -- ids ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["123", str(uuid.uuid4()).upper(), 42, "",
                                   str(uuid.uuid4()) + "\n"])
def test_a_reference_must_be_a_lower_case_uuid(value):
    assert field_errors("person", "household_id", value) == ["所属户：应为记录编号（UUID）"]


def test_a_contract_from_the_29th_of_february_may_run_to_the_28th():
    from client_kit.domain.schemas import one_year_end

    assert one_year_end(dt.date(2024, 2, 29)) == dt.date(2025, 2, 28)
    assert one_year_end(dt.date(2026, 1, 1)) == dt.date(2026, 12, 31)
    assert one_year_end(dt.date(2027, 3, 1)) == dt.date(2028, 2, 29)


def test_an_id_number_born_in_the_future_is_refused():
    from client_kit.domain.idcard import make_id_number
    from client_kit.domain.schemas import PersonSchema

    future = make_id_number("522731", dt.date.today() + dt.timedelta(days=40), 11)
    with pytest.raises(ValidationError) as refused:
        PersonSchema(partial=True).load({"id_number": future})
    assert "身份证号" in str(refused.value.messages)
