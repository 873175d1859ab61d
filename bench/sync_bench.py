#!/usr/bin/env python
"""Sync benchmark: push and pull realistic village records through the real HTTP server.

The county server runs in a process of its own, as in production: the script starts itself
again with ``--serve-worker``, and that child serves the Flask app with werkzeug's threaded
server on a free 127.0.0.1 port until the benchmark ends (or dies: it stops when its stdin
closes). So the device code and the server don't share a GIL. The push CPU figures add the
server process's CPU time (its CPU clock) to the device's, and the envelope
figures add its sealing and opening time. (``--profile`` runs the server in a thread of this
process instead, since werkzeug's profiler middleware must wrap the app where it is served.)
Everything happens in a temporary directory that is removed at the end:

1. make ``--records`` realistic records (Chinese names and text, valid ID numbers) in a device
   store, in one transaction;
2. enrol a device and push its outbox through ``SyncClient``/``HttpTransport`` in batches,
   timing each batch and measuring the bytes of each push and acknowledgement;
3. enrol a second device and pull everything onto it (pull and apply);
4. insert the same records into a bare SQLite table in one transaction: the raw limit every
   rate is compared with;
5. fill the server's change log with ``--log-rows`` synthetic rows of other villages and time a
   "nothing new" pull (median of ``--polls``);
6. push a whole village (about ``--pull-village-people`` people with a year of attendance and
   trainings with sign-ins) and time a fresh device's initial sync, in a child process so its
   peak memory is its own, at 1x and 2x the village size.

Usage::

    .venv/bin/python bench/sync_bench.py                      # the full run (a few minutes)
    .venv/bin/python bench/sync_bench.py --records 2000 --log-rows 100000 --village-scales 1
    .venv/bin/python bench/sync_bench.py --profile            # cProfile of push and pull

These are benchmark figures, not timed tests: the script prints them and never fails on them.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gc
import io
import itertools
import json
import logging
import os
import platform
import pstats
import random
import resource
import select
import shutil
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from werkzeug.serving import make_server  # noqa: E402

from client_kit.channel import Channel  # noqa: E402
from client_kit.domain.idcard import make_id_number  # noqa: E402
from client_kit.enrol import enrol as enrol_device  # noqa: E402
from client_kit.engine.protocol import (SCHEMA_VERSION, decode_pull_page,  # noqa: E402
                                        encode_push, pack)
from client_kit.store import DeviceStore, connect  # noqa: E402
from client_kit.sync_client import MAX_BATCH, SyncClient, SyncSummary  # noqa: E402
from client_kit.transport import HttpTransport  # noqa: E402
from server import create_app  # noqa: E402
from server.enrolment import issue_code  # noqa: E402
from server.storage import open_storage  # noqa: E402

PASSPHRASE = "山里没有信号"
REGION = "522731"  # 长顺坝县 (a made-up county in Guizhou)
VILLAGE = "522731100201"  # the 10,000-record village
BIG_VILLAGES = ("522731101201", "522731101202", "522731101203", "522731101204")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # the unit of CPU times in /proc/<pid>/stat

# -- realistic records -----------------------------------------------------------------------

SURNAMES = "王李张刘陈杨黄赵吴周罗龙潘石韦蒙岑陆班莫卢韩田彭谢贺熊冉杜邓欧阳"
MALE_GIVEN = ("大山", "国强", "建华", "志明", "永福", "德贵", "光荣", "正文", "昌盛", "海涛",
              "文军", "小龙", "金贵", "开明", "兴旺", "学军", "世勇", "家富", "成林", "庆华",
              "明", "勇", "刚", "军", "斌", "鹏", "超", "伟")
FEMALE_GIVEN = ("秀英", "桂芳", "玉兰", "春花", "金凤", "丽娟", "小梅", "秀珍", "海燕", "美玲",
                "翠花", "红梅", "晓燕", "婷婷", "雪梅", "慧敏", "芳", "艳", "娟", "霞", "丽")
HOUSEHOLD_NOTES = ("家中有慢性病患者，需定期随访", "子女在外务工，老人留守在家",
                   "已纳入防返贫监测，落实产业帮扶措施", "种植茶叶三亩，养殖生猪两头",
                   "二〇二四年危房改造已完成", "易地扶贫搬迁至县城安置点，老房已复垦",
                   "户主残疾，享受残疾人两项补贴")
PERSON_NOTES = ("在校大学生，享受雨露计划补助", "患高血压，已签约家庭医生", "外出务工联系不上，由家属代为登记",
                "退役军人", "持有残疾证（肢体三级）")
EMPLOYERS = (("东莞市长安镇精密电子厂", "out_province", "广东"),
             ("深圳市宝安区五金制品有限公司", "out_province", "广东"),
             ("义乌市小商品城某商铺", "out_province", "浙江"),
             ("晋江市鞋业有限公司", "out_province", "福建"),
             ("苏州工业园区电子科技有限公司", "out_province", "江苏"),
             ("贵阳市花溪区建筑工地", "in_province", "贵州"),
             ("长顺坝县茶叶加工厂", "in_county", None),
             ("本村就业帮扶车间（服装加工）", "in_county", None))
WORK_KINDS = ("wugong", "wugong", "wugong", "workshop", "flexible", "self_employed", "farming")
POSTS = (("护林员", "生态护林"), ("保洁员", "村庄保洁"), ("护路员", "农村公路养护"),
         ("水管员", "饮水工程管护"), ("防火巡查员", "森林防火"), ("河道巡查员", "河道管护"),
         ("孤寡老人看护员", "养老服务"), ("地质灾害监测员", "地灾监测"), ("村级信息员", "信息采集"))
ABSENCE_NOTES = ("生病请假", "赶场请假半天", "家中有事", "送孩子上学", "农忙请假")
TRAININGS = (("茶叶种植技术培训班", "skills", "茶叶种植"), ("中式烹调师培训班", "skills", "中式烹调师"),
             ("电工技能培训班", "skills", "电工"), ("家政服务员培训班", "yigong_daixun", "家政服务员"),
             ("农村电商培训班", "skills", "电子商务"), ("雨露计划短期技能培训", "yulu", "汽车维修"),
             ("苗族刺绣技艺培训班", "skills", "刺绣"), ("挖掘机操作培训班", "skills", "挖掘机驾驶员"))
TOWNSHIPS = ("青山镇", "白水镇", "摆所镇", "代化镇")
VILLAGE_NAMES = ("白岩村", "新寨村", "高坡村", "石头寨村", "茶园村", "大坪村", "坝上村", "龙井村")


class Ref(tuple):
    """A reference to a record made earlier in the same stream (its id is known only then)."""


@dataclass
class Rec:
    type: str
    values: dict[str, Any]
    key: Any = None


def _name(rng: random.Random, sex: str, surname: str | None = None) -> str:
    given = MALE_GIVEN if sex == "male" else FEMALE_GIVEN
    return (surname or rng.choice(SURNAMES)) + rng.choice(given)


def _birth(rng: random.Random, first: int, last: int) -> dt.date:
    return dt.date(rng.randint(first, last), rng.randint(1, 12), rng.randint(1, 28))


def village_records(rng: random.Random, village: str, *, people: int, posts: int,
                    days: int, sessions: int, trainees: int, session_days: int = 5,
                    spread: int = 365, start: dt.date = dt.date(2025, 1, 1)) -> Iterator[Rec]:
    """A village's records in the order a team enters them over a year.

    First the village and the few households whose members hold the ``posts`` public-welfare
    posts (with their appointments); then day by day: attendance at every post (for ``days``
    days from ``start``), the households and members (``people`` in all, with employment rows
    for those of working age) entered evenly over the first ``spread`` days, and ``sessions``
    trainings of ``session_days`` days spread over the same days, with ``trainees`` signing in
    each day. So every stretch of a thousand records holds much the same mix.
    """
    index = int(village[-3:])
    township = TOWNSHIPS[index % len(TOWNSHIPS)]
    name = VILLAGE_NAMES[index % len(VILLAGE_NAMES)]
    yield Rec("village", {"village_code": village, "name": name, "township": township,
                          "county": "长顺坝县"})
    workers: list[Any] = []
    made = [0]
    households = _households(rng, village, township, name, people, workers, made)
    while len(workers) < posts and made[0] < people:
        yield from next(households)
    post_holder: list[tuple[Any, Any]] = []
    for p in range(posts):
        post_name, duty = POSTS[p % len(POSTS)]
        pkey = ("post", village, p)
        yield Rec("post", {"village_code": village,
                           "name": f"{post_name}（{p // len(POSTS) + 1}号）", "duty": duty,
                           "monthly_pay": rng.choice((500, 600, 700, 800)),
                           "created_on": start.isoformat(), "note": "按月考核，考核合格后发放补贴"},
                  pkey)
        holder = workers[p] if p < len(workers) else None
        if holder is not None:
            yield Rec("appointment", {
                "post_id": Ref(pkey), "person_id": Ref(holder), "start_date": start.isoformat(),
                "end_date": (start.replace(year=start.year + 1) - dt.timedelta(days=1)).isoformat(),
                "status": "active", "accident_insurance": True,
                "insurance_policy_no": f"PICC{rng.randint(10**11, 10**12 - 1)}"})
        post_holder.append((pkey, holder))
    session_start = {int((s + 0.5) * spread / max(sessions, 1)): s for s in range(sessions)}
    signins: dict[int, list[tuple[Any, list[Any]]]] = {}
    for d in itertools.count():
        if d >= days and made[0] >= people and not any(k >= d for k in signins):
            break
        day = start + dt.timedelta(days=d)
        # The households entered by the end of this day.
        target = people if d + 1 >= spread else people * (d + 1) // spread
        while made[0] < min(target, people):
            yield from next(households)
        if d in session_start:
            s = session_start[d]
            title, kind, trade = TRAININGS[s % len(TRAININGS)]
            skey = ("session", village, s)
            yield Rec("training_session", {
                "village_code": village, "title": f"{day.year}年{title}（第{s + 1}期）",
                "kind": kind, "trade": trade, "organiser": "长顺坝县人力资源和社会保障局",
                "location": f"{name}村委会会议室", "start_date": day.isoformat(),
                "end_date": (day + dt.timedelta(days=session_days - 1)).isoformat()}, skey)
            group = rng.sample(workers, min(trainees, len(workers)))
            for k in range(session_days):
                signins.setdefault(d + k, []).append((skey, group))
        if d < days:
            for pkey, holder in post_holder:
                if holder is None:
                    continue
                roll = rng.random()
                status = "on_post" if roll < 0.9 else "leave" if roll < 0.95 else "absent"
                attendance: dict[str, Any] = {"post_id": Ref(pkey), "day": day.isoformat(),
                                              "person_id": Ref(holder), "status": status}
                if status != "on_post":
                    attendance["note"] = rng.choice(ABSENCE_NOTES)
                yield Rec("attendance", attendance)
        for skey, group in signins.pop(d, ()):
            for person in group:
                yield Rec("signin", {"session_id": Ref(skey), "person_id": Ref(person),
                                     "day": day.isoformat()})


def _households(rng: random.Random, village: str, township: str, village_name: str,
                people: int, workers: list[Any], made: list[int]) -> Iterator[list[Rec]]:
    """One household at a time (its row, its members and their employment rows); appends
    the keys of members able to work to ``workers`` and counts members in ``made[0]``."""
    for h in itertools.count():
        recs: list[Rec] = []
        hkey = ("household", village, h)
        surname = rng.choice(SURNAMES)
        head_sex = "male" if rng.random() < 0.85 else "female"
        head_name = _name(rng, head_sex, surname)
        categories = sorted(rng.sample(("tuopin", "dibao", "jiance_bianyuan", "banqian",
                                        "jiance_buwending"), rng.choice((1, 1, 1, 2))))
        household: dict[str, Any] = {
            "village_code": village, "household_no": f"{village[-6:]}{h + 1:04d}",
            "head_name": head_name,
            "address": f"{township}{village_name}第{rng.randint(1, 9)}村民组{rng.randint(1, 80)}号",
            "categories": categories, "relocated": "banqian" in categories,
            "phone": f"13{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}",
        }
        if "tuopin" in categories:
            household["lifted_year"] = rng.randint(2016, 2020)
        if rng.random() < 0.3:
            household["note"] = rng.choice(HOUSEHOLD_NOTES)
        if rng.random() < 0.5:
            household["bank_account"] = f"6217{rng.randint(10**14, 10**15 - 1)}"
        recs.append(Rec("household", household, hkey))
        members = [("head", head_sex, _birth(rng, 1958, 1988), head_name)]
        if rng.random() < 0.8:
            sex = "female" if head_sex == "male" else "male"
            members.append(("spouse", sex, _birth(rng, 1960, 1990), _name(rng, sex)))
        for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
            sex = rng.choice(("male", "female"))
            members.append(("child", sex, _birth(rng, 1992, 2018), _name(rng, sex, surname)))
        if rng.random() < 0.25:
            sex = rng.choice(("male", "female"))
            members.append(("parent", sex, _birth(rng, 1935, 1957), _name(rng, sex)))
        for relation, sex, birth, person_name in members:
            if made[0] >= people:
                break
            made[0] += 1
            pkey = ("person", village, made[0])
            age = 2025 - birth.year
            capacity = ("none" if age < 16 else "lost" if age > 75 else
                        rng.choice(("normal", "normal", "normal", "weak", "half")))
            sequence = (made[0] % 499) * 2 + (1 if sex == "male" else 2)
            person: dict[str, Any] = {
                "household_id": Ref(hkey), "name": person_name,
                "id_number": make_id_number(REGION, birth, sequence), "sex": sex,
                "birth_date": birth.isoformat(), "relation": relation,
                "categories": categories[:1], "labour_capacity": capacity,
            }
            if 18 <= age <= 60 and rng.random() < 0.6:
                person["phone"] = f"1{rng.choice((3, 5, 8))}{rng.randint(100_000_000, 999_999_999)}"
            if rng.random() < 0.1:
                person["note"] = rng.choice(PERSON_NOTES)
            recs.append(Rec("person", person, pkey))
            if 16 <= age <= 64:
                if capacity in ("normal", "weak", "half"):
                    workers.append(pkey)
                recs.append(Rec("employment", _employment(rng, pkey, capacity)))
        yield recs


def _employment(rng: random.Random, person: Any, capacity: str) -> dict[str, Any]:
    if capacity in ("normal", "weak", "half") and rng.random() < 0.75:
        employer, destination, province = rng.choice(EMPLOYERS)
        values: dict[str, Any] = {
            "person_id": Ref(person), "status": "employed", "destination": destination,
            "work_kind": rng.choice(WORK_KINDS), "employer": employer,
            "start_date": f"{rng.randint(2019, 2025)}-{rng.randint(1, 12):02d}-01",
            "organised_export": rng.random() < 0.3, "long_contract": rng.random() < 0.4,
            "insurance_months": rng.randint(0, 60),
            "monthly_income": rng.choice((2800, 3500, 4200, 5000, 6000, 3800.5))}
        if province:
            values["province"] = province
        return values
    return {"person_id": Ref(person), "status": "not_employed",
            "not_working_reason": rng.choice(("willing", "unwilling", "studying", "unable"))}


def plan_for(records: int, village: str, seed: int = 2025) -> Iterator[Rec]:
    """Exactly ``records`` records of one village (about 14% people), entered over the days
    it takes: attendance goes on until the count is reached."""
    rng = random.Random(seed)
    people = max(10, round(records * 0.14))
    posts = max(2, records // 500)
    sessions, trainees = max(1, records // 1000), 20
    # About 2.1 records per person (household, person, employment): the rest is daily facts.
    days = max(30, round((records - 2.1 * people - sessions * (trainees * 5 + 1) - 2 * posts)
                         / posts))
    stream = village_records(rng, village, people=people, posts=posts, days=10**6,
                             sessions=sessions, trainees=trainees, spread=days)
    return itertools.islice(stream, records)


def village_plan(people: int, village: str, *, posts: int, days: int,
                 seed: int = 7) -> Iterator[Rec]:
    """A whole village: ``people`` persons, ``posts`` posts with ``days`` of attendance and a
    training a month (30 trainees, five days each)."""
    rng = random.Random(seed)
    return village_records(rng, village, people=people, posts=posts, days=days,
                           sessions=max(1, round(12 * people / 2000)), trainees=30,
                           spread=days)


def write_records(store: DeviceStore, recs: Iterable[Rec]) -> list[tuple[str, str, dict[str, Any]]]:
    """Create every record through the store (validated, versioned, outbox) in one
    transaction; return ``(type, id, values)`` of each, for the raw insert."""
    ids: dict[Any, str] = {}
    made: list[tuple[str, str, dict[str, Any]]] = []
    with store.transaction():
        for rec in recs:
            values = {k: (ids[v] if isinstance(v, Ref) else v) for k, v in rec.values.items()}
            row = store.create(rec.type, values)
            if rec.key is not None:
                ids[rec.key] = row["id"]
            made.append((rec.type, row["id"], {k: v for k, v in row.items() if v is not None}))
    return made


# -- the server on loopback ------------------------------------------------------------------


def bench_app(storage_url: str, data_key: str) -> Any:
    """The county server's Flask app on ``storage_url``, its storage upgraded."""
    app = create_app({
        "STORAGE_URL": storage_url, "SECRET_KEY": "bench",
        # An explicit data key, so nothing is written to the repository's instance folder.
        "DATA_KEY": data_key,
    })
    storage = open_storage(storage_url)
    storage.upgrade()
    storage.close()
    return app


