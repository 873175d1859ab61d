"""Enumerations of the domain: stable ASCII codes with their Chinese labels.

Codes are what is stored and sent; labels are what workers and supervisors read.
"""

from __future__ import annotations

#: 三类人员 and related flags (a person may carry several).
CATEGORIES = {
    "tuopin": "脱贫人口",
    "dibao": "农村低保对象",
    "tekun": "农村特困人员",
    "jiance_buwending": "脱贫不稳定人口",
    "jiance_bianyuan": "边缘易致贫人口",
    "jiance_tufa": "突发严重困难户",
    "banqian": "易地搬迁人口",
}

LABOUR_CAPACITY = {
    "normal": "普通劳动力",
    "weak": "弱劳动力",
    "half": "半劳动力",
    "lost": "丧失劳动力",
    "none": "无劳动力",
}

#: Capacities that count as "has labour" for 一户一人.
HAS_LABOUR = ("normal", "weak", "half")

EMPLOYMENT_STATUS = {
    "employed": "已就业",
    "not_employed": "未就业",
}

NOT_WORKING_REASON = {
    "willing": "有就业意愿未就业",
    "unwilling": "无就业意愿",
    "studying": "在校学生",
    "unable": "无法就业",
}

DESTINATION = {
    "in_county": "县内",
    "in_province": "省内县外",
    "out_province": "省外",
}

WORK_KIND = {
    "wugong": "务工",
    "gongyi_post": "公益性岗位",
    "workshop": "就业帮扶车间",
    "flexible": "灵活就业",
    "self_employed": "自主创业",
    "farming": "务农",
}

RELATION = {
    "head": "户主",
    "spouse": "配偶",
    "child": "子女",
    "parent": "父母",
    "grandchild": "孙子女",
    "sibling": "兄弟姐妹",
    "other": "其他",
}

SEX = {"male": "男", "female": "女"}

APPOINTMENT_STATUS = {"active": "在岗", "ended": "已退岗"}

ATTENDANCE_STATUS = {"on_post": "在岗", "absent": "缺勤", "leave": "请假"}

TRAINING_KIND = {
    "skills": "职业技能培训",
    "yulu": "雨露计划",
    "yigong_daixun": "以工代训",
}

PROVINCES = (
    "北京", "天津", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "上海", "江苏", "浙江",
    "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "广西", "海南", "重庆", "四川",
    "贵州", "云南", "西藏", "陕西", "甘肃", "青海", "宁夏", "新疆", "香港", "澳门", "台湾",
)

#: One-time subsidies a person is paid (or paid for) only once; codes match the policy rules.
SUBSIDY_KIND = {
    "transport": "一次性交通补助",
    "job_seeking": "一次性求职创业补贴",
    "follow_up": "一次性跟踪服务补贴",
    "absorption": "吸纳就业一次性补贴",
}
