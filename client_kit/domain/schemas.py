"""The record types as marshmallow schemas, declared once and used by device and server.

Each schema loads a whole row (or, with ``partial=True``, the fields of an update) and checks
the rules a county expects: ID check digits, village codes, dates in order, contracts of at most
one year, no negative money. Messages are Chinese and name the field.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import Schema, ValidationError, validates_schema

from . import enums
from .fields import (Choice, Code, CodeList, Count, Day, Flag, IdNo, Money, Ref, Text,
                     VillageCode)
from .idcard import parse_id_number


class RecordSchema(Schema):
    """Fields every synced row has: its id and the village it belongs to."""

    error_messages = {"unknown": "未知字段", "type": "数据格式不正确，应为对象"}
    #: Groups of fields tied together by the rules of :meth:`check_row`: changing one may need
    #: the others changed in the same step (a supervisor settling a conflict sees them).
    related: tuple[tuple[str, ...], ...] = ()

    id = Ref("编号", required=True)
    village_code = VillageCode("所属村", required=True)

    @validates_schema
    def _row_rules(self, data: dict[str, Any], partial: Any = None, **kwargs: Any) -> None:
        if partial:
            return  # Rules spanning fields are checked on the whole row.
        self.check_row(data)

    def check_row(self, data: dict[str, Any]) -> None:
        """Rules spanning fields of a whole, field-checked row; raise ``ValidationError``."""


def _present(data: dict[str, Any], *names: str) -> bool:
    return all(data.get(name) is not None for name in names)


def _not_before(data: dict[str, Any], early: str, late: str, message: str) -> None:
    if _present(data, early, late) and data[late] < data[early]:
        raise ValidationError({late: [message]})


def one_year_end(start: dt.date) -> dt.date:
    """The last day (inclusive) of a contract of exactly one year starting on ``start``.

    2026-01-01 gives 2026-12-31; a contract from 29 February runs to 28 February.
    """
    try:
        return start.replace(year=start.year + 1) - dt.timedelta(days=1)
    except ValueError:  # 29 February
        return dt.date(start.year + 1, 2, 28)


class VillageSchema(RecordSchema):
    """行政村 (its id derives from its code, which is also its ``village_code``)."""

    name = Text("村名", required=True, max_length=50)
    township = Text("乡镇", required=True, max_length=50)
    county = Text("县", required=True, max_length=50)


class HouseholdSchema(RecordSchema):
    """户."""

    household_no = Text("户编号", max_length=40)
    head_name = Text("户主姓名", required=True, max_length=40)
    address = Text("住址", max_length=200, policy="lww")
    categories = CodeList("户类别", enums.CATEGORIES)
    relocated = Flag("易地搬迁户")
    lifted_year = Count("脱贫年度", minimum=2013, maximum=2030)
    phone = Text("联系电话", max_length=20, policy="lww", sensitive=True)
    bank_account = Text("银行账号", max_length=40, sensitive=True)
    note = Text("备注", max_length=1000, policy="lww")


class PersonSchema(RecordSchema):
    """家庭成员."""

    household_id = Ref("所属户", required=True)
    name = Text("姓名", required=True, max_length=40)
    id_number = IdNo("身份证号", required=True, sensitive=True)
    sex = Code("性别", enums.SEX)
    birth_date = Day("出生日期")
    relation = Code("与户主关系", enums.RELATION)
    categories = CodeList("人员类别", enums.CATEGORIES)
    labour_capacity = Code("劳动能力", enums.LABOUR_CAPACITY)
    phone = Text("联系电话", max_length=20, policy="lww", sensitive=True)
    note = Text("备注", max_length=1000, policy="lww")

    related = (("id_number", "birth_date", "sex"),)

    def check_row(self, data: dict[str, Any]) -> None:
        if not data.get("id_number"):
            return
        info = parse_id_number(data["id_number"])
        if data.get("birth_date") and data["birth_date"] != info.birth_date.isoformat():
            raise ValidationError({"birth_date": ["出生日期：与身份证号中的出生日期不一致"]})
        if data.get("sex") and data["sex"] != info.sex:
            raise ValidationError({"sex": ["性别：与身份证号不一致"]})


class EmploymentSchema(RecordSchema):
    """就业状态: one row per person (its id derives from the person)."""

    person_id = Ref("人员", required=True)
    status = Code("就业状态", enums.EMPLOYMENT_STATUS, required=True)
    status_since = Day("状态起始日期")
    not_working_reason = Code("未就业原因", enums.NOT_WORKING_REASON)
    destination = Code("就业地域", enums.DESTINATION)
    province = Choice("务工省份", enums.PROVINCES)
    work_kind = Code("就业方式", enums.WORK_KIND)
    organised_export = Flag("有组织劳务输出")
    employer = Text("就业单位", max_length=100)
    start_date = Day("就业开始日期")
    long_contract = Flag("签订一年以上劳动合同")
    insurance_months = Count("社保缴纳月数", minimum=0, maximum=600)
    monthly_income = Money("月收入", maximum=1_000_000, sensitive=True)
    note = Text("备注", max_length=1000, policy="lww")

    related = (("status", "status_since", "not_working_reason", "destination", "province",
                "work_kind", "employer", "start_date"),)

    def check_row(self, data: dict[str, Any]) -> None:
        errors: dict[str, list[str]] = {}
        if data.get("status") == "employed":
            for name, label in (("destination", "就业地域"), ("work_kind", "就业方式")):
                if data.get(name) is None:
                    errors[name] = [f"{label}：已就业时必填"]
            if data.get("destination") == "out_province":
                if data.get("province") is None:
                    errors["province"] = ["务工省份：省外务工时必填"]
            if data.get("not_working_reason") is not None:
                errors["not_working_reason"] = ["未就业原因：已就业时不应填写"]
        elif data.get("status") == "not_employed":
            if data.get("not_working_reason") is None:
                errors["not_working_reason"] = ["未就业原因：未就业时必填"]
        if errors:
            raise ValidationError(errors)


class PostSchema(RecordSchema):
    """乡村公益性岗位."""

    name = Text("岗位名称", required=True, max_length=60)
    duty = Text("岗位类别", max_length=60)
    monthly_pay = Money("月补贴标准", maximum=100_000)
    #: How many holders the post has room for (按需设岗); the posts report flags more.
    seats = Count("岗位人数", minimum=1, maximum=1_000)
    created_on = Day("设岗日期", required=True)
    closed_on = Day("撤岗日期")
    note = Text("备注", max_length=1000, policy="lww")

    related = (("created_on", "closed_on"),)

    def check_row(self, data: dict[str, Any]) -> None:
        _not_before(data, "created_on", "closed_on", "撤岗日期：不能早于设岗日期")


class AppointmentSchema(RecordSchema):
    """岗位聘任: who holds a post, for at most one year at a time."""

    post_id = Ref("岗位", required=True)
    person_id = Ref("人员", required=True)
    start_date = Day("聘期开始", required=True)
    end_date = Day("聘期结束", required=True)
    accident_insurance = Flag("已购意外伤害保险")
    insurance_policy_no = Text("保单号", max_length=60)
    status = Code("聘任状态", enums.APPOINTMENT_STATUS, required=True)
    ended_on = Day("退岗日期")
    end_reason = Text("退岗原因", max_length=200)

    related = (("status", "start_date", "end_date", "ended_on", "end_reason"),)

    def check_row(self, data: dict[str, Any]) -> None:
        _not_before(data, "start_date", "end_date", "聘期结束：不能早于聘期开始")
        if _present(data, "start_date", "end_date"):
            start = dt.date.fromisoformat(data["start_date"])
            if dt.date.fromisoformat(data["end_date"]) > one_year_end(start):
                raise ValidationError(
                    {"end_date": ["聘期结束：聘用协议期限最长一年（至%s）" % one_year_end(start)]})
        _not_before(data, "start_date", "ended_on", "退岗日期：不能早于聘期开始")
        if data.get("status") == "ended" and data.get("ended_on") is None:
            raise ValidationError({"ended_on": ["退岗日期：退岗时必填"]})


class AttendanceSchema(RecordSchema):
    """岗位考勤: one row per post and day (its id derives from them)."""

    post_id = Ref("岗位", required=True)
    day = Day("日期", required=True)
    person_id = Ref("在岗人员", required=True)
    status = Code("考勤", enums.ATTENDANCE_STATUS, required=True)
    note = Text("备注", max_length=200, policy="lww")


class TrainingSessionSchema(RecordSchema):
    """培训班."""

    title = Text("培训名称", required=True, max_length=100)
    kind = Code("培训类型", enums.TRAINING_KIND, required=True)
    trade = Text("培训工种", max_length=60)
    organiser = Text("培训机构", max_length=100)
    location = Text("培训地点", max_length=100)
    start_date = Day("开班日期", required=True)
    end_date = Day("结业日期", required=True)

    related = (("start_date", "end_date"),)

    def check_row(self, data: dict[str, Any]) -> None:
        _not_before(data, "start_date", "end_date", "结业日期：不能早于开班日期")


class SignInSchema(RecordSchema):
    """培训签到: one row per session, person and day (its id derives from them)."""

    session_id = Ref("培训班", required=True)
    person_id = Ref("学员", required=True)
    day = Day("签到日期", required=True)
    note = Text("备注", max_length=200, policy="lww")


class VisitSchema(RecordSchema):
    """走访记录."""

    household_id = Ref("走访户", required=True)
    visit_date = Day("走访日期", required=True)
    visitors = Text("走访人", required=True, max_length=100)
    findings = Text("走访情况", max_length=2000, policy="lww")
    follow_up = Text("后续措施", max_length=1000, policy="lww")
    follow_up_due = Day("跟进期限")

    related = (("visit_date", "follow_up_due"),)

    def check_row(self, data: dict[str, Any]) -> None:
        _not_before(data, "visit_date", "follow_up_due", "跟进期限：不能早于走访日期")


class SubsidyGrantSchema(RecordSchema):
    """已发放补贴: a one-time subsidy already paid to or for a person (one per person and kind,
    its id derives from them, so nobody is recorded as paid the same subsidy twice)."""

    person_id = Ref("人员", required=True)
    kind = Code("补贴类型", enums.SUBSIDY_KIND, required=True)
    amount = Money("发放金额", required=True, maximum=1_000_000)
    granted_on = Day("发放日期", required=True)
    note = Text("备注", max_length=1000, policy="lww")