class BenchServer:
    """The county server on a free 127.0.0.1 port, in a child process of its own as in
    production (see :func:`serve_worker`), so the device code and the server don't share a
    GIL.

    With ``profile_dir`` (``--profile``) it runs in a thread of this process instead: werkzeug's
    ``ProfilerMiddleware`` has to wrap the app in the process that serves it.
    """

    def __init__(self, workdir: Path, *, profile_dir: Path | None = None) -> None:
        self.db_path = workdir / "server.sqlite"
        self.storage_url = f"sqlite:///{self.db_path}"
        data_key = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
        self.proc: subprocess.Popen[str] | None = None
        self.httpd: Any = None
        self.thread: threading.Thread | None = None
        if profile_dir is None:
            self._start_child(data_key)
            return
        from werkzeug.middleware.profiler import ProfilerMiddleware

        wsgi = ProfilerMiddleware(
            bench_app(self.storage_url, data_key), stream=None, profile_dir=str(profile_dir),
            filename_format="{method}.{path}.{time:.6f}.{elapsed:.0f}ms.prof")
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.httpd = make_server("127.0.0.1", 0, wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _start_child(self, data_key: str) -> None:
        # The child serves until its stdin says "quit" or is closed: if this process dies, the
        # pipe closes and the server stops too.
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve-worker",
             "--db", str(self.db_path), "--data-key", data_key],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 120)
        line = self.proc.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            self._stop_child()
            raise RuntimeError(f"the server process did not start (exit code "
                               f"{self.proc.returncode}; its errors are above)")
        self.url = f"http://127.0.0.1:{int(line)}"

    def __enter__(self) -> "BenchServer":
        if self.thread is not None:
            self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None:
            self._stop_child()
        else:
            self.httpd.shutdown()
            self.httpd.server_close()
            assert self.thread is not None
            self.thread.join(timeout=10)

    def _stop_child(self) -> None:
        assert self.proc is not None
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except (OSError, ValueError):  # already gone
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    @property
    def pid(self) -> int | None:
        """The server process's id (None when it runs in this process)."""
        return self.proc.pid if self.proc is not None else None

    def cpu_seconds(self) -> float:
        """CPU seconds (all its threads) of the server process so far, from its CPU clock (else
        ``/proc/<pid>/stat``); 0 when the server runs in this process (``time.process_time``
        already counts it)."""
        if self.proc is None:
            return 0.0
        try:
            # Linux's CPU clock of another process (all its threads), in seconds: clock id
            # ((~pid) << 3) | CPUCLOCK_SCHED. /proc's figures come in 10 ms steps.
            return time.clock_gettime(((~self.proc.pid) << 3) | 2)
        except OSError:
            pass
        with open(f"/proc/{self.proc.pid}/stat") as handle:
            stat = handle.read()
        # The fields after the command name, which is in parentheses and may hold spaces:
        # state is field 3, utime 14 and stime 15.
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def cpu_clock(self) -> float:
        """CPU seconds of this process (the device) plus the server process."""
        return time.process_time() + self.cpu_seconds()

    def take_envelope_seconds(self) -> float:
        """Seconds the server process spent sealing and opening envelopes since the last call
        (0 when the server runs in this process: this process's clock counts them)."""
        if self.proc is None:
            return 0.0
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("envelopes\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def enrol(self, path: Path, user: str, villages: list[str]) -> DeviceStore:
        storage = open_storage(self.storage_url)
        try:
            code = issue_code(storage, user, villages, actor="bench")[0]
        finally:
            storage.close()
        return enrol_device(path, self.url, code, PASSPHRASE)


def serve_worker(args: argparse.Namespace) -> None:
    """Child process: the county server (werkzeug's threaded server) on a free 127.0.0.1 port.

    Prints the port, then reads commands on stdin: ``envelopes`` answers with the seconds spent
    sealing and opening envelopes since the last ask; ``quit`` or the end of stdin (the
    benchmark has ended or died) stops the server.
    """
    import server.gate

    out, sys.stdout = sys.stdout, sys.stderr  # stdout carries only the answers
    envelopes = EnvelopeClock((server.gate,))
    storage_url = f"sqlite:///{Path(args.db).resolve()}"
    app = bench_app(storage_url, args.data_key)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    print(httpd.server_port, file=out, flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "quit":
                break
            if command == "envelopes":
                print(repr(envelopes.take()), file=out, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def envelope_payload_size(envelope: bytes) -> int:
    """Bytes of the sealed message inside an envelope (``b"CSE1" | len | header | ciphertext
    (payload + 16-byte GCM tag) | signature (64)``)."""
    (header,) = struct.unpack(">I", envelope[4:8])
    return len(envelope) - 8 - header - 16 - 64


@dataclass
class Exchange:
    purpose: str
    sent: int
    received: int
    sent_payload: int
    received_payload: int
    seconds: float


class MeasuringTransport(HttpTransport):
    """``HttpTransport`` that notes the size and time of every exchange."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url, timeout=300)
        self.log: list[Exchange] = []

    def exchange(self, purpose: str, envelope: bytes) -> bytes:
        start = time.perf_counter()
        reply = super().exchange(purpose, envelope)
        self.log.append(Exchange(purpose, len(envelope), len(reply),
                                 envelope_payload_size(envelope), envelope_payload_size(reply),
                                 time.perf_counter() - start))
        return reply


def client_for(store: DeviceStore, url: str, *, batch_size: int = 500,
               max_batch_size: int = MAX_BATCH, page_size: int = 1000
               ) -> tuple[SyncClient, MeasuringTransport]:
    transport = MeasuringTransport(url)
    return SyncClient(store, Channel(store, transport), batch_size=batch_size,
                      max_batch_size=max_batch_size, page_size=page_size), transport


@dataclass
class Timed:
    """Progress callbacks with the records done, the wall-clock time and the CPU time given by
    ``cpu``: this process's (all threads) by default; ``BenchServer.cpu_clock`` adds the
    server process's, so a push's CPU time is the device's and the server's.

    ``count`` gives the records done so far (a pull's progress counts cursor positions, which
    include other villages' entries); without it the callback's own count is used. CPU time
    barely changes when other processes share the machine, so it shows whether the work per
    record grows even when the wall-clock rates are noisy.
    """

    count: Callable[[], int] | None = None
    cpu: Callable[[], float] = time.process_time
    start: float = field(default_factory=time.perf_counter)
    cpu_start: float = field(init=False)
    marks: list[tuple[int, float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cpu_start = self.cpu()

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.marks.append((self.count() if self.count else done,
                           time.perf_counter() - self.start,
                           self.cpu() - self.cpu_start))

    def steps(self) -> list[tuple[int, float]]:
        """``(records, seconds)`` of each batch or page."""
        return self._steps(1)

    def cpu_steps(self) -> list[tuple[int, float]]:
        """``(records, CPU seconds)`` of each batch or page."""
        return self._steps(2)

    def _steps(self, which: int) -> list[tuple[int, float]]:
        out: list[tuple[int, float]] = []
        prev_n, prev_t = 0, 0.0
        for mark in self.marks:
            out.append((mark[0] - prev_n, mark[which] - prev_t))
            prev_n, prev_t = mark[0], mark[which]
        return out


def rate_of(steps: list[tuple[int, float]], first: bool, count: int) -> float:
    """Records per second over the first (or last) ``count`` records' batches."""
    chosen = steps if first else list(reversed(steps))
    n = t = 0.0
    for records, seconds in chosen:
        if n >= count:
            break
        n += records
        t += seconds
    return n / t if t else float("nan")


def cpu_ms_per_1000(steps: list[tuple[int, float]], first: bool, count: int) -> float:
    """CPU milliseconds per 1,000 records over the first (or last) ``count`` records."""
    rate = rate_of(steps, first, count)
    return 1e6 / rate if rate == rate and rate else float("nan")


# -- the steps -------------------------------------------------------------------------------


def raw_insert(path: Path, made: list[tuple[str, str, dict[str, Any]]],
               repeat: int = 3) -> tuple[float, float]:
    """The best of ``repeat`` runs of :func:`raw_insert_once`, each into a fresh file."""
    runs = [raw_insert_once(path.with_name(f"{path.stem}-{i}{path.suffix}"), made)
            for i in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def raw_insert_once(path: Path, made: list[tuple[str, str, dict[str, Any]]]
                    ) -> tuple[float, float]:
    """The same records into a bare table (one JSON text column), one transaction, with the
    device store's settings (WAL, ``synchronous=FULL``).

    Returns ``(seconds with JSON encoding, seconds of the insert alone)``.
    """
    conn = connect(path)
    conn.execute("CREATE TABLE records (id TEXT PRIMARY KEY, record_type TEXT NOT NULL,"
                 " village_code TEXT NOT NULL, body TEXT NOT NULL)")
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?)", (
        (row_id, rtype, values["village_code"], json.dumps(values, ensure_ascii=False))
        for rtype, row_id, values in made))
    conn.execute("COMMIT")
    with_json = time.perf_counter() - start
    encoded = [(row_id + "x", rtype, values["village_code"], json.dumps(values, ensure_ascii=False))
               for rtype, row_id, values in made]
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?)", encoded)
    conn.execute("COMMIT")
    alone = time.perf_counter() - start
    conn.close()
    return with_json, alone


def fill_change_log(db_path: Path, rows: int, villages: int, *, chunk: int = 100_000) -> float:
    """Append ``rows`` synthetic change-log entries for other villages, straight into SQLite."""
    # Townships 200+ of the county: never a village this benchmark syncs.
    codes = [f"{REGION}{200 + v // 100:03d}{101 + v % 100:03d}" for v in range(villages)]
    conn = sqlite3.connect(str(db_path), isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    fields_json = json.dumps({"post_id": "0192f0c4-0000-7000-8000-000000000000",
                              "day": "2025-06-01",
                              "person_id": "0192f0c4-1111-7000-8000-000000000000",
                              "status": "on_post"},
                             ensure_ascii=False, separators=(",", ":"))
    rng = random.Random(11)
    start = time.perf_counter()
    at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    made = 0
    while made < rows:
        n = min(chunk, rows - made)
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO change_log (record_type, row_id, village_code, fields, versions, deleted,"
            " disputed, device_id, seq, user_name, at) VALUES ('attendance', ?, ?, ?, ?, NULL,"
            " '[]', ?, ?, '驻村工作队员', ?)",
            ((f"{rng.getrandbits(64):016x}-{i:08d}", codes[i % villages], fields_json,
              f'{{"status":[{(1 << 50) + i},"dev-{i % villages:04d}"]}}',
              f"dev-{i % villages:04d}", i, at)
             for i in range(made, made + n)))
        conn.execute("COMMIT")
        made += n
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - start


def poll_latency(store: DeviceStore, url: str, polls: int) -> dict[str, float]:
    """Median and p90 of a "nothing new" pull at the device's cursor, and of a whole
    ``cunsync sync`` with nothing to do (hello + empty push + empty pull)."""
    client, _ = client_for(store, url)
    cursor = int(store.meta("cursor", "0") or 0)
    body = pack({"after": cursor, "limit": client.page_size, "schema_version": SCHEMA_VERSION})
    pulls = []
    for _ in range(polls + 3):
        start = time.perf_counter()
        page = decode_pull_page(client.channel.request("pull", cursor, body))
        pulls.append(time.perf_counter() - start)
        assert not page.entries and not page.more, "the poll was not empty"
    syncs = []
    for _ in range(max(5, polls // 5)):
        start = time.perf_counter()
        summary = client.sync()
        syncs.append(time.perf_counter() - start)
        assert summary.received == 0
    pulls = pulls[3:]
    return {"median_ms": statistics.median(pulls) * 1000,
            "p90_ms": sorted(pulls)[int(len(pulls) * 0.9) - 1] * 1000,
            "sync_median_ms": statistics.median(syncs) * 1000}


def server_side_poll(storage_url: str, villages: list[str], cursor: int) -> dict[str, Any]:
    """The change-log query alone, on the server's storage, and its SQLite plan."""
    storage = open_storage(storage_url)
    try:
        times = []
        for _ in range(20):
            start = time.perf_counter()
            storage.pull(villages, cursor, 1001)  # type: ignore[attr-defined]
            times.append(time.perf_counter() - start)
        head_times = []
        for _ in range(20):
            start = time.perf_counter()
            storage.head(villages)  # type: ignore[attr-defined]
            head_times.append(time.perf_counter() - start)
        plan = [r[-1] for r in storage.conn.execute(  # type: ignore[attr-defined]
            "EXPLAIN QUERY PLAN SELECT cursor FROM change_log WHERE cursor > ?"
            f" AND village_code IN ({', '.join('?' for _ in villages)}) ORDER BY cursor LIMIT ?",
            (cursor, *villages, 1001))]
        total = storage.conn.execute(  # type: ignore[attr-defined]
            "SELECT count(*) FROM change_log").fetchone()[0]
    finally:
        storage.close()
    return {"query_ms": statistics.median(times) * 1000,
            "head_ms": statistics.median(head_times) * 1000, "plan": plan, "log_rows": total}


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def rss_mb() -> float:
    """Current resident set size (Linux ``/proc``; falls back to the high-water mark)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return maxrss_mb()


class RssSampler(threading.Thread):
    """Samples the resident set size every few milliseconds; ``peak`` is the highest seen."""

    def __init__(self, every: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.start_mb = self.peak = rss_mb()
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.peak = max(self.peak, rss_mb())
            self.stopped.wait(self.every)

    def stop(self) -> float:
        self.stopped.set()
        self.join()
        self.peak = max(self.peak, rss_mb())
        return self.peak - self.start_mb


def pull_worker(args: argparse.Namespace) -> None:
    """Child process: open an enrolled, empty store and pull everything (initial sync)."""
    import tracemalloc

    store = DeviceStore.open(args.db, passphrase=PASSPHRASE)
    client, transport = client_for(store, args.url, page_size=args.page_size)
    hello = client.hello()
    gc.collect()
    base = maxrss_mb()
    if args.tracemalloc:
        tracemalloc.start()
    sampler = RssSampler()
    sampler.start()
    summary = SyncSummary()
    timer = Timed(lambda: summary.received)
    start = timer.start
    client.pull(summary, timer, head=int(hello.get("head", 0)))
    seconds = time.perf_counter() - start
    rss_growth = sampler.stop()
    peak_traced = tracemalloc.get_traced_memory()[1] / 2**20 if args.tracemalloc else None
    after = maxrss_mb()
    rows = sum(store.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
               for t in ("households", "persons", "employments", "posts", "appointments",
                         "attendance", "training_sessions", "signins", "villages"))
    store.close()
    pulls = [x for x in transport.log if x.purpose == "pull"]
    print(json.dumps({"seconds": seconds, "received": summary.received, "rows": rows,
                      "maxrss_before_mb": base, "maxrss_after_mb": after,
                      "maxrss_delta_mb": after - base, "rss_start_mb": sampler.start_mb,
                      "rss_peak_mb": sampler.peak, "rss_growth_mb": rss_growth,
                      "tracemalloc_peak_mb": peak_traced,
                      "first_5000_rate": rate_of(timer.steps(), True, 5000),
                      "last_5000_rate": rate_of(timer.steps(), False, 5000),
                      "pages": len(pulls), "bytes": sum(x.received for x in pulls)}))


def fresh_pull_in_child(server: BenchServer, workdir: Path, name: str, villages: list[str],
                        page_size: int, tracemalloc: bool = False) -> dict[str, Any]:
    path = workdir / f"{name}.sqlite"
    server.enrol(path, f"worker-{name}", villages).close()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--pull-worker", "--db", str(path),
           "--url", server.url, "--page-size", str(page_size)]
    if tracemalloc:
        cmd.append("--tracemalloc")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pull worker failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- output ----------------------------------------------------------------------------------


def code_version() -> str:
    """The commit measured, and whether files outside ``bench/`` differed from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":!bench"], cwd=ROOT, text=True, capture_output=True,
                               check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        # Not a git checkout: a snapshot made with `git archive` (see docs/performance.md).
        return os.environ.get("CUNSYNC_BENCH_CODE", "unknown (not a git checkout)")
    return head + (f" + uncommitted changes to {', '.join(dirty[1::2])}" if dirty else "")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fmt_rate(value: float) -> str:
    return f"{value:,.0f} rec/s"


def ratio_text(value: float, raw: float) -> str:
    if not raw or value != value:
        return ""
    r = value / raw
    return f"{r:.4f} (1/{1 / r:,.0f})" if r < 1 else f"{r:.2f}"


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("met" if ok else "MISSED")


def print_table(rows: list[tuple[str, str, str, str, bool | None]]) -> str:
    head = ("figure", "measured", "ratio to raw insert", "target", "")
    widths = [max(_width(r[i]) for r in [head, *[tuple(map(str, x)) for x in rows]])
              for i in range(4)]
    lines = []

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(_pad(c, widths[i]) if i < 4 else c for i, c in enumerate(cells))

    lines.append(line(head))
    lines.append("  ".join("-" * w for w in widths) + "  ------")
    for name, measured, ratio, target, ok in rows:
        lines.append(line((name, measured, ratio, target, verdict(ok))))
    return "\n".join(lines)


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


# -- profiling -------------------------------------------------------------------------------


def top_functions(stats: pstats.Stats, limit: int, key: str = "cumulative") -> str:
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.strip_dirs().sort_stats(key).print_stats(limit)
    text = out.getvalue()
    return text[text.find("   ncalls"):].rstrip() if "   ncalls" in text else text


def run_profile(args: argparse.Namespace, workdir: Path) -> None:
    """cProfile of the push and pull paths, device side (this thread) and server side
    (every request, through werkzeug's ProfilerMiddleware)."""
    import cProfile

    prof_dir = workdir / "server-profiles"
    prof_dir.mkdir()
    # Unlike the figures' run, the server runs in a thread of this process here: werkzeug's
    # ProfilerMiddleware profiles each request in the process that serves it.
    with BenchServer(workdir, profile_dir=prof_dir) as server:
        pusher = server.enrol(workdir / "p-push.sqlite", "worker-p1", [VILLAGE])
        say(f"profile: writing {args.records} records ...")
        write_records(pusher, plan_for(args.records, VILLAGE))
        client, _ = client_for(pusher, server.url, batch_size=args.batch_size,
                               max_batch_size=args.max_batch_size)
        client.hello()
        for f in prof_dir.iterdir():
            f.unlink()
        say("profile: push ...")
        prof = cProfile.Profile()
        prof.enable()
        client.push(SyncSummary())
        prof.disable()
        device_push = pstats.Stats(prof)
        server_push = pstats.Stats(*[str(p) for p in prof_dir.glob("POST.api.v1.sync.push*")])
        puller = server.enrol(workdir / "p-pull.sqlite", "worker-p2", [VILLAGE])
        pclient, _ = client_for(puller, server.url, page_size=args.page_size)
        pclient.hello()
        say("profile: pull ...")
        prof = cProfile.Profile()
        prof.enable()
        pclient.pull(SyncSummary())
        prof.disable()
        device_pull = pstats.Stats(prof)
        server_pull = pstats.Stats(*[str(p) for p in prof_dir.glob("POST.api.v1.sync.pull*")])
        for f in prof_dir.iterdir():
            f.unlink()
        say("profile: 'nothing new' polls ...")
        cursor = int(puller.meta("cursor", "0") or 0)
        body = pack({"after": cursor, "limit": args.page_size, "schema_version": SCHEMA_VERSION})
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(args.polls):
            decode_pull_page(pclient.channel.request("pull", cursor, body))
        prof.disable()
        device_poll = pstats.Stats(prof)
        server_poll = pstats.Stats(*[str(p) for p in prof_dir.glob("POST.api.v1.sync.pull*")])
        pusher.close()
        puller.close()
    for title, stats in (("device: SyncClient.push", device_push),
                         ("server: POST /api/v1/sync/push (all batches)", server_push),
                         ("device: SyncClient.pull (pull and apply)", device_pull),
                         ("server: POST /api/v1/sync/pull (all pages)", server_pull),
                         (f"device: {args.polls} 'nothing new' polls", device_poll),
                         (f"server: {args.polls} 'nothing new' polls", server_poll)):
        print(f"\n=== {title}: top {args.profile_top} by cumulative time ===")
        print(top_functions(stats, args.profile_top))
        print(f"\n--- {title}: top 15 by own time ---")
        print(top_functions(stats, 15, "tottime"))


# -- main ------------------------------------------------------------------------------------


class EnvelopeClock:
    """Adds up the time spent sealing and opening envelopes, so the figures can also be given
    without envelopes.

    The ``seal`` and ``open_envelope`` of each of ``modules`` are wrapped in this process (the
    device's ``client_kit.channel``; ``server.gate`` in the server's process, see
    :func:`serve_worker`); ``remote`` adds the seconds the server process reports.
    """

    def __init__(self, modules: Iterable[Any], remote: Callable[[], float] | None = None
                 ) -> None:
        self.seconds = 0.0
        self.remote = remote
        self.lock = threading.Lock()  # the server's requests run in threads
        for module in modules:
            for name in ("seal", "open_envelope"):
                if hasattr(module, name):
                    setattr(module, name, self._timed(getattr(module, name)))

    def _timed(self, function: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                with self.lock:
                    self.seconds += spent
        return timed

    def take(self) -> float:
        """The seconds spent (here and, with ``remote``, in the server) since the last call."""
        with self.lock:
            spent, self.seconds = self.seconds, 0.0
        return spent + (self.remote() if self.remote else 0.0)


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "sqlite": sqlite3.sqlite_version, "platform": platform.platform()},
        "code": code_version()}
    total_start = time.perf_counter()
    # Other work on the machine skews every figure: note the load before and after.
    load_start = os.getloadavg()
    with BenchServer(workdir) as server:
        import client_kit.channel

        # The device's sealing and opening here, the server's in its own process.
        envelopes = EnvelopeClock((client_kit.channel,), remote=server.take_envelope_seconds)
        results["server"] = {"own_process": True, "pid": server.pid}
        # 1. local writes
        pusher = server.enrol(workdir / "device-a.sqlite", "worker-a", [VILLAGE])
        recs = list(plan_for(args.records, VILLAGE))
        say(f"1. writing {len(recs):,} records into a device store (one transaction) ...")
        start = time.perf_counter()
        made = write_records(pusher, recs)
        local_s = time.perf_counter() - start
        counts: dict[str, int] = {}
        for rtype, _, _ in made:
            counts[rtype] = counts.get(rtype, 0) + 1
        results["records"] = {"total": len(made), "by_type": counts,
                              "first_1000": _mix(made[:1000]), "last_1000": _mix(made[-1000:])}
        results["local_write_rate"] = len(made) / local_s

        # 4. the raw limit (done here so the records are at hand)
        say("4. the same records into a bare SQLite table ...")
        raw_s, raw_alone_s = raw_insert(workdir / "raw.sqlite", made)
        raw = len(made) / raw_s
        results["raw_insert_rate"] = raw
        results["raw_insert_rate_pre_encoded"] = len(made) / raw_alone_s

        # 2. push
        say(f"2. pushing {len(made):,} records over HTTP in batches of {args.batch_size}"
            f" growing to {args.max_batch_size} ...")
        client, transport = client_for(pusher, server.url, batch_size=args.batch_size,
                                       max_batch_size=args.max_batch_size,
                                       page_size=args.page_size)
        client.hello()
        summary = SyncSummary()
        timer = Timed(cpu=server.cpu_clock)
        envelopes.take()
        client.push(summary, timer)
        push_s = time.perf_counter() - timer.start
        push_envelope_s = envelopes.take()
        assert summary.sent == len(made), summary
        steps = timer.steps()
        pushes = [x for x in transport.log if x.purpose == "push"]
        results["push"] = {
            "rate": len(made) / push_s, "seconds": push_s,
            "first_1000_rate": rate_of(steps, True, 1000),
            "last_1000_rate": rate_of(steps, False, 1000),
            "first_1000_cpu_ms": cpu_ms_per_1000(timer.cpu_steps(), True, 1000),
            "last_1000_cpu_ms": cpu_ms_per_1000(timer.cpu_steps(), False, 1000),
            "cpu_ms_per_1000": 1e6 / (len(made) / max(timer.marks[-1][2], 1e-9)),
            "batch_records": [n for n, _ in steps],
            "batch_seconds": [round(t, 4) for _, t in steps],
            "batch_cpu_seconds": [round(t, 4) for _, t in timer.cpu_steps()],
            "wire_bytes_per_record": sum(x.sent for x in pushes) / len(made),
            "payload_bytes_per_record": sum(x.sent_payload for x in pushes) / len(made),
            "ack_bytes_per_record": sum(x.received for x in pushes) / len(made),
            "ack_payload_bytes_per_record": sum(x.received_payload for x in pushes) / len(made),
            "http_seconds": sum(x.seconds for x in pushes),
            "envelope_seconds": push_envelope_s,
            "rate_without_envelopes": len(made) / (push_s - push_envelope_s),
        }
        # The push message of the first batch, rebuilt as the outbox holds it.
        plain, packed = _push_message_sizes(made, args.batch_size)
        results["push"]["plain_json_bytes_per_record"] = plain
        results["push"]["encode_push_bytes_per_record"] = packed

        # 3. pull onto a fresh device
        say("3. pulling everything onto a fresh device ...")
        puller = server.enrol(workdir / "device-b.sqlite", "worker-b", [VILLAGE])
        pclient, ptransport = client_for(puller, server.url, page_size=args.page_size)
        hello = pclient.hello()
        psummary = SyncSummary()
        ptimer = Timed(lambda: psummary.received)
        envelopes.take()
        pclient.pull(psummary, ptimer, head=int(hello.get("head", 0)))
        pull_s = time.perf_counter() - ptimer.start
        pull_envelope_s = envelopes.take()
        assert psummary.received == len(made), psummary
        psteps = ptimer.steps()
        pulls = [x for x in ptransport.log if x.purpose == "pull"]
        results["pull"] = {
            "rate": psummary.received / pull_s, "seconds": pull_s,
            "first_1000_rate": rate_of(psteps, True, 1000),
            "last_1000_rate": rate_of(psteps, False, 1000),
            "wire_bytes_per_record": sum(x.received for x in pulls) / psummary.received,
            "http_seconds": sum(x.seconds for x in pulls),
            "envelope_seconds": pull_envelope_s,
            "rate_without_envelopes": psummary.received / (pull_s - pull_envelope_s),
        }
        pusher.close()

        # 5. "nothing new" with a big log
        if args.log_rows:
            say(f"5. filling the server's change log with {args.log_rows:,} rows of "
                f"{args.log_villages} other villages ...")
            fill_s = fill_change_log(server.db_path, args.log_rows, args.log_villages)
            say(f"   filled in {fill_s:.1f} s; polling {args.polls} times ...")
            poll = poll_latency(puller, server.url, args.polls)
            poll.update(server_side_poll(server.storage_url, [VILLAGE],
                                         int(puller.meta("cursor", "0") or 0)))
            poll["fill_seconds"] = fill_s
            results["poll"] = poll
        puller.close()

        # 6. initial sync of a whole village, 1x and 2x
        results["village"] = []
        for n, scale in enumerate(args.village_scales):
            village = BIG_VILLAGES[n % len(BIG_VILLAGES)]
            people = args.pull_village_people * scale
            say(f"6. village {village} at {scale}x: {people:,} people, "
                f"{args.village_posts * scale} posts x {args.village_days} days ...")
            store = server.enrol(workdir / f"v{scale}-push.sqlite", f"worker-v{scale}", [village])
            start = time.perf_counter()
            vmade = write_records(store, village_plan(people, village,
                                                      posts=args.village_posts * scale,
                                                      days=args.village_days))
            write_s = time.perf_counter() - start
            vclient, _ = client_for(store, server.url, batch_size=args.batch_size,
                                    max_batch_size=args.max_batch_size)
            vclient.hello()
            vtimer = Timed(cpu=server.cpu_clock)
            vclient.push(SyncSummary(), vtimer)
            vpush_s = time.perf_counter() - vtimer.start
            store.close()
            say(f"   {len(vmade):,} records written in {write_s:.1f} s, pushed in "
                f"{vpush_s:.1f} s; a fresh device pulls them (child process) ...")
            child = fresh_pull_in_child(server, workdir, f"v{scale}-fresh", [village],
                                        args.page_size)
            vcounts: dict[str, int] = {}
            for rtype, _, _ in vmade:
                vcounts[rtype] = vcounts.get(rtype, 0) + 1
            entry = {"scale": scale, "people": people, "records": len(vmade),
                     "by_type": vcounts, "write_seconds": write_s, "push_seconds": vpush_s,
                     "push_first_1000_rate": rate_of(vtimer.steps(), True, 1000),
                     "push_last_1000_rate": rate_of(vtimer.steps(), False, 1000),
                     "push_first_1000_cpu_ms": cpu_ms_per_1000(vtimer.cpu_steps(), True, 1000),
                     "push_last_1000_cpu_ms": cpu_ms_per_1000(vtimer.cpu_steps(), False, 1000),
                     **child}
            if args.tracemalloc:
                traced = fresh_pull_in_child(server, workdir, f"v{scale}-traced", [village],
                                             args.page_size, tracemalloc=True)
                entry["tracemalloc_peak_mb"] = traced["tracemalloc_peak_mb"]
            results["village"].append(entry)
    results["total_seconds"] = time.perf_counter() - total_start
    results["load_average"] = {"start": load_start, "end": os.getloadavg()}
    return results


def _mix(made: list[tuple[str, str, dict[str, Any]]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rtype, _, _ in made:
        counts[rtype] = counts.get(rtype, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def _push_message_sizes(made: list[tuple[str, str, dict[str, Any]]],
                        batch_size: int) -> tuple[float, float]:
    """Bytes per record of the first push batch: compact JSON, and ``encode_push`` (gzip)."""
    from client_kit.engine.changes import Change
    from client_kit.engine.protocol import push_dict

    changes = [Change(i + 1, rtype, row_id, values["village_code"], (1 << 60) + i, "upsert",
                      {k: v for k, v in values.items() if k != "id"},
                      {k: None for k in values if k != "id"})
               for i, (rtype, row_id, values) in enumerate(made[:batch_size])]
    n = max(1, len(changes))
    plain = json.dumps(push_dict(changes, app_version="0.1.0"), ensure_ascii=False,
                       separators=(",", ":")).encode()
    return len(plain) / n, len(encode_push(changes, app_version="0.1.0")) / n


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    raw = results["raw_insert_rate"]
    push, pull = results["push"], results["pull"]
    rows: list[tuple[str, str, str, str, bool | None]] = [
        ("raw SQLite insert (JSON text, 1 txn, best of 3)", fmt_rate(raw), "1", "the reference",
         None),
        ("local writes (DeviceStore.create, 1 txn)", fmt_rate(results["local_write_rate"]),
         ratio_text(results["local_write_rate"], raw), "(not a target)", None),
        ("push over HTTP, overall", fmt_rate(push["rate"]), ratio_text(push["rate"], raw),
         ">= 1/10 of raw", push["rate"] >= raw / 10),
        ("push, first 1,000 records", fmt_rate(push["first_1000_rate"]),
         ratio_text(push["first_1000_rate"], raw), "", None),
        ("push, last 1,000 records", fmt_rate(push["last_1000_rate"]),
         ratio_text(push["last_1000_rate"], raw), "not slower than first 1,000 (±10%)",
         push["last_1000_rate"] >= 0.9 * push["first_1000_rate"]),
        ("push CPU (device + server), first / last 1,000",
         f"{push['first_1000_cpu_ms']:,.0f} / {push['last_1000_cpu_ms']:,.0f} ms per 1,000", "",
         "last not more (±10%)", push["last_1000_cpu_ms"] <= 1.1 * push["first_1000_cpu_ms"]),
        ("pull and apply onto a fresh device", fmt_rate(pull["rate"]),
         ratio_text(pull["rate"], raw), ">= 1/3 of raw", pull["rate"] >= raw / 3),
        ("push on the wire (sealed envelope)", f"{push['wire_bytes_per_record']:.1f} B/record",
         "", "< 150 B/record", push["wire_bytes_per_record"] < 150),
        ("  of which the gzip message", f"{push['payload_bytes_per_record']:.1f} B/record", "",
         "", None),
        ("acknowledgement (sealed envelope)", f"{push['ack_bytes_per_record']:.2f} B/record",
         "", "a few B/record, not an echo", push["ack_bytes_per_record"] < 8),
        ("pull page on the wire", f"{pull['wire_bytes_per_record']:.1f} B/record", "",
         "(not a target)", None),
    ]
    for name, figures in (("push", push), ("pull and apply", pull)):
        without = figures["rate_without_envelopes"]
        cost = without / figures["rate"] - 1
        rows.append((f"{name} without envelopes (sealing/opening time taken out)",
                     fmt_rate(without), ratio_text(without, raw),
                     "envelopes cost <= 10%", None))
        rows.append((f"  envelope cost on {name}", f"{cost:.1%} "
                     f"({figures['envelope_seconds'] * 1000:.0f} ms)", "", "<= 10%",
                     cost <= 0.10))
    poll = results.get("poll")
    if poll:
        rows.append((f"'nothing new' pull, {poll['log_rows']:,} log rows",
                     f"{poll['median_ms']:.1f} ms median", "", "< 10 ms with 1M rows",
                     poll["median_ms"] < 10 if poll["log_rows"] >= 1_000_000 else None))
        rows.append(("  whole sync with nothing to do", f"{poll['sync_median_ms']:.1f} ms median",
                     "", "(hello + push + pull)", None))
    villages = results.get("village") or []
    for v in villages:
        rate = v["received"] / v["seconds"]
        rows.append((f"village initial sync {v['scale']}x ({v['records']:,} rec)",
                     f"{v['seconds']:.1f} s ({fmt_rate(rate)})", ratio_text(rate, raw),
                     "a few seconds (<= 5 s)", v["seconds"] <= 5))
        first, last = v["push_first_1000_rate"], v["push_last_1000_rate"]
        rows.append(("  its push: first / last 1,000 records",
                     f"{first:,.0f} / {last:,.0f} rec/s", "", "last not slower (±10%)",
                     last >= 0.9 * first))
        cfirst, clast = v["push_first_1000_cpu_ms"], v["push_last_1000_cpu_ms"]
        rows.append(("  its push CPU: first / last 1,000",
                     f"{cfirst:,.0f} / {clast:,.0f} ms per 1,000", "", "last not more (±10%)",
                     clast <= 1.1 * cfirst))
        rows.append((f"  device RSS growth during pull {v['scale']}x",
                     f"{v['rss_growth_mb']:.1f} MB", "", "flat as data grows", None))
    if len(villages) >= 2:
        small, big = villages[0], villages[-1]
        flat = big["rss_growth_mb"] <= small["rss_growth_mb"] * 1.25 + 5
        rows.append((f"  memory {big['scale']}x vs {small['scale']}x",
                     f"{small['rss_growth_mb']:.1f} -> {big['rss_growth_mb']:.1f} MB", "",
                     "flat (<= 1.25x + 5 MB)", flat))
    m = results["machine"]
    lines = [
        f"machine: {m['cpus']} CPUs, Python {m['python']}, SQLite {m['sqlite']}, {m['platform']}",
        f"code: {results['code']}",
        "server: in its own process (werkzeug's threaded server on 127.0.0.1, as in production);"
        " its CPU time is in the push CPU figures, its sealing/opening in the envelope figures",
        f"records: {results['records']['total']:,} "
        + ", ".join(f"{k} {v:,}" for k, v in results["records"]["by_type"].items()),
        "mix of the first 1,000: " + ", ".join(
            f"{k} {v}" for k, v in results["records"]["first_1000"].items())
        + "; of the last 1,000: " + ", ".join(
            f"{k} {v}" for k, v in results["records"]["last_1000"].items()),
        f"raw insert without JSON encoding: {fmt_rate(results['raw_insert_rate_pre_encoded'])}",
        f"push {push['seconds']:.1f} s ({push['http_seconds']:.1f} s in HTTP exchanges); "
        f"pull {pull['seconds']:.1f} s ({pull['http_seconds']:.1f} s in HTTP exchanges)",
        "push batches (records): " + ", ".join(f"{n:,}" for n in push["batch_records"]),
    ]
    if poll:
        lines.append(f"change log filled in {poll['fill_seconds']:.1f} s; server-side query "
                     f"{poll['query_ms']:.3f} ms, head {poll['head_ms']:.3f} ms; p90 poll "
                     f"{poll['p90_ms']:.1f} ms; plan: {' / '.join(poll['plan'])}")
    for v in villages:
        lines.append(f"village {v['scale']}x: " + ", ".join(
            f"{k} {c:,}" for k, c in v["by_type"].items())
            + f"; pushed in {v['push_seconds']:.1f} s ({v['records'] / v['push_seconds']:,.0f}"
            f" rec/s, first/last 1,000 {v['push_first_1000_rate']:,.0f}/"
            f"{v['push_last_1000_rate']:,.0f} rec/s); pull {v['pages']} pages, "
            f"{v['bytes'] / v['received']:.0f} B/record; device RSS {v['rss_start_mb']:.0f}"
            f" -> peak {v['rss_peak_mb']:.0f} MB; pull of the first/last 5,000 records "
            f"{v['first_5000_rate']:,.0f}/{v['last_5000_rate']:,.0f} rec/s"
            + (f"; tracemalloc peak {v['tracemalloc_peak_mb']:.1f} MB"
               if v.get("tracemalloc_peak_mb") is not None else ""))
    load = results["load_average"]
    lines.append(f"whole run: {results['total_seconds']:.0f} s; load average (1/5/15 min) "
                 f"{'/'.join(f'{x:.2f}' for x in load['start'])} before, "
                 f"{'/'.join(f'{x:.2f}' for x in load['end'])} after"
                 + (" (other processes were using the CPUs: the figures are pessimistic)"
                    if max(load["start"][0], load["end"][0]) > 1 else ""))
    return print_table(rows) + "\n\n" + "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Push and pull realistic records through the real cunsync server, run in "
                    "its own process on 127.0.0.1, and compare every rate with a bare SQLite "
                    "insert.")
    parser.add_argument("--records", type=int, default=10_000,
                        help="records to push and pull (default 10000)")
    parser.add_argument("--batch-size", type=int, default=500,
                        help="first push batch (default 500)")
    parser.add_argument("--max-batch-size", type=int, default=MAX_BATCH,
                        help=f"largest push batch (default {MAX_BATCH}); batches grow from"
                             " --batch-size while the server answers within a second")
    parser.add_argument("--page-size", type=int, default=1000, help="pull page (default 1000)")
    parser.add_argument("--log-rows", type=int, default=1_000_000,
                        help="synthetic change-log rows of other villages for the 'nothing new'"
                             " poll (default 1000000; 0 skips the poll)")
    parser.add_argument("--log-villages", type=int, default=200,
                        help="how many other villages those rows belong to (default 200)")
    parser.add_argument("--polls", type=int, default=50, help="polls to time (default 50)")
    parser.add_argument("--pull-village-people", type=int, default=2000,
                        help="people in the village of the initial-sync test (default 2000)")
    parser.add_argument("--village-posts", type=int, default=40,
                        help="posts with daily attendance in that village (default 40)")
    parser.add_argument("--village-days", type=int, default=365,
                        help="days of attendance (default 365)")
    parser.add_argument("--village-scales", default="1,2",
                        help="village sizes to sync, as multiples (default 1,2; empty skips)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also pull each village once more under tracemalloc (slower)")
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON")
    parser.add_argument("--profile", action="store_true",
                        help="instead of the figures, cProfile the push and pull of --records"
                             " (the server then runs in a thread of the benchmark's process)")
    parser.add_argument("--profile-top", type=int, default=30,
                        help="functions to list per profile (default 30)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    # The child processes: the village test's fresh device, and the server.
    parser.add_argument("--pull-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--data-key", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.village_scales = [int(s) for s in str(args.village_scales).split(",") if s.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.pull_worker:
        pull_worker(args)
        return 0
    if args.serve_worker:
        serve_worker(args)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="cunsync-bench-"))
    try:
        if args.profile:
            run_profile(args, workdir)
            return 0
        results = run(args, workdir)
        text = report(results, args)
        print(text)
        if args.json:
            Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=1))
    finally:
        if args.keep:
            say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
