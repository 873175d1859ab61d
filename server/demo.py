"""A realistic demo county, built through the real write and sync paths.

Each village's team records its households on a device store (validated like any worker's
writes), the device pushes through :class:`SyncService`, and a second team member's offline
edits then collide with the first's, so the demo has open conflicts to settle.
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from pathlib import Path
from typing import Any, Iterator

from client_kit.domain.enums import PROVINCES
from client_kit.domain.idcard import make_id_number
from client_kit.store import DeviceStore

from . import accounts
from .enrolment import issue_code
from .reporting.policy import Policy, load_policy
from .storage import DeviceRecord, Storage
from .sync_service import SyncService

COUNTY = ("522731", "长顺坝县")
TOWNSHIPS = [
    ("522731100", "青山镇", ["白岩村", "龙井村", "新寨村"]),
    ("522731101", "河坝镇", ["下坝村", "松林村"]),
    ("522731200", "云雾乡", ["高坡村", "水口村", "茶园村"]),
]
SURNAMES = "王李张刘陈杨黄吴周徐孙马朱胡郭何罗高林梁韦潘蒙石龙杨罗"
GIVEN = "明华国强建军秀英桂兰志勇海燕春梅永红德明兴富正发金凤玉兰小平光荣家顺世友"
EMPLOYERS = ["东莞市长安镇电子厂", "宁波某服装有限公司", "贵阳市建筑工地", "县城茶叶加工厂",
             "镇就业帮扶车间", "深圳市物流公司", "本村种养合作社"]
POST_DUTIES = [("护林员", "生态护林"), ("保洁员", "村庄保洁"), ("护路员", "道路养护"),
               ("水管员", "水利设施管护"), ("孝老助残员", "孝老助残")]


def village_code(township_code: str, index: int) -> str:
    return f"{township_code}2{index:02d}"


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def build_demo(storage: Storage, *, households: int = 300, seed: int = 7,
               password: str = "demo-password", today: dt.date | None = None,
               policy: Policy | None = None) -> Iterator[str]:
    """Fill an empty server with a demo county; yields lines describing what was made.

    The county is dated ``today``, by default the day the console's report form offers: today
    when the policy (``policy``, default the provincial one) is in force, else its last day in
    force, so every report shows the policy at work. Its records describe the days up to then
    and reached the server on that day.
    """
    rng = random.Random(seed)
    today = today or (policy or load_policy()).default_day(dt.date.today())
    # Received on the demo's day (China time noon), so reports as of that day see them.
    received = f"{today.isoformat()}T04:00:00.000Z"
    storage.log_clock = lambda: received
    try:
        yield from _build(storage, rng, households, password, today)
    finally:
        storage.log_clock = None


def _build(storage: Storage, rng: random.Random, households: int, password: str,
           today: dt.date) -> Iterator[str]:
    service = SyncService(storage)
    villages = [(village_code(tcode, i + 1), vname, tname)
                for tcode, tname, names in TOWNSHIPS for i, vname in enumerate(names)]
    accounts.create_user(storage, "admin", "admin", [], password, display_name="系统管理员")
    accounts.create_user(storage, "jiandu", "supervisor", [COUNTY[0]], password,
                         display_name="县人社局 赵监督")
    per_village = max(1, households // len(villages))
    with tempfile.TemporaryDirectory(prefix="cunsync-demo-") as tmp:
        for index, (code, vname, tname) in enumerate(villages):
            worker = f"team{index + 1:02d}"
            accounts.create_user(storage, worker, "worker", [code], password,
                                 display_name=f"{vname}驻村工作队")
            device = accounts.add_device_record(storage, worker, [code], f"demo-{code}-a")
            store = DeviceStore.open(Path(tmp) / f"{code}-a.sqlite", device_id=device.id)
            with store.transaction():
                _record_village(store, rng, today, code, vname, tname, per_village)
            _push_all(service, store, device)
            with store.transaction():
                _record_job_losses(store, rng, today)
            _push_all(service, store, device)
            if index < 3:
                _make_conflicts(storage, service, store, device, today, code,
                                Path(tmp), worker)
            store.close()
    counts = {name: storage.count_rows(name) for name in (
        "village", "household", "person", "employment", "post", "attendance",
        "training_session", "signin", "visit")}
    open_conflicts = sum(storage.count_conflicts().values())
    yield f"demo county {COUNTY[1]} ({COUNTY[0]}): " + ", ".join(
        f"{n} {k}" for k, n in counts.items())
    yield f"open conflicts: {open_conflicts}"
    yield f"users: admin (admin), jiandu (supervisor), team01..team{len(villages):02d} " \
          f"(workers); password: {password}"
    first_code, first_name, _ = villages[0]
    code, expires = issue_code(storage, "team01", [first_code], actor="demo", hours=24 * 30)
    yield f"enrolment code for a tablet of {first_name} (team01): {code} (until {expires})"


def _record_village(store: DeviceStore, rng: random.Random, today: dt.date, code: str,
                    vname: str, tname: str, households: int) -> None:
    store.create("village", {"village_code": code, "name": vname, "township": tname,
                             "county": COUNTY[1]})
    persons: list[dict[str, Any]] = []
    for h in range(households):
        categories = rng.sample(["tuopin", "tuopin", "tuopin", "dibao", "jiance_bianyuan",
                                 "jiance_buwending", "banqian", "tekun", "jiance_tufa"],
                                rng.choice((1, 1, 2)))
        head = _name(rng)
        household = store.create("household", {
            "village_code": code, "household_no": f"{code[-6:]}{h + 1:04d}", "head_name": head,
            "address": f"{tname}{vname}{rng.randint(1, 12)}组{rng.randint(1, 80)}号",
            "categories": categories, "relocated": "banqian" in categories,
            "lifted_year": rng.choice((2016, 2017, 2018, 2019, 2020)),
            "phone": f"1{rng.choice('3589')}{rng.randint(100000000, 999999999)}"})
        size = rng.choice((2, 3, 4, 4, 5, 6))
        for m in range(size):
            age = rng.randint(30, 62) if m == 0 else rng.randint(3, 80)
            birth = dt.date(today.year - age, rng.randint(1, 12), rng.randint(1, 28))
            sex = rng.choice(("male", "female"))
            seq = rng.randint(0, 499) * 2 + (1 if sex == "male" else 0)
            capacity = ("none" if age < 16 or age > 70 else
                        rng.choice(("normal", "normal", "normal", "weak", "half", "lost")))
            person = store.create("person", {
                "household_id": household["id"], "name": head if m == 0 else _name(rng),
                "id_number": make_id_number(code[:6], birth, seq), "sex": sex,
                "birth_date": birth.isoformat(), "relation": "head" if m == 0 else rng.choice(
                    ("spouse", "child", "child", "parent", "grandchild")),
                "categories": categories, "labour_capacity": capacity})
            persons.append(person)
            if capacity in ("normal", "weak", "half") and 16 <= age <= 65:
                _record_employment(store, rng, today, person)
        if rng.random() < 0.3:
            visit_day = today - dt.timedelta(days=rng.randint(1, 90))
            store.create("visit", {
                "household_id": household["id"], "visit_date": visit_day.isoformat(),
                "visitors": "驻村工作队", "findings": rng.choice(
                    ["家中劳动力外出务工，收入稳定", "户主有就业意愿，需推荐岗位", "已了解培训需求"]),
                "follow_up": "推荐参加技能培训",
                "follow_up_due": (visit_day + dt.timedelta(days=30)).isoformat()})
    _record_posts(store, rng, today, code, persons)
    _record_training(store, rng, today, code, vname, persons)


def _record_employment(store: DeviceStore, rng: random.Random, today: dt.date,
                       person: dict[str, Any]) -> None:
    if rng.random() < 0.75:
        destination = rng.choice(("in_county", "in_province", "out_province", "out_province"))
        start = today - dt.timedelta(days=rng.randint(20, 900))
        store.create("employment", {
            "person_id": person["id"], "status": "employed",
            "status_since": start.isoformat(), "destination": destination,
            "province": rng.choice([p for p in PROVINCES if p != "贵州"][:12])
            if destination == "out_province" else "贵州",
            "work_kind": rng.choice(("wugong", "wugong", "workshop", "flexible", "farming",
                                     "self_employed")),
            "organised_export": rng.random() < 0.4, "employer": rng.choice(EMPLOYERS),
            "start_date": start.isoformat(), "long_contract": rng.random() < 0.5,
            "insurance_months": rng.randint(0, 24),
            "monthly_income": rng.choice((1800, 2500, 3200, 4000, 4800, 5500))})
    else:
        store.create("employment", {
            "person_id": person["id"], "status": "not_employed",
            "status_since": (today - dt.timedelta(days=rng.randint(5, 400))).isoformat(),
            "not_working_reason": rng.choice(("willing", "willing", "unwilling", "unable"))})


def _record_job_losses(store: DeviceStore, rng: random.Random, today: dt.date) -> None:
    """Two people of the village lost their work in the last three weeks (就业转失业), after
    their first records reached the server: the early-warning list has someone to show."""
    employed = [e for e in store.query("employment", status="employed")]
    for employment in rng.sample(employed, min(2, len(employed))):
        store.update("employment", employment["id"], {
            "status": "not_employed", "not_working_reason": "willing",
            "status_since": (today - dt.timedelta(days=rng.randint(1, 20))).isoformat(),
            "destination": None, "province": None, "work_kind": None, "organised_export": None,
            "employer": None, "start_date": None, "long_contract": None,
            "insurance_months": None, "monthly_income": None})


def _record_posts(store: DeviceStore, rng: random.Random, today: dt.date, code: str,
                  persons: list[dict[str, Any]]) -> None:
    holders = [p for p in persons if p["labour_capacity"] in ("weak", "half")]
    rng.shuffle(holders)
    start = today.replace(day=1) - dt.timedelta(days=60)
    for (name, duty), holder in zip(POST_DUTIES, holders):
        post = store.create("post", {"village_code": code, "name": name, "duty": duty,
                                     "monthly_pay": rng.choice((500, 600, 800)),
                                     "created_on": (start - dt.timedelta(days=30)).isoformat()})
        store.create("appointment", {
            "post_id": post["id"], "person_id": holder["id"], "start_date": start.isoformat(),
            "end_date": (start.replace(year=start.year + 1) - dt.timedelta(days=1)).isoformat(),
            "accident_insurance": rng.random() < 0.85, "status": "active"})
        for offset in range((today - start).days):
            day = start + dt.timedelta(days=offset)
            store.create("attendance", {
                "post_id": post["id"], "day": day.isoformat(), "person_id": holder["id"],
                "status": rng.choices(("on_post", "absent", "leave"), (90, 4, 6))[0]})


def _record_training(store: DeviceStore, rng: random.Random, today: dt.date, code: str,
                     vname: str, persons: list[dict[str, Any]]) -> None:
    start = today - dt.timedelta(days=rng.randint(10, 40))
    session = store.create("training_session", {
        "village_code": code, "title": f"{vname}{rng.choice(['茶叶种植', '电工', '家政服务', '厨师'])}培训班",
        "kind": rng.choice(("skills", "skills", "yigong_daixun")), "trade": "技能培训",
        "organiser": "县职业技能培训中心", "location": f"{vname}村委会",
        "start_date": start.isoformat(), "end_date": (start + dt.timedelta(days=4)).isoformat()})
    trainees = [p for p in persons if p["labour_capacity"] in ("normal", "weak", "half")]
    for person in rng.sample(trainees, min(15, len(trainees))):
        for day in range(5):
            if rng.random() < 0.85:
                store.create("signin", {"session_id": session["id"], "person_id": person["id"],
                                        "day": (start + dt.timedelta(days=day)).isoformat()})


def _push_all(service: SyncService, store: DeviceStore, device: DeviceRecord) -> None:
    while True:
        changes = store.pending(limit=1000)
        if not changes:
            return
        result = service.push(device, changes, app_version="demo")
        store.acknowledge(result.acked_through)


def _pull_all(service: SyncService, store: DeviceStore, device: DeviceRecord) -> None:
    cursor = int(store.meta("cursor", "0") or 0)
    while True:
        page = service.pull(device, cursor, 2000)
        store.apply_pulled(page.entries, page.cursor)
        cursor = page.cursor
        if not page.more:
            return


def _make_conflicts(storage: Storage, service: SyncService, first: DeviceStore,
                    first_device: DeviceRecord, today: dt.date, code: str,
                    tmp: Path, worker: str) -> None:
    """A second tablet of the same team edits offline what the first edits too."""
    second_device = accounts.add_device_record(storage, worker, [code], f"demo-{code}-b")
    second = DeviceStore.open(tmp / f"{code}-b.sqlite", device_id=second_device.id)
    _pull_all(service, second, second_device)
    for employment in first.query("employment", status="employed")[:3]:
        income = employment["monthly_income"] or 3000
        first.update("employment", employment["id"], {"monthly_income": income + 500})
        second.update("employment", employment["id"], {"monthly_income": income - 300})
    for employment in first.query("employment", status="not_employed")[:2]:
        first.update("employment", employment["id"], {"not_working_reason": "unable"})
        second.update("employment", employment["id"], {
            "status": "employed", "not_working_reason": None, "destination": "in_county",
            "work_kind": "workshop", "employer": "镇就业帮扶车间",
            "status_since": today.isoformat()})
    for household in first.query("household", limit=2):
        first.update("household", household["id"], {"note": "已电话回访"})
        second.update("household", household["id"], {"note": "户主外出，未见到本人"})
    for row in first.query("attendance", day=(today - dt.timedelta(days=1)).isoformat(),
                           limit=1):
        first_status, second_status = [s for s in ("on_post", "absent", "leave")
                                       if s != row["status"]]
        first.update("attendance", row["id"], {"status": first_status})
        second.update("attendance", row["id"], {"status": second_status})
    _push_all(service, first, first_device)
    _push_all(service, second, second_device)
    second.close()
